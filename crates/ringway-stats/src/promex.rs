//! The HAProxy-compatible families of `/metrics`: the names, types, help texts and labels of
//! HAProxy 2.6's built-in exporter (`haproxy_process_*`, `haproxy_frontend_*`,
//! `haproxy_backend_*`, `haproxy_server_*`; labels `proxy`, `server`, and `state` or `code`), so
//! dashboards made for HAProxy work unchanged. Owns the tables from each exporter metric to the
//! `show info` line or `show stat` column it reads: the values come from the very rows those
//! commands print, so the three never disagree. As HAProxy: an empty column reads `NaN`,
//! millisecond columns are shown in seconds, a family with no sample has no header.
//!
//! One deliberate difference: `haproxy_process_failed_resolutions` is typed `gauge`, not
//! `counter`, because `promtool check metrics` rejects a counter without `_total`.

use std::fmt::Write as _;

use crate::metrics_scope::MetricsScope;
use crate::prometheus::Out;
use crate::stat_csv::Row;

#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

use Kind::{Counter, Gauge};

/// `haproxy_process_<name>`: kind, the `show info` line read, help.
#[rustfmt::skip]
const PROCESS: [(&str, Kind, &str, &str); 60] = [
    ("nbthread", Gauge, "Nbthread", "Number of started threads (global.nbthread)"),
    ("nbproc", Gauge, "Nbproc", "Number of started worker processes (historical, always 1)"),
    ("relative_process_id", Gauge, "Process_num", "Relative worker process number (1)"),
    ("uptime_seconds", Gauge, "Uptime_sec", "How long ago this worker process was started (seconds)"),
    ("pool_failures_total", Counter, "PoolFailed", "Number of failed pool allocations since this worker was started"),
    ("max_fds", Gauge, "Ulimit-n", "Hard limit on the number of per-process file descriptors"),
    ("max_sockets", Gauge, "Maxsock", "Hard limit on the number of per-process sockets"),
    ("max_connections", Gauge, "Maxconn", "Hard limit on the number of per-process connections (configured or imposed by Ulimit-n)"),
    ("hard_max_connections", Gauge, "Hard_maxconn", "Hard limit on the number of per-process connections (imposed by Memmax_MB or Ulimit-n)"),
    ("current_connections", Gauge, "CurrConns", "Current number of connections on this worker process"),
    ("connections_total", Counter, "CumConns", "Total number of connections on this worker process since started"),
    ("requests_total", Counter, "CumReq", "Total number of requests on this worker process since started"),
    ("max_ssl_connections", Gauge, "MaxSslConns", "Hard limit on the number of per-process SSL endpoints (front+back), 0=unlimited"),
    ("current_ssl_connections", Gauge, "CurrSslConns", "Current number of SSL endpoints on this worker process (front+back)"),
    ("ssl_connections_total", Counter, "CumSslConns", "Total number of SSL endpoints on this worker process since started (front+back)"),
    ("max_pipes", Gauge, "Maxpipes", "Hard limit on the number of pipes for splicing, 0=unlimited"),
    ("pipes_used_total", Counter, "PipesUsed", "Current number of pipes in use in this worker process"),
    ("pipes_free_total", Counter, "PipesFree", "Current number of allocated and available pipes in this worker process"),
    ("current_connection_rate", Gauge, "ConnRate", "Number of front connections created on this worker process over the last second"),
    ("limit_connection_rate", Gauge, "ConnRateLimit", "Hard limit for ConnRate (global.maxconnrate)"),
    ("max_connection_rate", Gauge, "MaxConnRate", "Highest ConnRate reached on this worker process since started (in connections per second)"),
    ("current_session_rate", Gauge, "SessRate", "Number of sessions created on this worker process over the last second"),
    ("limit_session_rate", Gauge, "SessRateLimit", "Hard limit for SessRate (global.maxsessrate)"),
    ("max_session_rate", Gauge, "MaxSessRate", "Highest SessRate reached on this worker process since started (in sessions per second)"),
    ("current_ssl_rate", Gauge, "SslRate", "Number of SSL connections created on this worker process over the last second"),
    ("limit_ssl_rate", Gauge, "SslRateLimit", "Hard limit for SslRate (global.maxsslrate)"),
    ("max_ssl_rate", Gauge, "MaxSslRate", "Highest SslRate reached on this worker process since started (in connections per second)"),
    ("current_frontend_ssl_key_rate", Gauge, "SslFrontendKeyRate", "Number of SSL keys created on frontends in this worker process over the last second"),
    ("max_frontend_ssl_key_rate", Gauge, "SslFrontendMaxKeyRate", "Highest SslFrontendKeyRate reached on this worker process since started (in SSL keys per second)"),
    ("frontend_ssl_reuse", Gauge, "SslFrontendSessionReuse_pct", "Percent of frontend SSL connections which did not require a new key"),
    ("current_backend_ssl_key_rate", Gauge, "SslBackendKeyRate", "Number of SSL keys created on backends in this worker process over the last second"),
    ("max_backend_ssl_key_rate", Gauge, "SslBackendMaxKeyRate", "Highest SslBackendKeyRate reached on this worker process since started (in SSL keys per second)"),
    ("ssl_cache_lookups_total", Counter, "SslCacheLookups", "Total number of SSL session ID lookups in the SSL session cache on this worker since started"),
    ("ssl_cache_misses_total", Counter, "SslCacheMisses", "Total number of SSL session ID lookups that didn't find a session in the SSL session cache on this worker since started"),
    ("http_comp_bytes_in_total", Counter, "CompressBpsIn", "Number of bytes submitted to the HTTP compressor in this worker process over the last second"),
    ("http_comp_bytes_out_total", Counter, "CompressBpsOut", "Number of bytes emitted by the HTTP compressor in this worker process over the last second"),
    ("limit_http_comp", Gauge, "CompressBpsRateLim", "Limit of CompressBpsOut beyond which HTTP compression is automatically disabled"),
    // No `show info` line (HAProxy has one only when built with zlib): NaN, as HAProxy's.
    ("current_zlib_memory", Gauge, "ZlibMemUsage", "Amount of memory currently used by HTTP compression on the current worker process (in bytes)"),
    ("max_zlib_memory", Gauge, "MaxZlibMemUsage", "Limit on the amount of memory used by HTTP compression above which it is automatically disabled (in bytes, see global.maxzlibmem)"),
    ("current_tasks", Gauge, "Tasks", "Total number of tasks in the current worker process (active + sleeping)"),
    ("current_run_queue", Gauge, "Run_queue", "Total number of active tasks+tasklets in the current worker process"),
    ("idle_time_percent", Gauge, "Idle_pct", "Percentage of last second spent waiting in the current worker thread"),
    ("stopping", Gauge, "Stopping", "1 if the worker process is currently stopping, otherwise zero"),
    ("jobs", Gauge, "Jobs", "Current number of active jobs on the current worker process (frontend connections, master connections, listeners)"),
    ("unstoppable_jobs", Gauge, "Unstoppable Jobs", "Current number of unstoppable jobs on the current worker process (master connections)"),
    ("listeners", Gauge, "Listeners", "Current number of active listeners on the current worker process"),
    ("active_peers", Gauge, "ActivePeers", "Current number of verified active peers connections on the current worker process"),
    ("connected_peers", Gauge, "ConnectedPeers", "Current number of peers having passed the connection step on the current worker process"),
    ("dropped_logs_total", Counter, "DroppedLogs", "Total number of dropped logs for current worker process since started"),
    ("busy_polling_enabled", Gauge, "BusyPolling", "1 if busy-polling is currently in use on the worker process, otherwise zero (config.busy-polling)"),
    // HAProxy types it `counter`, which promtool rejects for lacking `_total`.
    ("failed_resolutions", Gauge, "FailedResolutions", "Total number of failed DNS resolutions in current worker process since started"),
    ("bytes_out_total", Counter, "TotalBytesOut", "Total number of bytes emitted by current worker process since started"),
    ("spliced_bytes_out_total", Counter, "TotalSplicdedBytesOut", "Total number of bytes emitted by current worker process through a kernel pipe since started"),
    ("bytes_out_rate", Gauge, "BytesOutRate", "Number of bytes emitted by current worker process over the last second"),
    ("recv_logs_total", Counter, "CumRecvLogs", "Total number of log messages received by log-forwarding listeners on this worker process since started"),
    // 1, with the version as its label.
    ("build_info", Gauge, "Build info", "Build info"),
    ("max_memory_bytes", Gauge, "Memmax_bytes", "Worker process's hard limit on memory usage in byes (-m on command line)"),
    ("pool_allocated_bytes", Gauge, "PoolAlloc_bytes", "Amount of memory allocated in pools (in bytes)"),
    ("pool_used_bytes", Gauge, "PoolUsed_bytes", "Amount of pool memory currently used (in bytes)"),
    ("start_time_seconds", Gauge, "Start_time_sec", "Start time in seconds"),
];

/// Where a proxy or server metric's value comes from.
#[derive(Clone, Copy)]
enum Source {
    /// A `show stat` column as printed (an empty one reads NaN).
    Column(&'static str),
    /// A `show stat` column in milliseconds, in seconds.
    Millis(&'static str),
    /// One sample per state (`state` label), 1 on the object's current one.
    Status,
    /// The `hrsp_*` columns, one sample per class (`code` label).
    Codes,
    /// Servers with checks only: one sample per check result, 1 on the last one.
    CheckStatus,
    /// Servers with checks only: `check_code`, 0 without one.
    CheckCode,
    /// Servers with a finished check only: `check_duration`, in seconds.
    CheckDuration,
    /// Backends: servers per state.
    AggServerStatus,
    /// Backends: servers per last check result.
    AggCheckStatus,
}

use Source::*;

/// The objects a metric exists for.
const FE: u8 = 1;
const BE: u8 = 2;
const SRV: u8 = 4;

/// A frontend, backend or server metric: `haproxy_<object>_<name>`.
struct StatMetric {
    name: &'static str,
    kind: Kind,
    on: u8,
    source: Source,
    help: &'static str,
}

const fn m(
    name: &'static str,
    kind: Kind,
    on: u8,
    source: Source,
    help: &'static str,
) -> StatMetric {
    StatMetric {
        name,
        kind,
        on,
        source,
        help,
    }
}

/// In HAProxy's order (its `show stat` field order).
#[rustfmt::skip]
const STAT: [StatMetric; 70] = [
    m("current_queue", Gauge, BE | SRV, Column("qcur"), "Number of current queued connections"),
    m("max_queue", Gauge, BE | SRV, Column("qmax"), "Highest value of queued connections encountered since process started"),
    m("current_sessions", Gauge, FE | BE | SRV, Column("scur"), "Number of current sessions on the frontend, backend or server"),
    m("max_sessions", Gauge, FE | BE | SRV, Column("smax"), "Highest value of current sessions encountered since process started"),
    m("limit_sessions", Gauge, FE | BE | SRV, Column("slim"), "Frontend/listener/server's maxconn, backend's fullconn"),
    m("sessions_total", Counter, FE | BE | SRV, Column("stot"), "Total number of sessions since process started"),
    m("bytes_in_total", Counter, FE | BE | SRV, Column("bin"), "Total number of request bytes since process started"),
    m("bytes_out_total", Counter, FE | BE | SRV, Column("bout"), "Total number of response bytes since process started"),
    m("requests_denied_total", Counter, FE | BE, Column("dreq"), "Total number of denied requests since process started"),
    m("responses_denied_total", Counter, FE | BE | SRV, Column("dresp"), "Total number of denied responses since process started"),
    m("request_errors_total", Counter, FE, Column("ereq"), "Total number of invalid requests since process started"),
    m("connection_errors_total", Counter, BE | SRV, Column("econ"), "Total number of failed connections to server since the worker process started"),
    m("response_errors_total", Counter, BE | SRV, Column("eresp"), "Total number of invalid responses since the worker process started"),
    m("retry_warnings_total", Counter, BE | SRV, Column("wretr"), "Total number of server connection retries since the worker process started"),
    m("redispatch_warnings_total", Counter, BE | SRV, Column("wredis"), "Total number of server redispatches due to connection failures since the worker process started"),
    m("status", Gauge, FE | BE | SRV, Status, "Current status of the service, per state label value."),
    m("weight", Gauge, BE | SRV, Column("weight"), "Server's effective weight, or sum of active servers' effective weights for a backend"),
    m("active_servers", Gauge, BE, Column("act"), "Total number of active UP servers with a non-zero weight"),
    m("backup_servers", Gauge, BE, Column("bck"), "Total number of backup UP servers with a non-zero weight"),
    m("check_failures_total", Counter, SRV, Column("chkfail"), "Total number of failed individual health checks per server/backend, since the worker process started"),
    m("check_up_down_total", Counter, BE | SRV, Column("chkdown"), "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started"),
    m("check_last_change_seconds", Gauge, BE | SRV, Column("lastchg"), "How long ago the last server state changed, in seconds"),
    m("downtime_seconds_total", Counter, BE | SRV, Column("downtime"), "Total time spent in DOWN state, for server or backend"),
    m("queue_limit", Gauge, SRV, Column("qlimit"), "Limit on the number of connections in queue, for servers only (maxqueue argument)"),
    m("current_throttle", Gauge, SRV, Column("throttle"), "Throttling ratio applied to a server's maxconn and weight during the slowstart period (0 to 100%)"),
    m("loadbalanced_total", Counter, BE | SRV, Column("lbtot"), "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)"),
    m("limit_session_rate", Gauge, FE, Column("rate_lim"), "Limit on the number of sessions accepted in a second (frontend only, 'rate-limit sessions' setting)"),
    m("max_session_rate", Gauge, FE | BE | SRV, Column("rate_max"), "Highest value of sessions per second observed since the worker process started"),
    m("check_status", Gauge, SRV, CheckStatus, "Status of last health check, per state label value."),
    m("check_code", Gauge, SRV, CheckCode, "layer5-7 code, if available of the last health check."),
    m("check_duration_seconds", Gauge, SRV, CheckDuration, "Total duration of the latest server health check, in seconds."),
    m("http_responses_total", Counter, FE | BE | SRV, Codes, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m("http_requests_rate_max", Gauge, FE, Column("req_rate_max"), "Highest value of http requests observed since the worker process started"),
    m("http_requests_total", Counter, FE | BE, Column("req_tot"), "Total number of HTTP requests processed by this object since the worker process started"),
    m("client_aborts_total", Counter, BE | SRV, Column("cli_abrt"), "Total number of requests or connections aborted by the client since the worker process started"),
    m("server_aborts_total", Counter, BE | SRV, Column("srv_abrt"), "Total number of requests or connections aborted by the server since the worker process started"),
    m("http_comp_bytes_in_total", Counter, FE | BE, Column("comp_in"), "Total number of bytes submitted to the HTTP compressor for this object since the worker process started"),
    m("http_comp_bytes_out_total", Counter, FE | BE, Column("comp_out"), "Total number of bytes emitted by the HTTP compressor for this object since the worker process started"),
    m("http_comp_bytes_bypassed_total", Counter, FE | BE, Column("comp_byp"), "Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation)"),
    m("http_comp_responses_total", Counter, FE | BE, Column("comp_rsp"), "Total number of HTTP responses that were compressed for this object since the worker process started"),
    m("last_session_seconds", Gauge, BE | SRV, Column("lastsess"), "How long ago some traffic was seen on this object on this worker process, in seconds"),
    m("queue_time_average_seconds", Gauge, BE | SRV, Millis("qtime"), "Avg. queue time for last 1024 successful connections."),
    m("connect_time_average_seconds", Gauge, BE | SRV, Millis("ctime"), "Avg. connect time for last 1024 successful connections."),
    m("response_time_average_seconds", Gauge, BE | SRV, Millis("rtime"), "Avg. response time for last 1024 successful connections."),
    m("total_time_average_seconds", Gauge, BE | SRV, Millis("ttime"), "Avg. total time for last 1024 successful connections."),
    m("connections_rate_max", Gauge, FE, Column("conn_rate_max"), "Highest value of connections per second observed since the worker process started"),
    m("connections_total", Counter, FE, Column("conn_tot"), "Total number of new connections accepted on this frontend since the worker process started"),
    m("intercepted_requests_total", Counter, FE, Column("intercepted"), "Total number of HTTP requests intercepted on the frontend (redirects/stats/services) since the worker process started"),
    m("denied_connections_total", Counter, FE, Column("dcon"), "Total number of incoming connections blocked on a listener/frontend by a tcp-request connection rule since the worker process started"),
    m("denied_sessions_total", Counter, FE, Column("dses"), "Total number of incoming sessions blocked on a listener/frontend by a tcp-request connection rule since the worker process started"),
    m("failed_header_rewriting_total", Counter, FE | BE | SRV, Column("wrew"), "Total number of failed HTTP header rewrites since the worker process started"),
    m("connection_attempts_total", Counter, BE | SRV, Column("connect"), "Total number of outgoing connection attempts on this backend/server since the worker process started"),
    m("connection_reuses_total", Counter, BE | SRV, Column("reuse"), "Total number of reused connection on this backend/server since the worker process started"),
    m("http_cache_lookups_total", Counter, FE | BE, Column("cache_lookups"), "Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started"),
    m("http_cache_hits_total", Counter, FE | BE, Column("cache_hits"), "Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started"),
    m("idle_connections_current", Gauge, SRV, Column("srv_icur"), "Current number of idle connections available for reuse on this server"),
    m("idle_connections_limit", Gauge, SRV, Column("src_ilim"), "Limit on the number of available idle connections on this server (server 'pool_max_conn' directive)"),
    m("max_queue_time_seconds", Gauge, BE | SRV, Millis("qtime_max"), "Maximum observed time spent in the queue"),
    m("max_connect_time_seconds", Gauge, BE | SRV, Millis("ctime_max"), "Maximum observed time spent waiting for a connection to complete"),
    m("max_response_time_seconds", Gauge, BE | SRV, Millis("rtime_max"), "Maximum observed time spent waiting for a server response"),
    m("max_total_time_seconds", Gauge, BE | SRV, Millis("ttime_max"), "Maximum observed total request+response time (request+queue+connect+response+processing)"),
    m("internal_errors_total", Counter, FE | BE | SRV, Column("eint"), "Total number of internal errors since process started"),
    m("unsafe_idle_connections_current", Gauge, SRV, Column("idle_conn_cur"), "Current number of unsafe idle connections"),
    m("safe_idle_connections_current", Gauge, SRV, Column("safe_conn_cur"), "Current number of safe idle connections"),
    m("used_connections_current", Gauge, SRV, Column("used_conn_cur"), "Current number of connections in use"),
    m("need_connections_current", Gauge, SRV, Column("need_conn_est"), "Estimated needed number of connections"),
    m("uweight", Gauge, BE | SRV, Column("uweight"), "Server's user weight, or sum of active servers' user weights for a backend"),
    m("agg_server_status", Gauge, BE, AggServerStatus, "Backend's aggregated gauge of servers' status"),
    m("agg_server_check_status", Gauge, BE, AggServerStatus, "Backend's aggregated gauge of servers' state check status"),
    m("agg_check_status", Gauge, BE, AggCheckStatus, "Backend's aggregated gauge of servers' state check status"),
];

const PROXY_STATES: [&str; 2] = ["DOWN", "UP"];
const SERVER_STATES: [&str; 5] = ["DOWN", "UP", "MAINT", "DRAIN", "NOLB"];
/// The check results HAProxy's exporter lists (those of a finished check).
const CHECK_RESULTS: [&str; 16] = [
    "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP",
    "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK",
];
const CODES: [(&str, &str); 6] = [
    ("1xx", "hrsp_1xx"),
    ("2xx", "hrsp_2xx"),
    ("3xx", "hrsp_3xx"),
    ("4xx", "hrsp_4xx"),
    ("5xx", "hrsp_5xx"),
    ("other", "hrsp_other"),
];

/// A family's samples, printed with its header once it has one.
struct Family<'a> {
    name: String,
    kind: Kind,
    help: &'a str,
    samples: String,
}

impl<'a> Family<'a> {
    fn new(name: String, kind: Kind, help: &'a str) -> Family<'a> {
        Family {
            name,
            kind,
            help,
            samples: String::new(),
        }
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: &str) {
        self.samples.push_str(&self.name);
        if !labels.is_empty() {
            self.samples.push('{');
            for (index, (key, value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.samples.push(',');
                }
                let _ = write!(
                    self.samples,
                    "{key}=\"{}\"",
                    crate::prometheus::escape(value)
                );
            }
            self.samples.push('}');
        }
        let _ = writeln!(self.samples, " {value}");
    }

    fn flush(self, out: &mut Out) {
        if !self.samples.is_empty() {
            let (name, kind, help) = (&self.name, self.kind.as_str(), self.help);
            out.raw(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            out.raw(&self.samples);
        }
    }
}

/// A column's value as HAProxy's exporter prints it: the number, NaN when empty or not one.
fn number(cell: &str) -> String {
    if cell.parse::<i64>().is_ok() || cell.parse::<u64>().is_ok() {
        cell.to_string()
    } else {
        "NaN".to_string()
    }
}

/// A millisecond column in seconds, printed as HAProxy's `%f`.
fn seconds(cell: &str) -> String {
    match cell.parse::<f64>() {
        Ok(ms) => format!("{:.6}", ms / 1000.0),
        Err(_) => "NaN".to_string(),
    }
}

/// The exporter's state of a server from its `show stat` status (`UP 2/3`, `no check`...).
fn server_state(status: &str) -> &'static str {
    match status.split(' ').next().unwrap_or("") {
        "UP" | "no" => "UP",
        "MAINT" => "MAINT",
        "DRAIN" => "DRAIN",
        "NOLB" => "NOLB",
        _ => "DOWN",
    }
}

/// The current state of a frontend (`FE`), backend (`BE`) or server row.
fn state_of(object: u8, row: &Row) -> &'static str {
    let status = row.cell("status");
    match object {
        FE if status == "STOP" => "DOWN",
        FE => "UP",
        BE if status == "UP" => "UP",
        BE => "DOWN",
        _ => server_state(status),
    }
}

/// A server's last check result (HAProxy marks a check in progress with `* `).
fn check_result(row: &Row) -> &str {
    row.cell("check_status").trim_start_matches("* ")
}

/// The samples of `metric` for one object `row` with its `labels` (`proxy`, maybe `server`);
/// `servers` are a backend's servers' rows.
fn object_samples(
    family: &mut Family,
    metric: &StatMetric,
    object: u8,
    row: &Row,
    labels: &[(&str, &str)],
    servers: &[&Row],
) {
    let with = |extra: (&'static str, &'static str)| {
        let mut all = labels.to_vec();
        all.push(extra);
        all
    };
    match metric.source {
        Column(column) => family.sample(labels, &number(row.cell(column))),
        Millis(column) => family.sample(labels, &seconds(row.cell(column))),
        Status => {
            let states: &[&'static str] = if object == SRV {
                &SERVER_STATES
            } else {
                &PROXY_STATES
            };
            let current = state_of(object, row);
            for state in states {
                let value = u8::from(*state == current).to_string();
                family.sample(&with(("state", state)), &value);
            }
        }
        // Printed class by class across objects, in `render_stats`.
        Codes => {}
        CheckStatus if !row.cell("check_status").is_empty() => {
            let current = check_result(row);
            for result in CHECK_RESULTS {
                let value = u8::from(result == current).to_string();
                family.sample(&with(("state", result)), &value);
            }
        }
        CheckCode if !row.cell("check_status").is_empty() => {
            let code = row.cell("check_code");
            family.sample(labels, if code.is_empty() { "0" } else { code });
        }
        CheckDuration if !row.cell("check_duration").is_empty() => {
            family.sample(labels, &seconds(row.cell("check_duration")));
        }
        CheckStatus | CheckCode | CheckDuration => {}
        AggServerStatus if !servers.is_empty() => {
            for state in SERVER_STATES {
                let count = servers
                    .iter()
                    .filter(|server| state_of(SRV, server) == state)
                    .count();
                family.sample(&with(("state", state)), &count.to_string());
            }
        }
        AggCheckStatus if !servers.is_empty() => {
            for result in CHECK_RESULTS {
                let count = servers
                    .iter()
                    .filter(|server| check_result(server) == result)
                    .count();
                family.sample(&with(("state", result)), &count.to_string());
            }
        }
        AggServerStatus | AggCheckStatus => {}
    }
}

fn render_process(out: &mut Out, info: &[(&'static str, String)]) {
    for (name, kind, key, help) in PROCESS {
        let mut family = Family::new(format!("haproxy_process_{name}"), kind, help);
        let line = info
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str());
        if name == "build_info" {
            family.sample(&[("version", line.unwrap_or(""))], "1");
        } else {
            family.sample(&[], &number(line.unwrap_or("")));
        }
        family.flush(out);
    }
}

/// The frontend (`FE`), backend (`BE`) or server (`SRV`) families of `rows`.
fn render_stats(out: &mut Out, object: u8, rows: &[Row], no_maint: bool) {
    // The family prefix and `show stat`'s `type` column of the object.
    let (prefix, type_code) = match object {
        FE => ("frontend", "0"),
        BE => ("backend", "1"),
        _ => ("server", "2"),
    };
    let objects: Vec<&Row> = rows
        .iter()
        .filter(|row| row.cell("type") == type_code)
        .filter(|row| !(no_maint && object == SRV && state_of(SRV, row) == "MAINT"))
        .collect();
    let servers_of = |proxy: &str| -> Vec<&Row> {
        rows.iter()
            .filter(|row| row.cell("type") == "2" && row.cell("pxname") == proxy)
            .collect()
    };
    for metric in STAT.iter().filter(|metric| metric.on & object != 0) {
        let name = format!("haproxy_{prefix}_{}", metric.name);
        let mut family = Family::new(name, metric.kind, metric.help);
        if let Codes = metric.source {
            for (code, column) in CODES {
                for row in &objects {
                    let mut labels = labels_of(object, row);
                    labels.push(("code", code));
                    family.sample(&labels, &number(row.cell(column)));
                }
            }
        } else {
            for row in &objects {
                let labels = labels_of(object, row);
                let servers = if object == BE {
                    servers_of(row.cell("pxname"))
                } else {
                    Vec::new()
                };
                object_samples(&mut family, metric, object, row, &labels, &servers);
            }
        }
        family.flush(out);
    }
}

fn labels_of(object: u8, row: &Row) -> Vec<(&'static str, &str)> {
    let mut labels = vec![("proxy", row.cell("pxname"))];
    if object == SRV {
        labels.push(("server", row.cell("svname")));
    }
    labels
}

/// Appends the `haproxy_*` families `scope` asks for, from `show info`'s lines and `show
/// stat`'s rows.
pub(crate) fn render_haproxy(
    out: &mut Out,
    info: &[(&'static str, String)],
    rows: &[Row],
    scope: &MetricsScope,
) {
    if scope.global {
        render_process(out, info);
    }
    for (wanted, object) in [
        (scope.frontend, FE),
        (scope.backend, BE),
        (scope.server, SRV),
    ] {
        if wanted {
            render_stats(out, object, rows, scope.no_maint);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use ringway_pool::{CheckOutcome, CheckStatus as Check, HealthMachine, ServerShared};

    use crate::layout::{Layout, ServerState};
    use crate::metrics_scope::MetricsScope;
    use crate::prometheus::render_metrics_for;
    use crate::stat_csv::render_show_stat;
    use crate::testutil::{all_shards, limits, sample_counters, sample_layout, server};

    /// HAProxy 2.6.12's own `/metrics` for a backend with a server without checks and one
    /// with checks.
    const HAPROXY: &str = include_str!("../tests/data/haproxy-2.6-metrics-sample.txt");

    /// Per `haproxy_*` family: its HELP text, TYPE and label names (of its first sample).
    fn families(text: &str) -> BTreeMap<String, (String, String, Vec<String>)> {
        let mut out: BTreeMap<String, (String, String, Vec<String>)> = BTreeMap::new();
        for line in text.lines().filter(|line| line.contains("haproxy_")) {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap();
                out.entry(name.into()).or_default().0 = help.into();
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                out.entry(name.into()).or_default().1 = kind.into();
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let labels = line
                    .split_once('{')
                    .map(|(_, rest)| {
                        rest.split("\",")
                            .map(|pair| pair.split('=').next().unwrap().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                let family = out.get_mut(name).expect("sample after its header");
                if family.2.is_empty() {
                    family.2 = labels;
                }
            }
        }
        out
    }

    /// `be` with `s1` (no checks) and `s2` (checks, one refused connection), like the sample.
    fn checked_layout() -> Layout {
        let mut layout = sample_layout(1, limits(-1, 5000));
        let pool = ServerShared::new(limits(-1, 5000), 1);
        let s2 = server("s2", 2, "127.0.0.1:9002", 0, pool);
        let now = Instant::now();
        *s2.health() = HealthMachine::new(2, 3, true, now);
        s2.health().record(
            CheckOutcome {
                status: Check::L4Con,
                code: None,
                duration: Some(Duration::from_millis(2)),
                info: "Connection refused".to_owned(),
            },
            now,
        );
        layout.backends[0].servers.push(s2);
        layout
    }

    fn value(text: &str, series: &str) -> String {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .to_string()
    }

    fn haproxy_only() -> MetricsScope {
        MetricsScope::from_query("scope=*").unwrap()
    }

    #[test]
    fn names_help_types_and_labels_are_haproxy_26s() {
        let layout = checked_layout();
        let ours = families(&render_metrics_for(
            &layout,
            &all_shards(&layout),
            false,
            &haproxy_only(),
        ));
        let theirs = families(HAPROXY);
        assert_eq!(theirs.len(), 187, "the sample's families");
        let names = |map: &BTreeMap<String, _>| map.keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(&ours), names(&theirs));
        for (name, (help, kind, labels)) in &theirs {
            let (our_help, our_kind, our_labels) = &ours[name];
            assert_eq!(our_help, help, "{name} help");
            assert_eq!(our_labels, labels, "{name} labels");
            if name == "haproxy_process_failed_resolutions" {
                assert_eq!((kind.as_str(), our_kind.as_str()), ("counter", "gauge"));
            } else {
                assert_eq!(our_kind, kind, "{name} type");
            }
        }
    }

    #[test]
    fn values_are_the_csvs() {
        let layout = sample_layout(1, limits(-1, 60_000));
        let shards = sample_counters(&layout);
        let text = render_metrics_for(&layout, &shards, false, &haproxy_only());
        let csv = render_show_stat(&layout, &shards);
        let header: Vec<&str> = csv.lines().next().unwrap()[2..].split(',').collect();
        let row = |svname: &str| -> BTreeMap<&str, String> {
            let line = csv
                .lines()
                .find(|line| line.split(',').nth(1) == Some(svname))
                .unwrap();
            header
                .iter()
                .copied()
                .zip(line.split(',').map(str::to_string))
                .collect()
        };
        let (fe, s1, be) = (row("FRONTEND"), row("s1"), row("BACKEND"));
        let f = "proxy=\"fe\"";
        let p = "proxy=\"be\"";
        let s = "proxy=\"be\",server=\"s1\"";
        for (series, expected) in [
            (
                format!("haproxy_frontend_sessions_total{{{f}}}"),
                &fe["stot"],
            ),
            (
                format!("haproxy_frontend_http_requests_total{{{f}}}"),
                &fe["req_tot"],
            ),
            (
                format!("haproxy_frontend_limit_sessions{{{f}}}"),
                &fe["slim"],
            ),
            (format!("haproxy_server_sessions_total{{{s}}}"), &s1["stot"]),
            (
                format!("haproxy_server_bytes_out_total{{{s}}}"),
                &s1["bout"],
            ),
            (
                format!("haproxy_server_connection_reuses_total{{{s}}}"),
                &s1["reuse"],
            ),
            (
                format!("haproxy_server_need_connections_current{{{s}}}"),
                &s1["need_conn_est"],
            ),
            (
                format!("haproxy_server_http_responses_total{{{s},code=\"2xx\"}}"),
                &s1["hrsp_2xx"],
            ),
            (
                format!("haproxy_backend_http_requests_total{{{p}}}"),
                &be["req_tot"],
            ),
            (
                format!("haproxy_backend_limit_sessions{{{p}}}"),
                &be["slim"],
            ),
            (
                format!("haproxy_backend_http_responses_total{{{p},code=\"5xx\"}}"),
                &be["hrsp_5xx"],
            ),
        ] {
            assert!(!expected.is_empty(), "{series}: the CSV fills it");
            assert_eq!(&value(&text, &series), expected, "{series}");
        }
        // Milliseconds in the CSV, seconds here, six decimals like HAProxy's %f.
        assert_eq!(s1["rtime_max"], "1");
        assert_eq!(
            value(
                &text,
                &format!("haproxy_server_max_response_time_seconds{{{s}}}")
            ),
            "0.001000"
        );
        // Empty in the CSV, NaN here: no maxconn, no checks.
        assert_eq!(s1["slim"], "");
        assert_eq!(
            value(&text, &format!("haproxy_server_limit_sessions{{{s}}}")),
            "NaN"
        );
        assert_eq!(
            value(
                &text,
                &format!("haproxy_server_check_failures_total{{{s}}}")
            ),
            "NaN"
        );
        assert!(!text.contains("haproxy_server_check_status"));
        // show info's lines.
        assert_eq!(value(&text, "haproxy_process_max_connections"), "8000");
        assert_eq!(value(&text, "haproxy_process_max_fds"), "16025");
        assert_eq!(
            value(&text, "haproxy_process_start_time_seconds"),
            "1795257360"
        );
        assert_eq!(value(&text, "haproxy_process_current_zlib_memory"), "NaN");
        assert_eq!(
            value(
                &text,
                &format!(
                    "haproxy_process_build_info{{version=\"{}\"}}",
                    crate::VERSION
                )
            ),
            "1"
        );
    }

    #[test]
    fn states_and_checks() {
        let layout = checked_layout();
        let shards = all_shards(&layout);
        layout.backends[0].servers[0].state.set(ServerState::Drain);
        let text = render_metrics_for(&layout, &shards, true, &haproxy_only());
        let s1 = "proxy=\"be\",server=\"s1\"";
        let s2 = "proxy=\"be\",server=\"s2\"";
        for (series, expected) in [
            (
                format!("haproxy_server_status{{{s1},state=\"DRAIN\"}}"),
                "1",
            ),
            (format!("haproxy_server_status{{{s1},state=\"UP\"}}"), "0"),
            (format!("haproxy_server_status{{{s2},state=\"DOWN\"}}"), "1"),
            (
                format!("haproxy_server_check_status{{{s2},state=\"L4CON\"}}"),
                "1",
            ),
            (
                format!("haproxy_server_check_status{{{s2},state=\"L7OK\"}}"),
                "0",
            ),
            (format!("haproxy_server_check_code{{{s2}}}"), "0"),
            (
                format!("haproxy_server_check_duration_seconds{{{s2}}}"),
                "0.002000",
            ),
            (format!("haproxy_server_check_failures_total{{{s2}}}"), "1"),
            (
                "haproxy_backend_agg_server_status{proxy=\"be\",state=\"DRAIN\"}".to_string(),
                "1",
            ),
            (
                "haproxy_backend_agg_server_status{proxy=\"be\",state=\"DOWN\"}".to_string(),
                "1",
            ),
            (
                "haproxy_backend_agg_check_status{proxy=\"be\",state=\"L4CON\"}".to_string(),
                "1",
            ),
            (
                "haproxy_frontend_status{proxy=\"fe\",state=\"UP\"}".to_string(),
                "1",
            ),
            ("haproxy_process_stopping".to_string(), "1"),
        ] {
            assert_eq!(value(&text, &series), expected, "{series}");
        }
        assert!(!text.contains(&format!("haproxy_server_check_code{{{s1}}}")));
        // The backend's state is the CSV's status.
        let csv = render_show_stat(&layout, &shards);
        let be = csv
            .lines()
            .find(|line| line.starts_with("be,BACKEND,"))
            .unwrap();
        let status = be.split(',').nth(17).unwrap();
        assert_eq!(
            value(
                &text,
                &format!("haproxy_backend_status{{proxy=\"be\",state=\"{status}\"}}")
            ),
            "1"
        );
    }

    #[test]
    fn scopes_select_families() {
        let layout = checked_layout();
        let shards = all_shards(&layout);
        layout.backends[0].servers[1].state.set(ServerState::Maint);
        let render = |query| {
            let scope = MetricsScope::from_query(query).unwrap();
            render_metrics_for(&layout, &shards, false, &scope)
        };
        let both = render("");
        assert!(both.contains("\nringway_shards 1\n"));
        assert!(both.contains("\nhaproxy_process_nbthread 1\n"));
        let servers = render("scope=server&no-maint");
        assert!(servers
            .lines()
            .filter(|line| !line.starts_with('#'))
            .all(|line| line.starts_with("haproxy_server_")));
        assert!(servers.contains("server=\"s1\""));
        assert!(!servers.contains("server=\"s2\""), "s2 is in maintenance");
        let own = render("scope=ringway");
        assert!(own.contains("ringway_server_requests_total") && !own.contains("haproxy_"));
        assert_eq!(render("scope="), "");
    }
}
