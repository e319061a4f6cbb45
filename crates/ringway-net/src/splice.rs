//! Moving bytes from one socket to another through a pipe with splice(2): from the source's
//! receive queue into the pipe, then from the pipe into the destination's send queue, without
//! copying them through user space (HAProxy's kernel splicing). Pipes are per thread: a relay
//! takes one ([`Pipe::take`]) and gives it back empty when it drops it; one that still holds
//! bytes (a relay that failed half way) is closed instead. A thread keeps at most
//! [`MAX_PIPES`] pipes open, the free ones included: past that [`Pipe::take`] says no and the
//! caller copies.
//!
//! Each splice waits through the sockets' registrations like a `recv` or `send` does, with
//! the same timeouts.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use crate::poller::Direction;
use crate::Socket;

/// Pipes open at once per thread (two descriptors and up to [`PIPE_SIZE`] of kernel memory
/// each while they hold bytes).
pub const MAX_PIPES: usize = 256;

/// Free pipes kept per thread for the next relays.
const FREE_PIPES: usize = 16;

/// What a pipe holds at most: the default size of a Linux pipe (16 pages), set explicitly so
/// that a system default changed by an administrator does not change what one splice moves.
pub const PIPE_SIZE: usize = 64 * 1024;

/// Bytes spliced into pipes so far, by every thread of the process ([`spliced_bytes`]).
static SPLICED: AtomicU64 = AtomicU64::new(0);

/// Bytes spliced into pipes so far by every thread of the process: one relaxed atomic add per
/// splice, none when splicing is off. Tests read it to see that a body was spliced.
pub fn spliced_bytes() -> u64 {
    SPLICED.load(Ordering::Relaxed)
}

thread_local! {
    static FREE: RefCell<Vec<Fds>> = const { RefCell::new(Vec::new()) };
    static OPEN: Cell<usize> = const { Cell::new(0) };
}

/// The two ends of an open pipe, closed (and no longer counted) when dropped.
struct Fds {
    read: OwnedFd,
    write: OwnedFd,
}

impl Fds {
    fn open() -> io::Result<Fds> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded: both descriptors are open and owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // A failure leaves the system's size, which is fine: a splice never asks for more
        // than the pipe takes.
        // SAFETY: F_SETPIPE_SZ on a pipe we own.
        unsafe {
            libc::fcntl(
                write.as_raw_fd(),
                libc::F_SETPIPE_SZ,
                PIPE_SIZE as libc::c_int,
            )
        };
        OPEN.with(|open| open.set(open.get() + 1));
        Ok(Fds { read, write })
    }
}

impl Drop for Fds {
    fn drop(&mut self) {
        let _ = OPEN.try_with(|open| open.set(open.get().saturating_sub(1)));
    }
}

/// A pipe between two splices: what the source gave and the destination did not take yet.
pub struct Pipe {
    fds: Option<Fds>,
    /// Bytes in the pipe.
    held: usize,
}

impl Pipe {
    /// A free pipe of this thread, or a new one; `None` when the thread has [`MAX_PIPES`]
    /// open or the system refuses one (no descriptors left): the caller copies instead.
    pub fn take() -> Option<Pipe> {
        let fds = match FREE.with(|free| free.borrow_mut().pop()) {
            Some(fds) => fds,
            None if OPEN.with(Cell::get) >= MAX_PIPES => return None,
            None => Fds::open().ok()?,
        };
        Some(Pipe {
            fds: Some(fds),
            held: 0,
        })
    }

    /// Bytes in the pipe, not yet given to a destination.
    pub fn held(&self) -> usize {
        self.held
    }

    fn fds(&self) -> &Fds {
        self.fds
            .as_ref()
            .expect("a pipe has its descriptors until it drops")
    }
}

impl Drop for Pipe {
    /// An empty pipe goes back to the thread's list (if it has room); one holding bytes of a
    /// relay that stopped half way is closed, and its bytes with it.
    fn drop(&mut self) {
        let Some(fds) = self.fds.take() else { return };
        if self.held > 0 {
            return;
        }
        // A thread being torn down has no list left: the pipe is just closed.
        let _ = FREE.try_with(|free| {
            let mut free = free.borrow_mut();
            if free.len() < FREE_PIPES {
                free.push(fds);
            }
        });
    }
}

impl Socket {
    /// Moves up to `max` bytes (at most what the pipe has room for) from the socket's receive
    /// queue into `pipe`, waiting up to the read timeout for some to arrive. `Ok(0)`: the peer
    /// closed its sending side.
    pub fn poll_splice_in(
        &self,
        cx: &mut Context<'_>,
        pipe: &mut Pipe,
        max: usize,
    ) -> Poll<io::Result<usize>> {
        let want = max.min(PIPE_SIZE - pipe.held);
        if want == 0 {
            // A full pipe would answer EAGAIN, which would read as an empty socket.
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "splice into a full pipe",
            )));
        }
        let (fd, to) = (self.as_raw_fd(), pipe.fds().write.as_raw_fd());
        let result = self.registration.poll(
            cx,
            Direction::Read,
            self.read_timeout(),
            || splice(fd, to, want),
            // A short splice may be the pipe's slots running out, not the socket running dry:
            // never taken as "drained" (an edge-triggered wait would then miss what is left).
            |_| false,
        );
        if let Poll::Ready(Ok(moved)) = result {
            pipe.held += moved;
            SPLICED.fetch_add(moved as u64, Ordering::Relaxed);
        }
        result
    }

    /// Moves bytes from `pipe` into the socket's send queue, waiting up to the write timeout
    /// for room. Never called with an empty pipe (whose splice would answer EAGAIN).
    pub fn poll_splice_out(
        &self,
        cx: &mut Context<'_>,
        pipe: &mut Pipe,
    ) -> Poll<io::Result<usize>> {
        if pipe.held == 0 {
            return Poll::Ready(Ok(0));
        }
        let (from, fd, held) = (pipe.fds().read.as_raw_fd(), self.as_raw_fd(), pipe.held);
        let result = self.registration.poll(
            cx,
            Direction::Write,
            self.write_timeout(),
            || splice(from, fd, held),
            // As a short `send`: the socket's send buffer is full.
            |sent| *sent < held,
        );
        if let Poll::Ready(Ok(moved)) = result {
            pipe.held -= moved;
            self.count_sent(&result);
        }
        result
    }
}

fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    loop {
        // SAFETY: both descriptors are open for the call; no offsets (sockets and pipes).
        let n = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}
