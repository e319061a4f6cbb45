//! The runtime API's socket files: created owner-only whatever the process umask, then given
//! the configured owner and mode (`stats_socket = { path, mode, user, group }`). Owns the
//! resolution of user and group names, which `ringway check` runs too.

use std::ffi::CString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};

use ringway_config::StatsSocket;

/// The owner a socket file gets: uid and gid, `None` to keep ours.
pub struct Owner {
    uid: Option<u32>,
    gid: Option<u32>,
}

/// Resolves the socket's `user` and `group` names.
pub fn owner(socket: &StatsSocket) -> Result<Owner, String> {
    let uid = match &socket.user {
        Some(name) => Some(lookup(name, Lookup::User)?),
        None => None,
    };
    let gid = match &socket.group {
        Some(name) => Some(lookup(name, Lookup::Group)?),
        None => None,
    };
    Ok(Owner { uid, gid })
}

/// Binds the socket file, replacing one left behind by a process that is gone, and gives it
/// its owner and mode. The error says which step failed.
pub fn bind(socket: &StatsSocket) -> Result<UnixListener, String> {
    let owner = owner(socket)?;
    let path = &socket.path;
    if path.exists() && UnixStream::connect(path).is_err() {
        std::fs::remove_file(path)
            .map_err(|error| format!("cannot remove the stale socket: {error}"))?;
    }
    // bind creates the file with 0777 minus the umask. An owner-only umask leaves no moment in
    // which another user could connect before chmod. The umask is process-wide: nothing else
    // creates files while the proxy starts.
    // SAFETY: umask only swaps the process's file mode mask.
    let previous = unsafe { libc::umask(0o077) };
    let bound = UnixListener::bind(path);
    // SAFETY: as above, restoring the mask.
    unsafe { libc::umask(previous) };
    let listener = bound.map_err(|error| error.to_string())?;
    if owner.uid.is_some() || owner.gid.is_some() {
        std::os::unix::fs::chown(path, owner.uid, owner.gid).map_err(|error| {
            let _ = std::fs::remove_file(path);
            format!(
                "cannot give the socket to {}: {error} (changing owners needs root or \
                 CAP_CHOWN; remove user/group to keep ringway's own)",
                owner_names(socket)
            )
        })?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(socket.mode)).map_err(
        |error| {
            let _ = std::fs::remove_file(path);
            format!("cannot set mode {:04o}: {error}", socket.mode)
        },
    )?;
    Ok(listener)
}

fn owner_names(socket: &StatsSocket) -> String {
    match (&socket.user, &socket.group) {
        (Some(user), Some(group)) => format!("user {user} group {group}"),
        (Some(user), None) => format!("user {user}"),
        (None, Some(group)) => format!("group {group}"),
        (None, None) => String::new(),
    }
}

#[derive(Clone, Copy)]
enum Lookup {
    User,
    Group,
}

/// The id of a user or group name, from the system's databases (getpwnam_r, getgrnam_r).
fn lookup(name: &str, kind: Lookup) -> Result<u32, String> {
    let what = match kind {
        Lookup::User => "user",
        Lookup::Group => "group",
    };
    let unknown = || format!("unknown {what} {name:?}");
    let c_name = CString::new(name).map_err(|_| unknown())?;
    let mut buffer: Vec<libc::c_char> = vec![0; 4096];
    loop {
        // (status, found, id)
        let (status, found, id) = match kind {
            Lookup::User => {
                let mut result: *mut libc::passwd = std::ptr::null_mut();
                // SAFETY: a zeroed passwd is a valid out-parameter; the buffer outlives the call.
                let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
                let status = unsafe {
                    libc::getpwnam_r(
                        c_name.as_ptr(),
                        &mut entry,
                        buffer.as_mut_ptr(),
                        buffer.len(),
                        &mut result,
                    )
                };
                (status, !result.is_null(), entry.pw_uid)
            }
            Lookup::Group => {
                let mut result: *mut libc::group = std::ptr::null_mut();
                // SAFETY: as above, with a group entry.
                let mut entry: libc::group = unsafe { std::mem::zeroed() };
                let status = unsafe {
                    libc::getgrnam_r(
                        c_name.as_ptr(),
                        &mut entry,
                        buffer.as_mut_ptr(),
                        buffer.len(),
                        &mut result,
                    )
                };
                (status, !result.is_null(), entry.gr_gid)
            }
        };
        match status {
            0 if found => return Ok(id),
            0 => return Err(unknown()),
            libc::ERANGE if buffer.len() < 1 << 20 => buffer.resize(buffer.len() * 2, 0),
            error => {
                return Err(format!(
                    "cannot look up {what} {name:?}: {}",
                    io::Error::from_raw_os_error(error)
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve() {
        assert_eq!(lookup("root", Lookup::User), Ok(0));
        assert_eq!(lookup("root", Lookup::Group), Ok(0));
        assert_eq!(
            lookup("ringway-no-such-user", Lookup::User),
            Err("unknown user \"ringway-no-such-user\"".to_string())
        );
        assert!(lookup("a\0b", Lookup::Group).is_err());
    }
}
