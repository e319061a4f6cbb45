//! A wake-up that any thread sends to one executor thread ([`Doorbell`]): an eventfd, rung
//! with a `write` from anywhere and waited on through the waiting thread's [`Poller`](crate::Poller)
//! like a socket ([`DoorbellListener`]), so a thread with nothing else to do can sleep until
//! another thread has something for it instead of looking on a timer.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use crate::poller::Direction;
use crate::registration::Registration;

/// The ringing side; clones ring the same bell.
#[derive(Clone)]
pub struct Doorbell {
    fd: Arc<OwnedFd>,
}

impl Doorbell {
    pub fn new() -> io::Result<Doorbell> {
        // SAFETY: plain system call; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Doorbell { fd: Arc::new(fd) })
    }

    /// Wakes the listener, or makes its next wait return at once. Safe from any thread.
    pub fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to an open eventfd. A full counter (EAGAIN)
        // means the bell is already ringing, so the result does not matter.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// The listening side, on the calling executor thread's poller.
    pub fn listen(&self) -> io::Result<DoorbellListener> {
        Ok(DoorbellListener {
            fd: self.fd.clone(),
            registration: Registration::new(self.fd.as_raw_fd())?,
        })
    }
}

/// Waits for rings on one executor thread.
pub struct DoorbellListener {
    fd: Arc<OwnedFd>,
    registration: Registration,
}

impl DoorbellListener {
    /// Returns once the bell has rung since the last call (every ring before it included).
    pub async fn rung(&self) {
        futures_lite::future::poll_fn(|cx| {
            self.registration
                .poll(cx, Direction::Read, None, || self.take_rings(), |_| true)
                .map(|_| ())
        })
        .await
    }

    fn take_rings(&self) -> io::Result<u64> {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from an open eventfd.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(count)
    }
}

impl Drop for DoorbellListener {
    fn drop(&mut self) {
        // The eventfd stays open through the ringers: it leaves the epoll set by hand.
        self.registration.leave();
    }
}
