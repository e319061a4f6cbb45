//! `show sess`: one line per client session, in the spirit of HAProxy's `show sess` (the id
//! first, then `key=value` fields, with HAProxy's `fe=`, `be=`, `srv=`, `src=` and `age=`
//! spellings so that scripts grepping `age=[0-9]+s` keep working). As HAProxy's streams, `age=`
//! counts from the current request's first byte (the accept for a connection's first request),
//! so a healthy keep-alive client never looks old; `conn_age=` counts from the accept. Owns the
//! row the shards publish and its rendering; the runtime collects the rows and picks which to
//! show (requests in progress, or idle connections too).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use crate::layout::Layout;

/// What a shard publishes about one of its client sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// The id `shutdown session` takes (printed in hex, `0x...`).
    pub id: u64,
    pub shard: usize,
    pub frontend: usize,
    pub peer: SocketAddr,
    /// The server of the request in progress, `(backend, server)`.
    pub server: Option<(usize, usize)>,
    /// `reading`, `idle`, `busy` or `tunnel`.
    pub state: &'static str,
    /// Since the current (or, idle, the last) request's first byte arrived.
    pub age: Duration,
    /// Since the client connection was accepted.
    pub conn_age: Duration,
    /// Requests completed on the connection.
    pub requests: u64,
    /// For an HTTP/2 stream, the id of its connection's session.
    pub h2_conn: Option<u64>,
}

/// The backend and server names of a row's server; HAProxy's `<NONE>`/`<none>` without one.
pub(crate) fn server_names(layout: &Layout, server: Option<(usize, usize)>) -> (&str, &str) {
    let found = server.and_then(|(backend, server)| {
        let backend = layout.backends.get(backend)?;
        Some((
            backend.name.as_str(),
            backend.servers.get(server)?.name.as_str(),
        ))
    });
    found.unwrap_or(("<NONE>", "<none>"))
}

/// One line per session, sorted by id.
pub fn render_show_sess(layout: &Layout, rows: &[SessionRow]) -> String {
    let mut sorted: Vec<&SessionRow> = rows.iter().collect();
    sorted.sort_by_key(|row| row.id);
    let mut out = String::new();
    for row in sorted {
        let proto = if row.peer.is_ipv4() { "tcpv4" } else { "tcpv6" };
        let frontend = layout
            .frontends
            .get(row.frontend)
            .map_or("<NONE>", |f| f.name.as_str());
        let (backend, server) = server_names(layout, row.server);
        let _ = writeln!(
            out,
            "{:#x}: proto={proto} src={} fe={frontend} be={backend} srv={server} \
             state={} shard={} age={}s conn_age={}s reqs={}",
            row.id,
            row.peer,
            row.state,
            row.shard,
            row.age.as_secs(),
            row.conn_age.as_secs(),
            row.requests,
        );
        if let Some(conn) = row.h2_conn {
            // The stream's line names its connection's line.
            out.pop();
            let _ = writeln!(out, " h2_conn={conn:#x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{limits, sample_layout};

    fn row(id: u64, server: Option<(usize, usize)>) -> SessionRow {
        SessionRow {
            id,
            shard: (id >> 48) as usize,
            frontend: 0,
            peer: "127.0.0.1:41234".parse().unwrap(),
            server,
            state: "busy",
            age: Duration::from_millis(3_700),
            conn_age: Duration::from_secs(60),
            requests: 2,
            h2_conn: None,
        }
    }

    #[test]
    fn one_line_per_session_sorted() {
        let layout = sample_layout(2, limits(-1, 5_000));
        let rows = [row((1 << 48) | 1, None), row(2, Some((0, 0)))];
        assert_eq!(
            render_show_sess(&layout, &rows),
            "0x2: proto=tcpv4 src=127.0.0.1:41234 fe=fe be=be srv=s1 state=busy shard=0 \
             age=3s conn_age=60s reqs=2\n\
             0x1000000000001: proto=tcpv4 src=127.0.0.1:41234 fe=fe be=<NONE> srv=<none> \
             state=busy shard=1 age=3s conn_age=60s reqs=2\n"
        );
    }

    #[test]
    fn unknown_indexes_do_not_panic() {
        let layout = sample_layout(1, limits(-1, 5_000));
        let mut odd = row(5, Some((9, 9)));
        odd.frontend = 7;
        odd.peer = "[::1]:80".parse().unwrap();
        let text = render_show_sess(&layout, &[odd]);
        assert!(text.starts_with("0x5: proto=tcpv6 src=[::1]:80 fe=<NONE> be=<NONE>"));
        assert_eq!(render_show_sess(&layout, &[]), "");
    }
}
