//! HTTP/2 clients (issue 19) with real curl and h2load in front of an HTTP/1.1 origin: h2c
//! with prior knowledge beside HTTP/1.1 on one clear-text port, ALPN h2 on a TLS frontend,
//! bodies both ways (with and without a length, through flow control), streams sharing the
//! pooled server connections, a failed stream that leaves its connection serving, the access
//! log's `HTTP/2.0` and `show sess` listing streams with their connection.

mod common;
mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use ringway_load::{Pki, ScratchDir};
use support::{h2load, h2load_status_codes, tool, TempPath};

/// What curl saw: the status, the HTTP version it spoke, the body size, the response head.
struct Curl {
    status: u16,
    version: String,
    size: u64,
    head: String,
}

fn curl(curl: &Path, args: &[&str], url: &str) -> Curl {
    let head = TempPath::new("curl-head");
    let output = Command::new(curl)
        .args(["-s", "-o", "/dev/null", "--max-time", "20", "-D"])
        .arg(head.path())
        .args(["-w", "%{http_code} %{http_version} %{size_download}"])
        .args(args)
        .arg(url)
        .stderr(Stdio::inherit())
        .output()
        .expect("curl runs");
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut fields = out.split(' ');
    let mut next = || fields.next().unwrap_or_default().to_string();
    Curl {
        status: next().parse().unwrap_or(0),
        version: next(),
        size: next().parse().unwrap_or(0),
        head: std::fs::read_to_string(head.path()).unwrap_or_default(),
    }
}

fn h2c(path: &Path, args: &[&str], url: &str) -> Curl {
    let mut all = vec!["--http2-prior-knowledge"];
    all.extend_from_slice(args);
    curl(path, &all, url)
}

/// The value of `name` in a response head curl saved.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[test]
fn h2c_and_http_1_1_share_a_clear_text_port() {
    let Some(curl_path) = tool("curl", "curl") else {
        return;
    };
    let origin = origin();
    let proxy = proxy("", &one_server("safe", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    let reply = h2c(&curl_path, &[], &format!("http://{addr}/a?body=20"));
    assert_eq!(
        (reply.status, reply.version.as_str(), reply.size),
        (200, "2", 20)
    );
    // No HTTP/1.1 connection field reaches an HTTP/2 client; the origin's own fields do.
    assert_eq!(header(&reply.head, "connection"), None, "{}", reply.head);
    assert_eq!(header(&reply.head, "x-origin-conn-req"), Some("1"));
    let plain = get(addr, "/b?body=7");
    assert_eq!(plain.status, 200);
    assert_eq!(plain.body.len(), 7);
    assert_eq!(stat_num(&proxy, "web", "FRONTEND", "req_tot"), 2);
    assert_eq!(origin.stats().requests, 2);
}

#[test]
fn bodies_cross_both_ways_with_and_without_a_length() {
    let Some(curl_path) = tool("curl", "curl") else {
        return;
    };
    let origin = origin();
    let proxy = proxy("", &one_server("safe", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    let dir = ScratchDir::new("h2-bodies").expect("scratch dir");
    let upload = dir.path().join("upload");
    // Larger than the stream and connection windows: flow control must move it.
    std::fs::write(&upload, vec![b'x'; 3_000_000]).unwrap();
    let file = format!("@{}", upload.display());
    let with_length = h2c(
        &curl_path,
        &["--data-binary", &file],
        &format!("http://{addr}/up"),
    );
    assert_eq!(with_length.status, 200);
    assert_eq!(
        header(&with_length.head, "x-origin-req-body"),
        Some("3000000"),
        "{}",
        with_length.head
    );
    // From a pipe, curl sends no content-length: the body goes chunked to the server.
    let piped = Command::new(&curl_path)
        .args([
            "-s",
            "--http2-prior-knowledge",
            "-D",
            "-",
            "-o",
            "/dev/null",
        ])
        .args(["--max-time", "20", "--data-binary", "@-"])
        .arg(format!("http://{addr}/piped"))
        .stdin(std::fs::File::open(&upload).unwrap())
        .output()
        .expect("curl runs");
    let head = String::from_utf8_lossy(&piped.stdout);
    assert_eq!(
        header(&head, "x-origin-req-body"),
        Some("3000000"),
        "{head}"
    );
    // Responses: chunked from the server, and a large one with a length.
    let chunked = h2c(
        &curl_path,
        &[],
        &format!("http://{addr}/?chunked=1&body=100000"),
    );
    assert_eq!((chunked.status, chunked.size), (200, 100_000));
    assert_eq!(header(&chunked.head, "transfer-encoding"), None);
    let large = h2c(&curl_path, &[], &format!("http://{addr}/?body=5000000"));
    assert_eq!((large.status, large.size), (200, 5_000_000));
    let head_only = h2c(&curl_path, &["-I"], &format!("http://{addr}/?body=10"));
    assert_eq!((head_only.status, head_only.size), (200, 0));
}

#[test]
fn alpn_picks_h2_on_a_tls_frontend() {
    let Some(curl_path) = tool("curl", "curl") else {
        return;
    };
    let dir = ScratchDir::new("h2-tls").expect("scratch dir");
    let pki = Pki::new(dir.path(), "test").expect("CA");
    let leaf = pki.leaf("front", &["a.test"]).expect("certificate");
    let origin = origin();
    let proxy = proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         forward_headers = [\"x-forwarded-proto\"]\n\
         tls = {{ certs = [{{ cert = \"{}\", key = \"{}\" }}] }}\n\
         [[backend]]\nname = \"app\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n",
        leaf.cert.display(),
        leaf.key.display(),
        origin.addr()
    ));
    let addr = frontend_addr(&proxy);
    let resolve = format!("a.test:{}:127.0.0.1", addr.port());
    let ca = pki.ca_file().display().to_string();
    let url = "https://a.test:PORT/?body=9".replace("PORT", &addr.port().to_string());
    let args = ["--cacert", &ca, "--resolve", &resolve];
    let over_h2 = curl(&curl_path, &[&args[..], &["--http2"]].concat(), &url);
    assert_eq!(
        (over_h2.status, over_h2.version.as_str(), over_h2.size),
        (200, "2", 9)
    );
    let over_h1 = curl(&curl_path, &[&args[..], &["--http1.1"]].concat(), &url);
    assert_eq!(
        (over_h1.status, over_h1.version.as_str(), over_h1.size),
        (200, "1.1", 9)
    );
}

#[test]
fn streams_of_many_clients_share_pooled_server_connections() {
    let Some(h2load_path) = tool("h2load", "nghttp2-client") else {
        return;
    };
    for mode in ["safe", "always"] {
        let origin = origin();
        let proxy = proxy("", &one_server(mode, ""), origin.addr());
        let addr = frontend_addr(&proxy);
        let report = h2load(
            &h2load_path,
            &["-n", "4000", "-c", "4", "-m", "10"],
            &format!("http://{addr}/?body=100"),
        );
        assert_eq!(
            h2load_status_codes(&report),
            [4000, 0, 0, 0],
            "{mode}: {report}"
        );
        let stats = origin.stats();
        assert_eq!(stats.requests, 4000, "{mode}");
        // About one server connection per stream in flight (4 × 10; more when the pool's
        // purge closes some between bursts), where one per stream (4000) is what a proxy
        // without pools would open.
        assert!(
            stats.accepted <= 100,
            "{mode}: {} server connections for 4000 streams",
            stats.accepted
        );
        assert_eq!(stat_num(&proxy, "web", "FRONTEND", "req_tot"), 4000);
    }
}

#[test]
fn a_failed_stream_leaves_its_connection_serving() {
    let Some(h2load_path) = tool("h2load", "nghttp2-client") else {
        return;
    };
    let proxy = proxy_with_defaults(
        "",
        "retries = 0",
        "[[backend.server]]\nname = \"s1\"\naddress = \"{origin}\"\n",
        dead_addr(),
    );
    let addr = frontend_addr(&proxy);
    // Ten streams one after the other on one connection: each gets its 503.
    let report = h2load(
        &h2load_path,
        &["-n", "10", "-c", "1", "-m", "1"],
        &format!("http://{addr}/"),
    );
    assert_eq!(h2load_status_codes(&report), [0, 0, 0, 10], "{report}");
    assert!(
        report.contains("10 done, 0 succeeded") || report.contains("10 done"),
        "{report}"
    );
    assert_eq!(
        stat_num(&proxy, "web", "FRONTEND", "conn_tot"),
        1,
        "one client connection"
    );
}

fn read_log(log: &TempPath) -> Vec<String> {
    std::fs::read_to_string(log.path())
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_access_log_and_show_sess_name_http_2() {
    let Some(curl_path) = tool("curl", "curl") else {
        return;
    };
    let origin = origin();
    let log = TempPath::new("h2-access.log");
    let proxy = proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         access_log = {}\n\
         [[backend]]\nname = \"app\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n",
        log.toml(),
        origin.addr()
    ));
    let addr = frontend_addr(&proxy);
    // A slow request keeps its stream listed while we look.
    let slow_url = format!("http://{addr}/slow?delay=3000");
    let slow = std::thread::spawn({
        let curl_path = curl_path.clone();
        move || h2c(&curl_path, &[], &slow_url)
    });
    let mut stream_line = String::new();
    wait_until("the stream to show in show sess", || {
        let sessions = proxy.command("show sess");
        stream_line = sessions
            .lines()
            .find(|line| line.contains("h2_conn=0x") && line.contains("state=busy"))
            .unwrap_or_default()
            .to_string();
        !stream_line.is_empty()
    });
    let conn_id = stream_line.rsplit("h2_conn=").next().unwrap().to_string();
    let sessions = proxy.command("show sess");
    assert!(
        sessions
            .lines()
            .any(|line| line.starts_with(&format!("{conn_id}:"))),
        "the stream's connection is listed too: {sessions}"
    );
    assert_eq!(slow.join().unwrap().status, 200);
    let mut lines = Vec::new();
    wait_until("the access log line", || {
        lines = read_log(&log);
        !lines.is_empty()
    });
    assert!(
        lines[0].contains("\"GET /slow?delay=3000 HTTP/2.0\""),
        "{lines:?}"
    );
    assert!(lines[0].contains(" 200 "), "{lines:?}");
    assert!(lines[0].ends_with(" proto=h2/h1"), "{lines:?}");
}

#[test]
fn a_stop_lets_streams_in_flight_finish_then_the_connection_ends() {
    let Some(curl_path) = tool("curl", "curl") else {
        return;
    };
    let origin = origin();
    let proxy = proxy("", &one_server("safe", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    let url = format!("http://{addr}/slow?delay=800&body=4");
    let in_flight = std::thread::spawn({
        let curl_path = curl_path.clone();
        move || h2c(&curl_path, &[], &url)
    });
    wait_until("the stream to be served", || {
        proxy
            .command("show sess")
            .lines()
            .any(|line| line.contains("h2_conn=0x") && line.contains("srv=s1"))
    });
    proxy.stopper().stop();
    let reply = in_flight.join().unwrap();
    assert_eq!((reply.status, reply.size), (200, 4), "the stream finished");
    // The HTTP/2 connection ended (GOAWAY, then the close): the proxy can stop.
    proxy.wait();
}

/// The HTTP/2 frames of a byte stream: (type, flags, stream id) of each complete frame.
fn frames(mut bytes: &[u8]) -> Vec<(u8, u8, u32)> {
    let mut out = Vec::new();
    while bytes.len() >= 9 {
        let length = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) as usize;
        let stream = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) & 0x7fff_ffff;
        out.push((bytes[3], bytes[4], stream));
        bytes = bytes.get(9 + length..).unwrap_or_default();
    }
    out
}

#[test]
fn an_idle_h2c_connection_gets_goaway_at_the_keep_alive_timeout() {
    use std::io::{Read, Write};
    let origin = origin();
    let proxy = proxy_with_defaults(
        "",
        "timeout_http_request = \"300ms\"\ntimeout_http_keep_alive = \"300ms\"",
        &one_server("safe", ""),
        origin.addr(),
    );
    let mut client = std::net::TcpStream::connect(frontend_addr(&proxy)).unwrap();
    client.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    // The preface and an empty SETTINGS frame, then nothing.
    client
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .unwrap();
    client.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    let mut received = Vec::new();
    // Read until the proxy closes: the read timeout (20 s) is far past the keep-alive one.
    let _ = client.read_to_end(&mut received);
    let kinds: Vec<u8> = frames(&received).iter().map(|frame| frame.0).collect();
    assert_eq!(kinds.first(), Some(&4), "SETTINGS first: {kinds:?}");
    // A graceful GOAWAY (h2 follows it with a PING), then the close ended read_to_end.
    assert!(kinds.contains(&7), "a GOAWAY: {kinds:?}");
}

#[test]
fn the_keep_alive_timeout_counts_from_the_last_stream_not_from_the_first_idle_moment() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let origin = origin();
    let proxy = proxy_with_defaults(
        "",
        "timeout_http_request = \"500ms\"\ntimeout_http_keep_alive = \"500ms\"",
        &one_server("safe", ""),
        origin.addr(),
    );
    let mut client = std::net::TcpStream::connect(frontend_addr(&proxy)).unwrap();
    client.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let connected = Instant::now();
    client
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .unwrap();
    client.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    // Part of the idle timeout passes before the one request (the scenario, not a wait for
    // the proxy): the timer the connection armed when it fell idle would end it early.
    std::thread::sleep(Duration::from_millis(400));
    // HEADERS, END_STREAM | END_HEADERS, stream 1: GET http://a/ (HPACK static entries and
    // one literal :authority).
    let block = [0x82, 0x86, 0x84, 0x41, 0x01, b'a'];
    let mut frame = vec![0, 0, block.len() as u8, 1, 0x5, 0, 0, 0, 1];
    frame.extend_from_slice(&block);
    client.write_all(&frame).unwrap();
    let mut received = Vec::new();
    // Read until the proxy closes: the read timeout (20 s) is far past the keep-alive one.
    let _ = client.read_to_end(&mut received);
    let closed = connected.elapsed();
    let kinds: Vec<(u8, u32)> = frames(&received)
        .iter()
        .map(|frame| (frame.0, frame.2))
        .collect();
    assert!(kinds.contains(&(1, 1)), "a response on stream 1: {kinds:?}");
    assert!(kinds.iter().any(|kind| kind.0 == 7), "a GOAWAY: {kinds:?}");
    // The stream ended after the request was sent (400 ms in): the connection may close only
    // a whole keep-alive timeout after that. (Closing at the first idle moment's timeout would
    // send the GOAWAY at 500 ms and close at most 200 ms later.)
    assert!(
        closed >= Duration::from_millis(900),
        "closed {closed:?} after connecting"
    );
}
