//! The deployment's access model, with the C writer run as another user
//! (`setpriv`, util-linux) against a ring directory made as ringside.tmpfiles
//! makes /run/ringside (mode 2770, owned by the ring group): a writer in the
//! group creates its ring, which gets the group through the setgid bit and
//! mode 0660 so the sidecar can drain it; a writer outside the group cannot
//! create one, gets `RS_ERR_RING` from `rs_tracer_open` and is told why.
//!
//! Needs root (to switch users), so it is ignored by default; CI runs ignored
//! tests as root: `cargo test --test ring_dir_access -- --ignored`.

mod c_support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use c_support::{Link, compile, read_spans, text};

/// A group id no account uses, standing in for `ringside`.
const RING_GID: u32 = 47_001;
/// `nobody`: a writer that is not the sidecar's user.
const WRITER_UID: u32 = 65_534;

fn scratch(name: &str, mode: u32, gid: u32) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringside-access-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(0), Some(gid)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
    dir
}

/// Runs the writer as `WRITER_UID` with only `groups` as its groups.
fn run_as_writer(exe: &Path, rings: &Path, groups: Option<u32>) -> std::process::Output {
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={WRITER_UID}"))
        .arg(format!("--regid={WRITER_UID}"));
    match groups {
        Some(gid) => cmd.arg(format!("--groups={gid}")),
        None => cmd.arg("--clear-groups"),
    };
    cmd.arg(exe)
        .args(["3", "1"])
        .env("RINGSIDE_DIR", rings)
        .env_remove("RINGSIDE_RING_SLOTS")
        .output()
        .expect("setpriv (util-linux) is installed")
}

#[test]
#[ignore = "needs root to run writers as other users; CI runs it"]
fn writers_in_the_ring_group_create_rings_and_others_cannot() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test must run as root");
    // The writer binary, where the other user can run it.
    let bin = scratch("bin", 0o755, 0);
    let exe = bin.join("storage_daemon");
    std::fs::copy(compile("examples/c/storage_daemon.c", Link::Static), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let rings = scratch("rings", 0o2770, RING_GID);

    // In the group: the ring is made, with the group and mode the sidecar needs.
    let out = run_as_writer(&exe, &rings, Some(RING_GID));
    assert!(out.status.success(), "{}", text(&out));
    let files: Vec<_> = std::fs::read_dir(&rings)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let meta = std::fs::symlink_metadata(&files[0]).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(meta.uid(), WRITER_UID);
    assert_eq!(
        meta.gid(),
        RING_GID,
        "the setgid directory gave the ring its group"
    );
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(read_spans(&rings).len(), 12, "three requests of four spans");

    // Outside the group: no ring, a clear error, and the program is told.
    let out = run_as_writer(&exe, &rings, None);
    assert!(!out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("open ring: the ring file could not be created"),
        "{stderr}"
    );
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert_eq!(std::fs::read_dir(&rings).unwrap().count(), 1);

    std::fs::remove_dir_all(&rings).unwrap();
    std::fs::remove_dir_all(&bin).unwrap();
}
