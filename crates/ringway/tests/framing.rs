//! Message framing and the client connection's life end to end: request bodies (chunked with
//! extensions and trailers, by length in any split), bodiless responses, 100-continue, HTTP/1.0,
//! pipelining, hop-by-hop fields, until-close bodies, routing and balancing, and graceful stop.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::thread;

use common::*;
use ringway_load::{origin_body, Origin};

fn request_body_bytes(response: &Response) -> u64 {
    response
        .header("x-origin-req-body")
        .and_then(|value| value.parse().ok())
        .expect("x-origin-req-body")
}

fn one_origin() -> (Origin, ringway::Proxy, SocketAddr) {
    let origin = origin();
    let proxy = proxy("", &one_server("safe", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    (origin, proxy, addr)
}

#[test]
fn chunked_request_with_extensions_and_trailers() {
    let (origin, _proxy, addr) = one_origin();
    let mut client = Client::connect(addr);
    client.send_raw(
        b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;name=value\r\nhello\r\n\
          6 ; quoted=\"a b\";flag\r\n world\r\n\
          0\r\nx-checksum: 11\r\nx-more: a\r\n\r\n",
    );
    let response = client.read_response(false).expect("a response");
    assert_eq!(response.status, 200);
    assert_eq!(request_body_bytes(&response), 11);
    let next = client.get("/");
    assert_eq!(next.status, 200, "the body ended where the framing says");
    assert_eq!(next.origin_conn(), response.origin_conn());
    assert_eq!(origin.stats().requests, 2);
}

#[test]
fn chunked_response_is_relayed_with_its_trailers() {
    let (_origin, _proxy, addr) = one_origin();
    let mut client = Client::connect(addr);
    let response = client.get("/?chunked=1&body=5000");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert_eq!(response.header("content-length"), None);
    assert_eq!(response.body, origin_body(5000));
    assert_eq!(
        response.trailers,
        [("x-trailer".to_string(), "1".to_string())]
    );
    // Raw: the trailer section arrives as the origin sent it.
    client.send_raw(b"GET /?chunked=1&body=3 HTTP/1.1\r\nHost: x\r\n\r\n");
    let raw = client
        .read_until(b"\r\n0\r\nx-trailer: 1\r\n\r\n")
        .expect("trailers");
    assert!(raw.ends_with(b"3\r\n012\r\n0\r\nx-trailer: 1\r\n\r\n"));
    assert_eq!(client.get("/").status, 200);
}

fn post_with_length(length: usize) -> Vec<u8> {
    let mut request =
        format!("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n").into_bytes();
    request.extend(origin_body(length));
    request
}

#[test]
fn request_body_by_length_one_byte_at_a_time() {
    let (_origin, _proxy, addr) = one_origin();
    let mut client = Client::connect(addr);
    client.stream().set_nodelay(true).unwrap();
    for byte in post_with_length(300) {
        client.stream().write_all(&[byte]).unwrap();
    }
    let response = client.read_response(false).expect("a response");
    assert_eq!(response.status, 200);
    assert_eq!(request_body_bytes(&response), 300);
    assert_eq!(client.get("/").status, 200);
}

#[test]
fn request_body_by_length_in_one_write() {
    let (_origin, proxy, addr) = one_origin();
    let mut client = Client::connect(addr);
    client.send_raw(&post_with_length(100_000));
    let response = client.read_response(false).expect("a response");
    assert_eq!(response.status, 200);
    assert_eq!(request_body_bytes(&response), 100_000);
    assert_eq!(client.get("/").status, 200);
    assert!(stat_num(&proxy, "web", "FRONTEND", "bin") > 100_000);
}

#[test]
fn bodiless_responses_keep_the_connection() {
    let (_origin, _proxy, addr) = one_origin();
    let mut client = Client::connect(addr);
    client.send_raw(b"HEAD /?body=100 HTTP/1.1\r\nHost: x\r\n\r\n");
    let head = client.read_response(true).expect("a response");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("100"));
    let after = client.get("/?body=7");
    assert_eq!(after.body, origin_body(7), "no body bytes after the HEAD");
    // A connection that answered a HEAD is not reused: a server may still send the body its
    // answer announced (pool_safety.rs).
    assert_ne!(after.origin_conn(), head.origin_conn());
    for status in [204u16, 304] {
        let response = client.get(&format!("/?status={status}&body=50"));
        assert_eq!(response.status, status);
        assert!(response.body.is_empty());
        let after = client.get("/?body=9");
        assert_eq!(after.status, 200, "after {status}");
        assert_eq!(after.body, origin_body(9), "after {status}");
        assert_eq!(after.origin_conn(), response.origin_conn());
    }
}

#[test]
fn expect_100_continue() {
    let (_origin, _proxy, addr) = one_origin();
    let mut client = Client::connect(addr);
    client.send_raw(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    let interim = client.read_response(false).expect("100 Continue");
    assert_eq!(interim.status, 100);
    client.send_raw(b"hello");
    let response = client.read_response(false).expect("a response");
    assert_eq!(response.status, 200);
    assert_eq!(request_body_bytes(&response), 5);
    // A client that does not wait: the body goes along, the answer is still right.
    client.send_raw(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
    );
    let mut response = client.read_response(false).expect("a response");
    while response.status == 100 {
        response = client.read_response(false).expect("a response");
    }
    assert_eq!(response.status, 200);
    assert_eq!(request_body_bytes(&response), 5);
    assert_eq!(client.get("/").status, 200);
}

/// A server that answers its first request head with `response` without reading any body, then
/// returns every byte it received until the proxy closed the connection.
fn one_shot_server(response: &'static [u8]) -> (SocketAddr, thread::JoinHandle<Vec<u8>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut received = Vec::new();
        let mut chunk = [0u8; 4096];
        let mut answered = false;
        loop {
            if !answered && received.windows(4).any(|w| w == b"\r\n\r\n") {
                stream.write_all(response).unwrap();
                answered = true;
            }
            match std::io::Read::read(&mut stream, &mut chunk) {
                Ok(0) | Err(_) => return received,
                Ok(read) => received.extend_from_slice(&chunk[..read]),
            }
        }
    });
    (addr, handle)
}

#[test]
fn expect_100_continue_answered_without_the_body() {
    let (server, received) =
        one_shot_server(b"HTTP/1.1 417 Expectation Failed\r\ncontent-length: 0\r\n\r\n");
    let proxy = proxy("", &one_server("safe", ""), server);
    let mut client = Client::connect(frontend_addr(&proxy));
    client.send_raw(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    let response = client.read_response(false).expect("a response");
    assert_eq!(response.status, 417);
    assert_eq!(
        response.header("connection"),
        Some("close"),
        "the body never went: the connection cannot be reused, and the client is told"
    );
    assert!(client.closed());
    let received = received.join().unwrap();
    assert!(
        received.ends_with(b"\r\n\r\n"),
        "only the head reached the server"
    );
    assert_eq!(stat_num(&proxy, "app", "s1", "idle_conn_cur"), 0);
}

#[test]
fn http_1_0_clients() {
    let (_origin, _proxy, addr) = one_origin();
    let mut client = Client::connect(addr);
    client.send_raw(b"GET /?body=4 HTTP/1.0\r\n\r\n");
    let response = client.read_response(false).expect("a response");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, origin_body(4));
    assert_eq!(response.header("connection"), Some("close"));
    assert!(client.closed(), "an HTTP/1.0 connection closes by default");

    let mut client = Client::connect(addr);
    for _ in 0..2 {
        client.send_raw(b"GET /?body=4 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let response = client.read_response(false).expect("a response");
        assert_eq!(response.status, 200);
        assert_eq!(response.header("connection"), Some("keep-alive"));
        assert_eq!(response.body, origin_body(4));
    }
}

#[test]
fn http_1_0_client_gets_a_chunked_response_decoded() {
    let (_origin, proxy, addr) = one_origin();
    for request in [
        &b"GET /?chunked=1&body=20000 HTTP/1.0\r\n\r\n"[..],
        b"GET /?chunked=1&body=20000 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    ] {
        let mut client = Client::connect(addr);
        client.send_raw(request);
        let response = client.read_response(false).expect("a response");
        assert_eq!(response.status, 200);
        assert_eq!(
            response.header("transfer-encoding"),
            None,
            "no chunked coding for HTTP/1.0"
        );
        assert_eq!(response.header("connection"), Some("close"));
        assert_eq!(
            response.body,
            origin_body(20000),
            "decoded, ended by the close"
        );
        assert!(
            stat_num(&proxy, "app", "s1", "idle_conn_cur") >= 1,
            "the server connection stays reusable"
        );
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (_origin, _proxy, addr) = one_origin();
    let mut client = Client::connect(addr);
    client.send_raw(
        b"GET /a?echo=1 HTTP/1.1\r\nHost: x\r\n\r\n\
          POST /b?echo=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
          GET /c?echo=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    for (line, body) in [("GET /a", 0), ("POST /b", 5), ("GET /c", 0)] {
        let response = client.read_response(false).expect("a response");
        assert_eq!(response.status, 200);
        let echoed = String::from_utf8_lossy(&response.body).into_owned();
        assert!(
            echoed.starts_with(&format!("{line}?echo=1 HTTP/1.1\r\n")),
            "expected {line}, got {echoed:?}"
        );
        assert_eq!(request_body_bytes(&response), body, "{line}");
    }
    assert_eq!(client.get("/").status, 200);
}

#[test]
fn hop_by_hop_fields_are_removed_and_x_forwarded_for_added() {
    let (_origin, _proxy, addr) = one_origin();
    let mut client = Client::connect(addr);
    client.send_raw(
        b"GET /?echo=1 HTTP/1.1\r\nHost: x\r\nConnection: close, X-Secret\r\n\
          Keep-Alive: timeout=5\r\nTE: gzip, deflate\r\nProxy-Connection: keep-alive\r\n\
          X-Secret: 1\r\nX-Keep: yes\r\nUser-Agent: t/1\r\n\r\n",
    );
    // TE without `trailers` goes nowhere (`TE: trailers` is passed on: tests/smuggling.rs).
    let response = client.read_response(false).expect("a response");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("connection"), Some("close"));
    let mut fields = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut fields);
    assert!(request.parse(&response.body).unwrap().is_complete());
    let received: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|field| {
            (
                field.name.to_ascii_lowercase(),
                String::from_utf8_lossy(field.value).into_owned(),
            )
        })
        .collect();
    let names: Vec<&str> = received.iter().map(|(name, _)| name.as_str()).collect();
    for gone in [
        "connection",
        "keep-alive",
        "te",
        "proxy-connection",
        "x-secret",
    ] {
        assert!(
            !names.contains(&gone),
            "{gone} reached the server: {names:?}"
        );
    }
    for kept in [
        ("host", "x"),
        ("x-keep", "yes"),
        ("user-agent", "t/1"),
        ("x-forwarded-for", "127.0.0.1"),
    ] {
        assert!(
            received
                .iter()
                .any(|(name, value)| (name.as_str(), value.as_str()) == kept),
            "{kept:?} missing: {received:?}"
        );
    }
    assert!(client.closed(), "Connection: close was honoured");
}

#[test]
fn until_close_body_closes_the_client_connection() {
    let (_origin, proxy, addr) = one_origin();
    let mut client = Client::connect(addr);
    let response = client.get("/?until-close=1&body=1000");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-length"), None);
    assert_eq!(response.header("connection"), Some("close"));
    assert_eq!(response.body, origin_body(1000));
    assert!(client.closed());
    let reply = proxy.command("show servers conn app");
    let fields: Vec<&str> = reply
        .lines()
        .nth(1)
        .expect("a server line")
        .split_whitespace()
        .collect();
    assert_eq!(
        fields[12], "0",
        "idle_cur: the closed connection is not pooled"
    );
    assert_eq!(stat_num(&proxy, "app", "s1", "idle_conn_cur"), 0);
}

/// Two origins behind backend `app`'s two servers (or two backends), with `backend_extra`.
fn two_servers(balance: &str, a: &Origin, b: &Origin) -> ringway::Proxy {
    let backend = format!(
        "balance = \"{balance}\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n\
         [[backend.server]]\nname = \"s2\"\naddress = \"{{origin}}\"\n",
        a.addr()
    );
    proxy("", &backend, b.addr())
}

/// Which of two origins served a response.
fn served_by(response: &Response, a: &Origin, b: &Origin) -> char {
    let id = response.origin_conn();
    match (
        a.stats().conns.contains_key(&id),
        b.stats().conns.contains_key(&id),
    ) {
        (true, false) => 'a',
        (false, true) => 'b',
        other => panic!("connection {id} in {other:?}"),
    }
}

#[test]
fn host_routes_pick_the_backend() {
    let (a, b) = (origin(), origin());
    let text = format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"a\"\n\
         routes = [{{ host = \"b.example\", backend = \"b\" }}]\n\
         [[backend]]\nname = \"a\"\n[[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n\
         [[backend]]\nname = \"b\"\n[[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n",
        a.addr(),
        b.addr()
    );
    let proxy = proxy_from(&text);
    let mut client = Client::connect(frontend_addr(&proxy));
    for (host, expected) in [
        ("b.example", 'b'),
        ("a.example", 'a'),
        ("B.Example:8080", 'b'),
        ("b.example.org", 'a'),
        ("b.example", 'b'),
    ] {
        client.send_raw(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        let response = client.read_response(false).expect("a response");
        assert_eq!(response.status, 200);
        assert_eq!(served_by(&response, &a, &b), expected, "Host: {host}");
    }
    assert_eq!(stat_num(&proxy, "b", "s1", "stot"), 3);
    assert_eq!(stat_num(&proxy, "a", "s1", "stot"), 2);
}

#[test]
fn roundrobin_alternates() {
    let (a, b) = (origin(), origin());
    let proxy = two_servers("roundrobin", &a, &b);
    let addr = frontend_addr(&proxy);
    let order: String = (0..4).map(|_| served_by(&get(addr, "/"), &a, &b)).collect();
    assert_eq!(order, "abab");
    let mut client = Client::connect(addr);
    let order: String = (0..4)
        .map(|_| served_by(&client.get("/"), &a, &b))
        .collect();
    assert_eq!(order, "abab", "per request, not per client connection");
}

#[test]
fn leastconn_avoids_the_busy_server() {
    let (a, b) = (origin(), origin());
    let proxy = two_servers("leastconn", &a, &b);
    let addr = frontend_addr(&proxy);
    let slow = thread::spawn(move || get(addr, "/?delay=500"));
    wait_until("the slow request is on s1", || {
        stat_num(&proxy, "app", "s1", "scur") == 1
    });
    // Round robin would send the second of these to s1.
    for _ in 0..2 {
        assert_eq!(served_by(&get(addr, "/"), &a, &b), 'b');
    }
    let slow = slow.join().unwrap();
    assert_eq!(slow.status, 200);
    assert_eq!(served_by(&slow, &a, &b), 'a');
}

#[test]
fn graceful_stop_finishes_the_request_in_flight() {
    let (_origin, proxy, addr) = one_origin();
    let in_flight = thread::spawn(move || {
        let mut client = Client::connect(addr);
        let response = client.get("/?delay=300&body=10");
        (response, client.closed())
    });
    wait_until("the request is in flight", || {
        stat_num(&proxy, "app", "s1", "scur") == 1
    });
    proxy.stopper().stop();
    let (response, closed) = in_flight.join().unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, origin_body(10));
    assert_eq!(
        response.header("connection"),
        Some("close"),
        "a stopping proxy tells the client it closes"
    );
    assert!(closed);
    proxy.wait();
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the listener is closed"
    );
}
