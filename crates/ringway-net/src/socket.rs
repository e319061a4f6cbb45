//! A non-blocking TCP connection whose reads, writes and connect wait through the thread's
//! [`Poller`](crate::Poller).
//!
//! The socket is ours, not glommio's: a glommio stream arms an io_uring poll on its socket when
//! it is made, and that poll's completion interrupts the busy thread (docs/benchmarks.md), once
//! per connection. Here every operation is a plain system call (`recv`, `send`, `connect`) made
//! when the poller says it may not block, and a wait is a waker left with the poller. Read and
//! write timeouts bound each wait, to the poller's 10 ms tick.

use std::cell::Cell;
use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::poller::Direction;
use crate::registration::Registration;
use crate::watch::IdleCheck;

/// TCP keepalive timings; `None` keeps the system's (`net.ipv4.tcp_keepalive_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keepalive {
    /// Silence before the first probe (TCP_KEEPIDLE, whole seconds).
    pub idle: Option<Duration>,
    /// Between probes (TCP_KEEPINTVL, whole seconds).
    pub interval: Option<Duration>,
    /// Unanswered probes before the connection is dropped (TCP_KEEPCNT).
    pub count: Option<u32>,
}

/// A TCP stream read and written through the thread's poller.
pub struct Socket {
    /// Also waited on by the splices of `splice.rs`.
    pub(crate) registration: Registration,
    tcp: TcpStream,
    read_timeout: Cell<Option<Duration>>,
    write_timeout: Cell<Option<Duration>>,
    /// Bytes the socket took to send so far.
    sent: Cell<u64>,
}

impl Socket {
    /// Adopts a connected stream (made non-blocking here). Must be called inside a glommio
    /// executor: the socket waits through that thread's poller.
    pub fn from_std(tcp: TcpStream) -> io::Result<Socket> {
        tcp.set_nonblocking(true)?;
        Socket::adopt(tcp)
    }

    /// Adopts a stream that is already non-blocking.
    pub(crate) fn adopt(tcp: TcpStream) -> io::Result<Socket> {
        Ok(Socket {
            registration: Registration::new(tcp.as_raw_fd())?,
            tcp,
            read_timeout: Cell::new(None),
            write_timeout: Cell::new(None),
            sent: Cell::new(0),
        })
    }

    /// Connects to `address`, failing with `TimedOut` after `timeout`.
    pub async fn connect(address: SocketAddr, timeout: Duration) -> io::Result<Socket> {
        let domain = socket2::Domain::for_address(address);
        // Non-blocking (and close-on-exec) from its creation: no fcntl calls.
        let raw = socket2::Socket::new(
            domain,
            socket2::Type::STREAM.nonblocking(),
            Some(socket2::Protocol::TCP),
        )?;
        let target = socket2::SockAddr::from(address);
        match raw.connect(&target) {
            Ok(()) => return Socket::connected(raw.into()),
            Err(error) if error.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(error) => return Err(error),
        }
        let socket = Socket::connected(TcpStream::from(raw))?;
        // A second connect tells how the first one went: EISCONN once it is established, the
        // error if it failed, EALREADY while it is under way. On loopback it is usually done.
        let fd = socket.as_raw_fd();
        futures_lite::future::poll_fn(|cx| {
            socket.registration.poll(
                cx,
                Direction::Write,
                Some(timeout),
                || connect_again(fd, &target),
                |_| false,
            )
        })
        .await?;
        Ok(socket)
    }

    /// Adopts a socket whose connect was just made: it joins the poller's epoll set now, known
    /// to hold nothing to read (the peer answers what we send), so its first read waits for
    /// the poller's event instead of trying a `recv` that finds it empty. Anything that does
    /// arrive (a server that speaks first or closes) is reported by the registration itself.
    fn connected(tcp: TcpStream) -> io::Result<Socket> {
        let socket = Socket::adopt(tcp)?;
        socket.registration.register_quiet()?;
        Ok(socket)
    }

    /// Bounds each read's wait (`None`: no bound). A zero duration is refused, as by std.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout.set(checked(timeout)?);
        Ok(())
    }

    pub fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout.get()
    }

    /// Bounds each write's wait (`None`: no bound). A zero duration is refused, as by std.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.write_timeout.set(checked(timeout)?);
        Ok(())
    }

    /// As [`Socket::set_read_timeout`], and a read already waiting takes the new bound from now
    /// (a tunnel whose other direction just closed).
    pub fn reset_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(timeout)?;
        self.registration.restart_wait(Direction::Read);
        Ok(())
    }

    /// As [`Socket::set_write_timeout`], and a write already waiting takes the new bound from now.
    pub fn reset_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.set_write_timeout(timeout)?;
        self.registration.restart_wait(Direction::Write);
        Ok(())
    }

    pub fn write_timeout(&self) -> Option<Duration> {
        self.write_timeout.get()
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.peer_addr()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.tcp.set_nodelay(nodelay)
    }

    /// Acknowledges what arrives at once again (TCP_QUICKACK), for a connection accepted with
    /// delayed ACKs ([`crate::set_listen_options`]) on which more is expected from the peer: a
    /// request head in pieces, a body. The kernel may drop back to delayed ACKs later, as it
    /// does for any interactive connection.
    pub fn quick_ack(&self) -> io::Result<()> {
        crate::listener::set_tcp_option(self.as_raw_fd(), libc::TCP_QUICKACK, 1)
    }

    /// Turns TCP keepalive probes on (SO_KEEPALIVE), with the timings `keepalive` gives and the
    /// system's for the others. One system call per timing set, once per connection.
    pub fn set_keepalive(&self, keepalive: Keepalive) -> io::Result<()> {
        let mut params = socket2::TcpKeepalive::new();
        if let Some(idle) = keepalive.idle {
            params = params.with_time(idle);
        }
        if let Some(interval) = keepalive.interval {
            params = params.with_interval(interval);
        }
        if let Some(count) = keepalive.count {
            params = params.with_retries(count);
        }
        socket2::SockRef::from(&self.tcp).set_tcp_keepalive(&params)
    }

    /// Whether SO_KEEPALIVE is on (a `getsockopt`, for diagnostics and tests).
    pub fn keepalive(&self) -> io::Result<bool> {
        socket2::SockRef::from(&self.tcp).keepalive()
    }

    /// Makes the socket's last close a reset (SO_LINGER on, 0 s) instead of a FIN: no
    /// TIME_WAIT is left on this side's port, and anything still queued to send is dropped.
    /// For a connection with nothing in flight (its last response complete) that its owner
    /// drops: the side that sends the first FIN keeps TIME_WAIT for 60 s, and a proxy that
    /// FIN-closes every server connection it does not reuse fills its own port range with
    /// them, which every connect() then searches (HAProxy resets such connections too). One
    /// system call.
    pub fn abort_on_close(&self) {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: `linger` is valid for reads of its size for the call; the descriptor is the
        // open socket. A failure leaves the FIN close, which is correct, only slower.
        unsafe {
            libc::setsockopt(
                self.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.tcp.shutdown(how)
    }

    /// Bytes written to the socket so far (taken by the kernel, not necessarily delivered).
    pub fn bytes_sent(&self) -> u64 {
        self.sent.get()
    }

    /// Bytes written that the peer has not acknowledged yet (`SIOCOUTQ`): what a failed
    /// exchange proves the peer's TCP never received. Still answered after a reset.
    pub fn unacked(&self) -> io::Result<u64> {
        let mut queued: libc::c_int = 0;
        // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int through the pointer.
        let rc = unsafe { libc::ioctl(self.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(queued.max(0) as u64)
    }

    /// Starts watching the socket while it sits idle (a pooled connection): its next byte, end
    /// of stream or error fires `token` ([`crate::watch_fired`]). Returns what it holds now:
    /// anything but `Quiet` means it must not be reused. No system call when the poller already
    /// knows it is empty, one peek when not (or a registration, the first time).
    pub fn watch(&self, token: u64) -> io::Result<IdleCheck> {
        if self.registration.watch(token)? {
            return Ok(IdleCheck::Quiet);
        }
        Ok(self.peek_idle())
    }

    /// Ends the idle watch, returning what the socket holds (as [`Socket::watch`]).
    pub fn unwatch(&self) -> IdleCheck {
        if self.registration.unwatch() {
            return IdleCheck::Quiet;
        }
        self.peek_idle()
    }

    /// What an idle socket holds (as [`Socket::watch`]).
    pub fn idle_check(&self) -> IdleCheck {
        if self.registration.known_quiet() {
            return IdleCheck::Quiet;
        }
        self.peek_idle()
    }

    fn peek_idle(&self) -> IdleCheck {
        let mut byte = 0u8;
        let peeked = retry_interrupted(|| {
            // SAFETY: one byte of `byte` is valid for writes for the call.
            result_of(unsafe {
                libc::recv(
                    self.as_raw_fd(),
                    (&mut byte as *mut u8).cast(),
                    1,
                    libc::MSG_PEEK | libc::MSG_DONTWAIT,
                )
            })
        });
        match peeked {
            Ok(0) => IdleCheck::Closed,
            Ok(_) => IdleCheck::Data,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                self.registration.read_would_block();
                IdleCheck::Quiet
            }
            Err(_) => IdleCheck::Closed,
        }
    }

    /// Copies what the socket holds into `buf` without taking it (`MSG_PEEK`), waiting up to the
    /// read timeout until it holds something; `Ok(0)`: the peer closed. For a reader that must
    /// not take bytes past a header of its own (the PROXY protocol before a TLS handshake). The
    /// poller is not told the socket is empty after a short peek: the bytes are still there, and
    /// the next read takes them without a wait.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let fd = self.as_raw_fd();
        futures_lite::future::poll_fn(|cx| {
            let buf = &mut *buf;
            self.registration.poll(
                cx,
                Direction::Read,
                self.read_timeout.get(),
                || retry_interrupted(|| peek_into(fd, buf)),
                |_| false,
            )
        })
        .await
    }

    /// Waits, up to the read timeout, until a read would not block, without reading (a
    /// connection waiting for its next request holds no buffer meanwhile). Ready at once
    /// unless the socket is known to be empty. A socket not yet in the poller's set (no
    /// attempt on it ever blocked) joins it here, one `epoll_ctl`, and its first event says
    /// whether it holds anything: otherwise it would count as readable, and the read that
    /// follows would wait holding its buffer.
    pub async fn readable(&self) -> io::Result<()> {
        self.registration.register_quiet_if_new()?;
        futures_lite::future::poll_fn(|cx| {
            self.registration.poll(
                cx,
                Direction::Read,
                self.read_timeout.get(),
                || Ok(()),
                |_| false,
            )
        })
        .await
    }

    /// Takes the socket out of the poller's epoll set before it is dropped, for a socket that
    /// stays open through another descriptor (a server connection another shard took over):
    /// otherwise closing the last descriptor of a socket removes it by itself.
    pub fn leave_poller(&mut self) {
        self.registration.leave();
    }

    /// The stream itself, out of this thread's poller, to be adopted on another thread
    /// ([`Socket::from_std`] there): an HTTP/2 server connection another shard takes over.
    pub fn into_std(self) -> TcpStream {
        self.registration.leave();
        self.tcp
    }
}

impl Socket {
    pub(crate) fn count_sent(&self, result: &Poll<io::Result<usize>>) {
        if let Poll::Ready(Ok(sent)) = result {
            self.sent.set(self.sent.get() + *sent as u64);
        }
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.tcp.as_raw_fd()
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let fd = self.as_raw_fd();
        let wanted = buf.len();
        self.registration.poll(
            cx,
            Direction::Read,
            self.read_timeout.get(),
            || retry_interrupted(|| recv_into(fd, buf)),
            // A stream socket that gave less than asked for is empty.
            |read| *read > 0 && *read < wanted,
        )
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let fd = self.as_raw_fd();
        let result = self.registration.poll(
            cx,
            Direction::Write,
            self.write_timeout.get(),
            || retry_interrupted(|| send_from(fd, buf)),
            // A send that took less than it was given filled the socket's buffer.
            |sent| *sent < buf.len(),
        );
        self.count_sent(&result);
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let fd = self.as_raw_fd();
        let total: usize = bufs.iter().map(|buf| buf.len()).sum();
        let result = self.registration.poll(
            cx,
            Direction::Write,
            self.write_timeout.get(),
            || retry_interrupted(|| sendmsg_from(fd, bufs)),
            |sent| *sent < total,
        );
        self.count_sent(&result);
        result
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.tcp.shutdown(Shutdown::Write))
    }
}

fn checked(timeout: Option<Duration>) -> io::Result<Option<Duration>> {
    if timeout == Some(Duration::ZERO) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a zero timeout is not allowed",
        ));
    }
    Ok(timeout)
}

fn retry_interrupted(mut call: impl FnMut() -> io::Result<usize>) -> io::Result<usize> {
    loop {
        match call() {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

fn result_of(n: isize) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn recv_into(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the call; `fd` is the open
    // socket of the caller.
    result_of(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) })
}

fn peek_into(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: as `recv_into`; MSG_PEEK leaves the bytes in the socket.
    result_of(unsafe {
        libc::recv(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    })
}

fn send_from(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the call. MSG_NOSIGNAL: a
    // closed peer is an EPIPE error, not a signal.
    result_of(unsafe {
        libc::send(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    })
}

fn sendmsg_from(fd: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: an empty message header but for the iovecs; IoSlice is ABI-compatible with
    // iovec and the slices are valid for reads for the call.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    header.msg_iovlen = bufs.len().min(libc::UIO_MAXIOV as usize) as _;
    // SAFETY: `header` points at valid iovecs for the call.
    result_of(unsafe { libc::sendmsg(fd, &header, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) })
}

/// The state of a connect under way, from a second `connect` on the same socket.
fn connect_again(fd: RawFd, target: &socket2::SockAddr) -> io::Result<()> {
    // SAFETY: `target` holds a valid address of `target.len()` bytes; `fd` is the socket.
    let rc = unsafe { libc::connect(fd, target.as_ptr(), target.len()) };
    if rc == 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EISCONN) => Ok(()),
        Some(libc::EALREADY | libc::EINPROGRESS) => Err(io::ErrorKind::WouldBlock.into()),
        _ => Err(error),
    }
}
