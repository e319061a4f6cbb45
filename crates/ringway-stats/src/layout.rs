//! What the renderers need to know besides counters: names, ids, addresses, limits, the shared
//! pool accounting and the administrative state of each server. Built once by the runtime.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use ringway_pool::ServerShared;

/// Administrative state of a server (`set server B/S state ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ServerState {
    Ready = 0,
    Drain = 1,
    Maint = 2,
}

/// A server state shared by the control thread (writer) and the shards (readers).
#[derive(Debug, Default)]
pub struct SharedState(AtomicU8);

impl SharedState {
    pub fn get(&self) -> ServerState {
        match self.0.load(Relaxed) {
            1 => ServerState::Drain,
            2 => ServerState::Maint,
            _ => ServerState::Ready,
        }
    }

    pub fn set(&self, state: ServerState) {
        self.0.store(state as u8, Relaxed);
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
    /// Concurrent requests; 0 = unlimited.
    pub maxconn: u32,
    pub pool: Arc<ServerShared>,
    pub state: Arc<SharedState>,
}

#[derive(Debug)]
pub struct BackendInfo {
    pub name: String,
    pub iid: u32,
    /// "roundrobin" or "leastconn".
    pub algo: &'static str,
    pub servers: Vec<ServerInfo>,
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
