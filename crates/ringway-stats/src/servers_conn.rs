//! `show servers conn [<backend>]`: HAProxy 2.6's per-server pool line, read straight from
//! each server's shared pool accounting, with one `idle_per_thr` value per shard. Also
//! ringway's `show servers conn verbose [<backend>]`: the same line followed by `key=value`
//! fields saying how connections were used and why they closed (seed 001).

use std::fmt::Write as _;
use std::sync::Arc;

use crate::close::CloseReason;
use crate::counters::ShardCounters;
use crate::layout::{BackendInfo, Layout, ServerInfo};
use crate::totals::{totals, ServerSums};

/// HAProxy's reply when the named backend does not exist.
pub const NO_SUCH_BACKEND: &str = "Can't find backend.\n";

fn push_server(out: &mut String, backend: &BackendInfo, server: &ServerInfo, shards: usize) {
    let pool = server.pool.snapshot();
    let _ = write!(
        out,
        "{}/{} {}/{} {} {} - {} {} {} {} {} {} {} {}",
        backend.name,
        server.name,
        backend.iid,
        server.sid,
        server.address.ip(),
        server.address.port(),
        pool.purge_delay_ms,
        pool.used_cur,
        pool.used_max,
        pool.need_est,
        pool.unsafe_nb,
        pool.safe_nb,
        pool.pool_max_conn,
        pool.idle_cur,
    );
    for shard in 0..shards {
        let idle = pool.idle_per_shard.get(shard).copied().unwrap_or(0);
        let _ = write!(out, " {idle}");
    }
}

fn push_backend(out: &mut String, backend: &BackendInfo, shards: usize) {
    for server in &backend.servers {
        push_server(out, backend, server, shards);
        out.push('\n');
    }
}

/// The pool settings in force (the runtime API may have changed them since the start).
fn push_limits(out: &mut String, server: &ServerInfo) {
    let pool = server.pool.snapshot();
    let _ = write!(
        out,
        " limits=pool_max_conn:{},pool_low_conn:{},pool_purge_delay:{}ms,max_reuse:{}",
        pool.pool_max_conn, pool.pool_low_conn, pool.purge_delay_ms, pool.max_reuse
    );
}

/// The verbose fields of one server: how its connections were used and why they closed.
fn push_verbose(out: &mut String, sums: &ServerSums) {
    let _ = write!(
        out,
        " connect={} reuse={} takeover={}",
        sums.connect, sums.reuse, sums.takeovers
    );
    if sums.h2.conns + sums.h2.streams_max > 0 {
        // An HTTP/2 server's requests ride streams: connections open, streams now and at most.
        let _ = write!(
            out,
            " h2_conns={} h2_streams={} h2_streams_max={}",
            sums.h2.conns, sums.h2.streams, sums.h2.streams_max
        );
    }
    out.push_str(" req_per_conn=");
    let labels = sums.reqs_per_conn.range_labels();
    for (index, (label, count)) in labels.iter().zip(&sums.reqs_per_conn.counts).enumerate() {
        let comma = if index == 0 { "" } else { "," };
        let _ = write!(out, "{comma}{label}:{count}");
    }
    out.push_str(" closed=");
    for (index, reason) in CloseReason::ALL.iter().enumerate() {
        let comma = if index == 0 { "" } else { "," };
        let _ = write!(
            out,
            "{comma}{}:{}",
            reason.as_str(),
            sums.closed_for(*reason)
        );
    }
}

fn select<'a>(layout: &'a Layout, backend: Option<&str>) -> Result<Vec<&'a BackendInfo>, String> {
    match backend {
        Some(name) => match layout.backends.iter().find(|b| b.name == name) {
            Some(found) => Ok(vec![found]),
            None => Err(NO_SUCH_BACKEND.to_string()),
        },
        None => Ok(layout.backends.iter().collect()),
    }
}

fn header(shards: usize) -> String {
    format!(
        "# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est \
         unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[{shards}]"
    )
}

/// `show servers conn verbose [<backend>]`: HAProxy's line for each server followed by
/// `connect=N reuse=N takeover=N req_per_conn=1:N,2:N,3-5:N,... closed=server_close:N,...`
/// (every bucket and every reason, in a fixed order) and the pool settings in force,
/// `limits=pool_max_conn:N,pool_low_conn:N,pool_purge_delay:Nms,max_reuse:N`.
pub fn render_servers_conn_verbose(
    layout: &Layout,
    shards: &[Arc<ShardCounters>],
    backend: Option<&str>,
) -> Result<String, String> {
    let selected = select(layout, backend)?;
    let sums = totals(layout, shards);
    let mut out = header(layout.shards);
    out.push_str(" connect reuse takeover req_per_conn closed limits\n");
    for info in selected {
        let index = layout
            .backends
            .iter()
            .position(|b| std::ptr::eq(b, info))
            .unwrap_or(0);
        for (s, server) in info.servers.iter().enumerate() {
            push_server(&mut out, info, server, layout.shards);
            let counters = sums
                .backends
                .get(index)
                .and_then(|b| b.servers.get(s))
                .map(|t| t.counters.clone())
                .unwrap_or_default();
            push_verbose(&mut out, &counters);
            push_limits(&mut out, server);
            out.push('\n');
        }
    }
    Ok(out)
}

/// The header and one line per server of every backend, or of `backend` only. An unknown
/// backend name gives `Err("Can't find backend.\n")`, HAProxy's message.
pub fn render_servers_conn(layout: &Layout, backend: Option<&str>) -> Result<String, String> {
    let selected = select(layout, backend)?;
    let mut out = header(layout.shards);
    out.push('\n');
    for backend in selected {
        push_backend(&mut out, backend, layout.shards);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ringway_pool::ServerShared;

    use super::*;
    use crate::layout::BackendInfo;
    use crate::testutil::{limits, park_safe, sample_layout, sample_section, server};

    #[test]
    fn one_shard_matches_the_sample() {
        let layout = sample_layout(1, limits(-1, 60_000));
        let _pools = park_safe(&layout.backends[0].servers[0].pool, &[(0, 5)]);
        let expected = sample_section("show servers conn");
        assert_eq!(render_servers_conn(&layout, None), Ok(expected.clone()));
        assert_eq!(render_servers_conn(&layout, Some("be")), Ok(expected));
    }

    #[test]
    fn two_shards_one_idle_value_each() {
        let mut layout = sample_layout(2, limits(100, 5_000));
        layout.backends.push(BackendInfo {
            name: "other".to_string(),
            iid: 4,
            algo: "leastconn",
            cookie: None,
            fullconn: 0,
            servers: vec![server(
                "v6",
                7,
                "[::1]:8443",
                0,
                ServerShared::new(limits(-1, 0), 2),
            )],
            allbackups: false,
            health: crate::status::BackendHealth::new(std::time::Instant::now()),
        });
        let pool = Arc::clone(&layout.backends[0].servers[0].pool);
        let _pools = park_safe(&pool, &[(0, 2), (1, 3)]);
        pool.use_conn();

        let all = render_servers_conn(&layout, None).expect("all backends");
        assert_eq!(
            all,
            "# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est \
             unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[2]\n\
             be/s1 3/1 127.0.0.1 9001 - 5000 1 5 5 0 5 100 5 2 3\n\
             other/v6 4/7 ::1 8443 - 0 0 0 0 0 0 -1 0 0 0\n"
        );
        let one = render_servers_conn(&layout, Some("other")).expect("one backend");
        assert_eq!(one.lines().count(), 2);
        assert!(one.ends_with("other/v6 4/7 ::1 8443 - 0 0 0 0 0 0 -1 0 0 0\n"));
    }

    #[test]
    fn verbose_adds_usage_and_close_reasons() {
        let layout = sample_layout(2, limits(-1, 5_000));
        let shards = crate::testutil::all_shards(&layout);
        let s1 = &shards[1].servers[0][0];
        s1.connect.add(3);
        s1.reuse.add(7);
        s1.record_close(CloseReason::PoolFull, 1);
        s1.record_close(CloseReason::ServerClose, 4);
        shards[0].servers[0][0].record_close(CloseReason::ServerClose, 2_000);
        let text = render_servers_conn_verbose(&layout, &shards, None).expect("verbose");
        let mut lines = text.lines();
        assert!(lines
            .next()
            .unwrap()
            .ends_with("idle_per_thr[2] connect reuse takeover req_per_conn closed limits"));
        let line = lines.next().unwrap();
        assert!(
            line.starts_with("be/s1 3/1 127.0.0.1 9001 - 5000 0 0 0 0 0 -1 0 0 0 connect=3 "),
            "{line}"
        );
        assert!(line.contains(
            " reuse=7 takeover=0 req_per_conn=1:1,2:0,3-5:1,6-10:0,11-100:0,101-1000:0,>1000:1 "
        ));
        assert!(line.contains(" closed=server_close:2,purged:0,pool_full:1,not_needed:0,"));
        assert!(
            line.ends_with(
                " limits=pool_max_conn:-1,pool_low_conn:0,pool_purge_delay:5000ms,max_reuse:-1"
            ),
            "{line}"
        );
        assert!(line.contains(",tunnel:0,shutdown:0,unexpected_data:0,after_head:0,server_down:0 "));
        assert_eq!(lines.next(), None);
        assert_eq!(
            render_servers_conn_verbose(&layout, &shards, Some("nope")),
            Err(NO_SUCH_BACKEND.to_string())
        );
    }

    #[test]
    fn unknown_backend() {
        let layout = sample_layout(1, limits(-1, 5_000));
        assert_eq!(
            render_servers_conn(&layout, Some("nope")),
            Err("Can't find backend.\n".to_string())
        );
    }
}
