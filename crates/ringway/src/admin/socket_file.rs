//! The runtime API's socket files: created owner-only whatever the process umask, then given
//! the configured owner and mode (`stats_socket = { path, mode, user, group }`); the names
//! resolve through `privileges.rs`, at `ringway check` too.

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
        Some(name) => Some(crate::privileges::user_ids(name)?.0),
        None => None,
    };
    let gid = match &socket.group {
        Some(name) => Some(crate::privileges::group_id(name)?),
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
