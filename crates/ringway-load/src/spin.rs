//! Socket reads that poll the socket directly for a few scheduler rounds
//! before handing the wait to glommio.
//!
//! A glommio read that finds no data arms an io_uring poll; its completion
//! reaches the thread as task work, which interrupts the thread even while
//! it is busy. Under load that costs more than the request itself, so
//! both the origin and the load generator first retry a non-blocking
//! `recv` between yields (other connections run in between) and only then
//! fall back to glommio's read. Load executors also use a short preemption
//! timer so that spinning tasks never delay io_uring events (timers,
//! connects, fallback reads) by more than [`PREEMPT`].

use std::io;
use std::os::unix::io::AsRawFd;
use std::time::Duration;

use futures_lite::AsyncReadExt;
use glommio::net::TcpStream;

/// Scheduler rounds a reader retries before waiting through io_uring.
pub(crate) const SPIN_ROUNDS: u32 = 16;

/// Longest stretch the executor runs tasks before it polls io_uring.
pub(crate) const PREEMPT: Duration = Duration::from_millis(1);

/// Reads into `buf` (which must not be empty): tries now, then once per
/// scheduler round for [`SPIN_ROUNDS`] rounds, then waits in glommio.
/// Returns 0 at end of stream.
pub(crate) async fn read(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let fd = stream.as_raw_fd();
    for round in 0..=SPIN_ROUNDS {
        if round > 0 {
            futures_lite::future::yield_now().await;
        }
        if let Some(result) = try_recv(fd, buf) {
            return result;
        }
    }
    stream.read(buf).await
}

/// One non-blocking `recv`; `None` when no data is ready.
fn try_recv(fd: i32, buf: &mut [u8]) -> Option<io::Result<usize>> {
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the
        // duration of the call, and `fd` is an open socket owned by the
        // caller's stream.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n >= 0 {
            return Some(Ok(n as usize));
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return None,
            _ => return Some(Err(err)),
        }
    }
}
