//! The test origin: an HTTP/1.1 keep-alive server on one glommio executor
//! per thread, each thread with its own `SO_REUSEPORT` listener on the same
//! address.
//!
//! Owns the public [`Origin`] handle (start, address, counters, stop) and
//! its configuration. The per-connection protocol lives in `conn.rs`, the
//! test hooks in `hooks.rs`, the counters in `stats.rs`, the TLS handshake
//! in `tls.rs`.
//!
//! Every response carries `x-origin-conn` (a per-connection id unique in the
//! process), `x-origin-conn-req` (1 for the first request on a connection,
//! counting every request the connection carried) and `x-origin-req-body`
//! (request body bytes received), and `x-origin-name` when the origin has a
//! [`OriginConfig::name`]. `GET /__origin/stats` answers the
//! [`OriginStats`] as JSON (with `open` and `open_max`, the connections open
//! now and the most open at once since the last reset) and
//! `GET /__origin/reset` zeroes the counters.
//!
//! With [`OriginConfig::h2`] the origin speaks HTTP/2 over clear text with
//! prior knowledge instead (`h2conn.rs`): each stream is counted and
//! answered as a request.
//!
//! With [`OriginConfig::tls`] the origin speaks HTTPS only: every accepted
//! connection completes a TLS handshake (SNI picks nothing: there is one
//! certificate; sessions resume by ticket or session id, across threads)
//! and is then served exactly like a plain one, each response also carrying
//! `x-origin-sni` (the name the client sent, `-` for none). The stats count
//! `tls_handshakes`, `tls_resumed`, `tls_failed` and `tls_sni` (handshakes
//! per SNI name).

mod conn;
mod h2conn;
mod hooks;
mod request;
mod response;
mod server;
mod stats;
mod tls;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use glommio::ExecutorJoinHandle;

pub use response::origin_body;
pub use stats::OriginStats;
pub use tls::{OriginTls, DEFAULT_HANDSHAKE_TIMEOUT, NO_SNI};

use conn::ThreadCtx;
use stats::SharedStats;

/// How to run an origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Serving threads (executors), each with its own listener.
    pub threads: usize,
    /// Response body size when a request does not override it (`body=N`).
    pub body_size: usize,
    /// Delay before each response when a request does not override it.
    pub delay: Duration,
    /// Idle connections are closed after this long without a request
    /// (zero: never).
    pub keepalive_timeout: Duration,
    /// After this many requests a connection is answered with
    /// `Connection: close` and closed (0: unlimited).
    pub max_requests_per_conn: u64,
    /// A name sent as `x-origin-name` on every response, telling apart origins behind one
    /// proxy (None: no such field).
    pub name: Option<String>,
    /// Serve HTTPS with this certificate (None: plain HTTP).
    pub tls: Option<OriginTls>,
    /// Serve HTTP/2 over clear text with prior knowledge (h2c) instead of
    /// HTTP/1.1; not with `tls`.
    pub h2: bool,
}

impl Default for OriginConfig {
    fn default() -> Self {
        OriginConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            threads: 1,
            body_size: 0,
            delay: Duration::ZERO,
            keepalive_timeout: Duration::from_secs(60),
            max_requests_per_conn: 0,
            name: None,
            tls: None,
            h2: false,
        }
    }
}

/// A running origin. Stopped by [`Origin::stop`] or on drop.
pub struct Origin {
    addr: SocketAddr,
    stats: Arc<SharedStats>,
    workers: Vec<Worker>,
}

struct Worker {
    /// Closing this end of the pair stops the thread.
    stop: Option<StdUnixStream>,
    handle: Option<ExecutorJoinHandle<()>>,
}

impl Origin {
    /// Starts the serving threads and returns once every one of them is
    /// listening. An unreadable or mismatched certificate or key is an
    /// `InvalidInput` error naming the file.
    pub fn start(cfg: OriginConfig) -> io::Result<Origin> {
        let threads = cfg.threads.max(1);
        if cfg.h2 && cfg.tls.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the origin speaks HTTP/2 over clear text only (h2 with tls is not supported)",
            ));
        }
        let acceptor = cfg.tls.as_ref().map(tls::Acceptor::new).transpose()?;
        let mut origin = Origin {
            addr: cfg.listen,
            stats: Arc::new(SharedStats::new(threads)),
            workers: Vec::with_capacity(threads),
        };
        for index in 0..threads {
            // The first thread may bind port 0; the others join its port.
            let bind = origin.addr;
            let (ours, theirs) = StdUnixStream::pair()?;
            let (ready_tx, ready_rx) = mpsc::channel();
            let stats = origin.stats.clone();
            let cfg = cfg.clone();
            let acceptor = acceptor.clone();
            let handle = crate::runtime::executor(&format!("origin-{index}"), None)
                .spawn(move || async move {
                    crate::spin::install_poller();
                    let ctx = ThreadCtx {
                        shard: index,
                        stats,
                        body_size: cfg.body_size,
                        delay: cfg.delay,
                        keepalive_timeout: cfg.keepalive_timeout,
                        max_requests_per_conn: cfg.max_requests_per_conn,
                        name: cfg.name.clone(),
                        h2: cfg.h2,
                        tls: acceptor,
                        live: Default::default(),
                        stopping: Default::default(),
                    };
                    server::run_thread(bind, ctx, ready_tx, OwnedFd::from(theirs)).await
                })
                .map_err(crate::runtime::io_error)?;
            origin.workers.push(Worker {
                stop: Some(ours),
                handle: Some(handle),
            });
            match ready_rx.recv() {
                Ok(Ok(addr)) => origin.addr = addr,
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    // The thread ended before reporting: its executor could
                    // not be built. Its join result says why.
                    let joined = origin
                        .workers
                        .pop()
                        .and_then(|mut w| w.handle.take())
                        .map(|h| h.join());
                    return Err(match joined {
                        Some(Err(e)) => crate::runtime::io_error(e),
                        _ => io::Error::other("origin thread exited before listening"),
                    });
                }
            }
        }
        Ok(origin)
    }

    /// The address the origin listens on (the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters, read directly from the shared state.
    pub fn stats(&self) -> OriginStats {
        self.stats.snapshot()
    }

    /// Connections open right now (accepted and not yet closed by either
    /// side); also `open` in the stats JSON.
    pub fn open_connections(&self) -> u64 {
        self.stats.open_connections()
    }

    /// Zeroes the counters, like `GET /__origin/reset`.
    pub fn reset_stats(&self) {
        self.stats.reset();
    }

    /// Stops every thread and waits for them; open connections are dropped.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            worker.stop.take();
        }
        for worker in &mut self.workers {
            if let Some(handle) = worker.handle.take() {
                let _ = handle.join();
            }
        }
    }
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Origin")
            .field("addr", &self.addr)
            .field("threads", &self.workers.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn handles_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<super::Origin>();
        send_sync::<super::OriginConfig>();
        send_sync::<super::OriginStats>();
        send_sync::<super::tls::Acceptor>();
    }
}
