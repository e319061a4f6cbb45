//! One request and its response: route, pick a server, get a connection (session-private, then
//! this shard's idle pool, then a new one with retries), send the request, relay the response,
//! and return the server connection to the pool or close it.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use glommio::timer::sleep;
use ringway_config::ServerProto;
use ringway_http::{
    add_host, parse_response, BodyFramer, BodyKind, ClientSide, HttpError, Method, RequestHead,
};
use ringway_net::IdleCheck;
use ringway_pool::{lookup_plan, ReuseMode};
use ringway_stats::CloseReason;
use ringway_tls::NetStream;

use crate::client::forward::{read_watching, relay_body, BodyRelay, RelayError, WatchedRead};
use crate::client::session::Session;
use crate::client::transport::Transport;
use crate::error::ProxyError;
use crate::process::shard::ShardCtx;
use crate::process::Slot;
use crate::server::balance::pick_server;
use crate::server::conn_close::error_reason;
use crate::server::observe::{self, Event};
use crate::server::server_conn::{idle_close_reason, ServerConn};
use crate::tls;

/// What happens to the client connection after an exchange.
pub enum Outcome {
    KeepAlive,
    Close,
    /// The server switched protocols: relay bytes both ways on this connection (boxed: the
    /// rare case should not size every outcome).
    Tunnel(Box<ServerConn>),
}

/// An exchange failure; `responded` tells whether the client already got response bytes.
pub(super) struct Failure {
    pub error: ProxyError,
    pub responded: bool,
}

impl Failure {
    pub(super) fn before_response(error: ProxyError) -> Failure {
        Failure {
            error,
            responded: false,
        }
    }

    pub(super) fn after_response(error: ProxyError) -> Failure {
        Failure {
            error,
            responded: true,
        }
    }
}

/// What became of a request sent to one server.
enum Served {
    Done(Outcome),
    /// Every connection attempt failed and nothing was answered yet.
    ConnectFailed(ProxyError),
    /// The server went DOWN or into maintenance while the request waited for a slot.
    ServerGone,
}

/// How waiting for a `maxconn` slot ended.
enum SlotWait {
    /// The slot, when it was got, and how many requests were queued before this one.
    Taken {
        slot: Slot,
        at: Instant,
        ahead: u64,
    },
    TimedOut,
    ServerGone,
}

/// How the response went, for the pool and the client connection.
pub(super) struct Done {
    pub server_reusable: bool,
    /// The server does not keep the connection (`Connection: close`, body until close).
    pub server_close: bool,
    pub client_keep_alive: bool,
    pub private_auth: bool,
    pub upgraded: bool,
    /// The response sits whole in `to_client`, not yet written.
    pub reply_pending: bool,
    /// The server sent bytes past the end of the response: the connection is not reusable.
    pub extra_bytes: bool,
    /// The response answered a HEAD request: the connection is not reused.
    pub after_head: bool,
}

/// Where a request goes: the stream to the server (a connection's, or an HTTP/2 stream's).
pub(super) struct Target<'a, T> {
    pub stream: &'a mut NetStream<T>,
    pub backend: usize,
    pub server: usize,
}

/// How long to wait between connection attempts (HAProxy's turn-around: at most 1 s).
pub(super) const RETRY_PAUSE_MAX: Duration = Duration::from_secs(1);
/// How often a request waiting for a `maxconn` slot looks again.
const QUEUE_POLL: Duration = Duration::from_millis(1);

/// When a request reached each phase, for the time averages (HAProxy's qtime, ctime, rtime,
/// ttime). The fast path (a slot at once, a reused connection, a response whole in one read)
/// reads the clock for none of them: each reuses the previous clock read, and a response head
/// that came with its whole body counts as arrived when the request ends.
#[derive(Clone, Copy)]
pub struct Marks {
    /// The request got a server slot.
    pub queued: Instant,
    /// The request got a server connection.
    pub connected: Instant,
    /// The final response head arrived.
    pub responded: bool,
    /// When, if the clock was read then (the access log, a body relayed in parts).
    pub response: Option<Instant>,
}

impl Marks {
    pub fn new(at: Instant) -> Marks {
        Marks {
            queued: at,
            connected: at,
            responded: false,
            response: None,
        }
    }
}

/// When a request's head was complete, and that instant in the rate counters' time base,
/// worked out once for the frontend's, the backend's and the server's rates.
#[derive(Clone, Copy)]
pub struct Began {
    pub at: Instant,
    pub uptime_ms: u64,
}

impl Began {
    pub fn at(ctx: &ShardCtx, at: Instant) -> Began {
        Began {
            at,
            uptime_ms: ctx.uptime_ms(at),
        }
    }
}

/// Whole milliseconds from `from` to `to`. A phase that took no clock read of its own (a
/// slot at once, a reused connection) ends at the instant it began: 0 without the arithmetic.
fn millis(from: Instant, to: Instant) -> u64 {
    if from == to {
        return 0;
    }
    to.saturating_duration_since(from).as_millis() as u64
}

impl Session {
    /// The request whose head was complete at `started`.
    pub(crate) async fn exchange(&mut self, head: &RequestHead, started: Began) -> Outcome {
        let backend = self.route(head);
        self.log_head(head, backend, started.at);
        if self.ctx.sni_from_host {
            self.keep_request_host(head);
        }
        let Some(backend) = backend else {
            self.cbuf.consume(head.head_len);
            return self.fail(ProxyError::NoServer, None).await;
        };
        let key = self.balance_key(backend, head);
        self.cbuf.consume(head.head_len);
        let ctx = self.ctx.clone();
        let counters = &ctx.counters.backends[backend];
        counters.sessions.inc();
        counters.sess_rate.record(started.uptime_ms);
        let outcome = self.exchange_on(backend, head, started, key).await;
        counters.sessions.dec();
        outcome
    }

    /// The request routed to `backend`: the server its persistence cookie names or the balance
    /// algorithm picks (`key`: its hash for `source`/`uri`), then another one when the server
    /// went away while the request waited in its queue, or once when `redispatch` allows.
    async fn exchange_on(
        &mut self,
        backend: usize,
        head: &RequestHead,
        started: Began,
        key: u64,
    ) -> Outcome {
        let config = &self.ctx.process.config.backends[backend];
        let redispatch = config.redispatch;
        // A valid cookie names the server (HAProxy's `cookie`); else the balance algorithm does.
        let mut pinned = match config.cookie {
            Some(_) => self.persist_request(backend),
            None => None,
        };
        let mut left: Option<usize> = None;
        loop {
            let cursor = &self.ctx.cursors[backend];
            let by_cookie = pinned.is_some();
            let chosen = match pinned.take() {
                Some(server) => Some(server),
                None => pick_server(&self.ctx, backend, cursor, left, key),
            };
            let Some(server) = chosen else {
                return self.fail(ProxyError::NoServer, Some(backend)).await;
            };
            let error = match self
                .serve_on(backend, server, head, started, by_cookie)
                .await
            {
                Served::Done(outcome) => return outcome,
                // The server went DOWN (or into maintenance) while the request waited in its
                // queue: it goes to another server, as HAProxy redistributes a queue.
                Served::ServerGone => {
                    left = Some(server);
                    continue;
                }
                Served::ConnectFailed(error) => error,
            };
            // Every attempt on that server failed before anything was sent: with `redispatch`,
            // once to another server (HAProxy's `option redispatch`), if there is one.
            let others =
                (0..self.ctx.process.config.backends[backend].servers.len()).any(|other| {
                    other != server
                        && self.ctx.process.layout.backends[backend].servers[other]
                            .state
                            .takes_traffic()
                });
            if !redispatch || left.is_some() || !others {
                // One connection error per request that gave up connecting, as HAProxy.
                self.ctx.counters.servers[backend][server].econ.inc();
                return self.fail(error, Some(backend)).await;
            }
            self.ctx.counters.servers[backend][server].wredis.inc();
            if let Some(log) = &mut self.log {
                log.redispatch();
            }
            self.persist_redispatched();
            left = Some(server);
        }
    }

    /// The request on `server`: the outcome, the connect error when every attempt to connect
    /// failed and nothing was answered yet (the caller may redispatch), or the server went
    /// away while the request waited for a slot. `by_cookie`: its persistence cookie chose the
    /// server, not the balance algorithm (not in `lbtot`, as HAProxy's `cum_lbconn`).
    async fn serve_on(
        &mut self,
        backend: usize,
        server: usize,
        head: &RequestHead,
        started: Began,
        by_cookie: bool,
    ) -> Served {
        let ctx = self.ctx.clone();
        let counters = &ctx.counters.servers[backend][server];
        if !by_cookie {
            counters.lbtot.inc();
        }
        self.log_server(server);
        let (slot, queued, ahead) = match self.wait_for_slot(backend, server, started.at).await {
            SlotWait::Taken { slot, at, ahead } => (slot, at, ahead),
            SlotWait::TimedOut => {
                return Served::Done(self.fail(ProxyError::QueueTimeout, Some(backend)).await)
            }
            SlotWait::ServerGone => return Served::ServerGone,
        };
        self.request.get().marks = Marks::new(queued);
        self.log_queued(queued, ahead);
        counters.sessions.inc();
        counters.stot.inc();
        counters.sess_rate.record(started.uptime_ms);
        self.info.server.set(Some((backend, server)));
        if head.needs_host {
            // An HTTP/1.0 request without a host: the server learns which of its names
            // was asked for from its own address, as nginx does.
            add_host(
                &mut self.to_server,
                ctx.process.config.backends[backend].servers[server].address,
            );
        }
        let client = ClientSide {
            method: head.method,
            minor_version: head.minor_version,
            keep_alive: head.keep_alive,
            upgrade: head.upgrade,
        };
        // Boxed apart from the request's future (itself boxed by the session, per request):
        // each then fits in mimalloc's small size class (1 KiB, a test pins it), whose
        // allocation takes a few dozen instructions; as one future of 1.6 KiB it took the
        // medium class's aligned path, ten times that (docs/benchmarks.md, "User-space
        // instructions per request").
        let result = Box::pin(self.forward(backend, server, head, &client)).await;
        let end = Instant::now();
        let total = end.saturating_duration_since(started.at);
        counters.record_latency(total);
        let marks = self.request.get().marks;
        if marks.responded {
            let response = marks.response.unwrap_or(end);
            let phases = [
                millis(started.at, marks.queued),
                millis(marks.queued, marks.connected),
                millis(marks.connected, response),
                total.as_millis() as u64,
            ];
            counters.times.record(phases);
            ctx.counters.backends[backend].times.record(phases);
        }
        self.info.server.set(None);
        counters.sessions.dec();
        ctx.process.release_slot(backend, server, slot);
        match result {
            Ok(outcome) => Served::Done(outcome),
            Err(Failure {
                error: error @ ProxyError::Connect(_),
                responded: false,
            }) => Served::ConnectFailed(error),
            Err(Failure { error, responded }) => {
                if !responded {
                    let event = match error {
                        ProxyError::ServerTimeout => Some(Event::ReadTimeout),
                        ProxyError::EmptyResponse | ProxyError::NotResent(_) => {
                            Some(Event::ServerClosed)
                        }
                        ProxyError::Server(_) => Some(Event::ReadError),
                        ProxyError::BadResponse(_) => Some(Event::BadResponse),
                        _ => None,
                    };
                    if let Some(event) = event {
                        observe::report(&ctx, backend, server, event);
                    }
                }
                match error {
                    // A session killed by `shutdown session` is no server's fault.
                    _ if self.info.is_shut() => {}
                    ProxyError::Server(_)
                    | ProxyError::ServerTimeout
                    | ProxyError::EmptyResponse
                    | ProxyError::NotResent(_)
                    | ProxyError::BadResponse(_) => {
                        counters.eresp.inc();
                        self.capture_bad_response(&error, backend, server);
                    }
                    // A bad or too slow request body is a request error, as a bad head is.
                    ProxyError::BadRequest(_) | ProxyError::RequestTimeout => {
                        ctx.counters.frontends[self.frontend].ereq.inc()
                    }
                    _ => {}
                }
                if responded {
                    self.log(&error);
                    self.log_error(&error, true);
                    return Served::Done(Outcome::Close);
                }
                Served::Done(self.fail(error, Some(backend)).await)
            }
        }
    }

    /// Logs the error, answers it (counted for `backend` too when the request had one), and
    /// closes the client connection. A session killed by `shutdown session` gets no answer, nor
    /// does a half-closed client past timeout_client_fin (HAProxy closes it, `cD`).
    async fn fail(&mut self, error: ProxyError, backend: Option<usize>) -> Outcome {
        self.log(&error);
        self.log_error(&error, false);
        if self.info.is_shut() || matches!(error, ProxyError::ClientFinTimeout) {
            return Outcome::Close;
        }
        let status = error.status();
        if let Some(backend) = backend {
            let counters = &self.ctx.counters.backends[backend];
            counters.status.record(status);
            counters.req_tot.inc();
        }
        self.send_error(status).await;
        Outcome::Close
    }

    /// Keeps the request's host for a server whose SNI comes from it.
    fn keep_request_host(&mut self, head: &RequestHead) {
        let kept = &mut self.request.get().host;
        kept.clear();
        if let Some(host) = head.host(self.cbuf.data()) {
            let host = without_port(host);
            let host = host.strip_prefix(b"[").unwrap_or(host);
            let host = host.strip_suffix(b"]").unwrap_or(host);
            for &byte in host {
                kept.push(byte.to_ascii_lowercase() as char);
            }
        }
    }

    fn route(&self, head: &RequestHead) -> Option<usize> {
        let frontend = &self.ctx.process.config.frontends[self.frontend];
        if !frontend.routes.is_empty() {
            if let Some(host) = head.host(self.cbuf.data()) {
                let host = without_port(host);
                if let Some(route) = frontend
                    .routes
                    .iter()
                    .find(|route| route.host.as_bytes().eq_ignore_ascii_case(host))
                {
                    return Some(route.backend);
                }
            }
        }
        frontend.default_backend
    }

    /// Takes a `maxconn` slot on the server, waiting up to timeout_queue in the server's queue
    /// (counted in qcur); gives up waiting when the server goes DOWN or into maintenance. A
    /// slot comes with when it was got (`started` when at once) and how many requests of this
    /// shard were queued for the server before this one.
    async fn wait_for_slot(&self, backend: usize, server: usize, started: Instant) -> SlotWait {
        let process = &self.ctx.process;
        if let Some(slot) = process.try_take_slot(backend, server) {
            return SlotWait::Taken {
                slot,
                at: started,
                ahead: 0,
            };
        }
        Box::pin(self.wait_in_queue(backend, server)).await
    }

    /// The server is full: waits in its queue (boxed by the caller: a rare wait).
    async fn wait_in_queue(&self, backend: usize, server: usize) -> SlotWait {
        let process = &self.ctx.process;
        let state = &process.layout.backends[backend].servers[server].state;
        let queue = &self.ctx.counters.servers[backend][server].queue;
        let backend_queue = &self.ctx.counters.backends[backend].queue;
        let ahead = u64::try_from(queue.get()).unwrap_or(0);
        queue.inc();
        backend_queue.inc();
        let mut got = SlotWait::TimedOut;
        let deadline = Instant::now() + process.config.backends[backend].timeouts.queue;
        while Instant::now() < deadline && !self.info.is_shut() {
            // A poller timer: it ends the shard's nap, where a glommio one would wait it out.
            ringway_net::sleep_until(Instant::now() + QUEUE_POLL).await;
            if state.is_down_or_maint() {
                got = SlotWait::ServerGone;
                break;
            }
            if let Some(slot) = process.try_take_slot(backend, server) {
                got = SlotWait::Taken {
                    slot,
                    at: Instant::now(),
                    ahead,
                };
                break;
            }
        }
        queue.dec();
        backend_queue.dec();
        got
    }

    /// Sends the request and relays the response, on a connection `acquire` finds. When a
    /// reused connection fails before any response byte (the server closed it as the request
    /// went out), the request goes once more on a new connection if that cannot execute it
    /// twice: it is idempotent (RFC 9110 §9.2.2, or carries an `Idempotency-Key`), or the
    /// server's TCP acknowledged none of it, and it is still whole in `to_server`.
    async fn forward(
        &mut self,
        backend: usize,
        server: usize,
        head: &RequestHead,
        client: &ClientSide,
    ) -> Result<Outcome, Failure> {
        if self.ctx.process.config.backends[backend].servers[server].proto == ServerProto::H2 {
            return Box::pin(self.forward_h2(backend, server, head, client)).await;
        }
        let mut request_body = self.take_whole_body(head.body);
        let replayable = request_body.is_done();
        let mut resent = false;
        loop {
            let mut conn = self
                .acquire(backend, server, !resent)
                .await
                .map_err(Failure::before_response)?;
            observe::report(&self.ctx, backend, server, Event::Connected);
            let reused = conn.record.requests > 0;
            conn.record.requests += 1;
            conn.record.closing(CloseReason::Error);
            if reused {
                self.ctx.counters.servers[backend][server].reuse.inc();
            } else {
                self.request.get().marks.connected = Instant::now();
            }
            let connected = self.request.get().marks.connected;
            self.log_connected(reused, connected);
            if self.info.is_shut() {
                conn.record.closing(CloseReason::Shutdown);
                return Err(Failure::after_response(ProxyError::Client(
                    std::io::ErrorKind::ConnectionAborted.into(),
                )));
            }
            self.info.server_fd.set(conn.stream.io().as_raw_fd());
            let sent_before = conn.stream.io().bytes_sent();
            let target = Target {
                stream: &mut conn.stream,
                backend,
                server,
            };
            let result = self
                .round_trip(target, head, client, &mut request_body)
                .await;
            self.info.server_fd.set(-1);
            let failure = match result {
                Ok(done) => {
                    let outcome = self.finish(conn, &done);
                    if done.reply_pending {
                        // The whole response is in `to_client` and the server connection is
                        // already back in the pool, where the next request can find it.
                        return Ok(self.send_reply(backend, server, outcome).await);
                    }
                    return Ok(outcome);
                }
                Err(failure) => failure,
            };
            let shut = self.info.is_shut();
            conn.record.closing(if shut {
                CloseReason::Shutdown
            } else {
                error_reason(&failure.error)
            });
            let silent_close = matches!(failure.error, ProxyError::EmptyResponse);
            if !reused || resent || shut || !silent_close || failure.responded {
                return Err(failure);
            }
            let idempotent = head.is_idempotent();
            if !replayable || !(idempotent || server_got_none(&conn, sent_before)) {
                return Err(Failure::before_response(ProxyError::NotResent(
                    if replayable {
                        "the server may have received it and the method is not idempotent"
                    } else {
                        "its body was streamed to the server"
                    },
                )));
            }
            drop(conn);
            if let Some(log) = &mut self.log {
                log.retry();
            }
            self.ctx.counters.servers[backend][server].wretr.inc();
            resent = true;
        }
    }

    /// The request's body, when the client already sent all of it with the head, moves into
    /// `to_server`: it goes out in the same write, and stays there to be sent again. Returns
    /// the body's framer, done when the body is whole in `to_server` (or there is none). A body
    /// still to come turns quick ACKs back on for the client (`Socket::quick_ack`).
    pub(super) fn take_whole_body(&mut self, body: BodyKind) -> BodyFramer {
        let framer = BodyFramer::new(body);
        if framer.is_done() {
            return framer;
        }
        if self.cbuf.is_empty() {
            self.expect_more_from_client();
            return framer;
        }
        let mut probe = framer.clone();
        match probe.feed(self.cbuf.data()) {
            Ok(progress) if probe.is_done() => {
                let taken = &self.cbuf.data()[..progress.consumed];
                self.to_server.extend_from_slice(taken);
                self.ctx.counters.frontends[self.frontend]
                    .bytes_in
                    .add(taken.len() as u64);
                self.cbuf.consume(progress.consumed);
                probe
            }
            // Not all here yet, or badly framed: relayed as it comes (which reports the error).
            _ => {
                self.expect_more_from_client();
                framer
            }
        }
    }

    /// The client has more of the request to send: its segments are acknowledged at once, not
    /// held for a response to carry the ACK (accepted connections start with delayed ACKs,
    /// `ringway_net::set_listen_options`), which a client waiting on its ACKs would wait out.
    pub(super) fn expect_more_from_client(&self) {
        let _ = self.client.io().quick_ack();
    }

    /// A connection for the request: one this session owns, an idle one this shard holds (as
    /// the reuse mode allows), or a new one.
    async fn acquire(
        &mut self,
        backend: usize,
        server: usize,
        may_reuse: bool,
    ) -> Result<ServerConn, ProxyError> {
        let config = &self.ctx.process.config.backends[backend];
        let mode = config.http_reuse;
        let sni = || tls::request_sni(&config.servers[server], self.request.host());
        let hash = self.ctx.conn_hash(backend, server, sni(), self.info.peer);
        self.ctx.relieve_fd_pressure(backend, server);
        if may_reuse {
            while let Some(index) = self.private.iter().position(|conn| {
                conn.backend == backend && conn.server == server && conn.hash == hash
            }) {
                let mut conn = self.private.swap_remove(index);
                match conn.idle_state() {
                    IdleCheck::Quiet => return Ok(conn),
                    state => conn.record.closing(idle_close_reason(state)),
                }
            }
            if mode != ReuseMode::Never {
                let plan = lookup_plan(mode, self.requests > 0);
                if let Some(conn) = ServerConn::take_idle(&self.ctx, backend, server, hash, plan) {
                    return Ok(conn);
                }
            }
        }
        let mut attempt = 0;
        let proxy_header = config.servers[server]
            .send_proxy
            .map(|version| self.proxy_header(version));
        loop {
            let private = mode == ReuseMode::Never;
            // Boxed: a connect (TLS handshake included) is rare next to a reuse, and inline its
            // state would weigh on every session's task, idle ones included.
            let connected = Box::pin(ServerConn::connect(
                &self.ctx,
                backend,
                server,
                private,
                sni(),
                hash,
                proxy_header.as_deref(),
            ))
            .await;
            if connected.is_err() {
                observe::report(&self.ctx, backend, server, Event::ConnectFailed);
            }
            match connected {
                Ok(conn) => return Ok(conn),
                Err(_) if attempt < config.retries => {
                    attempt += 1;
                    if let Some(log) = &mut self.log {
                        log.retry();
                    }
                    self.ctx.counters.servers[backend][server].wretr.inc();
                    sleep(config.timeouts.connect.min(RETRY_PAUSE_MAX)).await;
                }
                Err(error) => return Err(ProxyError::Connect(error)),
            }
        }
    }

    pub(super) async fn round_trip<T: Transport>(
        &mut self,
        target: Target<'_, T>,
        head: &RequestHead,
        client: &ClientSide,
        request_body: &mut BodyFramer,
    ) -> Result<Done, Failure> {
        let Target {
            stream: conn,
            backend,
            server,
        } = target;
        let timeouts = &self.ctx.process.config.backends[backend].timeouts;
        let client_timeouts = &self.ctx.process.config.frontends[self.frontend].timeouts;
        let (server_timeout, client_timeout, client_fin) = (
            timeouts.server,
            client_timeouts.client,
            client_timeouts.client_fin,
        );
        let _ = conn.io().set_write_timeout(Some(server_timeout));
        let _ = self.client.io().set_write_timeout(Some(client_timeout));
        let ctx = self.ctx.clone();
        let counters = &ctx.counters.servers[backend][server];
        conn.write_all(&self.to_server)
            .await
            .map_err(|_| Failure::before_response(ProxyError::EmptyResponse))?;
        counters.bytes_in.add(self.to_server.len() as u64);
        let mut body_deferred =
            head.expect_continue && !request_body.is_done() && self.cbuf.is_empty();
        if !body_deferred {
            self.send_request_body(conn, request_body, client_timeout, backend)
                .await?;
        }
        self.sbuf.clear();
        loop {
            self.to_client.clear();
            // The client connection closes after this response, and the response says so, when
            // a stop began while the server worked, or when the server answered a 100-continue
            // request without taking its body (the client may or may not send it now).
            let client = &ClientSide {
                keep_alive: client.keep_alive && !self.ctx.stopping() && request_body.is_done(),
                ..*client
            };
            // Nothing read yet (every response's first pass): no parse of an empty buffer.
            let response = if self.sbuf.is_empty() {
                None
            } else {
                let limits = &self.ctx.limits;
                parse_response(self.sbuf.data(), limits, client, &mut self.to_client)
                    .map_err(|error| Failure::before_response(ProxyError::BadResponse(error)))?
            };
            let Some(response) = response else {
                self.read_response_bytes(conn, server_timeout).await?;
                continue;
            };
            self.sbuf.consume(response.head_len);
            if (100..200).contains(&response.status) && response.status != 101 {
                if !self.to_client.is_empty() {
                    self.client
                        .write_all(&self.to_client)
                        .await
                        .map_err(|error| Failure::after_response(ProxyError::Client(error)))?;
                }
                if body_deferred && response.status == 100 {
                    body_deferred = false;
                    self.send_request_body(conn, request_body, client_timeout, backend)
                        .await?;
                }
                continue;
            }
            let marks = &mut self.request.get().marks;
            marks.responded = true;
            if let Some(log) = &mut self.log {
                let at = Instant::now();
                marks.response = Some(at);
                log.response(response.status, at);
            }
            self.ctx.counters.frontends[self.frontend]
                .status
                .record(response.status);
            counters.status.record(response.status);
            let backend_counters = &self.ctx.counters.backends[backend];
            backend_counters.status.record(response.status);
            backend_counters.req_tot.inc();
            observe::report(&ctx, backend, server, Event::Status(response.status));
            let backend_config = &ctx.process.config.backends[backend];
            if let (Some(cookie), false) = (&backend_config.cookie, response.status == 101) {
                self.persist_response(cookie, &backend_config.servers[server], head.method);
            }
            if response.status == 101 {
                self.client
                    .write_all(&self.to_client)
                    .await
                    .map_err(|error| Failure::after_response(ProxyError::Client(error)))?;
                return Ok(Done {
                    server_reusable: false,
                    server_close: false,
                    client_keep_alive: false,
                    private_auth: false,
                    upgraded: true,
                    reply_pending: false,
                    extra_bytes: false,
                    after_head: false,
                });
            }
            let mut framer = BodyFramer::new(response.body);
            // Body bytes already received go out with the head in one write: a whole small
            // body is copied after the head (the reply is written later, once the server
            // connection is back in the pool); the start of a larger one is written from the
            // receive buffer beside the head.
            let progress = if response.dechunk {
                framer.feed_decoded(self.sbuf.data(), &mut self.to_client)
            } else {
                framer.feed(self.sbuf.data())
            }
            .map_err(|error| Failure::before_response(ProxyError::BadResponse(error)))?;
            let with_head = if response.dechunk {
                0
            } else {
                progress.consumed
            };
            let complete = request_body.is_done();
            let mut done = Done {
                server_reusable: response.server_keep_alive && complete,
                server_close: !response.server_keep_alive,
                client_keep_alive: response.client_keep_alive && complete,
                private_auth: response.private_auth,
                upgraded: false,
                reply_pending: false,
                extra_bytes: false,
                after_head: head.method == Method::Head,
            };
            if framer.is_done() {
                self.to_client
                    .extend_from_slice(&self.sbuf.data()[..with_head]);
                self.sbuf.consume(progress.consumed);
                done.extra_bytes = !self.sbuf.is_empty();
                done.reply_pending = true;
                return Ok(done);
            }
            // The body comes in parts: the head's arrival is not the request's end.
            self.request
                .get()
                .marks
                .response
                .get_or_insert_with(Instant::now);
            self.client
                .write_all_pair(&self.to_client, &self.sbuf.data()[..with_head])
                .await
                .map_err(|error| {
                    counters.cli_abrt.inc();
                    Failure::after_response(ProxyError::Client(error))
                })?;
            self.sbuf.consume(progress.consumed);
            let until_close = response.body == BodyKind::UntilClose;
            // A body that does not fit is relayed in reads as large as the buffer may grow.
            self.sbuf.grow_to_limit();
            // Boxed, as the request body's relay: a response whole in its first read (the
            // fast path) needs none, and inline the relay's state would add to the request's
            // future, allocated and moved for every request (session.rs, `serve`).
            let relayed = Box::pin(relay_body(
                conn,
                &mut self.sbuf,
                &mut self.client,
                BodyRelay {
                    framer: &mut framer,
                    read_timeout: server_timeout,
                    until_close,
                    decoded: response.dechunk.then_some(&mut self.to_client),
                    destination_fin: client_fin,
                    splice: backend_config.splice,
                },
            ))
            .await
            .map_err(|error| response_relay_failure(error, counters))?;
            let sent = (self.to_client.len() + with_head) as u64 + relayed;
            if let Some(log) = &mut self.log {
                log.bytes += sent;
            }
            counters.bytes_out.add(sent);
            self.ctx.counters.frontends[self.frontend]
                .bytes_out
                .add(sent);
            done.server_reusable &= framer.is_done();
            done.extra_bytes = !self.sbuf.is_empty();
            return Ok(done);
        }
    }

    /// Writes a response held whole in `to_client`.
    pub(super) async fn send_reply(
        &mut self,
        backend: usize,
        server: usize,
        outcome: Outcome,
    ) -> Outcome {
        let sent = self.to_client.len() as u64;
        if let Some(log) = &mut self.log {
            log.bytes += sent;
        }
        let counters = &self.ctx.counters;
        counters.servers[backend][server].bytes_out.add(sent);
        counters.frontends[self.frontend].bytes_out.add(sent);
        if let Err(error) = self.client.write_all(&self.to_client).await {
            counters.servers[backend][server].cli_abrt.inc();
            self.log(&ProxyError::Client(error));
            return Outcome::Close;
        }
        outcome
    }

    async fn send_request_body<T: Transport>(
        &mut self,
        conn: &mut NetStream<T>,
        framer: &mut BodyFramer,
        timeout: Duration,
        backend: usize,
    ) -> Result<(), Failure> {
        if framer.is_done() {
            return Ok(());
        }
        let splice = self.ctx.process.config.backends[backend].splice;
        // Boxed: a request whose body came whole with its head (or that has none) does not
        // get here, and inline the relay's state would add to every request's future.
        let relayed = Box::pin(relay_body(
            &mut self.client,
            &mut self.cbuf,
            conn,
            BodyRelay {
                framer,
                read_timeout: timeout,
                until_close: false,
                decoded: None,
                destination_fin: None,
                splice,
            },
        ))
        .await;
        match relayed {
            Ok(bytes) => {
                self.ctx.counters.frontends[self.frontend]
                    .bytes_in
                    .add(bytes);
                Ok(())
            }
            Err(RelayError::Framing(error)) => {
                Err(Failure::before_response(ProxyError::BadRequest(error)))
            }
            Err(RelayError::Source(error)) if crate::error::is_timeout(&error) => {
                Err(Failure::before_response(ProxyError::RequestTimeout))
            }
            Err(RelayError::Source(error)) => {
                Err(Failure::after_response(ProxyError::Client(error)))
            }
            Err(RelayError::SourceClosed) => Err(Failure::after_response(ProxyError::Client(
                std::io::ErrorKind::UnexpectedEof.into(),
            ))),
            Err(RelayError::Destination(error)) => {
                Err(Failure::before_response(ProxyError::from_server_io(error)))
            }
            // Not watched for here (no `destination_fin`): the server is the destination.
            Err(RelayError::DestinationClosed) => Err(Failure::before_response(
                ProxyError::Server(std::io::ErrorKind::UnexpectedEof.into()),
            )),
        }
    }

    /// Reads more of a response head. A close or reset before any byte is an empty response; a
    /// client that half-closed is not waited for past timeout_client_fin ([`read_watching`]).
    async fn read_response_bytes<T: Transport>(
        &mut self,
        conn: &mut NetStream<T>,
        timeout: Duration,
    ) -> Result<(), Failure> {
        let _ = conn.io().set_read_timeout(Some(timeout));
        let nothing_yet = self.sbuf.is_empty();
        let spare = self.sbuf.spare();
        if spare.is_empty() {
            return Err(Failure::before_response(ProxyError::BadResponse(
                HttpError::HeadTooLarge,
            )));
        }
        let client_fin = self.ctx.process.config.frontends[self.frontend]
            .timeouts
            .client_fin;
        let read = read_watching(conn, spare, &self.client, timeout, client_fin).await;
        let error = match read {
            Ok(0) if nothing_yet => ProxyError::EmptyResponse,
            Ok(0) => ProxyError::BadResponse(HttpError::Malformed("truncated head")),
            Ok(read) => {
                self.sbuf.filled(read);
                return Ok(());
            }
            Err(WatchedRead::PeerClosed) => ProxyError::ClientFinTimeout,
            Err(WatchedRead::Source(error)) if crate::error::is_timeout(&error) => {
                ProxyError::ServerTimeout
            }
            // A TLS alert or protocol error says why; keep it rather than "closed".
            Err(WatchedRead::Source(error)) if error.kind() == std::io::ErrorKind::InvalidData => {
                ProxyError::Server(error)
            }
            Err(WatchedRead::Source(_)) if nothing_yet => ProxyError::EmptyResponse,
            Err(WatchedRead::Source(error)) => ProxyError::Server(error),
        };
        Err(Failure::before_response(error))
    }

    /// Returns the server connection where it belongs after a complete exchange.
    fn finish(&mut self, mut conn: ServerConn, done: &Done) -> Outcome {
        if done.upgraded {
            conn.record.closing(CloseReason::Tunnel);
            return Outcome::Tunnel(Box::new(conn));
        }
        if done.private_auth && !conn.private {
            conn.make_private();
        }
        let outcome = if done.client_keep_alive {
            Outcome::KeepAlive
        } else {
            Outcome::Close
        };
        let reason = if done.extra_bytes {
            CloseReason::UnexpectedData
        } else if done.after_head {
            CloseReason::AfterHead
        } else if done.server_reusable && conn.private {
            match conn.idle_state() {
                IdleCheck::Quiet => {
                    let mode = self.ctx.process.config.backends[conn.backend].http_reuse;
                    let reason = if mode == ReuseMode::Never {
                        CloseReason::NeverMode
                    } else {
                        CloseReason::Private
                    };
                    // A private connection outlives the response only with its client.
                    if !done.client_keep_alive {
                        conn.discard(reason);
                        return outcome;
                    }
                    conn.record.closing(reason);
                    self.keep_private(conn);
                    return outcome;
                }
                state => idle_close_reason(state),
            }
        } else if done.server_reusable {
            // The pool watches it from now on, and refuses it if it already holds something.
            let _ = conn.release(&self.ctx, true);
            return outcome;
        } else if done.server_close {
            CloseReason::ServerClose
        } else {
            // The request body may still be under way: a FIN close.
            conn.record.closing(CloseReason::Incomplete);
            return outcome;
        };
        conn.discard(reason);
        outcome
    }
}

/// Whether a failed exchange proves the server never received any of the request: nothing
/// of it was written, or the server's TCP acknowledged none of it (a server that closed its
/// end resets what arrives after, unacknowledged). A server that read the request
/// acknowledges it, at the latest with its FIN.
fn server_got_none(conn: &ServerConn, sent_before: u64) -> bool {
    let socket = conn.stream.io();
    let sent = socket.bytes_sent() - sent_before;
    sent == 0 || socket.unacked().is_ok_and(|unacked| unacked >= sent)
}

fn response_relay_failure(error: RelayError, counters: &ringway_stats::ServerCounters) -> Failure {
    let error = match error {
        RelayError::Framing(error) => ProxyError::BadResponse(error),
        RelayError::SourceClosed => {
            counters.srv_abrt.inc();
            ProxyError::Server(std::io::ErrorKind::UnexpectedEof.into())
        }
        RelayError::Source(error) => {
            counters.srv_abrt.inc();
            ProxyError::from_server_io(error)
        }
        RelayError::Destination(error) => {
            counters.cli_abrt.inc();
            ProxyError::Client(error)
        }
        RelayError::DestinationClosed => {
            counters.cli_abrt.inc();
            ProxyError::ClientFinTimeout
        }
    };
    Failure::after_response(error)
}

/// A Host value without its port: `example.com:8080` → `example.com`, `[::1]:8080` → `[::1]`,
/// the form routes are written in.
fn without_port(host: &[u8]) -> &[u8] {
    let end = if host.starts_with(b"[") {
        host.iter()
            .position(|&byte| byte == b']')
            .map_or(host.len(), |close| close + 1)
    } else {
        host.iter()
            .position(|&byte| byte == b':')
            .unwrap_or(host.len())
    };
    &host[..end]
}

#[cfg(test)]
mod tests {
    use ringway_http::{ClientSide, RequestHead};

    use super::{millis, without_port};
    use crate::client::session::Session;

    /// The request's forwarding is boxed apart from the request's future (`serve_on`) so
    /// that each allocation stays in mimalloc's small size class (1 KiB): past it, an
    /// allocation takes the medium class's aligned path, about ten times the instructions
    /// (docs/benchmarks.md, "User-space instructions per request"). 984 bytes on 2026-12-08.
    #[test]
    fn the_forwarding_future_fits_in_1_kib() {
        fn size<'a, F>(
            _: impl FnOnce(&'a mut Session, &'a RequestHead, &'a ClientSide) -> F,
        ) -> usize {
            std::mem::size_of::<F>()
        }
        let forward = size(|session, head, client| session.forward(0, 0, head, client));
        assert!(forward <= 1024, "{forward} bytes");
    }

    #[test]
    fn phases_are_whole_milliseconds_and_never_negative() {
        let at = std::time::Instant::now();
        let later = at + std::time::Duration::from_micros(2_999);
        assert_eq!(millis(at, at), 0);
        assert_eq!(millis(at, later), 2);
        assert_eq!(millis(later, at), 0);
    }

    #[test]
    fn host_ports_are_stripped_for_routing() {
        let cases: [(&[u8], &[u8]); 5] = [
            (b"example.com", b"example.com"),
            (b"example.com:8080", b"example.com"),
            (b"[::1]:8080", b"[::1]"),
            (b"[::1]", b"[::1]"),
            (b"[broken", b"[broken"),
        ];
        for (host, name) in cases {
            assert_eq!(
                without_port(host),
                name,
                "{}",
                String::from_utf8_lossy(host)
            );
        }
    }
}
