//! A connection to a server while it carries a request, and its moves in and out of the idle
//! pools. The accounting travels with it: `UsedSlot` keeps the server's `curr_used` right and
//! `FdGuard` the open descriptor count, on every path, errors included.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;

use ringway_net::{IdleCheck, Socket};
use ringway_pool::{KeepRefusal, KeepRequest, LookupPlan, ServerShared};
use ringway_stats::{CloseReason, ServerState};
use ringway_tls::rustls::Connection;

use crate::client::proxy_protocol::send_server_header;
use crate::process::reload::successor_base_hash;
use crate::process::shard::{IdleStream, ShardCtx};
use crate::process::FdGuard;
use crate::server::conn_close::{record_idle_close, refusal_reason, ConnRecord};
use crate::server::idle::IdleConn;
use crate::tls::{self, Stream};

/// The close reason of a connection found holding something while it sat idle.
pub fn idle_close_reason(state: IdleCheck) -> CloseReason {
    match state {
        IdleCheck::Data => CloseReason::UnexpectedData,
        IdleCheck::Quiet | IdleCheck::Closed => CloseReason::ServerClose,
    }
}

/// What a TLS connection already read holds beyond the response: decrypted bytes, or the
/// server's close_notify.
fn tls_input(tls: &mut Connection) -> IdleCheck {
    match tls.process_new_packets() {
        Ok(state) if state.peer_has_closed() => IdleCheck::Closed,
        Ok(state) if state.plaintext_bytes_to_read() > 0 => IdleCheck::Data,
        Ok(_) => IdleCheck::Quiet,
        Err(_) => IdleCheck::Closed,
    }
}

/// Closes an idle connection taken from this shard's pool because it was not clean.
fn close_taken(
    ctx: &ShardCtx,
    (backend, server, _hash): (usize, usize, u64),
    requests: u64,
    state: IdleCheck,
) {
    ctx.process.idle[backend][server].shared().drop_used();
    record_idle_close(ctx, backend, server, idle_close_reason(state), requests);
}

/// Peers' idle connections a request tries before it opens a new one, when the ones it takes
/// turn out closed.
const STEAL_ATTEMPTS: usize = 4;

/// Descriptors one server connection holds: the socket and the duplicate kept for takeover
/// (counted from the connect, though made only when the connection first enters the pool).
const FDS_PER_CONN: u64 = 2;

/// Membership in the server's `curr_used` count (non-private connections carrying a request).
struct UsedSlot {
    pool: Arc<ServerShared>,
    counted: bool,
}

impl UsedSlot {
    fn release(&mut self) {
        if std::mem::take(&mut self.counted) {
            self.pool.drop_used();
        }
    }
}

impl Drop for UsedSlot {
    fn drop(&mut self) {
        self.release();
    }
}

pub struct ServerConn {
    pub stream: Stream,
    /// A duplicate of the socket's descriptor, handed to a peer shard if it takes the
    /// connection while idle; made when it first enters the pool, so that a connection that
    /// never does (private, refused, closed after its response) costs no `fcntl` and `close`.
    dup: Option<OwnedFd>,
    id: u64,
    pub backend: usize,
    pub server: usize,
    pub hash: u64,
    /// Requests sent on this connection so far, and why it will close when dropped.
    pub record: ConnRecord,
    /// Owned by one client session (never mode, NTLM/Negotiate authentication).
    pub private: bool,
    used: UsedSlot,
    _fds: FdGuard,
}

pub(crate) fn duplicate(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor that we own, or -1.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `dup` is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(dup) })
}

/// A new connection to a server, ready for requests: TCP (options set), the PROXY protocol
/// header when given, then the TLS handshake sending `sni` when the server has TLS (counted in
/// its TLS counters). For HTTP/1.1 connections and HTTP/2 ones (`server::h2`) alike.
pub(crate) async fn open_stream(
    ctx: &ShardCtx,
    backend: usize,
    server: usize,
    sni: Option<&str>,
    proxy_header: Option<&[u8]>,
) -> io::Result<Stream> {
    let config = &ctx.process.config.backends[backend];
    let counters = &ctx.counters.servers[backend][server];
    let mut socket =
        Socket::connect(config.servers[server].address, config.timeouts.connect).await?;
    socket.set_nodelay(true)?;
    if config.tcp_keepalive.server {
        crate::process::set_keepalive(&socket, &config.tcp_keepalive)?;
    }
    if let Some(header) = proxy_header {
        send_server_header(&mut socket, header, config.timeouts.connect).await?;
    }
    match &ctx.tls_connectors[backend][server] {
        None => Ok(Stream::plain(socket)),
        Some(tls) => match tls::connect(socket, tls, sni, config.timeouts.connect).await {
            Ok(stream) => {
                counters.tls.record(stream.resumed());
                Ok(stream)
            }
            Err(error) => {
                counters.tls.failed.inc();
                Err(error)
            }
        },
    }
}

impl ServerConn {
    /// Opens a new connection to a server (with its PROXY protocol header when given, then its
    /// TLS handshake, sending `sni`), counting the attempt (`connect`) and a failure (`econ`).
    /// `hash` identifies the connection for reuse.
    pub async fn connect(
        ctx: &Rc<ShardCtx>,
        backend: usize,
        server: usize,
        private: bool,
        sni: Option<&str>,
        hash: u64,
        proxy_header: Option<&[u8]>,
    ) -> io::Result<ServerConn> {
        let process = &ctx.process;
        ctx.counters.servers[backend][server].connect.inc();
        // Counted as used from the attempt on, as HAProxy's `srv_use_conn` in `connect_server`:
        // connections still connecting (a TLS handshake takes a while) are part of the need
        // the keep-on-release estimate sees. A failure releases the slot.
        let pool = process.idle[backend][server].shared().clone();
        if !private {
            pool.use_conn();
        }
        let used = UsedSlot {
            pool,
            counted: !private,
        };
        let stream = open_stream(ctx, backend, server, sni, proxy_header).await?;
        Ok(ServerConn {
            stream,
            dup: None,
            id: ctx.new_conn_id(),
            backend,
            server,
            hash,
            record: ConnRecord::new(ctx, backend, server, 0),
            private,
            used,
            _fds: FdGuard::new(process, FDS_PER_CONN),
        })
    }

    /// Rebuilds a connection from its idle part; the pool already counted it as used.
    fn from_idle(
        ctx: &Rc<ShardCtx>,
        (backend, server, hash): (usize, usize, u64),
        tcp: Socket,
        idle: IdleConn,
    ) -> ServerConn {
        ServerConn {
            stream: Stream::from_parts(tcp, idle.tls),
            dup: Some(idle.dup),
            id: idle.id,
            backend,
            server,
            hash,
            record: ConnRecord::new(ctx, backend, server, idle.requests),
            private: false,
            used: UsedSlot {
                pool: ctx.process.idle[backend][server].shared().clone(),
                counted: true,
            },
            _fds: idle.guard,
        }
    }

    /// Closes the connection, counted under `reason`, after an exchange whose response is
    /// complete: nothing is in flight on it, so it is reset rather than FIN-closed and leaves
    /// no TIME_WAIT on this side's port ([`Socket::abort_on_close`]).
    pub fn discard(mut self, reason: CloseReason) {
        self.record.closing(reason);
        self.reset();
    }

    /// Closes an idle connection (a private one its session drops) under the reason it was
    /// kept with, by a reset as [`ServerConn::discard`].
    pub fn reset(self) {
        self.stream.io().abort_on_close();
    }

    /// The connection becomes private to its client session (HAProxy's `conn_set_private`).
    pub fn make_private(&mut self) {
        self.used.release();
        self.private = true;
    }

    /// An idle connection with this hash for the request, as `plan` allows: this shard's own
    /// first, then one taken from a peer shard when the server-wide idle count reaches
    /// `pool_low_conn`. A connection on which the server sent something while it was idle
    /// (bytes, a close) is closed instead, and the next one is tried.
    pub fn take_idle(
        ctx: &Rc<ShardCtx>,
        backend: usize,
        server: usize,
        hash: u64,
        plan: LookupPlan,
    ) -> Option<ServerConn> {
        let idle = &ctx.process.idle[backend][server];
        let target = (backend, server, hash);
        ctx.drop_orphans(backend, server);
        // Right after a reload, the predecessor's idle connections wait in a queue until the
        // control tick; a request that needs one takes them in now.
        ctx.adopt_incoming();
        loop {
            let Some((conn, _class)) = idle.own(ctx.id).take(hash, plan) else {
                break;
            };
            let Some(stream) = ctx.idle_streams.borrow_mut().remove(&conn.id) else {
                // Cannot happen: the stream is stored before its entry is offered.
                idle.shared().drop_used();
                return None;
            };
            // The poller knows whether anything came while it was idle: no system call.
            match stream.socket.unwatch() {
                IdleCheck::Quiet => {
                    return Some(ServerConn::from_idle(ctx, target, stream.socket, conn))
                }
                state => {
                    stream.socket.abort_on_close();
                    close_taken(ctx, target, conn.requests, state)
                }
            }
        }
        // A thief's socket is new to its poller: one peek tells whether it is clean.
        for _ in 0..STEAL_ATTEMPTS {
            let conn = Self::steal(ctx, target, plan)
                .or_else(|| Self::borrow_from_successor(ctx, target, plan))?;
            match conn.stream.io().idle_check() {
                IdleCheck::Quiet => return Some(conn),
                state => conn.discard(idle_close_reason(state)),
            }
        }
        None
    }

    /// A peer's idle connection, rebuilt on this shard.
    fn steal(
        ctx: &Rc<ShardCtx>,
        target: (usize, usize, u64),
        plan: LookupPlan,
    ) -> Option<ServerConn> {
        let (backend, server, hash) = target;
        let idle = &ctx.process.idle[backend][server];
        let fd_pressure = !ctx.process.fd_pressure().below_low();
        let conn = idle.steal(ctx.id, hash, plan, fd_pressure, &ctx.process.doorbells)?;
        ctx.counters.servers[backend][server].takeovers.inc();
        ctx.counters.activity.fd_takeover.inc();
        Self::rebuild(ctx, target, conn)
    }

    /// For a generation retiring at a reload: an idle connection its successor holds for the
    /// same server (this generation handed its own over), borrowed for one of the last
    /// requests; it goes back when that request is done. Without this, those requests would
    /// open new connections the successor then inherits, on top of its own.
    fn borrow_from_successor(
        ctx: &Rc<ShardCtx>,
        target: (usize, usize, u64),
        plan: LookupPlan,
    ) -> Option<ServerConn> {
        let (backend, server, hash) = target;
        let successor = ctx.process.successor.get()?;
        let (to_backend, to_server) = successor.servers[backend][server]?;
        if hash != ctx.base_hash(backend, server) {
            return None;
        }
        let their_hash = successor_base_hash(successor, to_backend, to_server);
        let pool = &successor.process.idle[to_backend][to_server];
        // No shard of the successor is this one: every one may be scanned.
        let owners = &successor.process.doorbells;
        let conn = pool.steal(usize::MAX, their_hash, plan, false, owners)?;
        // Used by this generation now, not by the successor.
        pool.shared().drop_used();
        ctx.process.idle[backend][server].shared().use_conn();
        ctx.counters.servers[backend][server].takeovers.inc();
        Self::rebuild(ctx, target, conn)
    }

    /// An idle connection taken from another shard's pool, as a stream of this shard's.
    fn rebuild(
        ctx: &Rc<ShardCtx>,
        target: (usize, usize, u64),
        conn: IdleConn,
    ) -> Option<ServerConn> {
        let (backend, server, _) = target;
        let idle = &ctx.process.idle[backend][server];
        let IdleConn {
            id,
            dup,
            tls,
            requests,
            guard,
        } = conn;
        let raw = dup.into_raw_fd();
        // SAFETY: `raw` came from an OwnedFd we just gave up; the new stream owns it.
        let stream = match Socket::from_std(unsafe { std::net::TcpStream::from_raw_fd(raw) }) {
            Ok(stream) => stream,
            Err(_) => {
                idle.shared().drop_used();
                record_idle_close(ctx, backend, server, CloseReason::FdPressure, requests);
                return None;
            }
        };
        let Ok(dup) = duplicate(raw) else {
            // Out of descriptors: close it; the pool already counted it as used.
            idle.shared().drop_used();
            record_idle_close(ctx, backend, server, CloseReason::FdPressure, requests);
            return None;
        };
        Some(ServerConn::from_idle(
            ctx,
            target,
            stream,
            IdleConn {
                id,
                dup,
                tls,
                requests,
                guard,
            },
        ))
    }

    /// What the connection holds after a complete exchange: anything but `Quiet` (bytes past
    /// the response, a close) means it must not carry another request. TLS records already
    /// read and decrypted count as bytes.
    pub fn idle_state(&mut self) -> IdleCheck {
        match self.stream.tls_mut().map_or(IdleCheck::Quiet, tls_input) {
            IdleCheck::Quiet => self.stream.io().idle_check(),
            state => state,
        }
    }

    /// Offers the connection to this shard's idle pool after a complete exchange; a refused
    /// connection is closed. `reusable`: the exchange left it clean and keep-alive.
    pub fn release(self, ctx: &ShardCtx, reusable: bool) -> Result<(), KeepRefusal> {
        let (backend, server) = (self.backend, self.server);
        let process = &ctx.process;
        let idle = &process.idle[backend][server];
        let (admin, down) = process.layout.backends[backend].servers[server]
            .state
            .admin_and_down();
        if down {
            // Its server went DOWN while it carried this request: not kept, like the idle ones
            // closed then.
            self.discard(CloseReason::ServerDown);
            return Err(KeepRefusal::NotReusable);
        }
        let request = KeepRequest {
            mode: process.config.backends[backend].http_reuse,
            is_safe: self.record.requests >= 2,
            private: self.private,
            server_maint: admin == ServerState::Maint,
            reusable: reusable && idle.shared().reuse_allowed(self.record.requests),
            fd: process.fd_pressure(),
        };
        let ServerConn {
            stream,
            dup,
            id,
            hash,
            mut record,
            mut used,
            _fds: guard,
            ..
        } = self;
        let requests = record.requests;
        let (socket, mut tls) = stream.into_parts();
        // Watched from now on: a byte or a close while it is idle closes it (shard.rs).
        let state = match tls.as_deref_mut().map_or(IdleCheck::Quiet, tls_input) {
            IdleCheck::Quiet => socket.watch(id).unwrap_or(IdleCheck::Closed),
            state => state,
        };
        if state != IdleCheck::Quiet {
            record.closing(idle_close_reason(state));
            socket.abort_on_close();
            return Err(KeepRefusal::NotReusable);
        }
        let dup = match dup.map_or_else(|| duplicate(socket.as_raw_fd()), Ok) {
            Ok(dup) => dup,
            Err(_) => {
                // Out of descriptors: not kept.
                record.closing(CloseReason::FdPressure);
                socket.abort_on_close();
                return Err(KeepRefusal::FdPressure);
            }
        };
        // The stream is stored before the entry becomes visible to thieves, so that an orphan
        // notice can never arrive before it.
        ctx.idle_streams.borrow_mut().insert(
            id,
            IdleStream {
                socket,
                backend,
                server,
            },
        );
        used.counted = false;
        let offered = idle.own(ctx.id).offer(
            IdleConn {
                id,
                dup,
                tls,
                requests,
                guard,
            },
            hash,
            &request,
        );
        match offered {
            Ok(()) => {
                record.disarm();
                ctx.arm_purge(backend, server);
                // A generation retiring at a reload passes each connection its last requests
                // leave idle on to its successor at once.
                if process.successor.get().is_some() {
                    ctx.hand_over_idle();
                }
                Ok(())
            }
            Err((_refused, refusal)) => {
                // Still counted as used by the pool: the slot's drop releases it.
                used.counted = true;
                if let Some(stream) = ctx.idle_streams.borrow_mut().remove(&id) {
                    stream.socket.abort_on_close();
                }
                record.closing(refusal_reason(refusal, reusable));
                Err(refusal)
            }
        }
    }
}
