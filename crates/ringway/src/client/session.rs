//! A client session: one accepted client connection on one shard, from its first request to its
//! close. Reads request heads (with the http-request and keep-alive timeouts), routes them,
//! answers errors, and keeps the server connections that are private to it.

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_lite::AsyncReadExt;
use ringway_http::{
    parse_request, write_error_response, ForwardHeaders, Forwarding, HttpError, RequestHead,
};
use ringway_net::Socket;

use crate::client::exchange::{Began, Outcome};
use crate::client::forward::{tunnel, TunnelTimeouts};
use crate::client::h2::PREFACE;
use crate::client::iobuf::{HeadBuf, IoBuf};
use crate::client::proxy_protocol::{read_client_header, ClientAddrs};
use crate::client::request_state::RequestSlot;
use crate::client::transport::{ClientIo, ClientStream, Transport};
use crate::error::{is_timeout, ProxyError};
use crate::http2::abort::{Abort, Abortable};
use crate::logging::access_log::RequestLog;
use crate::process::shard::ShardCtx;
use crate::server::server_conn::ServerConn;
use crate::tls::{self, Stream};

/// Initial size of a session's receive buffers; they grow up to the head limit when needed.
const BUFFER_SIZE: usize = 16 * 1024;
/// An HTTP/2 stream's request buffer: it holds the request head and pieces of its body, which
/// come in DATA frames the stream hands over as they are read.
const STREAM_BUFFER_SIZE: usize = 4 * 1024;
/// How long, and how many bytes, an error response's lingering close reads before closing.
const LINGER_TIME: std::time::Duration = std::time::Duration::from_millis(500);
const LINGER_BYTES: usize = 256 * 1024;
/// At most this many idle private server connections per session, as HAProxy's
/// `max-session-srv-conns`.
pub(crate) const MAX_PRIVATE_CONNS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionPhase {
    /// Waiting for (the rest of) a request head.
    Reading,
    /// Waiting for the next request on a kept-alive connection.
    Idle,
    /// A request is being served.
    Busy,
    /// Relaying an upgraded connection.
    Tunnel,
}

/// The session's HTTP/2 streams watch its abort (`shutdown session`).
impl Abortable for SessionInfo {
    fn abort(&self) -> &Abort {
        &self.abort
    }
}

/// What the shard and the control plane can see of a session, in an `Rc` shared with the
/// shard's registry: 144 bytes, so the `Rc` lands in mimalloc's 160-byte class (a unit test
/// pins it; it was 192 with a `usize` pair for the server and an `Option<u64>`).
pub struct SessionInfo {
    pub id: u64,
    pub peer: SocketAddr,
    pub frontend: usize,
    /// When the client connection was accepted.
    pub accepted: Instant,
    /// When the current (or last) request's first byte arrived; the accept for the first.
    pub request_began: Cell<Instant>,
    /// Requests completed on the connection.
    pub requests: Cell<u64>,
    pub phase: Cell<SessionPhase>,
    /// The server serving the current request.
    pub server: ServerInUse,
    /// The socket of the server connection carrying the current request, or -1.
    pub server_fd: Cell<i32>,
    /// For an HTTP/2 stream, the session id of its connection (ids start at 1).
    h2_conn: Option<NonZeroU64>,
    /// The client socket; -1 for an HTTP/2 stream, which shares its connection's.
    fd: i32,
    shut: Cell<bool>,
    /// What `shutdown session` fires for the session's HTTP/2 streams.
    abort: Abort,
}

impl SessionInfo {
    /// Shuts the client socket down, and the socket of the server connection in use: the
    /// session's pending I/O fails at once and the session ends.
    pub fn shutdown(&self) {
        if !self.shut.replace(true) {
            // SAFETY: the session removes itself from the shard's registry before its stream is
            // dropped, so `fd` is open for as long as this entry can be reached; `server_fd` is
            // set only while its connection is held by the session's exchange.
            unsafe {
                if self.fd >= 0 {
                    libc::shutdown(self.fd, libc::SHUT_RDWR);
                }
                let server = self.server_fd.get();
                if server >= 0 {
                    libc::shutdown(server, libc::SHUT_RDWR);
                }
            }
            self.abort.fire();
        }
    }

    /// The session was shut down and is ending.
    pub fn is_shut(&self) -> bool {
        self.shut.get()
    }

    /// For an HTTP/2 stream, the session id of its connection.
    pub fn h2_conn(&self) -> Option<u64> {
        self.h2_conn.map(NonZeroU64::get)
    }

    /// The session of one stream of the HTTP/2 connection `conn`, its request begun now.
    pub fn for_stream(ctx: &ShardCtx, conn: &SessionInfo) -> SessionInfo {
        let now = Instant::now();
        SessionInfo {
            id: ctx.new_session_id(),
            peer: conn.peer,
            frontend: conn.frontend,
            accepted: now,
            request_began: Cell::new(now),
            requests: Cell::new(0),
            phase: Cell::new(SessionPhase::Busy),
            server: ServerInUse::default(),
            server_fd: Cell::new(-1),
            h2_conn: NonZeroU64::new(conn.id),
            fd: -1,
            shut: Cell::new(false),
            abort: Abort::default(),
        }
    }
}

/// The backend and server serving a session's request, as indexes: `u32`s, where a pair of
/// `usize`s would add 12 bytes to every [`SessionInfo`].
#[derive(Default)]
pub struct ServerInUse(Cell<Option<(u32, u32)>>);

impl ServerInUse {
    pub fn get(&self) -> Option<(usize, usize)> {
        self.0
            .get()
            .map(|(backend, server)| (backend as usize, server as usize))
    }

    pub fn set(&self, server: Option<(usize, usize)>) {
        // Indexes of a validated configuration's backends and servers: far below 2^32.
        self.0
            .set(server.map(|(backend, server)| (backend as u32, server as u32)));
    }
}

pub(crate) struct Session {
    pub ctx: Rc<ShardCtx>,
    pub info: Rc<SessionInfo>,
    pub frontend: usize,
    pub client: ClientStream,
    pub client_ip: Rc<str>,
    /// The port the client connected to, when a forwarding field needs it (else 0).
    pub local_port: u16,
    /// Where the client connected to, as its PROXY protocol header announced.
    pub proxied_local: Option<SocketAddr>,
    /// Bytes from the client not yet forwarded.
    pub cbuf: IoBuf,
    /// Bytes from the server not yet forwarded.
    pub sbuf: IoBuf,
    /// The request head to send to the server (kept intact for a retry).
    pub to_server: HeadBuf,
    /// Response heads (and small bodies) for the client.
    pub to_client: HeadBuf,
    /// Server connections owned by this session (never mode, NTLM).
    pub private: Vec<ServerConn>,
    /// Requests completed on this client connection.
    pub requests: u64,
    /// The request being logged, when the frontend has an access log.
    /// Boxed: only frontends with an access log have one, and an idle connection's task
    /// should not carry its room.
    pub log: Option<Box<RequestLog>>,
    /// What the request in flight keeps only while it is served (persistence cookie, phase
    /// marks, host for SNI): 8 bytes here, the rest taken from a free list per request.
    pub request: RequestSlot,
}

/// Serves one accepted client connection, from `peer`, until it closes.
/// TCP_NODELAY comes from the listening socket (`process::listeners`).
///
/// This is the future of the connection's task, and what an idle keep-alive connection costs
/// is mostly its size. It is a [`SessionTask`] rather than an `async fn`: an `async fn` (or
/// block) keeps its arguments (the socket, the address: 144 bytes) in its state for its whole
/// life, while here they live only in the opening's state, which the serving's replaces. The
/// serving's state holds the [`Session`] once and its loop borrows it.
pub fn run_session(
    ctx: Rc<ShardCtx>,
    frontend: usize,
    tcp: Socket,
    peer: SocketAddr,
) -> impl Future<Output = ()> {
    let accepted = Instant::now();
    let counters = &ctx.counters.frontends[frontend];
    counters.sessions.inc();
    counters.conn_tot.inc();
    counters.conn_rate.record(ctx.uptime_ms(accepted));
    ctx.process.open_fds.fetch_add(1, Relaxed);
    SessionTask::Opening {
        opening: open_session(ctx, frontend, tcp, peer, accepted),
        serve: serve_session,
    }
}

pin_project_lite::pin_project! {
    /// A connection's task: its opening (PROXY header, TLS handshake...: `O`), then, if it
    /// yields a session for HTTP/1.x requests, the serving of it (made by the function kept
    /// with the opening: `S`). Each state is dropped in place when the next replaces it.
    #[project = SessionTaskProj]
    #[project_replace = SessionTaskReplace]
    enum SessionTask<O, S> {
        Opening { #[pin] opening: O, serve: fn(Session) -> S },
        Serving { #[pin] serving: S },
        Done,
    }
}

impl<O, S> Future for SessionTask<O, S>
where
    O: Future<Output = Option<Session>>,
    S: Future<Output = ()>,
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match self.as_mut().project() {
                SessionTaskProj::Opening { opening, serve } => {
                    let Poll::Ready(session) = opening.poll(cx) else {
                        return Poll::Pending;
                    };
                    let next = match session {
                        Some(session) => SessionTask::Serving {
                            serving: serve(session),
                        },
                        None => SessionTask::Done,
                    };
                    self.as_mut().project_replace(next);
                }
                SessionTaskProj::Serving { serving } => {
                    if serving.poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    self.as_mut().project_replace(SessionTask::Done);
                }
                SessionTaskProj::Done => return Poll::Ready(()),
            }
        }
    }
}

/// Serves an opened session's HTTP/1.x requests (or hands it to the HTTP/2 server if it
/// begins with the HTTP/2 preface) until the connection closes, then takes it out of the
/// shard's registry. A block rather than an `async fn`: an `async fn` would keep its argument
/// and the local it moves into, twice the session's room; and `Session::serve` is awaited
/// from here, not through one more `async fn` layer (each adds its own references). As an
/// `async fn` the task measured 1 200 bytes instead of 672 (before the request state left
/// the session).
#[allow(clippy::manual_async_fn)]
fn serve_session(mut session: Session) -> impl Future<Output = ()> {
    async move {
        let is_tls = session.client.is_tls();
        if session.serve().await {
            Box::pin(session.serve_h2c()).await;
        } else {
            // Its private server connections are idle, their responses complete: reset, not
            // FIN.
            session.private.drain(..).for_each(ServerConn::reset);
            // A TLS client learns that the close is deliberate, not a truncation.
            let _ = session.client.close_notify().await;
        }
        let ctx = &session.ctx;
        if is_tls {
            ctx.counters.frontends[session.frontend].tls_open.dec();
        }
        ctx.sessions.borrow_mut().remove(&session.info.id);
        // Counted closed before the socket closes (the session drops after this): a client
        // that sees its connection end finds it gone from `scur`.
        session_closed(ctx, session.frontend);
    }
}

/// The connection leaves the frontend's current sessions and the process's open descriptors.
fn session_closed(ctx: &ShardCtx, frontend: usize) {
    ctx.counters.frontends[frontend].sessions.dec();
    ctx.process.open_fds.fetch_sub(1, Relaxed);
}

/// Takes an accepted connection to its first request: the PROXY protocol header if the
/// frontend expects one, the registration with the shard, the TLS handshake. Serves it here
/// if it turns out to be HTTP/2 (ALPN); else returns the session for its requests, registered
/// (None: the connection is done, unregistered and counted closed).
async fn open_session(
    ctx: Rc<ShardCtx>,
    frontend: usize,
    mut tcp: Socket,
    peer: SocketAddr,
    accepted: Instant,
) -> Option<Session> {
    let ctx = &ctx;
    let keepalive = &ctx.process.config.frontends[frontend].tcp_keepalive;
    if keepalive.client {
        let _ = crate::process::set_keepalive(&tcp, keepalive);
    }
    let addrs = if ctx.process.config.frontends[frontend].accept_proxy {
        let Some(addrs) = Box::pin(read_client_header(ctx, frontend, &mut tcp, peer)).await else {
            session_closed(ctx, frontend);
            return None;
        };
        addrs
    } else {
        ClientAddrs { peer, local: None }
    };
    let info = Rc::new(SessionInfo {
        id: ctx.new_session_id(),
        peer: addrs.peer,
        frontend,
        accepted,
        request_began: Cell::new(accepted),
        requests: Cell::new(0),
        phase: Cell::new(SessionPhase::Reading),
        server: ServerInUse::default(),
        server_fd: Cell::new(-1),
        h2_conn: None,
        fd: tcp.as_raw_fd(),
        shut: Cell::new(false),
        abort: Abort::default(),
    });
    ctx.sessions.borrow_mut().insert(info.id, info.clone());
    // getsockname only for the frontends that tell the server the port.
    let forward_headers = ctx.process.config.frontends[frontend].forward_headers;
    let local_port = if forward_headers.contains(ForwardHeaders::X_FORWARDED_PORT) {
        addrs
            .local
            .or_else(|| tcp.local_addr().ok())
            .map_or(0, |addr| addr.port())
    } else {
        0
    };
    let Some(client) = open_client(ctx, &info, tcp).await else {
        ctx.sessions.borrow_mut().remove(&info.id);
        session_closed(ctx, frontend);
        return None;
    };
    let is_tls = client.is_tls();
    if is_tls {
        ctx.counters.frontends[frontend].tls_open.inc();
    }
    let alpn_h2 = client
        .tls()
        .is_some_and(|tls| tls.alpn_protocol() == Some(b"h2"));
    if alpn_h2 {
        let origin = h2_origin(&info, &client, true, local_port, addrs.local);
        // Boxed, as every rare path: a session's task keeps the size of its largest state.
        Box::pin(crate::client::h2::serve(
            ctx,
            origin,
            client,
            bytes::Bytes::new(),
        ))
        .await;
        ctx.counters.frontends[frontend].tls_open.dec();
        ctx.sessions.borrow_mut().remove(&info.id);
        session_closed(ctx, frontend);
        return None;
    }
    let (tcp, tls) = client.into_parts();
    let client = ClientStream::from_parts(ClientIo::Tcp(tcp), tls);
    let client_ip = ip_text(info.peer.ip());
    Some(Session::new(
        ctx,
        &info,
        client_ip,
        client,
        local_port,
        addrs.local,
    ))
}

/// The client connection ready for requests: after the TLS handshake on a TLS frontend (bounded
/// by timeout_http_request; a failure is logged and closes the connection).
async fn open_client(ctx: &ShardCtx, info: &SessionInfo, tcp: Socket) -> Option<Stream> {
    let frontend = &ctx.process.config.frontends[info.frontend];
    let Some(config) = &ctx.process.tls.acceptors[info.frontend] else {
        return Some(Stream::plain(tcp));
    };
    let counters = &ctx.counters.frontends[info.frontend];
    match Box::pin(tls::accept(tcp, config, frontend.timeouts.http_request)).await {
        Ok(stream) => {
            counters.tls.record(stream.resumed());
            Some(stream)
        }
        Err(error) => {
            counters.tls.failed.inc();
            ctx.process.log.warning(format_args!(
                "{} {} session {:#x}: {error}",
                frontend.name, info.peer, info.id
            ));
            None
        }
    }
}

/// The client's address as text (for forwarding fields, logs, `balance source`), in one
/// allocation: `to_string` would grow a `String` and then copy it. An IPv4 address is
/// written here: through `fmt` it took about 1 300 instructions, 7 % of what a `Connection:
/// close` client's connection costs in user space (docs/benchmarks.md).
fn ip_text(ip: std::net::IpAddr) -> Rc<str> {
    use std::io::Write;
    // The longest IPv6 text (an IPv4-mapped address written in full) is 45 bytes.
    let mut text = [0u8; 64];
    let len = match ip {
        std::net::IpAddr::V4(ip) => write_ipv4(ip, &mut text),
        std::net::IpAddr::V6(_) => {
            let mut cursor = std::io::Cursor::new(&mut text[..]);
            let _ = write!(cursor, "{ip}");
            usize::try_from(cursor.position()).unwrap_or(0)
        }
    };
    Rc::from(std::str::from_utf8(&text[..len]).unwrap_or_default())
}

/// Writes `ip` in dotted decimal at the start of `text` (at least 15 bytes); returns its length.
fn write_ipv4(ip: std::net::Ipv4Addr, text: &mut [u8]) -> usize {
    let mut len = 0;
    for (index, octet) in ip.octets().into_iter().enumerate() {
        if index > 0 {
            text[len] = b'.';
            len += 1;
        }
        let digits = [octet / 100, octet / 10 % 10, octet % 10];
        let first = match octet {
            100.. => 0,
            10.. => 1,
            _ => 2,
        };
        for digit in &digits[first..] {
            text[len] = b'0' + digit;
            len += 1;
        }
    }
    len
}

/// What an HTTP/2 connection's streams need to know of it.
fn h2_origin(
    info: &Rc<SessionInfo>,
    client: &Stream,
    tls: bool,
    local_port: u16,
    proxied_local: Option<SocketAddr>,
) -> crate::client::h2::Origin {
    let local = proxied_local
        .or_else(|| client.io().local_addr().ok())
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    crate::client::h2::Origin {
        client_ip: ip_text(info.peer.ip()),
        info: info.clone(),
        tls,
        local,
        local_port,
        proxied_local,
        streams: Cell::new(0),
        private: std::cell::RefCell::new(Vec::new()),
    }
}

/// What became of the wait for a request.
pub(crate) enum Incoming {
    /// A request head, and when it was complete if the clock was read then (at its first byte
    /// on a kept-alive connection, when the whole head came with it), which saves a clock read
    /// per request.
    Request(RequestHead, Option<Instant>),
    /// The client closed, or stayed silent past the keep-alive timeout.
    Closed,
    /// The client sent the HTTP/2 connection preface.
    H2Preface,
}

impl Session {
    pub(crate) fn new(
        ctx: &Rc<ShardCtx>,
        info: &Rc<SessionInfo>,
        client_ip: Rc<str>,
        client: ClientStream,
        local_port: u16,
        proxied_local: Option<SocketAddr>,
    ) -> Session {
        let head_limit = ctx.limits.max_head;
        let (frontend, accepted) = (info.frontend, info.accepted);
        let request_buffer = if client.io().is_stream() {
            STREAM_BUFFER_SIZE
        } else {
            BUFFER_SIZE
        };
        Session {
            ctx: ctx.clone(),
            info: info.clone(),
            frontend,
            client,
            client_ip,
            local_port,
            proxied_local,
            cbuf: IoBuf::new(request_buffer, head_limit.max(BUFFER_SIZE)),
            sbuf: IoBuf::new(BUFFER_SIZE, head_limit.max(BUFFER_SIZE)),
            to_server: HeadBuf::default(),
            to_client: HeadBuf::default(),
            private: Vec::new(),
            requests: 0,
            log: RequestLog::for_frontend(ctx, frontend, accepted).map(Box::new),
            request: RequestSlot::default(),
        }
    }

    /// The client began with the HTTP/2 preface (now in `cbuf`): its connection goes to the
    /// HTTP/2 server.
    async fn serve_h2c(&mut self) {
        let prefix = bytes::Bytes::copy_from_slice(self.cbuf.data());
        self.cbuf.release();
        self.sbuf.release();
        let client = std::mem::replace(&mut self.client, ClientStream::plain(ClientIo::Gone));
        let (ClientIo::Tcp(tcp), tls) = client.into_parts() else {
            return;
        };
        let client = Stream::from_parts(tcp, tls);
        let origin = h2_origin(
            &self.info,
            &client,
            false,
            self.local_port,
            self.proxied_local,
        );
        crate::client::h2::serve(&self.ctx, origin, client, prefix).await;
    }

    /// The client's connection is TLS (an HTTP/2 stream's connection, for a stream).
    pub(crate) fn client_tls(&self) -> bool {
        self.client.is_tls() || self.client.io().stream_over_tls()
    }

    /// Serves the requests of an HTTP/1.x connection until it closes; true when it turned out
    /// to be an HTTP/2 connection (the preface is in `cbuf`).
    async fn serve(&mut self) -> bool {
        loop {
            let phase = if self.requests == 0 {
                SessionPhase::Reading
            } else {
                SessionPhase::Idle
            };
            self.info.phase.set(phase);
            let (head, complete) = match self.read_request().await {
                Ok(request) => request,
                Err(h2_preface) => return h2_preface,
            };
            // Boxed: the request's state (the exchange, the relays) lives only while it is
            // served, so an idle keep-alive connection's task stays small.
            let tunnel = match Box::pin(self.serve_request(head, complete)).await {
                // The answer promised the client its connection: a stop that began since
                // closes it once idle (or, for a generation retiring at a reload, after its next
                // answer, which says close), never under a request the client is sending.
                Outcome::KeepAlive => continue,
                Outcome::Close => return false,
                Outcome::Tunnel(conn) => Box::pin(self.relay_tunnel(conn)),
            };
            tunnel.await;
            return false;
        }
    }

    /// The next request's head, and when it was complete if the clock was read then
    /// ([`Incoming::Request`]). Err when none comes: true if the client sent the HTTP/2
    /// preface; a head that could not be read is answered here. (Awaited outside the `match`:
    /// a future awaited in an arm keeps room for the whole matched value in the task.)
    async fn read_request(&mut self) -> Result<(RequestHead, Option<Instant>), bool> {
        let failing = match self.read_head().await {
            Ok(Incoming::Request(head, complete)) => return Ok((head, complete)),
            Ok(Incoming::Closed) => return Err(false),
            Ok(Incoming::H2Preface) => return Err(true),
            Err(error) => Box::pin(self.fail_head(error)),
        };
        failing.await;
        Err(false)
    }

    /// Takes the HTTP/1.1 head of an HTTP/2 stream's request, as if the client had sent it.
    pub(crate) fn put_stream_head(&mut self, head: &[u8]) {
        if head.len() > self.cbuf.spare().len() {
            // A head past the limit is cut, and so answered as too large.
            self.cbuf.grow_to_limit();
        }
        let spare = self.cbuf.spare();
        let taken = head.len().min(spare.len());
        spare[..taken].copy_from_slice(&head[..taken]);
        self.cbuf.filled(taken);
    }

    /// Serves the one request of an HTTP/2 stream, whose head was put first.
    pub(crate) async fn serve_stream(&mut self) {
        match self.read_head().await {
            Ok(Incoming::Request(head, complete)) => {
                // A stream has no upgrade: a 101 from the server ends it.
                let _ = self.serve_request(head, complete).await;
            }
            Ok(_) => {}
            Err(error) => self.fail_head(error).await,
        }
    }

    /// A request head that could not be read: counted, logged, answered.
    async fn fail_head(&mut self, error: ProxyError) {
        self.ctx.counters.frontends[self.frontend].ereq.inc();
        self.capture_bad_request(&error);
        self.log(&error);
        self.log_error(&error, false);
        self.send_error(error.status()).await;
        self.log_end();
    }

    /// One request whose head was read, complete at `complete` if the clock was read then.
    async fn serve_request(&mut self, head: RequestHead, complete: Option<Instant>) -> Outcome {
        {
            self.info.phase.set(SessionPhase::Busy);
            let started = Began::at(&self.ctx, complete.unwrap_or_else(Instant::now));
            let ctx = self.ctx.clone();
            let counters = &ctx.counters.frontends[self.frontend];
            counters.req_tot.inc();
            counters.req_rate.record(started.uptime_ms);
            counters.streams.inc();
            ctx.request_began();
            let outcome = if self.is_monitor_request(&head) {
                self.answer_monitor(&head).await
            } else {
                self.exchange(&head, started).await
            };
            counters.streams.dec();
            self.request.release();
            self.log_end();
            self.ctx.request_ended();
            self.requests += 1;
            self.info.requests.set(self.requests);
            outcome
        }
    }

    /// Reads until a complete request head is in `cbuf`. Ok(None): the client closed, or stayed
    /// silent past the keep-alive timeout.
    ///
    /// The timeouts are read from the configuration where they are used, not kept in locals:
    /// locals that live across the read would weigh on every idle session's task.
    async fn read_head(&mut self) -> Result<Incoming, ProxyError> {
        // A clock read made since the last read from the client, if any: nothing waits before
        // the next read, so it serves as "now" until then (and a head complete at it was
        // complete when it was read): one clock read less per request.
        let mut now = None;
        let mut deadline = None;
        // Part of a head came: the rest is asked for with quick ACKs.
        let mut partial = false;
        if self.requests == 0 {
            let at = Instant::now();
            now = Some(at);
            deadline = Some(at + self.timeouts().http_request);
        }
        loop {
            if !self.cbuf.is_empty() {
                self.log_begin();
                if deadline.is_none() {
                    // The first byte of a request on a kept-alive connection: a request (a
                    // stream, in HAProxy's `show sess`) begins.
                    let at = Instant::now();
                    now = Some(at);
                    deadline = Some(at + self.timeouts().http_request);
                    self.info.request_began.set(at);
                    self.info.phase.set(SessionPhase::Reading);
                }
                // h2c with prior knowledge: the preface (or the start of it) on a clear-text
                // connection's first bytes.
                let data = self.cbuf.data();
                let seen = data.len().min(PREFACE.len());
                let preface =
                    self.requests == 0 && data[..seen] == PREFACE[..seen] && !self.client_tls();
                if preface && seen == PREFACE.len() {
                    return Ok(Incoming::H2Preface);
                }
                if !preface {
                    self.to_server.clear();
                    let forwarding = Forwarding {
                        headers: self.ctx.process.config.frontends[self.frontend].forward_headers,
                        client_ip: &self.client_ip,
                        client_port: self.info.peer.port(),
                        tls: self.client_tls(),
                        local_port: self.local_port,
                    };
                    let parsed = parse_request(
                        self.cbuf.data(),
                        &self.ctx.limits,
                        &forwarding,
                        &mut self.to_server,
                    );
                    match parsed {
                        Ok(Some(head)) => return Ok(Incoming::Request(head, now)),
                        Ok(None) if !partial => {
                            partial = true;
                            self.expect_more_from_client();
                        }
                        Ok(None) => {}
                        Err(error) => return Err(ProxyError::BadRequest(error)),
                    }
                }
            }
            // Between requests: no request has begun, so no deadline yet.
            let idle = deadline.is_none();
            {
                // In a block: the timeout is not kept across the read.
                let timeout = match deadline {
                    Some(deadline) => {
                        deadline.saturating_duration_since(now.unwrap_or_else(Instant::now))
                    }
                    None => self.timeouts().http_keep_alive,
                };
                if timeout.is_zero() {
                    return Err(ProxyError::RequestTimeout);
                }
                let _ = self.client.io().set_read_timeout(Some(timeout));
            }
            let read = if idle && !self.client.is_tls() {
                // Between requests: waits for the next request's first bytes holding no buffer
                // (they go back to the shard meanwhile; TLS may hold decrypted bytes of its
                // own, so not for TLS), then reads them. Here, not in an `async fn` of its
                // own: one layer less in every idle session's task.
                loop {
                    self.release_buffers();
                    if self.client.io().readable().await.is_err() {
                        return Ok(Incoming::Closed);
                    }
                    // The poller says a read may not block, but a socket it saw readable
                    // and whose last read filled the buffer (so it was not seen drained) may
                    // be empty: the read is tried once, and if it would block the wait goes
                    // on without the buffer. No extra system call: that read is the one made
                    // anyway.
                    let read = self.client.read(self.cbuf.spare());
                    if let Some(result) = futures_lite::future::poll_once(read).await {
                        break result;
                    }
                }
            } else {
                let spare = self.cbuf.spare();
                if spare.is_empty() {
                    return Err(ProxyError::BadRequest(HttpError::HeadTooLarge));
                }
                self.client.read(spare).await
            };
            match read {
                Ok(0) => return Ok(Incoming::Closed),
                Ok(read) => {
                    self.cbuf.filled(read);
                    now = None;
                    self.ctx.counters.frontends[self.frontend]
                        .bytes_in
                        .add(read as u64);
                }
                Err(error) if is_timeout(&error) => {
                    return if idle {
                        Ok(Incoming::Closed)
                    } else {
                        Err(ProxyError::RequestTimeout)
                    };
                }
                Err(_) => return Ok(Incoming::Closed),
            }
        }
    }

    /// The frontend's timeouts.
    fn timeouts(&self) -> &ringway_config::Timeouts {
        &self.ctx.process.config.frontends[self.frontend].timeouts
    }

    /// Between requests: the receive and head buffers go back to the shard.
    fn release_buffers(&mut self) {
        self.cbuf.release();
        // Bytes a server sent past the last response (its connection closed as
        // unexpected_data) are stale: the next exchange clears them anyway.
        self.sbuf.clear();
        self.sbuf.release();
        self.to_server.release();
        self.to_client.release();
    }

    /// Sends a complete error response; the connection closes after it.
    pub async fn send_error(&mut self, status: u16) {
        self.to_client.clear();
        write_error_response(status, &mut self.to_client);
        let counters = &self.ctx.counters.frontends[self.frontend];
        counters.status.record(status);
        counters.bytes_out.add(self.to_client.len() as u64);
        self.log_status(status, self.to_client.len() as u64);
        let _ = self.client.io().set_write_timeout(Some(
            self.ctx.process.config.frontends[self.frontend]
                .timeouts
                .client,
        ));
        if self.client.write_all(&self.to_client).await.is_ok() {
            Box::pin(self.linger()).await;
        }
    }

    /// Closes our side and reads what the client still sends for a moment before the socket is
    /// dropped: closing with unread input makes the kernel send a reset, which can destroy the
    /// error response before the client reads it (HAProxy's lingering close).
    pub(crate) async fn linger(&mut self) {
        if self.client.io().is_stream() {
            // The stream ends (or is reset) when the session drops it; its connection goes on.
            return;
        }
        if self.client.close_notify().await.is_err()
            || self
                .client
                .io()
                .shutdown(std::net::Shutdown::Write)
                .is_err()
        {
            return;
        }
        let _ = self.client.io().set_read_timeout(Some(LINGER_TIME));
        let mut drained = 0;
        while drained < LINGER_BYTES {
            self.cbuf.clear();
            match self.client.read(self.cbuf.spare()).await {
                Ok(0) | Err(_) => return,
                Ok(read) => drained += read,
            }
        }
    }

    pub fn log(&self, error: &ProxyError) {
        let frontend = &self.ctx.process.config.frontends[self.frontend].name;
        if self.info.is_shut() {
            self.ctx.process.log.warning(format_args!(
                "{frontend} {} session {:#x}: killed by shutdown session ({error})",
                self.info.peer, self.info.id
            ));
            return;
        }
        self.ctx.process.log.err(format_args!(
            "{frontend} {} session {:#x}: {} ({error})",
            self.info.peer,
            self.info.id,
            error.status()
        ));
    }

    /// Keeps a private server connection for this session's later requests.
    pub fn keep_private(&mut self, conn: ServerConn) {
        if self.private.len() >= MAX_PRIVATE_CONNS {
            self.private.remove(0).reset();
        }
        self.private.push(conn);
    }

    async fn relay_tunnel(&mut self, mut conn: Box<ServerConn>) {
        self.info.phase.set(SessionPhase::Tunnel);
        let config = &self.ctx.process.config;
        let timeouts = TunnelTimeouts {
            idle: config.backends[conn.backend].timeouts.tunnel,
            client_fin: config.frontends[self.frontend].timeouts.client_fin,
            server_fin: config.backends[conn.backend].timeouts.server_fin,
        };
        if !self.cbuf.is_empty() && conn.stream.write_all(self.cbuf.data()).await.is_err() {
            return;
        }
        if !self.sbuf.is_empty() && self.client.write_all(self.sbuf.data()).await.is_err() {
            return;
        }
        let _ = conn.stream.io().set_write_timeout(None);
        let _ = self.client.io().set_write_timeout(None);
        tunnel(&mut self.client, &mut conn.stream, timeouts).await;
    }
}

#[cfg(test)]
mod tests {
    use ringway_http::RequestHead;

    use super::{ip_text, run_session, Session, SessionInfo};

    /// An idle keep-alive connection costs mostly its task: glommio allocates the session's
    /// future, in `ringway_net::spawn`'s 32-byte wrapper, after a 48-byte header, and mimalloc
    /// rounds that up to its size class: 640 bytes, the next being 768 (docs/benchmarks.md,
    /// "What an idle connection holds"; it was 1 KiB, and 2.5 KiB before that).
    #[test]
    fn a_session_task_fits_in_640_bytes() {
        fn future_size<A, B, C, D, F>(_: fn(A, B, C, D) -> F) -> usize {
            std::mem::size_of::<F>()
        }
        let size = future_size(run_session);
        println!("run_session's future: {size} bytes");
        assert!(size + 32 + 48 <= 640, "{size} bytes");
    }

    /// Each request's future is boxed (an idle connection's task stays small): in 1 KiB it
    /// stays in mimalloc's small size class, whose allocation takes a few dozen instructions
    /// against about ten times that past it (docs/benchmarks.md, "User-space instructions per
    /// request"). 856 bytes on 2026-12-08; it was 1 864 with the forwarding inline.
    #[test]
    fn a_request_future_fits_in_1_kib() {
        fn size<'a, F>(_: impl FnOnce(&'a mut Session, RequestHead) -> F) -> usize {
            std::mem::size_of::<F>()
        }
        let request = size(|session, head| session.serve_request(head, None));
        assert!(request <= 1024, "{request} bytes");
    }

    /// `SessionInfo` lives in an `Rc` (16 bytes of counts): 144 bytes keep it in mimalloc's
    /// 160-byte class, the next being 192.
    #[test]
    fn a_session_info_fits_in_160_bytes_with_its_rc() {
        assert!(std::mem::size_of::<SessionInfo>() + 16 <= 160);
        assert_eq!(std::mem::size_of::<crate::http2::abort::Abort>(), 24);
    }

    #[test]
    fn client_addresses_as_text() {
        for text in [
            "127.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "10.0.100.9",
            "1.20.3.199",
            "192.168.10.1",
            "::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "::ffff:255.255.255.255",
        ] {
            assert_eq!(&*ip_text(text.parse().unwrap()), text);
        }
    }
}
