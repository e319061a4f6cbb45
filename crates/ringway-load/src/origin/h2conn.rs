//! One origin connection speaking HTTP/2 over clear text with prior
//! knowledge (h2c, `--h2`), driven by the `h2` crate.
//!
//! The connection task runs the h2 handshake and accepts streams, taking
//! every stream already decoded before answering any; a stream whose
//! answer needs no waiting (no request body, no delay, a small response)
//! is answered inline, any other gets its own local task. Each
//! stream is counted like an HTTP/1.1 request, and carries the same
//! `x-origin-*` fields: `x-origin-conn-req` is the stream's rank on its
//! connection. The hooks `status=`, `body=`, `delay=`, `www-auth=`,
//! `set-cookie=`, `echo-cookie=` and `chunked=1` (no content-length, a
//! `x-trailer: 1` trailer) work as over HTTP/1.1; `noresponse=1` and
//! `bad=1` reset the stream; the connection-level hooks (`close=`,
//! `close-after=`, `until-close=`) and `echo=` have no HTTP/2 meaning and
//! are answered with 400.
//!
//! The socket is our `ringway_net::Socket` (futures-io), adapted to
//! tokio's I/O traits by `tokio_util::compat`: h2 already depends on
//! tokio-util, so the adapter costs no new crate.

use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::future::poll_once;
use h2::server::{Builder, SendResponse};
use h2::{Reason, RecvStream, SendStream};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use ringway_net::Socket;
use tokio_util::compat::FuturesAsyncReadCompatExt;

use super::conn::{begin_conn, LiveGuard, ThreadCtx};
use super::hooks::Hooks;
use super::response::origin_body;

/// Streams one connection may have open at once (SETTINGS).
const MAX_CONCURRENT_STREAMS: u32 = 256;
/// Largest decoded header list accepted (SETTINGS); larger heads are
/// refused by h2 with a 431-like stream error.
const MAX_HEADER_LIST_SIZE: u32 = 64 << 10;
/// Streams reset by the client before we accepted them, tolerated at once
/// (rapid reset, CVE-2023-44487): beyond it the connection gets GOAWAY.
const MAX_PENDING_ACCEPT_RESETS: usize = 64;
/// Streams we reset for protocol errors before the connection is closed.
const MAX_LOCAL_ERROR_RESETS: usize = 256;
/// Responses up to this size are queued at once: they fit the initial
/// flow-control window. Larger ones wait for window as they go.
const INLINE_BODY: usize = 16 << 10;
/// Largest DATA frame payload queued at a time for large bodies.
const DATA_PIECE: usize = 16 << 10;
/// Longest single sleep of a `delay`; a stopping thread notices within it.
const DELAY_SLICE: Duration = Duration::from_millis(50);

thread_local! {
    /// The body pattern, long enough that any piece of `DATA_PIECE` bytes
    /// at any offset is a slice of it: response bodies share it, uncopied.
    static PATTERN: Bytes = Bytes::from(origin_body(DATA_PIECE + 64));
}

/// `len` body bytes starting at body offset `offset` (`len <= DATA_PIECE`).
fn pattern(offset: usize, len: usize) -> Bytes {
    let start = offset % 64;
    PATTERN.with(|p| p.slice(start..start + len))
}

/// Serves one accepted connection as HTTP/2 until it closes.
pub(crate) async fn serve_h2(tcp: Socket, ctx: Rc<ThreadCtx>) {
    let (id, counted) = begin_conn(&tcp, &ctx);
    let _guard = LiveGuard {
        ctx: ctx.clone(),
        id,
        served: counted.clone(),
    };
    let mut conn = match Builder::new()
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_header_list_size(MAX_HEADER_LIST_SIZE)
        .max_pending_accept_reset_streams(MAX_PENDING_ACCEPT_RESETS)
        .max_local_error_reset_streams(Some(MAX_LOCAL_ERROR_RESETS))
        .handshake::<_, Bytes>(tcp.compat())
        .await
    {
        Ok(conn) => conn,
        Err(_) => return,
    };
    let mut served = 0u64;
    // Streams h2 has decoded and we have not answered yet. They are answered
    // only once accepting would wait: h2 writes out what is queued each time
    // it is polled, so answering each stream as it comes costs one send per
    // response, answering the batch one send per batch (docs/http2.md).
    let mut batch = Vec::new();
    loop {
        let next = match poll_once(conn.accept()).await {
            Some(next) => next,
            None => {
                for (stream, request, respond) in batch.drain(..) {
                    answer(stream, request, respond);
                }
                conn.accept().await
            }
        };
        let Some(Ok((request, respond))) = next else {
            break;
        };
        served += 1;
        let max = ctx.max_requests_per_conn;
        if max > 0 && served == max {
            // GOAWAY: the streams already open still complete.
            conn.graceful_shutdown();
        }
        let stream = Stream {
            ctx: ctx.clone(),
            conn_id: id,
            conn_req: served,
            counted: counted.clone(),
        };
        batch.push((stream, request, respond));
    }
}

/// Answers a stream at once, or from its own task when it has to wait.
fn answer(stream: Stream, request: Request<RecvStream>, respond: SendResponse<Bytes>) {
    if stream.is_quick(&request) {
        stream.answer_now(request, respond);
    } else {
        ringway_net::spawn(stream.answer(request, respond)).detach();
    }
}

/// One stream's answer.
struct Stream {
    ctx: Rc<ThreadCtx>,
    conn_id: u64,
    conn_req: u64,
    counted: Rc<Cell<bool>>,
}

impl Stream {
    /// Whether the stream can be answered at once: no request body to
    /// wait for, no delay, a response that fits the window.
    fn is_quick(&self, request: &Request<RecvStream>) -> bool {
        if !request.body().is_end_stream() {
            return false;
        }
        match Hooks::parse(request.uri().query().unwrap_or("").as_bytes()) {
            Ok(h) => {
                h.delay.unwrap_or(self.ctx.delay).is_zero()
                    && h.body.unwrap_or(self.ctx.body_size) <= INLINE_BODY
            }
            Err(_) => true,
        }
    }

    /// Answers a quick stream (see [`Stream::is_quick`]) without waiting.
    fn answer_now(&self, request: Request<RecvStream>, mut respond: SendResponse<Bytes>) {
        let (head, _) = request.into_parts();
        let hooks = Hooks::parse(head.uri.query().unwrap_or("").as_bytes());
        if let Some((mut send, len, chunked)) = self.head(&head, hooks, 0, &mut respond) {
            let _ = send.send_data(pattern(0, len), !chunked);
            if chunked {
                let _ = send.send_trailers(trailers());
            }
        }
    }

    /// Reads the request body, waits out any delay, answers.
    async fn answer(self, request: Request<RecvStream>, mut respond: SendResponse<Bytes>) {
        let (head, mut body) = request.into_parts();
        let mut req_body = 0u64;
        while let Some(data) = body.data().await {
            let Ok(data) = data else { return };
            req_body += data.len() as u64;
            let _ = body.flow_control().release_capacity(data.len());
        }
        let hooks = Hooks::parse(head.uri.query().unwrap_or("").as_bytes());
        if let Ok(h) = &hooks {
            let delay = h.delay.unwrap_or(self.ctx.delay);
            self.sleep(delay).await;
        }
        let Some((mut send, len, chunked)) = self.head(&head, hooks, req_body, &mut respond) else {
            return;
        };
        let mut offset = 0;
        while offset < len {
            let want = (len - offset).min(DATA_PIECE);
            send.reserve_capacity(want);
            let granted = match poll_fn(|cx| send.poll_capacity(cx)).await {
                Some(Ok(n)) if n > 0 => n.min(want),
                Some(Ok(_)) => continue,
                // The stream was reset or the connection is gone.
                _ => return,
            };
            let last = offset + granted == len && !chunked;
            if send.send_data(pattern(offset, granted), last).is_err() {
                return;
            }
            offset += granted;
        }
        if chunked {
            let _ = send.send_trailers(trailers());
        }
    }

    /// Counts the request and sends the response head. Returns the body
    /// stream, the body length and whether trailers follow, or `None` when
    /// the response is complete (or the stream was reset).
    fn head(
        &self,
        head: &http::request::Parts,
        hooks: Result<Hooks, &'static str>,
        req_body: u64,
        respond: &mut SendResponse<Bytes>,
    ) -> Option<(SendStream<Bytes>, usize, bool)> {
        let ctx = &self.ctx;
        let mut response = Response::new(());
        let headers = response.headers_mut();
        insert(headers, "x-origin-conn", &self.conn_id.to_string());
        insert(headers, "x-origin-conn-req", &self.conn_req.to_string());
        insert(headers, "x-origin-req-body", &req_body.to_string());
        if let Some(name) = &ctx.name {
            insert(headers, "x-origin-name", name);
        }
        let is_head = head.method == http::Method::HEAD;
        let fixed = match head.uri.path() {
            "/__origin/stats" => Some(Bytes::from(
                serde_json::to_vec(&ctx.stats.snapshot()).unwrap_or_default(),
            )),
            "/__origin/reset" => {
                ctx.stats.reset();
                Some(Bytes::new())
            }
            _ => None,
        };
        if let Some(body) = fixed {
            if !body.is_empty() {
                insert(response.headers_mut(), "content-type", "application/json");
            }
            return finish(respond, response, body, is_head);
        }
        if !self.counted.replace(true) {
            ctx.stats.on_first_request();
        }
        ctx.stats.on_request(ctx.shard, self.conn_id);
        let hooks = match hooks.and_then(h2_only) {
            Ok(hooks) => hooks,
            Err(reason) => {
                *response.status_mut() = StatusCode::BAD_REQUEST;
                return finish(
                    respond,
                    response,
                    Bytes::from(format!("{reason}\n")),
                    is_head,
                );
            }
        };
        if hooks.no_response || hooks.bad {
            respond.send_reset(Reason::INTERNAL_ERROR);
            return None;
        }
        let status = hooks.status.unwrap_or(200);
        *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        let headers = response.headers_mut();
        if let Some(auth) = &hooks.www_auth {
            insert(headers, "www-authenticate", auth);
        }
        if let Some(cookie) = &hooks.set_cookie {
            insert(headers, "set-cookie", cookie);
        }
        if hooks.echo_cookie {
            let cookies: Vec<&str> = head
                .headers
                .get_all("cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            let joined = if cookies.is_empty() {
                "-".to_owned()
            } else {
                cookies.join("; ")
            };
            insert(headers, "x-origin-cookie", &joined);
        }
        let len = hooks.body.unwrap_or(ctx.body_size);
        if status != 204 {
            if !hooks.chunked {
                insert(headers, "content-length", &len.to_string());
            } else {
                insert(headers, "trailer", "x-trailer");
            }
        }
        let send_body = !is_head && status != 204 && status != 304 && len > 0;
        let chunked = hooks.chunked && send_body;
        let send = respond
            .send_response(response, !send_body && !chunked)
            .ok()?;
        send_body.then_some((send, len, chunked))
    }

    async fn sleep(&self, delay: Duration) {
        let until = Instant::now() + delay;
        loop {
            let now = Instant::now();
            if now >= until || self.ctx.stopping.get() {
                return;
            }
            glommio::timer::sleep((until - now).min(DELAY_SLICE)).await;
        }
    }
}

/// Rejects the hooks that only make sense on an HTTP/1.1 connection.
fn h2_only(hooks: Hooks) -> Result<Hooks, &'static str> {
    if hooks.close || hooks.close_after || hooks.until_close || hooks.echo {
        return Err("close=, close-after=, until-close= and echo= are HTTP/1.1 only");
    }
    Ok(hooks)
}

/// Sends a complete response with a fixed body.
fn finish(
    respond: &mut SendResponse<Bytes>,
    mut response: Response<()>,
    body: Bytes,
    is_head: bool,
) -> Option<(SendStream<Bytes>, usize, bool)> {
    insert(
        response.headers_mut(),
        "content-length",
        &body.len().to_string(),
    );
    let empty = is_head || body.is_empty();
    let mut send = respond.send_response(response, empty).ok()?;
    if !empty {
        let _ = send.send_data(body, true);
    }
    None
}

fn trailers() -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("x-trailer", HeaderValue::from_static("1"));
    map
}

/// Inserts a field whose value came from a hook or a number; a value that
/// is not a valid field value (hooks reject those) is left out.
fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.append(name, value);
    }
}
