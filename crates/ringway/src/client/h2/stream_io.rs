//! One client HTTP/2 stream as the byte stream of an HTTP/1.1 client connection, so that an
//! exchange serves it as it serves any client (routing, pools, retries, logs, counters). Reads
//! give the request body in the framing the request head announced; writes take the HTTP/1.1
//! response the exchange produced and send its head as a HEADERS frame (interim responses
//! dropped) and its body as DATA frames ([`crate::http2::body`]).

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use h2::server::SendResponse;
use h2::{Reason, RecvStream};
use http::{HeaderMap, Response, StatusCode};
use ringway_http::BodyKind;
use ringway_net::IdleCheck;

use crate::client::h2::request::RequestBody;
use crate::http2::abort::Abortable;
use crate::http2::body::{stream_error, BodyIn, BodyOut, Framing};
use crate::http2::fields::{copy_fields, BodyFields, Shared};
use crate::http2::wait::Wait;

/// Fields a response head may carry here: the exchange's own output, already bounded.
const MAX_FIELDS: usize = 128;

pub struct StreamIo {
    request: BodyIn,
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
    Body(BodyOut),
    Done,
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
        let request = match framing {
            RequestBody::None => BodyIn::empty(),
            framing => BodyIn::new(body, framing == RequestBody::Chunked),
        };
        StreamIo {
            request,
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

    /// `shutdown session` fails the stream's waits and resets it (CANCEL).
    pub fn abort_on(&mut self, owner: Rc<dyn Abortable>) {
        self.read_wait.abort_on(owner.clone());
        self.write_wait.abort_on(owner);
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

    /// Closed once the client reset the stream (or its connection went away).
    pub fn idle_check(&self) -> IdleCheck {
        let mut cx = Context::from_waker(Waker::noop());
        let reset = match &mut *self.response.borrow_mut() {
            Reply::Head { respond, .. } => respond.poll_reset(&mut cx).is_ready(),
            Reply::Body(body) => body.was_reset(&mut cx),
            Reply::Done => false,
        };
        if reset {
            IdleCheck::Closed
        } else {
            IdleCheck::Quiet
        }
    }

    pub fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.request.poll_read(cx, buf, &mut self.read_wait)
    }

    pub fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.response.get_mut() {
            Reply::Head { .. } => {
                self.start_response(buf)?;
                Poll::Ready(Ok(buf.len()))
            }
            Reply::Body(body) => body.poll_write(cx, buf, &mut self.write_wait),
            // Bytes past the response's end: not for the client.
            Reply::Done => Poll::Ready(Ok(buf.len())),
        }
    }

    /// Ends the response: a body that ends with the close ends now; a response not complete
    /// resets the stream, so the client cannot take a truncated response for a whole one.
    pub fn finish(&mut self) -> io::Result<()> {
        match std::mem::replace(self.response.get_mut(), Reply::Done) {
            Reply::Done => {}
            Reply::Head { mut respond, .. } => respond.send_reset(if self.read_wait.aborted() {
                Reason::CANCEL
            } else {
                Reason::INTERNAL_ERROR
            }),
            Reply::Body(mut body) if self.read_wait.aborted() => body.cancel(),
            Reply::Body(mut body) => body.finish(),
        }
        Ok(())
    }

    /// Sends the response head once it is whole (skipping interim responses), and the body
    /// bytes that came with it. `buf`: the bytes the exchange writes now.
    fn start_response(&mut self, buf: &[u8]) -> io::Result<()> {
        let Reply::Head { head, .. } = self.response.get_mut() else {
            return Ok(());
        };
        // The head nearly always comes in one write: one copy, which the field values and the
        // first body bytes then share.
        let mut bytes = if head.is_empty() {
            Bytes::copy_from_slice(buf)
        } else {
            head.extend_from_slice(buf);
            head.split().freeze()
        };
        loop {
            // Uninitialised slots: zeroing them per response would cost more than the parse.
            let mut fields = [const { std::mem::MaybeUninit::uninit() }; MAX_FIELDS];
            let mut parsed = httparse::Response::new(&mut []);
            let head_len = match httparse::ParserConfig::default()
                .parse_response_with_uninit_headers(&mut parsed, &bytes, &mut fields)
            {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) => {
                    if let Reply::Head { head, .. } = self.response.get_mut() {
                        head.extend_from_slice(&bytes);
                    }
                    return Ok(());
                }
                Err(error) => return Err(io::Error::new(io::ErrorKind::InvalidData, error)),
            };
            let status = parsed.code.unwrap_or(502);
            if (100..200).contains(&status) {
                // 100 Continue and other interim responses are not relayed to HTTP/2 clients.
                bytes.advance(head_len);
                continue;
            }
            let (response, body) = translate(&parsed, status, self.head_request, &bytes)?;
            let Reply::Head { mut respond, .. } =
                std::mem::replace(self.response.get_mut(), Reply::Done)
            else {
                return Ok(());
            };
            let framing = Framing::of(body);
            let send = respond
                .send_response(response, framing.is_none())
                .map_err(stream_error)?;
            let Some(framing) = framing else {
                return Ok(());
            };
            let mut body = BodyOut::new(send, framing);
            let rest = bytes.slice(head_len..);
            if !rest.is_empty() {
                // What came with the head is queued whatever the window: at most a buffer.
                body.queue_shared(rest)?;
            }
            if !body.is_ended() {
                *self.response.get_mut() = Reply::Body(body);
            }
            return Ok(());
        }
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
    head: &Bytes,
) -> io::Result<(Response<()>, BodyKind)> {
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::from_u16(status)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
    *response.headers_mut() = HeaderMap::with_capacity(parsed.headers.len());
    let shared = Shared {
        parsed: head,
        bytes: head,
    };
    let BodyFields { length, chunked } =
        copy_fields(parsed.headers, |_, _| false, shared, response.headers_mut());
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
