//! The test origin over real sockets on 127.0.0.1: connection ids and
//! counters, stats, pipelining, request bodies, persistence rules, hooks.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{origin, origin_with, wait_for, Client};
use ringway_load::{origin_body, OriginConfig, OriginStats};

#[test]
fn connection_ids_and_request_counters() {
    let origin = origin();
    let mut a = Client::connect(origin.addr());
    let mut b = Client::connect(origin.addr());
    let a1 = a.get("/one");
    let a2 = a.get("/two");
    let b1 = b.get("/three");
    let a3 = a.get("/four");
    assert_eq!(a1.status, 200);
    assert_eq!(a1.body, b"");
    assert_eq!((a1.conn_req(), a2.conn_req(), a3.conn_req()), (1, 2, 3));
    assert_eq!(a1.conn_id(), a2.conn_id());
    assert_eq!(a1.conn_id(), a3.conn_id());
    assert_eq!(b1.conn_req(), 1);
    assert_ne!(a1.conn_id(), b1.conn_id());
    assert_eq!(a1.req_body(), 0);

    let stats = origin.stats();
    assert_eq!(stats.accepted, 2);
    assert_eq!(stats.requests, 4);
    assert_eq!(
        stats.conns,
        BTreeMap::from([(a1.conn_id(), 3), (b1.conn_id(), 1)])
    );
}

#[test]
fn ids_are_unique_across_threads_and_origins() {
    let first = origin_with(OriginConfig {
        threads: 2,
        ..OriginConfig::default()
    });
    let second = origin();
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(Client::connect(first.addr()).get("/").conn_id());
        ids.push(Client::connect(second.addr()).get("/").conn_id());
    }
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    // Counters are summed over both threads of the first origin.
    assert_eq!(first.stats().accepted, 6);
    assert_eq!(first.stats().requests, 6);
    assert_eq!(first.stats().conns.len(), 6);
}

#[test]
fn stats_json_and_reset() {
    let origin = origin();
    let mut c = Client::connect(origin.addr());
    let r1 = c.get("/a");
    c.get("/b");
    let resp = c.get("/__origin/stats");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let stats: OriginStats = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.requests, 2);
    assert_eq!(stats.conns, BTreeMap::from([(r1.conn_id(), 2)]));
    // The stats request itself was not counted.
    assert_eq!(origin.stats(), stats);
    // The raw JSON uses string keys for connection ids.
    let raw: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(raw["conns"][r1.conn_id().to_string()], 2);

    assert_eq!((stats.open, stats.open_max), (1, 1));

    let reset = c.get("/__origin/reset");
    assert_eq!(reset.status, 200);
    // A reset keeps the open connection, and the peak starts from it.
    let expected = OriginStats {
        open: 1,
        open_max: 1,
        ..OriginStats::default()
    };
    assert_eq!(origin.stats(), expected);
    c.get("/c");
    let after = origin.stats();
    assert_eq!(after.requests, 1);
    assert_eq!(after.conns, BTreeMap::from([(r1.conn_id(), 1)]));
    // The connection's own counter is not reset: it counts every request.
    assert_eq!(c.get("/d").conn_req(), 6);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let origin = origin();
    let mut c = Client::connect(origin.addr());
    c.send(
        b"GET /?body=3 HTTP/1.1\r\nHost: t\r\n\r\n\
          POST /?body=70 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello\
          GET /?body=1&delay=20 HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /?chunked=1&body=10 HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /?body=0 HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let expected = [(3, 0), (70, 5), (1, 0), (10, 0), (0, 0)];
    let mut id = None;
    for (i, (len, req_body)) in expected.into_iter().enumerate() {
        let r = c.response();
        assert_eq!(r.conn_req(), i as u64 + 1);
        assert_eq!(r.body, origin_body(len), "response {i}");
        assert_eq!(r.req_body(), req_body);
        assert_eq!(*id.get_or_insert(r.conn_id()), r.conn_id());
    }
    assert_eq!(origin.stats().requests, 5);
}

#[test]
fn request_bodies_by_length_and_chunked() {
    let origin = origin();
    let mut c = Client::connect(origin.addr());
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world");
    assert_eq!(c.response().req_body(), 11);

    // Chunked with an extension and trailers, sent in awkward pieces.
    let body: &[&[u8]] = &[
        b"POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r",
        b"\nWiki\r\n5;name=val",
        b"ue\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nx-sum: 1\r\nx-more: ",
        b"2\r\n\r\n",
    ];
    for piece in body {
        c.send(piece);
    }
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.req_body(), 4 + 5 + 14);
    // Framing was consumed exactly: the connection goes on.
    let next = c.get("/after");
    assert_eq!(next.conn_req(), 3);
    assert_eq!(next.req_body(), 0);
}

#[test]
fn length_and_chunked_together_is_served_then_closed() {
    let origin = origin();
    let mut c = Client::connect(origin.addr());
    c.send(
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\
          Content-Length: 100\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    let r = c.response();
    assert_eq!(r.req_body(), 3);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed_without_data());
}

#[test]
fn malformed_chunked_body_is_rejected_with_close() {
    let origin = origin();
    let mut c = Client::connect(origin.addr());
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    let r = c.response();
    assert_eq!(r.status, 400);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed_without_data());
}

#[test]
fn malformed_head_is_rejected_with_close() {
    let origin = origin();
    let mut c = Client::connect(origin.addr());
    c.send(b"NOT HTTP AT ALL\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 400);
    assert!(c.closed_without_data());
}

#[test]
fn http_1_0_closes_unless_keep_alive() {
    let origin = origin();
    let mut c = Client::connect(origin.addr());
    c.send(b"GET /?body=4 HTTP/1.0\r\n\r\n");
    let r = c.response();
    assert_eq!(r.body, origin_body(4));
    assert!(c.closed_without_data());

    let mut k = Client::connect(origin.addr());
    k.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = k.response();
    assert_eq!(r.header("connection"), Some("keep-alive"));
    k.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(k.response().conn_req(), 2);
}

#[test]
fn connection_close_is_honoured() {
    let origin = origin();
    let mut c = Client::connect(origin.addr());
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let r = c.response();
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed_without_data());
}

#[test]
fn head_requests_get_length_without_body() {
    let origin = origin_with(OriginConfig {
        body_size: 100,
        ..OriginConfig::default()
    });
    let mut c = Client::connect(origin.addr());
    c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response_to(true);
    assert_eq!(r.header("content-length"), Some("100"));
    // The next response starts right after the head: nothing else was sent.
    let next = c.get("/");
    assert_eq!(next.body, origin_body(100));
}

#[test]
fn expect_continue_gets_interim_response() {
    let origin = origin();
    let mut c = Client::connect(origin.addr());
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!(c.read_exact(25), b"HTTP/1.1 100 Continue\r\n\r\n");
    c.send(b"abc");
    assert_eq!(c.response().req_body(), 3);
}

#[test]
fn hook_status_and_www_authenticate() {
    let origin = origin();
    let mut c = Client::connect(origin.addr());
    let r = c.get("/x?status=401&www-auth=Basic+realm%3D%22ringway%22");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"ringway\"")
    );
    let r = c.get("/x?status=503&body=5");
    assert_eq!(r.status, 503);
    assert_eq!(r.body, origin_body(5));
    let r = c.get("/x?status=204&body=5");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("content-length"), None);
    // A bad hook value is a 400 on a connection that stays usable.
    let r = c.get("/x?status=abc");
    assert_eq!(r.status, 400);
    assert_eq!(c.get("/x").status, 200);
}

#[test]
fn hook_chunked_sends_trailer() {
    let origin = origin();
    let mut c = Client::connect(origin.addr());
    for len in [0, 5, 8192, 20000] {
        let r = c.get(&format!("/?chunked=1&body={len}"));
        assert!(r.chunked);
        assert_eq!(r.header("content-length"), None);
        assert_eq!(r.body, origin_body(len));
        assert_eq!(r.trailers, vec![("x-trailer".to_string(), "1".to_string())]);
    }
}

#[test]
fn hook_body_overrides_default_size() {
    let origin = origin_with(OriginConfig {
        body_size: 10,
        ..OriginConfig::default()
    });
    let mut c = Client::connect(origin.addr());
    assert_eq!(c.get("/").body, origin_body(10));
    assert_eq!(c.get("/?body=300000").body, origin_body(300_000));
    assert_eq!(c.get("/?body=0").body, b"");
}

#[test]
fn hook_delay_and_default_delay() {
    let origin = origin();
    let mut c = Client::connect(origin.addr());
    let t = Instant::now();
    c.get("/?delay=150");
    assert!(t.elapsed() >= Duration::from_millis(150));

    let slow = origin_with(OriginConfig {
        delay: Duration::from_millis(100),
        ..OriginConfig::default()
    });
    let mut c = Client::connect(slow.addr());
    let t = Instant::now();
    c.get("/");
    assert!(t.elapsed() >= Duration::from_millis(100));
    let t = Instant::now();
    c.get("/?delay=0");
    assert!(t.elapsed() < Duration::from_millis(100));
}

#[test]
fn hook_close() {
    let origin = origin();
    let mut c = Client::connect(origin.addr());
    let r = c.get("/?close=1&body=3");
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.body, origin_body(3));
    assert!(c.closed_without_data());
}

#[test]
fn hook_noresponse_closes_silently() {
    let origin = origin();
    let mut c = Client::connect(origin.addr());
    let first = c.get("/");
    c.send(b"GET /?noresponse=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(c.closed_without_data());
    // The request was received and counted.
    assert_eq!(origin.stats().conns[&first.conn_id()], 2);
}

#[test]
fn hook_echo_returns_request_head() {
    let origin = origin();
    let mut c = Client::connect(origin.addr());
    let head =
        b"POST /echo?echo=1 HTTP/1.1\r\nHost: t\r\nX-Custom: yes\r\nContent-Length: 4\r\n\r\n";
    c.send(head);
    c.send(b"body");
    let r = c.response();
    assert_eq!(r.body, head);
    assert_eq!(r.req_body(), 4);
    let r = c.get("/?echo=1&chunked=1");
    assert_eq!(
        r.body,
        b"GET /?echo=1&chunked=1 HTTP/1.1\r\nHost: t\r\n\r\n"
    );
}

#[test]
fn hook_until_close_has_no_length() {
    let origin = origin();
    let mut c = Client::connect(origin.addr());
    let r = c.get("/?until-close=1&body=1000");
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.body, origin_body(1000));
}

#[test]
fn hook_bad_sends_garbage() {
    let origin = origin();
    let mut c = Client::connect(origin.addr());
    c.send(b"GET /?bad=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_to_close(), b"garbage\r\n\r\n");
}

#[test]
fn idle_connections_close_after_keepalive_timeout() {
    let origin = origin_with(OriginConfig {
        keepalive_timeout: Duration::from_millis(200),
        ..OriginConfig::default()
    });
    let mut c = Client::connect(origin.addr());
    c.get("/");
    let t = Instant::now();
    assert!(c.closed_without_data());
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn max_requests_per_connection() {
    let origin = origin_with(OriginConfig {
        max_requests_per_conn: 2,
        ..OriginConfig::default()
    });
    let mut c = Client::connect(origin.addr());
    let r1 = c.get("/");
    assert_eq!(r1.header("connection"), None);
    let r2 = c.get("/");
    assert_eq!(r2.header("connection"), Some("close"));
    assert!(c.closed_without_data());
}

#[test]
fn stop_closes_open_connections() {
    let origin = origin_with(OriginConfig {
        threads: 2,
        ..OriginConfig::default()
    });
    let mut c = Client::connect(origin.addr());
    c.get("/");
    origin.stop();
    assert!(c.closed_without_data());
}

#[test]
fn open_connections_are_tracked() {
    let origin = origin();
    let mut a = Client::connect(origin.addr());
    let mut b = Client::connect(origin.addr());
    a.get("/");
    b.get("/");
    assert_eq!(origin.open_connections(), 2);
    assert_eq!(origin.stats().open_max, 2);
    drop(a);
    wait_for("one connection to close", || origin.open_connections() == 1);
    // Reset zeroes the counters but not the open connections.
    origin.reset_stats();
    assert_eq!(origin.open_connections(), 1);
    assert_eq!(origin.stats().open_max, 1);
    assert_eq!(b.get("/").conn_req(), 2);
}

#[test]
fn peak_ignores_connections_that_only_read_stats() {
    let origin = origin();
    let mut a = Client::connect(origin.addr());
    a.get("/");
    let mut control = Client::connect(origin.addr());
    control.get("/__origin/reset");
    let stats: OriginStats = serde_json::from_slice(&control.get("/__origin/stats").body).unwrap();
    assert_eq!((stats.open, stats.open_max), (2, 1));
    let mut b = Client::connect(origin.addr());
    b.get("/");
    assert_eq!(origin.stats().open_max, 2);
    drop(b);
    wait_for("b to close", || origin.open_connections() == 2);
    assert_eq!(origin.stats().open_max, 2);
    origin.reset_stats();
    assert_eq!(origin.stats().open_max, 1);
}

#[test]
fn large_heads_are_accepted_up_to_64_kib() {
    let origin = origin();
    let mut c = Client::connect(origin.addr());
    let big = "a".repeat(30_000);
    c.send(format!("GET /?echo=1 HTTP/1.1\r\nHost: t\r\nX-Big: {big}\r\n\r\n").as_bytes());
    let r = c.response();
    assert_eq!(r.status, 200);
    assert!(r.body.len() > 30_000);

    let huge = "a".repeat(70_000);
    c.send(format!("GET / HTTP/1.1\r\nHost: t\r\nX-Huge: {huge}\r\n\r\n").as_bytes());
    let r = c.response();
    assert_eq!(r.status, 431);
    assert_eq!(r.header("connection"), Some("close"));
}
