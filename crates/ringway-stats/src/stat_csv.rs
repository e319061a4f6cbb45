//! `show stat`: HAProxy 2.6's CSV, with its exact header and column order. Owns the mapping
//! from [`Totals`] to the 128 columns; every column ringway does not measure stays empty,
//! and columns HAProxy fills with a constant that also holds for ringway (no compression, no
//! cache) carry that constant. HAProxy's HTTP/2 module columns (`h2_*`) count HTTP/2 client
//! connections on frontends and HTTP/2 server connections on backends and (unlike HAProxy,
//! which leaves them empty there) on servers; the `h1_*` ones count what is left. Each row ends with a comma, like
//! HAProxy's. The reply carries no trailing empty line: that is the CLI's end-of-reply marker
//! (see [`crate::end_reply`]). The rows hold raw values (CSV quoting is applied when printed):
//! the `typed` and `json` forms (`typed`) print the same rows.

use std::fmt::Display;
use std::sync::Arc;
use std::time::Instant;

use ringway_pool::Health;

use crate::counters::ShardCounters;
use crate::layout::{BackendInfo, FrontendInfo, Layout, ServerInfo, ServerState};
use crate::rates::{RateSnapshot, TimesSnapshot};
use crate::totals::{
    totals, BackendTotals, FrontendTotals, H2Totals, ServerSums, ServerTotals, StatusTotals,
    TlsTotals, Totals,
};

/// HAProxy 2.6's `show stat` columns, in order.
pub const FIELDS: [&str; 128] = [
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "srv_icur",
    "src_ilim",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
    "eint",
    "idle_conn_cur",
    "safe_conn_cur",
    "used_conn_cur",
    "need_conn_est",
    "uweight",
    "agg_server_status",
    "agg_server_check_status",
    "agg_check_status",
    "-",
    "ssl_sess",
    "ssl_reused_sess",
    "ssl_failed_handshake",
    "h2_headers_rcvd",
    "h2_data_rcvd",
    "h2_settings_rcvd",
    "h2_rst_stream_rcvd",
    "h2_goaway_rcvd",
    "h2_detected_conn_protocol_errors",
    "h2_detected_strm_protocol_errors",
    "h2_rst_stream_resp",
    "h2_goaway_resp",
    "h2_open_connections",
    "h2_backend_open_streams",
    "h2_total_connections",
    "h2_backend_total_streams",
    "h1_open_connections",
    "h1_open_streams",
    "h1_total_connections",
    "h1_total_streams",
    "h1_bytes_in",
    "h1_bytes_out",
    "h1_spliced_bytes_in",
    "h1_spliced_bytes_out",
];

/// HAProxy's `type` column.
const TYPE_FRONTEND: u32 = 0;
const TYPE_BACKEND: u32 = 1;
const TYPE_SERVER: u32 = 2;

/// Features ringway does not have, which HAProxy reports as 0 on proxy rows.
const ZERO_ON_PROXIES: [&str; 9] = [
    "dreq",
    "dresp",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "wrew",
    "h1_spliced_bytes_in",
    "h1_spliced_bytes_out",
];

/// The header line, `# pxname,...,h1_spliced_bytes_out,` and a newline.
pub fn stat_header() -> String {
    let mut line = String::from("# ");
    for name in FIELDS {
        line.push_str(name);
        line.push(',');
    }
    line.push('\n');
    line
}

/// One row, addressed by column name: raw values, an empty one for a field not filled. The
/// CSV, `typed` and `json` renderers all print these cells.
pub struct Row {
    cells: Vec<String>,
}

/// A `show stat` row, as the `typed` and `json` renderers read it.
pub type StatRow = Row;

impl Row {
    fn new(pxname: &str, svname: &str) -> Row {
        let mut row = Row {
            cells: vec![String::new(); FIELDS.len()],
        };
        row.set("pxname", pxname);
        row.set("svname", svname);
        row.set("-", "-");
        row.set("pid", 1);
        row.set("mode", "http");
        row
    }

    fn set(&mut self, name: &str, value: impl Display) {
        let index = FIELDS.iter().position(|field| *field == name);
        #[cfg(test)]
        assert!(index.is_some(), "no show stat column named {name}");
        if let Some(cell) = index.and_then(|index| self.cells.get_mut(index)) {
            *cell = value.to_string();
        }
    }

    fn set_all<'a>(&mut self, names: impl IntoIterator<Item = &'a str>, value: impl Display) {
        for name in names {
            self.set(name, &value);
        }
    }

    /// `rate`, `rate_max` and `lastsess` (-1: never) of a server or backend.
    fn set_sess_rate(&mut self, rate: &RateSnapshot) {
        self.set("rate", rate.rate);
        self.set("rate_max", rate.max);
        match rate.idle_secs {
            Some(secs) => self.set("lastsess", secs),
            None => self.set("lastsess", -1),
        }
    }

    /// The phase averages over the last 1024 requests and the largest of each, in ms.
    fn set_times(&mut self, times: &TimesSnapshot) {
        for (avg, max, value) in [
            ("qtime", "qtime_max", &times.queue),
            ("ctime", "ctime_max", &times.connect),
            ("rtime", "rtime_max", &times.response),
            ("ttime", "ttime_max", &times.total),
        ] {
            self.set(avg, value.average());
            self.set(max, value.max);
        }
    }

    fn set_tls(&mut self, tls: &TlsTotals) {
        self.set("ssl_sess", tls.handshakes);
        self.set("ssl_reused_sess", tls.resumed);
        self.set("ssl_failed_handshake", tls.failed);
    }

    /// HAProxy's HTTP/2 module columns. Protocol errors are those ringway answered with
    /// GOAWAY or RST_STREAM (docs/http2.md, "Observability").
    fn set_h2(&mut self, h2: &H2Totals) {
        self.set("h2_headers_rcvd", h2.headers_rcvd);
        self.set("h2_data_rcvd", h2.data_rcvd);
        self.set("h2_settings_rcvd", h2.settings_rcvd);
        self.set("h2_rst_stream_rcvd", h2.rst_stream_rcvd);
        self.set("h2_goaway_rcvd", h2.goaway_rcvd);
        self.set("h2_detected_conn_protocol_errors", h2.conn_proto_err);
        self.set("h2_detected_strm_protocol_errors", h2.strm_proto_err);
        self.set("h2_rst_stream_resp", h2.rst_stream_resp);
        self.set("h2_goaway_resp", h2.goaway_resp);
        self.set("h2_open_connections", h2.conns);
        self.set("h2_backend_open_streams", h2.streams);
        self.set("h2_total_connections", h2.total_conns);
        self.set("h2_backend_total_streams", h2.total_streams);
    }

    fn set_status(&mut self, status: &StatusTotals) {
        self.set("hrsp_1xx", status.hrsp_1xx);
        self.set("hrsp_2xx", status.hrsp_2xx);
        self.set("hrsp_3xx", status.hrsp_3xx);
        self.set("hrsp_4xx", status.hrsp_4xx);
        self.set("hrsp_5xx", status.hrsp_5xx);
        self.set("hrsp_other", status.hrsp_other);
    }

    /// Columns shared by server and backend rows.
    fn set_server_sums(&mut self, sums: &ServerSums) {
        self.set("qcur", sums.qcur);
        self.set("qmax", sums.qmax);
        self.set("scur", sums.scur);
        self.set("smax", sums.smax);
        self.set("stot", sums.stot);
        self.set("bin", sums.bytes_in);
        self.set("bout", sums.bytes_out);
        self.set("dresp", 0);
        self.set("econ", sums.econ);
        self.set("eresp", sums.eresp);
        self.set("wretr", sums.wretr);
        self.set("wredis", sums.wredis);
        self.set("lbtot", sums.lbtot);
        self.set_status(&sums.status);
        // In HTTP every stream is a request.
        self.set("req_tot", sums.stot);
        self.set("cli_abrt", sums.cli_abrt);
        self.set("srv_abrt", sums.srv_abrt);
        self.set("wrew", 0);
        self.set("connect", sums.connect);
        self.set("reuse", sums.reuse);
        // No internal errors: ringway answers every failure it knows with its status.
        self.set("eint", 0);
        self.set_tls(&sums.tls);
    }

    /// The cells, in [`FIELDS`] order.
    pub fn cells(&self) -> &[String] {
        &self.cells
    }

    /// The value of the column `name`, empty if unfilled or unknown.
    pub fn cell(&self, name: &str) -> &str {
        FIELDS
            .iter()
            .position(|field| *field == name)
            .and_then(|index| self.cells.get(index))
            .map_or("", String::as_str)
    }

    fn push_to(&self, out: &mut String) {
        for cell in &self.cells {
            out.push_str(&csv_escape(cell));
            out.push(',');
        }
        out.push('\n');
    }
}

/// HAProxy quotes a string field that would break the CSV.
fn csv_escape(value: &str) -> String {
    let needs_quotes =
        value.contains([',', '"', '\r', '\n']) || value.starts_with(' ') || value.ends_with(' ');
    if needs_quotes {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

fn frontend_row(info: &FrontendInfo, t: &FrontendTotals) -> Row {
    let mut row = Row::new(&info.name, "FRONTEND");
    row.set("scur", t.scur);
    row.set("smax", t.smax);
    row.set("slim", info.max_conn);
    row.set("stot", t.conn_tot);
    row.set("bin", t.bytes_in);
    row.set("bout", t.bytes_out);
    row.set("ereq", t.ereq);
    row.set("status", "OPEN");
    row.set("iid", info.iid);
    row.set("sid", 0);
    row.set("type", TYPE_FRONTEND);
    // No session rate limit can be configured.
    row.set("rate_lim", 0);
    // Every accepted connection is a session.
    row.set("rate", t.conn_rate.rate);
    row.set("rate_max", t.conn_rate.max);
    row.set("conn_rate", t.conn_rate.rate);
    row.set("conn_rate_max", t.conn_rate.max);
    row.set("req_rate", t.req_rate.rate);
    row.set("req_rate_max", t.req_rate.max);
    row.set("eint", 0);
    row.set_status(&t.status);
    row.set("req_tot", t.req_tot);
    row.set("conn_tot", t.conn_tot);
    row.set("intercepted", t.intercepted);
    row.set_all(["dcon", "dses", "cache_lookups", "cache_hits"], 0);
    row.set_all(ZERO_ON_PROXIES, 0);
    row.set_h2(&t.h2);
    // HTTP/1.x is what HTTP/2 leaves: a stream is a request as an HTTP/1.1 one is.
    row.set("h1_open_connections", t.scur.saturating_sub(t.h2.conns));
    row.set("h1_open_streams", t.streams.saturating_sub(t.h2.streams));
    row.set(
        "h1_total_connections",
        t.conn_tot.saturating_sub(t.h2.total_conns),
    );
    row.set(
        "h1_total_streams",
        t.req_tot.saturating_sub(t.h2.total_streams),
    );
    row.set("h1_bytes_in", t.bytes_in);
    row.set("h1_bytes_out", t.bytes_out);
    row.set_tls(&t.tls);
    row
}

fn server_row(backend: &BackendInfo, info: &ServerInfo, t: &ServerTotals) -> Row {
    let mut row = Row::new(&backend.name, &info.name);
    row.set_server_sums(&t.counters);
    row.set_sess_rate(&t.counters.sess_rate);
    row.set_times(&t.counters.times);
    let maxconn = info.maxconn.load(std::sync::atomic::Ordering::Relaxed);
    if maxconn > 0 {
        row.set("slim", maxconn);
    }
    let health = &t.health;
    row.set("status", health.status.as_str());
    row.set("lastchg", health.lastchg);
    let takes_traffic = t.state == ServerState::Ready && health.health == Health::Up;
    if let Some(counters) = &health.counters {
        row.set("chkfail", counters.chkfail);
        row.set("chkdown", counters.chkdown);
        row.set("downtime", counters.downtime);
    }
    if let Some(check) = &health.check {
        row.set("check_status", check.status);
        if let Some(code) = check.code {
            row.set("check_code", code);
        }
        if let Some(duration) = check.duration_ms {
            row.set("check_duration", duration);
        }
        row.set("last_chk", check.info.as_str());
        row.set("check_desc", check.desc);
        row.set("check_rise", check.rise);
        row.set("check_fall", check.fall);
        row.set("check_health", check.health);
    }
    if let Some(hanafail) = health.hanafail {
        row.set("hanafail", hanafail);
    }
    // The effective weight: 0 once drained, in maintenance or DOWN; ramped during a slowstart.
    row.set("weight", if takes_traffic { t.weight } else { 0 });
    row.set("act", u8::from(!t.backup));
    row.set("bck", u8::from(t.backup));
    row.set("iid", backend.iid);
    row.set("sid", info.sid);
    if let Some(cookie) = &info.cookie {
        row.set("cookie", cookie);
    }
    row.set("type", TYPE_SERVER);
    row.set("addr", info.address);
    row.set("srv_icur", t.pool.idle_cur);
    if t.pool.pool_max_conn >= 0 {
        row.set("src_ilim", t.pool.pool_max_conn);
    }
    row.set("idle_conn_cur", t.pool.unsafe_nb);
    row.set("safe_conn_cur", t.pool.safe_nb);
    row.set("used_conn_cur", t.pool.used_cur);
    row.set("need_conn_est", t.pool.need_est);
    row.set("uweight", t.uweight);
    if info.h2 {
        row.set_h2(&t.counters.h2);
    }
    row
}

fn backend_row(info: &BackendInfo, t: &BackendTotals) -> Row {
    let mut row = Row::new(&info.name, "BACKEND");
    row.set_server_sums(&t.sum);
    // What the backend counts itself: its own peak, its queue, every final status it
    // answered (the proxy's own 502/503/504 included), its rate and averages.
    row.set("scur", t.own.scur);
    row.set("smax", t.own.smax);
    row.set("slim", info.fullconn);
    row.set("qcur", t.own.qcur);
    row.set("qmax", t.own.qmax);
    row.set_status(&t.own.status);
    row.set("req_tot", t.own.req_tot);
    row.set_sess_rate(&t.own.sess_rate);
    row.set_times(&t.own.times);
    // HAProxy: UP while the total weight is positive (some server usable) or there is no
    // server at all; its history is the backend's own, not the sum of its servers'.
    let up = t.weight > 0 || info.servers.is_empty();
    row.set("status", if up { "UP" } else { "DOWN" });
    let now = Instant::now();
    let history = info.health.snapshot();
    row.set("chkdown", history.down_transitions);
    row.set(
        "lastchg",
        now.saturating_duration_since(history.last_change).as_secs(),
    );
    row.set("downtime", history.downtime(now).as_secs());
    row.set("weight", t.weight);
    row.set("act", t.act);
    row.set("bck", t.bck);
    row.set("iid", info.iid);
    row.set("sid", 0);
    row.set("type", TYPE_BACKEND);
    row.set("algo", info.algo);
    if let Some(cookie) = &info.cookie {
        row.set("cookie", cookie);
    }
    row.set_all(["cache_lookups", "cache_hits"], 0);
    row.set("uweight", t.uweight);
    row.set_all(
        [
            "agg_server_status",
            "agg_server_check_status",
            "agg_check_status",
        ],
        0,
    );
    row.set_all(ZERO_ON_PROXIES, 0);
    let h2 = &t.sum.h2;
    row.set_h2(h2);
    row.set("h1_open_connections", t.open_conns.saturating_sub(h2.conns));
    row.set("h1_open_streams", t.sum.scur.saturating_sub(h2.streams));
    row.set(
        "h1_total_connections",
        t.sum.connect.saturating_sub(h2.total_conns),
    );
    row.set(
        "h1_total_streams",
        t.sum.stot.saturating_sub(h2.total_streams),
    );
    // Seen from the server side: what came in is the servers' responses.
    row.set("h1_bytes_in", t.sum.bytes_out);
    row.set("h1_bytes_out", t.sum.bytes_in);
    row
}

/// Every `show stat` row, in HAProxy's order: the frontends, then per backend its servers and
/// its BACKEND row.
pub fn stat_rows(layout: &Layout, totals: &Totals) -> Vec<Row> {
    let mut rows = Vec::new();
    for (info, t) in layout.frontends.iter().zip(&totals.frontends) {
        rows.push(frontend_row(info, t));
    }
    for (info, t) in layout.backends.iter().zip(&totals.backends) {
        for (server, st) in info.servers.iter().zip(&t.servers) {
            rows.push(server_row(info, server, st));
        }
        rows.push(backend_row(info, t));
    }
    rows
}

/// The CSV of `rows`, header first.
pub fn render_stat_csv(rows: &[Row]) -> String {
    let mut out = stat_header();
    for row in rows {
        row.push_to(&mut out);
    }
    out
}

/// Renders `show stat` from already summed totals.
pub fn render_stat_from(layout: &Layout, totals: &Totals) -> String {
    render_stat_csv(&stat_rows(layout, totals))
}

/// `show stat`: the header, one row per frontend, then per backend its servers and its
/// BACKEND row.
pub fn render_show_stat(layout: &Layout, shards: &[Arc<ShardCounters>]) -> String {
    render_stat_from(layout, &totals(layout, shards))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::testutil::{
        all_shards, limits, park_safe, sample_counters, sample_layout, sample_section, server,
    };
    use ringway_pool::{CheckOutcome, CheckStatus, HealthMachine, ServerShared};
    use std::time::Duration;

    const HEADER: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,\n";

    /// Splits a `show stat` reply into rows of `column name -> value`, checking that every
    /// row has exactly the header's column count.
    fn parse(csv: &str) -> Vec<HashMap<String, String>> {
        let mut lines = csv.lines();
        let header: Vec<&str> = lines
            .next()
            .and_then(|h| h.strip_prefix("# "))
            .expect("header")
            .split(',')
            .collect();
        lines
            .map(|line| {
                let cells: Vec<&str> = line.split(',').collect();
                assert_eq!(cells.len(), header.len(), "column count of {line}");
                assert_eq!(cells.last(), Some(&""), "trailing comma of {line}");
                header
                    .iter()
                    .zip(cells)
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    }

    fn row<'a>(rows: &'a [HashMap<String, String>], sv: &str) -> &'a HashMap<String, String> {
        rows.iter().find(|r| r["svname"] == sv).expect("row")
    }

    #[test]
    fn header_is_haproxy_26_byte_for_byte() {
        assert_eq!(stat_header(), HEADER);
        let sample = sample_section("show stat");
        assert_eq!(
            sample.lines().next().map(|l| format!("{l}\n")),
            Some(stat_header())
        );
    }

    #[test]
    fn two_shards_named_columns() {
        let layout = sample_layout(2, limits(-1, 5000));
        let shards = all_shards(&layout);
        for (i, shard) in shards.iter().enumerate() {
            let fe = &shard.frontends[0];
            fe.sessions.inc();
            fe.sessions.inc();
            fe.conn_tot.add(10 + i as u64);
            fe.req_tot.add(20);
            fe.ereq.inc();
            fe.status.record(200);
            let s1 = &shard.servers[0][0];
            s1.sessions.inc();
            s1.sessions.inc();
            s1.sessions.dec();
            s1.econ.inc();
            s1.lbtot.add(20);
            s1.status.record(503);
            let be = &shard.backends[0];
            be.sessions.inc();
            be.status.record(503);
            be.req_tot.add(20);
            s1.queue.inc();
            be.queue.inc();
            s1.sess_rate.record(0);
            s1.times.record([1, 2, 3, 10]);
        }
        // The proxy's own 502, answered without a server response.
        shards[0].backends[0].status.record(502);
        shards[0].backends[0].req_tot.inc();
        shards[0].servers[0][0].connect.add(1);
        shards[0].servers[0][0].reuse.add(19);
        shards[1].servers[0][0].reuse.add(20);
        shards[0].servers[0][0].stot.add(20);
        shards[1].servers[0][0].stot.add(20);
        let pool = Arc::clone(&layout.backends[0].servers[0].pool);
        let _pools = park_safe(&pool, &[(0, 1), (1, 2)]);
        pool.use_conn();

        let rows = parse(&render_show_stat(&layout, &shards));
        assert_eq!(rows.len(), 3);
        let fe = row(&rows, "FRONTEND");
        for (k, v) in [
            ("pxname", "fe"),
            ("scur", "4"),
            ("smax", "4"),
            ("slim", "8000"),
            ("stot", "21"),
            ("conn_tot", "21"),
            ("req_tot", "40"),
            ("ereq", "2"),
            ("hrsp_2xx", "2"),
            ("status", "OPEN"),
            ("iid", "2"),
            ("sid", "0"),
            ("type", "0"),
            ("mode", "http"),
            ("connect", ""),
        ] {
            assert_eq!(fe[k], v, "frontend {k}");
        }
        let s1 = row(&rows, "s1");
        for (k, v) in [
            ("pxname", "be"),
            ("scur", "2"),
            ("smax", "4"),
            ("slim", ""),
            ("stot", "40"),
            ("req_tot", "40"),
            ("connect", "1"),
            ("reuse", "39"),
            ("econ", "2"),
            ("lbtot", "40"),
            ("hrsp_5xx", "2"),
            ("status", "no check"),
            ("check_status", ""),
            ("weight", "1"),
            ("act", "1"),
            ("bck", "0"),
            ("iid", "3"),
            ("sid", "1"),
            ("type", "2"),
            ("addr", "127.0.0.1:9001"),
            ("srv_icur", "3"),
            ("src_ilim", ""),
            ("idle_conn_cur", "0"),
            ("safe_conn_cur", "3"),
            ("used_conn_cur", "1"),
            ("need_conn_est", "3"),
            ("conn_tot", ""),
            ("algo", ""),
        ] {
            assert_eq!(s1[k], v, "server {k}");
        }
        for (k, v) in [
            ("qcur", "2"),
            ("qmax", "2"),
            ("rate_max", "2"),
            ("lastsess", "0"),
            ("qtime", "1"),
            ("ctime", "2"),
            ("rtime", "3"),
            ("ttime", "10"),
            ("ttime_max", "10"),
            ("eint", "0"),
        ] {
            assert_eq!(s1[k], v, "server {k}");
        }
        let be = row(&rows, "BACKEND");
        for (k, v) in [
            ("scur", "2"),
            ("smax", "2"),
            ("slim", "800"),
            ("qcur", "2"),
            ("hrsp_5xx", "3"),
            ("lastsess", "-1"),
            ("stot", "40"),
            ("req_tot", "41"),
            ("connect", "1"),
            ("reuse", "39"),
            ("status", "UP"),
            ("iid", "3"),
            ("sid", "0"),
            ("type", "1"),
            ("algo", "roundrobin"),
            ("srv_icur", ""),
            ("h1_open_connections", "4"),
        ] {
            assert_eq!(be[k], v, "backend {k}");
        }
    }

    #[test]
    fn sample_numbers_give_sample_values() {
        let layout = sample_layout(1, limits(-1, 60_000));
        let shards = sample_counters(&layout);
        let _pools = park_safe(&layout.backends[0].servers[0].pool, &[(0, 5)]);
        let ours = render_show_stat(&layout, &shards);
        assert_eq!(ours.lines().count(), 4);
        let ours = parse(&ours);
        let theirs = parse(&sample_section("show stat"));
        assert_eq!((ours.len(), theirs.len()), (3, 3));
        // Mux-level counters HAProxy measures apart from bin/bout and req_tot.
        let differ = ["h1_total_streams", "h1_bytes_in", "h1_bytes_out"];
        // Values that depend on when the sample was taken.
        let moments = ["rate", "req_rate", "conn_rate", "lastsess"];
        for (ours, theirs) in ours.iter().zip(&theirs) {
            for (k, v) in ours {
                let mux_level = ours["svname"] != "s1" && differ.contains(&k.as_str());
                // Seconds since a change: filled where HAProxy fills it, the value is the clock's.
                if k == "lastchg" {
                    assert_eq!(v.is_empty(), theirs[k].is_empty(), "{} {k}", ours["svname"]);
                    continue;
                }
                if !v.is_empty() && !mux_level && !moments.contains(&k.as_str()) {
                    assert_eq!(v, &theirs[k], "{} {k}", ours["svname"]);
                }
            }
        }
    }

    #[test]
    fn states_limits_and_backend_status() {
        let mut layout = sample_layout(1, limits(10, 5000));
        let pool = ServerShared::new(limits(-1, 5000), 1);
        layout.backends[0]
            .servers
            .push(server("s,2", 2, "[::1]:9002", 50, pool));
        let shards = all_shards(&layout);
        let servers = &layout.backends[0].servers;
        servers[0].state.set(ServerState::Drain);
        servers[1].state.set(ServerState::Maint);

        let csv = render_show_stat(&layout, &shards);
        assert!(csv.contains("\nbe,\"s,2\","), "{csv}");
        let rows = parse(&csv.replace("\"s,2\"", "s2"));
        let s1 = row(&rows, "s1");
        assert_eq!(
            (s1["status"].as_str(), s1["weight"].as_str()),
            ("DRAIN", "0")
        );
        assert_eq!(s1["src_ilim"], "10");
        let s2 = row(&rows, "s2");
        assert_eq!(s2["status"], "MAINT");
        assert_eq!(s2["slim"], "50");
        assert_eq!(s2["addr"], "[::1]:9002");
        let be = row(&rows, "BACKEND");
        assert_eq!((be["status"].as_str(), be["act"].as_str()), ("DOWN", "0"));

        servers[0].state.set(ServerState::Ready);
        let rows = parse(&render_show_stat(&layout, &shards).replace("\"s,2\"", "s2"));
        let be = row(&rows, "BACKEND");
        assert_eq!((be["status"].as_str(), be["weight"].as_str()), ("UP", "1"));
    }

    /// The columns real HAProxy 2.6 filled for a checked server refusing connections (rise 2,
    /// fall 3, after one check), once its checks were disabled, and for the backend.
    #[test]
    fn checked_server_columns() {
        let layout = sample_layout(1, limits(-1, 5000));
        let shards = all_shards(&layout);
        let server = &layout.backends[0].servers[0];
        let now = Instant::now();
        *server.health() = HealthMachine::new(2, 3, true, now);
        server.health().record(
            CheckOutcome {
                status: CheckStatus::L4Con,
                code: None,
                duration: Some(Duration::ZERO),
                info: "Connection refused".to_owned(),
            },
            now,
        );
        layout.backends[0].health.update(false, now);
        let rows = parse(&render_show_stat(&layout, &shards));
        let s1 = row(&rows, "s1");
        for (k, v) in [
            ("status", "DOWN"),
            ("chkfail", "1"),
            ("chkdown", "1"),
            ("downtime", "0"),
            ("check_status", "L4CON"),
            ("check_code", ""),
            ("check_duration", "0"),
            ("hanafail", ""),
            ("last_chk", "Connection refused"),
            ("check_desc", "Layer4 connection problem"),
            ("check_rise", "2"),
            ("check_fall", "3"),
            ("check_health", "0"),
        ] {
            assert_eq!(s1[k], v, "server {k}");
        }
        let be = row(&rows, "BACKEND");
        assert_eq!(
            (be["chkdown"].as_str(), be["downtime"].as_str()),
            ("1", "0")
        );
        server.health().set_enabled(false);
        let rows = parse(&render_show_stat(&layout, &shards));
        let s1 = row(&rows, "s1");
        assert_eq!(s1["status"], "DOWN");
        for k in [
            "chkfail",
            "chkdown",
            "downtime",
            "check_status",
            "check_desc",
            "check_health",
        ] {
            assert_eq!(s1[k], "", "{k} with checks disabled");
        }
    }

    #[test]
    fn weights_and_the_backup_tier() {
        let mut layout = sample_layout(1, limits(-1, 5000));
        for (name, sid) in [("b1", 2), ("b2", 3)] {
            let pool = ServerShared::new(limits(-1, 5000), 1);
            let mut backup = server(name, sid, "127.0.0.1:9003", 0, pool);
            backup.backup = true;
            backup.weight = ringway_pool::ServerWeight::new(4, std::time::Duration::ZERO);
            layout.backends[0].servers.push(backup);
        }
        layout.backends[0].servers[0].weight.set(3);
        let shards = all_shards(&layout);
        let rows = parse(&render_show_stat(&layout, &shards));
        let s1 = row(&rows, "s1");
        let cells =
            |r: &HashMap<String, String>| ["weight", "uweight", "act", "bck"].map(|k| r[k].clone());
        assert_eq!(cells(s1), ["3", "3", "1", "0"]);
        // A usable backup shows its weight even while the actives serve.
        assert_eq!(cells(row(&rows, "b1")), ["4", "4", "0", "1"]);
        let be = row(&rows, "BACKEND");
        assert_eq!(cells(be), ["3", "3", "1", "2"]);

        // No active usable: the first backup serves alone (no allbackups).
        layout.backends[0].servers[0].state.set(ServerState::Maint);
        let rows = parse(&render_show_stat(&layout, &shards));
        assert_eq!(cells(row(&rows, "s1"))[0], "0");
        let be = row(&rows, "BACKEND");
        assert_eq!(cells(be), ["4", "4", "0", "2"]);
        assert_eq!(be["status"], "UP");
        layout.backends[0].allbackups = true;
        let rows = parse(&render_show_stat(&layout, &shards));
        assert_eq!(row(&rows, "BACKEND")["weight"], "8");
        // Weight 0 everywhere: nothing usable, the backend is DOWN.
        for server in &layout.backends[0].servers[1..] {
            server.weight.set(0);
        }
        let rows = parse(&render_show_stat(&layout, &shards));
        let be = row(&rows, "BACKEND");
        assert_eq!(cells(be), ["0", "0", "0", "0"]);
        assert_eq!(be["status"], "DOWN");
    }

    /// HTTP/2 connections and streams apart from HTTP/1.x ones: a frontend with one h2 and
    /// one HTTP/1.1 client connection, a backend whose h2 server carries 3 streams on 1
    /// connection.
    #[test]
    fn h2_columns_count_connections_and_streams_apart() {
        let mut layout = sample_layout(1, limits(-1, 5000));
        layout.backends[0].servers[0].h2 = true;
        let shards = all_shards(&layout);
        let fe = &shards[0].frontends[0];
        for _ in 0..2 {
            fe.sessions.inc();
            fe.conn_tot.inc();
        }
        fe.h2.conn_began();
        for _ in 0..4 {
            fe.req_tot.inc();
            fe.streams.inc();
            fe.h2.stream_began();
        }
        fe.req_tot.inc();
        fe.h2.headers_rcvd.add(4);
        fe.h2.settings_rcvd.add(2);
        fe.h2.rst_stream_resp.inc();
        let s1 = &shards[0].servers[0][0];
        s1.connect.inc();
        s1.h2.conn_began();
        for _ in 0..3 {
            s1.sessions.inc();
            s1.stot.inc();
            s1.h2.stream_began();
        }
        s1.h2.data_rcvd.add(7);
        s1.h2.goaway_rcvd.inc();

        let rows = parse(&render_show_stat(&layout, &shards));
        let fe = row(&rows, "FRONTEND");
        for (k, v) in [
            ("scur", "2"),
            ("h2_open_connections", "1"),
            ("h2_total_connections", "1"),
            ("h2_backend_open_streams", "4"),
            ("h2_backend_total_streams", "4"),
            ("h2_headers_rcvd", "4"),
            ("h2_settings_rcvd", "2"),
            ("h2_rst_stream_resp", "1"),
            ("h2_goaway_rcvd", "0"),
            ("h1_open_connections", "1"),
            ("h1_total_connections", "1"),
            ("h1_open_streams", "0"),
            ("h1_total_streams", "1"),
        ] {
            assert_eq!(fe[k], v, "frontend {k}");
        }
        for sv in ["s1", "BACKEND"] {
            let r = row(&rows, sv);
            for (k, v) in [
                ("h2_open_connections", "1"),
                ("h2_total_connections", "1"),
                ("h2_backend_open_streams", "3"),
                ("h2_backend_total_streams", "3"),
                ("h2_data_rcvd", "7"),
                ("h2_goaway_rcvd", "1"),
            ] {
                assert_eq!(r[k], v, "{sv} {k}");
            }
        }
        assert_eq!(row(&rows, "s1")["scur"], "3");
        let be = row(&rows, "BACKEND");
        for (k, v) in [
            ("h1_open_streams", "0"),
            ("h1_total_connections", "0"),
            ("h1_total_streams", "0"),
        ] {
            assert_eq!(be[k], v, "backend {k}");
        }
        // An HTTP/1.1 server's row leaves them empty, as HAProxy's servers do.
        layout.backends[0].servers[0].h2 = false;
        let rows = parse(&render_show_stat(&layout, &shards));
        assert_eq!(row(&rows, "s1")["h2_open_connections"], "");
    }

    #[test]
    fn counters_for_another_layout_read_as_zero() {
        let layout = sample_layout(2, limits(-1, 5000));
        let rows = parse(&render_show_stat(&layout, &[]));
        assert_eq!(row(&rows, "s1")["stot"], "0");
        assert_eq!(row(&rows, "FRONTEND")["conn_tot"], "0");
    }
}
