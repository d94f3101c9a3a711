//! The ring directory's access rules: no writer may read, change, shrink,
//! rename or remove another writer's ring, and the sidecar may drain them all.
//!
//! * Mode 3770, group `ringside`: members of the group (the storage daemons)
//!   create files; the setgid bit gives every ring the group `ringside`; the
//!   sticky bit lets only a file's owner (and the directory's owner, the
//!   sidecar) rename or remove it.
//! * A default POSIX ACL `user:<sidecar>:rw-, group::---, mask::rw-,
//!   other::---`: a ring a writer creates (mode 0660) is readable and writable
//!   by its owner and by the sidecar's user, and by no one else, even in the
//!   group. Without a default ACL the ring would get the group's `rw`.
//!
//! The sidecar sets both on a directory it owns at every start (so a directory
//! made by `RuntimeDirectory=` or by hand is repaired), and
//! `systemd/ringside.tmpfiles` sets them at boot. Rings survive a sidecar
//! restart: they are plain files, and the ACL is on each file once created.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::Context as _;

/// Mode of the ring directory: sticky, setgid, rwx for owner and group.
pub const MODE: u32 = 0o3770;

/// How well rings in the directory are kept apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// Sticky bit and the default ACL: each ring is its writer's and the
    /// sidecar's only.
    PerWriter,
    /// The file system has no POSIX ACLs (or the directory is not the
    /// sidecar's to change): members of the ring group can read and write each
    /// other's rings. Reported at start.
    GroupShared,
}

/// Creates the directory if it is missing, then, if the sidecar owns it, sets
/// mode [`MODE`] and the default ACL. Says how isolated rings will be.
pub fn prepare(dir: &Path) -> anyhow::Result<Isolation> {
    if !dir.is_dir() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create ring directory {}", dir.display()))?;
    }
    let meta = std::fs::metadata(dir)
        .with_context(|| format!("cannot read ring directory {}", dir.display()))?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let wanted = default_acl(me);
    if meta.uid() == me {
        if meta.mode() & 0o7777 != MODE {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(MODE)).with_context(
                || {
                    format!(
                        "cannot set mode {MODE:o} on ring directory {}",
                        dir.display()
                    )
                },
            )?;
        }
        if read_default_acl(dir).ok().flatten().as_deref() != Some(&wanted[..]) {
            match write_default_acl(dir, &wanted) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                    return Ok(Isolation::GroupShared);
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot set the default ACL of {}", dir.display())
                    });
                }
            }
        }
        return Ok(Isolation::PerWriter);
    }
    // Not ours (made by tmpfiles as another owner): isolated if it already
    // carries the rules.
    let sticky = meta.mode() & libc::S_ISVTX != 0;
    let acl_ok = read_default_acl(dir)
        .ok()
        .flatten()
        .is_some_and(|acl| grants_only(&acl, me));
    Ok(if sticky && acl_ok {
        Isolation::PerWriter
    } else {
        Isolation::GroupShared
    })
}

const XATTR_DEFAULT: &str = "system.posix_acl_default";
const ACL_VERSION: u32 = 2;
const USER_OBJ: u16 = 0x01;
const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;
const UNDEFINED_ID: u32 = u32::MAX;

/// The default ACL in the kernel's xattr form (little-endian version, then
/// `(tag: u16, perm: u16, id: u32)` entries in tag order).
fn default_acl(sidecar: u32) -> Vec<u8> {
    let entries = [
        (USER_OBJ, 7, UNDEFINED_ID),
        (USER, 6, sidecar),
        (GROUP_OBJ, 0, UNDEFINED_ID),
        (MASK, 6, UNDEFINED_ID),
        (OTHER, 0, UNDEFINED_ID),
    ];
    let mut out = ACL_VERSION.to_le_bytes().to_vec();
    for (tag, perm, id) in entries {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&u16::to_le_bytes(perm));
        out.extend_from_slice(&id.to_le_bytes());
    }
    out
}

/// True when `acl` (xattr form) gives the group and others nothing and names
/// `sidecar` with read and write.
fn grants_only(acl: &[u8], sidecar: u32) -> bool {
    if acl.len() < 4 || (acl.len() - 4) % 8 != 0 {
        return false;
    }
    let mut named = false;
    for e in acl[4..].chunks_exact(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        let perm = u16::from_le_bytes([e[2], e[3]]);
        let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
        match tag {
            GROUP_OBJ | OTHER if perm != 0 => return false,
            0x08 if perm != 0 => return false, // a named group
            USER if id == sidecar => named = perm & 6 == 6,
            _ => {}
        }
    }
    named
}

fn c_path(dir: &Path) -> io::Result<CString> {
    CString::new(dir.as_os_str().as_bytes()).map_err(|_| io::ErrorKind::InvalidInput.into())
}

fn read_default_acl(dir: &Path) -> io::Result<Option<Vec<u8>>> {
    read_xattr(dir, XATTR_DEFAULT)
}

/// The value of extended attribute `name` of `path`; `None` when it has none.
fn read_xattr(path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let path = c_path(path)?;
    let name = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut buf = vec![0u8; 256];
    // SAFETY: both strings are NUL-terminated; `buf` is writable for its length.
    let n = unsafe {
        libc::getxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENODATA) => Ok(None),
            _ => Err(e),
        };
    }
    buf.truncate(n as usize);
    Ok(Some(buf))
}

fn write_default_acl(dir: &Path, acl: &[u8]) -> io::Result<()> {
    let path = c_path(dir)?;
    let name = CString::new(XATTR_DEFAULT).expect("no NUL");
    // SAFETY: both strings are NUL-terminated; `acl` is readable for its length.
    let rc = unsafe {
        libc::setxattr(
            path.as_ptr(),
            name.as_ptr(),
            acl.as_ptr().cast(),
            acl.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::OpenOptionsExt;

    fn access_acl(file: &Path) -> Option<Vec<u8>> {
        read_xattr(file, "system.posix_acl_access").unwrap()
    }

    #[test]
    fn a_new_ring_is_the_writers_and_the_sidecars_only() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("rings");
        let isolation = prepare(&dir).unwrap();
        if isolation == Isolation::GroupShared {
            eprintln!("skipped: the test directory's file system has no POSIX ACLs");
            return;
        }
        let meta = std::fs::metadata(&dir).unwrap();
        assert_eq!(meta.mode() & 0o7777, MODE);
        // A writer creates its ring with mode 0660, as the writer crate does.
        let ring = dir.join("svc.1.ring");
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o660)
            .open(&ring)
            .unwrap();
        let acl = access_acl(&ring).expect("the ring inherited an ACL");
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        assert!(grants_only(&acl, me), "{acl:?}");
        // Preparing again changes nothing and stays isolated.
        assert_eq!(prepare(&dir).unwrap(), Isolation::PerWriter);
    }

    #[test]
    fn acl_form_round_trips_and_refuses_group_access() {
        let acl = default_acl(990);
        assert_eq!(acl.len(), 4 + 5 * 8);
        assert!(grants_only(&acl, 990));
        assert!(!grants_only(&acl, 991));
        let mut open = acl.clone();
        // GROUP_OBJ entry (third) given rw.
        open[4 + 2 * 8 + 2] = 6;
        assert!(!grants_only(&open, 990));
        assert!(!grants_only(&acl[..7], 990));
    }
}
