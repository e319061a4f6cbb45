//! Moving bytes between the two sides of an exchange: a message body relayed verbatim under its
//! framing, and the bidirectional tunnel after a 101 Switching Protocols.

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use ringway_http::{BodyFramer, HttpError};

use crate::client::iobuf::IoBuf;
use crate::tls::Stream;

/// Bytes a tunnel moves per read in each direction.
const TUNNEL_CHUNK: usize = 16 * 1024;

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
}

/// Relays one message body from `source` to `destination`, starting
/// with the bytes already in `buf`; bytes past the end of the message stay in `buf`. Returns
/// the number of bytes written.
pub async fn relay_body(
    source: &mut Stream,
    buf: &mut IoBuf,
    destination: &mut Stream,
    relay: BodyRelay<'_>,
) -> Result<u64, RelayError> {
    let BodyRelay {
        framer,
        read_timeout,
        until_close,
        mut decoded,
    } = relay;
    let mut relayed = 0;
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
        let read = source.read(buf.spare()).await.map_err(RelayError::Source)?;
        if read == 0 {
            return if until_close {
                Ok(relayed)
            } else {
                Err(RelayError::SourceClosed)
            };
        }
        buf.filled(read);
    }
}

/// Copies bytes both ways until either side closes or stays silent for `idle`.
pub async fn tunnel(client: &mut Stream, server: &mut Stream, idle: Duration) {
    let _ = client.io().set_read_timeout(Some(idle));
    let _ = server.io().set_read_timeout(Some(idle));
    let (mut client_rx, mut client_tx) = futures_lite::io::split(client);
    let (mut server_rx, mut server_tx) = futures_lite::io::split(server);
    let upstream = copy_flushed(&mut client_rx, &mut server_tx);
    let downstream = copy_flushed(&mut server_rx, &mut client_tx);
    futures_lite::future::or(upstream, downstream).await;
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
