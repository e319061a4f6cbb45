//! `GET /stats`: one HTML page a person reads at a glance, refreshing itself. Owns the page's
//! layout: client connections against requests per frontend (seed 000: sessions are not
//! connections), then per backend a row per server with requests, new connections, reuse
//! ratio, pool state per shard, takeovers, purges, the reasons connections closed and how many
//! requests they carried (seed 001), then per-shard activity. The stuck requests (seed 003)
//! come after the frontends (`stuck.rs`). Every name is HTML-escaped.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::close::CloseReason;
use crate::counters::ShardCounters;
use crate::info::{format_uptime, PRODUCT_NAME, VERSION};
use crate::layout::{Layout, ServerState};
use crate::stuck::{stuck_html, StuckSessions};
use crate::totals::{shard_server_sums, totals, ServerTotals};

/// Seconds between the page's own reloads.
pub const REFRESH_SECS: u32 = 5;

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:1.2em;color:#222}\
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}\
table{border-collapse:collapse;margin-bottom:.6em}\
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;white-space:nowrap}\
th{background:#eef2f7}td.l,th.l{text-align:left}\
td.up{background:#c0ffc0}td.going_down{background:#ffffa0}td.going_up{background:#ffd020}\
td.down{background:#ff9090}td.nolb,td.drain{background:#20a0ff}td.no_check{background:#e0e0e0}\
td.maint{background:#c07820}\
.note{color:#666;font-size:.9em}.big{font-weight:600}";

/// `text` with the HTML special characters escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn percent(ratio: f64) -> String {
    format!("{:.1} %", ratio * 100.0)
}

fn head(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\n"
    );
}

fn frontends(out: &mut String, layout: &Layout, t: &crate::totals::Totals) {
    out.push_str(
        "<h2>Frontends: client connections vs requests</h2>\n<table><tr>\
         <th class=l>frontend</th><th>connections now</th><th>of them HTTP/2</th>\
         <th>HTTP/2 streams now</th><th>connections total</th>\
         <th>requests total</th><th>requests / connection</th><th>request errors</th>\
         <th>2xx</th><th>4xx</th><th>5xx</th></tr>\n",
    );
    for (info, f) in layout.frontends.iter().zip(&t.frontends) {
        let per_conn = if f.conn_tot == 0 {
            0.0
        } else {
            f.req_tot as f64 / f.conn_tot as f64
        };
        let _ = writeln!(
            out,
            "<tr><td class=l>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=big>{}</td>\
             <td class=big>{}</td><td>{per_conn:.2}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td></tr>",
            escape(&info.name),
            f.scur,
            f.h2.conns,
            f.h2.streams,
            f.conn_tot,
            f.req_tot,
            f.ereq,
            f.status.hrsp_2xx,
            f.status.hrsp_4xx,
            f.status.hrsp_5xx,
        );
    }
    out.push_str("</table>\n");
}

fn state_name(state: ServerState) -> &'static str {
    match state {
        ServerState::Ready => "ready",
        ServerState::Drain => "drain",
        ServerState::Maint => "maint",
    }
}

fn server_row(out: &mut String, name: &str, st: &ServerTotals) {
    let c = &st.counters;
    let pool = &st.pool;
    let per_shard: Vec<String> = (0..pool.idle_per_shard.len())
        .map(|shard| {
            let at = |values: &[usize]| values.get(shard).copied().unwrap_or(0);
            let used = st.used_per_shard.get(shard).copied().unwrap_or(0);
            format!(
                "{}/{}/{used}",
                at(&pool.idle_per_shard),
                at(&pool.safe_per_shard)
            )
        })
        .collect();
    let health = &st.health;
    // HAProxy's page: the check status, its code and how long it took, e.g. `L7OK/200 in 1ms`.
    let check = health.check.as_ref().map_or_else(String::new, |check| {
        let mut text = check.status.to_owned();
        if let Some(code) = check.code {
            let _ = write!(text, "/{code}");
        }
        if let Some(ms) = check.duration_ms {
            let _ = write!(text, " in {ms}ms");
        }
        text
    });
    let _ = writeln!(
        out,
        "<tr class={}><td class=l>{}{}</td><td class=\"l {}\">{}</td><td class=l>{}</td><td>{}/{}</td><td>{}</td>\
         <td class=big>{}</td><td class=big>{}</td><td class=big>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        state_name(st.state),
        escape(name),
        if st.backup { " (backup)" } else { "" },
        health.class,
        escape(&health.status),
        escape(&check),
        st.weight,
        st.uweight,
        c.scur,
        c.stot,
        c.connect,
        c.reuse,
        percent(c.reuse_ratio()),
        pool.used_cur,
        pool.unsafe_nb,
        pool.safe_nb,
        per_shard.join(" / "),
        c.takeovers,
        c.purged,
        c.econ,
        c.eresp,
    );
}

/// HTTP/2 servers (`proto = "h2"`): requests ride streams, so connections and streams are
/// told apart; only the servers with HTTP/2 activity, and only if the backend has one.
fn h2_table(out: &mut String, names: &[&str], servers: &[ServerTotals]) {
    let h2 = |st: &ServerTotals| st.counters.h2.conns + st.counters.h2.streams_max > 0;
    if !servers.iter().any(h2) {
        return;
    }
    out.push_str(
        "<table><tr><th class=l>HTTP/2 server</th><th>connections open</th>\
         <th>streams now</th><th>streams at most</th><th>requests per new connection</th></tr>\n",
    );
    for (name, st) in names.iter().zip(servers).filter(|(_, st)| h2(st)) {
        let c = &st.counters;
        let per_conn = if c.connect == 0 {
            "-".to_string()
        } else {
            format!("{:.1}", c.stot as f64 / c.connect as f64)
        };
        let _ = writeln!(
            out,
            "<tr><td class=l>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{per_conn}</td></tr>",
            escape(name),
            c.h2.conns,
            c.h2.streams,
            c.h2.streams_max,
        );
    }
    out.push_str("</table>\n");
}

/// Why connections closed and how many requests they carried, one row per server; only the
/// reasons seen on some server of the backend get a column.
fn closes_table(out: &mut String, names: &[&str], servers: &[ServerTotals]) {
    let reasons: Vec<CloseReason> = CloseReason::ALL
        .iter()
        .copied()
        .filter(|reason| servers.iter().any(|st| st.counters.closed_for(*reason) > 0))
        .collect();
    let buckets = servers
        .first()
        .map(|st| st.counters.reqs_per_conn.range_labels())
        .unwrap_or_default();
    out.push_str(
        "<table><tr><th class=l rowspan=2>server</th><th rowspan=2>closed connections</th>",
    );
    if !reasons.is_empty() {
        let _ = write!(out, "<th colspan={}>closed because</th>", reasons.len());
    }
    if !buckets.is_empty() {
        let _ = write!(
            out,
            "<th colspan={}>requests carried by each closed connection</th>",
            buckets.len()
        );
    }
    out.push_str("</tr>\n<tr>");
    for reason in &reasons {
        let _ = write!(out, "<th>{}</th>", reason.as_str());
    }
    for label in &buckets {
        let _ = write!(out, "<th>{}</th>", escape(label));
    }
    out.push_str("</tr>\n");
    for (name, st) in names.iter().zip(servers) {
        let c = &st.counters;
        let _ = write!(
            out,
            "<tr><td class=l>{}</td><td class=big>{}</td>",
            escape(name),
            c.closed.iter().sum::<u64>()
        );
        for reason in &reasons {
            let _ = write!(out, "<td>{}</td>", c.closed_for(*reason));
        }
        for index in 0..buckets.len() {
            let count = c.reqs_per_conn.counts.get(index).copied().unwrap_or(0);
            let _ = write!(out, "<td>{count}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

fn backends(out: &mut String, layout: &Layout, t: &crate::totals::Totals) {
    for (info, bt) in layout.backends.iter().zip(&t.backends) {
        let _ = write!(
            out,
            "<h2>Backend {} <span class=note>({}, {} of {} servers ready; weight {}, \
             {} active and {} backup usable)</span></h2>\n\
             <table><tr><th class=l>server</th><th class=l>status</th><th class=l>last check</th><th>weight</th>\
             <th>requests now</th>\
             <th>requests</th><th>new connections</th><th>reused requests</th><th>reuse ratio</th>\
             <th>used</th><th>idle</th><th>safe</th><th>per shard: idle/safe/used</th><th>takeovers</th>\
             <th>purged</th><th>conn errors</th><th>resp errors</th></tr>\n",
            escape(&info.name),
            info.algo,
            bt.ready,
            info.servers.len(),
            bt.weight,
            bt.act,
            bt.bck,
        );
        for (server, st) in info.servers.iter().zip(&bt.servers) {
            server_row(out, &server.name, st);
        }
        out.push_str("</table>\n");
        let names: Vec<&str> = info.servers.iter().map(|s| s.name.as_str()).collect();
        h2_table(out, &names, &bt.servers);
        closes_table(out, &names, &bt.servers);
    }
}

fn shards_table(out: &mut String, shards: &[Arc<ShardCounters>]) {
    out.push_str(
        "<h2>Shards</h2>\n<table><tr><th class=l>shard</th><th>accepted</th>\
         <th>requests</th><th>new connections</th><th>reused requests</th>\
         <th>fd takeovers</th><th>purged</th><th>mean latency</th></tr>\n",
    );
    for (shard, counters) in shards.iter().enumerate() {
        let sums = shard_server_sums(counters);
        let count = sums.latency.count();
        let mean = if count == 0 {
            "-".to_string()
        } else {
            format!("{:.2} ms", sums.latency.sum as f64 / count as f64 / 1000.0)
        };
        let _ = writeln!(
            out,
            "<tr><td class=l>{shard}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{mean}</td></tr>",
            counters.activity.accepted.get(),
            sums.stot,
            sums.connect,
            sums.reuse,
            counters.activity.fd_takeover.get(),
            sums.purged,
        );
    }
    out.push_str("</table>\n");
}

/// The whole `/stats` page; `stuck` are the requests in progress past the page's threshold.
pub fn render_stats_html(
    layout: &Layout,
    shards: &[Arc<ShardCounters>],
    stopping: bool,
    stuck: &StuckSessions,
) -> String {
    let t = totals(layout, shards);
    let mut out = String::with_capacity(16 * 1024);
    head(&mut out, &format!("{PRODUCT_NAME} stats"));
    let _ = writeln!(
        out,
        "<h1>{PRODUCT_NAME} {VERSION}</h1><div class=note>pid {} &middot; up {} &middot; {} shards \
         &middot; {} client connections now{} &middot; refreshes every {REFRESH_SECS} s</div>",
        layout.pid,
        format_uptime(layout.started.elapsed()),
        layout.shards,
        t.curr_conns(),
        if stopping { " &middot; <b>stopping</b>" } else { "" },
    );
    frontends(&mut out, layout, &t);
    stuck_html(&mut out, layout, stuck);
    backends(&mut out, layout, &t);
    shards_table(&mut out, shards);
    out.push_str(
        "<p class=note>A request is not a connection: <i>requests</i> counts HTTP requests, \
         <i>new connections</i> the TCP connections opened to a server, <i>reused requests</i> \
         the requests sent on a connection that had carried one before. Reuse ratio = reused / \
         (new + reused). Idle = pooled connections used once, safe = used twice or more.</p>\n\
         </body></html>\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{all_shards, limits, sample_layout};

    #[test]
    fn page_shows_the_numbers_and_refreshes() {
        let mut layout = sample_layout(2, limits(-1, 5_000));
        layout.backends[0].name = "b<&>".to_string();
        let shards = all_shards(&layout);
        shards[0].frontends[0].conn_tot.add(3);
        shards[0].frontends[0].req_tot.add(12);
        let s1 = &shards[1].servers[0][0];
        s1.connect.add(1);
        s1.reuse.add(3);
        s1.record_close(CloseReason::PoolFull, 2);
        s1.record_close(CloseReason::PoolFull, 2);
        s1.record_close(CloseReason::ServerClose, 1);
        layout.backends[0].servers[0].state.set(ServerState::Maint);
        let page = render_stats_html(&layout, &shards, false, &StuckSessions::default());
        assert!(page.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
        assert!(page.contains("<td>4.00</td>"), "requests per connection");
        assert!(page.contains("Backend b&lt;&amp;&gt;"));
        assert!(page.contains("<td>75.0 %</td>"));
        // Only the reasons seen get a column.
        assert!(page.contains("<tr><th>server_close</th><th>pool_full</th><th>1</th>"));
        assert!(page.contains("<td class=big>3</td><td>1</td><td>2</td><td>1</td><td>2</td>"));
        assert!(page.contains("<tr class=maint>"));
        assert!(page.contains("<td class=\"l maint\">MAINT</td>"));
        assert!(page.ends_with("</html>\n"));
        assert!(
            !page.contains("HTTP/2 server"),
            "no HTTP/2 table without HTTP/2"
        );
    }

    #[test]
    fn http_2_servers_show_connections_and_streams() {
        let layout = sample_layout(1, limits(-1, 5_000));
        let shards = all_shards(&layout);
        let s1 = &shards[0].servers[0][0];
        s1.connect.add(2);
        s1.stot.add(50);
        s1.h2.conn_began();
        for _ in 0..3 {
            s1.h2.stream_began();
        }
        s1.h2.stream_ended();
        let fe = &shards[0].frontends[0];
        fe.sessions.inc();
        fe.h2.conn_began();
        fe.h2.stream_began();
        let page = render_stats_html(&layout, &shards, false, &StuckSessions::default());
        assert!(
            page.contains("<td class=l>fe</td><td>1</td><td>1</td><td>1</td>"),
            "{page}"
        );
        assert!(
            page.contains("<td>1</td><td>2</td><td>3</td><td>25.0</td></tr>"),
            "{page}"
        );
    }
}
