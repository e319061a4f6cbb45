//! HTTP/2 servers (`proto = "h2"`): h2 by ALPN over TLS, h2c with prior knowledge in clear
//! text. Each shard keeps, per server, its HTTP/2 connections ([`H2Pool`]); one carries as
//! many requests at once as the server's SETTINGS allow, and while it has a free stream it is
//! *available* (HAProxy's `avail_conns`): a request takes the first available connection its
//! `http_reuse` mode allows before it opens one:
//! - `never`: connections are private to the client (its connection, for an HTTP/2 client);
//! - `safe`: a client's first request gets a connection of its own, shared once that request
//!   ends; later requests share;
//! - `aggressive`, `always`: shared from the start.
//!
//! `max_reuse` counts streams: a connection that carried that many takes no more and closes
//! once its last stream ends. A connection without streams is idle: at most `pool_max_conn`
//! idle ones stay (-1: no bound), each closed after `pool_purge_delay` without a stream. A
//! shard with no available connection takes a peer's idle one over, as for HTTP/1.1, when the
//! server-wide idle count reaches `pool_low_conn` ([`takeover`]). `maxconn` counts requests
//! (each holds a slot), not connections.
//! The exchange sees each stream as an HTTP/1.1 byte stream ([`ServerStream`]).

mod accounting;
mod homed;
mod stream_io;
mod takeover;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use h2::client::SendRequest;
use ringway_pool::ReuseMode;
use tokio_util::compat::FuturesAsyncReadCompatExt;

use crate::http2::frames::{Side, Tallied};
use crate::process::shard::ShardCtx;
use crate::server::h2::accounting::Counted;
use crate::server::h2::homed::Homed;
use crate::server::h2::takeover::{H2Connection, Moving, Offer};
use crate::server::server_conn::open_stream;
use crate::tls::{self, Stream};
pub use stream_io::ServerStream;
pub use takeover::Shelf;

/// Streams we accept from a server at once: none (servers do not push; h2's client refuses
/// pushes with `enable_push(false)`), and the windows of the responses we read.
const STREAM_WINDOW: u32 = 256 * 1024;
const CONNECTION_WINDOW: u32 = 4 * 1024 * 1024;

/// One HTTP/2 connection to a server.
pub struct H2Conn {
    pub id: u64,
    /// None once retired: with its last stream over, the connection then closes.
    send: RefCell<Option<SendRequest<Bytes>>>,
    /// Streams of ours in flight on it.
    open: Cell<usize>,
    /// Streams begun on it (`max_reuse`).
    begun: Cell<u64>,
    /// The client it is private to (`never`; `safe` during a client's first request).
    owner: Cell<Option<u64>>,
    /// The connection ended (GOAWAY, error, close): it takes no more streams.
    closed: Cell<bool>,
    idle_since: Cell<Instant>,
    /// The driver's idle watch, waiting for the last stream to end.
    idle_waker: RefCell<Option<Waker>>,
    /// Where the server's pool accounting has it (`show servers conn`); private: never.
    counted: Cell<Counted>,
    private: bool,
    /// Its offer to peer shards while idle (none: one shard, or private connections).
    offer: Option<Arc<Offer>>,
    /// The offer is on the server's shelf.
    shelved: Cell<bool>,
    /// A peer claimed it: it goes to that shard and takes no more streams here.
    leaving: Cell<bool>,
}

impl H2Conn {
    /// It can take one more stream now.
    fn has_room(&self) -> bool {
        !self.closed.get()
            && !self.leaving.get()
            && self
                .send
                .borrow()
                .as_ref()
                .is_some_and(|send| self.open.get() < send.current_max_send_streams())
    }

    /// A handle to open a stream on the connection; None once it is retired.
    pub fn send_request(&self) -> Option<SendRequest<Bytes>> {
        self.send.borrow().clone()
    }

    /// Takes no more streams; it closes once those in flight end.
    fn retire(&self) {
        self.closed.set(true);
        self.send.borrow_mut().take();
    }

    /// Brings the server's pool accounting up to date with the connection's state.
    fn recount(&self, ctx: &ShardCtx, backend: usize, server: usize) {
        let now = if self.closed.get() || self.private {
            Counted::Out
        } else if self.open.get() > 0 {
            Counted::Used
        } else {
            Counted::Idle
        };
        let shared = &ctx.process.layout.backends[backend].servers[server].pool;
        accounting::recount(shared, ctx.id, self.counted.replace(now), now);
    }

    /// Offers the connection to peer shards if it is idle and may be shared.
    fn shelve(&self, ctx: &ShardCtx, backend: usize, server: usize) {
        let Some(offer) = &self.offer else {
            return;
        };
        let limits = ctx.process.layout.backends[backend].servers[server]
            .pool
            .limits();
        let shareable = !self.closed.get()
            && !self.leaving.get()
            && self.open.get() == 0
            && self.owner.get().is_none()
            && limits.reuse_allowed(self.begun.get());
        if shareable && !self.shelved.replace(true) {
            ctx.process.idle[backend][server].h2.put(offer);
        }
    }

    /// Takes the connection's offer back before this shard uses it; false if a peer claimed
    /// it meanwhile (it is then leaving).
    fn unshelve(&self, ctx: &ShardCtx, backend: usize, server: usize) -> bool {
        let Some(offer) = &self.offer else {
            return true;
        };
        if !self.shelved.replace(false) {
            return !self.leaving.get();
        }
        if ctx.process.idle[backend][server].h2.withdraw(offer) {
            return true;
        }
        self.leaving.set(true);
        false
    }
}

/// A shard's HTTP/2 connections to one server.
#[derive(Default)]
pub struct H2Pool {
    conns: RefCell<Vec<Rc<H2Conn>>>,
    /// Connections with a stream in flight now.
    busy: Cell<usize>,
    /// The most connections busy at once in this purge period and in the one before: the
    /// need an idle connection is kept for (HAProxy's `est_need`).
    peak: Cell<usize>,
    peak_before: Cell<usize>,
    period_start: Cell<Option<Instant>>,
}

impl H2Pool {
    /// A connection took its first stream in flight.
    fn became_busy(&self) {
        self.busy.set(self.busy.get() + 1);
        self.peak.set(self.peak.get().max(self.busy.get()));
    }

    /// Connections worth keeping, busy and idle: the peak of busy ones over the last one to
    /// two purge periods.
    fn need(&self, now: Instant, period: std::time::Duration) -> usize {
        let start = *self.period_start.get().get_or_insert(now);
        if now.saturating_duration_since(start) >= period {
            self.peak_before.set(self.peak.get());
            self.peak.set(self.busy.get());
            self.period_start.set(Some(now));
        } else {
            self.period_start.set(Some(start));
        }
        self.peak.get().max(self.peak_before.get())
    }
}

/// A stream of a connection, held by one request; its end frees the stream.
pub struct StreamSlot {
    pub conn: Rc<H2Conn>,
    pool: Rc<ShardCtx>,
    backend: usize,
    server: usize,
    /// The request's client, when the connection became its own for this request (`safe`).
    first_of: Option<u64>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let conn = &self.conn;
        conn.open.set(conn.open.get() - 1);
        if conn.open.get() == 0 {
            let pool = &self.pool.h2_pools[self.backend][self.server];
            pool.busy.set(pool.busy.get().saturating_sub(1));
            if let Some(waker) = conn.idle_waker.borrow_mut().take() {
                waker.wake();
            }
        }
        self.pool.counters.servers[self.backend][self.server]
            .h2
            .stream_ended();
        if self.first_of.is_some() && conn.owner.get() == self.first_of {
            conn.owner.set(None);
        }
        if conn.open.get() == 0 {
            conn.idle_since.set(Instant::now());
            release_idle(&self.pool, self.backend, self.server);
        }
        conn.recount(&self.pool, self.backend, self.server);
        conn.shelve(&self.pool, self.backend, self.server);
    }
}

/// A stream for a request of `client` (its session, or its HTTP/2 connection's) on an
/// available connection, or on a new one. `first`: the client's first request (`safe`).
/// Returns the stream and whether its connection was reused.
pub async fn acquire(
    ctx: &Rc<ShardCtx>,
    backend: usize,
    server: usize,
    client: u64,
    first: bool,
    may_reuse: bool,
) -> io::Result<(StreamSlot, bool)> {
    let mode = ctx.process.config.backends[backend].http_reuse;
    let pool = &ctx.h2_pools[backend][server];
    let limits = ctx.process.layout.backends[backend].servers[server]
        .pool
        .limits();
    let own = mode == ReuseMode::Never || (mode == ReuseMode::Safe && first);
    if may_reuse {
        pool.conns.borrow_mut().retain(|conn| !conn.closed.get());
        loop {
            let found = pool
                .conns
                .borrow()
                .iter()
                .find(|conn| {
                    let owner = conn.owner.get();
                    let allowed = if own {
                        owner == Some(client)
                    } else {
                        owner.is_none() || owner == Some(client)
                    };
                    allowed && conn.has_room() && limits.reuse_allowed(conn.begun.get())
                })
                .cloned();
            let Some(conn) = found else {
                break;
            };
            if conn.unshelve(ctx, backend, server) {
                return Ok((
                    take_stream(ctx, backend, server, conn, client, own, mode),
                    true,
                ));
            }
        }
        if !own {
            if let Some(conn) = take_over(ctx, backend, server).await {
                pool.conns.borrow_mut().push(conn.clone());
                return Ok((
                    take_stream(ctx, backend, server, conn, client, own, mode),
                    true,
                ));
            }
        }
    }
    let conn = connect(ctx, backend, server).await?;
    pool.conns.borrow_mut().push(conn.clone());
    Ok((
        take_stream(ctx, backend, server, conn, client, own, mode),
        false,
    ))
}

fn take_stream(
    ctx: &Rc<ShardCtx>,
    backend: usize,
    server: usize,
    conn: Rc<H2Conn>,
    client: u64,
    own: bool,
    mode: ReuseMode,
) -> StreamSlot {
    conn.open.set(conn.open.get() + 1);
    conn.begun.set(conn.begun.get() + 1);
    if conn.open.get() == 1 {
        ctx.h2_pools[backend][server].became_busy();
    }
    ctx.counters.servers[backend][server].h2.stream_began();
    conn.recount(ctx, backend, server);
    let first_of = if own && conn.owner.get().is_none() {
        conn.owner.set(Some(client));
        (mode == ReuseMode::Safe).then_some(client)
    } else {
        None
    };
    StreamSlot {
        conn,
        pool: ctx.clone(),
        backend,
        server,
        first_of,
    }
}

/// Opens an HTTP/2 connection to the server and starts its driver task, counted as a new
/// server connection (`connect`; a failure in `econ` by the caller).
async fn connect(ctx: &Rc<ShardCtx>, backend: usize, server: usize) -> io::Result<Rc<H2Conn>> {
    let config = &ctx.process.config.backends[backend];
    let counters = &ctx.counters.servers[backend][server];
    counters.connect.inc();
    let sni = tls::request_sni(&config.servers[server], "");
    let stream = open_stream(ctx, backend, server, sni, None).await?;
    let _ = stream.io().set_write_timeout(Some(config.timeouts.server));
    let id = ctx.new_conn_id();
    let io = Tallied::new(stream, ctx.counters.clone(), Side::Server(backend, server));
    let handshake = h2::client::Builder::new()
        .enable_push(false)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_header_list_size(u32::try_from(ctx.limits.max_head).unwrap_or(u32::MAX))
        .handshake::<_, Bytes>(Homed::settle(id, io).compat());
    let (send, connection) = match crate::http2::within(config.timeouts.connect, handshake).await {
        Some(Ok(pair)) => pair,
        Some(Err(error)) => return Err(io::Error::new(io::ErrorKind::ConnectionRefused, error)),
        None => return Err(io::ErrorKind::TimedOut.into()),
    };
    Ok(start(
        ctx,
        backend,
        server,
        (id, 0, Instant::now()),
        send,
        connection,
    ))
}

/// A connection (`id`, streams begun, idle since) that runs on this shard from now on.
fn start(
    ctx: &Rc<ShardCtx>,
    backend: usize,
    server: usize,
    (id, begun, idle_since): (u64, u64, Instant),
    send: SendRequest<Bytes>,
    connection: H2Connection,
) -> Rc<H2Conn> {
    let private = ctx.process.config.backends[backend].http_reuse == ReuseMode::Never;
    let shared = ctx.process.doorbells.len() > 1 && !private;
    let conn = Rc::new(H2Conn {
        id,
        send: RefCell::new(Some(send)),
        open: Cell::new(0),
        begun: Cell::new(begun),
        owner: Cell::new(None),
        closed: Cell::new(false),
        idle_since: Cell::new(idle_since),
        idle_waker: RefCell::new(None),
        counted: Cell::new(Counted::Out),
        private,
        offer: shared.then(|| Offer::new(ctx.id)),
        shelved: Cell::new(false),
        leaving: Cell::new(false),
    });
    ringway_net::spawn(drive(
        ctx.clone(),
        backend,
        server,
        connection,
        conn.clone(),
    ))
    .detach();
    conn
}

/// A peer's idle connection to the server, taken over when the server-wide idle count
/// allows it (`pool_low_conn`, as for HTTP/1.1).
async fn take_over(ctx: &Rc<ShardCtx>, backend: usize, server: usize) -> Option<Rc<H2Conn>> {
    let shards = ctx.process.doorbells.len();
    let idle = &ctx.process.idle[backend][server];
    let shared = idle.shared();
    if shards < 2 || !shared.takeover_allowed(!ctx.process.fd_pressure().below_low()) {
        return None;
    }
    let start = shared.next_takeover();
    for step in 0..shards {
        let peer = (start + step) % shards;
        if peer == ctx.id || shared.idle_of_shard(peer) == 0 {
            continue;
        }
        let Some((offer, owner)) = idle.h2.claim(peer, ctx.id) else {
            continue;
        };
        let remote = &ctx.process.remote_wakes;
        if let Some(owner) = owner {
            remote[peer].wake(owner);
        }
        let timeout = ctx.process.config.backends[backend].timeouts.connect;
        let given = futures_lite::future::poll_fn(|cx| offer.poll_given(cx));
        let moving = match crate::http2::within(timeout, given).await {
            Some(moving) => moving,
            None => match offer.abandon() {
                Ok(moving) => moving,
                Err(owner) => {
                    if let Some(owner) = owner {
                        remote[peer].wake(owner);
                    }
                    None
                }
            },
        };
        let Some(moving) = moving else {
            continue;
        };
        shared.set_next_takeover(peer);
        ctx.counters.servers[backend][server].takeovers.inc();
        ctx.counters.activity.fd_takeover.inc();
        if let Ok(conn) = settle(ctx, backend, server, moving) {
            return Some(conn);
        }
    }
    None
}

/// A connection another shard gave up, rebuilt on this one: its socket in this shard's
/// poller, its frames counted here.
fn settle(
    ctx: &Rc<ShardCtx>,
    backend: usize,
    server: usize,
    moving: Box<Moving>,
) -> io::Result<Rc<H2Conn>> {
    let Moving {
        id,
        connection,
        send,
        tcp,
        tls,
        tally,
        begun,
        idle_since,
    } = *moving;
    let socket = ringway_net::Socket::from_std(tcp)?;
    let _ = socket.set_write_timeout(Some(ctx.process.config.backends[backend].timeouts.server));
    let io = Tallied::arrive(Stream::from_parts(socket, tls), ctx.counters.clone(), tally);
    Homed::resettle(id, io);
    Ok(start(
        ctx,
        backend,
        server,
        (id, begun, idle_since),
        send,
        connection,
    ))
}

/// Everything of an idle connection a peer claimed, its socket out of this shard's poller;
/// None if it cannot go (it closed, or took a stream).
fn pack(conn: &H2Conn, connection: H2Connection) -> Option<Box<Moving>> {
    if conn.open.get() > 0 || conn.closed.get() {
        return None;
    }
    let send = conn.send.borrow_mut().take()?;
    let (stream, tally) = Homed::leave(conn.id)?.depart();
    let (socket, tls) = stream.into_parts();
    Some(Box::new(Moving {
        id: conn.id,
        connection,
        send,
        tcp: socket.into_std(),
        tls,
        tally,
        begun: conn.begun.get(),
        idle_since: conn.idle_since.get(),
    }))
}

/// How a connection's driver stopped.
enum End {
    /// The connection ended, or stayed idle past `pool_purge_delay`.
    Over,
    /// A peer claimed it.
    Claimed,
}

/// Runs the connection until it ends, until it has stayed without a stream for
/// `pool_purge_delay` (the pool then drops it), or until a peer shard takes it over.
async fn drive(
    ctx: Rc<ShardCtx>,
    backend: usize,
    server: usize,
    mut connection: H2Connection,
    conn: Rc<H2Conn>,
) {
    let idle_watch = async {
        loop {
            if conn.open.get() > 0 {
                futures_lite::future::poll_fn(|cx| {
                    if conn.open.get() == 0 {
                        return Poll::Ready(());
                    }
                    *conn.idle_waker.borrow_mut() = Some(cx.waker().clone());
                    Poll::Pending
                })
                .await;
                continue;
            }
            let delay = ctx.process.layout.backends[backend].servers[server]
                .pool
                .limits()
                .purge_delay;
            let until = conn.idle_since.get() + delay;
            if Instant::now() >= until {
                return;
            }
            ringway_net::sleep_until(until).await;
        }
    };
    let mut idle_watch = pin!(idle_watch);
    let end = futures_lite::future::poll_fn(|cx| {
        if Pin::new(&mut connection).poll(cx).is_ready() {
            return Poll::Ready(End::Over);
        }
        if let Some(offer) = &conn.offer {
            if (conn.shelved.get() || conn.leaving.get()) && offer.poll_claimed(cx).is_ready() {
                return Poll::Ready(End::Claimed);
            }
        }
        if idle_watch.as_mut().poll(cx).is_ready() {
            return Poll::Ready(End::Over);
        }
        Poll::Pending
    })
    .await;
    let mut moving = None;
    if let (End::Claimed, Some(offer)) = (end, &conn.offer) {
        conn.shelved.set(false);
        conn.leaving.set(true);
        match offer.give(pack(&conn, connection)) {
            Ok(taker) => {
                if let Some((taker, waker)) = taker {
                    ctx.process.remote_wakes[taker].wake(waker);
                }
            }
            // The peer stopped waiting: the connection stays here, under a new driver.
            Err(back) => moving = back,
        }
    } else if let Some(offer) = &conn.offer {
        if !conn.unshelve(&ctx, backend, server) {
            // Claimed as it ended: the peer is told at once.
            if let Ok(Some((taker, waker))) = offer.give(None) {
                ctx.process.remote_wakes[taker].wake(waker);
            }
        }
    }
    conn.retire();
    conn.recount(&ctx, backend, server);
    ctx.h2_pools[backend][server]
        .conns
        .borrow_mut()
        .retain(|other| other.id != conn.id);
    if let Some(moving) = moving {
        if let Ok(back) = settle(&ctx, backend, server, moving) {
            ctx.h2_pools[backend][server]
                .conns
                .borrow_mut()
                .push(back.clone());
            back.recount(&ctx, backend, server);
            back.shelve(&ctx, backend, server);
        }
    }
}

/// A connection's last stream ended: beyond `pool_max_conn` idle connections, or past its
/// `max_reuse`, it closes.
fn release_idle(ctx: &ShardCtx, backend: usize, server: usize) {
    let limits = ctx.process.layout.backends[backend].servers[server]
        .pool
        .limits();
    let pool = &ctx.h2_pools[backend][server];
    let need = pool.need(Instant::now(), limits.purge_delay);
    let mut conns = pool.conns.borrow_mut();
    // Idle connections kept: within pool_max_conn, and with the busy ones within the need.
    let max_idle = usize::try_from(limits.pool_max_conn)
        .unwrap_or(usize::MAX)
        .min(need.saturating_sub(pool.busy.get()));
    let mut idle = 0;
    conns.retain(|conn| {
        if conn.leaving.get() {
            return true;
        }
        let unused = conn.open.get() == 0;
        let spent = !limits.reuse_allowed(conn.begun.get());
        idle += usize::from(unused);
        let keep = !conn.closed.get() && !(unused && (spent || idle > max_idle));
        if !keep {
            conn.retire();
            conn.recount(ctx, backend, server);
        }
        keep
    });
}
