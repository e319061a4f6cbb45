//! The origin with `h2: true` (`ringway-load origin --h2`) against real
//! HTTP/2 clients over 127.0.0.1: curl with prior knowledge and h2load.
//! A missing tool skips its test with a message, or fails it under
//! `RINGWAY_REQUIRE_TOOLS=1`, as the proxy's tool tests do.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::origin_with;
use ringway_load::{origin_body, Origin, OriginConfig, OriginStats, OriginTls};

fn h2_origin(body_size: usize) -> Origin {
    origin_with(OriginConfig {
        body_size,
        h2: true,
        ..OriginConfig::default()
    })
}

/// Whether `tool` can run; when it cannot, says so and tells the caller
/// to skip, or panics if tools are required.
fn have(tool: &str) -> bool {
    if Path::new(tool).exists() {
        return true;
    }
    let required = std::env::var("RINGWAY_REQUIRE_TOOLS").is_ok_and(|v| !v.is_empty() && v != "0");
    assert!(
        !required,
        "{tool} is missing and RINGWAY_REQUIRE_TOOLS is set"
    );
    eprintln!("skipping: {tool} is not installed");
    false
}

fn run(cmd: &mut Command) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("tool runs");
    assert!(
        status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&stderr)
    );
    String::from_utf8_lossy(&stdout).into_owned()
}

/// `curl --http2-prior-knowledge` with a timeout and the given arguments.
fn curl(args: &[&str]) -> String {
    run(Command::new("/usr/bin/curl")
        .args(["-sS", "--http2-prior-knowledge", "--max-time", "10"])
        .args(args))
}

#[test]
fn curl_gets_bodies_hooks_and_counters_over_h2c() {
    if !have("/usr/bin/curl") {
        return;
    }
    let origin = h2_origin(100);
    let base = format!("http://{}", origin.addr());
    // One request per curl: curl 7.88 fails to reuse a prior-knowledge
    // connection (error 16, nginx alike); h2load covers many streams on one
    // connection below.
    let out = curl(&["-i", &format!("{base}/a")]);
    let body = String::from_utf8(origin_body(100)).unwrap();
    assert!(out.starts_with("HTTP/2 200"), "{out}");
    assert!(out.contains("x-origin-conn-req: 1\r\n"), "{out}");
    assert!(out.contains("content-length: 100\r\n"), "{out}");
    assert!(out.ends_with(&format!("\r\n\r\n{body}")), "{out}");
    let out = curl(&[
        "-i",
        &format!("{base}/b?status=201&body=5&set-cookie=a%3D1"),
    ]);
    assert!(out.starts_with("HTTP/2 201"), "{out}");
    assert!(out.contains("set-cookie: a=1\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\n01234"), "{out}");

    // A request body is read and counted; a large response goes through
    // flow control intact.
    let out = curl(&["-i", "--data-binary", "hello", &format!("{base}/post")]);
    assert!(out.contains("x-origin-req-body: 5\r\n"), "{out}");
    let big = curl(&[&format!("{base}/big?body=300000")]);
    assert_eq!(big.as_bytes(), origin_body(300_000));
    let out = curl(&["-i", &format!("{base}/?chunked=1&body=10")]);
    assert!(!out.contains("content-length"), "{out}");
    assert!(out.contains("x-trailer: 1"), "{out}");

    // Hooks that only mean something on HTTP/1.1 are refused.
    let out = curl(&["-i", &format!("{base}/?close=1")]);
    assert!(out.starts_with("HTTP/2 400"), "{out}");

    let stats: OriginStats =
        serde_json::from_str(&curl(&[&format!("{base}/__origin/stats")])).expect("stats JSON");
    assert_eq!(stats.requests, 6);
    assert_eq!(stats.accepted, 7);
    assert_eq!(origin.stats().requests, 6);
    assert!(stats.conns.values().all(|&n| n == 1), "{stats:?}");
}

#[test]
fn h2load_multiplexes_streams_on_few_connections() {
    if !have("/usr/bin/h2load") {
        return;
    }
    let origin = h2_origin(100);
    let url = format!("http://{}/", origin.addr());
    let out =
        run(Command::new("/usr/bin/h2load").args(["-n", "2000", "-c", "4", "-m", "10", &url]));
    assert!(
        out.contains("2000 total, 2000 started, 2000 done, 2000 succeeded"),
        "{out}"
    );
    assert!(out.contains("status codes: 2000 2xx"), "{out}");
    let stats = origin.stats();
    assert_eq!(stats.requests, 2000);
    assert_eq!(stats.accepted, 4);
    assert_eq!(stats.open_max, 4);
}

#[test]
fn max_requests_per_conn_ends_the_connection_with_goaway() {
    if !have("/usr/bin/h2load") {
        return;
    }
    let origin = origin_with(OriginConfig {
        h2: true,
        max_requests_per_conn: 2,
        ..OriginConfig::default()
    });
    let url = format!("http://{}/", origin.addr());
    // h2load does not reconnect: after the GOAWAY its other requests fail.
    let out = run(Command::new("/usr/bin/h2load").args(["-n", "6", "-c", "1", "-m", "1", &url]));
    assert!(
        out.contains("6 total, 2 started, 2 done, 2 succeeded, 4 failed"),
        "{out}"
    );
    let stats = origin.stats();
    assert_eq!((stats.accepted, stats.requests), (1, 2));
    common::wait_for("the connection to close", || origin.open_connections() == 0);
}

#[test]
fn h2_with_tls_is_refused() {
    let err = Origin::start(OriginConfig {
        h2: true,
        tls: Some(OriginTls::new("c.pem", "k.pem")),
        ..OriginConfig::default()
    })
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("clear text only"), "{err}");
}
