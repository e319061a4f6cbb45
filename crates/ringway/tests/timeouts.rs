//! The timeouts the other files do not cover: connect, client (request body), queue (server
//! maxconn), each with short values.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::*;

/// A listener whose accept queue is full, so further connection attempts get no answer.
fn black_hole() -> (TcpListener, Vec<TcpStream>, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: re-listening on our own socket only changes its backlog.
    unsafe {
        libc::listen(listener.as_raw_fd(), 0);
    }
    let addr = listener.local_addr().unwrap();
    let fillers: Vec<TcpStream> = (0..4)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok())
        .collect();
    (listener, fillers, addr)
}

#[test]
fn connect_timeout_gives_503() {
    let (_listener, _fillers, addr) = black_hole();
    let backend = format!(
        "timeout_connect = \"200ms\"\nretries = 0\n{}",
        one_server("safe", "")
    );
    let proxy = proxy("", &backend, addr);
    let response = get(frontend_addr(&proxy), "/");
    assert_eq!(response.status, 503);
    assert_eq!(stat_num(&proxy, "app", "s1", "econ"), 1);
}

#[test]
fn client_timeout_on_a_request_body_gives_408() {
    let origin = origin();
    let proxy = proxy_with_defaults(
        "",
        "timeout_client = \"200ms\"",
        &one_server("safe", ""),
        origin.addr(),
    );
    let addr = frontend_addr(&proxy);
    let mut client = Client::connect(addr);
    client.send_raw(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf!");
    let response = client.read_response(false).expect("an answer");
    assert_eq!(response.status, 408);
    assert_eq!(get(addr, "/").status, 200, "the next client is served");
}

/// A proxy whose only server has `maxconn = 1`, with one slow request holding the slot.
fn one_slot(queue: &str, delay_ms: u64, origin: &ringway_load::Origin) -> (ringway::Proxy, Client) {
    let backend = format!(
        "timeout_queue = \"{queue}\"\n{}",
        one_server("safe", "maxconn = 1")
    );
    let proxy = proxy("", &backend, origin.addr());
    let mut slow = Client::connect(frontend_addr(&proxy));
    slow.send_raw(format!("GET /?delay={delay_ms} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    wait_until("the slow request holds the slot", || {
        stat_num(&proxy, "app", "s1", "scur") == 1
    });
    (proxy, slow)
}

#[test]
fn maxconn_queues_a_request_until_the_slot_frees() {
    let origin = origin();
    let (proxy, mut slow) = one_slot("5s", 300, &origin);
    let mut queued = Client::connect(frontend_addr(&proxy));
    queued.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(slow.read_response(false).unwrap().status, 200);
    assert_eq!(queued.read_response(false).unwrap().status, 200);
    assert_eq!(
        stat_num(&proxy, "app", "s1", "smax"),
        1,
        "never two requests on the server at once"
    );
}

#[test]
fn maxconn_queue_timeout_gives_503() {
    let origin = origin();
    let (proxy, _slow) = one_slot("100ms", 1000, &origin);
    assert_eq!(get(frontend_addr(&proxy), "/").status, 503, "queue timeout");
}
