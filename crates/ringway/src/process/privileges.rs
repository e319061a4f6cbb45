//! The privilege drop (`global.user`, `global.group`): resolving the names (at start and by
//! `ringway check`) and switching the whole process to that account once every listener, the
//! stats sockets and the admin listener are bound, before any shard handles a connection.
//!
//! Order: `setgroups([])` (no supplementary groups), `setgid`, then `setuid`, and a check that
//! the ids took and that root cannot be regained. With only `user`, the group is the user's
//! primary group; with only `group`, the user stays. A process already running as that
//! account (systemd's `User=`) has nothing to do.
//!
//! Threads: on Linux these system calls change the calling thread only, but glibc's wrappers
//! (and musl's) apply them to every thread of the process (glibc's "setxid" broadcast, a
//! signal the library sends to each thread, which no signal mask blocks). One call after the
//! shards' executors exist therefore covers them; `tests/operations.rs` checks the ids of every
//! thread in `/proc/PID/task`.

use std::ffi::CString;
use std::io;

use ringway_config::Global;

/// The ids to switch to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    /// None: keep the user (only `group` was given).
    pub uid: Option<libc::uid_t>,
    pub gid: libc::gid_t,
}

/// Resolves `global.user` / `global.group`; None when neither is set.
pub fn resolve(global: &Global) -> Result<Option<Account>, String> {
    let user = match &global.user {
        Some(name) => Some(user_ids(name)?),
        None => None,
    };
    let gid = match (&global.group, user) {
        (Some(name), _) => group_id(name)?,
        (None, Some((_, primary))) => primary,
        (None, None) => return Ok(None),
    };
    Ok(Some(Account {
        uid: user.map(|(uid, _)| uid),
        gid,
    }))
}

/// Switches the process to `account`. The error is one line naming what failed.
pub fn drop_to(account: Account) -> Result<(), String> {
    // SAFETY: plain id getters.
    let (uid, euid, gid, egid) = unsafe {
        (
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
        )
    };
    let target_uid = account.uid.unwrap_or(uid);
    if (uid, euid, gid, egid) == (target_uid, target_uid, account.gid, account.gid) {
        return Ok(());
    }
    // SAFETY: setgroups with a count of 0 reads no list.
    if unsafe { libc::setgroups(0, std::ptr::null()) } != 0 {
        return Err(failure("setgroups", account));
    }
    // SAFETY: plain id setters; glibc applies them to every thread.
    if unsafe { libc::setgid(account.gid) } != 0 {
        return Err(failure("setgid", account));
    }
    if let Some(uid) = account.uid {
        // SAFETY: as above.
        if unsafe { libc::setuid(uid) } != 0 {
            return Err(failure("setuid", account));
        }
    }
    // SAFETY: plain id getters and, for the check, setuid(0), which must fail.
    unsafe {
        let now = (
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
        );
        if now != (target_uid, target_uid, account.gid, account.gid) {
            return Err(format!(
                "cannot drop privileges: the ids are uid {} euid {} gid {} egid {} after the switch",
                now.0, now.1, now.2, now.3
            ));
        }
        if target_uid != 0 && libc::setuid(0) == 0 {
            return Err("cannot drop privileges: root could be regained after the switch".into());
        }
    }
    Ok(())
}

fn failure(call: &str, account: Account) -> String {
    let error = io::Error::last_os_error();
    let who = match account.uid {
        Some(uid) => format!("uid {uid} gid {}", account.gid),
        None => format!("gid {}", account.gid),
    };
    let hint = if error.raw_os_error() == Some(libc::EPERM) {
        " (switching to global.user/global.group needs a start as root; under systemd use \
         User=/Group= instead)"
    } else {
        ""
    };
    format!("cannot drop privileges to {who}: {call}: {error}{hint}")
}

/// (uid, primary gid) of the user called `name`.
pub(crate) fn user_ids(name: &str) -> Result<(libc::uid_t, libc::gid_t), String> {
    lookup("user", name, libc::getpwnam_r, |entry: &libc::passwd| {
        (entry.pw_uid, entry.pw_gid)
    })
}

/// The gid of the group called `name`.
pub(crate) fn group_id(name: &str) -> Result<libc::gid_t, String> {
    lookup("group", name, libc::getgrnam_r, |entry: &libc::group| {
        entry.gr_gid
    })
}

/// The shape of `getpwnam_r` and `getgrnam_r`.
type NameLookup<T> = unsafe extern "C" fn(
    *const libc::c_char,
    *mut T,
    *mut libc::c_char,
    libc::size_t,
    *mut *mut T,
) -> libc::c_int;

/// Looks `name` up with a reentrant libc call, growing the string buffer while it is too
/// small, and reads what is needed from the entry while its buffer lives.
fn lookup<T, R>(
    kind: &str,
    name: &str,
    call: NameLookup<T>,
    read: impl FnOnce(&T) -> R,
) -> Result<R, String> {
    let c_name = CString::new(name).map_err(|_| format!("{kind} {name:?}: not a valid name"))?;
    let mut size = 1024;
    loop {
        let mut buffer = vec![0 as libc::c_char; size];
        // SAFETY: passwd and group are plain C structs: all zeroes is a valid out-parameter.
        let mut entry: T = unsafe { std::mem::zeroed() };
        let mut found: *mut T = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; the buffer is `size` bytes.
        let code = unsafe {
            call(
                c_name.as_ptr(),
                &mut entry,
                buffer.as_mut_ptr(),
                size,
                &mut found,
            )
        };
        match code {
            0 if found.is_null() => return Err(format!("unknown {kind} {name:?}")),
            0 => return Ok(read(&entry)),
            libc::ERANGE if size < 1 << 20 => size *= 4,
            code => {
                return Err(format!(
                    "{kind} {name:?}: {}",
                    io::Error::from_raw_os_error(code)
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(user: Option<&str>, group: Option<&str>) -> Global {
        Global {
            user: user.map(str::to_owned),
            group: group.map(str::to_owned),
            ..Global::default()
        }
    }

    #[test]
    fn names_resolve_or_say_why_not() {
        assert_eq!(resolve(&global(None, None)), Ok(None));
        assert_eq!(
            resolve(&global(Some("root"), None)),
            Ok(Some(Account {
                uid: Some(0),
                gid: 0
            }))
        );
        assert_eq!(
            resolve(&global(None, Some("root"))),
            Ok(Some(Account { uid: None, gid: 0 }))
        );
        assert_eq!(
            resolve(&global(Some("no-such-user-ringway"), None)),
            Err("unknown user \"no-such-user-ringway\"".to_string())
        );
        assert_eq!(
            resolve(&global(Some("root"), Some("no-such-group-ringway"))),
            Err("unknown group \"no-such-group-ringway\"".to_string())
        );
        assert!(resolve(&global(Some("a\0b"), None)).is_err());
    }

    #[test]
    fn the_current_account_is_nothing_to_do() {
        // SAFETY: plain id getters.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        if unsafe { (libc::geteuid(), libc::getegid()) } != (uid, gid) {
            return;
        }
        assert_eq!(
            drop_to(Account {
                uid: Some(uid),
                gid
            }),
            Ok(())
        );
    }
}
