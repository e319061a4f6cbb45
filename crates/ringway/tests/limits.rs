//! The process-wide client connection limit (`global.max_conn`).

mod common;

use common::*;

#[test]
fn max_conn_closes_connections_past_the_limit_and_recovers() {
    let origin = origin();
    let proxy = proxy("max_conn = 1", &one_server("safe", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    let mut first = Client::connect(addr);
    assert_eq!(first.get("/").status, 200);
    // The first client still holds its connection: a second one is closed without an answer.
    let mut second = Client::connect(addr);
    second.try_send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        second.read_response(false).is_none(),
        "refused past max_conn"
    );
    drop(first);
    wait_until("the first session ended", || {
        stat_num(&proxy, "web", "FRONTEND", "scur") == 0
    });
    assert_eq!(get(addr, "/").status, 200, "served again below the limit");
    assert_eq!(origin.stats().requests, 2);
}

/// `spin_rounds = 0`: the shard sleeps as soon as a poller round finds nothing; requests,
/// bodies and reuse work the same.
#[test]
fn a_poller_that_never_spins_serves_the_same() {
    let origin = origin();
    let proxy = proxy("spin_rounds = 0", &one_server("always", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    let mut client = Client::connect(addr);
    for _ in 0..3 {
        let response = client.get("/?body=100000&chunked=1");
        assert_eq!(response.status, 200);
        assert_eq!(response.body.len(), 100_000);
    }
    assert_eq!(origin.stats().conns.len(), 1);
}

#[test]
fn the_configured_default_is_the_pollers() {
    assert_eq!(
        ringway_config::Global::default().spin_rounds,
        ringway_net::DEFAULT_SPIN_ROUNDS
    );
}
