//! A byte stream that is either plain or TLS over an inner transport, with its TLS state
//! detachable: [`NetStream::into_parts`] and [`NetStream::from_parts`] move a connection's rustls
//! state without copying or renegotiating, which is how an idle server connection goes to another
//! shard (futures-rustls keeps its state sealed inside its stream, so it cannot do this).
//!
//! Writes are buffered by rustls: callers that stop writing must flush (`write_all` here does),
//! or the tail of a message could stay in rustls' buffer while they wait for an answer.

use std::io::{self, IoSlice, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::{future, AsyncWriteExt};
use rustls::Connection;

/// Turns a `Poll` of a result into an early return on `Pending` or error, inside poll functions.
macro_rules! ready {
    ($poll:expr) => {
        match $poll {
            Poll::Ready(Ok(value)) => value,
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Pending => return Poll::Pending,
        }
    };
}

/// A plain or TLS stream over `IO`.
pub struct NetStream<IO> {
    io: IO,
    tls: Option<Box<Connection>>,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> NetStream<IO> {
    pub fn plain(io: IO) -> NetStream<IO> {
        NetStream { io, tls: None }
    }

    /// A stream whose TLS state is `tls` (mid-handshake or established).
    pub fn from_parts(io: IO, tls: Option<Box<Connection>>) -> NetStream<IO> {
        NetStream { io, tls }
    }

    pub fn into_parts(self) -> (IO, Option<Box<Connection>>) {
        (self.io, self.tls)
    }

    /// The transport under TLS, for its socket options.
    pub fn io(&self) -> &IO {
        &self.io
    }

    pub fn io_mut(&mut self) -> &mut IO {
        &mut self.io
    }

    pub fn tls(&self) -> Option<&Connection> {
        self.tls.as_deref()
    }

    pub fn tls_mut(&mut self) -> Option<&mut Connection> {
        self.tls.as_deref_mut()
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The TLS handshake resumed an earlier session.
    pub fn resumed(&self) -> bool {
        self.tls
            .as_ref()
            .and_then(|tls| tls.handshake_kind())
            .is_some_and(|kind| kind == rustls::HandshakeKind::Resumed)
    }

    /// Completes the TLS handshake (nothing to do on a plain stream). A failure carries the
    /// rustls error, naming the cause (an unknown issuer, an expired certificate, ...).
    pub async fn handshake(&mut self) -> io::Result<()> {
        future::poll_fn(|cx| self.poll_handshake(cx)).await
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(tls) = self.tls.as_deref_mut() else {
            return Poll::Ready(Ok(()));
        };
        loop {
            ready!(flush_records(tls, &mut self.io, cx));
            if !tls.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            match tls.read_tls(&mut SyncIo::new(&mut self.io, cx)) {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "peer closed the connection during the TLS handshake",
                    )))
                }
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(error) => return Poll::Ready(Err(error)),
            }
            if let Err(error) = tls.process_new_packets() {
                return Poll::Ready(Err(fail_with_alert(tls, &mut self.io, cx, error)));
            }
        }
    }

    /// Writes all of `buf` and flushes it through TLS to the transport.
    pub async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        AsyncWriteExt::write_all(self, buf).await?;
        if self.tls.is_some() {
            AsyncWriteExt::flush(self).await?;
        }
        Ok(())
    }

    /// Writes `first` then `second` and flushes them through TLS: on a plain stream in one
    /// gathering write when the transport takes both (a response head and the body bytes that
    /// came with it, without copying them together first).
    pub async fn write_all_pair(&mut self, mut first: &[u8], mut second: &[u8]) -> io::Result<()> {
        if self.tls.is_some() {
            AsyncWriteExt::write_all(self, first).await?;
            return self.write_all(second).await;
        }
        while !first.is_empty() || !second.is_empty() {
            let written = future::poll_fn(|cx| {
                let bufs = [IoSlice::new(first), IoSlice::new(second)];
                Pin::new(&mut self.io).poll_write_vectored(cx, &bufs)
            })
            .await?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            let from_first = written.min(first.len());
            first = &first[from_first..];
            second = &second[written - from_first..];
        }
        Ok(())
    }

    /// Sends TLS close_notify (nothing on a plain stream); the caller then shuts the transport.
    pub async fn close_notify(&mut self) -> io::Result<()> {
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.send_close_notify();
            AsyncWriteExt::flush(self).await?;
        }
        Ok(())
    }
}

/// Writes rustls' pending records to the transport.
fn flush_records<IO: AsyncWrite + Unpin>(
    tls: &mut Connection,
    io: &mut IO,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    while tls.wants_write() {
        match tls.write_tls(&mut SyncIo::new(io, cx)) {
            Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
            Err(error) => return Poll::Ready(Err(error)),
        }
    }
    Poll::Ready(Ok(()))
}

/// Sends the alert rustls queued for a protocol error (best effort) and returns the error.
fn fail_with_alert<IO: AsyncWrite + Unpin>(
    tls: &mut Connection,
    io: &mut IO,
    cx: &mut Context<'_>,
    error: rustls::Error,
) -> io::Error {
    let _ = tls.write_tls(&mut SyncIo::new(io, cx));
    io::Error::new(io::ErrorKind::InvalidData, error)
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for NetStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(tls) = this.tls.as_deref_mut() else {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        };
        loop {
            match tls.reader().read(buf) {
                // Ok(0) is a clean close (close_notify received).
                Ok(read) => return Poll::Ready(Ok(read)),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                // UnexpectedEof: the peer closed without close_notify.
                Err(error) => return Poll::Ready(Err(error)),
            }
            // Alerts or key updates rustls wants to send go out before we wait.
            if let Poll::Ready(Err(error)) = flush_records(tls, &mut this.io, cx) {
                return Poll::Ready(Err(error));
            }
            match tls.read_tls(&mut SyncIo::new(&mut this.io, cx)) {
                // End of stream: rustls notes it and the reader reports it on the next turn.
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(error) => return Poll::Ready(Err(error)),
            }
            if let Err(error) = tls.process_new_packets() {
                return Poll::Ready(Err(fail_with_alert(tls, &mut this.io, cx, error)));
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for NetStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(tls) = this.tls.as_deref_mut() else {
            return Pin::new(&mut this.io).poll_write(cx, buf);
        };
        // Earlier records go first, so rustls' buffer stays bounded by one write.
        ready!(flush_records(tls, &mut this.io, cx));
        let accepted = tls.writer().write(buf)?;
        // Accepted bytes are ours now; what the transport does not take yet goes out with the
        // next write or flush.
        if let Poll::Ready(Err(error)) = flush_records(tls, &mut this.io, cx) {
            return Poll::Ready(Err(error));
        }
        Poll::Ready(Ok(accepted))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.tls.is_none() {
            return Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        }
        let first = bufs.iter().find(|buf| !buf.is_empty());
        Pin::new(this).poll_write(cx, first.map_or(&[][..], |buf| &buf[..]))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(tls) = this.tls.as_deref_mut() {
            ready!(flush_records(tls, &mut this.io, cx));
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(tls) = this.tls.as_deref_mut() {
            tls.send_close_notify();
            ready!(flush_records(tls, &mut this.io, cx));
        }
        Pin::new(&mut this.io).poll_close(cx)
    }
}

/// The transport seen as a non-blocking `std::io` stream, for rustls' `read_tls`/`write_tls`:
/// `Pending` becomes `WouldBlock` (the waker is registered by then).
struct SyncIo<'a, 'b, IO> {
    io: &'a mut IO,
    cx: &'a mut Context<'b>,
}

impl<'a, 'b, IO> SyncIo<'a, 'b, IO> {
    fn new(io: &'a mut IO, cx: &'a mut Context<'b>) -> Self {
        SyncIo { io, cx }
    }
}

fn would_block<T>(poll: Poll<io::Result<T>>) -> io::Result<T> {
    match poll {
        Poll::Ready(result) => result,
        Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
    }
}

impl<IO: AsyncRead + Unpin> Read for SyncIo<'_, '_, IO> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        would_block(Pin::new(&mut *self.io).poll_read(self.cx, buf))
    }
}

impl<IO: AsyncWrite + Unpin> Write for SyncIo<'_, '_, IO> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        would_block(Pin::new(&mut *self.io).poll_write(self.cx, buf))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        would_block(Pin::new(&mut *self.io).poll_write_vectored(self.cx, bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        would_block(Pin::new(&mut *self.io).poll_flush(self.cx))
    }
}
