//! One origin connection: read requests, read their bodies, answer them in
//! order, close when asked to.
//!
//! Pipelining falls out of the structure: requests are taken from the
//! receive buffer one at a time and responses are appended to one output
//! buffer, flushed before the connection blocks on a read, before a delay,
//! and before closing. Closing is "lingering": shut down the write side,
//! then drain what the client still sends for a short while, so the client
//! sees our last bytes and a FIN rather than a reset.
//!
//! Plain and TLS connections run the same code over a [`NetStream`]: a TLS
//! connection first completes its handshake (`tls.rs`), tags its responses
//! with `x-origin-sni`, and sends close_notify before closing.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::net::Shutdown;
use std::os::unix::io::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::AsyncReadExt;
use ringway_http::{BodyFramer, BodyKind};
use ringway_net::Socket;
use ringway_tls::NetStream;

use super::hooks::Hooks;
use super::request::{parse_head, Framing, HeadError, RequestHead, Route};
use super::response::{
    append_pattern, write_chunk_header, write_head, write_last_chunk, BodyMode, HeadSpec,
    CHUNK_SIZE,
};
use super::stats::{next_conn_id, SharedStats};
use super::tls::Acceptor;

/// Initial receive buffer size.
const IN_BUF_START: usize = 16 << 10;
/// Largest receive buffer, which is also the largest request head accepted.
const IN_BUF_MAX: usize = 64 << 10;
/// Output is flushed once this much is buffered.
const OUT_FLUSH: usize = 64 << 10;
/// How long a closing connection keeps draining client bytes.
const LINGER: Duration = Duration::from_millis(500);
/// Most bytes drained while lingering.
const LINGER_BYTES: usize = 1 << 20;
/// Longest single sleep of a `delay`; a stopping thread notices within it.
const DELAY_SLICE: Duration = Duration::from_millis(50);

/// Per-thread settings and counters every connection of the thread shares.
pub(crate) struct ThreadCtx {
    pub shard: usize,
    pub stats: Arc<SharedStats>,
    pub body_size: usize,
    pub delay: Duration,
    pub keepalive_timeout: Duration,
    pub max_requests_per_conn: u64,
    /// Sent as `x-origin-name` on every response.
    pub name: Option<String>,
    /// Serve HTTP/2 with prior knowledge (`h2conn.rs`) instead of HTTP/1.1.
    pub h2: bool,
    /// Set for an HTTPS origin.
    pub tls: Option<Acceptor>,
    /// Sockets of the live connections, by connection id, so that stopping
    /// the thread can shut them down.
    pub live: RefCell<HashMap<u64, RawFd>>,
    /// The thread is stopping: delays end early.
    pub stopping: Cell<bool>,
}

impl ThreadCtx {
    /// Shuts down every live connection: their clients see the close at
    /// once and their tasks wake up to a dead socket and end.
    pub(crate) fn shutdown_all(&self) {
        self.stopping.set(true);
        for &fd in self.live.borrow().values() {
            // SAFETY: the fd belongs to a connection that is still alive
            // (it unregisters before its socket is closed); shutdown does
            // not close it.
            unsafe {
                libc::shutdown(fd, libc::SHUT_RDWR);
            }
        }
    }
}

/// Keeps a connection registered in [`ThreadCtx::live`] while it exists.
pub(crate) struct LiveGuard {
    pub ctx: Rc<ThreadCtx>,
    pub id: u64,
    /// The connection carried a counted request (see `OriginStats::open_max`).
    pub served: Rc<Cell<bool>>,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.ctx.live.borrow_mut().remove(&self.id);
        self.ctx.stats.on_close(self.served.get());
    }
}

/// Counts an accepted connection, sets its socket options and registers it as live (HTTP/1.1
/// and HTTP/2 alike): its id, and the flag telling whether it carried a counted request.
pub(crate) fn begin_conn(tcp: &Socket, ctx: &ThreadCtx) -> (u64, Rc<Cell<bool>>) {
    ctx.stats.on_accept(ctx.shard);
    let _ = tcp.set_nodelay(true);
    if !ctx.keepalive_timeout.is_zero() {
        let _ = tcp.set_read_timeout(Some(ctx.keepalive_timeout));
    }
    let id = next_conn_id();
    ctx.live.borrow_mut().insert(id, tcp.as_raw_fd());
    (id, Rc::new(Cell::new(false)))
}

/// Serves one accepted connection until it closes.
pub(crate) async fn serve(tcp: Socket, ctx: Rc<ThreadCtx>) {
    let (id, counted) = begin_conn(&tcp, &ctx);
    let tls = match &ctx.tls {
        None => None,
        Some(acceptor) => match acceptor.start(&ctx.stats, ctx.shard) {
            Some(state) => Some(state),
            None => {
                ctx.live.borrow_mut().remove(&id);
                ctx.stats.on_close(false);
                return;
            }
        },
    };
    let mut conn = Conn {
        stream: NetStream::from_parts(tcp, tls),
        sni: None,
        ctx: ctx.clone(),
        id,
        served: 0,
        inbuf: vec![0; IN_BUF_START],
        start: 0,
        end: 0,
        out: Vec::with_capacity(4 << 10),
        echo: Vec::new(),
        counted: counted.clone(),
    };
    // Declared after `conn`, so it unregisters the socket before `conn`
    // closes it.
    let _guard = LiveGuard {
        ctx: ctx.clone(),
        id,
        served: counted,
    };
    if let Some(acceptor) = &ctx.tls {
        match acceptor
            .handshake(&mut conn.stream, &ctx.stats, ctx.shard)
            .await
        {
            Some(sni) => conn.sni = Some(sni),
            None => return,
        }
    }
    if let Ok(Ending::Close) = conn.run().await {
        conn.linger().await;
    }
}

/// How a connection's request loop ended without an I/O error.
enum Ending {
    /// The client closed (or went idle past the keep-alive timeout).
    Eof,
    /// We decided to close: the output is flushed, linger then drop.
    Close,
}

/// What to do after a response.
#[derive(PartialEq, Eq)]
enum Next {
    KeepAlive,
    Close,
}

struct Conn {
    stream: NetStream<Socket>,
    /// TLS only: the SNI the client sent (`-` for none), for `x-origin-sni`.
    sni: Option<Rc<str>>,
    ctx: Rc<ThreadCtx>,
    id: u64,
    /// Requests answered (or being answered) on this connection.
    served: u64,
    /// Receive buffer, used at its full length; `start..end` is unread.
    inbuf: Vec<u8>,
    start: usize,
    end: usize,
    out: Vec<u8>,
    /// Copy of the current head when `echo=1` asked for it.
    echo: Vec<u8>,
    /// Set by the first counted request (shared with the `LiveGuard`).
    counted: Rc<Cell<bool>>,
}

impl Conn {
    async fn run(&mut self) -> io::Result<Ending> {
        loop {
            let head = match self.next_head().await? {
                None => return Ok(Ending::Eof),
                Some(Ok(head)) => head,
                Some(Err(err)) => {
                    self.served += 1;
                    self.error_response(err);
                    self.flush().await?;
                    return Ok(Ending::Close);
                }
            };
            let wants_echo = matches!(&head.hooks, Ok(h) if h.echo);
            self.echo.clear();
            if wants_echo {
                let raw = &self.inbuf[self.start..self.start + head.len];
                self.echo.extend_from_slice(raw);
            }
            self.start += head.len;

            let expects_body = match head.framing {
                Framing::Length(n) => n > 0,
                Framing::Chunked => true,
            };
            if head.expect_continue && expects_body && self.start == self.end {
                self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            let body = match self.read_body(head.framing).await? {
                Some(n) => n,
                None => {
                    self.served += 1;
                    self.error_response(HeadError {
                        status: 400,
                        reason: "malformed chunked body",
                    });
                    self.flush().await?;
                    return Ok(Ending::Close);
                }
            };
            self.served += 1;
            if self.respond(&head, body).await? == Next::Close {
                self.flush().await?;
                return Ok(Ending::Close);
            }
        }
    }

    /// The next complete request head, `None` at end of stream, or the
    /// reason the head cannot be served.
    async fn next_head(&mut self) -> io::Result<Option<Result<RequestHead, HeadError>>> {
        loop {
            if self.end > self.start {
                match parse_head(&self.inbuf[self.start..self.end]) {
                    Ok(Some(head)) => return Ok(Some(Ok(head))),
                    Ok(None) if self.start == 0 && self.end == self.inbuf.len() => {
                        if self.inbuf.len() >= IN_BUF_MAX {
                            return Ok(Some(Err(HeadError {
                                status: 431,
                                reason: "request head too large",
                            })));
                        }
                        let grown = (self.inbuf.len() * 2).min(IN_BUF_MAX);
                        self.inbuf.resize(grown, 0);
                    }
                    Ok(None) => {}
                    Err(err) => return Ok(Some(Err(err))),
                }
            }
            match self.fill().await {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                // Idle past the keep-alive timeout: just close.
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads and discards the body; returns its length in bytes, or `None`
    /// if the chunked framing is malformed.
    async fn read_body(&mut self, framing: Framing) -> io::Result<Option<u64>> {
        let mut total = 0u64;
        match framing {
            Framing::Length(mut left) => {
                while left > 0 {
                    if self.start == self.end && self.fill().await? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    let avail = (self.end - self.start) as u64;
                    let take = avail.min(left);
                    self.start += take as usize;
                    left -= take;
                    total += take;
                }
            }
            Framing::Chunked => {
                let mut framer = BodyFramer::new(BodyKind::Chunked);
                loop {
                    let progress = match framer.feed(&self.inbuf[self.start..self.end]) {
                        Ok(p) => p,
                        Err(_) => return Ok(None),
                    };
                    self.start += progress.consumed;
                    total += progress.data as u64;
                    if progress.done {
                        break;
                    }
                    if self.fill().await? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
            }
        }
        Ok(Some(total))
    }

    async fn respond(&mut self, head: &RequestHead, req_body: u64) -> io::Result<Next> {
        let max = self.ctx.max_requests_per_conn;
        let close = !head.keep_alive || head.ambiguous || (max > 0 && self.served >= max);
        let sni = self.sni.clone();
        let ctx = self.ctx.clone();
        let mut spec = HeadSpec {
            status: 200,
            conn_id: self.id,
            conn_req: self.served,
            req_body,
            body_len: 0,
            mode: BodyMode::Length,
            close,
            keep_alive_1_0: false,
            www_auth: None,
            content_type: None,
            sni: sni.as_deref(),
            name: ctx.name.as_deref(),
            set_cookie: None,
            cookie: None,
        };
        match head.route {
            Route::Stats => {
                let json = serde_json::to_vec(&self.ctx.stats.snapshot()).unwrap_or_default();
                spec.body_len = json.len();
                spec.content_type = Some("application/json");
                spec.keep_alive_1_0 = head.minor == 0 && !close;
                write_head(&mut self.out, &spec);
                if !head.is_head {
                    self.out.extend_from_slice(&json);
                }
            }
            Route::Reset => {
                self.ctx.stats.reset();
                spec.keep_alive_1_0 = head.minor == 0 && !close;
                write_head(&mut self.out, &spec);
            }
            Route::Normal => {
                if !self.counted.replace(true) {
                    self.ctx.stats.on_first_request();
                }
                self.ctx.stats.on_request(self.ctx.shard, self.id);
                match &head.hooks {
                    Ok(hooks) => return self.respond_hooks(head, hooks, spec).await,
                    Err(reason) => {
                        spec.status = 400;
                        spec.body_len = reason.len() + 1;
                        spec.keep_alive_1_0 = head.minor == 0 && !close;
                        write_head(&mut self.out, &spec);
                        if !head.is_head {
                            self.out.extend_from_slice(reason.as_bytes());
                            self.out.push(b'\n');
                        }
                    }
                }
            }
        }
        if self.out.len() >= OUT_FLUSH {
            self.flush().await?;
        }
        Ok(if close { Next::Close } else { Next::KeepAlive })
    }

    async fn respond_hooks(
        &mut self,
        head: &RequestHead,
        hooks: &Hooks,
        mut spec: HeadSpec<'_>,
    ) -> io::Result<Next> {
        let delay = hooks.delay.unwrap_or(self.ctx.delay);
        if !delay.is_zero() {
            self.flush().await?;
            self.sleep(delay).await;
        }
        if hooks.no_response {
            return Ok(Next::Close);
        }
        if hooks.bad {
            self.out.extend_from_slice(b"garbage\r\n\r\n");
            return Ok(Next::Close);
        }

        let status = hooks.status.unwrap_or(200);
        let body_len = if hooks.echo {
            self.echo.len()
        } else {
            hooks.body.unwrap_or(self.ctx.body_size)
        };
        // 204 carries neither body nor length; 304 and HEAD carry the length
        // the body would have had, but no body.
        let no_length = status == 204;
        let send_body = !head.is_head && status != 204 && status != 304;
        let mode = if no_length {
            BodyMode::None
        } else if hooks.until_close {
            BodyMode::UntilClose
        } else if hooks.chunked && head.minor >= 1 {
            BodyMode::Chunked
        } else {
            BodyMode::Length
        };
        spec.close |= hooks.close || mode == BodyMode::UntilClose;
        spec.status = status;
        spec.body_len = body_len;
        spec.mode = mode;
        spec.keep_alive_1_0 = head.minor == 0 && !spec.close;
        spec.www_auth = hooks.www_auth.as_deref();
        spec.set_cookie = hooks.set_cookie.as_deref();
        spec.cookie = head.cookie.as_deref();
        write_head(&mut self.out, &spec);
        // close-after: the head says keep-alive, the connection closes anyway.
        let close = spec.close || hooks.close_after;
        if send_body {
            self.send_body(body_len, hooks.echo, mode == BodyMode::Chunked)
                .await?;
        }
        Ok(if close { Next::Close } else { Next::KeepAlive })
    }

    /// Sleeps for `delay`, in slices so that a stopping thread does not
    /// wait for long delays to run out.
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

    /// Appends (and flushes as it goes) a body of `len` bytes: the echoed
    /// head or the pattern, chunked or not.
    async fn send_body(&mut self, len: usize, echo: bool, chunked: bool) -> io::Result<()> {
        let mut offset = 0;
        while offset < len {
            let take = (len - offset).min(CHUNK_SIZE);
            if chunked {
                write_chunk_header(&mut self.out, take);
            }
            if echo {
                let part = self.echo.get(offset..offset + take).unwrap_or_default();
                self.out.extend_from_slice(part);
            } else {
                append_pattern(&mut self.out, offset, take);
            }
            if chunked {
                self.out.extend_from_slice(b"\r\n");
            }
            offset += take;
            if self.out.len() >= OUT_FLUSH {
                self.flush().await?;
            }
        }
        if chunked {
            write_last_chunk(&mut self.out);
        }
        Ok(())
    }

    fn error_response(&mut self, err: HeadError) {
        let sni = self.sni.clone();
        let spec = HeadSpec {
            status: err.status,
            conn_id: self.id,
            conn_req: self.served,
            req_body: 0,
            body_len: err.reason.len() + 1,
            mode: BodyMode::Length,
            close: true,
            keep_alive_1_0: false,
            www_auth: None,
            content_type: None,
            sni: sni.as_deref(),
            name: self.ctx.name.as_deref(),
            set_cookie: None,
            cookie: None,
        };
        write_head(&mut self.out, &spec);
        self.out.extend_from_slice(err.reason.as_bytes());
        self.out.push(b'\n');
    }

    /// Flushes pending output, then reads more bytes after the unconsumed
    /// ones. Returns 0 at end of stream.
    async fn fill(&mut self) -> io::Result<usize> {
        self.flush().await?;
        if self.start > 0 {
            self.inbuf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = self.stream.read(&mut self.inbuf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Half-closes, then drains the client's bytes for a short while so the
    /// close reaches it as a FIN after our last response.
    async fn linger(&mut self) {
        // TLS: close_notify first (best effort); what the client sends after
        // it is drained below as raw bytes, never decrypted.
        if self.stream.close_notify().await.is_err() {
            return;
        }
        let tcp = self.stream.io_mut();
        if tcp.shutdown(Shutdown::Write).is_err() {
            return;
        }
        let _ = tcp.set_read_timeout(Some(LINGER));
        let deadline = Instant::now() + LINGER;
        let mut drained = 0;
        while drained < LINGER_BYTES && Instant::now() < deadline {
            match tcp.read(&mut self.inbuf[..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    }
}
