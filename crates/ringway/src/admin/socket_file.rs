//! The runtime API's socket files: created owner-only whatever the process umask, then given
//! the configured owner and mode (`stats_socket = { path, mode, user, group }`; the names
//! resolve through `privileges.rs`, at `ringway check` too), and the rule that a socket path is
//! taken over atomically by the next process and removed only by its owner.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use ringway_config::StatsSocket;

/// The owner a socket file gets: uid and gid, `None` to keep ours.
pub struct Owner {
    uid: Option<u32>,
    gid: Option<u32>,
}

/// Resolves the socket's `user` and `group` names.
pub fn owner(socket: &StatsSocket) -> Result<Owner, String> {
    let uid = match &socket.user {
        Some(name) => Some(crate::process::privileges::user_ids(name)?.0),
        None => None,
    };
    let gid = match &socket.group {
        Some(name) => Some(crate::process::privileges::group_id(name)?),
        None => None,
    };
    Ok(Owner { uid, gid })
}

/// Which file a socket path named when this process created it: an exiting process removes
/// the path only while it still names that file, never a successor's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    dev: u64,
    ino: u64,
}

impl Identity {
    fn of(path: &Path) -> io::Result<Identity> {
        let meta = std::fs::symlink_metadata(path)?;
        Ok(Identity {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

/// Removes the socket file at `path` if it is still the one this process created.
pub fn remove_if_ours(path: &Path, ours: Identity) {
    if Identity::of(path).is_ok_and(|now| now == ours) {
        let _ = std::fs::remove_file(path);
    }
}

/// Whether `path` still names the socket file this process created.
pub fn is_ours(path: &Path, ours: Identity) -> bool {
    Identity::of(path).is_ok_and(|now| now == ours)
}

/// Binds the socket file with its owner and mode, taking the path over from whatever socket is
/// there (a predecessor still serving it during a binary upgrade, or one left behind by a
/// process that is gone): the socket is bound under a temporary name in the same directory,
/// then renamed over the path, so a client always finds a socket there. A path that exists and
/// is not a socket is left alone (an error). The error says which step failed.
pub fn bind(socket: &StatsSocket) -> Result<(UnixListener, Identity), String> {
    let owner = owner(socket)?;
    let path = &socket.path;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err("the path exists and is not a socket".to_string());
        }
    }
    let temporary = temporary_name(path);
    let _ = std::fs::remove_file(&temporary);
    // bind creates the file with 0777 minus the umask. An owner-only umask leaves no moment in
    // which another user could connect before chmod. The umask is process-wide: nothing else
    // creates files while the proxy starts.
    // SAFETY: umask only swaps the process's file mode mask.
    let previous = unsafe { libc::umask(0o077) };
    let bound = UnixListener::bind(&temporary);
    // SAFETY: as above, restoring the mask.
    unsafe { libc::umask(previous) };
    let listener = bound.map_err(|error| format!("{}: {error}", temporary.display()))?;
    let prepared = prepare(socket, &owner, &temporary)
        .and_then(|()| Identity::of(&temporary).map_err(|error| error.to_string()))
        .and_then(|identity| {
            std::fs::rename(&temporary, path)
                .map(|()| identity)
                .map_err(|error| format!("cannot rename {} over it: {error}", temporary.display()))
        });
    match prepared {
        Ok(identity) => Ok((listener, identity)),
        Err(error) => {
            let _ = std::fs::remove_file(&temporary);
            Err(error)
        }
    }
}

/// Gives the freshly bound file its owner and mode.
fn prepare(socket: &StatsSocket, owner: &Owner, file: &Path) -> Result<(), String> {
    if owner.uid.is_some() || owner.gid.is_some() {
        std::os::unix::fs::chown(file, owner.uid, owner.gid).map_err(|error| {
            format!(
                "cannot give the socket to {}: {error} (changing owners needs root or \
                 CAP_CHOWN; remove user/group to keep ringway's own)",
                owner_names(socket)
            )
        })?;
    }
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(socket.mode))
        .map_err(|error| format!("cannot set mode {:04o}: {error}", socket.mode))
}

/// `.NAME.PID.N` beside `path`: unique among this process's sockets and other processes'.
fn temporary_name(path: &Path) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unique = format!(".{}.{}", std::process::id(), NEXT.fetch_add(1, Relaxed));
    // sun_path holds 107 bytes: shorten the name part rather than fail on a long path.
    let room = 100usize
        .saturating_sub(path.as_os_str().len().saturating_sub(name.len()) + unique.len() + 1);
    let short: String = name.chars().take(room.min(name.len())).collect();
    path.with_file_name(format!(".{short}{unique}"))
}

fn owner_names(socket: &StatsSocket) -> String {
    match (&socket.user, &socket.group) {
        (Some(user), Some(group)) => format!("user {user} group {group}"),
        (Some(user), None) => format!("user {user}"),
        (None, Some(group)) => format!("group {group}"),
        (None, None) => String::new(),
    }
}
