//! `GET /stats.json`: everything the other outputs show, as one JSON document. Owns its shape:
//! `process`, `frontends` (with per-shard values), `backends` with their `servers` (counters,
//! pool state, close reasons, requests per connection, latency, per-shard values) and
//! `shards` (activity and latency), and `stuck`: the requests in progress past the threshold
//! (`stuck_threshold_ms`), oldest first. Histograms are `{"buckets": [{"le": bound, "count": n}],
//! "count": n, "sum": n}` with per-bucket (not cumulative) counts and `"le": null` for the
//! overflow bucket.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::close::CloseReason;
use crate::counters::ShardCounters;
use crate::histogram::HistogramSnapshot;
use crate::info::{PRODUCT_NAME, VERSION};
use crate::layout::{Layout, ServerState};
use crate::status::HealthView;
use crate::stuck::{stuck_json, StuckSessions};
use crate::totals::{
    server_sums_on, shard_server_sums, totals, H2Totals, ServerSums, StatusTotals, TlsTotals,
};

fn histogram(h: &HistogramSnapshot) -> Value {
    let buckets: Vec<Value> = h
        .counts
        .iter()
        .enumerate()
        .map(|(index, count)| json!({"le": h.bounds.get(index), "count": count}))
        .collect();
    json!({"buckets": buckets, "count": h.count(), "sum": h.sum})
}

fn statuses(s: &StatusTotals) -> Value {
    json!({
        "1xx": s.hrsp_1xx, "2xx": s.hrsp_2xx, "3xx": s.hrsp_3xx,
        "4xx": s.hrsp_4xx, "5xx": s.hrsp_5xx, "other": s.hrsp_other,
    })
}

fn closed(s: &ServerSums) -> Value {
    let map: Map<String, Value> = CloseReason::ALL
        .iter()
        .map(|reason| (reason.as_str().to_string(), json!(s.closed_for(*reason))))
        .collect();
    Value::Object(map)
}

fn reqs_per_conn(s: &ServerSums) -> Value {
    let map: Map<String, Value> = s
        .reqs_per_conn
        .range_labels()
        .into_iter()
        .zip(&s.reqs_per_conn.counts)
        .map(|(label, count)| (label, json!(count)))
        .collect();
    Value::Object(map)
}

/// The counters of a server (summed over shards) or of one shard of it.
fn server_counters(s: &ServerSums) -> Value {
    json!({
        "current_requests": s.scur,
        "max_requests": s.smax,
        "requests": s.stot,
        "new_connections": s.connect,
        "reused_requests": s.reuse,
        "reuse_ratio": s.reuse_ratio(),
        "connection_errors": s.econ,
        "response_errors": s.eresp,
        "retries": s.wretr,
        "selected": s.lbtot,
        "client_aborts": s.cli_abrt,
        "server_aborts": s.srv_abrt,
        "request_bytes": s.bytes_in,
        "response_bytes": s.bytes_out,
        "responses": statuses(&s.status),
        "takeovers": s.takeovers,
        "purged": s.purged,
        "closed": closed(s),
        "requests_per_connection": reqs_per_conn(s),
        "latency_us": histogram(&s.latency),
        "tls": tls(&s.tls),
        "h2": h2(&s.h2),
    })
}

/// HTTP/2 connections, streams and frames of a frontend's clients or of a server (the
/// `h2_*` columns of `show stat`).
fn h2(h: &H2Totals) -> Value {
    json!({
        "connections": h.conns,
        "connections_total": h.total_conns,
        "streams": h.streams,
        "max_streams": h.streams_max,
        "streams_total": h.total_streams,
        "headers_received": h.headers_rcvd,
        "data_received": h.data_rcvd,
        "settings_received": h.settings_rcvd,
        "rst_stream_received": h.rst_stream_rcvd,
        "goaway_received": h.goaway_rcvd,
        "rst_stream_sent": h.rst_stream_resp,
        "goaway_sent_on_error": h.goaway_resp,
        "connection_protocol_errors": h.conn_proto_err,
        "stream_protocol_errors": h.strm_proto_err,
    })
}

fn tls(t: &TlsTotals) -> Value {
    json!({
        "handshakes": t.handshakes,
        "resumed": t.resumed,
        "failed": t.failed,
    })
}

fn state_name(state: ServerState) -> &'static str {
    match state {
        ServerState::Ready => "ready",
        ServerState::Drain => "drain",
        ServerState::Maint => "maint",
    }
}

/// A server's health: its status, the last check and the check counters, as `show stat`
/// shows them (null where it leaves a column empty).
fn health(view: &HealthView) -> Value {
    let check = view.check.as_ref();
    let counters = view.counters.as_ref();
    json!({
        "status": view.status,
        "class": view.class,
        "last_change_secs": view.lastchg,
        "check_status": check.map(|c| c.status),
        "check_desc": check.map(|c| c.desc),
        "check_code": check.and_then(|c| c.code),
        "check_duration_ms": check.and_then(|c| c.duration_ms),
        "last_check": check.map(|c| c.info.as_str()),
        "rise": check.map(|c| c.rise),
        "fall": check.map(|c| c.fall),
        "check_health": check.map(|c| c.health),
        "failed_checks": counters.map(|c| c.chkfail),
        "down_transitions": counters.map(|c| c.chkdown),
        "downtime_secs": counters.map(|c| c.downtime),
        "passive_failures": view.hanafail,
    })
}

fn frontends(layout: &Layout, shards: &[Arc<ShardCounters>]) -> Vec<Value> {
    let t = totals(layout, shards);
    layout
        .frontends
        .iter()
        .zip(&t.frontends)
        .enumerate()
        .map(|(index, (info, f))| {
            let per_shard: Vec<Value> = shards
                .iter()
                .enumerate()
                .filter_map(|(shard, counters)| {
                    let c = counters.frontends.get(index)?;
                    Some(json!({
                        "shard": shard,
                        "current_connections": c.sessions.get().max(0),
                        "connections": c.conn_tot.get(),
                        "requests": c.req_tot.get(),
                    }))
                })
                .collect();
            let per_conn = if f.conn_tot == 0 {
                0.0
            } else {
                f.req_tot as f64 / f.conn_tot as f64
            };
            json!({
                "name": info.name,
                "current_connections": f.scur,
                "max_connections": f.smax,
                "connections": f.conn_tot,
                "requests": f.req_tot,
                "requests_per_connection": per_conn,
                "request_errors": f.ereq,
                "bytes_in": f.bytes_in,
                "bytes_out": f.bytes_out,
                "responses": statuses(&f.status),
                "tls_connections": f.tls_open,
                "tls": tls(&f.tls),
                "h2": h2(&f.h2),
                "shards": per_shard,
            })
        })
        .collect()
}

fn backends(layout: &Layout, shards: &[Arc<ShardCounters>]) -> Vec<Value> {
    let t = totals(layout, shards);
    layout
        .backends
        .iter()
        .zip(&t.backends)
        .enumerate()
        .map(|(b, (info, bt))| {
            let servers: Vec<Value> = info
                .servers
                .iter()
                .zip(&bt.servers)
                .enumerate()
                .map(|(s, (server, st))| {
                    let pool = &st.pool;
                    let per_shard: Vec<Value> = shards
                        .iter()
                        .enumerate()
                        .map(|(shard, counters)| {
                            let mut value = server_counters(&server_sums_on(counters, b, s));
                            value["shard"] = json!(shard);
                            value["idle_connections"] =
                                json!(pool.idle_per_shard.get(shard).copied().unwrap_or(0));
                            value["safe_connections"] =
                                json!(pool.safe_per_shard.get(shard).copied().unwrap_or(0));
                            value["used_connections"] =
                                json!(st.used_per_shard.get(shard).copied().unwrap_or(0));
                            value
                        })
                        .collect();
                    let mut value = server_counters(&st.counters);
                    value["name"] = json!(server.name);
                    value["address"] = json!(server.address.to_string());
                    value["state"] = json!(state_name(st.state));
                    value["weight"] = json!(st.weight);
                    value["uweight"] = json!(st.uweight);
                    value["backup"] = json!(st.backup);
                    value["status"] = json!(st.health.status);
                    value["health"] = health(&st.health);
                    value["pool"] = json!({
                        "used": pool.used_cur,
                        "used_max": pool.used_max,
                        "needed_estimate": pool.need_est,
                        "idle": pool.idle_cur,
                        "unsafe_idle": pool.unsafe_nb,
                        "safe_idle": pool.safe_nb,
                        "idle_limit": pool.pool_max_conn,
                        "pool_low_conn": pool.pool_low_conn,
                        "max_reuse": pool.max_reuse,
                        "idle_per_shard": pool.idle_per_shard,
                        "safe_per_shard": pool.safe_per_shard,
                        "used_per_shard": st.used_per_shard,
                        "purge_delay_ms": pool.purge_delay_ms,
                    });
                    value["shards"] = json!(per_shard);
                    value
                })
                .collect();
            let mut value = server_counters(&bt.sum);
            value["name"] = json!(info.name);
            value["algo"] = json!(info.algo);
            value["ready_servers"] = json!(bt.ready);
            value["weight"] = json!(bt.weight);
            value["active_servers"] = json!(bt.act);
            value["backup_servers"] = json!(bt.bck);
            let now = std::time::Instant::now();
            let history = info.health.snapshot();
            value["status"] = json!(if bt.weight > 0 || info.servers.is_empty() {
                "UP"
            } else {
                "DOWN"
            });
            value["down_transitions"] = json!(history.down_transitions);
            value["last_change_secs"] =
                json!(now.saturating_duration_since(history.last_change).as_secs());
            value["downtime_secs"] = json!(history.downtime(now).as_secs());
            value["servers"] = json!(servers);
            value
        })
        .collect()
}

fn shard_values(shards: &[Arc<ShardCounters>]) -> Vec<Value> {
    shards
        .iter()
        .enumerate()
        .map(|(shard, counters)| {
            let sums = shard_server_sums(counters);
            json!({
                "shard": shard,
                "accepted": counters.activity.accepted.get(),
                "fd_takeover": counters.activity.fd_takeover.get(),
                "ctxsw": counters.activity.ctxsw.get(),
                "loops": counters.activity.loops.get(),
                "poll_io": counters.activity.poll_io.get(),
                "poll_exp": counters.activity.poll_exp.get(),
                "requests": sums.stot,
                "new_connections": sums.connect,
                "reused_requests": sums.reuse,
                "purged": sums.purged,
                "latency_us": histogram(&sums.latency),
            })
        })
        .collect()
}

/// The `/stats.json` document.
pub fn stats_json(
    layout: &Layout,
    shards: &[Arc<ShardCounters>],
    stopping: bool,
    stuck: &StuckSessions,
) -> Value {
    let t = totals(layout, shards);
    json!({
        "process": {
            "name": PRODUCT_NAME,
            "version": VERSION,
            "pid": layout.pid,
            "uptime_sec": layout.started.elapsed().as_secs(),
            "start_time_sec": layout.start_time_unix,
            "shards": layout.shards,
            "stopping": stopping,
            "max_conn": layout.max_conn,
            "current_connections": t.curr_conns(),
            "connections": t.cum_conns(),
            "requests": t.cum_req(),
        },
        "frontends": frontends(layout, shards),
        "backends": backends(layout, shards),
        "shards": shard_values(shards),
        "stuck_threshold_ms": stuck.threshold.as_millis() as u64,
        "stuck": stuck_json(layout, stuck),
    })
}

/// [`stats_json`] as text.
pub fn render_stats_json(
    layout: &Layout,
    shards: &[Arc<ShardCounters>],
    stopping: bool,
    stuck: &StuckSessions,
) -> String {
    let mut text = stats_json(layout, shards, stopping, stuck).to_string();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{all_shards, limits, park_safe, sample_layout};

    #[test]
    fn servers_shards_and_reasons() {
        let layout = sample_layout(2, limits(-1, 5_000));
        let _pools = park_safe(&layout.backends[0].servers[0].pool, &[(1, 2)]);
        let shards = all_shards(&layout);
        shards[0].frontends[0].conn_tot.add(2);
        shards[0].frontends[0].req_tot.add(10);
        let s1 = &shards[1].servers[0][0];
        s1.stot.add(10);
        s1.connect.add(2);
        s1.reuse.add(8);
        s1.record_close(CloseReason::Maintenance, 7);
        s1.h2.conn_began();
        s1.h2.stream_began();
        s1.h2.data_rcvd.add(3);
        shards[0].frontends[0].h2.conn_began();
        shards[1].frontends[0].h2.conn_began();
        shards[1].frontends[0].h2.conn_ended();
        let v: Value = serde_json::from_str(&render_stats_json(
            &layout,
            &shards,
            false,
            &StuckSessions::default(),
        ))
        .unwrap();
        assert_eq!(v["process"]["shards"], 2);
        assert_eq!(v["process"]["requests"], 10);
        let fe = &v["frontends"][0];
        assert_eq!(fe["requests_per_connection"], 5.0);
        assert_eq!(fe["shards"][0]["connections"], 2);
        assert_eq!(fe["h2"]["connections"], 1);
        assert_eq!(fe["h2"]["connections_total"], 2);
        let server = &v["backends"][0]["servers"][0];
        assert_eq!(server["name"], "s1");
        assert_eq!(server["new_connections"], 2);
        assert_eq!(server["h2"]["streams"], 1);
        assert_eq!(server["h2"]["data_received"], 3);
        assert_eq!(server["reuse_ratio"], 0.8);
        assert_eq!(server["closed"]["maintenance"], 1);
        assert_eq!(server["requests_per_connection"]["6-10"], 1);
        assert_eq!(server["pool"]["idle_per_shard"], json!([0, 2]));
        assert_eq!(server["shards"][1]["reused_requests"], 8);
        assert_eq!(server["shards"][1]["idle_connections"], 2);
        assert_eq!(server["latency_us"]["buckets"][16]["le"], Value::Null);
        assert_eq!(v["backends"][0]["requests"], 10);
        assert_eq!(v["shards"][1]["new_connections"], 2);
        assert_eq!(server["status"], "no check");
        assert_eq!(server["health"]["check_status"], Value::Null);
        assert_eq!(v["backends"][0]["status"], "UP");
        assert_eq!(v["backends"][0]["down_transitions"], 0);
    }

    #[test]
    fn health_of_a_checked_server() {
        let layout = sample_layout(1, limits(-1, 5_000));
        let server = &layout.backends[0].servers[0];
        let now = std::time::Instant::now();
        *server.health() = ringway_pool::HealthMachine::new(2, 3, true, now);
        server.health().force(ringway_pool::Health::Stopping, now);
        let v: Value = serde_json::from_str(&render_stats_json(
            &layout,
            &all_shards(&layout),
            false,
            &StuckSessions::default(),
        ))
        .unwrap();
        let server = &v["backends"][0]["servers"][0];
        assert_eq!(server["status"], "NOLB");
        let health = &server["health"];
        assert_eq!(health["class"], "nolb");
        assert_eq!(health["check_status"], "INI");
        assert_eq!(health["check_health"], 4);
        assert_eq!(health["failed_checks"], 0);
        assert_eq!(health["passive_failures"], Value::Null);
    }
}
