//! Error paths end to end: every failure gets its status (400, 408, 431, 502, 503, 504) or a
//! silent close where HTTP says so, the counters HAProxy users read move as HAProxy moves them,
//! and the next client is served normally afterwards.

mod common;

use std::net::SocketAddr;

use common::*;

/// The proxy still serves a plain GET on a new connection.
fn assert_serves(addr: SocketAddr) {
    let response = get(addr, "/");
    assert_eq!(response.status, 200, "the next client is served");
}

/// Sends `request` on a new connection; returns the answer and whether the proxy then closed.
fn answer(addr: SocketAddr, request: &[u8]) -> (Response, bool) {
    let mut client = Client::connect(addr);
    client.try_send_raw(request);
    let response = client.read_response(false).expect("an answer");
    (response, client.closed())
}

#[test]
fn malformed_request_gets_400_and_a_close() {
    let origin = origin();
    let proxy = proxy("", &one_server("safe", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    let (response, closed) = answer(addr, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
    assert_eq!(response.status, 400);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(closed, "the proxy closes after a 400");
    assert_eq!(stat_num(&proxy, "web", "FRONTEND", "ereq"), 1);
    assert_eq!(stat_num(&proxy, "web", "FRONTEND", "hrsp_4xx"), 1);
    assert_eq!(origin.stats().accepted, 0, "nothing reached the server");
    assert_serves(addr);
}

/// A request head of about `size` bytes in header fields of 4 KiB.
fn big_head(size: usize) -> Vec<u8> {
    let mut head = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    let mut index = 0;
    while head.len() < size {
        head.extend_from_slice(format!("X-Fill-{index}: ").as_bytes());
        head.extend_from_slice(&[b'a'; 4096]);
        head.extend_from_slice(b"\r\n");
        index += 1;
    }
    head.extend_from_slice(b"\r\n");
    head
}

#[test]
fn oversized_head_gets_431() {
    let origin = origin();
    let proxy = proxy("", &one_server("safe", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    let (response, closed) = answer(addr, &big_head(70 * 1024));
    assert_eq!(response.status, 431);
    assert!(closed);
    assert_eq!(stat_num(&proxy, "web", "FRONTEND", "ereq"), 1);
    assert_serves(addr);
    // Just under the limit is fine.
    let response = raw(addr, &big_head(60 * 1024)).expect("a response");
    assert_eq!(response.status, 200);
}

#[test]
fn configured_head_limit_gets_431() {
    let origin = origin();
    let proxy = proxy(
        "max_request_head = 2048",
        &one_server("safe", ""),
        origin.addr(),
    );
    let addr = frontend_addr(&proxy);
    let mut head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Fill: ".to_vec();
    head.extend_from_slice(&[b'a'; 3 * 1024]);
    head.extend_from_slice(b"\r\n\r\n");
    let (response, closed) = answer(addr, &head);
    assert_eq!(response.status, 431);
    assert!(closed);
    assert_eq!(origin.stats().accepted, 0);
    assert_serves(addr);
}

#[test]
fn ambiguous_framing_gets_400() {
    let origin = origin();
    let proxy = proxy("", &one_server("safe", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    let requests: [&[u8]; 4] = [
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n0\r\n\r\n",
    ];
    for (index, request) in requests.iter().enumerate() {
        let (response, closed) = answer(addr, request);
        assert_eq!(response.status, 400, "request {index}");
        assert!(closed, "request {index}: closed after the 400");
        assert_eq!(
            stat_num(&proxy, "web", "FRONTEND", "ereq"),
            index as u64 + 1,
            "request {index}: ereq"
        );
    }
    assert_eq!(
        origin.stats().requests,
        0,
        "no request was served by the origin"
    );
    assert_eq!(
        stat_num(&proxy, "app", "s1", "eresp"),
        0,
        "a client error is not a server error"
    );
    assert_serves(addr);
}

/// A backend of one server at `address` with `retries` and a short connect timeout (which is
/// also the pause between attempts).
fn dead_backend(retries: u32) -> String {
    format!(
        "retries = {retries}\ntimeout_connect = \"100ms\"\n{}",
        one_server("safe", "")
    )
}

#[test]
fn dead_server_gets_503_without_retries() {
    let proxy = proxy("", &dead_backend(0), dead_addr());
    let addr = frontend_addr(&proxy);
    let (response, closed) = answer(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(response.status, 503);
    assert!(closed);
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 1);
    assert_eq!(stat_num(&proxy, "app", "s1", "econ"), 1);
    assert_eq!(stat_num(&proxy, "app", "s1", "wretr"), 0);
    assert_eq!(get(addr, "/").status, 503, "the next client too");
    assert_eq!(stat_num(&proxy, "app", "s1", "econ"), 2);
}

#[test]
fn dead_server_gets_503_after_its_retry() {
    let proxy = proxy("", &dead_backend(1), dead_addr());
    let addr = frontend_addr(&proxy);
    assert_eq!(get(addr, "/").status, 503);
    // HAProxy counts every attempt in connect, retries in wretr, and one connection error per
    // request that gave up connecting in econ.
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 2);
    assert_eq!(stat_num(&proxy, "app", "s1", "econ"), 1);
    assert_eq!(stat_num(&proxy, "app", "s1", "wretr"), 1);
    assert_eq!(stat_num(&proxy, "web", "FRONTEND", "hrsp_5xx"), 1);
    assert_eq!(get(addr, "/").status, 503);
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 4);
    assert_eq!(stat_num(&proxy, "app", "s1", "econ"), 2);
}

#[test]
fn roundrobin_skips_to_the_live_server_on_the_next_request() {
    let origin = origin();
    let dead = dead_addr();
    let backend = format!(
        "retries = 0\nbalance = \"roundrobin\"\n\
         [[backend.server]]\nname = \"dead\"\naddress = \"{dead}\"\n\
         [[backend.server]]\nname = \"live\"\naddress = \"{{origin}}\"\n"
    );
    let proxy = proxy("", &backend, origin.addr());
    let addr = frontend_addr(&proxy);
    assert_eq!(get(addr, "/").status, 503, "the dead server first");
    assert_eq!(get(addr, "/").status, 200, "then the live one");
    assert_eq!(stat_num(&proxy, "app", "dead", "econ"), 1);
    assert_eq!(stat_num(&proxy, "app", "live", "stot"), 1);
}

#[test]
fn invalid_or_missing_response_gets_502() {
    let origin = origin();
    let proxy = proxy("", &one_server("safe", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    let bad = get(addr, "/?bad=1");
    assert_eq!(bad.status, 502);
    let nothing = get(addr, "/?noresponse=1");
    assert_eq!(nothing.status, 502, "a fresh connection closed: no retry");
    assert_eq!(stat_num(&proxy, "app", "s1", "eresp"), 2);
    assert_eq!(
        stat_num(&proxy, "app", "s1", "connect"),
        2,
        "the empty response was not sent again"
    );
    assert_serves(addr);
}

#[test]
fn slow_server_gets_504() {
    let origin = origin();
    let backend = format!("timeout_server = \"200ms\"\n{}", one_server("safe", ""));
    let proxy = proxy("", &backend, origin.addr());
    let addr = frontend_addr(&proxy);
    assert_eq!(get(addr, "/?delay=5000").status, 504);
    assert_eq!(stat_num(&proxy, "app", "s1", "eresp"), 1);
    assert_serves(addr);
}

#[test]
fn slow_client_gets_408() {
    let origin = origin();
    let proxy = proxy_with_defaults(
        "",
        "timeout_http_request = \"200ms\"",
        &one_server("safe", ""),
        origin.addr(),
    );
    let addr = frontend_addr(&proxy);
    let mut client = Client::connect(addr);
    client.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n");
    let response = client.read_response(false).expect("an answer");
    assert_eq!(response.status, 408);
    assert!(client.closed());
    assert_eq!(origin.stats().accepted, 0);
    assert_serves(addr);
}

#[test]
fn idle_keep_alive_client_is_closed_silently() {
    let origin = origin();
    let proxy = proxy_with_defaults(
        "",
        "timeout_http_keep_alive = \"200ms\"",
        &one_server("safe", ""),
        origin.addr(),
    );
    let addr = frontend_addr(&proxy);
    let mut client = Client::connect(addr);
    assert_eq!(client.get("/").status, 200);
    assert!(client.closed(), "closed without a response");
    assert_eq!(stat_num(&proxy, "web", "FRONTEND", "hrsp_4xx"), 0);
    assert_serves(addr);
}

/// The value of one `closed=` reason of server `s1` (`show servers conn verbose`).
fn closed_as(proxy: &ringway::Proxy, reason: &str) -> u64 {
    let reply = proxy.command("show servers conn verbose app");
    let line = reply.lines().nth(1).expect("server line").to_owned();
    line.split(' ')
        .find_map(|part| part.strip_prefix("closed="))
        .and_then(|list| {
            list.split(',')
                .find_map(|pair| pair.strip_prefix(&format!("{reason}:")))
        })
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no closed={reason}: in {line}"))
}

#[test]
fn a_connection_the_server_closes_while_idle_is_closed_at_once_and_never_used() {
    let origin = origin();
    let proxy = proxy("", &one_server("always", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    // The origin closes right after this response: the idle watch sees its FIN.
    let first = get(addr, "/?close-after=1");
    assert_eq!(first.status, 200);
    assert_eq!(first.header("connection"), None, "it looked reusable");
    wait_until("the closed idle connection to be dropped", || {
        closed_as(&proxy, "server_close") == 1
    });
    assert_eq!(stat_num(&proxy, "app", "s1", "idle_conn_cur"), 0);
    let post = raw(
        addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    )
    .expect("a response");
    assert_eq!(post.status, 200, "a POST goes on a new connection, once");
    assert_eq!(post.origin_conn_req(), 1);
    assert_eq!(stat_num(&proxy, "app", "s1", "reuse"), 0);
    assert_eq!(stat_num(&proxy, "app", "s1", "wretr"), 0);
    assert_eq!(origin.stats().requests, 2);
}

/// A pooled connection whose next request the origin reads and then closes without an answer
/// (`noresponse`): the server may have acted on it.
fn proxy_with_a_pooled_connection(origin: &ringway_load::Origin) -> ringway::Proxy {
    let proxy = proxy("", &one_server("always", ""), origin.addr());
    assert_eq!(get(frontend_addr(&proxy), "/").status, 200);
    wait_until("the connection is pooled", || {
        stat_num(&proxy, "app", "s1", "idle_conn_cur") == 1
    });
    proxy
}

#[test]
fn an_idempotent_request_is_sent_once_more_when_a_reused_connection_fails() {
    let origin = origin();
    let proxy = proxy_with_a_pooled_connection(&origin);
    let addr = frontend_addr(&proxy);
    let (response, _) = answer(
        addr,
        b"PUT /?noresponse=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert_eq!(
        response.status, 502,
        "the second attempt, on a new connection, failed too"
    );
    assert_eq!(stat_num(&proxy, "app", "s1", "wretr"), 1, "re-sent once");
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 2);
    assert_eq!(stat_num(&proxy, "app", "s1", "reuse"), 1);
    assert_eq!(
        origin.stats().requests,
        3,
        "the first GET and the PUT twice"
    );
}

#[test]
fn a_post_the_server_may_have_received_is_not_sent_again() {
    let origin = origin();
    let proxy = proxy_with_a_pooled_connection(&origin);
    let addr = frontend_addr(&proxy);
    let (response, closed) = answer(
        addr,
        b"POST /?noresponse=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(
        response.status, 502,
        "a POST the server read is not replayed"
    );
    assert!(closed);
    assert_eq!(stat_num(&proxy, "app", "s1", "wretr"), 0);
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 1);
    assert_eq!(
        origin.stats().requests,
        2,
        "the POST reached the origin once"
    );
    let next = get(addr, "/");
    assert_eq!(next.status, 200);
    assert_eq!(
        next.origin_conn_req(),
        1,
        "the failed connection was dropped"
    );
}

#[test]
fn a_post_with_an_idempotency_key_is_sent_once_more() {
    let origin = origin();
    let proxy = proxy_with_a_pooled_connection(&origin);
    let addr = frontend_addr(&proxy);
    let (response, _) = answer(
        addr,
        b"POST /?noresponse=1 HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a1\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(response.status, 502, "the second attempt failed too");
    assert_eq!(stat_num(&proxy, "app", "s1", "wretr"), 1, "re-sent once");
    assert_eq!(
        origin.stats().requests,
        3,
        "the first GET and the POST twice"
    );
}

/// Request-shaped inputs with random damage, and plain noise.
fn random_input(rng: &mut fastrand::Rng) -> Vec<u8> {
    const TEMPLATES: [&[u8]; 8] = [
        b"GET /?body=10 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nt: 1\r\n\r\n",
        b"HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        b"GET /?echo=1 HTTP/1.1\r\nHost: x\r\nConnection: close, X-A\r\nX-A: 1\r\nTE: trailers\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /?chunked=1 HTTP/1.1\r\nHost: y\r\n\r\n",
    ];
    const PIECES: [&[u8]; 14] = [
        b"\r\n",
        b"\n",
        b"\r",
        b":",
        b" ",
        b"\t",
        b"\0",
        b"Content-Length: 99999999999999999999\r\n",
        b"Transfer-Encoding: chunked, chunked\r\n",
        b"ffffffffffffffffff\r\n",
        b"HTTP/9.9",
        b"CONNECT",
        b"\xff\xfe",
        b"Host: a\r\nHost: b\r\n",
    ];
    let template = TEMPLATES[rng.usize(..TEMPLATES.len())];
    let head_end = template
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |at| at + 4);
    match rng.u8(0..4) {
        // Noise.
        0 => (0..rng.usize(0..512)).map(|_| rng.u8(..)).collect(),
        // A sound head followed by noise.
        1 => {
            let mut bytes = template[..head_end].to_vec();
            bytes.extend((0..rng.usize(0..256)).map(|_| rng.u8(..)));
            bytes
        }
        // Damage anywhere (2), or only past the first head, in bodies and later requests (3).
        mode => {
            let mut bytes = template.to_vec();
            let from = if mode == 3 { head_end } else { 0 };
            for _ in 0..rng.usize(1..4) {
                let at = rng.usize(from.min(bytes.len())..=bytes.len());
                match rng.u8(0..4) {
                    0 if at < bytes.len() => bytes[at] = rng.u8(..),
                    1 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    3 if rng.bool() => bytes.truncate(at),
                    _ => {
                        let piece = PIECES[rng.usize(..PIECES.len())];
                        bytes.splice(at..at, piece.iter().copied());
                    }
                }
            }
            bytes
        }
    }
}

#[test]
fn nothing_a_client_sends_crashes_a_shard() {
    let origin = origin();
    let proxy = proxy_with_defaults(
        "",
        "timeout_http_request = \"200ms\"\ntimeout_http_keep_alive = \"200ms\"\n\
         timeout_server = \"300ms\"\ntimeout_client = \"1s\"\ntimeout_tunnel = \"300ms\"",
        &one_server("safe", ""),
        origin.addr(),
    );
    let addr = frontend_addr(&proxy);
    let mut rng = fastrand::Rng::with_seed(0x72_696e_6777_6179);
    for case in 0..200 {
        let input = random_input(&mut rng);
        let mut client = Client::connect(addr);
        client.try_send_raw(&input);
        client.shutdown_write();
        client.read_all();
        assert!(
            client.closed(),
            "case {case}: the proxy closed the connection ({:?})",
            String::from_utf8_lossy(&input)
        );
    }
    assert_serves(addr);
    wait_until("every session ended", || {
        stat_num(&proxy, "web", "FRONTEND", "scur") == 0
    });
    assert_eq!(stat_num(&proxy, "web", "FRONTEND", "conn_tot"), 201);
}
