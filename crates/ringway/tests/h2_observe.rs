//! Observability of HTTP/2 (issue 19, item 5) with real peers: h2load and a raw-frame client
//! in front, the h2c test origin behind. `show stat`'s HTTP/2 module columns (`h2_*`) tell
//! connections from streams on both sides; `show servers conn` files an HTTP/2 server's
//! connections as used, then safe idle; `shutdown session` on a stream resets that stream only,
//! towards the client and towards the server, and leaves both connections serving.

mod common;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use common::*;
use ringway::Proxy;
use support::{h2load, h2load_status_codes, tool, TempPath};

const SETTINGS: u8 = 0x4;
const HEADERS: u8 = 0x1;
const DATA: u8 = 0x0;
const RST_STREAM: u8 = 0x3;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const CANCEL: u32 = 0x8;
const PROTOCOL_ERROR: u32 = 0x1;

/// One shard, a clear-text frontend (h2c beside HTTP/1.1), one h2 server in `mode` whose idle
/// connections stay for the test's length.
fn h2_proxy(mode: &str, origin: SocketAddr) -> Proxy {
    proxy(
        "",
        &one_server(mode, "proto = \"h2\"\npool_purge_delay = \"60s\""),
        origin,
    )
}

/// As [`h2_proxy`], with an access log in `log`.
fn h2_proxy_logged(mode: &str, origin: SocketAddr, log: &TempPath) -> Proxy {
    proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         access_log = {}\n\
         [[backend]]\nname = \"app\"\n{}",
        log.toml(),
        one_server(mode, "proto = \"h2\"\npool_purge_delay = \"60s\"")
            .replace("{origin}", &origin.to_string())
    ))
}

/// The access log line of `path`'s request, once written; its termination state (`%tsc`)
/// must begin with `K`, killed by `shutdown session`.
fn assert_killed_in_log(log: &TempPath, path: &str) {
    let mut line = String::new();
    wait_until("the access log line", || {
        line = std::fs::read_to_string(log.path())
            .unwrap_or_default()
            .lines()
            .find(|line| line.contains(path))
            .unwrap_or_default()
            .to_string();
        !line.is_empty()
    });
    assert!(
        line.split(' ')
            .any(|word| word.len() == 4 && word.starts_with('K')),
        "{line}"
    );
}

/// `show servers conn app`'s first server line, by column name.
fn servers_conn(proxy: &Proxy, column: &str) -> u64 {
    let reply = proxy.command("show servers conn app");
    let mut lines = reply.lines();
    let header: Vec<&str> = lines
        .next()
        .expect("header")
        .trim_start_matches("# ")
        .split(' ')
        .collect();
    let index = header
        .iter()
        .position(|name| name.starts_with(column))
        .unwrap_or_else(|| panic!("no column {column} in {reply}"));
    let line = lines.next().expect("a server line");
    line.split(' ')
        .nth(index)
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("{column} in {line}"))
}

#[test]
fn show_stat_counts_http2_connections_apart_from_streams() {
    let Some(h2load_path) = tool("h2load", "nghttp2-client") else {
        return;
    };
    let origin = h2c_origin(0);
    let proxy = h2_proxy("always", origin.addr());
    let addr = frontend_addr(&proxy);

    // Ten slow streams on one client connection ride one server connection.
    let slow = std::thread::spawn({
        let h2load_path = h2load_path.clone();
        move || {
            h2load(
                &h2load_path,
                &["-n", "10", "-c", "1", "-m", "10"],
                &format!("http://{addr}/slow?delay=1500"),
            )
        }
    });
    wait_until("ten streams in flight on s1", || {
        stat_num(&proxy, "app", "s1", "h2_backend_open_streams") == 10
    });
    for (svname, column, value) in [
        ("s1", "h2_open_connections", 1),
        ("s1", "scur", 10),
        ("BACKEND", "h2_open_connections", 1),
        ("BACKEND", "h2_backend_open_streams", 10),
        ("FRONTEND", "h2_open_connections", 1),
        ("FRONTEND", "h2_backend_open_streams", 10),
        ("FRONTEND", "scur", 1),
        ("FRONTEND", "h1_open_connections", 0),
    ] {
        let pxname = if svname == "FRONTEND" { "web" } else { "app" };
        assert_eq!(
            stat_num(&proxy, pxname, svname, column),
            value,
            "{svname} {column}"
        );
    }
    // The server connection carries streams: used, not idle.
    assert_eq!(servers_conn(&proxy, "used_cur"), 1);
    assert_eq!(servers_conn(&proxy, "safe_nb"), 0);
    assert_eq!(h2load_status_codes(&slow.join().unwrap()), [10, 0, 0, 0]);

    // 200 more streams on 2 client connections.
    let report = h2load(
        &h2load_path,
        &["-n", "200", "-c", "2", "-m", "10"],
        &format!("http://{addr}/?body=100"),
    );
    assert_eq!(h2load_status_codes(&report), [200, 0, 0, 0], "{report}");
    wait_until("the client connections to close", || {
        stat_num(&proxy, "web", "FRONTEND", "h2_open_connections") == 0
    });
    for (column, value) in [
        ("h2_total_connections", 3),
        ("h2_backend_total_streams", 210),
        ("h2_backend_open_streams", 0),
        ("h1_total_connections", 0),
        ("h1_total_streams", 0),
        ("req_tot", 210),
    ] {
        assert_eq!(
            stat_num(&proxy, "web", "FRONTEND", column),
            value,
            "FRONTEND {column}"
        );
    }
    // Every stream began with a HEADERS frame; each client sent SETTINGS and acknowledged ours.
    assert!(stat_num(&proxy, "web", "FRONTEND", "h2_headers_rcvd") >= 210);
    assert!(stat_num(&proxy, "web", "FRONTEND", "h2_settings_rcvd") >= 6);
    for svname in ["s1", "BACKEND"] {
        for (column, value) in [
            ("h2_total_connections", 1),
            ("h2_open_connections", 1),
            ("h2_backend_total_streams", 210),
            ("h2_backend_open_streams", 0),
            ("h2_rst_stream_resp", 0),
            ("h2_goaway_rcvd", 0),
        ] {
            assert_eq!(
                stat_num(&proxy, "app", svname, column),
                value,
                "{svname} {column}"
            );
        }
        // Each response began with HEADERS; 200 of them had a body in DATA frames.
        assert!(stat_num(&proxy, "app", svname, "h2_headers_rcvd") >= 210);
        assert!(stat_num(&proxy, "app", svname, "h2_data_rcvd") >= 200);
    }
    assert_eq!(stat_num(&proxy, "app", "s1", "stot"), 210);
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 1);
    assert_eq!(origin.stats().accepted, 1);

    // The pooled connection, without a stream now: idle, in the safe class, on shard 0.
    wait_until("the server connection to be idle", || {
        servers_conn(&proxy, "used_cur") == 0
    });
    for (column, value) in [("safe_nb", 1), ("unsafe_nb", 0), ("idle_cur", 1)] {
        assert_eq!(servers_conn(&proxy, column), value, "{column}");
    }
    assert!(servers_conn(&proxy, "used_max") >= 1);
    assert_eq!(stat_num(&proxy, "app", "s1", "safe_conn_cur"), 1);
    assert_eq!(stat_num(&proxy, "app", "s1", "srv_icur"), 1);

    // The typed form carries the same values on the server's row.
    let typed = proxy.command("show stat typed");
    assert!(
        typed.lines().any(|line| line.starts_with("S.")
            && line.contains(".h2_backend_total_streams.")
            && line.ends_with(":MCP:u64:210")),
        "{typed}"
    );
}

/// A raw HTTP/2 peer: a client (the preface, SETTINGS) or a server (reads the preface, sends
/// SETTINGS), then frames both ways; SETTINGS are acknowledged as they are read.
struct RawH2 {
    stream: TcpStream,
}

impl RawH2 {
    fn connect(addr: SocketAddr) -> RawH2 {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .unwrap();
        let mut client = RawH2 { stream };
        client.send(SETTINGS, 0, 0, &[]);
        client
    }

    /// The server side of the next connection to `listener`.
    fn accept(listener: &std::net::TcpListener) -> RawH2 {
        let (mut stream, _) = listener.accept().expect("accept");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut preface = [0u8; 24];
        stream.read_exact(&mut preface).expect("the client preface");
        assert_eq!(&preface, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        let mut server = RawH2 { stream };
        server.send(SETTINGS, 0, 0, &[]);
        server
    }

    fn send(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let mut frame = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        frame.push(kind);
        frame.push(flags);
        frame.extend(stream.to_be_bytes());
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame).unwrap();
    }

    /// A GET of `path` on `stream`, with `extra` HPACK bytes after the pseudo-fields.
    fn get(&mut self, stream: u32, path: &str, extra: &[u8]) {
        // :method GET and :scheme http (static table), :path and :authority literal.
        let mut block = vec![0x82, 0x86, 0x04, path.len() as u8];
        block.extend(path.as_bytes());
        block.extend([0x01, 9]);
        block.extend(b"localhost");
        block.extend_from_slice(extra);
        // END_STREAM | END_HEADERS.
        self.send(HEADERS, 0x5, stream, &block);
    }

    /// The next frame: (type, flags, stream, payload); None once the connection closed.
    fn read(&mut self) -> Option<(u8, u8, u32, Vec<u8>)> {
        let mut head = [0u8; 9];
        self.stream.read_exact(&mut head).ok()?;
        let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0; length];
        self.stream.read_exact(&mut payload).ok()?;
        if head[3] == SETTINGS && head[4] & 0x1 == 0 {
            self.send(SETTINGS, 0x1, 0, &[]);
        }
        Some((head[3], head[4], id, payload))
    }
}

fn error_code(payload: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([
        payload[at],
        payload[at + 1],
        payload[at + 2],
        payload[at + 3],
    ])
}

#[test]
fn a_malformed_request_counts_as_a_connection_protocol_error() {
    let origin = origin();
    let proxy = proxy("", &one_server("safe", ""), origin.addr());
    let mut client = RawH2::connect(frontend_addr(&proxy));
    // An uppercase field name (RFC 9113 §8.2.1): h2 ends the connection.
    let mut upper = vec![0x00, 7];
    upper.extend(b"X-Upper");
    upper.extend([1, b'1']);
    client.get(1, "/", &upper);
    let mut goaway = None;
    while let Some((kind, _, _, payload)) = client.read() {
        if kind == GOAWAY {
            goaway = Some(error_code(&payload, 4));
        }
    }
    assert_eq!(goaway, Some(PROTOCOL_ERROR));
    wait_until("the connection to be counted closed", || {
        stat_num(&proxy, "web", "FRONTEND", "h2_open_connections") == 0
    });
    for (column, value) in [
        ("h2_detected_conn_protocol_errors", 1),
        ("h2_goaway_resp", 1),
        ("h2_total_connections", 1),
        ("h2_headers_rcvd", 1),
    ] {
        assert_eq!(
            stat_num(&proxy, "web", "FRONTEND", column),
            value,
            "FRONTEND {column}"
        );
    }
    assert_eq!(origin.stats().requests, 0);
}

/// The id of the one busy HTTP/2 stream session (`show sess`) other than those in `not`.
fn stream_session(proxy: &Proxy, not: &[String]) -> Option<String> {
    proxy
        .command("show sess")
        .lines()
        .filter(|line| line.contains("srv=s1") && line.contains("state=busy"))
        .map(|line| line.split(':').next().unwrap_or_default().to_string())
        .find(|id| !not.contains(id))
}

#[test]
fn shutdown_session_resets_one_stream_and_both_connections_go_on() {
    let origin = h2c_origin(0);
    let log = TempPath::new("h2-observe-raw.log");
    let proxy = h2_proxy_logged("always", origin.addr(), &log);
    let mut client = RawH2::connect(frontend_addr(&proxy));
    // Stream 1 would wait 30 s for its response, far past the test's deadlines.
    client.get(1, "/slow?delay=30000", &[]);
    let mut first = None;
    wait_until("stream 1 to reach s1", || {
        first = stream_session(&proxy, &[]);
        first.is_some()
    });
    let first = first.unwrap();
    client.get(3, "/?delay=300&body=5", &[]);
    wait_until("stream 3 to reach s1", || {
        stream_session(&proxy, std::slice::from_ref(&first)).is_some()
    });
    assert_eq!(
        proxy.command(&format!("shutdown session {first}")).trim(),
        "",
        "shutdown session {first}"
    );

    // Stream 1 is reset (CANCEL); stream 3 gets its whole response on the same connection.
    let mut reset = None;
    let mut third = (0, Vec::new());
    while third.0 & END_STREAM == 0 || reset.is_none() {
        let (kind, flags, id, payload) = client.read().expect("the connection stays open");
        assert_ne!(kind, GOAWAY, "the connection is not ended");
        match (kind, id) {
            (RST_STREAM, 1) => reset = Some(error_code(&payload, 0)),
            (HEADERS, 3) => third.0 |= flags & END_STREAM,
            (DATA, 3) => {
                third.0 |= flags & END_STREAM;
                third.1.extend(payload);
            }
            _ => {}
        }
    }
    assert_eq!(reset, Some(CANCEL));
    assert_eq!(third.1.len(), 5, "stream 3's body");

    // Towards the server: stream 1 reset, the connection kept for the next request.
    wait_until("s1's stream reset", || {
        stat_num(&proxy, "app", "s1", "h2_rst_stream_resp") == 1
    });
    assert_eq!(stat_num(&proxy, "app", "s1", "h2_open_connections"), 1);
    assert_eq!(stat_num(&proxy, "app", "s1", "h2_backend_open_streams"), 0);
    assert_eq!(
        stat_num(&proxy, "web", "FRONTEND", "h2_open_connections"),
        1
    );
    assert_eq!(stat_num(&proxy, "web", "FRONTEND", "h2_rst_stream_resp"), 1);
    // Killed, not failed: no response error counted against the server.
    assert_eq!(stat_num(&proxy, "app", "s1", "eresp"), 0);
    client.get(5, "/?body=2", &[]);
    let mut ended = false;
    while !ended {
        let (kind, flags, id, _) = client.read().expect("stream 5's response");
        ended = id == 5 && (kind == HEADERS || kind == DATA) && flags & END_STREAM != 0;
    }
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 1);
    assert_eq!(origin.stats().accepted, 1);
    assert_killed_in_log(&log, "/slow?delay=30000");
}

#[test]
fn shutdown_session_of_an_http_1_1_client_resets_its_h2_server_stream() {
    let origin = h2c_origin(0);
    let log = TempPath::new("h2-observe-h1.log");
    let proxy = h2_proxy_logged("always", origin.addr(), &log);
    let mut client = shut_down_once_at_s1(&proxy, "/slow?delay=30000");
    // As for an HTTP/1.1 server: the client connection closes without a response.
    let mut received = Vec::new();
    let _ = client.read_to_end(&mut received);
    assert!(
        received.is_empty(),
        "{}",
        String::from_utf8_lossy(&received)
    );
    // The server's stream is reset at once, not when its response would come (30 s).
    wait_until("s1's stream reset", || {
        stat_num(&proxy, "app", "s1", "h2_rst_stream_resp") == 1
    });
    wait_until("the stream to end", || {
        stat_num(&proxy, "app", "s1", "h2_backend_open_streams") == 0
    });
    assert_eq!(stat_num(&proxy, "app", "s1", "h2_open_connections"), 1);
    assert_eq!(stat_num(&proxy, "app", "s1", "eresp"), 0);
    assert_eq!(get(frontend_addr(&proxy), "/?body=3").status, 200);
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 1);
    assert_killed_in_log(&log, "/slow?delay=30000");
}

/// What the server itself reads: a raw HTTP/2 server gets RST_STREAM CANCEL on the stream of
/// the killed request, and its connection no GOAWAY.
#[test]
fn shutdown_session_sends_cancel_to_the_h2_server() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = h2_proxy("always", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let mut server = RawH2::accept(&listener);
        let mut request = None;
        loop {
            let (kind, _, id, payload) = server.read().expect("a frame before the close");
            match kind {
                HEADERS => request = Some(id),
                RST_STREAM => return (request, id, error_code(&payload, 0), server),
                GOAWAY => panic!("GOAWAY before the reset"),
                _ => {}
            }
        }
    });
    let _client = shut_down_once_at_s1(&proxy, "/never-answered");
    let (request, reset, code, _server) = server.join().unwrap();
    assert_eq!(request, Some(1), "the request's stream");
    assert_eq!((reset, code), (1, CANCEL), "RST_STREAM CANCEL on it");
    assert_eq!(stat_num(&proxy, "app", "s1", "h2_open_connections"), 1);
}

/// An HTTP/1.1 client's `GET path`, shut down by `shutdown session` once it reached s1; the
/// client's connection, to read what it gets.
fn shut_down_once_at_s1(proxy: &Proxy, path: &str) -> TcpStream {
    let mut client = TcpStream::connect(frontend_addr(proxy)).unwrap();
    client.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    client
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut id = None;
    wait_until("the request to reach s1", || {
        id = stream_session(proxy, &[]);
        id.is_some()
    });
    let id = id.unwrap();
    assert_eq!(proxy.command(&format!("shutdown session {id}")).trim(), "");
    client
}
