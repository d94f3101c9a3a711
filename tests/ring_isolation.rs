//! Ring isolation between writers: two daemons of different users, both in the
//! ring group, write their rings into a directory the sidecar prepared (mode
//! 3770 and a default ACL, see `src/sidecar/ring_dir.rs`). Neither can open,
//! read, write, truncate, rename or remove the other's ring, and the sidecar,
//! running as a third user, drains both.
//!
//! Needs root (to switch users), so it is ignored by default; CI runs ignored
//! tests as root: `cargo test --test ring_isolation -- --ignored`.

mod c_support;
mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use c_support::{Link, compile, text};
use common::{Proc, read_jsonl, wait_for};

/// A group no account uses, standing in for `ringside`.
const RING_GID: u32 = 47_002;
/// The sidecar's user, owner of the ring directory.
const SIDECAR_UID: u32 = 47_010;
/// Two storage daemons' users.
const WRITER_A: u32 = 47_011;
const WRITER_B: u32 = 47_012;

fn scratch(name: &str, mode: u32, uid: u32, gid: u32) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringside-iso-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
    dir
}

/// `argv` run as `uid` with the ring group as its only group.
fn as_user(uid: u32, argv: &[&str]) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"))
        .arg(format!("--groups={RING_GID}"))
        .args(argv);
    cmd
}

fn shell_as(uid: u32, script: &str) -> Output {
    as_user(uid, &["sh", "-c", script])
        .output()
        .expect("setpriv (util-linux) is installed")
}

fn sidecar(exe: &Path, rings: &Path, state: &Path) -> Proc {
    let config = state.join("ringside.toml");
    std::fs::write(
        &config,
        format!(
            "[rings]\ndir = {:?}\nallowed_users = [\"{WRITER_A}\", \"{WRITER_B}\"]\n\
             [spool]\ndir = {:?}\n[metrics]\nlisten = \"\"\n\
             [[exporters]]\nkind = \"jsonl\"\npath = {:?}\n",
            rings.display().to_string(),
            state.join("spool").display().to_string(),
            state.join("spans.jsonl").display().to_string(),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(state.join("sidecar.log")).unwrap();
    std::os::unix::fs::chown(state.join("sidecar.log"), Some(SIDECAR_UID), None).unwrap();
    let exe = exe.display().to_string();
    let config = config.display().to_string();
    Proc::spawn(
        as_user(SIDECAR_UID, &[&exe, "run", "--config", &config])
            .stdout(std::process::Stdio::null())
            .stderr(log),
        "sidecar",
    )
}

#[test]
#[ignore = "needs root to run writers and the sidecar as other users; CI runs it"]
fn writers_cannot_touch_each_others_rings_and_the_sidecar_drains_both() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test must run as root");
    let bin = scratch("bin", 0o755, 0, 0);
    let writer = bin.join("storage_daemon");
    std::fs::copy(
        compile("examples/c/storage_daemon.c", Link::Static),
        &writer,
    )
    .unwrap();
    let agent = bin.join("ringside");
    std::fs::copy(env!("CARGO_BIN_EXE_ringside"), &agent).unwrap();
    for exe in [&writer, &agent] {
        std::fs::set_permissions(exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // The directory as an operator might have left it: the sidecar's, with
    // the group, but neither sticky nor with an ACL yet.
    let rings = scratch("rings", 0o2770, SIDECAR_UID, RING_GID);
    let state = scratch("state", 0o700, SIDECAR_UID, SIDECAR_UID);

    // The sidecar prepares the directory at start; stop it before the writers
    // run, so their rings stay in place for the access checks.
    let mut first = sidecar(&agent, &rings, &state);
    wait_for(
        "the sidecar to prepare the ring directory",
        Duration::from_secs(20),
        || std::fs::metadata(&rings).unwrap().mode() & 0o7777 == 0o3770,
    );
    first.stop_with(libc::SIGTERM, Duration::from_secs(20));

    for uid in [WRITER_A, WRITER_B] {
        let out = as_user(uid, &[&writer.display().to_string(), "3", "1"])
            .env("RINGSIDE_DIR", &rings)
            .env_remove("RINGSIDE_RING_SLOTS")
            .output()
            .unwrap();
        assert!(out.status.success(), "writer {uid}: {}", text(&out));
    }
    let ring_of = |uid: u32| -> PathBuf {
        std::fs::read_dir(&rings)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| std::fs::metadata(p).unwrap().uid() == uid)
            .unwrap_or_else(|| panic!("no ring of {uid}"))
    };
    for (me, other) in [(WRITER_A, WRITER_B), (WRITER_B, WRITER_A)] {
        let target = ring_of(other);
        let before = std::fs::read(&target).unwrap();
        let t = target.display().to_string();
        let moved = format!("{t}.moved");
        for (what, script) in [
            ("read", format!("cat {t} > /dev/null")),
            (
                "write",
                format!("printf x | dd of={t} conv=notrunc 2>/dev/null"),
            ),
            ("truncate", format!("truncate -s 4096 {t}")),
            ("rename", format!("mv {t} {moved}")),
            ("remove", format!("rm -f {t}")),
        ] {
            let out = shell_as(me, &script);
            assert!(
                !out.status.success(),
                "user {me} could {what} the ring of {other}: {}",
                text(&out)
            );
        }
        assert_eq!(
            std::fs::read(&target).unwrap(),
            before,
            "ring of {other} changed"
        );
        assert!(!Path::new(&moved).exists());
        // Its own ring, the writer may still read.
        let own = ring_of(me).display().to_string();
        assert!(
            shell_as(me, &format!("cat {own} > /dev/null"))
                .status
                .success()
        );
    }

    // The sidecar, as its own user, drains both rings.
    let _second = sidecar(&agent, &rings, &state);
    let jsonl = state.join("spans.jsonl");
    wait_for("both writers' spans", Duration::from_secs(30), || {
        read_jsonl(&jsonl).len() >= 24
    });
    let spans = read_jsonl(&jsonl);
    assert_eq!(
        spans.len(),
        24,
        "three requests of four spans from each writer"
    );

    drop(_second);
    std::fs::remove_dir_all(&rings).unwrap();
    std::fs::remove_dir_all(&state).unwrap();
    std::fs::remove_dir_all(&bin).unwrap();
}
