//! Builds the stats layout and the shared pool accounting from the configuration.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ringway_config::{Balance, Config};
use ringway_pool::{HealthMachine, PoolLimits, ServerShared, ServerWeight};
use ringway_stats::{BackendInfo, FrontendInfo, Layout, ServerInfo, SharedState};

pub fn build_layout(config: &Config, shards: usize, max_fds: u64) -> Layout {
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
        .map(|backend| BackendInfo {
            name: backend.name.clone(),
            iid: iid(),
            algo: match backend.balance {
                Balance::RoundRobin => "roundrobin",
                Balance::LeastConn => "leastconn",
            },
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
                        health: server.check.then(|| {
                            let check = &backend.health_check;
                            Arc::new(Mutex::new(HealthMachine::new(
                                check.rise,
                                check.fall,
                                Instant::now(),
                            )))
                        }),
                        weight: ServerWeight::new(server.weight, server.slowstart),
                        backup: server.backup,
                    }
                })
                .collect(),
            allbackups: backend.allbackups,
        })
        .collect();
    Layout {
        frontends,
        backends,
        shards,
        started: Instant::now(),
        start_time_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs()),
        pid: std::process::id(),
        max_conn: config.global.max_conn as u64,
        ulimit_n: max_fds,
    }
}
