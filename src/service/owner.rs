//! Administrative commands run by root (`sudo alcoves user create …`) on an installed server
//! act as the account that owns the data dir, so nothing they create there (database journals,
//! secrets, models) ends up owned by root and unreadable to the service.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// When running as root and `data_dir` belongs to another account, becomes that account (its
/// groups, then its group and user id) and returns its uid. Must run before any thread starts.
pub fn become_data_owner(data_dir: &Path) -> Result<Option<u32>, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let Ok(meta) = std::fs::metadata(data_dir) else {
        return Ok(None);
    };
    let uid = meta.uid();
    if uid == 0 {
        return Ok(None);
    }
    let fail = |what: &str| {
        format!(
            "cannot switch to the owner (uid {uid}) of {}: {what}: {}",
            data_dir.display(),
            std::io::Error::last_os_error()
        )
    };
    // SAFETY: called while the process is single-threaded (getpwuid's static buffer is read
    // before anything else can use it); the pointers passed are valid for the calls.
    unsafe {
        let account = libc::getpwuid(uid);
        // The account's own group, not the dir's: a dir grouped `root` must not give gid 0.
        let gid = if account.is_null() {
            meta.gid()
        } else {
            (*account).pw_gid
        };
        if gid == 0 {
            return Err(format!(
                "{} belongs to uid {uid} with group root: give it the service's own group",
                data_dir.display()
            ));
        }
        let grouped = if account.is_null() {
            libc::setgroups(1, &gid)
        } else {
            libc::initgroups((*account).pw_name, gid)
        };
        if grouped != 0 {
            return Err(fail("groups"));
        }
        if libc::setgid(gid) != 0 {
            return Err(fail("setgid"));
        }
        if libc::setuid(uid) != 0 {
            return Err(fail("setuid"));
        }
    }
    Ok(Some(uid))
}
