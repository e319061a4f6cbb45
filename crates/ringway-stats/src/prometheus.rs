//! `GET /metrics`: the Prometheus text format (version 0.0.4). Owns ringway's own families,
//! prefixed `ringway_`, and puts HAProxy's `haproxy_*` families ([`crate::promex`]) after them,
//! as the scrape's [`MetricsScope`] asks. Owns the `ringway_*` names, their help texts and
//! their labels: counters per frontend and shard,
//! per server and shard (so that `sum by (server)` and `sum by (shard)` both work), pool gauges
//! per server (idle ones also per shard), close reasons, and histograms of request latency (per
//! server and per shard) and of requests per server connection.

use std::fmt::{Display, Write as _};
use std::sync::Arc;

use crate::close::CloseReason;
use crate::counters::ShardCounters;
use crate::histogram::HistogramSnapshot;
use crate::info::info_lines;
use crate::info::VERSION;
use crate::layout::{Layout, ServerState};
use crate::metrics_scope::MetricsScope;
use crate::promex::render_haproxy;
use crate::stat_csv::stat_rows;
use crate::status::HealthView;
use crate::totals::{server_sums_on, shard_server_sums, totals, ServerSums, StatusTotals};

/// The Content-Type of the text format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

type Labels<'a> = [(&'a str, &'a str)];

pub(crate) struct Out(String);

impl Out {
    /// Text already in the exposition format.
    pub(crate) fn raw(&mut self, text: &str) {
        self.0.push_str(text);
    }

    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP ringway_{name} {help}");
        let _ = writeln!(self.0, "# TYPE ringway_{name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &Labels, value: impl Display) {
        let _ = write!(self.0, "ringway_{name}");
        if !labels.is_empty() {
            self.0.push('{');
            for (index, (key, value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{key}=\"{}\"", escape(value));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// A histogram's `_bucket`, `_sum` and `_count` samples; `scale` divides bounds and sum
    /// (1e6 turns microseconds into seconds).
    fn histogram(&mut self, name: &str, labels: &Labels, h: &HistogramSnapshot, scale: f64) {
        let bucket = format!("{name}_bucket");
        let cumulative = h.cumulative();
        for (index, total) in cumulative.iter().enumerate() {
            let le = match h.bounds.get(index) {
                Some(&bound) => (bound as f64 / scale).to_string(),
                None => "+Inf".to_string(),
            };
            let mut with_le = labels.to_vec();
            with_le.push(("le", le.as_str()));
            self.sample(&bucket, &with_le, total);
        }
        if cumulative.is_empty() {
            let mut with_le = labels.to_vec();
            with_le.push(("le", "+Inf"));
            self.sample(&bucket, &with_le, 0);
        }
        self.sample(&format!("{name}_sum"), labels, h.sum as f64 / scale);
        self.sample(&format!("{name}_count"), labels, h.count());
    }
}

/// Label values escape backslash, double quote and newline.
pub(crate) fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

const CODES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

fn by_code(status: &StatusTotals) -> [u64; 6] {
    [
        status.hrsp_1xx,
        status.hrsp_2xx,
        status.hrsp_3xx,
        status.hrsp_4xx,
        status.hrsp_5xx,
        status.hrsp_other,
    ]
}

fn state_name(state: ServerState) -> &'static str {
    match state {
        ServerState::Ready => "ready",
        ServerState::Drain => "drain",
        ServerState::Maint => "maint",
    }
}

/// One server on one shard, with its labels.
struct ServerShard<'a> {
    backend: &'a str,
    server: &'a str,
    shard: &'a str,
    sums: ServerSums,
}

impl ServerShard<'_> {
    fn labels(&self) -> [(&str, &str); 3] {
        [
            ("backend", self.backend),
            ("server", self.server),
            ("shard", self.shard),
        ]
    }
}

/// A family (counter or gauge): name, help, and how to read it from a server's sums.
type CounterFamily = (&'static str, &'static str, fn(&ServerSums) -> u64);

/// Per-server counters, one sample per server and shard.
const SERVER_COUNTERS: [CounterFamily; 18] = [
    (
        "server_requests_total",
        "Requests sent to the server (show stat stot).",
        |s| s.stot,
    ),
    (
        "server_new_connections_total",
        "New TCP connections opened to the server (show stat connect).",
        |s| s.connect,
    ),
    (
        "server_reused_requests_total",
        "Requests sent on an already-used server connection (show stat reuse).",
        |s| s.reuse,
    ),
    (
        "server_connection_errors_total",
        "Failed connection attempts (econ).",
        |s| s.econ,
    ),
    (
        "server_response_errors_total",
        "Invalid, closed or timed out responses (eresp).",
        |s| s.eresp,
    ),
    ("server_retries_total", "Connection retries (wretr).", |s| {
        s.wretr
    }),
    (
        "server_takeovers_total",
        "Idle connections of this server taken from another shard.",
        |s| s.takeovers,
    ),
    (
        "server_purged_connections_total",
        "Idle connections closed by the pool purge.",
        |s| s.purged,
    ),
    (
        "server_client_aborts_total",
        "Transfers aborted by the client (cli_abrt).",
        |s| s.cli_abrt,
    ),
    (
        "server_server_aborts_total",
        "Transfers aborted by the server (srv_abrt).",
        |s| s.srv_abrt,
    ),
    (
        "server_request_bytes_total",
        "Request bytes sent to the server.",
        |s| s.bytes_in,
    ),
    (
        "server_response_bytes_total",
        "Response bytes relayed from the server.",
        |s| s.bytes_out,
    ),
    (
        "server_selected_total",
        "Times the load balancer picked the server (lbtot).",
        |s| s.lbtot,
    ),
    (
        "server_tls_handshakes_total",
        "TLS handshakes completed with the server, full or resumed (ssl_sess).",
        |s| s.tls.handshakes,
    ),
    (
        "server_tls_resumed_handshakes_total",
        "TLS handshakes with the server that resumed a session (ssl_reused_sess).",
        |s| s.tls.resumed,
    ),
    (
        "server_tls_failed_handshakes_total",
        "TLS handshakes with the server that failed (ssl_failed_handshake).",
        |s| s.tls.failed,
    ),
    (
        "server_h2_connections_total",
        "HTTP/2 connections opened to the server (h2_total_connections).",
        |s| s.h2.total_conns,
    ),
    (
        "server_h2_streams_total",
        "Streams begun on the server's HTTP/2 connections (h2_backend_total_streams).",
        |s| s.h2.total_streams,
    ),
];

fn process_metrics(out: &mut Out, layout: &Layout, stopping: bool) {
    out.family("info", "gauge", "Build information; always 1.");
    out.sample("info", &[("version", VERSION)], 1);
    out.family(
        "uptime_seconds",
        "gauge",
        "Seconds since the process started.",
    );
    out.sample(
        "uptime_seconds",
        &[],
        layout.started.elapsed().as_secs_f64(),
    );
    out.family("shards", "gauge", "Shards (threads) serving traffic.");
    out.sample("shards", &[], layout.shards);
    out.family("stopping", "gauge", "1 while the process is stopping.");
    out.sample("stopping", &[], u8::from(stopping));
}

fn frontend_metrics(out: &mut Out, layout: &Layout, shards: &[Arc<ShardCounters>], ids: &[String]) {
    type Read = fn(&crate::counters::FrontendCounters) -> u64;
    let families: [(&str, &str, &str, Read); 14] = [
        (
            "frontend_current_connections",
            "gauge",
            "Client connections open now.",
            |f| u64::try_from(f.sessions.get()).unwrap_or(0),
        ),
        (
            "frontend_connections_total",
            "counter",
            "Client TCP connections accepted (conn_tot).",
            |f| f.conn_tot.get(),
        ),
        (
            "frontend_requests_total",
            "counter",
            "HTTP requests received (req_tot).",
            |f| f.req_tot.get(),
        ),
        (
            "frontend_request_errors_total",
            "counter",
            "Invalid or timed out requests (ereq).",
            |f| f.ereq.get(),
        ),
        (
            "frontend_received_bytes_total",
            "counter",
            "Bytes received from clients.",
            |f| f.bytes_in.get(),
        ),
        (
            "frontend_sent_bytes_total",
            "counter",
            "Bytes sent to clients.",
            |f| f.bytes_out.get(),
        ),
        (
            "frontend_tls_handshakes_total",
            "counter",
            "TLS handshakes completed with clients, full or resumed (ssl_sess).",
            |f| f.tls.handshakes.get(),
        ),
        (
            "frontend_tls_resumed_handshakes_total",
            "counter",
            "TLS handshakes with clients that resumed a session (ssl_reused_sess).",
            |f| f.tls.resumed.get(),
        ),
        (
            "frontend_tls_failed_handshakes_total",
            "counter",
            "TLS handshakes with clients that failed (ssl_failed_handshake).",
            |f| f.tls.failed.get(),
        ),
        (
            "frontend_log_dropped_total",
            "counter",
            "Access log lines dropped because the syslog receiver was slow or unreachable.",
            |f| f.log_dropped.get(),
        ),
        (
            "frontend_h2_connections",
            "gauge",
            "HTTP/2 client connections open now (h2_open_connections).",
            |f| u64::try_from(f.h2.conns.get()).unwrap_or(0),
        ),
        (
            "frontend_h2_connections_total",
            "counter",
            "HTTP/2 client connections accepted (h2_total_connections).",
            |f| f.h2.total_conns.get(),
        ),
        (
            "frontend_h2_streams",
            "gauge",
            "Streams open now on HTTP/2 client connections (h2_backend_open_streams).",
            |f| u64::try_from(f.h2.streams.get()).unwrap_or(0),
        ),
        (
            "frontend_h2_streams_total",
            "counter",
            "Streams begun on HTTP/2 client connections (h2_backend_total_streams).",
            |f| f.h2.total_streams.get(),
        ),
    ];
    for (name, kind, help, read) in families {
        out.family(name, kind, help);
        for (index, frontend) in layout.frontends.iter().enumerate() {
            for (shard, counters) in shards.iter().enumerate() {
                let value = counters.frontends.get(index).map_or(0, read);
                let labels = [
                    ("frontend", frontend.name.as_str()),
                    ("shard", ids[shard].as_str()),
                ];
                out.sample(name, &labels, value);
            }
        }
    }
    out.family(
        "frontend_http_responses_total",
        "counter",
        "Responses sent to clients by status class.",
    );
    for (index, frontend) in layout.frontends.iter().enumerate() {
        for (shard, counters) in shards.iter().enumerate() {
            let Some(f) = counters.frontends.get(index) else {
                continue;
            };
            let status = StatusTotals {
                hrsp_1xx: f.status.hrsp_1xx.get(),
                hrsp_2xx: f.status.hrsp_2xx.get(),
                hrsp_3xx: f.status.hrsp_3xx.get(),
                hrsp_4xx: f.status.hrsp_4xx.get(),
                hrsp_5xx: f.status.hrsp_5xx.get(),
                hrsp_other: f.status.hrsp_other.get(),
            };
            for (code, value) in CODES.iter().zip(by_code(&status)) {
                let labels = [
                    ("frontend", frontend.name.as_str()),
                    ("shard", ids[shard].as_str()),
                    ("code", code),
                ];
                out.sample("frontend_http_responses_total", &labels, value);
            }
        }
    }
}

fn server_shard_metrics(out: &mut Out, rows: &[ServerShard]) {
    out.family(
        "server_current_requests",
        "gauge",
        "Requests being served by the server now.",
    );
    for row in rows {
        out.sample("server_current_requests", &row.labels(), row.sums.scur);
    }
    let h2_gauges: [CounterFamily; 3] = [
        (
            "server_h2_connections",
            "HTTP/2 connections open to the server (proto h2).",
            |s| s.h2.conns,
        ),
        (
            "server_h2_streams",
            "Streams in flight on the server's HTTP/2 connections.",
            |s| s.h2.streams,
        ),
        (
            "server_h2_streams_max",
            "Most streams in flight at once on the server's HTTP/2 connections.",
            |s| s.h2.streams_max,
        ),
    ];
    for (name, help, read) in h2_gauges {
        out.family(name, "gauge", help);
        for row in rows {
            out.sample(name, &row.labels(), read(&row.sums));
        }
    }
    for (name, help, read) in SERVER_COUNTERS {
        out.family(name, "counter", help);
        for row in rows {
            out.sample(name, &row.labels(), read(&row.sums));
        }
    }
    out.family(
        "server_http_responses_total",
        "counter",
        "Server responses by status class.",
    );
    for row in rows {
        for (code, value) in CODES.iter().zip(by_code(&row.sums.status)) {
            let [b, s, t] = row.labels();
            out.sample(
                "server_http_responses_total",
                &[b, s, t, ("code", code)],
                value,
            );
        }
    }
    out.family(
        "server_closed_connections_total",
        "counter",
        "Server connections closed, by reason (why a connection was not reused).",
    );
    for row in rows {
        for reason in CloseReason::ALL {
            let [b, s, t] = row.labels();
            let labels = [b, s, t, ("reason", reason.as_str())];
            out.sample(
                "server_closed_connections_total",
                &labels,
                row.sums.closed_for(reason),
            );
        }
    }
}

fn pool_metrics(out: &mut Out, layout: &Layout, ids: &[String]) {
    type Read = fn(&ringway_pool::ServerSnapshot) -> i64;
    let families: [(&str, &str, Read); 6] = [
        (
            "server_used_connections",
            "Server connections carrying a request now (used_conn_cur).",
            |p| p.used_cur as i64,
        ),
        (
            "server_used_connections_max",
            "Peak of used connections since the last purge (used_max).",
            |p| p.used_max as i64,
        ),
        (
            "server_needed_connections",
            "Estimated connections needed (need_conn_est).",
            |p| p.need_est as i64,
        ),
        (
            "server_unsafe_idle_connections",
            "Idle connections that carried one request (idle_conn_cur).",
            |p| p.unsafe_nb as i64,
        ),
        (
            "server_safe_idle_connections",
            "Idle connections that carried two requests or more (safe_conn_cur).",
            |p| p.safe_nb as i64,
        ),
        (
            "server_idle_connections_limit",
            "pool_max_conn: idle connections kept at most; -1 is unlimited.",
            |p| p.pool_max_conn,
        ),
    ];
    let snapshots: Vec<Vec<_>> = layout
        .backends
        .iter()
        .map(|b| b.servers.iter().map(|s| s.pool.snapshot()).collect())
        .collect();
    for (name, help, read) in families {
        out.family(name, "gauge", help);
        for (backend, pools) in layout.backends.iter().zip(&snapshots) {
            for (server, pool) in backend.servers.iter().zip(pools) {
                let labels = [
                    ("backend", backend.name.as_str()),
                    ("server", server.name.as_str()),
                ];
                out.sample(name, &labels, read(pool));
            }
        }
    }
    out.family(
        "server_idle_connections",
        "gauge",
        "Idle connections in each shard's pool (idle_per_thr).",
    );
    for (backend, pools) in layout.backends.iter().zip(&snapshots) {
        for (server, pool) in backend.servers.iter().zip(pools) {
            for (shard, id) in ids.iter().enumerate() {
                let idle = pool.idle_per_shard.get(shard).copied().unwrap_or(0);
                let labels = [
                    ("backend", backend.name.as_str()),
                    ("server", server.name.as_str()),
                    ("shard", id.as_str()),
                ];
                out.sample("server_idle_connections", &labels, idle);
            }
        }
    }
    out.family(
        "server_safe_connections",
        "gauge",
        "Idle connections of the safe class (used twice or more) in each shard's pool.",
    );
    for (backend, pools) in layout.backends.iter().zip(&snapshots) {
        for (server, pool) in backend.servers.iter().zip(pools) {
            for (shard, id) in ids.iter().enumerate() {
                let safe = pool.safe_per_shard.get(shard).copied().unwrap_or(0);
                let labels = [
                    ("backend", backend.name.as_str()),
                    ("server", server.name.as_str()),
                    ("shard", id.as_str()),
                ];
                out.sample("server_safe_connections", &labels, safe);
            }
        }
    }
    out.family(
        "server_state",
        "gauge",
        "Administrative state: 1 on the current one of ready, drain, maint.",
    );
    for backend in &layout.backends {
        for server in &backend.servers {
            let current = server.state.get();
            for state in [ServerState::Ready, ServerState::Drain, ServerState::Maint] {
                let labels = [
                    ("backend", backend.name.as_str()),
                    ("server", server.name.as_str()),
                    ("state", state_name(state)),
                ];
                out.sample("server_state", &labels, u8::from(current == state));
            }
        }
    }
}

/// Reads one number of a backend's totals.
type BackendValue = fn(&crate::totals::BackendTotals) -> u64;

/// Weights and the active/backup split, under HAProxy's exporter names with our prefix.
fn weight_metrics(out: &mut Out, layout: &Layout, shards: &[Arc<ShardCounters>]) {
    let t = totals(layout, shards);
    out.family(
        "server_weight",
        "gauge",
        "Effective weight: 0 while the server takes no traffic, ramped during a slowstart.",
    );
    for (info, bt) in layout.backends.iter().zip(&t.backends) {
        for (server, st) in info.servers.iter().zip(&bt.servers) {
            let labels = [
                ("backend", info.name.as_str()),
                ("server", server.name.as_str()),
            ];
            out.sample("server_weight", &labels, st.weight);
        }
    }
    out.family(
        "server_uweight",
        "gauge",
        "Configured weight, or the one set at runtime.",
    );
    for (info, bt) in layout.backends.iter().zip(&t.backends) {
        for (server, st) in info.servers.iter().zip(&bt.servers) {
            let labels = [
                ("backend", info.name.as_str()),
                ("server", server.name.as_str()),
            ];
            out.sample("server_uweight", &labels, st.uweight);
        }
    }
    let backend_families: [(&str, &str, BackendValue); 3] = [
        (
            "backend_weight",
            "Total effective weight of the servers taking new requests.",
            |bt| bt.weight,
        ),
        ("backend_active_servers", "Usable active servers.", |bt| {
            bt.act
        }),
        ("backend_backup_servers", "Usable backup servers.", |bt| {
            bt.bck
        }),
    ];
    for (name, help, value) in backend_families {
        out.family(name, "gauge", help);
        for (info, bt) in layout.backends.iter().zip(&t.backends) {
            out.sample(name, &[("backend", info.name.as_str())], value(bt));
        }
    }
}

/// HAProxy's status values of `haproxy_server_status` (its exporter's `state` label).
const STATUSES: [&str; 6] = ["UP", "DOWN", "MAINT", "DRAIN", "NOLB", "no check"];

/// Health per server, the families of HAProxy's exporter under the `ringway_` prefix: the
/// status (1 on the current one), check counters, last change, downtime, last check duration.
fn health_metrics(out: &mut Out, layout: &Layout) {
    let now = std::time::Instant::now();
    let mut views = Vec::new();
    for backend in &layout.backends {
        for server in &backend.servers {
            let view = HealthView::of(&server.health_snapshot(), server.state.get(), now);
            views.push((backend.name.as_str(), server.name.as_str(), view));
        }
    }
    let pair = |backend, server| [("backend", backend), ("server", server)];
    out.family(
        "server_status",
        "gauge",
        "Server status as show stat shows it, without the n/m of a transition: 1 on the current one.",
    );
    for (backend, server, view) in &views {
        // `UP 2/3` is UP, `DOWN 1/2` is DOWN, `DRAIN 2/3` is DRAIN, `NOLB 1/3` is NOLB.
        let current = view.status.split(' ').next().unwrap_or("");
        let current = if view.status == "no check" {
            "no check"
        } else {
            current
        };
        for status in STATUSES {
            let labels = [
                ("backend", *backend),
                ("server", *server),
                ("state", status),
            ];
            out.sample("server_status", &labels, u8::from(current == status));
        }
    }
    type Read = fn(&HealthView) -> Option<u64>;
    let families: [(&str, &str, &str, Read); 4] = [
        (
            "server_check_failures_total",
            "counter",
            "Failed health checks (show stat chkfail), while checks are enabled.",
            |v| v.counters.as_ref().map(|c| c.chkfail),
        ),
        (
            "server_check_up_down_total",
            "counter",
            "Transitions to DOWN (show stat chkdown), while checks are enabled.",
            |v| v.counters.as_ref().map(|c| c.chkdown),
        ),
        (
            "server_downtime_seconds_total",
            "counter",
            "Time spent DOWN (show stat downtime), while checks are enabled.",
            |v| v.counters.as_ref().map(|c| c.downtime),
        ),
        (
            "server_check_last_change_seconds",
            "gauge",
            "Seconds since the server's health last changed (show stat lastchg).",
            |v| Some(v.lastchg),
        ),
    ];
    for (name, kind, help, read) in families {
        out.family(name, kind, help);
        for (backend, server, view) in &views {
            if let Some(value) = read(view) {
                out.sample(name, &pair(*backend, *server), value);
            }
        }
    }
    out.family(
        "server_check_duration_seconds",
        "gauge",
        "Duration of the last health check (show stat check_duration).",
    );
    for (backend, server, view) in &views {
        if let Some(ms) = view.check.as_ref().and_then(|c| c.duration_ms) {
            out.sample(
                "server_check_duration_seconds",
                &pair(*backend, *server),
                ms as f64 / 1000.0,
            );
        }
    }
}

fn server_histograms(out: &mut Out, layout: &Layout, shards: &[Arc<ShardCounters>]) {
    let t = totals(layout, shards);
    let pairs: Vec<(&str, &str, &ServerSums)> = layout
        .backends
        .iter()
        .zip(&t.backends)
        .flat_map(|(backend, bt)| {
            backend
                .servers
                .iter()
                .zip(&bt.servers)
                .map(move |(server, st)| {
                    (backend.name.as_str(), server.name.as_str(), &st.counters)
                })
        })
        .collect();
    out.family(
        "server_requests_per_connection",
        "histogram",
        "Requests each closed server connection carried.",
    );
    for (backend, server, sums) in &pairs {
        let labels = [("backend", *backend), ("server", *server)];
        out.histogram(
            "server_requests_per_connection",
            &labels,
            &sums.reqs_per_conn,
            1.0,
        );
    }
    out.family(
        "server_request_duration_seconds",
        "histogram",
        "Request latency per server: complete request head to the end of the response.",
    );
    for (backend, server, sums) in &pairs {
        let labels = [("backend", *backend), ("server", *server)];
        out.histogram(
            "server_request_duration_seconds",
            &labels,
            &sums.latency,
            1e6,
        );
    }
}

fn shard_metrics(out: &mut Out, shards: &[Arc<ShardCounters>], ids: &[String]) {
    type Read = fn(&ShardCounters) -> u64;
    let families: [(&str, &str, Read); 6] = [
        (
            "shard_accepted_connections_total",
            "Client connections accepted by the shard.",
            |s| s.activity.accepted.get(),
        ),
        (
            "shard_fd_takeovers_total",
            "Idle server connections the shard took from other shards (fd_takeover).",
            |s| s.activity.fd_takeover.get(),
        ),
        (
            "shard_tasks_total",
            "Tasks run by the shard's executor (ctxsw).",
            |s| s.activity.ctxsw.get(),
        ),
        (
            "shard_poller_rounds_total",
            "epoll_wait calls of the shard's poller, naps included (loops).",
            |s| s.activity.loops.get(),
        ),
        (
            "shard_poller_ready_rounds_total",
            "Poller rounds that found sockets ready (poll_io).",
            |s| s.activity.poll_io.get(),
        ),
        (
            "shard_poller_sleeps_total",
            "Naps that ran out, after which the shard slept in io_uring (poll_exp).",
            |s| s.activity.poll_exp.get(),
        ),
    ];
    for (name, help, read) in families {
        out.family(name, "counter", help);
        for (shard, counters) in shards.iter().enumerate() {
            out.sample(name, &[("shard", ids[shard].as_str())], read(counters));
        }
    }
    out.family(
        "shard_request_duration_seconds",
        "histogram",
        "Request latency per shard, all servers.",
    );
    for (shard, counters) in shards.iter().enumerate() {
        let sums = shard_server_sums(counters);
        out.histogram(
            "shard_request_duration_seconds",
            &[("shard", ids[shard].as_str())],
            &sums.latency,
            1e6,
        );
    }
}

/// The whole `/metrics` body: ringway's families and HAProxy's.
pub fn render_metrics(layout: &Layout, shards: &[Arc<ShardCounters>], stopping: bool) -> String {
    render_metrics_for(layout, shards, stopping, &MetricsScope::default())
}

/// The `/metrics` body for a scrape asking for `scope`.
pub fn render_metrics_for(
    layout: &Layout,
    shards: &[Arc<ShardCounters>],
    stopping: bool,
    scope: &MetricsScope,
) -> String {
    let mut out = Out(String::with_capacity(64 * 1024));
    if scope.ringway {
        render_ringway(&mut out, layout, shards, stopping);
    }
    if scope.any_haproxy() {
        // Summed once: `show info` and `show stat` print the same lines and rows.
        let t = totals(layout, shards);
        let info = info_lines(layout, &t, stopping, layout.started.elapsed());
        render_haproxy(&mut out, &info, &stat_rows(layout, &t), scope);
    }
    out.0
}

fn render_ringway(out: &mut Out, layout: &Layout, shards: &[Arc<ShardCounters>], stopping: bool) {
    let ids: Vec<String> = (0..shards.len()).map(|shard| shard.to_string()).collect();
    process_metrics(out, layout, stopping);
    frontend_metrics(out, layout, shards, &ids);
    let mut rows = Vec::new();
    for (b, backend) in layout.backends.iter().enumerate() {
        for (s, server) in backend.servers.iter().enumerate() {
            for (shard, counters) in shards.iter().enumerate() {
                rows.push(ServerShard {
                    backend: &backend.name,
                    server: &server.name,
                    shard: &ids[shard],
                    sums: server_sums_on(counters, b, s),
                });
            }
        }
    }
    server_shard_metrics(out, &rows);
    pool_metrics(out, layout, &ids);
    weight_metrics(out, layout, shards);
    health_metrics(out, layout);
    server_histograms(out, layout, shards);
    shard_metrics(out, shards, &ids);
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::testutil::{all_shards, limits, sample_layout};

    fn value(text: &str, series: &str) -> String {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .to_string()
    }

    #[test]
    fn health_series() {
        let layout = sample_layout(1, limits(-1, 5_000));
        let server = &layout.backends[0].servers[0];
        let s1 = "backend=\"be\",server=\"s1\"";
        let text = render_metrics(&layout, &all_shards(&layout), false);
        assert_eq!(
            value(
                &text,
                &format!("ringway_server_status{{{s1},state=\"no check\"}}")
            ),
            "1"
        );
        assert_eq!(
            value(
                &text,
                &format!("ringway_server_status{{{s1},state=\"UP\"}}")
            ),
            "0"
        );
        assert!(!text.contains("ringway_server_check_failures_total{"));
        let now = std::time::Instant::now();
        *server.health() = ringway_pool::HealthMachine::new(2, 3, true, now);
        server.health().record(
            ringway_pool::CheckOutcome {
                status: ringway_pool::CheckStatus::L7Sts,
                code: Some(500),
                duration: Some(std::time::Duration::from_millis(3)),
                info: String::new(),
            },
            now,
        );
        let text = render_metrics(&layout, &all_shards(&layout), false);
        for (series, expected) in [
            ("ringway_server_status", "state=\"DOWN\"", "1"),
            ("ringway_server_status", "state=\"UP\"", "0"),
            ("ringway_server_check_failures_total", "", "1"),
            ("ringway_server_check_up_down_total", "", "1"),
            ("ringway_server_downtime_seconds_total", "", "0"),
            ("ringway_server_check_duration_seconds", "", "0.003"),
        ]
        .map(|(name, extra, v)| {
            let labels = if extra.is_empty() {
                s1.to_string()
            } else {
                format!("{s1},{extra}")
            };
            (format!("{name}{{{labels}}}"), v)
        }) {
            assert_eq!(value(&text, &series), expected, "{series}");
        }
    }

    #[test]
    fn per_server_and_shard_series() {
        let layout = sample_layout(2, limits(-1, 5_000));
        let shards = all_shards(&layout);
        shards[1].servers[0][0].connect.add(2);
        shards[1].servers[0][0].reuse.add(9);
        shards[0].servers[0][0].takeovers.inc();
        shards[0].activity.fd_takeover.inc();
        shards[1].servers[0][0].record_close(CloseReason::NotNeeded, 3);
        shards[0].servers[0][0].record_latency(std::time::Duration::from_micros(300));
        shards[0].frontends[0].conn_tot.add(4);
        let text = render_metrics(&layout, &shards, false);
        let s1 = "backend=\"be\",server=\"s1\"";
        for (series, expected) in [
            (
                format!("ringway_server_new_connections_total{{{s1},shard=\"1\"}}"),
                "2",
            ),
            (
                format!("ringway_server_reused_requests_total{{{s1},shard=\"1\"}}"),
                "9",
            ),
            (
                format!("ringway_server_takeovers_total{{{s1},shard=\"0\"}}"),
                "1",
            ),
            (
                "ringway_shard_fd_takeovers_total{shard=\"0\"}".to_string(),
                "1",
            ),
            (
                format!(
                    "ringway_server_closed_connections_total{{{s1},shard=\"1\",reason=\"not_needed\"}}"
                ),
                "1",
            ),
            (
                format!("ringway_server_requests_per_connection_bucket{{{s1},le=\"2\"}}"),
                "0",
            ),
            (
                format!("ringway_server_requests_per_connection_bucket{{{s1},le=\"5\"}}"),
                "1",
            ),
            (
                format!("ringway_server_requests_per_connection_sum{{{s1}}}"),
                "3",
            ),
            (
                format!("ringway_server_request_duration_seconds_bucket{{{s1},le=\"0.00025\"}}"),
                "0",
            ),
            (
                format!("ringway_server_request_duration_seconds_bucket{{{s1},le=\"0.0005\"}}"),
                "1",
            ),
            (
                "ringway_shard_request_duration_seconds_count{shard=\"0\"}".to_string(),
                "1",
            ),
            (
                format!("ringway_server_idle_connections{{{s1},shard=\"1\"}}"),
                "0",
            ),
            (
                format!("ringway_server_state{{{s1},state=\"ready\"}}"),
                "1",
            ),
            (
                "ringway_frontend_connections_total{frontend=\"fe\",shard=\"0\"}".to_string(),
                "4",
            ),
        ] {
            assert_eq!(value(&text, &series), expected, "{series}");
        }
    }

    #[test]
    fn each_family_once_and_contiguous() {
        let layout = sample_layout(2, limits(-1, 5_000));
        let text = render_metrics(&layout, &all_shards(&layout), true);
        let mut seen = HashSet::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap().to_string();
                assert!(seen.insert(name.clone()), "{name} twice");
                current = name;
            } else if !line.starts_with('#') {
                assert!(line.starts_with(&current), "{line} outside {current}");
            }
        }
        assert!(text.contains("\nringway_stopping 1\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
