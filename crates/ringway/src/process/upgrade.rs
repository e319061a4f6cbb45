//! Binary upgrade (SIGUSR2): the process starts the binary at the path it was started from,
//! with the same arguments, and hands it every listening socket; once the new process serves,
//! this one retires as a reload retires a generation (`proxy.rs`). Owns the hand-over's wire
//! format (environment variables naming inherited descriptors), the readiness pipe, starting
//! the successor and waiting for it, and, in the successor, taking the variables back out of
//! the environment.
//!
//! The variables (fd numbers are the successor's; every listed descriptor has FD_CLOEXEC
//! cleared for the exec only):
//! - `RINGWAY_LISTEN_FDS=127.0.0.1:8080=5,6;[::1]:8443=7`: per *configured* bind address (port 0
//!   stays 0, as a reload matches on), its listening sockets, one per shard socket.
//! - `RINGWAY_ADMIN_FD=127.0.0.1:9100=8`: the admin HTTP listener, keyed the same way.
//! - `RINGWAY_UPGRADE_READY_FD=9`: the write end of a pipe; the successor writes one byte once
//!   every shard serves, and closes it.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub const LISTEN_FDS: &str = "RINGWAY_LISTEN_FDS";
pub const ADMIN_FD: &str = "RINGWAY_ADMIN_FD";
pub const READY_FD: &str = "RINGWAY_UPGRADE_READY_FD";
/// How long a successor may take to serve before it is killed and the upgrade abandoned.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a successor that closed its readiness pipe without a byte may take to exit.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// How this process was started, recorded before anything runs: what SIGUSR2 starts again. A
/// package upgrade replaces the file at the path; `/proc/self/exe` would then name the
/// deleted old binary, so the path is read once, at start.
#[derive(Debug, Clone)]
pub struct Launch {
    pub exe: PathBuf,
    /// The arguments after the program name.
    pub args: Vec<OsString>,
}

impl Launch {
    pub fn record() -> io::Result<Launch> {
        let exe = std::env::current_exe()?;
        // A binary already replaced when we started reads as "PATH (deleted)".
        let exe = match exe
            .to_str()
            .and_then(|path| path.strip_suffix(" (deleted)"))
        {
            Some(path) => PathBuf::from(path),
            None => exe,
        };
        Ok(Launch {
            exe,
            args: std::env::args_os().skip(1).collect(),
        })
    }
}

/// Listening sockets crossing the exec, keyed by configured address.
#[derive(Default)]
pub struct Sockets {
    pub listeners: Vec<(SocketAddr, Vec<OwnedFd>)>,
    pub admin: Option<(SocketAddr, OwnedFd)>,
}

/// What a predecessor handed this process, taken out of the environment at start.
#[derive(Default)]
pub struct Inherited {
    pub sockets: Sockets,
    ready: Option<OwnedFd>,
    /// Variables or descriptors that made no sense, ignored (the caller logs them).
    pub problems: Vec<String>,
}

impl Inherited {
    /// Reads and removes the variables, so that a later upgrade starts clean. Call it first in
    /// `main`, before any thread starts: changing the environment is not thread-safe, and the
    /// descriptors named are taken over by number.
    pub fn take_from_env() -> Inherited {
        let mut inherited = Inherited::default();
        let mut seen = Vec::new();
        if let Some(value) = take_var(LISTEN_FDS) {
            match parse_binds(&value) {
                Ok(binds) => {
                    for (address, fds) in binds {
                        let fds: Vec<OwnedFd> = fds
                            .into_iter()
                            .filter_map(|fd| inherited.adopt(fd, &mut seen, Kind::Listener))
                            .collect();
                        if !fds.is_empty() {
                            inherited.sockets.listeners.push((address, fds));
                        }
                    }
                }
                Err(error) => inherited.problems.push(format!("{LISTEN_FDS}: {error}")),
            }
        }
        if let Some(value) = take_var(ADMIN_FD) {
            match parse_binds(&value).as_deref() {
                Ok([(address, fds)]) if fds.len() == 1 => {
                    inherited.sockets.admin = inherited
                        .adopt(fds[0], &mut seen, Kind::Listener)
                        .map(|fd| (*address, fd));
                }
                Ok(_) => inherited
                    .problems
                    .push(format!("{ADMIN_FD}: expected ADDRESS=FD")),
                Err(error) => inherited.problems.push(format!("{ADMIN_FD}: {error}")),
            }
        }
        if let Some(value) = take_var(READY_FD) {
            match value.parse::<RawFd>() {
                Ok(fd) => inherited.ready = inherited.adopt(fd, &mut seen, Kind::Pipe),
                Err(_) => inherited
                    .problems
                    .push(format!("{READY_FD}: not a descriptor number: {value:?}")),
            }
        }
        inherited
    }

    /// Started by a predecessor's SIGUSR2, which waits for [`announce_ready`](Self::announce_ready).
    pub fn is_upgrade(&self) -> bool {
        self.ready.is_some()
    }

    /// Tells the predecessor that this process serves: one byte on the readiness pipe.
    pub fn announce_ready(&mut self) -> io::Result<()> {
        match self.ready.take() {
            Some(fd) => std::fs::File::from(fd).write_all(b"R"),
            None => Ok(()),
        }
    }

    /// Takes descriptor `fd` over if it is what the variable says and not taken already.
    fn adopt(&mut self, fd: RawFd, seen: &mut Vec<RawFd>, kind: Kind) -> Option<OwnedFd> {
        if fd <= 2 || seen.contains(&fd) {
            self.problems
                .push(format!("descriptor {fd} cannot be inherited"));
            return None;
        }
        if let Err(why) = kind.check(fd) {
            self.problems.push(format!("descriptor {fd}: {why}"));
            return None;
        }
        seen.push(fd);
        // SAFETY: the descriptor is open (checked), above stdio, named once, and nothing else
        // in this process owns it: the predecessor passed it for us to take.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // Our own descriptors do not leak into processes we start.
        // SAFETY: fcntl on a descriptor we own.
        unsafe { libc::fcntl(owned.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
        Some(owned)
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Listener,
    Pipe,
}

impl Kind {
    fn check(self, fd: RawFd) -> Result<(), &'static str> {
        // SAFETY: fstat writes into the struct we pass; a bad descriptor is an error.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut stat) } != 0 {
            return Err("not open");
        }
        let format = stat.st_mode & libc::S_IFMT;
        match self {
            Kind::Pipe if format == libc::S_IFIFO => Ok(()),
            Kind::Pipe => Err("not a pipe"),
            Kind::Listener if format != libc::S_IFSOCK => Err("not a socket"),
            Kind::Listener => {
                let mut listening: libc::c_int = 0;
                let mut length = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
                // SAFETY: getsockopt writes an int into the variable we pass.
                let status = unsafe {
                    libc::getsockopt(
                        fd,
                        libc::SOL_SOCKET,
                        libc::SO_ACCEPTCONN,
                        (&mut listening as *mut libc::c_int).cast(),
                        &mut length,
                    )
                };
                if status == 0 && listening == 1 {
                    Ok(())
                } else {
                    Err("not a listening socket")
                }
            }
        }
    }
}

fn take_var(name: &str) -> Option<String> {
    let value = std::env::var_os(name)?;
    std::env::remove_var(name);
    Some(value.to_string_lossy().into_owned())
}

/// `ADDR=fd,fd;ADDR=fd` into its entries.
pub fn parse_binds(text: &str) -> Result<Vec<(SocketAddr, Vec<RawFd>)>, String> {
    text.split(';')
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| {
            let (address, fds) = entry
                .rsplit_once('=')
                .ok_or_else(|| format!("{entry:?}: expected ADDRESS=FD,FD"))?;
            let address: SocketAddr = address
                .trim()
                .parse()
                .map_err(|_| format!("{entry:?}: not an address: {address:?}"))?;
            let fds = fds
                .split(',')
                .map(|fd| fd.trim().parse::<RawFd>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| format!("{entry:?}: not descriptor numbers: {fds:?}"))?;
            Ok((address, fds))
        })
        .collect()
}

/// The inverse of [`parse_binds`].
pub fn format_binds<'a>(binds: impl IntoIterator<Item = (SocketAddr, &'a [OwnedFd])>) -> String {
    binds
        .into_iter()
        .map(|(address, fds)| {
            let fds: Vec<String> = fds.iter().map(|fd| fd.as_raw_fd().to_string()).collect();
            format!("{address}={}", fds.join(","))
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// Starts `launch` with `sockets` and waits up to `timeout` for it to serve. `Ok(pid)` once it
/// does (it then outlives us); otherwise why not, the successor killed if still running and
/// reaped, so that nothing but this process serves.
pub fn start_successor(
    launch: &Launch,
    sockets: Sockets,
    timeout: Duration,
) -> Result<u32, String> {
    let (ready_read, ready_write) = pipe().map_err(|error| format!("no pipe: {error}"))?;
    let mut command = Command::new(&launch.exe);
    command.args(&launch.args);
    command.env(
        LISTEN_FDS,
        format_binds(
            sockets
                .listeners
                .iter()
                .map(|(address, fds)| (*address, fds.as_slice())),
        ),
    );
    if let Some((address, fd)) = &sockets.admin {
        command.env(
            ADMIN_FD,
            format_binds([(*address, std::slice::from_ref(fd))]),
        );
    }
    command.env(READY_FD, ready_write.as_raw_fd().to_string());
    let mut passed: Vec<RawFd> = sockets
        .listeners
        .iter()
        .flat_map(|(_, fds)| fds.iter().map(AsRawFd::as_raw_fd))
        .collect();
    passed.extend(sockets.admin.iter().map(|(_, fd)| fd.as_raw_fd()));
    passed.push(ready_write.as_raw_fd());
    // SAFETY: runs in the child between fork and exec; fcntl is async-signal-safe and touches
    // only descriptors that stay open in the parent until spawn returns.
    unsafe {
        command.pre_exec(move || {
            for &fd in &passed {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let spawned = command.spawn();
    // Only the successor may hold the write end: its exit is then our end of file.
    drop(ready_write);
    drop(sockets);
    let mut child =
        spawned.map_err(|error| format!("cannot start {}: {error}", launch.exe.display()))?;
    let pid = child.id();
    match wait_readable(&ready_read, timeout) {
        Ok(true) => {
            let mut byte = [0u8; 1];
            if matches!(std::fs::File::from(ready_read).read(&mut byte), Ok(1)) {
                return Ok(pid);
            }
            Err(format!("the new process (pid {pid}) {}", ended(&mut child)))
        }
        Ok(false) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!(
                "the new process (pid {pid}) did not serve within {timeout:?}: killed"
            ))
        }
        Err(error) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!(
                "cannot wait for the new process (pid {pid}): {error}"
            ))
        }
    }
}

/// How a successor that closed its readiness pipe without a byte ended.
fn ended(child: &mut Child) -> String {
    let deadline = Instant::now() + EXIT_WAIT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return format!("exited before serving ({status})"),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return "closed its readiness pipe without serving: killed".to_string();
            }
        }
    }
}

/// Waits until `fd` is readable (a byte or end of file); false at the timeout.
fn wait_readable(fd: &OwnedFd, timeout: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut poll = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: poll on one pollfd we own.
        match unsafe { libc::poll(&mut poll, 1, millis) } {
            0 if left.is_zero() => return Ok(false),
            0 => continue,
            ready if ready > 0 => return Ok(true),
            _ => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
}

/// A pipe, both ends close-on-exec: (read, write).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills the two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are ours alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_round_trip_and_bad_text_is_an_error() {
        let parsed = parse_binds("127.0.0.1:8080=5,6;[::1]:8443=7").unwrap();
        assert_eq!(
            parsed,
            vec![
                ("127.0.0.1:8080".parse().unwrap(), vec![5, 6]),
                ("[::1]:8443".parse().unwrap(), vec![7]),
            ]
        );
        assert_eq!(parse_binds("").unwrap(), vec![]);
        for bad in [
            "127.0.0.1:80",
            "x=5",
            "127.0.0.1:80=",
            "127.0.0.1:80=a",
            "=5",
        ] {
            assert!(parse_binds(bad).is_err(), "{bad}");
        }
        let (read, write) = pipe().unwrap();
        let text = format_binds([("127.0.0.1:1".parse().unwrap(), [read, write].as_slice())]);
        assert_eq!(parse_binds(&text).unwrap()[0].1.len(), 2);
    }

    #[test]
    fn only_listening_sockets_and_pipes_are_adopted() {
        let mut inherited = Inherited::default();
        let mut seen = Vec::new();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (read, _write) = pipe().unwrap();
        assert!(inherited.adopt(0, &mut seen, Kind::Listener).is_none());
        assert!(inherited.adopt(9999, &mut seen, Kind::Pipe).is_none());
        assert!(inherited
            .adopt(read.as_raw_fd(), &mut seen, Kind::Listener)
            .is_none());
        let raw = listener.as_raw_fd();
        let adopted = inherited.adopt(raw, &mut seen, Kind::Listener).unwrap();
        assert!(
            inherited.adopt(raw, &mut seen, Kind::Listener).is_none(),
            "once"
        );
        assert_eq!(inherited.problems.len(), 4, "{:?}", inherited.problems);
        // The listener and `adopted` now share a number: give it back to one owner.
        std::mem::forget(adopted);
    }
}
