//! Large message bodies through the proxy with `splice` off, auto and always: responses by
//! length, chunked and until close, and request bodies by length and chunked (one with a
//! request pipelined behind it), byte-exact; the client and server connections reused after a
//! spliced body; a server that closes half way through a body (the client gets the part that
//! came, then a close, and the log says so); a client that stops reading (the proxy stops
//! reading the server: it holds a bounded part of the body, and relays the rest once the
//! client reads again); a TLS server connection, never spliced, with `splice = "always"`.

mod common;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use ringway_load::origin_body;
use support::TempPath;

const MODES: [&str; 3] = ["off", "auto", "always"];

/// A proxy in front of `server` with `splice = mode` (and `extra` frontend keys).
fn splice_proxy(mode: &str, server: SocketAddr, frontend: &str) -> ringway::Proxy {
    proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [defaults]\ntimeout_connect = \"2s\"\ntimeout_server = \"20s\"\ntimeout_client = \"20s\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n{frontend}\n\
         [[backend]]\nname = \"app\"\nhttp_reuse = \"safe\"\nsplice = \"{mode}\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{server}\"\n"
    ))
}

/// The byte at `offset` of the bodies the test servers below send.
fn pattern(offset: u64) -> u8 {
    (offset % 251) as u8
}

fn pattern_bytes(from: u64, len: usize) -> Vec<u8> {
    (from..from + len as u64).map(pattern).collect()
}

/// With splice on, the bodies just relayed went through a pipe: at least `at_least` bytes
/// were spliced since the count was `before` (other tests of this binary, running at the same
/// time, only add to the count).
fn assert_spliced(mode: &str, before: u64, at_least: u64) {
    if mode != "off" {
        let spliced = ringway_net::spliced_bytes() - before;
        assert!(spliced >= at_least, "{mode}: {spliced} bytes spliced");
    }
}

#[test]
fn responses_by_length_chunked_and_until_close_arrive_byte_exact() {
    let origin = origin();
    for mode in MODES {
        let proxy = splice_proxy(mode, origin.addr(), "");
        let mut client = Client::connect(frontend_addr(&proxy));
        let mut first_conn = None;
        let spliced = ringway_net::spliced_bytes();
        for (path, size) in [
            ("/?body=1048576", 1_048_576),
            ("/?body=70000&chunked=1", 70_000),
            ("/?body=20000", 20_000),
            ("/?body=65536", 65_536),
            ("/?body=3000000", 3_000_000),
        ] {
            let response = client.get(path);
            assert_eq!(response.status, 200, "{mode} {path}");
            assert!(
                response.body == origin_body(size),
                "{mode} {path}: {} bytes, not the origin's {size}",
                response.body.len()
            );
            // The client connection carried every response; the server connection went back
            // to the pool after each body, spliced or not, and served the next request.
            let conn = *first_conn.get_or_insert(response.origin_conn());
            assert_eq!(response.origin_conn(), conn, "{mode} {path}: reused");
        }
        assert_eq!(client.get("/").status, 200, "{mode}: still usable");
        assert_spliced(mode, spliced, 4_000_000);

        let mut until_close = Client::connect(frontend_addr(&proxy));
        until_close.send_raw(b"GET /?body=500000&until-close=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        let raw = until_close.read_all();
        let head_end = raw
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .expect("a head")
            + 4;
        assert!(raw.starts_with(b"HTTP/1.1 200"), "{mode}");
        let body = &raw[head_end..];
        let body = if String::from_utf8_lossy(&raw[..head_end])
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_vec()
        };
        assert!(
            body == origin_body(500_000),
            "{mode}: until close, {} bytes",
            body.len()
        );
    }
}

/// The content of a chunked body (no extensions, trailers ignored).
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a size line");
        let size = usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap(), 16)
            .expect("a hex size");
        body = &body[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// A server that answers every request with its body: by length, whatever the request's
/// framing (by length or chunked). Returns its address.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            thread::spawn(move || echo_connection(stream));
        }
    });
    addr
}

fn echo_connection(stream: TcpStream) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let (mut length, mut chunked) = (0usize, false);
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            let lower = line.trim_end().to_ascii_lowercase();
            if lower.is_empty() {
                break;
            }
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            chunked |= lower == "transfer-encoding: chunked";
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                let size = usize::from_str_radix(line.trim_end(), 16).unwrap();
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk).unwrap();
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length, 0);
            reader.read_exact(&mut body).unwrap();
        }
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&body).is_err() {
            return;
        }
    }
}

#[test]
fn request_bodies_by_length_and_chunked_arrive_byte_exact_and_come_back() {
    let server = echo_server();
    for mode in MODES {
        let proxy = splice_proxy(mode, server, "");
        let mut client = Client::connect(frontend_addr(&proxy));
        let spliced = ringway_net::spliced_bytes();
        for size in [2_000_000usize, 100_000, 17_000] {
            let body = pattern_bytes(size as u64, size);
            let mut request =
                format!("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n")
                    .into_bytes();
            request.extend_from_slice(&body);
            client.send_raw(&request);
            let response = client.read_response(false).expect("a response");
            assert_eq!(response.status, 200, "{mode} {size}");
            assert!(
                response.body == body,
                "{mode} {size} by length: not the same bytes"
            );

            let mut request =
                b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for piece in body.chunks(30_000) {
                request.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                request.extend_from_slice(piece);
                request.extend_from_slice(b"\r\n");
            }
            request.extend_from_slice(b"0\r\n\r\n");
            client.send_raw(&request);
            let response = client.read_response(false).expect("a response");
            assert_eq!(response.status, 200, "{mode} {size}");
            assert!(
                response.body == body,
                "{mode} {size} chunked: not the same bytes"
            );
        }
        // The requests' bodies by length (~2 MB one way) and every echo (~4 MB back).
        assert_spliced(mode, spliced, 5_000_000);

        // Pipelined behind a spliced body: the splice takes the body's bytes and no more, and
        // the next request is read from the socket after it.
        let body = pattern_bytes(7, 300_000);
        let mut requests =
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n".to_vec();
        requests.extend_from_slice(&body);
        requests
            .extend_from_slice(b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
        client.send_raw(&requests);
        let first = client.read_response(false).expect("the first response");
        assert!(first.body == body, "{mode}: the pipelined body");
        let second = client.read_response(false).expect("the second response");
        assert_eq!(second.body, b"hello", "{mode}: the request behind it");
    }
}

/// A server that answers its first request with a head announcing `announced` bytes, sends
/// `sent` of them and closes.
fn server_closing_mid_body(announced: usize, sent: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {announced}\r\n\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&pattern_bytes(0, sent));
        }
    });
    addr
}

#[test]
fn a_server_closing_mid_body_gives_a_truncated_response_a_close_and_a_log_line() {
    let (announced, sent) = (1_000_000, 300_000);
    let server = server_closing_mid_body(announced, sent);
    for mode in MODES {
        let log = TempPath::new("access.log");
        let proxy = splice_proxy(mode, server, &format!("access_log = {}", log.toml()));
        let spliced = ringway_net::spliced_bytes();
        let mut client = Client::connect(frontend_addr(&proxy));
        client.send_raw(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
        // The proxy closes the client connection once the server is gone: read_all returns at
        // the close (within IO_TIMEOUT, or the test fails: no hang).
        let raw = client.read_all();
        let head_end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a head")
            + 4;
        assert!(raw.starts_with(b"HTTP/1.1 200"), "{mode}");
        let body = &raw[head_end..];
        assert_eq!(
            body.len(),
            sent,
            "{mode}: what the server sent, then the close"
        );
        assert!(body == pattern_bytes(0, sent), "{mode}: the same bytes");
        assert_spliced(mode, spliced, 200_000);
        let mut line = String::new();
        wait_until("the access log line", || {
            line = std::fs::read_to_string(log.path()).unwrap_or_default();
            !line.is_empty()
        });
        assert!(line.contains("\"GET /big HTTP/1.1\""), "{mode}: {line}");
        // HAProxy's termination state for a server that aborted while sending data: SD.
        assert!(line.contains(" SD"), "{mode}: {line}");
    }
}

/// A server that answers one request with `size` bytes by length, written in blocking
/// writes that give up after a while when the socket stays full (and then go on): `sent`
/// counts what the socket took, `stalled` says a write found no room for that while.
struct StallingServer {
    addr: SocketAddr,
    sent: Arc<AtomicU64>,
    stalled: Arc<AtomicBool>,
}

fn stalling_server(size: u64) -> StallingServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let stalled = Arc::new(AtomicBool::new(false));
    let (count, flag) = (sent.clone(), stalled.clone());
    thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 2 {
            line.clear();
        }
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream
            .set_write_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut offset = 0u64;
        while offset < size {
            let piece = pattern_bytes(offset, (size - offset).min(64 * 1024) as usize);
            match stream.write(&piece) {
                Ok(written) => {
                    offset += written as u64;
                    count.store(offset, Ordering::SeqCst);
                }
                Err(error)
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    flag.store(true, Ordering::SeqCst);
                }
                Err(_) => return,
            }
        }
    });
    StallingServer {
        addr,
        sent,
        stalled,
    }
}

#[test]
fn a_client_that_stops_reading_stops_the_server_and_gets_everything_later() {
    const SIZE: u64 = 256 << 20;
    for mode in MODES {
        let server = stalling_server(SIZE);
        let proxy = splice_proxy(mode, server.addr, "");
        let spliced = ringway_net::spliced_bytes();
        let mut client = Client::connect(frontend_addr(&proxy));
        client.send_raw(b"GET /huge HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            client.stream().read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        // The client reads nothing more: the socket buffers on the way fill up, then the
        // proxy stops reading the server, whose writes find no room.
        wait_until("the server's writes to stall", || {
            server.stalled.load(Ordering::SeqCst)
        });
        let held = server.sent.load(Ordering::SeqCst);
        assert!(
            held < SIZE / 4,
            "{mode}: the server got {held} bytes out to a client that reads nothing"
        );
        let mut body = vec![0u8; SIZE as usize];
        client.stream().read_exact(&mut body).unwrap();
        let mismatch = body
            .iter()
            .enumerate()
            .position(|(offset, &byte)| byte != pattern(offset as u64));
        assert_eq!(mismatch, None, "{mode}: the bytes after the stall");
        assert_eq!(server.sent.load(Ordering::SeqCst), SIZE);
        assert_spliced(mode, spliced, SIZE - 64 * 1024);
    }
}

#[test]
fn bodies_to_and_from_a_tls_server_are_copied_byte_exact_with_splice_always() {
    let dir = ringway_load::ScratchDir::new("large-bodies-tls").expect("scratch dir");
    let pki = ringway_load::Pki::new(dir.path(), "test").expect("CA");
    let leaf = pki.leaf("origin", &["127.0.0.1"]).expect("certificate");
    let origin = ringway_load::Origin::start(ringway_load::OriginConfig {
        tls: Some(ringway_load::OriginTls::from(&leaf)),
        ..ringway_load::OriginConfig::default()
    })
    .expect("TLS origin starts");
    let proxy = proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\n[defaults]\ntimeout_connect = \"2s\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\nsplice = \"always\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n\
         tls = {{ verify = \"required\", ca_file = \"{}\" }}\n",
        origin.addr(),
        pki.ca_file().display()
    ));
    let mut client = Client::connect(frontend_addr(&proxy));
    for size in [1_048_576usize, 70_000] {
        let response = client.get(&format!("/?body={size}"));
        assert_eq!(response.status, 200);
        assert!(
            response.body == origin_body(size),
            "{size} bytes through TLS"
        );
    }
    let mut request = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 500000\r\n\r\n".to_vec();
    request.extend_from_slice(&pattern_bytes(0, 500_000));
    client.send_raw(&request);
    let response = client.read_response(false).expect("a response");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-origin-req-body"), Some("500000"));
}
