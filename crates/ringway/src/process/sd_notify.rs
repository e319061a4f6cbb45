//! systemd's notify protocol (`Type=notify`), without a crate: when the service manager sets
//! `NOTIFY_SOCKET`, state lines go to that unix datagram socket (a path, or an abstract name
//! written `@name`). Owns the socket address and the message texts: `READY=1` once every shard
//! serves, `STOPPING=1` when a graceful stop starts, `RELOADING=1` with `MONOTONIC_USEC=` and
//! then `READY=1` around a reload (hooks for the reload work), and `STATUS=` lines that
//! `systemctl status` shows. After a binary upgrade the old process names its successor the
//! main process (`MAINPID=`, with `READY=1`) and says nothing more. Without `NOTIFY_SOCKET`
//! every call does nothing; a failed send is reported on stderr once and never stops the proxy.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Every shard serves: `READY=1`, with a status line.
pub fn ready(status: &str) {
    send_state(&format!("READY=1\nSTATUS={}\n", one_line(status)));
}

/// A graceful stop has started: `STOPPING=1`, with a status line.
pub fn stopping(status: &str) {
    send_state(&format!("STOPPING=1\nSTATUS={}\n", one_line(status)));
}

/// A reload starts: `RELOADING=1` with the `MONOTONIC_USEC=` systemd 253+ asks for (it tells
/// this reload from an older one). Follow with [`reloaded`].
pub fn reloading(status: &str) {
    send_state(&format!(
        "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS={}\n",
        monotonic_usec(),
        one_line(status)
    ));
}

/// A reload is over (applied or refused): `READY=1` again, with a status line.
pub fn reloaded(status: &str) {
    ready(status);
}

/// A binary upgrade's successor (`pid`) serves: it becomes the service's main process, and
/// this process, retiring, sends nothing more. Sent by the old main process because a unit with
/// `NotifyAccess=main` accepts messages only from the main process.
pub fn handed_over(pid: u32, status: &str) {
    send_state(&format!(
        "MAINPID={pid}\nREADY=1\nSTATUS={}\n",
        one_line(status)
    ));
    SILENT.store(true, Relaxed);
}

/// Set once this process handed the service over to a successor.
static SILENT: AtomicBool = AtomicBool::new(false);

/// A `STATUS=` line alone.
pub fn status(status: &str) {
    send_state(&format!("STATUS={}\n", one_line(status)));
}

/// Sends `state` to `NOTIFY_SOCKET` when it is set; the first failure is reported on stderr.
fn send_state(state: &str) {
    if SILENT.load(Relaxed) {
        return;
    }
    let Some(socket) = std::env::var_os(NOTIFY_SOCKET) else {
        return;
    };
    let socket = socket.to_string_lossy();
    if let Err(error) = send_to(&socket, state.as_bytes()) {
        static REPORTED: AtomicBool = AtomicBool::new(false);
        if !REPORTED.swap(true, Relaxed) {
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!("ringway: cannot notify the service manager at {socket}: {error}\n"),
            );
        }
    }
}

/// Sends one datagram to the notify socket named `socket` (`/path` or `@abstract`).
pub fn send_to(socket: &str, message: &[u8]) -> io::Result<()> {
    let address = notify_address(socket)?;
    let datagram = UnixDatagram::unbound()?;
    let sent = datagram.send_to_addr(message, &address)?;
    if sent != message.len() {
        return Err(io::Error::other("the notification was cut short"));
    }
    Ok(())
}

/// The address `NOTIFY_SOCKET` names: an absolute path, or `@` and an abstract name.
fn notify_address(socket: &str) -> io::Result<SocketAddr> {
    if let Some(name) = socket.strip_prefix('@') {
        return SocketAddr::from_abstract_name(name.as_bytes());
    }
    if socket.starts_with('/') {
        return SocketAddr::from_pathname(socket);
    }
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "NOTIFY_SOCKET is neither an absolute path nor an abstract @name",
    ))
}

/// A value for a `KEY=value` line: no line breaks inside.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// CLOCK_MONOTONIC in microseconds, the clock systemd compares `MONOTONIC_USEC` with.
fn monotonic_usec() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the struct we pass.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) } != 0 {
        return 0;
    }
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let micros = u64::try_from(now.tv_nsec).unwrap_or(0) / 1_000;
    secs.saturating_mul(1_000_000).saturating_add(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_abstract_names() {
        let dir = std::env::temp_dir().join(format!("ringway-sd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        send_to(path.to_str().unwrap(), b"READY=1\n").unwrap();
        let mut buf = [0u8; 64];
        let read = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..read], b"READY=1\n");
        std::fs::remove_dir_all(&dir).unwrap();

        let name = format!("ringway-sd-test-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&address).unwrap();
        send_to(&format!("@{name}"), b"STOPPING=1\n").unwrap();
        let read = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..read], b"STOPPING=1\n");
    }

    #[test]
    fn bad_addresses_are_errors_not_panics() {
        assert!(send_to("relative/path", b"x").is_err());
        assert!(send_to("", b"x").is_err());
        assert!(send_to(&format!("/{}", "a".repeat(200)), b"x").is_err());
        assert!(send_to("/nonexistent/ringway/notify", b"x").is_err());
    }

    #[test]
    fn values_stay_on_one_line_and_the_clock_moves() {
        assert_eq!(one_line("a\nb\r\nc"), "a b  c");
        let first = monotonic_usec();
        assert!(first > 0);
        assert!(monotonic_usec() >= first);
    }
}
