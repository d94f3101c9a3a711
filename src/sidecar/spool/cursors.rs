//! Reader cursor files: `cursor.<name>` in the spool directory, one line of
//! text (`ringside-spool-cursor 1 <segment> <offset> <spans before>`),
//! replaced atomically by writing a temporary file and renaming it.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::SpoolCursor;

const PREFIX: &str = "cursor.";
const TAG: &str = "ringside-spool-cursor 1";
/// Longest reader name.
const MAX_NAME: usize = 64;

/// Checks that a reader name can be part of a file name: 1 to 64 ASCII
/// letters, digits, `-` or `_`.
pub(super) fn check_name(name: &str) -> io::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "spool reader name {name:?} must be 1 to {MAX_NAME} ASCII letters, digits, '-' or '_'"
            ),
        ))
    }
}

/// The cursor file of reader `name`.
pub(super) fn cursor_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{PREFIX}{name}"))
}

/// Replaces reader `name`'s cursor file, durably (synced, renamed, directory
/// synced). A crash or power loss leaves either the old or the new file (a
/// leftover `.tmp` is removed at the next open).
pub(super) fn write_cursor(
    dir: &Path,
    name: &str,
    cursor: SpoolCursor,
    span_seq: u64,
) -> io::Result<()> {
    let path = cursor_path(dir, name);
    let tmp = dir.join(format!("{PREFIX}{name}.tmp"));
    let text = format!("{TAG} {} {} {span_seq}\n", cursor.segment, cursor.offset);
    crate::durable::replace_file(&path, &tmp, text.as_bytes())
}

/// Parses a cursor file's text.
fn parse_cursor(text: &str) -> Option<(SpoolCursor, u64)> {
    let rest = text.strip_prefix(TAG)?.strip_suffix('\n')?;
    let mut fields = rest.split(' ');
    if !fields.next()?.is_empty() {
        return None;
    }
    let segment = fields.next()?.parse().ok()?;
    let offset = fields.next()?.parse().ok()?;
    let span_seq = fields.next()?.parse().ok()?;
    fields
        .next()
        .is_none()
        .then_some((SpoolCursor { segment, offset }, span_seq))
}

/// Every reader that has a cursor file in `dir`, with its cursor, or `None`
/// for a file that cannot be read as one.
pub(super) fn load_cursors(dir: &Path) -> io::Result<HashMap<String, Option<(SpoolCursor, u64)>>> {
    let mut out = HashMap::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        if check_name(name).is_err() {
            continue; // a temporary file or something that is not ours
        }
        let cursor = fs::read(entry.path())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| parse_cursor(&text));
        out.insert(name.to_string(), cursor);
    }
    Ok(out)
}

/// Removes reader `name`'s cursor file, if any.
pub(super) fn remove_cursor(dir: &Path, name: &str) -> io::Result<()> {
    match fs::remove_file(cursor_path(dir, name)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_text_round_trips_and_rejects_garbage() {
        let c = SpoolCursor {
            segment: 7,
            offset: 4096,
        };
        let text = format!("{TAG} 7 4096 99\n");
        assert_eq!(parse_cursor(&text), Some((c, 99)));
        for bad in [
            "",
            "ringside-spool-cursor 1 7 4096\n",
            "ringside-spool-cursor 1 7 4096 99",
            "x 7 4096 99\n",
            "ringside-spool-cursor 1 7 4096 99 1\n",
            "ringside-spool-cursor 1 -7 4096 99\n",
        ] {
            assert_eq!(parse_cursor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reader_names_must_fit_a_file_name() {
        for good in ["otlp", "jsonl-1", "a_b"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "../x", "a.tmp", "a b", &"x".repeat(65)] {
            assert_eq!(
                check_name(bad).unwrap_err().kind(),
                io::ErrorKind::InvalidInput,
                "{bad}"
            );
        }
    }
}
