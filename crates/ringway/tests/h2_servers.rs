//! HTTP/2 servers (`proto = "h2"`, issue 19) with the h2c test origin: HTTP/1.1 clients (h2load
//! `--h1`) riding few server connections as seed 002's table shows for each `http_reuse` mode,
//! bodies and chunked framing both ways, HTTP/2 end to end, `max_reuse` counting streams, a
//! GOAWAY's refused streams sent again, `maxconn` counting streams, and a dead server.

mod common;
mod support;

use std::net::SocketAddr;

use common::*;
use ringway::Proxy;
use support::{h2load, h2load_status_codes, tool};

/// One shard, one h2 server at `origin` in `mode`, extra server keys.
fn h2_proxy(mode: &str, server: &str, origin: SocketAddr) -> Proxy {
    proxy(
        "",
        &one_server(mode, &format!("proto = \"h2\"\n{server}")),
        origin,
    )
}

#[test]
fn fifty_http_1_1_clients_ride_few_server_connections_by_reuse_mode() {
    let Some(h2load_path) = tool("h2load", "nghttp2-client") else {
        return;
    };
    // Seed 002's HTTP/2 rows: `always` and `aggressive` share a handful of connections among
    // 50 keep-alive clients; `safe` gives each client's first request its own; `never` keeps
    // one per client.
    for (mode, most) in [
        ("always", 4),
        ("aggressive", 4),
        ("safe", 50),
        ("never", 50),
    ] {
        let origin = h2c_origin(0);
        let proxy = h2_proxy(mode, "", origin.addr());
        let addr = frontend_addr(&proxy);
        let report = h2load(
            &h2load_path,
            &["--h1", "-n", "5000", "-c", "50", "-m", "1"],
            &format!("http://{addr}/?body=100"),
        );
        assert_eq!(
            h2load_status_codes(&report),
            [5000, 0, 0, 0],
            "{mode}: {report}"
        );
        let stats = origin.stats();
        assert_eq!(stats.requests, 5000, "{mode}");
        assert!(
            stats.accepted <= most,
            "{mode}: {} server connections (at most {most})",
            stats.accepted
        );
        if mode == "never" {
            assert!(
                stats.accepted >= 40,
                "never: one per client, {}",
                stats.accepted
            );
        }
        assert_eq!(stat_num(&proxy, "app", "s1", "stot"), 5000, "{mode}");
    }
}

#[test]
fn bodies_cross_an_h2_server_both_ways() {
    let origin = h2c_origin(0);
    let proxy = h2_proxy("safe", "", origin.addr());
    let addr = frontend_addr(&proxy);
    let mut client = Client::connect(addr);
    // A body with a length, larger than the server's initial stream window.
    let body = vec![b'a'; 200_000];
    let mut request = format!(
        "POST /up HTTP/1.1\r\nHost: test\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    client.send_raw(&request);
    let reply = client.read_response(false).expect("a response");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-origin-req-body"), Some("200000"));
    // A chunked body, with a trailer the HTTP/2 request does not need.
    client.send_raw(
        b"POST /up HTTP/1.1\r\nHost: test\r\ntransfer-encoding: chunked\r\n\r\n\
          5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    );
    let reply = client.read_response(false).expect("a response");
    assert_eq!(reply.header("x-origin-req-body"), Some("11"));
    // A response without a length comes chunked, with the server's trailer.
    client.send_raw(b"GET /?chunked=1&body=70000 HTTP/1.1\r\nHost: test\r\n\r\n");
    let reply = client.read_response(false).expect("a response");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), 70_000);
    // A large response with a length, through the flow control of both sides.
    client.send_raw(b"GET /?body=3000000 HTTP/1.1\r\nHost: test\r\n\r\n");
    let reply = client.read_response(false).expect("a response");
    assert_eq!(reply.body.len(), 3_000_000);
    client.send_raw(b"HEAD /?body=10 HTTP/1.1\r\nHost: test\r\n\r\n");
    let head = client.read_response(true).expect("a HEAD response");
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some("10"))
    );
    assert_eq!(
        client.get("/?body=3").body,
        b"012",
        "the connection goes on after HEAD"
    );
    assert_eq!(origin.stats().accepted, 1, "all on one connection");
}

#[test]
fn http_2_end_to_end_multiplexes_on_one_server_connection() {
    let Some(h2load_path) = tool("h2load", "nghttp2-client") else {
        return;
    };
    let origin = h2c_origin(0);
    let proxy = h2_proxy("always", "", origin.addr());
    let addr = frontend_addr(&proxy);
    let report = h2load(
        &h2load_path,
        &["-n", "4000", "-c", "4", "-m", "20"],
        &format!("http://{addr}/?body=200"),
    );
    assert_eq!(h2load_status_codes(&report), [4000, 0, 0, 0], "{report}");
    let stats = origin.stats();
    assert_eq!(stats.requests, 4000);
    // 80 streams in flight fit the origin's 256 concurrent streams on one connection.
    assert!(stats.accepted <= 2, "{} server connections", stats.accepted);
}

#[test]
fn max_reuse_counts_streams() {
    let origin = h2c_origin(0);
    let proxy = h2_proxy("always", "max_reuse = 10", origin.addr());
    let addr = frontend_addr(&proxy);
    let mut client = Client::connect(addr);
    for _ in 0..100 {
        assert_eq!(client.get("/").status, 200);
    }
    // As HAProxy's `max-reuse` on HTTP/2: the first stream and 10 reuses, 11 per connection.
    let stats = origin.stats();
    assert_eq!(stats.accepted, 10, "{:?}", stats.conns);
    assert!(
        stats.conns.values().all(|&streams| streams <= 11),
        "{:?}",
        stats.conns
    );
}

#[test]
fn streams_refused_by_a_goaway_go_again_on_a_new_connection() {
    let Some(h2load_path) = tool("h2load", "nghttp2-client") else {
        return;
    };
    // The origin ends each connection with GOAWAY after 25 streams: streams sent past it are
    // refused unprocessed and must be sent again, never answered with an error.
    let origin = h2c_origin(25);
    let proxy = h2_proxy("always", "", origin.addr());
    let addr = frontend_addr(&proxy);
    let report = h2load(
        &h2load_path,
        &["--h1", "-n", "2000", "-c", "20", "-m", "1"],
        &format!("http://{addr}/"),
    );
    assert_eq!(h2load_status_codes(&report), [2000, 0, 0, 0], "{report}");
    let stats = origin.stats();
    assert_eq!(stats.requests, 2000);
    // Streams already sent when the GOAWAY comes still complete: a connection serves 25
    // plus at most the 20 in flight, so at least 2000 / 45 connections.
    assert!(
        stats.accepted >= 2000 / 45,
        "{} connections",
        stats.accepted
    );
}

#[test]
fn maxconn_counts_streams_not_connections() {
    let origin = h2c_origin(0);
    let proxy = h2_proxy("always", "maxconn = 3", origin.addr());
    let addr = frontend_addr(&proxy);
    let slow: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut client = Client::connect(addr);
                client.get("/?delay=300").status
            })
        })
        .collect();
    for handle in slow {
        assert_eq!(handle.join().unwrap(), 200);
    }
    assert_eq!(
        stat_num(&proxy, "app", "s1", "smax"),
        3,
        "three streams at most"
    );
    assert_eq!(origin.stats().accepted, 1, "one connection carried them");
}

#[test]
fn a_dead_h2_server_gets_503_and_the_client_connection_goes_on() {
    let proxy = h2_proxy("always", "", dead_addr());
    let addr = frontend_addr(&proxy);
    let reply = get(addr, "/");
    assert_eq!(reply.status, 503);
    assert_eq!(stat_num(&proxy, "app", "s1", "econ"), 1);
}

#[test]
fn an_h2_server_over_tls_is_reached_by_alpn() {
    // The TLS HTTP/2 server is a second ringway: a TLS frontend (ALPN h2 first) before the
    // HTTP/1.1 origin, logging which protocol each request came in.
    let origin = origin();
    let log = support::TempPath::new("h2-tls-server.log");
    let server = tls_h2_server(origin.addr(), &format!("access_log = {}", log.toml()));
    let proxy = h2_proxy("always", &server.server_tls, frontend_addr(&server.proxy));
    let mut client = Client::connect(frontend_addr(&proxy));
    for _ in 0..3 {
        let reply = client.get("/?body=8");
        assert_eq!((reply.status, reply.body.len()), (200, 8));
    }
    let mut lines = Vec::new();
    wait_until("the TLS server's log lines", || {
        lines = std::fs::read_to_string(log.path())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        lines.len() >= 3
    });
    for line in &lines {
        assert!(line.contains("HTTP/2.0\""), "{line}");
        assert!(line.ends_with(" proto=h2/h1"), "{line}");
    }
    let conns = proxy.command("show servers conn verbose");
    assert!(
        conns.contains(" h2_conns=1 "),
        "one TLS connection: {conns}"
    );
}

#[test]
fn idle_h2_connections_close_after_the_purge_delay_or_past_pool_max_conn() {
    let origin = h2c_origin(0);
    let proxy = h2_proxy("always", "pool_purge_delay = \"300ms\"", origin.addr());
    let mut client = Client::connect(frontend_addr(&proxy));
    assert_eq!(client.get("/").status, 200);
    assert_eq!(origin.open_connections(), 1);
    wait_until("the idle HTTP/2 connection to close", || {
        origin.open_connections() == 0
    });
    let conns = proxy.command("show servers conn verbose");
    assert!(conns.contains(" h2_conns=0 "), "{conns}");

    // pool_max_conn = 0: no idle connection is kept, each closes with its last stream.
    let origin = h2c_origin(0);
    let proxy = h2_proxy("always", "pool_max_conn = 0", origin.addr());
    let mut client = Client::connect(frontend_addr(&proxy));
    for _ in 0..3 {
        assert_eq!(client.get("/").status, 200);
    }
    wait_until("each connection to close", || {
        origin.open_connections() == 0
    });
    assert_eq!(origin.stats().accepted, 3);
}

#[test]
fn closing_clients_in_safe_mode_do_not_pile_up_idle_connections() {
    // Each closing client's only request is its first: in `safe` it gets a connection of its
    // own, which is shared once the request ends but which no later first request may take.
    // Idle ones beyond the recent need close (HAProxy keeps used + idle within est_need).
    let origin = h2c_origin(0);
    let proxy = h2_proxy("safe", "", origin.addr());
    let addr = frontend_addr(&proxy);
    let clients: Vec<_> = (0..10)
        .map(|_| {
            std::thread::spawn(move || {
                (0..30)
                    .map(|_| support::http(addr, "GET", "/").status)
                    .filter(|&status| status == 200)
                    .count()
            })
        })
        .collect();
    let served: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(served, 300);
    let stats = origin.stats();
    assert_eq!(
        stats.accepted, 300,
        "one connection per first request, as HAProxy's safe"
    );
    // Without the bound every one stays open (300). Closing the extra ones is the idle
    // watch's work, which a loaded machine delays: 53 were seen at once there.
    assert!(
        stats.open_max <= 100,
        "{} server connections open at once for 10 clients",
        stats.open_max
    );
}
