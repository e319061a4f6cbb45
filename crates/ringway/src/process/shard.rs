//! One shard: a glommio executor pinned to a core that owns its listeners, its client sessions,
//! its idle pools (one per server) and its counters. Runs the accept loops, the per-server purge
//! timers, the watch on its idle connections and a control tick that applies stop and
//! control-thread commands.

use crate::process::id_map::IdMap;
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::timer::sleep;
use ringway_config::Sni;
use ringway_http::Limits;
use ringway_net::{IdleCheck, Listener, Socket};
use ringway_pool::{conn_hash, Balancer};
use ringway_stats::Layout;
use ringway_stats::{CloseReason, ShardCounters};
use ringway_tls::rustls::ClientConfig;
use ringway_tls::with_own_session_cache;

use crate::client::session::{run_session, SessionInfo, SessionPhase};
use crate::logging::access_log::ShardLogs;
use crate::process::signal::{LocalNotify, LocalStop};
use crate::process::{ProcessShared, ShardCommand};
use crate::server::conn_close::record_idle_close;
use crate::server::idle::IdleConn;
use crate::server::server_conn::idle_close_reason;

/// How often a shard looks at the stop flag and its command queue.
const CONTROL_TICK: Duration = Duration::from_millis(20);

/// The purge timer of one server on one shard (§3.4): armed when a connection enters an empty
/// pool, re-armed while the pool holds connections.
#[derive(Default)]
pub struct PurgeTimer {
    deadline: Cell<Option<Instant>>,
    armed: LocalNotify,
}

/// The socket of an idle connection this shard owns, watched while it waits (`watch_idle`).
pub struct IdleStream {
    pub socket: Socket,
    pub backend: usize,
    pub server: usize,
}

pub struct ShardCtx {
    pub id: usize,
    pub process: Arc<ProcessShared>,
    pub counters: Arc<ShardCounters>,
    /// Sockets of this shard's idle connections, by connection id; their shareable part is in
    /// `process.idle`.
    pub idle_streams: RefCell<IdMap<IdleStream>>,
    next_conn: Cell<u64>,
    /// Connection hash of each server with its fixed SNI, if any (§1.4).
    conn_hashes: Vec<Vec<u64>>,
    /// This shard's TLS configuration per server, each with its own session cache.
    pub tls_connectors: Vec<Vec<Option<Arc<ClientConfig>>>>,
    /// Some server takes its SNI from the request's Host.
    pub sni_from_host: bool,
    purge_timers: Vec<Vec<PurgeTimer>>,
    /// This shard's HTTP/2 connections per server (`proto = "h2"`).
    pub h2_pools: Vec<Vec<crate::server::h2::H2Pool>>,
    /// Round-robin cursor per backend.
    pub cursors: Vec<Cell<usize>>,
    /// Weighted selection state per backend, this shard's own (`server::balance`).
    pub balancers: Vec<RefCell<Balancer>>,
    pub sessions: RefCell<IdMap<Rc<SessionInfo>>>,
    next_session: Cell<u64>,
    pub limits: Limits,
    pub stop: LocalStop,
    /// Requests being served on this shard now; with none, the control tick sleeps long.
    busy_requests: Cell<usize>,
    /// Access log lines waiting to be written, per frontend.
    pub logs: ShardLogs,
    /// Shard 0's check tasks, which passive detection may wake.
    pub check_wakes: crate::server::health::CheckWakes,
}

impl ShardCtx {
    pub fn new(id: usize, process: Arc<ProcessShared>) -> ShardCtx {
        let layout = &process.layout;
        let conn_hashes = (0..layout.backends.len())
            .map(|backend| {
                let servers = &process.config.backends[backend].servers;
                (0..servers.len())
                    .map(|server| {
                        let sni = servers[server].tls.as_ref().and_then(|tls| match &tls.sni {
                            Some(Sni::Fixed(name)) => Some(name.as_str()),
                            _ => None,
                        });
                        server_hash(layout, backend, server, sni, None)
                    })
                    .collect()
            })
            .collect();
        let tls_connectors = process
            .tls
            .connectors
            .iter()
            .map(|servers| {
                servers
                    .iter()
                    .map(|config| config.as_ref().map(with_own_session_cache))
                    .collect()
            })
            .collect();
        let sni_from_host = process.config.backends.iter().any(|backend| {
            backend.servers.iter().any(|server| {
                server
                    .tls
                    .as_ref()
                    .is_some_and(|tls| tls.sni == Some(Sni::Host))
            })
        });
        let purge_timers = layout
            .backends
            .iter()
            .map(|backend| {
                backend
                    .servers
                    .iter()
                    .map(|_| PurgeTimer::default())
                    .collect()
            })
            .collect();
        ShardCtx {
            id,
            counters: process.counters[id].clone(),
            idle_streams: RefCell::new(IdMap::default()),
            next_conn: Cell::new(0),
            conn_hashes,
            tls_connectors,
            sni_from_host,
            purge_timers,
            h2_pools: layout
                .backends
                .iter()
                .map(|backend| backend.servers.iter().map(|_| Default::default()).collect())
                .collect(),
            cursors: layout.backends.iter().map(|_| Cell::new(id)).collect(),
            balancers: layout
                .backends
                .iter()
                .map(|backend| RefCell::new(Balancer::new(backend.servers.len())))
                .collect(),
            sessions: RefCell::new(IdMap::default()),
            next_session: Cell::new(0),
            limits: Limits {
                max_head: process.config.global.max_request_head,
            },
            stop: LocalStop::default(),
            busy_requests: Cell::new(0),
            logs: ShardLogs::new(&process, id),
            check_wakes: Default::default(),
            process,
        }
    }

    /// The hash a connection to the server carries for a request sending `sni` from `client`
    /// (§1.4): connections with equal hashes are interchangeable. A `send_proxy` server's
    /// connections announced their client, so the client is part of their hash.
    pub fn conn_hash(
        &self,
        backend: usize,
        server: usize,
        sni: Option<&str>,
        client: SocketAddr,
    ) -> u64 {
        let config = &self.process.config.backends[backend].servers[server];
        let host_sni = config
            .tls
            .as_ref()
            .is_some_and(|tls| tls.sni == Some(Sni::Host));
        let client = config.send_proxy.map(|_| client);
        if host_sni || client.is_some() {
            server_hash(&self.process.layout, backend, server, sni, client)
        } else {
            self.conn_hashes[backend][server]
        }
    }

    /// The hash of the server's connections that carry nothing per request (no SNI from the
    /// Host, no announced client): the ones a reload hands over.
    pub fn base_hash(&self, backend: usize, server: usize) -> u64 {
        self.conn_hashes[backend][server]
    }

    /// Arms the server's purge timer on this shard if it is not armed.
    pub fn arm_purge(&self, backend: usize, server: usize) {
        let timer = &self.purge_timers[backend][server];
        if timer.deadline.get().is_none() {
            let delay = self.process.idle[backend][server].shared().purge_delay();
            timer.deadline.set(Some(Instant::now() + delay));
            timer.armed.notify();
        }
    }

    /// A request begins: the first one wakes a control tick asleep, which flushes its
    /// access log line within a tick.
    pub fn request_began(&self) {
        let busy = self.busy_requests.get() + 1;
        self.busy_requests.set(busy);
        if busy == 1 {
            self.process.doorbells[self.id].ring_if_asleep();
        }
    }

    pub fn request_ended(&self) {
        self.busy_requests
            .set(self.busy_requests.get().saturating_sub(1));
    }

    pub fn stopping(&self) -> bool {
        self.stop.is_stopped() || self.process.is_stopping()
    }

    /// A process-unique session id: the shard in the high bits.
    /// Milliseconds from the process start to `at`: the time base of the rate counters.
    #[inline]
    pub fn uptime_ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.process.layout.started)
            .as_millis() as u64
    }

    pub fn new_session_id(&self) -> u64 {
        let counter = self.next_session.get() + 1;
        self.next_session.set(counter);
        ((self.id as u64) << 48) | counter
    }

    /// A process-unique server connection id: the shard in the high bits.
    pub fn new_conn_id(&self) -> u64 {
        let counter = self.next_conn.get() + 1;
        self.next_conn.set(counter);
        ((self.id as u64) << 48) | counter
    }

    /// Drops the streams of idle connections that peers took from this shard. Their sockets
    /// live on in the peer, so they leave this shard's epoll set first.
    pub fn drop_orphans(&self, backend: usize, server: usize) {
        let idle = &self.process.idle[backend][server];
        while let Some(id) = idle.next_orphan(self.id) {
            if let Some(mut stream) = self.idle_streams.borrow_mut().remove(&id) {
                stream.socket.leave_poller();
            }
        }
    }

    /// Closes idle connections the pool gave up (purge, maintenance, stop, descriptor
    /// pressure), counting each under `reason`.
    fn close_pooled(
        &self,
        backend: usize,
        server: usize,
        closed: Vec<IdleConn>,
        reason: CloseReason,
    ) {
        if reason == CloseReason::Purged {
            self.counters.servers[backend][server]
                .purged
                .add(closed.len() as u64);
        }
        let mut streams = self.idle_streams.borrow_mut();
        for conn in closed {
            // Idle: nothing in flight, so a reset, not a FIN (`Socket::abort_on_close`).
            if let Some(stream) = streams.remove(&conn.id) {
                stream.socket.abort_on_close();
            }
            record_idle_close(self, backend, server, reason, conn.requests);
        }
    }

    /// Past the high descriptor mark, each connection attempt first closes this shard's oldest
    /// idle connection to the server (HAProxy's `connect_server`), even when reuse succeeds.
    pub fn relieve_fd_pressure(&self, backend: usize, server: usize) {
        if self.process.fd_pressure().below_high() {
            return;
        }
        let oldest = self.process.idle[backend][server].own(self.id).pop_oldest();
        if let Some(conn) = oldest {
            self.close_pooled(backend, server, vec![conn], CloseReason::FdPressure);
        }
    }

    /// Closes the idle connection `id` if the server sent something on it (a byte, a close, an
    /// error) while it sat in this shard's pool. A stale report (the connection was taken and
    /// came back clean since) only re-arms its watch.
    fn close_if_unclean(&self, id: u64) {
        let mut streams = self.idle_streams.borrow_mut();
        let Some(stream) = streams.get(&id) else {
            return;
        };
        let (backend, server) = (stream.backend, stream.server);
        let state = stream.socket.idle_check();
        if state == IdleCheck::Quiet {
            let _ = stream.socket.watch(id);
            return;
        }
        let idle = &self.process.idle[backend][server];
        let mut removed = idle.own(self.id).remove_where(|conn| conn.id == id);
        let Some(conn) = removed.pop() else {
            // A peer took it: it is the peer's now, and this shard only drops its copy.
            drop(streams);
            self.drop_orphans(backend, server);
            return;
        };
        if let Some(stream) = streams.remove(&id) {
            stream.socket.abort_on_close();
        }
        record_idle_close(
            self,
            backend,
            server,
            idle_close_reason(state),
            conn.requests,
        );
    }

    /// New pool settings from the runtime API: a purge timer armed with the old delay fires
    /// by the new one if sooner, and idle connections over a lowered `pool_max_conn` close,
    /// this shard's oldest first (`pooling_disabled` at 0, `pool_full` otherwise).
    fn apply_pool_limits(&self, backend: usize, server: usize) {
        let idle = &self.process.idle[backend][server];
        let timer = &self.purge_timers[backend][server];
        if let Some(deadline) = timer.deadline.get() {
            let sooner = Instant::now() + idle.shared().purge_delay();
            if sooner < deadline {
                timer.deadline.set(Some(sooner));
                timer.armed.notify();
            }
        }
        let max = idle.shared().pool_max_conn();
        let Ok(max) = usize::try_from(max) else {
            return; // -1: unlimited
        };
        let reason = if max == 0 {
            CloseReason::PoolingDisabled
        } else {
            CloseReason::PoolFull
        };
        let mut closed = Vec::new();
        {
            let mut pool = idle.own(self.id);
            while idle.shared().idle_count() > max {
                match pool.pop_oldest() {
                    Some(conn) => closed.push(conn),
                    None => break,
                }
            }
        }
        self.close_pooled(backend, server, closed, reason);
    }

    fn close_idle(&self, backend: usize, server: usize, reason: CloseReason) {
        let closed = self.process.idle[backend][server].own(self.id).drain_all();
        self.close_pooled(backend, server, closed, reason);
        self.drop_orphans(backend, server);
    }

    /// Every (backend, server) pair.
    fn servers(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.process
            .idle
            .iter()
            .enumerate()
            .flat_map(|(backend, servers)| (0..servers.len()).map(move |server| (backend, server)))
    }

    fn run_command(&self, command: ShardCommand) {
        match command {
            ShardCommand::ShutdownSession(id) => {
                if let Some(session) = self.sessions.borrow().get(&id) {
                    session.shutdown();
                }
            }
            ShardCommand::ShutdownServerSessions { backend, server } => {
                for session in self.sessions.borrow().values() {
                    if session.server.get() == Some((backend, server)) {
                        session.shutdown();
                    }
                }
            }
            ShardCommand::CloseIdle { backend, server } => {
                self.close_idle(backend, server, CloseReason::Maintenance)
            }
            ShardCommand::PoolLimitsChanged { backend, server } => {
                self.apply_pool_limits(backend, server)
            }
            ShardCommand::ServerDown { backend, server } => {
                self.close_idle(backend, server, CloseReason::ServerDown)
            }
            ShardCommand::Observed {
                backend,
                server,
                errors,
                last,
            } => crate::server::observe::on_errors(self, backend, server, errors, last),
            ShardCommand::ShowSessions(reply) => {
                reply.send(crate::client::sessions::snapshot(self))
            }
            ShardCommand::ClearCounters { all, done } => {
                if all {
                    self.counters.clear_all();
                } else {
                    self.counters.clear_max();
                }
                done.send();
            }
        }
    }

    /// Stop: no more accepts, idle keep-alive clients are closed, busy ones finish their request.
    /// A generation retiring for a successor (a reload) cuts no idle client instead: each ends
    /// after its next response (which says `Connection: close`) or at its keep-alive timeout,
    /// so that no request in flight towards it is lost.
    fn begin_stop(&self) {
        if !self.stop.is_stopped() && self.hand_over_idle() > 0 {
            self.logs.flush_all();
        }
        self.stop.trigger();
        if self.process.retiring.load(Relaxed) {
            return;
        }
        for session in self.sessions.borrow().values() {
            if session.phase.get() == SessionPhase::Idle {
                session.shutdown();
            }
        }
    }
}

/// How long a shard's poller naps in `epoll_wait` before it sleeps in glommio: 10 ms where the
/// load kit keeps `ringway_net::DEFAULT_NAP` (1 ms). A shard's request path waits only on its
/// poller (sockets, `sleep_until`), and at 15 000 to 27 000 req/s 10 ms naps cost 10–14 % less
/// CPU per request (fewer naps run out into a glommio sleep) at the same latency; its glommio
/// timers (the control tick, the pool's purge timers) are coarse. The load generator's and the
/// origin's latency suffered from 10 ms naps, so they keep theirs short.
const SHARD_NAP: Duration = Duration::from_millis(10);

/// The shard's main task; returns when the shard has stopped.
pub async fn run_shard(ctx: Rc<ShardCtx>, listeners: Vec<Vec<Listener>>) {
    let rounds = ctx.process.config.global.spin_rounds;
    let spin = ringway_net::Spin::Adaptive(rounds);
    if let Err(error) = ringway_net::Poller::install(spin, SHARD_NAP) {
        // Every socket retries at its creation; until one succeeds none can be served.
        ctx.process.log.err(format_args!(
            "shard {}: cannot create its epoll poller: {error}",
            ctx.id
        ));
    }
    let mut tasks = Vec::new();
    for (frontend, binds) in listeners.into_iter().enumerate() {
        for listener in binds {
            tasks.push(ringway_net::spawn(accept_loop(
                ctx.clone(),
                frontend,
                listener,
            )));
        }
    }
    for (backend, server) in ctx.servers() {
        ringway_net::spawn(purge_loop(ctx.clone(), backend, server)).detach();
    }
    ringway_net::spawn(watch_idle(ctx.clone())).detach();
    let process = ctx.process.clone();
    let id = ctx.id;
    ringway_net::spawn(async move {
        if let Err(error) = process.remote_wakes[id].serve().await {
            process.log.err(format_args!(
                "shard {id}: cannot wait for other shards' wakes: {error}"
            ));
        }
    })
    .detach();
    if ctx.id == 0 {
        crate::server::health::spawn_checks(&ctx);
    }
    control_tick(&ctx).await;
    for task in tasks {
        task.await;
    }
    drain_sessions(&ctx).await;
    ctx.hand_over_idle();
    for (backend, server) in ctx.servers() {
        ctx.close_idle(backend, server, CloseReason::Stop);
    }
    ctx.logs.flush_all();
}

async fn accept_loop(ctx: Rc<ShardCtx>, frontend: usize, listener: Listener) {
    ctx.process.accepting.fetch_add(1, Relaxed);
    loop {
        let accepted =
            futures_lite::future::or(async { Some(listener.accept_from().await) }, async {
                ctx.stop.wait().await;
                None
            })
            .await;
        let (stream, peer) = match accepted {
            None => {
                // A successor may accept on this socket through its own duplicate.
                listener.leave_poller();
                ctx.process.accepting.fetch_sub(1, Relaxed);
                return;
            }
            Some(Ok(accepted)) => accepted,
            Some(Err(error)) => {
                ctx.process
                    .log
                    .err(format_args!("shard {}: accept failed: {error}", ctx.id));
                sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let process = &ctx.process;
        let open = process
            .counters
            .iter()
            .map(|shard| {
                shard
                    .frontends
                    .iter()
                    .map(|fe| fe.sessions.get())
                    .sum::<i64>()
            })
            .sum::<i64>();
        if open as usize >= process.config.global.max_conn {
            // Over the process-wide limit: refuse by closing at once, like a full accept queue.
            drop(stream);
            continue;
        }
        ctx.counters.activity.accepted.inc();
        ringway_net::spawn(run_session(ctx.clone(), frontend, stream, peer)).detach();
    }
}

/// Time since the first call in this process: the monotonic clock the pools' purge runs share
/// (any fixed instant serves, as long as every shard uses the same).
fn since_start() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

async fn purge_loop(ctx: Rc<ShardCtx>, backend: usize, server: usize) {
    let timer = &ctx.purge_timers[backend][server];
    loop {
        if ctx.stop.is_stopped() {
            return;
        }
        let Some(deadline) = timer.deadline.get() else {
            futures_lite::future::or(timer.armed.notified(), ctx.stop.wait()).await;
            continue;
        };
        let now = Instant::now();
        if deadline > now {
            // A new purge delay from the runtime API may bring the deadline forward.
            let woken = futures_lite::future::or(sleep(deadline - now), timer.armed.notified());
            futures_lite::future::or(woken, ctx.stop.wait()).await;
            continue;
        }
        let (closed, outcome) = ctx.process.idle[backend][server]
            .own(ctx.id)
            .purge(since_start());
        ctx.close_pooled(backend, server, closed, CloseReason::Purged);
        ctx.drop_orphans(backend, server);
        let delay = ctx.process.idle[backend][server].shared().purge_delay();
        timer
            .deadline
            .set(outcome.rearm.then(|| Instant::now() + delay));
    }
}

/// Closes idle connections on which the server sends anything: a server closing an idle
/// keep-alive connection (its keep-alive timeout) is answered at once, and bytes no request
/// asked for (a late response, a body after a HEAD answer) never reach the next client.
async fn watch_idle(ctx: Rc<ShardCtx>) {
    let mut fired = Vec::new();
    loop {
        let stopped = futures_lite::future::or(
            async {
                ringway_net::watch_fired(&mut fired).await;
                false
            },
            async {
                ctx.stop.wait().await;
                true
            },
        )
        .await;
        if stopped {
            return;
        }
        for id in fired.drain(..) {
            ctx.close_if_unclean(id);
        }
    }
}

/// Applies commands and watches the stop flag until the process stops. Every
/// `CONTROL_TICK` while the shard serves requests (their access log lines are flushed here);
/// with none in progress (no session, or only idle keep-alive ones) it sleeps until its
/// doorbell rings (a command, the stop, a request beginning, a predecessor's connections, a
/// peer taking one of its idle connections over): an idle shard is woken by no timer of the
/// tick's.
async fn control_tick(ctx: &ShardCtx) {
    let queue = &ctx.process.commands[ctx.id];
    let doorbell = ctx.process.doorbells[ctx.id].listen();
    if let Err(error) = &doorbell {
        ctx.process.log.warning(format_args!(
            "shard {}: no doorbell, ticking: {error}",
            ctx.id
        ));
    }
    let mut last_poller = ringway_net::PollerActivity::default();
    let mut last_tick = Instant::now();
    loop {
        while let Some(command) = queue.pop() {
            ctx.run_command(command);
        }
        ctx.adopt_incoming();
        for (backend, server) in ctx.servers() {
            ctx.drop_orphans(backend, server);
        }
        ctx.logs.flush_all();
        // Whichever shard is awake samples (at most once a second in all): a busy shard's
        // traffic is sampled even while the others sleep.
        ctx.process.advice.sample(&ctx.process);
        // glommio's statistics count from the previous call, which takes them.
        let tasks = glommio::executor().executor_stats().tasks_executed();
        ctx.counters.activity.ctxsw.add(tasks);
        let poller = ringway_net::Poller::activity();
        let activity = &ctx.counters.activity;
        activity.loops.add(poller.loops - last_poller.loops);
        activity.poll_io.add(poller.poll_io - last_poller.poll_io);
        activity.poll_exp.add(poller.parks - last_poller.parks);
        let now = Instant::now();
        let wall = now.saturating_duration_since(last_tick).as_micros() as u64;
        let idle = poller.idle_us - last_poller.idle_us;
        if let Some(pct) = (idle * 100).checked_div(wall) {
            activity.idle_pct.set(pct.min(100));
        }
        last_tick = now;
        last_poller = poller;
        if ctx.process.stopping.load(Relaxed) {
            ctx.begin_stop();
            return;
        }
        match &doorbell {
            // No request in progress (idle keep-alive clients make no log line): no need to
            // wake 50 times a second; a request that begins rings the doorbell.
            Ok(doorbell) if ctx.busy_requests.get() == 0 => {
                doorbell.fall_asleep();
                // A peer that took a connection before it saw this shard asleep did not ring.
                for (backend, server) in ctx.servers() {
                    ctx.drop_orphans(backend, server);
                }
                // Idle until woken: no timer of the tick's own wakes an idle shard.
                activity.idle_pct.set(100);
                doorbell.rung().await;
                doorbell.wake_up();
            }
            _ => sleep(CONTROL_TICK).await,
        }
    }
}

/// Lets in-flight requests finish, up to the longest client timeout, then closes the rest.
async fn drain_sessions(ctx: &ShardCtx) {
    // A connection accepted just before the stop runs in a task that has not been polled yet,
    // and a session reading its PROXY header is not registered yet: let the queued tasks start
    // (each counts itself in its frontend's `sessions` gauge first thing), then wait for the
    // gauge too. Ending the shard under them would close their sockets with the request unread:
    // a reset for the client.
    futures_lite::future::yield_now().await;
    let grace = ctx
        .process
        .config
        .frontends
        .iter()
        .map(|frontend| frontend.timeouts.client)
        .max()
        .unwrap_or_default();
    let deadline = Instant::now() + grace;
    let starting = || {
        let counters = &ctx.counters.frontends;
        counters
            .iter()
            .map(|frontend| frontend.sessions.get())
            .sum::<i64>()
            > 0
    };
    while (!ctx.sessions.borrow().is_empty() || starting()) && Instant::now() < deadline {
        ctx.begin_stop();
        ctx.logs.flush_all();
        sleep(CONTROL_TICK).await;
    }
    for session in ctx.sessions.borrow().values() {
        session.shutdown();
    }
    while !ctx.sessions.borrow().is_empty() {
        sleep(CONTROL_TICK).await;
    }
}

/// A server's connection hash: its identity and address, the SNI when there is one, and the
/// client a PROXY protocol header announced.
pub(crate) fn server_hash(
    layout: &Layout,
    backend: usize,
    server: usize,
    sni: Option<&str>,
    client: Option<SocketAddr>,
) -> u64 {
    let backend = &layout.backends[backend];
    let server = &backend.servers[server];
    conn_hash(server.sid, server.address, sni, client) ^ backend.iid as u64
}
