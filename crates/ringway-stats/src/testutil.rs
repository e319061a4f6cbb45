//! Hand-built layouts and counters for the renderers' unit tests.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringway_pool::{
    FdPressure, HealthMachine, KeepRequest, LocalPool, PoolLimits, ReuseMode, ServerShared,
    ServerWeight,
};

use crate::counters::ShardCounters;
use crate::layout::{BackendInfo, FrontendInfo, Layout, ServerInfo, SharedState};
use crate::status::BackendHealth;

pub fn limits(pool_max_conn: i64, purge_ms: u64) -> PoolLimits {
    PoolLimits {
        pool_max_conn,
        purge_delay: Duration::from_millis(purge_ms),
        ..PoolLimits::default()
    }
}

pub fn server(name: &str, sid: u32, addr: &str, maxconn: u32, pool: ServerShared) -> ServerInfo {
    ServerInfo {
        name: name.to_string(),
        sid,
        address: addr.parse::<SocketAddr>().expect("test address"),
        maxconn: maxconn.into(),
        pool: Arc::new(pool),
        state: Arc::new(SharedState::default()),
        health: Arc::new(Mutex::new(HealthMachine::new(2, 3, false, Instant::now()))),
        weight: ServerWeight::new(1, Duration::ZERO),
        backup: false,
        cookie: None,
        h2: false,
    }
}

/// The sample layout on one shard with a second server, `s2` at 127.0.0.1:9002.
pub fn two_server_layout() -> Layout {
    let mut layout = sample_layout(1, limits(-1, 5000));
    let pool = ServerShared::new(limits(-1, 5000), 1);
    layout.backends[0]
        .servers
        .push(server("s2", 2, "127.0.0.1:9002", 0, pool));
    layout
}

/// Like the reference sample: frontend `fe` (iid 2, maxconn 8000), backend `be` (iid 3,
/// roundrobin) with `s1` at 127.0.0.1:9001.
pub fn sample_layout(shards: usize, limits: PoolLimits) -> Layout {
    Layout {
        frontends: vec![FrontendInfo {
            name: "fe".to_string(),
            iid: 2,
            max_conn: 8000,
        }],
        backends: vec![BackendInfo {
            name: "be".to_string(),
            iid: 3,
            algo: "roundrobin",
            cookie: None,
            fullconn: 800,
            servers: vec![server(
                "s1",
                1,
                "127.0.0.1:9001",
                0,
                ServerShared::new(limits, shards),
            )],
            allbackups: false,
            health: BackendHealth::new(Instant::now()),
        }],
        shards,
        started: Instant::now(),
        start_time_unix: 1_795_257_360,
        pid: 14529,
        max_conn: 8000,
        ulimit_n: 16025,
    }
}

pub fn shard_counters(layout: &Layout) -> Arc<ShardCounters> {
    let per_backend: Vec<usize> = layout.backends.iter().map(|b| b.servers.len()).collect();
    Arc::new(ShardCounters::new(layout.frontends.len(), &per_backend))
}

pub fn all_shards(layout: &Layout) -> Vec<Arc<ShardCounters>> {
    (0..layout.shards).map(|_| shard_counters(layout)).collect()
}

/// Opens as many connections as `per_shard` lists in all, then returns them to the idle pools
/// of their shards as safe ones, so the shared accounting shows `used_max = need_est = total`
/// and every connection idle and safe. The pools are returned to keep them alive.
pub fn park_safe(pool: &Arc<ServerShared>, per_shard: &[(usize, usize)]) -> Vec<LocalPool<u32>> {
    let total: usize = per_shard.iter().map(|&(_, count)| count).sum();
    for _ in 0..total {
        pool.use_conn();
    }
    let req = KeepRequest {
        mode: ReuseMode::Safe,
        is_safe: true,
        private: false,
        server_maint: false,
        reusable: true,
        fd: FdPressure::NONE,
    };
    let mut pools = Vec::new();
    for &(shard, count) in per_shard {
        let mut local = LocalPool::new(Arc::clone(pool), shard);
        for conn in 0..count {
            assert!(local.offer(conn as u32, 7, &req).is_ok(), "kept {conn}");
        }
        pools.push(local);
    }
    pools
}

/// One shard's counters with the reference sample's numbers (frontend `fe`, server `be/s1`).
pub fn sample_counters(layout: &Layout) -> Vec<Arc<ShardCounters>> {
    let shard = shard_counters(layout);
    let fe = &shard.frontends[0];
    for _ in 0..5 {
        fe.sessions.inc();
    }
    for _ in 0..5 {
        fe.sessions.dec();
    }
    fe.conn_tot.add(9);
    fe.req_tot.add(49_268);
    fe.ereq.inc();
    fe.bytes_in.add(2_512_707);
    fe.bytes_out.add(6_995_914);
    fe.status.hrsp_2xx.add(49_267);
    fe.status.record(400);
    let s1 = &shard.servers[0][0];
    for _ in 0..5 {
        s1.sessions.inc();
    }
    for _ in 0..5 {
        s1.sessions.dec();
    }
    s1.stot.add(49_267);
    s1.connect.add(8);
    s1.reuse.add(49_259);
    s1.lbtot.add(49_267);
    s1.bytes_in.add(2_512_707);
    s1.bytes_out.add(6_995_914);
    s1.status.hrsp_2xx.add(49_267);
    let be = &shard.backends[0];
    for _ in 0..5 {
        be.sessions.inc();
    }
    for _ in 0..5 {
        be.sessions.dec();
    }
    be.req_tot.add(49_267);
    be.status.hrsp_2xx.add(49_267);
    // The sample's peaks: 9 connections and 43 899 requests within a second, 43 898 of them
    // to s1; one request took 1 ms to answer, the others less.
    for _ in 0..9 {
        fe.conn_rate.record(0);
    }
    for _ in 0..43_899 {
        fe.req_rate.record(0);
    }
    for _ in 0..43_898 {
        s1.sess_rate.record(0);
        be.sess_rate.record(0);
    }
    for times in [&s1.times, &be.times] {
        times.record([0, 0, 1, 1]);
        for _ in 1..49_267 {
            times.record([0, 0, 0, 0]);
        }
    }
    shard.activity.accepted.add(13);
    vec![shard]
}

/// The reference sample's section `### name`, without its heading and trailing empty line.
pub const SAMPLE: &str = include_str!("../tests/data/haproxy-2.6-runtime-api-sample.txt");

/// HAProxy 2.6's replies in the forms beside the plain ones (typed, json, servers state...).
pub const FORMATS: &str = include_str!("../tests/data/haproxy-2.6-formats-sample.txt");

pub fn sample_section(name: &str) -> String {
    section_of(SAMPLE, name)
}

/// The section `### name` of a sample file, without its heading and trailing empty line.
pub fn section_of(sample: &str, name: &str) -> String {
    let heading = format!("### {name}\n");
    let start = sample.find(&heading).map_or(0, |i| i + heading.len());
    let rest = &sample[start..];
    let end = rest.find("\n\n###").map_or(rest.len(), |i| i + 1);
    rest[..end].trim_end_matches('\n').to_string() + "\n"
}
