//! Small files replaced so that a crash or a power loss leaves either the old
//! or the new content: written to a temporary file, synced, renamed over the
//! old one, and the directory synced so that the rename itself is on disk.
//! The spool's cursor files and the JSONL exporter's state use it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Replaces `path` with `contents` through `tmp` (a name in the same
/// directory), durably: the data is synced before the rename and the
/// directory after it. A failure leaves `path` as it was (a leftover `tmp`
/// may remain).
pub fn replace_file(path: &Path, tmp: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)?;
    file.write_all(contents)?;
    file.sync_data()?;
    drop(file);
    fs::rename(tmp, path)?;
    sync_parent(path)
}

/// Syncs the directory holding `path`, making a rename, creation or
/// removal of `path` durable.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_file_swaps_the_content_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, tmp) = (dir.path().join("state"), dir.path().join("state.tmp"));
        replace_file(&path, &tmp, b"one\n").expect("first");
        replace_file(&path, &tmp, b"two\n").expect("second");
        assert_eq!(fs::read(&path).expect("read"), b"two\n");
        assert!(!tmp.exists());
    }

    #[test]
    fn a_failed_replace_keeps_the_old_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state");
        fs::write(&path, b"old\n").expect("write");
        let tmp = dir.path().join("missing-dir").join("state.tmp");
        assert!(replace_file(&path, &tmp, b"new\n").is_err());
        assert_eq!(fs::read(&path).expect("read"), b"old\n");
    }
}
