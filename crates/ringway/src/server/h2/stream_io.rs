//! One request's stream on a server's HTTP/2 connection, as the byte stream of an HTTP/1.1
//! server connection: writes take the HTTP/1.1 request the exchange produced (its head becomes
//! a HEADERS frame, its body DATA frames), reads give the server's response as an HTTP/1.1
//! response (its length kept, else chunked with the server's trailers at the end). A stream the
//! server refused unprocessed (REFUSED_STREAM, or past a GOAWAY's last stream) says so
//! ([`ServerStream::refused`]): the request can go again on another connection.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_lite::io::{AsyncRead, AsyncWrite};
use h2::client::{ResponseFuture, SendRequest};
use h2::Reason;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Method, Request, Uri};
use ringway_http::BodyKind;
use ringway_net::IdleCheck;

use crate::client::transport::Transport;
use crate::http2::abort::Abortable;
use crate::http2::body::{stream_error, BodyIn, BodyOut, Framing};
use crate::http2::fields::{copy_fields, put_field, BodyFields, Shared};
use crate::http2::wait::Wait;
use crate::server::h2::StreamSlot;

/// Fields a request head may carry here: the exchange's own output, already bounded.
const MAX_FIELDS: usize = 128;

pub struct ServerStream {
    /// Holds the connection's stream until the response is whole and the request sent, or
    /// until the exchange drops this: the connection is then free for another request (or
    /// another shard) while the exchange still writes the response to its client.
    slot: Option<StreamSlot>,
    send: Option<SendRequest<Bytes>>,
    scheme: Scheme,
    /// `:authority` when the request has no Host (written only then).
    address: SocketAddr,
    request: Outgoing,
    response: Incoming,
    head_request: bool,
    read_wait: Wait,
    write_wait: Wait,
    refused: bool,
}

enum Outgoing {
    Head(BytesMut),
    Body(BodyOut),
    Done,
}

enum Incoming {
    NotAsked,
    Waiting(ResponseFuture),
    Body(BodyIn),
}

impl ServerStream {
    pub fn new(slot: StreamSlot, tls: bool, address: SocketAddr) -> ServerStream {
        let send = slot.conn.send_request();
        ServerStream {
            slot: Some(slot),
            send,
            scheme: if tls { Scheme::HTTPS } else { Scheme::HTTP },
            address,
            request: Outgoing::Head(BytesMut::new()),
            response: Incoming::NotAsked,
            head_request: false,
            read_wait: Wait::default(),
            write_wait: Wait::default(),
            refused: false,
        }
    }

    /// `shutdown session` fails the stream's waits (it is then reset, CANCEL, as it drops).
    pub fn abort_on(&mut self, owner: Rc<dyn Abortable>) {
        self.read_wait.abort_on(owner.clone());
        self.write_wait.abort_on(owner);
    }

    /// Lets the connection's stream go once the request is sent and the response whole.
    fn release_when_done(&mut self) {
        let sent = match &self.request {
            Outgoing::Done => true,
            Outgoing::Body(out) => out.is_ended(),
            Outgoing::Head(_) => false,
        };
        if sent && matches!(&self.response, Incoming::Body(body) if body.is_over()) {
            self.slot = None;
        }
    }

    /// The server did not process the request: it may go again, on another connection.
    pub fn refused(&self) -> bool {
        self.refused
    }

    /// Sends the request head in `bytes` (what came before and the bytes written now) once it
    /// is whole, and the body bytes after it: Ok(false) while it is not whole. Pending while
    /// the connection has no free stream.
    fn poll_start(&mut self, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<bool>> {
        // Uninitialised slots: zeroing them per request would cost more than the parse.
        let mut fields = [const { std::mem::MaybeUninit::uninit() }; MAX_FIELDS];
        let mut parsed = httparse::Request::new(&mut []);
        let head_len = match httparse::ParserConfig::default().parse_request_with_uninit_headers(
            &mut parsed,
            bytes,
            &mut fields,
        ) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Poll::Ready(Ok(false)),
            Err(error) => {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, error)))
            }
        };
        let Some(send) = &mut self.send else {
            self.refused = true;
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        };
        match send.poll_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(error)) => {
                self.refused = true;
                return Poll::Ready(Err(stream_error(error)));
            }
            Poll::Pending => return Poll::Pending,
        }
        // One copy of what was written, which the target, the field values and the first body
        // bytes share.
        let copy = Bytes::copy_from_slice(bytes);
        let shared = Shared {
            parsed: bytes,
            bytes: &copy,
        };
        let (request, body) = translate(&parsed, &self.scheme, self.address, shared)?;
        self.head_request = request.method() == Method::HEAD;
        let framing = Framing::of(body);
        let (response, send_stream) = match send.send_request(request, framing.is_none()) {
            Ok(pair) => pair,
            Err(error) => {
                self.refused = true;
                return Poll::Ready(Err(stream_error(error)));
            }
        };
        let rest = copy.slice(head_len..);
        self.response = Incoming::Waiting(response);
        self.request = match framing {
            None => Outgoing::Done,
            Some(framing) => {
                let mut body = BodyOut::new(send_stream, framing);
                if !rest.is_empty() {
                    body.queue_shared(rest)?;
                }
                if body.is_ended() {
                    Outgoing::Done
                } else {
                    Outgoing::Body(body)
                }
            }
        };
        Poll::Ready(Ok(true))
    }
}

impl Drop for ServerStream {
    fn drop(&mut self) {
        if let Outgoing::Body(body) = &mut self.request {
            body.finish();
        }
    }
}

/// The HTTP/2 request for an HTTP/1.1 request head, and how its body is framed. `head`: what
/// `parsed` was read from, of which the target and the field values are slices.
fn translate(
    parsed: &httparse::Request<'_, '_>,
    scheme: &Scheme,
    address: SocketAddr,
    head: Shared<'_>,
) -> io::Result<(Request<()>, BodyKind)> {
    let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
    let method = Method::from_bytes(parsed.method.unwrap_or("GET").as_bytes())
        .map_err(|_| invalid("method"))?;
    let host = parsed
        .headers
        .iter()
        .find(|field| field.name.eq_ignore_ascii_case("host"))
        .map(|field| field.value)
        .filter(|host| std::str::from_utf8(host).is_ok());
    let target = parsed.path.unwrap_or("/");
    let uri = if target.starts_with('/') {
        let authority = match host {
            Some(host) => Authority::from_maybe_shared(head.slice(host)),
            None => Authority::try_from(address.to_string()),
        };
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(scheme.clone());
        parts.authority = Some(authority.map_err(|_| invalid("request target"))?);
        parts.path_and_query = Some(
            PathAndQuery::from_maybe_shared(head.slice(target.as_bytes()))
                .map_err(|_| invalid("request target"))?,
        );
        Uri::from_parts(parts).map_err(|_| invalid("request target"))?
    } else {
        // Absolute form (or `*`): as the client wrote it.
        target
            .parse::<Uri>()
            .map_err(|_| invalid("request target"))?
    };
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = HeaderMap::with_capacity(parsed.headers.len());
    // Host became :authority; te goes only as `trailers` (RFC 9113 §8.2.2).
    let skip = |name: &str, value: &[u8]| {
        name.eq_ignore_ascii_case("host")
            || (name.eq_ignore_ascii_case("te") && !value.eq_ignore_ascii_case(b"trailers"))
    };
    let BodyFields { length, chunked } =
        copy_fields(parsed.headers, skip, head, request.headers_mut());
    let body = if chunked {
        BodyKind::Chunked
    } else {
        length.map_or(BodyKind::None, BodyKind::Length)
    };
    Ok((request, body))
}

/// At least the length of the HTTP/1.1 head [`response_head`] writes for `response`.
fn head_bound(response: &http::Response<h2::RecvStream>) -> usize {
    let status_line =
        "HTTP/1.1 200 \r\n".len() + response.status().canonical_reason().map_or(0, str::len);
    let fields: usize = response
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + ": \r\n".len())
        .sum();
    status_line + fields + "transfer-encoding: chunked\r\n\r\n".len()
}

/// The HTTP/1.1 head for a server's HTTP/2 response; true when its body goes chunked.
fn response_head(
    response: &http::Response<h2::RecvStream>,
    head_request: bool,
    out: &mut impl BufMut,
) -> bool {
    let status = response.status();
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.put_slice(b"\r\n");
    let mut length = false;
    for (name, value) in response.headers() {
        length |= name == http::header::CONTENT_LENGTH;
        put_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    let bodiless = head_request
        || status.is_informational()
        || status.as_u16() == 204
        || status.as_u16() == 304;
    let chunked = !bodiless && !length && !response.body().is_end_stream();
    if chunked {
        out.put_slice(b"transfer-encoding: chunked\r\n");
    } else if !bodiless && !length {
        out.put_slice(b"content-length: 0\r\n");
    }
    out.put_slice(b"\r\n");
    chunked
}

impl AsyncWrite for ServerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Outgoing::Head(head) = &mut this.request {
            // The head nearly always comes whole in one write: parsed where it is, and kept
            // only when it is not whole yet.
            let earlier = std::mem::take(head);
            let started = if earlier.is_empty() {
                this.poll_start(cx, buf)
            } else {
                let mut whole = earlier.clone();
                whole.extend_from_slice(buf);
                this.poll_start(cx, &whole)
            };
            match started {
                Poll::Ready(Ok(sent)) => {
                    if !sent {
                        let mut earlier = earlier;
                        earlier.extend_from_slice(buf);
                        this.request = Outgoing::Head(earlier);
                    }
                    this.write_wait.progress();
                    return Poll::Ready(Ok(buf.len()));
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => {
                    // No free stream yet: the bytes are taken when there is one.
                    this.request = Outgoing::Head(earlier);
                    return this.write_wait.pending(cx);
                }
            }
        }
        match &mut this.request {
            Outgoing::Body(body) => body.poll_write(cx, buf, &mut this.write_wait),
            _ => Poll::Ready(Ok(buf.len())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Outgoing::Body(body) = &mut self.get_mut().request {
            body.finish();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for ServerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            match &mut this.response {
                Incoming::NotAsked => {
                    return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
                }
                Incoming::Waiting(future) => match Pin::new(future).poll(cx) {
                    Poll::Ready(Ok(response)) => {
                        this.read_wait.progress();
                        if head_bound(&response) > buf.len() {
                            let mut head = BytesMut::with_capacity(256);
                            let chunked = response_head(&response, this.head_request, &mut head);
                            let mut body = BodyIn::new(response.into_body(), chunked);
                            body.stage(head.freeze());
                            this.response = Incoming::Body(body);
                            continue;
                        }
                        // The head fits (nearly always): written where the exchange reads it.
                        let room = buf.len();
                        let mut out = &mut buf[..];
                        let chunked = response_head(&response, this.head_request, &mut out);
                        let written = room - out.len();
                        this.response = Incoming::Body(BodyIn::new(response.into_body(), chunked));
                        this.release_when_done();
                        return Poll::Ready(Ok(written));
                    }
                    Poll::Ready(Err(error)) => {
                        // Refused unprocessed, by a reset or past a GOAWAY (RFC 9113 §8.7).
                        if error.reason() == Some(Reason::REFUSED_STREAM)
                            || (error.is_go_away() && error.reason() == Some(Reason::NO_ERROR))
                        {
                            this.refused = true;
                        }
                        return Poll::Ready(Err(stream_error(error)));
                    }
                    Poll::Pending => return this.read_wait.pending(cx),
                },
                Incoming::Body(body) => {
                    let read = body.poll_read(cx, buf, &mut this.read_wait);
                    this.release_when_done();
                    return read;
                }
            }
        }
    }
}

impl Transport for ServerStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_wait.set(timeout, false)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.write_wait.set(timeout, false)
    }

    fn reset_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_wait.set(timeout, true)
    }

    fn reset_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.write_wait.set(timeout, true)
    }

    fn idle_check(&self) -> IdleCheck {
        IdleCheck::Quiet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_and_translate(raw: &[u8]) -> (Request<()>, BodyKind) {
        let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
        let mut parsed = httparse::Request::new(&mut fields);
        parsed.parse(raw).unwrap();
        let copy = Bytes::copy_from_slice(raw);
        let shared = Shared {
            parsed: raw,
            bytes: &copy,
        };
        translate(
            &parsed,
            &Scheme::HTTP,
            "10.0.0.1:80".parse().unwrap(),
            shared,
        )
        .unwrap()
    }

    #[test]
    fn an_http_1_1_request_becomes_pseudo_headers_and_fields() {
        let (request, body) = parse_and_translate(
            b"POST /up?x=1 HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, x-hop\r\n\
              x-hop: 1\r\nx-keep: 2\r\ncontent-length: 5\r\nte: gzip\r\n\r\n",
        );
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri().to_string(), "http://example.com/up?x=1");
        assert_eq!(body, BodyKind::Length(5));
        let names: Vec<&str> = request.headers().keys().map(|name| name.as_str()).collect();
        assert_eq!(names, ["x-keep", "content-length"]);
    }

    #[test]
    fn a_chunked_body_loses_its_framing_and_a_missing_host_takes_the_server_address() {
        let (request, body) =
            parse_and_translate(b"PUT /a HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n");
        assert_eq!(body, BodyKind::Chunked);
        assert_eq!(request.uri().to_string(), "http://10.0.0.1:80/a");
        assert!(request.headers().is_empty());
    }
}
