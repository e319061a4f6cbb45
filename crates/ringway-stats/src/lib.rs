//! Statistics: per-shard counters and histograms written by the shards, and the renderers the
//! control plane serves from them: HAProxy 2.6 runtime API formats, and the admin listener's
//! Prometheus text, JSON and HTML page. Also the pure parts of logging: dates and JSON strings
//! of log lines (`logline`) and the syslog framing (`syslog`); the runtime owns the sockets.
//!
//! Every renderer returns the body of its reply. HAProxy's CLI ends every reply, errors and
//! empty ones included, with one empty line (a lone `\n` after the body); the socket handler
//! adds it with [`end_reply`], once per command.

mod activity;
mod close;
mod counters;
mod help;
mod histogram;
mod html;
mod info;
mod json;
mod layout;
mod logline;
mod prometheus;
mod servers_conn;
mod sess;
mod stat_csv;
mod status;
mod syslog;
mod totals;

#[cfg(test)]
mod testutil;

pub use activity::{render_activity_at, render_show_activity};
pub use close::{CloseCounters, CloseReason};
pub use counters::{
    ActivityCounters, Counter, FrontendCounters, Gauge, ServerCounters, ShardCounters,
    StatusCounters, TlsCounters,
};
pub use help::{help_text, unknown_command_text};
pub use histogram::{
    Histogram, HistogramSnapshot, LatencyHistogram, ReqsPerConnHistogram, LATENCY_BOUNDS_US,
    REQS_PER_CONN_BOUNDS,
};
pub use html::{escape as html_escape, render_stats_html, REFRESH_SECS};
pub use info::{
    format_uptime, render_info_from, render_show_info, PRODUCT_NAME, RELEASE_DATE, VERSION,
};
pub use json::{render_stats_json, stats_json};
pub use layout::{BackendInfo, FrontendInfo, Layout, ServerInfo, ServerState, SharedState};
pub use logline::{
    civil_from_days, write_bsd_date, write_haproxy_date, write_iso_date, write_json_str, Civil,
};
pub use prometheus::{render_metrics, METRICS_CONTENT_TYPE};
pub use servers_conn::{render_servers_conn, render_servers_conn_verbose, NO_SUCH_BACKEND};
pub use sess::{render_show_sess, SessionRow};
pub use stat_csv::{render_show_stat, render_stat_from, stat_header, FIELDS as STAT_FIELDS};
pub use status::{BackendHealth, BackendHistory, CheckCounters, CheckView, HealthView};
pub use syslog::{pri, Severity, SyslogFrame, SyslogRfc, SyslogTime, MAX_FACILITY};
pub use totals::{
    server_sums_on, shard_server_sums, totals, BackendTotals, FrontendTotals, ServerSums,
    ServerTotals, StatusTotals, TlsTotals, Totals,
};

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
