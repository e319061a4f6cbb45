//! What the renderers need to know besides counters: names, ids, addresses, limits, the shared
//! pool accounting, the administrative state of each server and, for checked servers, their
//! health-check machine. Built once by the runtime.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use ringway_pool::{serving_tier, Health, HealthMachine, ServerShared, ServerWeight};

use crate::status::BackendHealth;

/// Administrative state of a server (`set server B/S state ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ServerState {
    Ready = 0,
    Drain = 1,
    Maint = 2,
}

/// A server's administrative state (written by the control thread) and its health (written
/// where the health changes: the checker, passive detection, `set server B/S health`), in one
/// byte the shards read: one load tells whether it takes traffic.
#[derive(Debug, Default)]
pub struct SharedState(AtomicU8);

/// The bit set while the server is DOWN; the admin state is in the low bits.
const DOWN: u8 = 0x80;
/// The bit set while the server is stopping (HAProxy's NOLB): no new requests.
const STOPPING: u8 = 0x40;
const HEALTH: u8 = DOWN | STOPPING;

impl SharedState {
    /// The administrative state, whatever the health.
    pub fn get(&self) -> ServerState {
        self.admin_and_down().0
    }

    /// Sets the administrative state, keeping the health.
    pub fn set(&self, state: ServerState) {
        let _ = self.0.fetch_update(Relaxed, Relaxed, |current| {
            Some((current & HEALTH) | state as u8)
        });
    }

    /// The administrative state and whether the server is DOWN, from one load.
    pub fn admin_and_down(&self) -> (ServerState, bool) {
        let byte = self.0.load(Relaxed);
        let admin = match byte & !HEALTH {
            1 => ServerState::Drain,
            2 => ServerState::Maint,
            _ => ServerState::Ready,
        };
        (admin, byte & DOWN != 0)
    }

    /// Whether the server is DOWN.
    pub fn is_down(&self) -> bool {
        self.0.load(Relaxed) & DOWN != 0
    }

    /// Whether the server is DOWN or in maintenance: its connections are not worth keeping.
    /// One load (the pool's release path).
    pub fn is_down_or_maint(&self) -> bool {
        let byte = self.0.load(Relaxed);
        byte & DOWN != 0 || byte & !HEALTH == ServerState::Maint as u8
    }

    pub fn set_down(&self, down: bool) {
        self.set_health(if down { Health::Down } else { Health::Up });
    }

    /// Publishes the server's health, keeping the admin state.
    pub fn set_health(&self, health: Health) {
        let bits = match health {
            Health::Up => 0,
            Health::Stopping => STOPPING,
            Health::Down => DOWN,
        };
        let _ = self
            .0
            .fetch_update(Relaxed, Relaxed, |current| Some((current & !HEALTH) | bits));
    }

    /// Ready, UP and not stopping: may take new requests. One load, for the request path.
    pub fn takes_traffic(&self) -> bool {
        self.0.load(Relaxed) == ServerState::Ready as u8
    }

    /// Ready or draining, and not DOWN: may take a request its persistence cookie sends to it
    /// (a draining server keeps its persistent clients, as in HAProxy). One load.
    pub fn takes_persistent(&self) -> bool {
        let state = self.0.load(Relaxed);
        state == ServerState::Ready as u8 || state == ServerState::Drain as u8
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
    /// The server's health machine: its checks (`check = true`), passive detection, and
    /// `set server B/S health` on any server. The byte in `state` publishes its verdict.
    pub health: Arc<Mutex<HealthMachine>>,
    /// Configured and runtime weight, and the slowstart ramp.
    pub weight: ServerWeight,
    /// Takes requests only when no active server does.
    pub backup: bool,
    /// The server's persistence cookie value (`show stat`'s `cookie`).
    pub cookie: Option<String>,
    /// Spoken to in HTTP/2 (`proto = "h2"`): its row carries the `h2_*` columns.
    pub h2: bool,
}

impl ServerInfo {
    /// The health machine, locked (a poisoned lock still holds a usable machine).
    pub fn health(&self) -> MutexGuard<'_, HealthMachine> {
        self.health
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A copy of the health machine.
    pub fn health_snapshot(&self) -> HealthMachine {
        self.health().clone()
    }
}

#[derive(Debug)]
pub struct BackendInfo {
    pub name: String,
    pub iid: u32,
    /// "roundrobin", "leastconn", "source" or "uri".
    pub algo: &'static str,
    /// The persistence cookie's name (`show stat`'s `cookie` on the backend row).
    pub cookie: Option<String>,
    pub servers: Vec<ServerInfo>,
    /// With no active server usable, every usable backup serves (not only the first).
    pub allbackups: bool,
    /// The backend as a whole: UP while a server takes traffic (`show stat`'s BACKEND row).
    pub health: BackendHealth,
    /// HAProxy's default `fullconn`, the BACKEND row's `slim`: a tenth (rounded up) of the
    /// `max_conn` of the frontends that route to it.
    pub fullconn: u64,
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
