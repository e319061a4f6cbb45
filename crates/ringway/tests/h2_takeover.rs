//! Takeover of idle HTTP/2 server connections on two shards (issue 19, "takeover of idle
//! HTTP/2 connections as for HTTP/1.1"): clients arrive one after another on either shard (the
//! kernel spreads them over the SO_REUSEPORT listeners); a shard that has no connection to the
//! h2 server takes its peer's idle one when the server-wide idle count reaches
//! `pool_low_conn`, and the connection keeps working there, in clear text and over TLS.

mod common;
mod support;

use std::net::SocketAddr;

use common::*;
use ringway::Proxy;
use support::{h2load, h2load_status_codes, tool};

/// Two shards, backend `app` in `always` with one h2 server `s1` at `address`.
fn two_shards(address: SocketAddr, server: &str) -> Proxy {
    proxy_from(&format!(
        "[global]\nshards = 2\npin_shards = false\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\nhttp_reuse = \"always\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{address}\"\nproto = \"h2\"\n{server}\n"
    ))
}

/// Sends 40 requests, each on a new client connection; returns how many requests each
/// shard accepted.
fn forty_clients(proxy: &Proxy) -> Vec<u64> {
    let addr = frontend_addr(proxy);
    for _ in 0..40 {
        let reply = get(addr, "/?body=5");
        assert_eq!((reply.status, reply.body.len()), (200, 5));
    }
    activity(proxy, "accepted")
}

#[test]
fn pool_low_conn_0_one_h2_connection_moves_between_shards() {
    let origin = h2c_origin(0);
    let proxy = two_shards(origin.addr(), "pool_low_conn = 0");
    let accepted = forty_clients(&proxy);
    assert!(
        accepted.iter().all(|&count| count > 0),
        "both shards got clients: {accepted:?}"
    );
    let stats = origin.stats();
    assert_eq!(stats.requests, 40);
    assert_eq!(stats.accepted, 1, "one server connection");
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 1);
    assert_eq!(stat_num(&proxy, "app", "s1", "reuse"), 39);
    let takeovers: u64 = activity(&proxy, "fd_takeover").iter().sum();
    assert!(takeovers > 0, "the connection was taken over");
    // It is counted once, where it is now: open, idle, and an HTTP/2 connection.
    assert_eq!(stat_num(&proxy, "app", "s1", "h2_open_connections"), 1);
    assert_eq!(stat_num(&proxy, "app", "s1", "h2_total_connections"), 1);
    let conns = proxy.command("show servers conn verbose");
    assert!(conns.contains(" h2_conns=1 "), "{conns}");
    assert_eq!(stat_num(&proxy, "app", "s1", "srv_icur"), 1, "{conns}");
}

#[test]
fn pool_low_conn_2_each_shard_keeps_its_own_h2_connection() {
    let origin = h2c_origin(0);
    let proxy = two_shards(origin.addr(), "pool_low_conn = 2");
    let accepted = forty_clients(&proxy);
    assert!(
        accepted.iter().all(|&count| count > 0),
        "both shards got clients: {accepted:?}"
    );
    assert_eq!(
        origin.stats().accepted,
        2,
        "one server connection per shard"
    );
    assert_eq!(
        activity(&proxy, "fd_takeover"),
        [0, 0],
        "never taken below pool_low_conn"
    );
}

#[test]
fn a_taken_over_h2_connection_over_tls_keeps_its_tls_state() {
    // The TLS HTTP/2 server is a second ringway: a TLS frontend (ALPN h2 first) before the
    // HTTP/1.1 origin. Its connection count shows how many TLS connections the proxy made.
    let origin = origin();
    let server = tls_h2_server(origin.addr(), "");
    let keys = format!("pool_low_conn = 0\n{}", server.server_tls);
    let proxy = two_shards(frontend_addr(&server.proxy), &keys);
    let accepted = forty_clients(&proxy);
    assert!(
        accepted.iter().all(|&count| count > 0),
        "both shards got clients: {accepted:?}"
    );
    assert_eq!(
        stat_num(&server.proxy, "tls", "FRONTEND", "stot"),
        1,
        "one TLS connection"
    );
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 1);
    let takeovers: u64 = activity(&proxy, "fd_takeover").iter().sum();
    assert!(takeovers > 0, "the connection was taken over");
}

#[test]
fn concurrent_clients_on_both_shards_share_few_connections_without_an_error() {
    // Keep-alive clients on both shards at once, HTTP/1.1 then HTTP/2: connections go back
    // and forth between the shards while streams come and go on them; every request must
    // succeed.
    let Some(h2load_path) = tool("h2load", "nghttp2-client") else {
        return;
    };
    let origin = h2c_origin(0);
    let proxy = two_shards(origin.addr(), "pool_low_conn = 0");
    let addr = frontend_addr(&proxy);
    // HTTP/1.1 clients, then HTTP/2 clients (h2c, five streams each at once).
    for flags in [&["--h1", "-m", "1"][..], &["-m", "5"]] {
        for _ in 0..2 {
            let mut args = vec!["-n", "2000", "-c", "20"];
            args.extend(flags);
            let report = h2load(&h2load_path, &args, &format!("http://{addr}/?body=100"));
            assert_eq!(h2load_status_codes(&report), [2000, 0, 0, 0], "{report}");
            // Closing clients in between: first requests on either shard find idle ones.
            forty_clients(&proxy);
        }
    }
    let stats = origin.stats();
    assert_eq!(stats.requests, 4 * 2040);
    assert!(
        stats.accepted <= 8,
        "{} server connections for 20 clients on 2 shards",
        stats.accepted
    );
    assert_eq!(stat_num(&proxy, "app", "s1", "stot"), 4 * 2040);
}

#[test]
fn connections_the_server_ends_while_idle_are_never_handed_a_request() {
    // The server sends GOAWAY after every third stream, often while the connection sits idle
    // on the shelf or is on its way to the other shard: each request still gets its answer,
    // on a taken-over connection or a new one.
    let origin = h2c_origin(3);
    let proxy = two_shards(origin.addr(), "pool_low_conn = 0");
    for _ in 0..3 {
        let accepted = forty_clients(&proxy);
        assert!(
            accepted.iter().all(|&count| count > 0),
            "both shards got clients: {accepted:?}"
        );
    }
    let stats = origin.stats();
    assert_eq!(stats.requests, 120);
    assert!(
        (40..=60).contains(&stats.accepted),
        "{} connections for 120 requests, 3 per connection",
        stats.accepted
    );
    assert_eq!(stat_num(&proxy, "app", "s1", "hrsp_5xx"), 0);
}
