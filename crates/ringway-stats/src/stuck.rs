//! "Which sessions are stuck": the requests in progress older than a threshold (seed 003), by
//! server. Owns the selection (never an idle keep-alive connection: its age says nothing about
//! a request) and its two renderings, the `/stats` page's section and `/stats.json`'s `stuck`
//! array. The runtime gathers the [`SessionRow`]s from the shards, as `show sess` does.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Value};

use crate::html::escape;
use crate::layout::Layout;
use crate::sess::{server_names, SessionRow};

/// The `/stats?stuck=` threshold when none is given.
pub const DEFAULT_STUCK_THRESHOLD: Duration = Duration::from_secs(10);
/// Sessions the page lists one by one (the oldest); the counts cover all of them.
pub const STUCK_LISTED: usize = 20;

/// The requests in progress for at least `threshold`, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StuckSessions {
    pub threshold: Duration,
    pub rows: Vec<SessionRow>,
    /// Shards that did not answer in time (their sessions are missing).
    pub silent_shards: usize,
}

/// How many stuck requests one server (None: no server chosen yet) has, and its oldest age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StuckServer {
    pub server: Option<(usize, usize)>,
    pub count: usize,
    pub oldest: Duration,
}

impl StuckSessions {
    /// Keeps the rows that are requests in progress (any state but `idle`) at least `threshold`
    /// old.
    pub fn select(mut rows: Vec<SessionRow>, threshold: Duration, silent_shards: usize) -> Self {
        rows.retain(|row| row.state != "idle" && row.age >= threshold);
        rows.sort_by(|a, b| b.age.cmp(&a.age).then(a.id.cmp(&b.id)));
        StuckSessions {
            threshold,
            rows,
            silent_shards,
        }
    }

    /// Counts per server, most stuck first (ties: the oldest first).
    pub fn by_server(&self) -> Vec<StuckServer> {
        let mut out: Vec<StuckServer> = Vec::new();
        // Rows are oldest first, so a server's first row carries its oldest age.
        for row in &self.rows {
            match out.iter_mut().find(|entry| entry.server == row.server) {
                Some(entry) => entry.count += 1,
                None => out.push(StuckServer {
                    server: row.server,
                    count: 1,
                    oldest: row.age,
                }),
            }
        }
        out.sort_by(|a, b| b.count.cmp(&a.count).then(b.oldest.cmp(&a.oldest)));
        out
    }
}

fn seconds(age: Duration) -> String {
    format!("{:.1} s", age.as_secs_f64())
}

/// The `/stats` page's section.
pub(crate) fn stuck_html(out: &mut String, layout: &Layout, stuck: &StuckSessions) {
    let _ = writeln!(
        out,
        "<h2>Stuck requests <span class=note>(in progress for {} or more; \
         <code>/stats?stuck=5s</code> sets the threshold)</span></h2>",
        seconds(stuck.threshold)
    );
    if stuck.silent_shards > 0 {
        let _ = writeln!(
            out,
            "<p class=note>{} shard(s) did not answer in time: their sessions are missing.</p>",
            stuck.silent_shards
        );
    }
    if stuck.rows.is_empty() {
        out.push_str("<p>None.</p>\n");
        return;
    }
    out.push_str(
        "<table><tr><th class=l>backend/server</th><th>stuck requests</th><th>oldest</th></tr>\n",
    );
    for entry in stuck.by_server() {
        let (backend, server) = server_names(layout, entry.server);
        let _ = writeln!(
            out,
            "<tr><td class=l>{}/{}</td><td class=big>{}</td><td>{}</td></tr>",
            escape(backend),
            escape(server),
            entry.count,
            seconds(entry.oldest),
        );
    }
    out.push_str(
        "</table>\n<table><tr><th class=l>session</th><th class=l>client</th>\
         <th class=l>frontend</th><th class=l>backend/server</th><th class=l>state</th>\
         <th>age</th><th>connection age</th><th>shard</th></tr>\n",
    );
    for row in stuck.rows.iter().take(STUCK_LISTED) {
        let (backend, server) = server_names(layout, row.server);
        let frontend = layout
            .frontends
            .get(row.frontend)
            .map_or("<NONE>", |f| f.name.as_str());
        let _ = writeln!(
            out,
            "<tr><td class=l>{:#x}</td><td class=l>{}</td><td class=l>{}</td>\
             <td class=l>{}/{}</td><td class=l>{}</td><td class=big>{}</td><td>{}</td>\
             <td>{}</td></tr>",
            row.id,
            row.peer,
            escape(frontend),
            escape(backend),
            escape(server),
            row.state,
            seconds(row.age),
            seconds(row.conn_age),
            row.shard,
        );
    }
    out.push_str("</table>\n");
    if stuck.rows.len() > STUCK_LISTED {
        let _ = writeln!(
            out,
            "<p class=note>The {STUCK_LISTED} oldest of {} are listed; <code>show sess</code> \
             lists every one.</p>",
            stuck.rows.len()
        );
    }
}

/// `/stats.json`'s `stuck` array: every stuck request, oldest first.
pub(crate) fn stuck_json(layout: &Layout, stuck: &StuckSessions) -> Value {
    let rows: Vec<Value> = stuck
        .rows
        .iter()
        .map(|row| {
            let (backend, server) = server_names(layout, row.server);
            json!({
                "id": format!("{:#x}", row.id),
                "client": row.peer.to_string(),
                "frontend": layout.frontends.get(row.frontend).map(|f| f.name.as_str()),
                "backend": row.server.map(|_| backend),
                "server": row.server.map(|_| server),
                "state": row.state,
                "age_ms": row.age.as_millis() as u64,
                "conn_age_ms": row.conn_age.as_millis() as u64,
                "shard": row.shard,
            })
        })
        .collect();
    Value::Array(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{limits, sample_layout};

    fn row(
        id: u64,
        state: &'static str,
        age_ms: u64,
        server: Option<(usize, usize)>,
    ) -> SessionRow {
        SessionRow {
            id,
            shard: 0,
            frontend: 0,
            peer: "127.0.0.1:40000".parse().unwrap(),
            server,
            state,
            age: Duration::from_millis(age_ms),
            conn_age: Duration::from_secs(99),
            requests: 0,
            h2_conn: None,
        }
    }

    #[test]
    fn only_requests_in_progress_past_the_threshold_oldest_first() {
        let rows = vec![
            row(1, "busy", 12_000, Some((0, 0))),
            row(2, "idle", 600_000, None),
            row(3, "busy", 9_999, Some((0, 0))),
            row(4, "reading", 30_000, None),
            row(5, "tunnel", 10_000, Some((0, 0))),
        ];
        let stuck = StuckSessions::select(rows, Duration::from_secs(10), 0);
        let ids: Vec<u64> = stuck.rows.iter().map(|row| row.id).collect();
        assert_eq!(ids, [4, 1, 5]);
        assert_eq!(
            stuck.by_server(),
            [
                StuckServer {
                    server: Some((0, 0)),
                    count: 2,
                    oldest: Duration::from_secs(12),
                },
                StuckServer {
                    server: None,
                    count: 1,
                    oldest: Duration::from_secs(30),
                },
            ]
        );
    }

    #[test]
    fn section_and_json_name_each_stuck_request() {
        let layout = sample_layout(1, limits(-1, 5_000));
        let stuck = StuckSessions::select(
            vec![
                row(0x2a, "busy", 12_500, Some((0, 0))),
                row(7, "idle", 60_000, None),
            ],
            Duration::from_secs(5),
            1,
        );
        let mut page = String::new();
        stuck_html(&mut page, &layout, &stuck);
        assert!(page.contains("in progress for 5.0 s or more"));
        assert!(page.contains("1 shard(s) did not answer"));
        assert!(page.contains("<tr><td class=l>be/s1</td><td class=big>1</td><td>12.5 s</td></tr>"));
        assert!(page.contains("<td class=l>0x2a</td><td class=l>127.0.0.1:40000</td>"));
        assert!(!page.contains("0x7"), "an idle connection is not stuck");
        let value = stuck_json(&layout, &stuck);
        assert_eq!(
            value,
            json!([{"id": "0x2a", "client": "127.0.0.1:40000", "frontend": "fe",
                    "backend": "be", "server": "s1", "state": "busy", "age_ms": 12_500,
                    "conn_age_ms": 99_000, "shard": 0}])
        );
        let mut none = String::new();
        stuck_html(
            &mut none,
            &layout,
            &StuckSessions::select(Vec::new(), DEFAULT_STUCK_THRESHOLD, 0),
        );
        assert!(none.contains("<p>None.</p>"));
    }
}
