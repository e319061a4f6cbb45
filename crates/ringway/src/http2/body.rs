//! Message bodies between an HTTP/1.1 byte stream and an HTTP/2 stream. [`BodyOut`] takes a
//! body in its HTTP/1.1 framing and sends its data as DATA frames, each write waiting until the
//! peer's window has room (so flow control reaches the other side of the proxy). [`BodyIn`]
//! gives a stream's DATA frames as HTTP/1.1 body bytes (as they are under a length, else
//! chunked, ending with the stream's trailers), releasing the window as the bytes are taken.

use std::io;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use h2::{Reason, RecvStream, SendStream};
use ringway_http::{BodyFramer, BodyKind};

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::http2::fields::{hop_by_hop, write_last_chunk};
use crate::http2::wait::Wait;

/// At most this much of a body is asked of the peer's window at once.
const MAX_RESERVE: usize = 64 * 1024;

/// How an outgoing body is framed in the HTTP/1.1 bytes it comes in.
pub enum Framing {
    Length(u64),
    Chunked(BodyFramer, BytesMut),
    /// Until the HTTP/1.1 side closes (a response only).
    UntilClose,
}

impl Framing {
    /// The framing of a body of `kind`; None for no body.
    pub fn of(kind: BodyKind) -> Option<Framing> {
        match kind {
            BodyKind::None | BodyKind::Length(0) => None,
            BodyKind::Length(length) => Some(Framing::Length(length)),
            BodyKind::Chunked => Some(Framing::Chunked(
                BodyFramer::keeping_trailers(),
                BytesMut::new(),
            )),
            BodyKind::UntilClose => Some(Framing::UntilClose),
        }
    }
}

/// A body being sent on an HTTP/2 stream.
pub struct BodyOut {
    send: SendStream<Bytes>,
    framing: Framing,
    ended: bool,
}

impl BodyOut {
    pub fn new(send: SendStream<Bytes>, framing: Framing) -> BodyOut {
        BodyOut {
            send,
            framing,
            ended: false,
        }
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Takes body bytes once the peer's window has room for some; returns how many it took.
    pub fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
        wait: &mut Wait,
    ) -> Poll<io::Result<usize>> {
        if self.ended {
            // Bytes past the body's end: not for the peer.
            return Poll::Ready(Ok(buf.len()));
        }
        let mut capacity = self.send.capacity();
        if capacity == 0 {
            self.send.reserve_capacity(buf.len().min(MAX_RESERVE));
            capacity = match self.send.poll_capacity(cx) {
                Poll::Ready(Some(Ok(granted))) => granted,
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Err(stream_error(error))),
                Poll::Ready(None) => return Poll::Ready(Err(reset())),
                Poll::Pending => return wait.pending(cx),
            };
            if capacity == 0 {
                return wait.pending(cx);
            }
        }
        wait.progress();
        Poll::Ready(self.queue(&buf[..buf.len().min(capacity)]))
    }

    /// Sends body bytes without their HTTP/1.1 framing, whatever the window (h2 holds what
    /// does not fit); returns how many of `data` it took.
    pub fn queue(&mut self, data: &[u8]) -> io::Result<usize> {
        self.queue_from(data, None)
    }

    /// As [`BodyOut::queue`], for bytes already in a `Bytes`: sent without a copy.
    pub fn queue_shared(&mut self, data: Bytes) -> io::Result<usize> {
        self.queue_from(&data, Some(&data))
    }

    /// `shared`: the `Bytes` that `data` is in, if any.
    fn queue_from(&mut self, data: &[u8], shared: Option<&Bytes>) -> io::Result<usize> {
        let own = |part: &[u8]| {
            shared.map_or_else(|| Bytes::copy_from_slice(part), |all| all.slice_ref(part))
        };
        if self.ended {
            return Ok(data.len());
        }
        let mut trailers = None;
        let (out, taken, end) = match &mut self.framing {
            Framing::Length(left) => {
                let taken = data.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= taken as u64;
                (own(&data[..taken]), data.len(), *left == 0)
            }
            Framing::Chunked(framer, scratch) => {
                scratch.clear();
                let progress = framer
                    .feed_decoded(data, scratch)
                    .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
                if framer.is_done() {
                    trailers = trailer_fields(&framer.take_trailers());
                }
                (
                    scratch.split().freeze(),
                    progress.consumed,
                    framer.is_done(),
                )
            }
            Framing::UntilClose => (own(data), data.len(), false),
        };
        match trailers {
            // The trailer section ends the stream: HEADERS after the last DATA.
            Some(fields) => {
                if !out.is_empty() {
                    self.send.send_data(out, false).map_err(stream_error)?;
                }
                self.send.send_trailers(fields).map_err(stream_error)?;
            }
            None if !out.is_empty() || end => {
                self.send.send_data(out, end).map_err(stream_error)?;
            }
            None => {}
        }
        self.ended = end;
        Ok(taken)
    }

    /// The HTTP/1.1 side is done: a body that ends with it ends now; a body cut short resets
    /// the stream, so the peer cannot take a truncated message for a whole one.
    pub fn finish(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        match self.framing {
            Framing::UntilClose => {
                let _ = self.send.send_data(Bytes::new(), true);
            }
            _ => self.send.send_reset(Reason::CANCEL),
        }
    }

    /// The exchange was killed (`shutdown session`): the stream is reset whatever the framing.
    pub fn cancel(&mut self) {
        if !std::mem::replace(&mut self.ended, true) {
            self.send.send_reset(Reason::CANCEL);
        }
    }

    /// Whether the peer reset the stream.
    pub fn was_reset(&mut self, cx: &mut Context<'_>) -> bool {
        self.send.poll_reset(cx).is_ready()
    }
}

/// Trailer lines (`name:value\r\n`) as HTTP/2 fields; None when there is none to send.
/// Fields HTTP/2 cannot carry, or that describe the framing, are left out.
fn trailer_fields(lines: &[u8]) -> Option<HeaderMap> {
    let mut fields = HeaderMap::new();
    for line in lines.split(|&byte| byte == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&byte| byte == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        let Ok(name) = HeaderName::from_bytes(name) else {
            continue;
        };
        if hop_by_hop(name.as_str(), &[]) || name == http::header::CONTENT_LENGTH {
            continue;
        }
        if let Ok(value) = HeaderValue::from_bytes(value) {
            fields.append(name, value);
        }
    }
    (!fields.is_empty()).then_some(fields)
}

/// A body being received on an HTTP/2 stream, read as HTTP/1.1 bytes.
pub struct BodyIn {
    recv: Option<RecvStream>,
    chunked: bool,
    staged: Bytes,
}

impl BodyIn {
    /// `chunked`: the HTTP/1.1 head announced a chunked body (no length).
    pub fn new(recv: RecvStream, chunked: bool) -> BodyIn {
        BodyIn {
            recv: Some(recv),
            chunked,
            staged: Bytes::new(),
        }
    }

    /// A body that is already over (the stream ended with its headers).
    pub fn empty() -> BodyIn {
        BodyIn {
            recv: None,
            chunked: false,
            staged: Bytes::new(),
        }
    }

    /// The peer has sent the whole body (bytes may still wait here to be read).
    pub fn is_over(&self) -> bool {
        self.recv.as_ref().is_none_or(RecvStream::is_end_stream)
    }

    /// Bytes to give before the body's (a message head).
    pub fn stage(&mut self, bytes: Bytes) {
        self.staged = bytes;
    }

    pub fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        wait: &mut Wait,
    ) -> Poll<io::Result<usize>> {
        loop {
            if !self.staged.is_empty() {
                let taken = self.staged.len().min(buf.len());
                buf[..taken].copy_from_slice(&self.staged[..taken]);
                self.staged.advance(taken);
                return Poll::Ready(Ok(taken));
            }
            let Some(recv) = &mut self.recv else {
                return Poll::Ready(Ok(0));
            };
            match recv.poll_data(cx) {
                Poll::Ready(Some(Ok(data))) => {
                    wait.progress();
                    // The reader passes these bytes on before it reads again.
                    let _ = recv.flow_control().release_capacity(data.len());
                    if data.is_empty() {
                        continue;
                    }
                    self.staged = if self.chunked {
                        let mut chunk = BytesMut::with_capacity(data.len() + 12);
                        chunk.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
                        chunk.extend_from_slice(&data);
                        chunk.extend_from_slice(b"\r\n");
                        chunk.freeze()
                    } else {
                        data
                    };
                }
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Err(stream_error(error))),
                Poll::Ready(None) => {
                    if self.chunked {
                        let trailers = match recv.poll_trailers(cx) {
                            Poll::Ready(Ok(trailers)) => trailers,
                            Poll::Ready(Err(error)) => {
                                return Poll::Ready(Err(stream_error(error)))
                            }
                            Poll::Pending => return wait.pending(cx),
                        };
                        let mut end = BytesMut::new();
                        if let Err(why) = write_last_chunk(trailers.as_ref(), &mut end) {
                            return Poll::Ready(Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                why,
                            )));
                        }
                        self.staged = end.freeze();
                    }
                    self.recv = None;
                }
                Poll::Pending => return wait.pending(cx),
            }
        }
    }
}

/// An h2 error as an I/O error: the I/O error itself, or a reset.
pub fn stream_error(error: h2::Error) -> io::Error {
    if error.is_io() {
        return error.into_io().unwrap_or_else(reset);
    }
    io::Error::new(io::ErrorKind::ConnectionReset, error)
}

pub fn reset() -> io::Error {
    io::ErrorKind::ConnectionReset.into()
}
