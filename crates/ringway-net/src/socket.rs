//! A TCP connection whose reads wait through the thread's [`Poller`] instead of glommio.
//!
//! A read tries a non-blocking `recv` unless the poller knows the socket is empty; when nothing
//! is there it leaves its waker with the poller (adding the socket to the poller's epoll set at
//! its first wait) and is woken when the socket becomes readable. The stream's read timeout
//! (`set_read_timeout`) bounds each read, to the poller's 10 ms tick. Writes and everything else stay glommio's: a write
//! seldom waits. On a thread without a poller every read is glommio's own.

use std::io;
use std::ops::Deref;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_lite::io::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;

use crate::poller::Poller;

/// A glommio TCP stream read through the thread's poller.
pub struct Socket {
    tcp: TcpStream,
    /// The poller of the thread that made this socket; None: reads are glommio's.
    poller: Option<Rc<Poller>>,
    /// In the poller's epoll set.
    registered: bool,
    /// When the running read gives up (set at its first wait, from the read timeout).
    deadline: Option<Instant>,
    /// A read is waiting: its deadline is set.
    waiting: bool,
}

impl Socket {
    pub fn new(tcp: TcpStream) -> Socket {
        Socket {
            tcp,
            poller: Poller::current(),
            registered: false,
            deadline: None,
            waiting: false,
        }
    }

    /// Takes the socket out of the poller's epoll set before it is dropped, for a socket that
    /// stays open through another descriptor (a server connection another shard took over):
    /// otherwise closing the last descriptor of a socket removes it by itself.
    pub fn leave_poller(&mut self) {
        if let (Some(poller), true) = (&self.poller, self.registered) {
            poller.deregister(self.tcp.as_raw_fd());
            self.registered = false;
        }
    }

    /// The read is over: the next one gets a fresh deadline.
    fn finish_read(&mut self) {
        self.waiting = false;
    }

    /// The running read's deadline, set at its first wait.
    fn deadline(&mut self) -> Option<Instant> {
        if !self.waiting {
            self.waiting = true;
            self.deadline = self
                .tcp
                .read_timeout()
                .map(|timeout| Instant::now() + timeout);
        }
        self.deadline
    }
}

impl Deref for Socket {
    type Target = TcpStream;

    fn deref(&self) -> &TcpStream {
        &self.tcp
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.tcp.as_raw_fd()
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        if let Some(poller) = &self.poller {
            poller.forget(self.tcp.as_raw_fd());
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(poller) = this.poller.clone() else {
            return Pin::new(&mut this.tcp).poll_read(cx, buf);
        };
        let fd = this.tcp.as_raw_fd();
        // A registered socket is tried only after an event: one known to be empty is not.
        if !this.registered || poller.is_ready(fd) {
            match try_recv(fd, buf) {
                Some(result) => {
                    let short = matches!(result, Ok(read) if read > 0 && read < buf.len());
                    poller.read_done(fd, short);
                    this.finish_read();
                    return Poll::Ready(result);
                }
                None => poller.drained(fd),
            }
        }
        if !this.registered {
            if let Err(error) = poller.register(fd) {
                return Poll::Ready(Err(error));
            }
            this.registered = true;
        }
        if poller.take_timed_out(fd) {
            this.finish_read();
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "read timed out",
            )));
        }
        let deadline = this.deadline();
        poller.wait_readable(fd, cx.waker(), deadline);
        Poll::Pending
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_close(cx)
    }
}

/// One non-blocking `recv`; `None` when no data is ready.
fn try_recv(fd: RawFd, buf: &mut [u8]) -> Option<io::Result<usize>> {
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call,
        // and `fd` is an open socket owned by the caller.
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
