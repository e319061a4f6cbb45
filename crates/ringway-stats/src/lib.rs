//! Statistics: per-shard counters and histograms written by the shards, and the renderers the
//! control plane serves from them: HAProxy 2.6 runtime API formats, and the admin listener's
//! Prometheus text, JSON and HTML page. Also the pure parts of logging: dates and JSON strings
//! of log lines (`logline`) and the syslog framing (`syslog`); the runtime owns the sockets.
//!
//! Every renderer returns the body of its reply. HAProxy's CLI ends every reply, errors and
//! empty ones included, with one empty line (a lone `\n` after the body); the socket handler
//! adds it with [`end_reply`], once per command.

mod activity;
mod clear;
mod close;
mod counters;
mod errors;
mod help;
mod histogram;
mod html;
mod info;
mod json;
mod layout;
mod logline;
mod metrics_scope;
mod prometheus;
mod promex;
mod rates;
mod servers_conn;
mod servers_state;
mod sess;
mod stat_csv;
mod stat_query;
mod status;
mod stuck;
mod syslog;
mod totals;
mod typed;

#[cfg(test)]
mod testutil;

pub use activity::{render_activity_at, render_show_activity};
pub use close::{CloseCounters, CloseReason};
pub use counters::{
    ActivityCounters, BackendCounters, Counter, FrontendCounters, Gauge, H2Counters, Level,
    ServerCounters, ShardCounters, StatusCounters, TlsCounters,
};
pub use errors::{error_position, render_show_errors, Capture, ErrorCaptures, CAPTURE_SIZE};
pub use help::{help_text, unknown_command_text};
pub use histogram::{
    Histogram, HistogramSnapshot, LatencyHistogram, ReqsPerConnHistogram, LATENCY_BOUNDS_US,
    REQS_PER_CONN_BOUNDS,
};
pub use html::{escape as html_escape, render_stats_html, REFRESH_SECS};
pub use info::{
    format_uptime, info_format, info_lines, render_info_from, render_show_info,
    render_show_info_as, PRODUCT_NAME, RELEASE_DATE, VERSION,
};
pub use json::{render_stats_json, stats_json};
pub use layout::{BackendInfo, FrontendInfo, Layout, ServerInfo, ServerState, SharedState};
pub use logline::{
    civil_from_days, write_bsd_date, write_haproxy_date, write_iso_date, write_json_str, Civil,
};
pub use metrics_scope::MetricsScope;
pub use prometheus::{render_metrics, render_metrics_for, METRICS_CONTENT_TYPE};
pub use rates::{
    AverageSnapshot, RateCounter, RateSnapshot, RequestTimes, TimeAverage, TimesSnapshot,
    TIME_SAMPLES,
};
pub use servers_conn::{render_servers_conn, render_servers_conn_verbose, NO_SUCH_BACKEND};
pub use servers_state::{render_servers_state, render_show_backend, render_show_version};
pub use sess::{render_show_sess, SessionRow};
pub use stat_csv::{
    render_show_stat, render_stat_csv, render_stat_from, stat_header, stat_rows, StatRow,
    FIELDS as STAT_FIELDS,
};
pub use stat_query::{render_show_stat_args, StatFilter, StatQuery, NO_SUCH_PROXY};
pub use status::{BackendHealth, BackendHistory, CheckCounters, CheckView, HealthView};
pub use stuck::{StuckServer, StuckSessions, DEFAULT_STUCK_THRESHOLD, STUCK_LISTED};
pub use syslog::{pri, Severity, SyslogFrame, SyslogRfc, SyslogTime, MAX_FACILITY};
pub use totals::{
    server_sums_on, shard_server_sums, totals, uptime_ms, BackendOwn, BackendTotals,
    FrontendTotals, ServerSums, ServerTotals, StatusTotals, TlsTotals, Totals,
};
pub use typed::{render_info_json, render_info_typed, render_stat_json, render_stat_typed, Format};

/// A command's full reply on the stats socket: its body and the empty line with which
/// HAProxy's CLI ends every reply in non-interactive mode.
pub fn end_reply(mut body: String) -> String {
    body.push('\n');
    body
}

#[cfg(test)]
mod tests {
    #[test]
    fn end_reply_adds_the_empty_line() {
        assert_eq!(super::end_reply(String::new()), "\n");
        assert_eq!(super::end_reply("a\n".to_string()), "a\n\n");
    }
}
