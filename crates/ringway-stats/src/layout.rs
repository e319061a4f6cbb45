//! What the renderers need to know besides counters: names, ids, addresses, limits, the shared
//! pool accounting, the administrative state of each server and, for checked servers, their
//! health-check machine. Built once by the runtime.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ringway_pool::{serving_tier, HealthMachine, ServerShared, ServerWeight};

/// Administrative state of a server (`set server B/S state ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ServerState {
    Ready = 0,
    Drain = 1,
    Maint = 2,
}

/// A server's administrative state (written by the control thread) and its health (written by
/// the health checker), in one byte the shards read: one load tells whether it takes traffic.
#[derive(Debug, Default)]
pub struct SharedState(AtomicU8);

/// The bit set while health checks find the server DOWN; the admin state is in the low bits.
const DOWN: u8 = 0x80;

impl SharedState {
    /// The administrative state, whatever the health.
    pub fn get(&self) -> ServerState {
        match self.0.load(Relaxed) & !DOWN {
            1 => ServerState::Drain,
            2 => ServerState::Maint,
            _ => ServerState::Ready,
        }
    }

    /// Sets the administrative state, keeping the health.
    pub fn set(&self, state: ServerState) {
        let _ = self.0.fetch_update(Relaxed, Relaxed, |current| {
            Some((current & DOWN) | state as u8)
        });
    }

    /// Whether health checks find the server DOWN.
    pub fn is_down(&self) -> bool {
        self.0.load(Relaxed) & DOWN != 0
    }

    pub fn set_down(&self, down: bool) {
        if down {
            self.0.fetch_or(DOWN, Relaxed);
        } else {
            self.0.fetch_and(!DOWN, Relaxed);
        }
    }

    /// Ready and not DOWN: may take new requests. One load, for the request path.
    pub fn takes_traffic(&self) -> bool {
        self.0.load(Relaxed) == ServerState::Ready as u8
    }
}

#[derive(Debug)]
pub struct FrontendInfo {
    pub name: String,
    /// HAProxy's proxy id (iid), counted over frontends and backends in configuration order.
    pub iid: u32,
    pub max_conn: u64,
}

#[derive(Debug)]
pub struct ServerInfo {
    pub name: String,
    /// Server id within its backend, from 1.
    pub sid: u32,
    pub address: SocketAddr,
    /// Concurrent requests; 0 = unlimited. Configured, changed by `set maxconn server`.
    pub maxconn: AtomicU32,
    pub pool: Arc<ServerShared>,
    pub state: Arc<SharedState>,
    /// The health-check machine of a server with `check = true`; `None`: not checked.
    pub health: Option<Arc<Mutex<HealthMachine>>>,
    /// Configured and runtime weight, and the slowstart ramp.
    pub weight: ServerWeight,
    /// Takes requests only when no active server does.
    pub backup: bool,
}

impl ServerInfo {
    /// A copy of the health-check machine, if the server is checked.
    pub fn health_snapshot(&self) -> Option<HealthMachine> {
        self.health.as_ref().map(|machine| {
            machine
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone()
        })
    }
}

#[derive(Debug)]
pub struct BackendInfo {
    pub name: String,
    pub iid: u32,
    /// "roundrobin" or "leastconn".
    pub algo: &'static str,
    pub servers: Vec<ServerInfo>,
    /// With no active server usable, every usable backup serves (not only the first).
    pub allbackups: bool,
}

/// The static shape of the process the stats describe.
#[derive(Debug)]
pub struct Layout {
    pub frontends: Vec<FrontendInfo>,
    pub backends: Vec<BackendInfo>,
    pub shards: usize,
    pub started: Instant,
    /// Seconds since the Unix epoch at start.
    pub start_time_unix: u64,
    pub pid: u32,
    pub max_conn: u64,
    pub ulimit_n: u64,
}

impl Layout {
    /// The weight `server` takes new requests with now: 0 unless it is ready and UP, else its
    /// runtime weight scaled by a slowstart ramp under way. Two relaxed loads; the clock is
    /// read only during a ramp.
    pub fn effective_weight(&self, server: &ServerInfo) -> u32 {
        if !server.state.takes_traffic() {
            return 0;
        }
        server.weight.effective(|| self.started.elapsed())
    }

    /// `server` came back (health DOWN → UP, or out of maintenance): its slowstart ramp, if it
    /// has one, starts now.
    pub fn came_back(&self, server: &ServerInfo) {
        server.weight.came_back(self.started.elapsed());
    }

    /// Usable servers of `backend` (taking traffic, effective weight above 0): active ones and
    /// backups, HAProxy's `srv_act` and `srv_bck`.
    pub fn usable_servers(&self, backend: usize) -> (u64, u64) {
        let mut counts = (0, 0);
        for server in &self.backends[backend].servers {
            if self.effective_weight(server) > 0 {
                *(if server.backup {
                    &mut counts.1
                } else {
                    &mut counts.0
                }) += 1;
            }
        }
        counts
    }

    /// The effective weight of each server of `backend` that takes new requests now (the
    /// serving tier: the usable actives, else the backups), 0 for the others.
    pub fn serving_weights(&self, backend: usize) -> Vec<u32> {
        let info = &self.backends[backend];
        let mut weights: Vec<u32> = info
            .servers
            .iter()
            .map(|server| self.effective_weight(server))
            .collect();
        serving_tier(
            &mut weights,
            |index| info.servers[index].backup,
            info.allbackups,
        );
        weights
    }
}
