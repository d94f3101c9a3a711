//! Which ring files the sidecar reads: those owned by its own user, by root,
//! by a member of the ring directory's group (the storage daemons that joined
//! it with `SupplementaryGroups=`), or by a user named in
//! `rings.allowed_users`. A file owned by anyone else is reported and skipped:
//! only the parties the operator let into the directory feed the pipeline.

use std::collections::HashSet;
use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use ringside::ring::OpenError;

use super::source::RingCheck;

/// The check for rings in `dir`. Unknown user names in `allowed` are an error
/// naming the name.
pub fn ring_check(dir: &Path, allowed: &[String]) -> Result<RingCheck, String> {
    let mut uids: HashSet<u32> = HashSet::from([0, effective_uid()]);
    for user in allowed {
        let uid = match user.parse::<u32>() {
            Ok(uid) => uid,
            Err(_) => user_id(user)
                .ok_or_else(|| format!("rings.allowed_users: no user named {user:?}"))?,
        };
        uids.insert(uid);
    }
    let dir_gid = std::fs::metadata(dir).map(|m| m.gid()).ok();
    Ok(Box::new(move |_path, meta| {
        let owner = meta.uid();
        if may_write(owner, &uids, dir_gid, in_group) {
            Ok(())
        } else {
            Err(OpenError::Owner(owner))
        }
    }))
}

/// The rule: a listed uid, or a member of the directory's group.
fn may_write(
    owner: u32,
    uids: &HashSet<u32>,
    dir_gid: Option<u32>,
    member: impl Fn(u32, u32) -> bool,
) -> bool {
    uids.contains(&owner) || dir_gid.is_some_and(|g| member(owner, g))
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Buffer size for the reentrant passwd lookups.
const PW_BUF: usize = 16 * 1024;

/// The uid of user `name`.
fn user_id(name: &str) -> Option<u32> {
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; PW_BUF];
    // SAFETY: passwd is plain data; all-zero is a valid placeholder.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call: `cname` is NUL-terminated,
    // `buf` is writable for its length, `pw` and `out` are locals.
    let rc = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pw,
            buf.as_mut_ptr(),
            buf.len(),
            &mut out,
        )
    };
    (rc == 0 && !out.is_null()).then_some(pw.pw_uid)
}

/// Whether user `uid` has `gid` as its primary or a supplementary group.
fn in_group(uid: u32, gid: u32) -> bool {
    let mut buf = vec![0 as libc::c_char; PW_BUF];
    // SAFETY: as in `user_id`.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: `buf` is writable for its length; `pw` and `out` are locals.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) };
    if rc != 0 || out.is_null() {
        return false;
    }
    if pw.pw_gid == gid {
        return true;
    }
    let mut groups = vec![0 as libc::gid_t; 256];
    let mut n = groups.len() as libc::c_int;
    // SAFETY: `pw.pw_name` points into `buf`, which is alive and NUL-terminated
    // by getpwuid_r; `groups` is writable for `n` entries.
    let rc = unsafe { libc::getgrouplist(pw.pw_name, pw.pw_gid, groups.as_mut_ptr(), &mut n) };
    if rc < 0 {
        return false;
    }
    groups.truncate(n.max(0) as usize);
    groups.contains(&gid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_users_and_group_members_may_write_others_may_not() {
        let uids = HashSet::from([0, 1000, 4242]);
        let member = |uid: u32, gid: u32| uid == 2000 && gid == 900;
        assert!(may_write(1000, &uids, Some(900), member));
        assert!(
            may_write(2000, &uids, Some(900), member),
            "member of the directory's group"
        );
        assert!(
            !may_write(2000, &uids, Some(901), member),
            "member of another group"
        );
        assert!(!may_write(3000, &uids, Some(900), member), "stranger");
        assert!(
            !may_write(2000, &uids, None, member),
            "directory group unknown"
        );
    }

    #[test]
    fn own_files_pass_and_group_lookup_works() {
        let check = ring_check(&std::env::temp_dir(), &[]).unwrap();
        let own = std::fs::metadata(std::env::current_exe().unwrap()).unwrap();
        assert!(
            check(Path::new("x"), &own).is_ok(),
            "a file of our own user"
        );
        // root's primary group is 0 on every Linux system.
        assert!(in_group(0, 0));
        assert!(!in_group(u32::MAX - 7, 0), "no such user");
    }

    #[test]
    fn unknown_user_names_are_an_error_naming_them() {
        let err = ring_check(Path::new("/tmp"), &["no-such-user-ringside".into()])
            .err()
            .unwrap();
        assert!(err.contains("no-such-user-ringside"), "{err}");
        assert!(ring_check(Path::new("/tmp"), &["root".into(), "12345".into()]).is_ok());
    }
}
