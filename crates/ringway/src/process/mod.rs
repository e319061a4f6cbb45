//! What all shards and the control thread share: the configuration, the stats layout (with each
//! server's pool accounting and admin state), every shard's counters, the stop flag, the open
//! descriptor count and one command queue per shard. These are the only cross-shard surfaces
//! besides the pool accounting itself.

pub(crate) mod id_map;
pub(crate) mod layout;
pub(crate) mod listeners;
pub(crate) mod privileges;
pub(crate) mod proxy;
pub(crate) mod readiness;
pub(crate) mod reload;
pub mod sd_notify;
pub(crate) mod shard;
pub(crate) mod signal;
pub mod upgrade;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock, RwLock};

use crossbeam::queue::SegQueue;
use ringway_config::Config;
use ringway_pool::FdPressure;
use ringway_stats::{ErrorCaptures, Layout, ShardCounters};

use crate::server::idle::ServerIdle;

/// A request from the control thread to one shard, run by the shard's control tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardCommand {
    /// Close the client session with this id, if this shard owns it.
    ShutdownSession(u64),
    /// Close every session currently using this server.
    ShutdownServerSessions { backend: usize, server: usize },
    /// Close this server's idle connections (maintenance).
    CloseIdle { backend: usize, server: usize },
    /// The runtime API changed this server's pool settings (`admin::pool_cmds`).
    PoolLimitsChanged { backend: usize, server: usize },
    /// Health checks found this server DOWN: close its idle connections.
    ServerDown { backend: usize, server: usize },
    /// For shard 0: passive detection saw `errors` consecutive errors on this server, the last
    /// described by `last` (`server::observe`).
    Observed {
        backend: usize,
        server: usize,
        errors: u32,
        last: &'static str,
    },
    /// Publish a snapshot of this shard's client sessions (`show sess`).
    ShowSessions(crate::client::sessions::SessionsReply),
    /// `clear counters [all]`: clear this shard's peaks (and, with `all`, its counters), then
    /// say done.
    ClearCounters {
        all: bool,
        done: crate::admin::show::Ack,
    },
}

/// A `maxconn` slot a request holds. It remembers whether it was counted, so that a limit set
/// or lifted at runtime while it is held leaves the count right.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct Slot {
    counted: bool,
}

pub struct ProcessShared {
    pub config: Config,
    pub layout: Layout,
    pub counters: Vec<Arc<ShardCounters>>,
    /// The last malformed request per frontend and response per backend (`show errors`).
    pub errors: ErrorCaptures,
    pub stopping: AtomicBool,
    /// Ready for traffic (`/ready`, `monitor_uri`); false from the start of a graceful stop,
    /// before `stopping` (the grace period sits between the two).
    pub readiness: crate::process::readiness::Readiness,
    /// Sockets open to clients and servers, for the pool's descriptor-pressure rules.
    pub open_fds: AtomicU64,
    /// The descriptor-pressure marks, from the open-file limit and the configured ratios
    /// (`used_fds` unused): worked out once, read at every release of a server connection.
    pub fd_marks: FdPressure,
    pub commands: Vec<SegQueue<ShardCommand>>,
    /// Each shard's control tick's: rung with every command and at stop, and while the tick
    /// sleeps by a request beginning, an access-log line, a peer's takeover of one of its idle
    /// connections and a predecessor's hand-over, so an idle shard looks on no timer.
    pub doorbells: Vec<ringway_net::Doorbell>,
    /// Wakers for each shard's tasks from other shards (an HTTP/2 connection's hand-over).
    pub remote_wakes: Vec<ringway_net::RemoteWakes>,
    /// Idle connections per server, reachable by every shard: `idle[backend][server]`.
    pub idle: Vec<Vec<ServerIdle>>,
    /// Requests holding a `maxconn` slot, per server: `served[backend][server]`.
    pub served: Vec<Vec<AtomicU32>>,
    /// Consecutive errors passive detection counted, per server: `observed[backend][server]`.
    pub observed: Vec<Vec<AtomicU32>>,
    /// Where each frontend's access log goes, opened once at start: `access_logs[frontend]`.
    pub access_logs: Vec<Option<Arc<crate::logging::LogSink>>>,
    /// The process's own messages: to the access logs' syslog receivers, or stderr.
    pub log: Arc<crate::logging::ProcessLog>,
    /// TLS configurations of frontends and servers.
    pub tls: crate::tls::TlsSetup,
    /// This generation's stop hands over to a successor (a reload): idle keep-alive clients are
    /// not cut, each ends after its next response or at its keep-alive timeout.
    pub retiring: AtomicBool,
    /// The generation a reload started to replace this one, and where each server went.
    pub successor: OnceLock<crate::process::reload::Successor>,
    /// Accept loops running, across shards: a reload returns once the retiring generation's
    /// reach 0, so that every connection accepted after it meets the new configuration.
    pub accepting: AtomicU64,
    /// Idle server connections a predecessor handed over, per shard: `incoming[shard]`.
    pub incoming: Vec<SegQueue<crate::process::reload::Migrated>>,
    /// Pool counters over the last minute, for `show pool advice`.
    pub advice: crate::admin::pool_cmds::AdviceLog,
    /// The consistent-hash ring of each backend balancing by `source` or `uri`:
    /// `rings[backend]`, built once per generation.
    pub rings: Vec<Option<ringway_pool::HashRing>>,
}

/// The generation serving now, for the threads that outlive generations (the stats sockets,
/// the admin listener, the signal thread), and how to reload it.
pub struct Current {
    process: RwLock<Arc<ProcessShared>>,
    reloader: OnceLock<Box<dyn Fn() -> Result<String, String> + Send + Sync>>,
}

impl Current {
    pub fn new(process: Arc<ProcessShared>) -> Current {
        Current {
            process: RwLock::new(process),
            reloader: OnceLock::new(),
        }
    }

    pub fn get(&self) -> Arc<ProcessShared> {
        self.process
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn set(&self, process: Arc<ProcessShared>) {
        *self
            .process
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = process;
    }

    /// How `reload` reads and applies the configuration again (set once, by the process).
    pub fn set_reloader(&self, reload: Box<dyn Fn() -> Result<String, String> + Send + Sync>) {
        let _ = self.reloader.set(reload);
    }

    /// Reloads: `Ok` with a summary, or the errors, the running generation still serving.
    pub fn reload(&self) -> Result<String, String> {
        match self.reloader.get() {
            Some(reload) => reload(),
            None => Err("no configuration file to reload from".into()),
        }
    }
}

/// Counts open descriptors for as long as it lives; moves with a connection between its idle
/// and used forms and between shards.
pub struct FdGuard {
    process: Arc<ProcessShared>,
    count: u64,
}

impl FdGuard {
    pub fn new(process: &Arc<ProcessShared>, count: u64) -> FdGuard {
        process.open_fds.fetch_add(count, Relaxed);
        FdGuard {
            process: process.clone(),
            count,
        }
    }
}

impl Drop for FdGuard {
    fn drop(&mut self) {
        self.process.open_fds.fetch_sub(self.count, Relaxed);
    }
}

impl ProcessShared {
    pub fn fd_pressure(&self) -> FdPressure {
        FdPressure {
            used_fds: self.open_fds.load(Relaxed),
            ..self.fd_marks
        }
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Relaxed)
    }

    /// Queues a command for every shard.
    pub fn broadcast(&self, command: ShardCommand) {
        for (queue, doorbell) in self.commands.iter().zip(&self.doorbells) {
            queue.push(command.clone());
            doorbell.ring();
        }
    }

    /// Sends a command to one shard.
    pub fn tell(&self, shard: usize, command: ShardCommand) {
        if let (Some(queue), Some(doorbell)) = (self.commands.get(shard), self.doorbells.get(shard))
        {
            queue.push(command);
            doorbell.ring();
        }
    }

    /// Tells every shard to stop (each sees it at its next control tick, rung now).
    pub fn request_stop(&self) {
        self.stopping.store(true, Relaxed);
        for doorbell in &self.doorbells {
            doorbell.ring();
        }
    }

    /// Takes a `maxconn` slot on the server if one is free (always, when maxconn is 0). The
    /// limit is the server's current one (`set maxconn server` changes it).
    pub fn try_take_slot(&self, backend: usize, server: usize) -> Option<Slot> {
        let maxconn = self.layout.backends[backend].servers[server]
            .maxconn
            .load(Relaxed);
        if maxconn == 0 {
            // Unlimited: no slot to count, and no shared write on the request path.
            return Some(Slot { counted: false });
        }
        self.served[backend][server]
            .fetch_update(Relaxed, Relaxed, |current| {
                (current < maxconn).then_some(current + 1)
            })
            .ok()
            .map(|_| Slot { counted: true })
    }

    pub fn release_slot(&self, backend: usize, server: usize, slot: Slot) {
        if slot.counted {
            self.served[backend][server].fetch_sub(1, Relaxed);
        }
    }
}

/// Turns TCP keepalive on for a client or server socket with `tcp_keepalive`'s timings (the
/// caller checks the side's switch: nothing is done, and no system call made, when it is off).
pub fn set_keepalive(
    socket: &ringway_net::Socket,
    keepalive: &ringway_config::TcpKeepalive,
) -> std::io::Result<()> {
    socket.set_keepalive(ringway_net::Keepalive {
        idle: keepalive.idle,
        interval: keepalive.interval,
        count: keepalive.count,
    })
}
