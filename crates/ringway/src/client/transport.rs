//! What an exchange reads and writes on each side. A server connection is a socket; a client
//! is a socket (an HTTP/1.x connection) or one HTTP/2 stream that an exchange sees as an
//! HTTP/1.1 connection (`ClientIo::H2`, see `client::h2`). [`Transport`] is what the body relay
//! and the tunnel need of either: per-wait timeouts and a look at whether the peer went away.

use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncWrite};
use ringway_net::{IdleCheck, Socket};
use ringway_tls::NetStream;

use crate::client::h2::StreamIo;

/// A byte stream with per-wait timeouts, as [`Socket`]'s.
pub trait Transport: AsyncRead + AsyncWrite + Unpin {
    /// Bounds each read's wait.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Bounds each write's wait.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// As `set_read_timeout`, and a read already waiting takes the new bound from now.
    fn reset_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// As `set_write_timeout`, and a write already waiting takes the new bound from now.
    fn reset_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Whether the peer sent something, went away, or neither.
    fn idle_check(&self) -> IdleCheck;
    /// The TCP socket itself, for a splice (`forward.rs`); None for an HTTP/2 stream.
    fn socket(&self) -> Option<&Socket> {
        None
    }
}

impl Transport for Socket {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Socket::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Socket::set_write_timeout(self, timeout)
    }

    fn reset_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Socket::reset_read_timeout(self, timeout)
    }

    fn reset_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Socket::reset_write_timeout(self, timeout)
    }

    fn idle_check(&self) -> IdleCheck {
        Socket::idle_check(self)
    }

    fn socket(&self) -> Option<&Socket> {
        Some(self)
    }
}

/// The client side of a session.
pub type ClientStream = NetStream<ClientIo>;

/// A client connection, or one HTTP/2 stream of one.
pub enum ClientIo {
    Tcp(Socket),
    H2(Box<StreamIo>),
    /// The socket was handed over (to the HTTP/2 connection it turned out to be).
    Gone,
}

impl ClientIo {
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            ClientIo::Tcp(socket) => socket.local_addr(),
            ClientIo::H2(stream) => Ok(stream.local_addr()),
            ClientIo::Gone => Err(gone()),
        }
    }

    /// Quick ACKs on the connection again (`Socket::quick_ack`); an HTTP/2 stream's connection
    /// is not this session's to tune.
    pub fn quick_ack(&self) -> io::Result<()> {
        match self {
            ClientIo::Tcp(socket) => socket.quick_ack(),
            ClientIo::H2(_) | ClientIo::Gone => Ok(()),
        }
    }

    /// Ends our sending side. An HTTP/2 stream ends when the exchange drops it.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            ClientIo::Tcp(socket) => socket.shutdown(how),
            ClientIo::H2(_) => Ok(()),
            ClientIo::Gone => Err(gone()),
        }
    }

    /// Waits until a read would not block, without reading (see [`Socket::readable`]).
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            ClientIo::Tcp(socket) => socket.readable().await,
            ClientIo::H2(_) => Ok(()),
            ClientIo::Gone => Err(gone()),
        }
    }

    /// An HTTP/2 stream, not a connection of its own.
    pub fn is_stream(&self) -> bool {
        matches!(self, ClientIo::H2(_))
    }

    /// The connection under an HTTP/2 stream is TLS.
    pub fn stream_over_tls(&self) -> bool {
        matches!(self, ClientIo::H2(stream) if stream.over_tls())
    }
}

fn gone() -> io::Error {
    io::ErrorKind::NotConnected.into()
}

impl Transport for ClientIo {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            ClientIo::Tcp(socket) => socket.set_read_timeout(timeout),
            ClientIo::H2(stream) => stream.set_read_timeout(timeout, false),
            ClientIo::Gone => Ok(()),
        }
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            ClientIo::Tcp(socket) => socket.set_write_timeout(timeout),
            ClientIo::H2(stream) => stream.set_write_timeout(timeout, false),
            ClientIo::Gone => Ok(()),
        }
    }

    fn reset_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            ClientIo::Tcp(socket) => socket.reset_read_timeout(timeout),
            ClientIo::H2(stream) => stream.set_read_timeout(timeout, true),
            ClientIo::Gone => Ok(()),
        }
    }

    fn reset_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            ClientIo::Tcp(socket) => socket.reset_write_timeout(timeout),
            ClientIo::H2(stream) => stream.set_write_timeout(timeout, true),
            ClientIo::Gone => Ok(()),
        }
    }

    fn idle_check(&self) -> IdleCheck {
        match self {
            ClientIo::Tcp(socket) => socket.idle_check(),
            ClientIo::H2(stream) => stream.idle_check(),
            ClientIo::Gone => IdleCheck::Closed,
        }
    }

    fn socket(&self) -> Option<&Socket> {
        match self {
            ClientIo::Tcp(socket) => Some(socket),
            _ => None,
        }
    }
}

impl AsyncRead for ClientIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientIo::Tcp(socket) => Pin::new(socket).poll_read(cx, buf),
            ClientIo::H2(stream) => stream.poll_read(cx, buf),
            ClientIo::Gone => Poll::Ready(Err(gone())),
        }
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientIo::Tcp(socket) => Pin::new(socket).poll_write(cx, buf),
            ClientIo::H2(stream) => stream.poll_write(cx, buf),
            ClientIo::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientIo::Tcp(socket) => Pin::new(socket).poll_write_vectored(cx, bufs),
            ClientIo::H2(stream) => {
                let first = bufs.iter().find(|buf| !buf.is_empty());
                stream.poll_write(cx, first.map_or(&[][..], |buf| &buf[..]))
            }
            ClientIo::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientIo::Tcp(socket) => Pin::new(socket).poll_flush(cx),
            ClientIo::H2(_) => Poll::Ready(Ok(())),
            ClientIo::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientIo::Tcp(socket) => Pin::new(socket).poll_close(cx),
            ClientIo::H2(stream) => Poll::Ready(stream.finish()),
            ClientIo::Gone => Poll::Ready(Err(gone())),
        }
    }
}
