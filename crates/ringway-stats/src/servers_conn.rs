//! `show servers conn [<backend>]`: HAProxy 2.6's per-server pool line, read straight from
//! each server's shared pool accounting, with one `idle_per_thr` value per shard.

use std::fmt::Write as _;

use crate::layout::{BackendInfo, Layout};

/// HAProxy's reply when the named backend does not exist.
pub const NO_SUCH_BACKEND: &str = "Can't find backend.\n";

fn push_backend(out: &mut String, backend: &BackendInfo, shards: usize) {
    for server in &backend.servers {
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
        out.push('\n');
    }
}

/// The header and one line per server of every backend, or of `backend` only. An unknown
/// backend name gives `Err("Can't find backend.\n")`, HAProxy's message.
pub fn render_servers_conn(layout: &Layout, backend: Option<&str>) -> Result<String, String> {
    let selected: Vec<&BackendInfo> = match backend {
        Some(name) => match layout.backends.iter().find(|b| b.name == name) {
            Some(found) => vec![found],
            None => return Err(NO_SUCH_BACKEND.to_string()),
        },
        None => layout.backends.iter().collect(),
    };
    let mut out = format!(
        "# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est \
         unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[{}]\n",
        layout.shards
    );
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
            servers: vec![server(
                "v6",
                7,
                "[::1]:8443",
                0,
                ServerShared::new(limits(-1, 0), 2),
            )],
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
    fn unknown_backend() {
        let layout = sample_layout(1, limits(-1, 5_000));
        assert_eq!(
            render_servers_conn(&layout, Some("nope")),
            Err("Can't find backend.\n".to_string())
        );
    }
}
