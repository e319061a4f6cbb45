//! `show stat`: HAProxy 2.6's CSV, with its exact header and column order. Owns the mapping
//! from [`Totals`] to the 128 columns; every column ringway does not measure stays empty,
//! and columns HAProxy fills with a constant that also holds for ringway (no compression, no
//! cache, no HTTP/2) carry that constant. Each row ends with a comma, like
//! HAProxy's. The reply carries no trailing empty line: that is the CLI's end-of-reply marker
//! (see [`crate::end_reply`]).

use std::fmt::Display;
use std::sync::Arc;
use std::time::Instant;

use ringway_pool::Health;

use crate::counters::ShardCounters;
use crate::layout::{BackendInfo, FrontendInfo, Layout, ServerInfo, ServerState};
use crate::totals::{
    totals, BackendTotals, FrontendTotals, ServerSums, ServerTotals, StatusTotals, TlsTotals,
    Totals,
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

/// The HTTP/2 mux columns (`h2_*`): ringway speaks HTTP/1.1 only, so they are 0 on frontend
/// and backend rows (empty on servers, like HAProxy).
fn h2_fields() -> impl Iterator<Item = &'static str> {
    FIELDS.into_iter().filter(|name| name.starts_with("h2_"))
}

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

/// One CSV row under construction, addressed by column name.
struct Row {
    cells: Vec<String>,
}

impl Row {
    fn new(pxname: &str, svname: &str) -> Row {
        let mut row = Row {
            cells: vec![String::new(); FIELDS.len()],
        };
        row.set("pxname", csv_escape(pxname));
        row.set("svname", csv_escape(svname));
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

    fn set_tls(&mut self, tls: &TlsTotals) {
        self.set("ssl_sess", tls.handshakes);
        self.set("ssl_reused_sess", tls.resumed);
        self.set("ssl_failed_handshake", tls.failed);
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
        self.set_tls(&sums.tls);
    }

    fn push_to(&self, out: &mut String) {
        for cell in &self.cells {
            out.push_str(cell);
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
    row.set_status(&t.status);
    row.set("req_tot", t.req_tot);
    row.set("conn_tot", t.conn_tot);
    row.set("intercepted", t.intercepted);
    row.set_all(["dcon", "dses", "cache_lookups", "cache_hits"], 0);
    row.set_all(ZERO_ON_PROXIES, 0);
    row.set_all(h2_fields(), 0);
    row.set("h1_open_connections", t.scur);
    row.set("h1_total_connections", t.conn_tot);
    row.set("h1_total_streams", t.req_tot);
    row.set("h1_bytes_in", t.bytes_in);
    row.set("h1_bytes_out", t.bytes_out);
    row.set_tls(&t.tls);
    row
}

fn server_row(backend: &BackendInfo, info: &ServerInfo, t: &ServerTotals) -> Row {
    let mut row = Row::new(&backend.name, &info.name);
    row.set_server_sums(&t.counters);
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
    row
}

fn backend_row(info: &BackendInfo, t: &BackendTotals) -> Row {
    let mut row = Row::new(&info.name, "BACKEND");
    row.set_server_sums(&t.sum);
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
    row.set_all(h2_fields(), 0);
    row.set("h1_open_connections", t.open_conns);
    row.set("h1_open_streams", t.sum.scur);
    row.set("h1_total_connections", t.sum.connect);
    row.set("h1_total_streams", t.sum.stot);
    // Seen from the server side: what came in is the servers' responses.
    row.set("h1_bytes_in", t.sum.bytes_out);
    row.set("h1_bytes_out", t.sum.bytes_in);
    row
}

/// Renders `show stat` from already summed totals.
pub fn render_stat_from(layout: &Layout, totals: &Totals) -> String {
    let mut out = stat_header();
    for (info, t) in layout.frontends.iter().zip(&totals.frontends) {
        frontend_row(info, t).push_to(&mut out);
    }
    for (info, t) in layout.backends.iter().zip(&totals.backends) {
        for (server, st) in info.servers.iter().zip(&t.servers) {
            server_row(info, server, st).push_to(&mut out);
        }
        backend_row(info, t).push_to(&mut out);
    }
    out
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
        }
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
        let be = row(&rows, "BACKEND");
        for (k, v) in [
            ("scur", "2"),
            ("stot", "40"),
            ("req_tot", "40"),
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
        for (ours, theirs) in ours.iter().zip(&theirs) {
            for (k, v) in ours {
                let mux_level = ours["svname"] != "s1" && differ.contains(&k.as_str());
                // Seconds since a change: filled where HAProxy fills it, the value is the clock's.
                if k == "lastchg" {
                    assert_eq!(v.is_empty(), theirs[k].is_empty(), "{} {k}", ours["svname"]);
                    continue;
                }
                if !v.is_empty() && !mux_level {
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

    #[test]
    fn counters_for_another_layout_read_as_zero() {
        let layout = sample_layout(2, limits(-1, 5000));
        let rows = parse(&render_show_stat(&layout, &[]));
        assert_eq!(row(&rows, "s1")["stot"], "0");
        assert_eq!(row(&rows, "FRONTEND")["conn_tot"], "0");
    }
}
