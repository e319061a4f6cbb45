//! HAProxy 2.6's `typed` and `json` forms of `show stat` and `show info`, and the field tags
//! they carry. Owns the tables of HAProxy's field positions, tags (origin, nature, scope) and
//! value types, taken from HAProxy 2.6's own `typed` output (and `src/stats.c` for the fields a
//! plain HTTP proxy never fills). The values come from the same rows the plain forms print
//! (`stat_csv`, `info`): one builder, three renderers. Empty fields are left out, as HAProxy
//! does.

use std::fmt::Write as _;

use crate::logline::write_json_str;
use crate::stat_csv::{StatRow, FIELDS};

/// The form of a `show stat` or `show info` reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `show stat`'s CSV, `show info`'s `Name: value` lines.
    #[default]
    Plain,
    Typed,
    Json,
}

/// One field's tags and value type, `"MCP:u64"`: origin, nature and scope letters as
/// HAProxy's `typed` form prints them, then the value type.
type Meta = &'static str;

/// Per `show stat` field (HAProxy's position, the `-` column left out): its tags and type on a
/// frontend, a backend and a server row; `None` where HAProxy never fills it. The `h2_*`
/// fields are filled on HTTP/2 servers' rows too, where HAProxy has none (same tags).
#[rustfmt::skip]
const STAT_META: [[Option<Meta>; 3]; 127] = [
    [Some("KNS:str"), Some("KNS:str"), Some("KNS:str")], // 0 pxname
    [Some("KNS:str"), Some("KNS:str"), Some("KNS:str")], // 1 svname
    [None, Some("MGP:u32"), Some("MGP:u32")], // 2 qcur
    [None, Some("MMP:u32"), Some("MMP:u32")], // 3 qmax
    [Some("MGP:u32"), Some("MGP:u32"), Some("MGP:u32")], // 4 scur
    [Some("MMP:u32"), Some("MMP:u32"), Some("MMP:u32")], // 5 smax
    [Some("CLP:u32"), Some("CLP:u32"), Some("CLP:u32")], // 6 slim
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 7 stot
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 8 bin
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 9 bout
    [Some("MCP:u64"), Some("MCP:u64"), None], // 10 dreq
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 11 dresp
    [Some("MCP:u64"), None, None], // 12 ereq
    [None, Some("MCP:u64"), Some("MCP:u64")], // 13 econ
    [None, Some("MCP:u64"), Some("MCP:u64")], // 14 eresp
    [None, Some("MCP:u64"), Some("MCP:u64")], // 15 wretr
    [None, Some("MCP:u64"), Some("MCP:u64")], // 16 wredis
    [Some("SGP:str"), Some("SGP:str"), Some("SGP:str")], // 17 status
    [None, Some("MaP:u32"), Some("MaP:u32")], // 18 weight
    [None, Some("MGP:u32"), Some("SGP:u32")], // 19 act
    [None, Some("MGP:u32"), Some("SGP:u32")], // 20 bck
    [None, None, Some("MCP:u64")], // 21 chkfail
    [None, Some("MCP:u64"), Some("MCP:u64")], // 22 chkdown
    [None, Some("MAP:u32"), Some("MAP:u32")], // 23 lastchg
    [None, Some("MCP:u32"), Some("MCP:u32")], // 24 downtime
    [None, None, Some("CGS:u32")], // 25 qlimit
    [Some("KGP:u32"), Some("KGP:u32"), Some("KGP:u32")], // 26 pid
    [Some("KGS:u32"), Some("KGS:u32"), Some("KGS:u32")], // 27 iid
    [Some("KGS:u32"), Some("KGS:u32"), Some("KGS:u32")], // 28 sid
    [None, None, Some("MaP:u32")], // 29 throttle
    [None, Some("MCP:u64"), Some("MCP:u64")], // 30 lbtot
    [None, None, Some("CNS:str")], // 31 tracked
    [Some("CGS:u32"), Some("CGS:u32"), Some("CGS:u32")], // 32 type
    [Some("MRP:u32"), Some("MGP:u32"), Some("MRP:u32")], // 33 rate
    [Some("CLP:u32"), None, None], // 34 rate_lim
    [Some("MMP:u32"), Some("MGP:u32"), Some("MMP:u32")], // 35 rate_max
    [None, None, Some("MOP:str")], // 36 check_status
    [None, None, Some("MOP:u32")], // 37 check_code
    [None, None, Some("MDP:u64")], // 38 check_duration
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 39 hrsp_1xx
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 40 hrsp_2xx
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 41 hrsp_3xx
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 42 hrsp_4xx
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 43 hrsp_5xx
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 44 hrsp_other
    [None, None, Some("MCP:u64")], // 45 hanafail
    [Some("MRP:u32"), None, None], // 46 req_rate
    [Some("MMP:u32"), None, None], // 47 req_rate_max
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 48 req_tot
    [None, Some("MCP:u64"), Some("MCP:u64")], // 49 cli_abrt
    [None, Some("MCP:u64"), Some("MCP:u64")], // 50 srv_abrt
    [Some("MCP:u64"), Some("MCP:u64"), None], // 51 comp_in
    [Some("MCP:u64"), Some("MCP:u64"), None], // 52 comp_out
    [Some("MCP:u64"), Some("MCP:u64"), None], // 53 comp_byp
    [Some("MCP:u64"), Some("MCP:u64"), None], // 54 comp_rsp
    [None, Some("MAP:s32"), Some("MAP:s32")], // 55 lastsess
    [None, None, Some("MOP:str")], // 56 last_chk
    [None, None, Some("MOP:str")], // 57 last_agt
    [None, Some("MaP:u32"), Some("MaP:u32")], // 58 qtime
    [None, Some("MaP:u32"), Some("MaP:u32")], // 59 ctime
    [None, Some("MaP:u32"), Some("MaP:u32")], // 60 rtime
    [None, Some("MaP:u32"), Some("MaP:u32")], // 61 ttime
    [None, None, Some("MOP:str")], // 62 agent_status
    [None, None, Some("MOP:u32")], // 63 agent_code
    [None, None, Some("MDP:u64")], // 64 agent_duration
    [None, None, Some("MOP:str")], // 65 check_desc
    [None, None, Some("MOP:str")], // 66 agent_desc
    [None, None, Some("CGS:u32")], // 67 check_rise
    [None, None, Some("CGS:u32")], // 68 check_fall
    [None, None, Some("CGS:u32")], // 69 check_health
    [None, None, Some("CGS:u32")], // 70 agent_rise
    [None, None, Some("CGS:u32")], // 71 agent_fall
    [None, None, Some("CGS:u32")], // 72 agent_health
    [None, None, Some("CGS:str")], // 73 addr
    [None, Some("CNS:str"), Some("CNS:str")], // 74 cookie
    [Some("CGS:str"), Some("CGS:str"), Some("CGS:str")], // 75 mode
    [None, Some("CGS:str"), None], // 76 algo
    [Some("MRP:u32"), None, None], // 77 conn_rate
    [Some("MMP:u32"), None, None], // 78 conn_rate_max
    [Some("MCP:u64"), None, None], // 79 conn_tot
    [Some("MCP:u64"), None, None], // 80 intercepted
    [Some("MCP:u64"), None, None], // 81 dcon
    [Some("MCP:u64"), None, None], // 82 dses
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 83 wrew
    [None, Some("MCP:u64"), Some("MCP:u64")], // 84 connect
    [None, Some("MCP:u64"), Some("MCP:u64")], // 85 reuse
    [Some("MCP:u64"), Some("MCP:u64"), None], // 86 cache_lookups
    [Some("MCP:u64"), Some("MCP:u64"), None], // 87 cache_hits
    [None, None, Some("MGP:u32")], // 88 srv_icur
    [None, None, Some("CLP:u32")], // 89 src_ilim
    [None, Some("MMP:u32"), Some("MMP:u32")], // 90 qtime_max
    [None, Some("MMP:u32"), Some("MMP:u32")], // 91 ctime_max
    [None, Some("MMP:u32"), Some("MMP:u32")], // 92 rtime_max
    [None, Some("MMP:u32"), Some("MMP:u32")], // 93 ttime_max
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 94 eint
    [None, None, Some("MGP:u32")], // 95 idle_conn_cur
    [None, None, Some("MGP:u32")], // 96 safe_conn_cur
    [None, None, Some("MGP:u32")], // 97 used_conn_cur
    [None, None, Some("MGP:u32")], // 98 need_conn_est
    [None, Some("MaP:u32"), Some("MaP:u32")], // 99 uweight
    [None, Some("MGP:u32"), None], // 100 agg_server_status
    [None, Some("MGP:u32"), None], // 101 agg_server_check_status
    [None, Some("MGP:u32"), None], // 102 agg_check_status
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 103 ssl_sess
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 104 ssl_reused_sess
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 105 ssl_failed_handshake
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 106 h2_headers_rcvd
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 107 h2_data_rcvd
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 108 h2_settings_rcvd
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 109 h2_rst_stream_rcvd
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 110 h2_goaway_rcvd
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 111 h2_detected_conn_protocol_errors
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 112 h2_detected_strm_protocol_errors
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 113 h2_rst_stream_resp
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 114 h2_goaway_resp
    [Some("MGP:u64"), Some("MGP:u64"), Some("MGP:u64")], // 115 h2_open_connections
    [Some("MGP:u64"), Some("MGP:u64"), Some("MGP:u64")], // 116 h2_backend_open_streams
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 117 h2_total_connections
    [Some("MCP:u64"), Some("MCP:u64"), Some("MCP:u64")], // 118 h2_backend_total_streams
    [Some("MGP:u64"), Some("MGP:u64"), None], // 119 h1_open_connections
    [Some("MGP:u64"), Some("MGP:u64"), None], // 120 h1_open_streams
    [Some("MCP:u64"), Some("MCP:u64"), None], // 121 h1_total_connections
    [Some("MCP:u64"), Some("MCP:u64"), None], // 122 h1_total_streams
    [Some("MCP:u64"), Some("MCP:u64"), None], // 123 h1_bytes_in
    [Some("MCP:u64"), Some("MCP:u64"), None], // 124 h1_bytes_out
    [Some("MCP:u64"), Some("MCP:u64"), None], // 125 h1_spliced_bytes_in
    [Some("MCP:u64"), Some("MCP:u64"), None], // 126 h1_spliced_bytes_out
];

/// `show info` fields: HAProxy 2.6's position, name, tags and type. Positions 45, 46 (zlib
/// memory) and 51 (description) are never filled here.
const INFO_META: [(u32, &str, Meta); 69] = [
    (0, "Name", "POS:str"),
    (1, "Version", "POS:str"),
    (2, "Release_date", "POS:str"),
    (3, "Nbthread", "CGS:u32"),
    (4, "Nbproc", "CGS:u32"),
    (5, "Process_num", "KGP:u32"),
    (6, "Pid", "SGP:u32"),
    (7, "Uptime", "MDP:str"),
    (8, "Uptime_sec", "MDP:u32"),
    (9, "Memmax_MB", "CLP:u32"),
    (10, "PoolAlloc_MB", "MGP:u32"),
    (11, "PoolUsed_MB", "MGP:u32"),
    (12, "PoolFailed", "MCP:u32"),
    (13, "Ulimit-n", "CLP:u32"),
    (14, "Maxsock", "CLP:u32"),
    (15, "Maxconn", "CLP:u32"),
    (16, "Hard_maxconn", "CLP:u32"),
    (17, "CurrConns", "MGP:u32"),
    (18, "CumConns", "MCP:u32"),
    (19, "CumReq", "MCP:u32"),
    (20, "MaxSslConns", "MMP:u32"),
    (21, "CurrSslConns", "MGP:u32"),
    (22, "CumSslConns", "MCP:u32"),
    (23, "Maxpipes", "CLP:u32"),
    (24, "PipesUsed", "MGP:u32"),
    (25, "PipesFree", "MGP:u32"),
    (26, "ConnRate", "MRP:u32"),
    (27, "ConnRateLimit", "CLP:u32"),
    (28, "MaxConnRate", "MMP:u32"),
    (29, "SessRate", "MRP:u32"),
    (30, "SessRateLimit", "CLP:u32"),
    (31, "MaxSessRate", "MRP:u32"),
    (32, "SslRate", "MRP:u32"),
    (33, "SslRateLimit", "CLP:u32"),
    (34, "MaxSslRate", "MMP:u32"),
    (35, "SslFrontendKeyRate", "MGP:u32"),
    (36, "SslFrontendMaxKeyRate", "MMP:u32"),
    (37, "SslFrontendSessionReuse_pct", "MGP:u32"),
    (38, "SslBackendKeyRate", "MRP:u32"),
    (39, "SslBackendMaxKeyRate", "MMP:u32"),
    (40, "SslCacheLookups", "MCP:u32"),
    (41, "SslCacheMisses", "MCP:u32"),
    (42, "CompressBpsIn", "MRP:u32"),
    (43, "CompressBpsOut", "MRP:u32"),
    (44, "CompressBpsRateLim", "CLP:u32"),
    (47, "Tasks", "MGP:u32"),
    (48, "Run_queue", "MGP:u32"),
    (49, "Idle_pct", "MaP:u32"),
    (50, "node", "COS:str"),
    (52, "Stopping", "MGP:u32"),
    (53, "Jobs", "MGP:u32"),
    (54, "Unstoppable Jobs", "MGP:u32"),
    (55, "Listeners", "MGP:u32"),
    (56, "ActivePeers", "MGP:u32"),
    (57, "ConnectedPeers", "MGP:u32"),
    (58, "DroppedLogs", "MGP:u32"),
    (59, "BusyPolling", "MGP:u32"),
    (60, "FailedResolutions", "MGP:u32"),
    (61, "TotalBytesOut", "MGP:u64"),
    (62, "TotalSplicdedBytesOut", "MGP:u64"),
    (63, "BytesOutRate", "MRP:u64"),
    (64, "DebugCommandsIssued", "MGP:u32"),
    (65, "CumRecvLogs", "MCP:u32"),
    (66, "Build info", "POS:str"),
    (67, "Memmax_bytes", "CLP:u32"),
    (68, "PoolAlloc_bytes", "MGP:u64"),
    (69, "PoolUsed_bytes", "MGP:u64"),
    (70, "Start_time_sec", "MDP:u32"),
    (71, "Tainted", "SGP:str"),
];

/// The letter HAProxy prints for a `show stat` row's object type, and its JSON name.
fn object_type(type_code: &str) -> Option<(char, &'static str, usize)> {
    match type_code {
        "0" => Some(('F', "Frontend", 0)),
        "1" => Some(('B', "Backend", 1)),
        "2" => Some(('S', "Server", 2)),
        _ => None,
    }
}

fn origin_name(letter: u8) -> &'static str {
    match letter {
        b'M' => "Metric",
        b'S' => "Status",
        b'K' => "Key",
        b'C' => "Config",
        b'P' => "Product",
        _ => "Unknown",
    }
}

fn nature_name(letter: u8) -> &'static str {
    match letter {
        b'G' => "Gauge",
        b'L' => "Limit",
        b'm' => "Min",
        b'M' => "Max",
        b'R' => "Rate",
        b'C' => "Counter",
        b'D' => "Duration",
        b'A' => "Age",
        b'T' => "Time",
        b'N' => "Name",
        b'O' => "Output",
        b'a' => "Avg",
        _ => "Unknown",
    }
}

fn scope_name(letter: u8) -> &'static str {
    match letter {
        b'P' => "Process",
        b'S' => "Service",
        b's' => "System",
        b'C' => "Cluster",
        _ => "Unknown",
    }
}

/// A field ready to print: tags, type and value. A value that does not read as a number of
/// its numeric type is printed as a string, so the output stays well formed.
struct Typed<'a> {
    tags: &'a str,
    kind: &'a str,
    value: &'a str,
}

impl<'a> Typed<'a> {
    fn new(meta: Meta, value: &'a str) -> Typed<'a> {
        let (tags, kind) = meta.split_once(':').unwrap_or((meta, "str"));
        let numeric = match kind {
            "u32" | "u64" => value.parse::<u64>().is_ok(),
            "s32" | "s64" => value.parse::<i64>().is_ok(),
            _ => true,
        };
        Typed {
            tags,
            kind: if numeric { kind } else { "str" },
            value,
        }
    }

    /// `TAG:type:value`, the end of a `typed` line.
    fn push_typed(&self, out: &mut String) {
        let _ = writeln!(out, "{}:{}:{}", self.tags, self.kind, self.value);
    }

    /// `"tags":{...},"value":{...}`, the end of a JSON field object.
    fn push_json(&self, out: &mut String) {
        let letters = self.tags.as_bytes();
        let letter = |at: usize| letters.get(at).copied().unwrap_or(b'?');
        let _ = write!(
            out,
            "\"tags\":{{\"origin\":\"{}\",\"nature\":\"{}\",\"scope\":\"{}\"}},\"value\":{{\"type\":\"{}\",\"value\":",
            origin_name(letter(0)),
            nature_name(letter(1)),
            scope_name(letter(2)),
            self.kind
        );
        if self.kind == "str" {
            push_json_str(out, self.value);
        } else {
            out.push_str(self.value);
        }
        out.push('}');
    }
}

fn push_json_str(out: &mut String, text: &str) {
    let mut bytes = Vec::with_capacity(text.len() + 2);
    write_json_str(&mut bytes, text.as_bytes());
    out.push_str(&String::from_utf8_lossy(&bytes));
}

/// A row's fields to print: HAProxy's position, the name, the typed value.
type RowFields<'a> = Vec<(usize, &'static str, Typed<'a>)>;

/// A `show stat` row's fields with HAProxy's positions: every non-empty cell but the `-`
/// column, with its tags. `None` when the row has no known type.
fn stat_fields(row: &StatRow) -> Option<(char, &'static str, RowFields<'_>)> {
    let (letter, json_name, kind) = object_type(row.cell("type"))?;
    let fields = FIELDS
        .iter()
        .zip(row.cells())
        .filter(|(name, _)| **name != "-")
        .enumerate()
        .filter(|(_, (_, value))| !value.is_empty())
        .map(|(pos, (name, value))| {
            let meta = STAT_META
                .get(pos)
                .and_then(|metas| metas[kind].or_else(|| metas.iter().flatten().next().copied()))
                .unwrap_or("MGP:str");
            (pos, *name, Typed::new(meta, value))
        })
        .collect();
    Some((letter, json_name, fields))
}

/// `show stat typed`: one line per field, `F.<iid>.<sid>.<pos>.<name>.<pid>:<tags>:<type>:<value>`.
pub fn render_stat_typed(rows: &[StatRow]) -> String {
    let mut out = String::new();
    for row in rows {
        let Some((letter, _, fields)) = stat_fields(row) else {
            continue;
        };
        let (iid, sid, pid) = (row.cell("iid"), row.cell("sid"), row.cell("pid"));
        for (pos, name, typed) in fields {
            let _ = write!(out, "{letter}.{iid}.{sid}.{pos}.{name}.{pid}:");
            typed.push_typed(&mut out);
        }
    }
    out
}

/// `show stat json`: an array of rows, each an array of field objects, on one line.
pub fn render_stat_json(rows: &[StatRow]) -> String {
    let mut out = String::from("[");
    let mut first_row = true;
    for row in rows {
        let Some((_, object, fields)) = stat_fields(row) else {
            continue;
        };
        if !first_row {
            out.push(',');
        }
        first_row = false;
        out.push('[');
        let (iid, sid, pid) = (row.cell("iid"), row.cell("sid"), row.cell("pid"));
        for (at, (pos, name, typed)) in fields.into_iter().enumerate() {
            if at > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"objType\":\"{object}\",\"proxyId\":{iid},\"id\":{sid},\"field\":{{\"pos\":{pos},\"name\":\"{name}\"}},\"processNum\":{pid},"
            );
            typed.push_json(&mut out);
            out.push('}');
        }
        out.push(']');
    }
    out.push_str("]\n");
    out
}

/// `show info`'s fields with HAProxy's positions and tags; names HAProxy does not have are
/// left out.
fn info_fields<'a>(lines: &'a [(&'static str, String)]) -> Vec<(u32, &'static str, Typed<'a>)> {
    let mut fields: Vec<_> = lines
        .iter()
        .filter_map(|(name, value)| {
            let (pos, name, meta) = INFO_META.iter().find(|(_, known, _)| known == name)?;
            Some((*pos, *name, Typed::new(meta, value)))
        })
        .collect();
    fields.sort_by_key(|(pos, _, _)| *pos);
    fields
}

/// `show info typed`: `<pos>.<name>.<process>:<tags>:<type>:<value>` lines.
pub fn render_info_typed(lines: &[(&'static str, String)]) -> String {
    let mut out = String::new();
    for (pos, name, typed) in info_fields(lines) {
        let _ = write!(out, "{pos}.{name}.1:");
        typed.push_typed(&mut out);
    }
    out
}

/// `show info json`: one array of field objects on one line.
pub fn render_info_json(lines: &[(&'static str, String)]) -> String {
    let mut out = String::from("[");
    for (at, (pos, name, typed)) in info_fields(lines).into_iter().enumerate() {
        if at > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"field\":{{\"pos\":{pos},\"name\":\"{name}\"}},\"processNum\":1,"
        );
        typed.push_json(&mut out);
        out.push('}');
    }
    out.push_str("]\n");
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::info::render_show_info_as;
    use crate::stat_csv::stat_rows;
    use crate::testutil::{limits, sample_counters, sample_layout, section_of, FORMATS};
    use crate::totals::totals;

    /// `F.2.0.4.scur.1:MGP:u32`: a typed line without its value.
    fn keys(typed: &str) -> BTreeSet<String> {
        typed
            .lines()
            .map(|line| {
                line.rsplit_once(':')
                    .map_or(line, |(key, _)| key)
                    .to_string()
            })
            .collect()
    }

    fn sample_rows() -> Vec<StatRow> {
        let layout = sample_layout(1, limits(-1, 5000));
        let shards = sample_counters(&layout);
        stat_rows(&layout, &totals(&layout, &shards))
    }

    #[test]
    fn stat_typed_fields_are_haproxy_26s() {
        let ours = render_stat_typed(&sample_rows());
        let haproxy = section_of(FORMATS, "show stat typed");
        // The sample layout is HAProxy's fe (iid 2) and be (iid 3) with s1.
        let theirs: BTreeSet<String> = keys(&haproxy)
            .into_iter()
            .filter(|key| {
                key.starts_with("F.2.0.") || key.starts_with("B.3.0.") || key.starts_with("S.3.1.")
            })
            .collect();
        let ours = keys(&ours);
        let extra: Vec<_> = ours.difference(&theirs).collect();
        assert!(
            extra.is_empty(),
            "fields HAProxy prints otherwise or not at all: {extra:?}"
        );
        // Every row starts with its keys, in HAProxy's position order.
        let haproxy_first: Vec<&str> = haproxy.lines().take(2).collect();
        assert_eq!(haproxy_first[0], "F.2.0.0.pxname.1:KNS:str:fe");
        let ours_first: Vec<String> = render_stat_typed(&sample_rows())
            .lines()
            .take(2)
            .map(str::to_string)
            .collect();
        assert_eq!(
            ours_first,
            [
                "F.2.0.0.pxname.1:KNS:str:fe",
                "F.2.0.1.svname.1:KNS:str:FRONTEND"
            ]
        );
    }

    #[test]
    fn stat_typed_skips_the_dash_column_and_empty_cells() {
        let typed = render_stat_typed(&sample_rows());
        assert!(!typed.contains(".-."), "{typed}");
        assert!(
            !typed.contains("S.3.1.102."),
            "agg_check_status is for backends only"
        );
        assert!(typed.contains("B.3.0.103.ssl_sess.1:MCP:u64:"), "{typed}");
        assert!(
            typed.lines().all(|line| !line.ends_with(':')),
            "no empty value: {typed}"
        );
    }

    #[test]
    fn stat_json_is_haproxy_26s_schema() {
        let json = render_stat_json(&sample_rows());
        assert!(json.ends_with("]]\n"));
        let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        let rows = value.as_array().expect("array of rows");
        assert_eq!(rows.len(), 3);
        let theirs: serde_json::Value =
            serde_json::from_str(&section_of(FORMATS, "show stat json")).expect("HAProxy's JSON");
        let their_first = &theirs[0][0];
        let our_first = &rows[0][0];
        assert_eq!(our_first, their_first, "pxname of fe, key for key");
        // Same keys and tags for every field both print, numbers as JSON numbers.
        let find = |rows: &serde_json::Value, obj: &str, pos: u64| {
            rows.as_array()
                .into_iter()
                .flatten()
                .flat_map(|row| row.as_array().into_iter().flatten())
                .find(|f| {
                    f["objType"] == obj
                        && f["field"]["pos"] == pos
                        && f["proxyId"] == 3
                        && (obj != "Server" || f["id"] == 1)
                })
                .cloned()
        };
        for (obj, pos) in [
            ("Server", 7),
            ("Server", 17),
            ("Backend", 76),
            ("Backend", 5),
        ] {
            let ours = find(&value, obj, pos).expect("ours");
            let theirs = find(&theirs, obj, pos).expect("theirs");
            for key in ["objType", "proxyId", "id", "field", "processNum", "tags"] {
                assert_eq!(ours[key], theirs[key], "{obj} {pos} {key}");
            }
            assert_eq!(
                ours["value"]["type"], theirs["value"]["type"],
                "{obj} {pos}"
            );
        }
        assert_eq!(
            find(&value, "Server", 7).expect("stot")["value"]["value"],
            49_267
        );
    }

    #[test]
    fn info_typed_and_json_follow_haproxy_26() {
        let layout = sample_layout(1, limits(-1, 5000));
        let shards = sample_counters(&layout);
        let typed = render_show_info_as(&layout, &shards, false, Format::Typed);
        assert_eq!(keys(&typed), keys(&section_of(FORMATS, "show info typed")));
        assert!(typed.starts_with("0.Name.1:POS:str:ringway\n"), "{typed}");
        let json = render_show_info_as(&layout, &shards, false, Format::Json);
        let ours: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        let theirs: serde_json::Value =
            serde_json::from_str(&section_of(FORMATS, "show info json")).expect("HAProxy's JSON");
        let (ours, theirs) = (
            ours.as_array().expect("array"),
            theirs.as_array().expect("array"),
        );
        assert_eq!(ours.len(), theirs.len());
        for (ours, theirs) in ours.iter().zip(theirs) {
            for key in ["field", "processNum", "tags"] {
                assert_eq!(ours[key], theirs[key]);
            }
            assert_eq!(
                ours["value"]["type"], theirs["value"]["type"],
                "{}",
                ours["field"]
            );
        }
    }

    #[test]
    fn a_value_that_is_not_a_number_prints_as_a_string() {
        let mut out = String::new();
        Typed::new("MGP:u32", "n/a").push_typed(&mut out);
        assert_eq!(out, "MGP:str:n/a\n");
        let mut json = String::new();
        Typed::new("KNS:str", "a\"b").push_json(&mut json);
        assert!(
            json.ends_with("\"value\":{\"type\":\"str\",\"value\":\"a\\\"b\"}"),
            "{json}"
        );
    }
}
