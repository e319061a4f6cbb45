//! Builds the stats layout and the shared pool accounting from the configuration.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ringway_config::Config;
use ringway_pool::{HealthMachine, PoolLimits, ServerShared, ServerWeight};
use ringway_stats::{BackendHealth, BackendInfo, FrontendInfo, Layout, ServerInfo, SharedState};

pub fn build_layout(config: &Config, shards: usize, max_fds: u64) -> Layout {
    let now = Instant::now();
    // HAProxy numbers proxies in configuration order; the first real proxy gets 2 in its output.
    let mut next_iid = 2;
    let mut iid = || {
        next_iid += 1;
        next_iid - 1
    };
    let frontends = config
        .frontends
        .iter()
        .map(|frontend| FrontendInfo {
            name: frontend.name.clone(),
            iid: iid(),
            max_conn: config.global.max_conn as u64,
        })
        .collect();
    let backends = config
        .backends
        .iter()
        .enumerate()
        .map(|(index, backend)| BackendInfo {
            fullconn: fullconn(config, index),
            name: backend.name.clone(),
            iid: iid(),
            algo: backend.balance.as_str(),
            cookie: backend.cookie.as_ref().map(|cookie| cookie.name.clone()),
            servers: backend
                .servers
                .iter()
                .enumerate()
                .map(|(index, server)| {
                    let limits = PoolLimits {
                        pool_max_conn: server.pool_max_conn,
                        pool_low_conn: server.pool_low_conn as usize,
                        purge_delay: server.pool_purge_delay,
                        max_reuse: server.max_reuse,
                    };
                    ServerInfo {
                        name: server.name.clone(),
                        sid: index as u32 + 1,
                        address: server.address,
                        maxconn: server.maxconn.into(),
                        pool: Arc::new(ServerShared::new(limits, shards)),
                        state: Arc::new(SharedState::default()),
                        health: {
                            let check = &backend.health_check;
                            let mut machine =
                                HealthMachine::new(check.rise, check.fall, server.check, now);
                            machine.observing = server.observe.is_some();
                            Arc::new(Mutex::new(machine))
                        },
                        weight: ServerWeight::new(server.weight, server.slowstart),
                        backup: server.backup,
                        cookie: server.cookie.clone(),
                        h2: server.proto == ringway_config::ServerProto::H2,
                    }
                })
                .collect(),
            allbackups: backend.allbackups,
            health: BackendHealth::new(now),
        })
        .collect();
    Layout {
        frontends,
        backends,
        shards,
        started: now,
        start_time_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs()),
        pid: std::process::id(),
        max_conn: config.global.max_conn as u64,
        ulimit_n: max_fds,
    }
}

/// HAProxy's default `fullconn` of a backend: a tenth, rounded up, of the summed `maxconn` of
/// the frontends that can route to it.
fn fullconn(config: &Config, backend: usize) -> u64 {
    let total: u64 = config
        .frontends
        .iter()
        .filter(|frontend| {
            frontend.default_backend == Some(backend)
                || frontend.routes.iter().any(|route| route.backend == backend)
        })
        .map(|_| config.global.max_conn as u64)
        .sum();
    total.div_ceil(10)
}
