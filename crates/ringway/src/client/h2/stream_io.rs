//! One HTTP/2 stream as the byte stream of an HTTP/1.1 client connection, so that an exchange
//! serves it as it serves any client (routing, pools, retries, logs, counters). Reads give the
//! request body in the framing the request head announced (as is under `content-length`, else
//! chunked with the client's trailers); writes take the HTTP/1.1 response the exchange
//! produced, and send its head as a HEADERS frame and its body as DATA frames, without its
//! chunked framing. Flow control is end to end: the client's window is released as the
//! exchange takes the bytes (to write them to the server), and a write waits until the
//! client's window has room. Waits are bounded as a socket's are ([`Wait`]).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use http::{HeaderName, HeaderValue, Response, StatusCode};
use ringway_http::{BodyFramer, BodyKind};
use ringway_net::IdleCheck;

use crate::client::h2::request::{write_last_chunk, RequestBody};

/// At most this much of a response body is asked of the client's window at once.
const MAX_RESERVE: usize = 64 * 1024;
/// Fields a response head may carry here: the exchange's own output, already bounded.
const MAX_FIELDS: usize = 128;

/// Response fields HTTP/2 forbids (RFC 9113 §8.2.2).
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

pub struct StreamIo {
    /// The request body not yet read; None once it ended.
    body: Option<RecvStream>,
    chunked: bool,
    /// Request bytes ready for the exchange.
    staged: Bytes,
    response: RefCell<Reply>,
    head_request: bool,
    read_wait: Wait,
    write_wait: Wait,
    local: SocketAddr,
    over_tls: bool,
}

/// Where the response is.
enum Reply {
    /// Its head is being written.
    Head {
        respond: SendResponse<Bytes>,
        head: BytesMut,
    },
    Body {
        send: SendStream<Bytes>,
        body: OutBody,
    },
    Done,
}

enum OutBody {
    Length(u64),
    Chunked(BodyFramer, BytesMut),
    UntilClose,
}

impl StreamIo {
    pub fn new(
        body: RecvStream,
        framing: RequestBody,
        respond: SendResponse<Bytes>,
        head_request: bool,
        local: SocketAddr,
        over_tls: bool,
    ) -> StreamIo {
        StreamIo {
            body: (framing != RequestBody::None).then_some(body),
            chunked: framing == RequestBody::Chunked,
            staged: Bytes::new(),
            response: RefCell::new(Reply::Head {
                respond,
                head: BytesMut::new(),
            }),
            head_request,
            read_wait: Wait::default(),
            write_wait: Wait::default(),
            local,
            over_tls,
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn over_tls(&self) -> bool {
        self.over_tls
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>, restart: bool) -> io::Result<()> {
        self.read_wait.set(timeout, restart)
    }

    pub fn set_write_timeout(&self, timeout: Option<Duration>, restart: bool) -> io::Result<()> {
        self.write_wait.set(timeout, restart)
    }

    /// Closed once the client reset the stream (or the connection went away).
    pub fn idle_check(&self) -> IdleCheck {
        let mut cx = Context::from_waker(Waker::noop());
        let reset = match &mut *self.response.borrow_mut() {
            Reply::Head { respond, .. } => respond.poll_reset(&mut cx),
            Reply::Body { send, .. } => send.poll_reset(&mut cx),
            Reply::Done => return IdleCheck::Quiet,
        };
        match reset {
            Poll::Ready(_) => IdleCheck::Closed,
            Poll::Pending => IdleCheck::Quiet,
        }
    }

    pub fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            if !self.staged.is_empty() {
                let taken = self.staged.len().min(buf.len());
                buf[..taken].copy_from_slice(&self.staged[..taken]);
                self.staged.advance(taken);
                return Poll::Ready(Ok(taken));
            }
            let Some(body) = &mut self.body else {
                return Poll::Ready(Ok(0));
            };
            match body.poll_data(cx) {
                Poll::Ready(Some(Ok(data))) => {
                    self.read_wait.progress();
                    // The exchange writes these bytes to the server before it reads again.
                    let _ = body.flow_control().release_capacity(data.len());
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
                        let trailers = match body.poll_trailers(cx) {
                            Poll::Ready(Ok(trailers)) => trailers,
                            Poll::Ready(Err(error)) => {
                                return Poll::Ready(Err(stream_error(error)))
                            }
                            Poll::Pending => return self.read_wait.pending(cx),
                        };
                        let mut end = BytesMut::new();
                        if let Err(refusal) = write_last_chunk(trailers.as_ref(), &mut end) {
                            return Poll::Ready(Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                refusal.to_string(),
                            )));
                        }
                        self.staged = end.freeze();
                    }
                    self.body = None;
                }
                Poll::Pending => return self.read_wait.pending(cx),
            }
        }
    }

    pub fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let reply = self.response.get_mut();
        match reply {
            Reply::Head { head, .. } => {
                head.extend_from_slice(buf);
                self.start_response()?;
                Poll::Ready(Ok(buf.len()))
            }
            Reply::Body { send, .. } => {
                let mut capacity = send.capacity();
                if capacity == 0 {
                    send.reserve_capacity(buf.len().min(MAX_RESERVE));
                    capacity = match send.poll_capacity(cx) {
                        Poll::Ready(Some(Ok(granted))) => granted,
                        Poll::Ready(Some(Err(error))) => {
                            return Poll::Ready(Err(stream_error(error)))
                        }
                        Poll::Ready(None) => return Poll::Ready(Err(reset())),
                        Poll::Pending => return self.write_wait.pending(cx),
                    };
                    if capacity == 0 {
                        return self.write_wait.pending(cx);
                    }
                }
                self.write_wait.progress();
                let taken = self.send_body(&buf[..buf.len().min(capacity)])?;
                Poll::Ready(Ok(taken))
            }
            // Bytes past the response's end: not for the client.
            Reply::Done => Poll::Ready(Ok(buf.len())),
        }
    }

    /// Ends the response: a body that ends with the close ends now; a response not complete
    /// resets the stream, so the client cannot take a truncated response for a whole one.
    pub fn finish(&mut self) -> io::Result<()> {
        match std::mem::replace(self.response.get_mut(), Reply::Done) {
            Reply::Done => {}
            Reply::Head { mut respond, .. } => respond.send_reset(Reason::INTERNAL_ERROR),
            Reply::Body {
                mut send,
                body: OutBody::UntilClose,
            } => {
                let _ = send.send_data(Bytes::new(), true);
            }
            Reply::Body { mut send, .. } => send.send_reset(Reason::INTERNAL_ERROR),
        }
        Ok(())
    }

    /// Sends the response head once `head` holds all of it (skipping interim responses), and
    /// the body bytes that came with it.
    fn start_response(&mut self) -> io::Result<()> {
        loop {
            let Reply::Head { head, .. } = self.response.get_mut() else {
                return Ok(());
            };
            let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
            let mut parsed = httparse::Response::new(&mut fields);
            let head_len = match parsed.parse(head) {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) => return Ok(()),
                Err(error) => return Err(io::Error::new(io::ErrorKind::InvalidData, error)),
            };
            let status = parsed.code.unwrap_or(502);
            if (100..200).contains(&status) {
                // 100 Continue and other interim responses are not relayed to HTTP/2 clients.
                head.advance(head_len);
                continue;
            }
            let (response, body) = translate(&parsed, status, self.head_request)?;
            let rest = head.split_off(head_len).freeze();
            let Reply::Head { mut respond, .. } =
                std::mem::replace(self.response.get_mut(), Reply::Done)
            else {
                return Ok(());
            };
            let end = matches!(body, BodyKind::None | BodyKind::Length(0));
            let send = respond.send_response(response, end).map_err(stream_error)?;
            if end {
                return Ok(());
            }
            let body = match body {
                BodyKind::Length(length) => OutBody::Length(length),
                BodyKind::Chunked => {
                    OutBody::Chunked(BodyFramer::new(BodyKind::Chunked), BytesMut::new())
                }
                _ => OutBody::UntilClose,
            };
            *self.response.get_mut() = Reply::Body { send, body };
            if !rest.is_empty() {
                // What came with the head is queued whatever the window: at most a buffer.
                self.send_body(&rest)?;
            }
            return Ok(());
        }
    }

    /// Sends body bytes without their HTTP/1.1 framing; returns how many of `data` it took.
    fn send_body(&mut self, data: &[u8]) -> io::Result<usize> {
        let Reply::Body { send, body } = self.response.get_mut() else {
            return Ok(data.len());
        };
        let (out, taken, end) = match body {
            OutBody::Length(left) => {
                let taken = data.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= taken as u64;
                (
                    Bytes::copy_from_slice(&data[..taken]),
                    data.len(),
                    *left == 0,
                )
            }
            OutBody::Chunked(framer, scratch) => {
                scratch.clear();
                let progress = framer
                    .feed_decoded(data, scratch)
                    .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
                (
                    scratch.split().freeze(),
                    progress.consumed,
                    framer.is_done(),
                )
            }
            OutBody::UntilClose => (Bytes::copy_from_slice(data), data.len(), false),
        };
        if !out.is_empty() || end {
            send.send_data(out, end).map_err(stream_error)?;
        }
        if end {
            *self.response.get_mut() = Reply::Done;
        }
        Ok(taken)
    }
}

impl Drop for StreamIo {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The HTTP/2 response for an HTTP/1.1 response head, and how its body is framed.
fn translate(
    parsed: &httparse::Response<'_, '_>,
    status: u16,
    head_request: bool,
) -> io::Result<(Response<()>, BodyKind)> {
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::from_u16(status)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
    let mut length = None;
    let mut chunked = false;
    // Fields the Connection field names are hop-by-hop too.
    let named: Vec<&[u8]> = parsed
        .headers
        .iter()
        .filter(|field| field.name.eq_ignore_ascii_case("connection"))
        .flat_map(|field| field.value.split(|&byte| byte == b','))
        .map(|token| token.trim_ascii())
        .collect();
    for field in parsed.headers.iter() {
        let name = field.name;
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked |= field
                .value
                .split(|&byte| byte == b',')
                .any(|coding| coding.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        }
        if CONNECTION_SPECIFIC
            .iter()
            .any(|forbidden| name.eq_ignore_ascii_case(forbidden))
            || named
                .iter()
                .any(|token| token.eq_ignore_ascii_case(name.as_bytes()))
        {
            continue;
        }
        if name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(field.value)
                .ok()
                .and_then(|value| value.trim().parse::<u64>().ok());
        }
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(field.value),
        ) else {
            continue;
        };
        response.headers_mut().append(name, value);
    }
    let body = if head_request || status == 204 || status == 304 {
        BodyKind::None
    } else if chunked {
        BodyKind::Chunked
    } else if let Some(length) = length {
        BodyKind::Length(length)
    } else {
        BodyKind::UntilClose
    };
    Ok((response, body))
}

fn stream_error(error: h2::Error) -> io::Error {
    if error.is_io() {
        return error.into_io().unwrap_or_else(reset);
    }
    io::Error::new(io::ErrorKind::ConnectionReset, error)
}

fn reset() -> io::Error {
    io::ErrorKind::ConnectionReset.into()
}

/// A bound on each wait of one direction, as a socket's read or write timeout: armed when the
/// direction has to wait, disarmed when it makes progress.
#[derive(Default)]
struct Wait {
    timeout: Cell<Option<Duration>>,
    restart: Cell<bool>,
    timer: Option<Pin<Box<dyn Future<Output = ()>>>>,
}

impl Wait {
    fn set(&self, timeout: Option<Duration>, restart: bool) -> io::Result<()> {
        if timeout == Some(Duration::ZERO) {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        self.timeout.set(timeout);
        self.restart.set(restart);
        Ok(())
    }

    fn progress(&mut self) {
        self.timer = None;
    }

    /// The direction has to wait: Pending, or TimedOut once the bound has passed.
    fn pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if self.restart.replace(false) {
            self.timer = None;
        }
        let Some(timeout) = self.timeout.get() else {
            return Poll::Pending;
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(ringway_net::sleep_until(Instant::now() + timeout)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.timer = None;
                Poll::Ready(Err(io::ErrorKind::TimedOut.into()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
