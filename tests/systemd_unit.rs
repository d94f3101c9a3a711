//! The shipped systemd files, checked by systemd's own tools (Debian package
//! `systemd`): the unit and a storage daemon's unit with the drop-in pass
//! `systemd-analyze verify` in a scratch root that holds the real `ringside`
//! binary at the unit's ExecStart path; the unit's exposure from
//! `systemd-analyze security --offline=true` is at most 2.0 (printed); the
//! sysusers and tmpfiles files create the user, the group and the ring
//! directory with mode 3770 in that root.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {from:?} to {to:?}: {e}"));
}

/// A scratch root for `--root=`: the host's unit library (for the targets
/// the unit refers to), the real `ringside` binary and `kill` at the paths
/// the unit names, a stand-in storage daemon, and our files under /etc.
fn scratch_root(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("systemd-root-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let units = root.join("usr/lib/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .arg("/usr/lib/systemd/system/.")
        .arg(&units)
        .status()
        .unwrap();
    assert!(status.success(), "copy the host's unit library");
    copy(
        Path::new(env!("CARGO_BIN_EXE_ringside")),
        &root.join("usr/local/bin/ringside"),
    );
    copy(Path::new("/bin/kill"), &root.join("bin/kill"));
    copy(
        Path::new("/bin/true"),
        &root.join("usr/local/bin/storage-daemon"),
    );
    let etc = root.join("etc/systemd/system");
    copy(
        &repo("systemd/ringside.service"),
        &etc.join("ringside.service"),
    );
    std::fs::write(
        etc.join("storage-daemon.service"),
        "[Unit]\nDescription=a storage daemon that writes spans\n\n\
         [Service]\nExecStart=/usr/local/bin/storage-daemon\n\n\
         [Install]\nWantedBy=multi-user.target\n",
    )
    .unwrap();
    copy(
        &repo("systemd/storage-daemon-dropin.conf"),
        &etc.join("storage-daemon.service.d/ringside.conf"),
    );
    root
}

fn verify(root: &Path, unit: &str) -> Output {
    Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg(unit)
        .output()
        .expect("systemd-analyze (Debian package systemd) is installed")
}

#[test]
fn units_pass_systemd_analyze_verify() {
    let root = scratch_root("verify");
    for unit in ["ringside.service", "storage-daemon.service"] {
        let out = verify(&root, unit);
        assert!(out.status.success(), "verify {unit}:\n{}", text(&out));
        assert!(
            out.stderr.is_empty(),
            "verify {unit} warned:\n{}",
            text(&out)
        );
    }
    // The check is real: without the binary at the ExecStart path it fails.
    std::fs::remove_file(root.join("usr/local/bin/ringside")).unwrap();
    let out = verify(&root, "ringside.service");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/usr/local/bin/ringside"),
        "{}",
        text(&out)
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn unit_exposure_is_at_most_two() {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(repo("systemd/ringside.service"))
        .output()
        .expect("systemd-analyze (Debian package systemd) is installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure line:\n{}", text(&out)));
    println!("{line}");
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the score in {line:?}"));
    println!("systemd-analyze security: exposure {score}");
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{stdout}");
}

/// The value of `key=value` lines in the unit, in order.
fn unit_values(key: &str) -> Vec<String> {
    let unit = std::fs::read_to_string(repo("systemd/ringside.service")).unwrap();
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_string)
        .collect()
}

#[test]
fn unit_keeps_the_ring_directory_shared_with_other_units() {
    let one = |key: &str| {
        let v = unit_values(key);
        assert_eq!(v.len(), 1, "{key} set once: {v:?}");
        v[0].clone()
    };
    assert_eq!(one("RuntimeDirectory"), "ringside");
    assert_eq!(one("RuntimeDirectoryMode"), "3770");
    assert_eq!(one("RuntimeDirectoryPreserve"), "yes");
    assert_eq!(one("Group"), "ringside");
    assert_eq!(one("Type"), "notify");
    assert_eq!(one("ExecStartPre"), "/usr/local/bin/ringside check-config");
    // Options that would cut other units off /run/ringside are absent.
    for key in ["InaccessiblePaths", "TemporaryFileSystem", "ReadOnlyPaths"] {
        assert!(unit_values(key).is_empty(), "{key} is set");
    }
    assert_eq!(one("PrivateUsers"), "no");
    let dropin = std::fs::read_to_string(repo("systemd/storage-daemon-dropin.conf")).unwrap();
    assert!(dropin.lines().any(|l| l == "SupplementaryGroups=ringside"));
    assert!(
        dropin
            .lines()
            .any(|l| l == "Environment=RINGSIDE_DIR=/run/ringside")
    );
}

/// The gid of `name` in `root`'s /etc/group.
fn gid(root: &Path, name: &str) -> u32 {
    let group = std::fs::read_to_string(root.join("etc/group")).unwrap();
    group
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            (f.next()? == name).then(|| f.nth(1)?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no group {name} in {group}"))
}

#[test]
fn sysusers_and_tmpfiles_make_the_user_and_the_ring_directory() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("systemd-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("etc")).unwrap();
    let out = Command::new("systemd-sysusers")
        .arg(format!("--root={}", root.display()))
        .arg(repo("systemd/ringside.sysusers"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let user = passwd
        .lines()
        .find(|l| l.starts_with("ringside:"))
        .unwrap_or_else(|| panic!("no ringside user in {passwd}"));
    let gid = gid(&root, "ringside");
    assert_eq!(user.split(':').nth(3), Some(gid.to_string().as_str()));
    assert!(user.ends_with(":/usr/sbin/nologin"), "{user}");

    let out = Command::new("systemd-tmpfiles")
        .arg("--create")
        .arg(format!("--root={}", root.display()))
        .arg(repo("systemd/ringside.tmpfiles"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let rings = std::fs::metadata(root.join("run/ringside")).unwrap();
    assert!(rings.is_dir());
    assert_eq!(rings.permissions().mode() & 0o7777, 0o3770);
    assert_eq!(rings.gid(), gid);
    let state = std::fs::metadata(root.join("var/lib/ringside")).unwrap();
    assert_eq!(state.permissions().mode() & 0o7777, 0o750);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn tmpfiles_gives_the_ring_directory_its_default_acl() {
    // systemd-tmpfiles resolves the ACL's user name on this host, which has
    // no user ringside: check the same line with root in its place.
    let root = std::env::temp_dir().join(format!("ringside-acl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let shipped = std::fs::read_to_string(repo("systemd/ringside.tmpfiles")).unwrap();
    let acl_line = shipped
        .lines()
        .find(|l| l.starts_with("a+ /run/ringside "))
        .expect("an a+ line for the ring directory");
    let conf = root.join("acl.conf");
    std::fs::write(
        &conf,
        format!(
            "d /run/ringside 3770 root root -\n{}\n",
            acl_line.replace("d:u:ringside:", "d:u:root:")
        ),
    )
    .unwrap();
    let out = Command::new("systemd-tmpfiles")
        .arg("--create")
        .arg(format!("--root={}", root.display()))
        .arg(&conf)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("Failed"), "{}", text(&out));
    let dir = std::ffi::CString::new(root.join("run/ringside").display().to_string()).unwrap();
    let name = std::ffi::CString::new("system.posix_acl_default").unwrap();
    let mut buf = [0u8; 128];
    // SAFETY: NUL-terminated strings and a writable buffer of its length.
    let n = unsafe {
        libc::getxattr(
            dir.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert!(n > 0, "no default ACL: {}", std::io::Error::last_os_error());
    // version 2; user::rwx, user:root:rw-, group::---, mask::rw-, other::---
    let mut want = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (1u16, 7u16, u32::MAX),
        (2, 6, 0),
        (4, 0, u32::MAX),
        (0x10, 6, u32::MAX),
        (0x20, 0, u32::MAX),
    ] {
        want.extend_from_slice(&tag.to_le_bytes());
        want.extend_from_slice(&perm.to_le_bytes());
        want.extend_from_slice(&id.to_le_bytes());
    }
    assert_eq!(&buf[..n as usize], &want[..]);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn unit_directories_match_the_shipped_configuration() {
    // What ExecStartPre runs, on the configuration shipped for this unit.
    let out = Command::new(env!("CARGO_BIN_EXE_ringside"))
        .args(["check-config", "--config"])
        .arg(repo("systemd/ringside.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let setting = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(" = "))
            .unwrap_or_else(|| panic!("no {key} in {stdout}"))
            .to_string()
    };
    let runtime = unit_values("RuntimeDirectory").concat();
    assert_eq!(setting("rings.dir"), format!("/run/{runtime}"));
    let state: Vec<String> = unit_values("StateDirectory")
        .concat()
        .split_whitespace()
        .map(|d| format!("/var/lib/{d}"))
        .collect();
    assert!(state.contains(&setting("spool.dir")), "{state:?}");
}
