//! Why a server connection was not reused (seed 001): closed connections counted by reason,
//! and the requests each carried, read from `show servers conn verbose`.

mod common;
mod support;

use std::collections::HashMap;

use common::*;
use ringway::Proxy;

/// The `key:value` pairs of one verbose field (`req_per_conn=` or `closed=`) of server `s1`.
fn verbose(proxy: &Proxy, field: &str) -> HashMap<String, u64> {
    let reply = proxy.command("show servers conn verbose app");
    let line = reply.lines().nth(1).expect("server line");
    let value = line
        .split(' ')
        .find_map(|part| part.strip_prefix(&format!("{field}=")))
        .unwrap_or_else(|| panic!("no {field}= in {line}"));
    value
        .split(',')
        .map(|pair| {
            let (key, count) = pair.rsplit_once(':').expect("key:count");
            (key.to_string(), count.parse().expect("count"))
        })
        .collect()
}

/// Nonzero close reasons.
fn closed(proxy: &Proxy) -> Vec<(String, u64)> {
    let mut reasons: Vec<(String, u64)> = verbose(proxy, "closed")
        .into_iter()
        .filter(|(_, count)| *count > 0)
        .collect();
    reasons.sort();
    reasons
}

fn reasons(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter()
        .map(|(name, count)| (name.to_string(), *count))
        .collect()
}

#[test]
fn pool_full_when_a_second_connection_comes_back() {
    let origin = origin();
    let proxy = proxy(
        "",
        &one_server("always", "pool_max_conn = 1"),
        origin.addr(),
    );
    let addr = frontend_addr(&proxy);
    assert_eq!(get(addr, "/").status, 200);
    // A POST holds the pooled connection until its body is complete; a GET meanwhile opens a
    // second connection, which is pooled; the POST's then finds the pool full.
    let mut slow = Client::connect(addr);
    slow.send_raw(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\na");
    wait_until("the POST to hold the connection", || {
        stat_num(&proxy, "app", "s1", "used_conn_cur") == 1
    });
    assert_eq!(get(addr, "/").status, 200);
    slow.send_raw(b"bc");
    assert_eq!(slow.read_response(false).unwrap().status, 200);
    assert_eq!(closed(&proxy), reasons(&[("pool_full", 1)]));
    assert_eq!(verbose(&proxy, "req_per_conn")["2"], 1);
}

#[test]
fn server_close_by_the_origin() {
    let origin = ringway_load::Origin::start(ringway_load::OriginConfig {
        max_requests_per_conn: 3,
        ..Default::default()
    })
    .expect("origin");
    let proxy = proxy("", &one_server("safe", ""), origin.addr());
    let mut client = Client::connect(frontend_addr(&proxy));
    for _ in 0..6 {
        assert_eq!(client.get("/").status, 200);
    }
    assert_eq!(closed(&proxy), reasons(&[("server_close", 2)]));
    assert_eq!(verbose(&proxy, "req_per_conn")["3-5"], 2);
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 2);
}

#[test]
fn max_reuse() {
    let origin = origin();
    let proxy = proxy("", &one_server("safe", "max_reuse = 1"), origin.addr());
    let mut client = Client::connect(frontend_addr(&proxy));
    for _ in 0..4 {
        assert_eq!(client.get("/").status, 200);
    }
    assert_eq!(closed(&proxy), reasons(&[("max_reuse", 2)]));
    assert_eq!(verbose(&proxy, "req_per_conn")["2"], 2);
}

/// `pool_high_fd_ratio` is the share of the descriptor limit past which no server connection
/// is kept idle: at 0 every connection is closed for descriptor pressure, at 100 (this test
/// process's few descriptors are far below it) the same requests reuse one connection.
#[test]
fn the_fd_ratios_decide_when_descriptor_pressure_closes_connections() {
    let origin = origin();
    for (ratios, expected, reused) in [
        (
            "pool_low_fd_ratio = 0\npool_high_fd_ratio = 0",
            vec![("fd_pressure", 3)],
            false,
        ),
        (
            "pool_low_fd_ratio = 90\npool_high_fd_ratio = 100",
            vec![],
            true,
        ),
    ] {
        let proxy = proxy(ratios, &one_server("always", ""), origin.addr());
        let mut client = Client::connect(frontend_addr(&proxy));
        let conns: Vec<u64> = (0..3).map(|_| client.get("/").origin_conn()).collect();
        assert_eq!(
            conns.windows(2).all(|w| w[0] == w[1]),
            reused,
            "{ratios}: {conns:?}"
        );
        wait_until("the closes to be counted", || {
            closed(&proxy) == reasons(&expected)
        });
    }
}

#[test]
fn never_mode_closes_with_the_session() {
    let origin = origin();
    let proxy = proxy("", &one_server("never", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    for _ in 0..2 {
        let mut client = Client::connect(addr);
        assert_eq!(client.get("/").status, 200);
        assert_eq!(client.get("/").status, 200);
    }
    wait_until("both sessions' connections to close", || {
        closed(&proxy) == reasons(&[("never", 2)])
    });
    assert_eq!(verbose(&proxy, "req_per_conn")["2"], 2);
}

#[test]
fn server_timeouts_and_closes_after_the_response() {
    let origin = origin();
    let proxy = proxy_with_defaults(
        "",
        "timeout_server = \"200ms\"",
        &one_server("safe", ""),
        origin.addr(),
    );
    let addr = frontend_addr(&proxy);
    assert_eq!(get(addr, "/?delay=5000").status, 504);
    assert_eq!(get(addr, "/?close=1").status, 200);
    assert_eq!(
        closed(&proxy),
        reasons(&[("server_close", 1), ("timeout", 1)])
    );
}

#[test]
fn purged_idle_connections() {
    let origin = origin();
    let proxy = proxy(
        "",
        &one_server("always", "pool_purge_delay = \"50ms\""),
        origin.addr(),
    );
    assert_eq!(get(frontend_addr(&proxy), "/").status, 200);
    wait_until("the idle connection to be purged", || {
        closed(&proxy) == reasons(&[("purged", 1)])
    });
    wait_until("the origin to see the close", || {
        origin.open_connections() == 0
    });
    assert_eq!(verbose(&proxy, "req_per_conn")["1"], 1);
}
