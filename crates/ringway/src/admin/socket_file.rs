//! The runtime API's socket files: created owner-only whatever the process umask, then given
//! the configured owner and mode (`stats_socket = { path, mode, user, group }`). Owns the
//! resolution of user and group names, which `ringway check` runs too, and the rule that a
//! socket path is taken over atomically by the next process and removed only by its owner.

use std::ffi::CString;
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
        Some(name) => Some(lookup(name, Lookup::User)?),
        None => None,
    };
    let gid = match &socket.group {
        Some(name) => Some(lookup(name, Lookup::Group)?),
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

    fn stats_socket(path: &Path) -> StatsSocket {
        let text = format!(
            "[global]\nstats_socket = {:?}\n",
            path.display().to_string()
        );
        let text = text
            + "[[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
               [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"s1\"\naddress = \"127.0.0.1:9\"\n";
        let config = ringway_config::parse(&text, "test.toml").expect("config");
        config.global.stats_sockets[0].clone()
    }

    #[test]
    fn a_live_socket_is_taken_over_and_only_its_owner_removes_it() {
        let dir = std::env::temp_dir().join(format!("ringway-sockfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stats.sock");
        let socket = stats_socket(&path);
        let (_first, first_id) = bind(&socket).unwrap();
        let (_second, second_id) = bind(&socket).expect("taken over while the first listens");
        assert_ne!(first_id, second_id);
        assert!(std::os::unix::net::UnixStream::connect(&path).is_ok());
        remove_if_ours(&path, first_id);
        assert!(path.exists(), "the first no longer owns the path");
        remove_if_ours(&path, second_id);
        assert!(!path.exists());
        std::fs::write(&path, b"not a socket").unwrap();
        assert!(bind(&socket).is_err(), "a regular file is left alone");
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temporary_names_fit_a_socket_address() {
        let long = PathBuf::from(format!("/tmp/{}/stats.sock", "d".repeat(60)));
        let name = temporary_name(&long);
        assert!(name.as_os_str().len() <= 107, "{}", name.display());
        assert_eq!(name.parent(), long.parent());
    }

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
