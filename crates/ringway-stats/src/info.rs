//! `show info`: HAProxy 2.6's `Name: value` lines, in the reference sample's order and
//! spelling (including HAProxy's `TotalSplicdedBytesOut`). Owns the choice of value for each
//! line; what ringway does not measure (memory pools, pipes, rates, SSL, peers) reads 0.
//! `DroppedLogs` counts access log lines a syslog receiver did not take.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use crate::counters::ShardCounters;
use crate::layout::Layout;
use crate::totals::{totals, Totals};
use crate::typed::{render_info_json, render_info_typed, Format};

/// `Name:` of `show info`.
pub const PRODUCT_NAME: &str = "ringway";
/// `Version:` and `Build info:`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// `Release_date:`, in HAProxy's `YYYY/MM/DD` form; bumped with the version.
pub const RELEASE_DATE: &str = "2026/11/21";

/// HAProxy's uptime form, `0d 0h00m08s`.
pub fn format_uptime(uptime: Duration) -> String {
    let secs = uptime.as_secs();
    format!(
        "{}d {}h{:02}m{:02}s",
        secs / 86_400,
        (secs % 86_400) / 3_600,
        (secs % 3_600) / 60,
        secs % 60
    )
}

/// The host name, HAProxy's default `node`; empty when it cannot be read.
fn node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_default()
}

/// `show info`'s fields, `(name, value)` in HAProxy's order, from already summed totals, for
/// an uptime measured by the caller. Every form of `show info` prints these.
pub fn info_lines(
    layout: &Layout,
    totals: &Totals,
    stopping: bool,
    uptime: Duration,
) -> Vec<(&'static str, String)> {
    let curr_conns = totals.curr_conns();
    let (conn_rate, max_conn_rate) = totals.conn_rate();
    let (front_tls, back_tls) = (totals.frontend_tls(), totals.backend_tls());
    let curr_tls: u64 = totals.frontends.iter().map(|f| f.tls_open).sum();
    let front_reuse_pct = (front_tls.resumed * 100)
        .checked_div(front_tls.handshakes)
        .unwrap_or(0);
    // A listener per frontend at least; the stats socket itself is not counted.
    let listeners = layout.frontends.len() as u64;
    let version = VERSION.to_string();
    let lines: Vec<(&str, String)> = vec![
        ("Name", PRODUCT_NAME.to_string()),
        ("Version", version.clone()),
        ("Release_date", RELEASE_DATE.to_string()),
        ("Nbthread", layout.shards.to_string()),
        ("Nbproc", "1".to_string()),
        ("Process_num", "1".to_string()),
        ("Pid", layout.pid.to_string()),
        ("Uptime", format_uptime(uptime)),
        ("Uptime_sec", uptime.as_secs().to_string()),
        ("Memmax_MB", "0".to_string()),
        ("PoolAlloc_MB", "0".to_string()),
        ("PoolUsed_MB", "0".to_string()),
        ("PoolFailed", "0".to_string()),
        ("Ulimit-n", layout.ulimit_n.to_string()),
        ("Maxsock", layout.ulimit_n.to_string()),
        ("Maxconn", layout.max_conn.to_string()),
        ("Hard_maxconn", layout.max_conn.to_string()),
        ("CurrConns", curr_conns.to_string()),
        ("CumConns", totals.cum_conns().to_string()),
        ("CumReq", totals.cum_req().to_string()),
        ("MaxSslConns", "0".to_string()),
        // Client-side TLS connections open now (server-side ones are not counted).
        ("CurrSslConns", curr_tls.to_string()),
        (
            "CumSslConns",
            (front_tls.handshakes + back_tls.handshakes).to_string(),
        ),
        ("Maxpipes", "0".to_string()),
        ("PipesUsed", "0".to_string()),
        ("PipesFree", "0".to_string()),
        ("ConnRate", conn_rate.to_string()),
        ("ConnRateLimit", "0".to_string()),
        ("MaxConnRate", max_conn_rate.to_string()),
        ("SessRate", conn_rate.to_string()),
        ("SessRateLimit", "0".to_string()),
        ("MaxSessRate", max_conn_rate.to_string()),
        ("SslRate", "0".to_string()),
        ("SslRateLimit", "0".to_string()),
        ("MaxSslRate", "0".to_string()),
        ("SslFrontendKeyRate", "0".to_string()),
        ("SslFrontendMaxKeyRate", "0".to_string()),
        ("SslFrontendSessionReuse_pct", front_reuse_pct.to_string()),
        ("SslBackendKeyRate", "0".to_string()),
        ("SslBackendMaxKeyRate", "0".to_string()),
        ("SslCacheLookups", "0".to_string()),
        ("SslCacheMisses", "0".to_string()),
        ("CompressBpsIn", "0".to_string()),
        ("CompressBpsOut", "0".to_string()),
        ("CompressBpsRateLim", "0".to_string()),
        ("Tasks", "0".to_string()),
        ("Run_queue", "0".to_string()),
        ("Idle_pct", totals.idle_pct.to_string()),
        ("node", node_name()),
        ("Stopping", u8::from(stopping).to_string()),
        // HAProxy counts listeners and sessions as jobs.
        ("Jobs", (listeners + curr_conns).to_string()),
        ("Unstoppable Jobs", "0".to_string()),
        ("Listeners", listeners.to_string()),
        ("ActivePeers", "0".to_string()),
        ("ConnectedPeers", "0".to_string()),
        (
            "DroppedLogs",
            totals
                .frontends
                .iter()
                .map(|f| f.log_dropped)
                .sum::<u64>()
                .to_string(),
        ),
        ("BusyPolling", "0".to_string()),
        ("FailedResolutions", "0".to_string()),
        ("TotalBytesOut", totals.bytes_out().to_string()),
        ("TotalSplicdedBytesOut", "0".to_string()),
        ("BytesOutRate", "0".to_string()),
        ("DebugCommandsIssued", "0".to_string()),
        ("CumRecvLogs", "0".to_string()),
        ("Build info", version),
        ("Memmax_bytes", "0".to_string()),
        ("PoolAlloc_bytes", "0".to_string()),
        ("PoolUsed_bytes", "0".to_string()),
        ("Start_time_sec", layout.start_time_unix.to_string()),
        ("Tainted", "0".to_string()),
    ];
    lines
}

/// Renders `show info` from already summed totals, for an uptime measured by the caller.
pub fn render_info_from(
    layout: &Layout,
    totals: &Totals,
    stopping: bool,
    uptime: Duration,
) -> String {
    render_info_plain(&info_lines(layout, totals, stopping, uptime))
}

fn render_info_plain(lines: &[(&'static str, String)]) -> String {
    let mut out = String::new();
    for (name, value) in lines {
        let _ = writeln!(out, "{name}: {value}");
    }
    out
}

/// `show info` for a process started at `layout.started`.
pub fn render_show_info(layout: &Layout, shards: &[Arc<ShardCounters>], stopping: bool) -> String {
    render_show_info_as(layout, shards, stopping, Format::Plain)
}

/// `show info [typed|json]`: the form is the last of those words given, as HAProxy reads it;
/// other words are ignored.
pub fn info_format(args: &[&str]) -> Format {
    args.iter().fold(Format::Plain, |format, word| match *word {
        "typed" => Format::Typed,
        "json" => Format::Json,
        _ => format,
    })
}

/// `show info` in the given form.
pub fn render_show_info_as(
    layout: &Layout,
    shards: &[Arc<ShardCounters>],
    stopping: bool,
    format: Format,
) -> String {
    let lines = info_lines(
        layout,
        &totals(layout, shards),
        stopping,
        layout.started.elapsed(),
    );
    match format {
        Format::Plain => render_info_plain(&lines),
        Format::Typed => render_info_typed(&lines),
        Format::Json => render_info_json(&lines),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{all_shards, limits, sample_counters, sample_layout, sample_section};

    fn keys(text: &str) -> Vec<String> {
        text.lines()
            .map(|line| line.split_once(": ").map_or("", |(k, _)| k).to_string())
            .collect()
    }

    fn value<'a>(text: &'a str, key: &str) -> &'a str {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{key}: ")))
            .unwrap_or("<missing>")
    }

    #[test]
    fn keys_follow_the_sample() {
        let layout = sample_layout(1, limits(-1, 5000));
        let text = render_show_info(&layout, &sample_counters(&layout), false);
        assert_eq!(keys(&text), keys(&sample_section("show info")));
        assert!(text.ends_with("Tainted: 0\n"));
    }

    #[test]
    fn values() {
        let layout = sample_layout(2, limits(-1, 5000));
        let shards = all_shards(&layout);
        for shard in &shards {
            shard.frontends[0].sessions.inc();
            shard.frontends[0].conn_tot.add(3);
            shard.frontends[0].req_tot.add(7);
            shard.frontends[0].conn_rate.record(0);
            shard.activity.idle_pct.set(90);
        }
        shards[1].activity.idle_pct.set(70);
        let totals = totals(&layout, &shards);
        let text = render_info_from(&layout, &totals, true, Duration::from_secs(8));
        for (k, v) in [
            ("Name", "ringway"),
            ("Version", VERSION),
            ("Build info", VERSION),
            ("Nbthread", "2"),
            ("Nbproc", "1"),
            ("Pid", "14529"),
            ("Uptime", "0d 0h00m08s"),
            ("Uptime_sec", "8"),
            ("Ulimit-n", "16025"),
            ("Maxconn", "8000"),
            ("Hard_maxconn", "8000"),
            ("CurrConns", "2"),
            ("CumConns", "6"),
            ("CumReq", "14"),
            ("Stopping", "1"),
            ("Listeners", "1"),
            ("Jobs", "3"),
            ("Start_time_sec", "1795257360"),
            ("MaxSslConns", "0"),
            ("MaxConnRate", "2"),
            ("MaxSessRate", "2"),
            ("Idle_pct", "80"),
        ] {
            assert_eq!(value(&text, k), v, "{k}");
        }
        let running = render_show_info(&layout, &shards, false);
        assert_eq!(value(&running, "Stopping"), "0");
    }

    #[test]
    fn uptime_form() {
        assert_eq!(format_uptime(Duration::from_secs(0)), "0d 0h00m00s");
        assert_eq!(format_uptime(Duration::from_secs(90_061)), "1d 1h01m01s");
        assert_eq!(format_uptime(Duration::from_secs(86_399)), "0d 23h59m59s");
    }
}
