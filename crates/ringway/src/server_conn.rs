//! A connection to a server and its place in the pool accounting. Dropping a `ServerConn`
//! closes it and keeps the server-wide counters right on every path, errors included.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use glommio::net::TcpStream;
use ringway_pool::{KeepRefusal, KeepRequest, LookupPlan, ServerShared};
use ringway_stats::ServerState;

use crate::process::ProcessShared;
use crate::shard::ShardCtx;

pub struct ServerConn {
    pub stream: TcpStream,
    pub backend: usize,
    pub server: usize,
    pub hash: u64,
    /// Requests sent on this connection so far.
    pub requests: u64,
    /// Owned by one client session (never mode, NTLM/Negotiate authentication).
    pub private: bool,
    /// Counted in the server's `curr_used`: in use and not private.
    counted_used: bool,
    pool: Arc<ServerShared>,
    process: Arc<ProcessShared>,
}

impl ServerConn {
    /// Opens a new connection to a server, counting the attempt (`connect`) and a failure
    /// (`econ`).
    pub async fn connect(
        ctx: &ShardCtx,
        backend: usize,
        server: usize,
        private: bool,
    ) -> std::io::Result<ServerConn> {
        let process = &ctx.process;
        let config = &process.config.backends[backend];
        let counters = &ctx.counters.servers[backend][server];
        counters.connect.inc();
        let address = config.servers[server].address;
        let stream = match TcpStream::connect_timeout(address, config.timeouts.connect).await {
            Ok(stream) => stream,
            Err(error) => {
                counters.econ.inc();
                return Err(error.into());
            }
        };
        stream.set_nodelay(true)?;
        process.open_fds.fetch_add(1, Relaxed);
        let pool = process.layout.backends[backend].servers[server]
            .pool
            .clone();
        if !private {
            pool.use_conn();
        }
        Ok(ServerConn {
            stream,
            backend,
            server,
            hash: ctx.conn_hashes[backend][server],
            requests: 0,
            private,
            counted_used: !private,
            pool,
            process: process.clone(),
        })
    }

    /// The connection becomes private to its client session (HAProxy's `conn_set_private`).
    pub fn make_private(&mut self) {
        if self.counted_used {
            self.pool.drop_used();
            self.counted_used = false;
        }
        self.private = true;
    }

    /// Takes an idle connection of this shard for the server, as `plan` allows.
    pub fn take_idle(
        ctx: &ShardCtx,
        backend: usize,
        server: usize,
        plan: LookupPlan,
    ) -> Option<ServerConn> {
        let hash = ctx.conn_hashes[backend][server];
        let (mut conn, _class) = ctx.pools[backend][server].borrow_mut().take(hash, plan)?;
        conn.counted_used = true;
        Some(conn)
    }

    /// Offers the connection to this shard's idle pool after a complete exchange; a refused
    /// connection is closed. `reusable`: the exchange left it clean and keep-alive.
    pub fn release(mut self, ctx: &ShardCtx, reusable: bool) -> Result<(), KeepRefusal> {
        let (backend, server) = (self.backend, self.server);
        let process = &ctx.process;
        let request = KeepRequest {
            mode: process.config.backends[backend].http_reuse,
            is_safe: self.requests >= 2,
            private: self.private,
            server_maint: process.layout.backends[backend].servers[server].state.get()
                == ServerState::Maint,
            reusable: reusable && self.pool.limits().reuse_allowed(self.requests),
            fd: process.fd_pressure(),
        };
        let hash = self.hash;
        self.counted_used = false;
        let offered = ctx.pools[backend][server]
            .borrow_mut()
            .offer(self, hash, &request);
        match offered {
            Ok(()) => {
                ctx.arm_purge(backend, server);
                Ok(())
            }
            Err((mut conn, refusal)) => {
                conn.counted_used = true;
                Err(refusal)
            }
        }
    }
}

impl Drop for ServerConn {
    fn drop(&mut self) {
        if self.counted_used {
            self.pool.drop_used();
        }
        self.process.open_fds.fetch_sub(1, Relaxed);
    }
}
