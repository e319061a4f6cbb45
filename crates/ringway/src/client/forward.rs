//! Moving bytes between the two sides of an exchange: a message body relayed verbatim under its
//! framing, and the bidirectional tunnel after a 101 Switching Protocols (with HAProxy's
//! half-closed handling when `timeout_client_fin` or `timeout_server_fin` is set).
//!
//! A body goes through the session's receive buffer, or, between two plain TCP sockets, the
//! rest of a body by length or until close goes through a pipe with splice(2) when the
//! backend's `splice` says so ([`splice_wanted`], docs/configuration.md#splice).

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use ringway_config::Splice;
use ringway_http::{BodyFramer, HttpError};
use ringway_net::{IdleCheck, Socket};

use ringway_tls::NetStream;

use crate::client::iobuf::IoBuf;
use crate::client::transport::Transport;
use crate::error::is_timeout;

/// Bytes a tunnel moves per read in each direction.
const TUNNEL_CHUNK: usize = 16 * 1024;

/// `splice = "auto"`: the least body left (by length) worth a pipe. Below it two splices cost
/// more than a `recv` and a `send` that copy (measurements: docs/benchmarks.md).
const SPLICE_AUTO_MIN: u64 = 16 * 1024;

/// Why relaying a body stopped early.
#[derive(Debug)]
pub enum RelayError {
    /// The sending side closed before the end of the message.
    SourceClosed,
    /// The sending side failed or timed out.
    Source(io::Error),
    /// The receiving side failed or timed out.
    Destination(io::Error),
    /// The body's framing is invalid.
    Framing(HttpError),
    /// The receiving side half-closed (or went away) and the source stayed silent past its fin
    /// timeout.
    DestinationClosed,
}

/// How one message body is relayed.
pub struct BodyRelay<'a> {
    pub framer: &'a mut BodyFramer,
    pub read_timeout: Duration,
    /// The body ends when the source closes the connection.
    pub until_close: bool,
    /// A scratch buffer: the body goes out without its chunked framing (for an HTTP/1.0
    /// client). None: relayed verbatim.
    pub decoded: Option<&'a mut BytesMut>,
    /// The destination's fin timeout (timeout_client_fin for a response): see [`read_watching`].
    pub destination_fin: Option<Duration>,
    /// The backend's `splice`.
    pub splice: Splice,
}

/// Relays one message body from `source` to `destination`, starting
/// with the bytes already in `buf`; bytes past the end of the message stay in `buf`. Returns
/// the number of bytes written.
pub async fn relay_body<S: Transport, D: Transport>(
    source: &mut NetStream<S>,
    buf: &mut IoBuf,
    destination: &mut NetStream<D>,
    relay: BodyRelay<'_>,
) -> Result<u64, RelayError> {
    let BodyRelay {
        framer,
        read_timeout,
        until_close,
        mut decoded,
        destination_fin,
        splice,
    } = relay;
    let mut relayed = 0;
    // `splice = "auto"` and a body until close: a read that filled the buffer says more follows.
    let mut streaming = false;
    source
        .io()
        .set_read_timeout(Some(read_timeout))
        .map_err(RelayError::Source)?;
    loop {
        if !buf.is_empty() {
            let (consumed, out) = match &mut decoded {
                Some(scratch) => {
                    scratch.clear();
                    let progress = framer
                        .feed_decoded(buf.data(), scratch)
                        .map_err(RelayError::Framing)?;
                    (progress.consumed, &scratch[..])
                }
                None => {
                    let progress = framer.feed(buf.data()).map_err(RelayError::Framing)?;
                    (progress.consumed, &buf.data()[..progress.consumed])
                }
            };
            destination
                .write_all(out)
                .await
                .map_err(RelayError::Destination)?;
            relayed += out.len() as u64;
            buf.consume(consumed);
        }
        if framer.is_done() {
            return Ok(relayed);
        }
        // Bytes already read are relayed first; a body reshaped on its way (decoded) or a
        // destination watched for its close is read here.
        if buf.is_empty() && decoded.is_none() && destination_fin.is_none() {
            let sockets = source.io().socket().zip(destination.io().socket());
            if let (Some((from, to)), false) = (sockets, source.is_tls() || destination.is_tls()) {
                if splice_wanted(splice, framer, until_close, streaming) {
                    if let Some(pipe) = ringway_net::Pipe::take() {
                        return splice_rest(from, to, pipe, framer, until_close)
                            .await
                            .map(|spliced| relayed + spliced);
                    }
                }
            }
        }
        let spare = buf.spare();
        let room = spare.len();
        let read = read_watching(source, spare, destination, read_timeout, destination_fin)
            .await
            .map_err(|error| match error {
                WatchedRead::Source(error) => RelayError::Source(error),
                WatchedRead::PeerClosed => RelayError::DestinationClosed,
            })?;
        if read == 0 {
            return if until_close {
                Ok(relayed)
            } else {
                Err(RelayError::SourceClosed)
            };
        }
        streaming = read == room;
        buf.filled(read);
    }
}

/// Whether the rest of a body goes through a pipe: never for a chunked body (its framing is
/// read), always with `always`, and with `auto` when at least [`SPLICE_AUTO_MIN`] is left by
/// length, or when a body until close filled the last read (HAProxy's "fast streamer").
fn splice_wanted(splice: Splice, framer: &BodyFramer, until_close: bool, streaming: bool) -> bool {
    let left = framer.opaque_left();
    match splice {
        Splice::Off => false,
        _ if left == 0 => false,
        Splice::Always => true,
        Splice::Auto if until_close => streaming,
        Splice::Auto => left >= SPLICE_AUTO_MIN,
    }
}

/// Relays the rest of a body by length or until close from `source` to `destination` through
/// `pipe`: each splice into the pipe takes what the source has (up to the pipe's size and the
/// body's end) and the pipe is emptied into the destination before the next, so the proxy
/// holds at most one pipe's worth of the body (a slow destination stops the reads). Returns
/// the bytes relayed.
async fn splice_rest(
    source: &Socket,
    destination: &Socket,
    mut pipe: ringway_net::Pipe,
    framer: &mut BodyFramer,
    until_close: bool,
) -> Result<u64, RelayError> {
    let mut relayed = 0;
    loop {
        let left = framer.opaque_left();
        if left == 0 {
            return Ok(relayed);
        }
        let want = usize::try_from(left).unwrap_or(usize::MAX);
        let moved = futures_lite::future::poll_fn(|cx| source.poll_splice_in(cx, &mut pipe, want))
            .await
            .map_err(RelayError::Source)?;
        if moved == 0 {
            return if until_close {
                Ok(relayed)
            } else {
                Err(RelayError::SourceClosed)
            };
        }
        framer.pass_opaque(moved as u64);
        while pipe.held() > 0 {
            let out =
                futures_lite::future::poll_fn(|cx| destination.poll_splice_out(cx, &mut pipe))
                    .await
                    .map_err(RelayError::Destination)?;
            if out == 0 {
                return Err(RelayError::Destination(io::ErrorKind::WriteZero.into()));
            }
        }
        relayed += moved as u64;
    }
}

/// Why [`read_watching`] stopped.
#[derive(Debug)]
pub enum WatchedRead {
    /// The source failed or stayed silent past the whole timeout.
    Source(io::Error),
    /// The watched peer half-closed (or went away) while the source stayed silent past `fin`.
    PeerClosed,
}

/// Reads from `source`, waiting up to `timeout` (the caller set it as `source`'s read timeout).
/// With `fin` (HAProxy's client-fin timeout for a client that already sent its FIN) the wait is
/// cut in waits of `fin`; after each, `peer` is looked at (one peek, only then: none while the
/// source answers in time) and a peer found closed ends the read. So a half-closed peer is let
/// go between one and two `fin` after it closed. Without `fin`, a plain read.
pub async fn read_watching<S: Transport, P: Transport>(
    source: &mut NetStream<S>,
    into: &mut [u8],
    peer: &NetStream<P>,
    timeout: Duration,
    fin: Option<Duration>,
) -> Result<usize, WatchedRead> {
    let Some(fin) = fin else {
        return source.read(into).await.map_err(WatchedRead::Source);
    };
    let until = Instant::now() + timeout;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(WatchedRead::Source(io::ErrorKind::TimedOut.into()));
        }
        let _ = source.io().set_read_timeout(Some(fin.min(left)));
        match source.read(into).await {
            Err(error) if is_timeout(&error) => {
                if peer.io().idle_check() == IdleCheck::Closed {
                    return Err(WatchedRead::PeerClosed);
                }
            }
            result => return result.map_err(WatchedRead::Source),
        }
    }
}

/// The timeouts of a tunnel: `idle` (timeout_tunnel) for each direction's silence, and, once
/// one direction has ended, each side's `*_fin` timeout (HAProxy's `timeout client-fin` /
/// `server-fin`).
#[derive(Debug, Clone, Copy)]
pub struct TunnelTimeouts {
    pub idle: Duration,
    pub client_fin: Option<Duration>,
    pub server_fin: Option<Duration>,
}

/// Copies bytes both ways. Without fin timeouts the tunnel ends when either side closes or
/// stays silent for `idle`. With one, a side's close is passed on (a FIN, after TLS's
/// close_notify) and the other direction goes on, as HAProxy's: both sides are then half-closed,
/// and each side's waits get its fin timeout (`idle` for a side without one) until the other
/// direction ends too.
pub async fn tunnel<C: Transport, S: Transport>(
    client: &mut NetStream<C>,
    server: &mut NetStream<S>,
    timeouts: TunnelTimeouts,
) {
    let _ = client.io().set_read_timeout(Some(timeouts.idle));
    let _ = server.io().set_read_timeout(Some(timeouts.idle));
    if timeouts.client_fin.is_none() && timeouts.server_fin.is_none() {
        let (mut client_rx, mut client_tx) = futures_lite::io::split(client);
        let (mut server_rx, mut server_tx) = futures_lite::io::split(server);
        let upstream = copy_flushed(&mut client_rx, &mut server_tx);
        let downstream = copy_flushed(&mut server_rx, &mut client_tx);
        futures_lite::future::or(upstream, downstream).await;
        return;
    }
    let mut upstream = Pipe::new();
    let mut downstream = Pipe::new();
    let client_fin = timeouts.client_fin.unwrap_or(timeouts.idle);
    let server_fin = timeouts.server_fin.unwrap_or(timeouts.idle);
    futures_lite::future::poll_fn(|cx| {
        let mut progress = true;
        while progress {
            progress = false;
            if !upstream.ended {
                match upstream.poll(cx, client, server) {
                    Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Ready(Ok(())) => {
                        // The client closed and the server got the FIN: both sides are now
                        // half-closed; the direction left reads the server.
                        let _ = server.io().reset_read_timeout(Some(server_fin));
                        let _ = client.io().reset_write_timeout(Some(client_fin));
                        progress = true;
                    }
                    Poll::Pending => {}
                }
            }
            if !downstream.ended {
                match downstream.poll(cx, server, client) {
                    Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Ready(Ok(())) => {
                        let _ = client.io().reset_read_timeout(Some(client_fin));
                        let _ = server.io().reset_write_timeout(Some(server_fin));
                        progress = true;
                    }
                    Poll::Pending => {}
                }
            }
        }
        if upstream.ended && downstream.ended {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}

/// One direction of a half-closing tunnel: what was read and not yet written.
struct Pipe {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Written since the last flush (TLS buffers what it encrypts).
    unflushed: bool,
    /// The source closed: close the destination's writing side once the bytes are out.
    closing: bool,
    /// The close was passed on.
    ended: bool,
}

impl Pipe {
    fn new() -> Pipe {
        Pipe {
            buf: vec![0; TUNNEL_CHUNK],
            start: 0,
            end: 0,
            unflushed: false,
            closing: false,
            ended: false,
        }
    }

    /// Moves bytes until `from` closes (then `to`'s writing side is closed: `Ready(Ok)`), an
    /// error or a timeout (`Ready(Err)`), or neither side can go on now.
    fn poll<F: Transport, T: Transport>(
        &mut self,
        cx: &mut Context<'_>,
        from: &mut NetStream<F>,
        to: &mut NetStream<T>,
    ) -> Poll<io::Result<()>> {
        loop {
            if self.start < self.end {
                let written =
                    ready!(Pin::new(&mut *to).poll_write(cx, &self.buf[self.start..self.end]))?;
                if written == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.start += written;
                self.unflushed = true;
                continue;
            }
            if self.unflushed {
                ready!(Pin::new(&mut *to).poll_flush(cx))?;
                self.unflushed = false;
            }
            if self.closing {
                ready!(Pin::new(&mut *to).poll_close(cx))?;
                self.ended = true;
                return Poll::Ready(Ok(()));
            }
            let read = ready!(Pin::new(&mut *from).poll_read(cx, &mut self.buf))?;
            if read == 0 {
                self.closing = true;
            }
            (self.start, self.end) = (0, read);
        }
    }
}
/// Copies until end of stream or an error, flushing after every write: TLS buffers what it
/// encrypts, and a tunnel's peer waits for each piece.
async fn copy_flushed(from: &mut (impl AsyncRead + Unpin), to: &mut (impl AsyncWrite + Unpin)) {
    let mut buf = vec![0; TUNNEL_CHUNK];
    while let Ok(read @ 1..) = from.read(&mut buf).await {
        if to.write_all(&buf[..read]).await.is_err() || to.flush().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringway_http::BodyKind;

    #[test]
    fn splice_is_wanted_for_large_rests_by_length_and_streaming_until_close_bodies() {
        let length = |n| BodyFramer::new(BodyKind::Length(n));
        let chunked = BodyFramer::new(BodyKind::Chunked);
        let until_close = BodyFramer::new(BodyKind::UntilClose);
        for framer in [&length(1 << 20), &chunked, &until_close] {
            assert!(!splice_wanted(Splice::Off, framer, false, true));
        }
        assert!(splice_wanted(Splice::Always, &length(1), false, false));
        assert!(!splice_wanted(Splice::Always, &chunked, false, true));
        assert!(splice_wanted(Splice::Always, &until_close, true, false));

        assert!(splice_wanted(
            Splice::Auto,
            &length(SPLICE_AUTO_MIN),
            false,
            false
        ));
        assert!(!splice_wanted(
            Splice::Auto,
            &length(SPLICE_AUTO_MIN - 1),
            false,
            true
        ));
        assert!(!splice_wanted(Splice::Auto, &chunked, false, true));
        assert!(!splice_wanted(Splice::Auto, &until_close, true, false));
        assert!(splice_wanted(Splice::Auto, &until_close, true, true));
        assert!(!splice_wanted(
            Splice::Auto,
            &BodyFramer::new(BodyKind::Length(0)),
            false,
            true
        ));
    }
}
