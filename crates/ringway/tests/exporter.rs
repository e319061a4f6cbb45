//! HAProxy tooling works against ringway: Debian's `prometheus-haproxy-exporter` scrapes the
//! stats socket (`show info`, `show stat`) and reports the numbers the origin saw. The test
//! installs the package when it is missing and it can (root or password-less sudo); it is
//! skipped, saying so, only when the exporter is absent and cannot be installed, and fails
//! instead under `RINGWAY_REQUIRE_TOOLS=1` (as `scripts/test.sh` runs it).

mod common;
mod support;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use support::*;

const EXPORTER: &str = "prometheus-haproxy-exporter";

/// The exporter's sample lines for `family` with `labels` (`key="value"`, in its label order).
fn exported(text: &str, family: &str, labels: &str) -> f64 {
    metric(text, &format!("{family}{{{labels}}}"))
        .unwrap_or_else(|| panic!("no {family}{{{labels}}} in\n{text}"))
}

#[test]
fn prometheus_haproxy_exporter_reports_what_the_origin_saw() {
    let Some(exporter) = tool(EXPORTER, EXPORTER) else {
        return;
    };
    let origin = origin();
    let socket = TempPath::new("stats.sock");
    let proxy = proxy(
        &format!("stats_socket = {}", socket.toml()),
        &one_server("safe", ""),
        origin.addr(),
    );
    let addr = frontend_addr(&proxy);
    for _ in 0..5 {
        let mut client = Client::connect(addr);
        for _ in 0..4 {
            assert_eq!(client.get("/").status, 200);
        }
    }
    for _ in 0..3 {
        assert_eq!(get(addr, "/").status, 200);
    }
    let seen = origin.stats();
    assert_eq!(seen.requests, 23);

    let (_exporter, listen) = start_exporter(&exporter, &socket);
    let text = http_get(listen, "/metrics").body;

    assert_eq!(metric(&text, "haproxy_up"), Some(1.0), "{text}");
    assert_eq!(
        metric(&text, "haproxy_exporter_csv_parse_failures_total"),
        Some(0.0)
    );
    let s1 = "backend=\"app\",server=\"s1\"";
    let requests = exported(&text, "haproxy_server_sessions_total", s1);
    assert_eq!(
        requests, seen.requests as f64,
        "stot = requests the origin served"
    );
    assert_eq!(
        exported(&text, "haproxy_backend_sessions_total", "backend=\"app\""),
        seen.requests as f64
    );
    assert_eq!(
        exported(
            &text,
            "haproxy_frontend_connections_total",
            "frontend=\"web\""
        ),
        8.0,
        "client connections"
    );
    assert_eq!(
        exported(
            &text,
            "haproxy_frontend_http_requests_total",
            "frontend=\"web\""
        ),
        23.0
    );
    assert_eq!(exported(&text, "haproxy_server_up", s1), 1.0);
    assert_eq!(
        exported(
            &text,
            "haproxy_server_http_responses_total",
            "backend=\"app\",code=\"2xx\",server=\"s1\""
        ),
        23.0
    );
    let version = text
        .lines()
        .find(|line| line.starts_with("haproxy_version_info{"))
        .expect("version from show info");
    assert!(version.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))));

    // The same numbers over the socket the exporter read, with connect and reuse, which the
    // exporter does not export.
    let csv = socket_command(socket.path(), "show stat");
    assert_eq!(csv_num(&csv, "app", "s1", "connect"), seen.accepted);
    assert_eq!(
        csv_num(&csv, "app", "s1", "reuse"),
        seen.requests - seen.conns.len() as u64
    );
    for line in text.lines().filter(|line| {
        line.starts_with("haproxy_server_sessions_total")
            || line.starts_with("haproxy_frontend_connections_total")
            || line.starts_with("haproxy_frontend_http_requests_total")
            || line.starts_with("haproxy_server_up")
    }) {
        eprintln!("exporter: {line}");
    }
    eprintln!(
        "show stat: connect={} reuse={} (origin: {} connections, {} requests)",
        csv_num(&csv, "app", "s1", "connect"),
        csv_num(&csv, "app", "s1", "reuse"),
        seen.accepted,
        seen.requests
    );

    // The families HAProxy's exporter derives from the queue, session rate, limit and time
    // average columns, which ringway used to leave empty (the exporter then drops them).
    for family in [
        "haproxy_backend_current_queue",
        "haproxy_backend_current_session_rate",
        "haproxy_backend_http_connect_time_average_seconds",
        "haproxy_backend_http_queue_time_average_seconds",
        "haproxy_backend_http_response_time_average_seconds",
        "haproxy_backend_http_total_time_average_seconds",
        "haproxy_backend_limit_sessions",
        "haproxy_backend_max_queue",
        "haproxy_backend_max_session_rate",
        "haproxy_frontend_current_session_rate",
        "haproxy_frontend_max_session_rate",
        "haproxy_server_current_queue",
        "haproxy_server_current_session_rate",
        "haproxy_server_http_connect_time_average_seconds",
        "haproxy_server_http_queue_time_average_seconds",
        "haproxy_server_http_response_time_average_seconds",
        "haproxy_server_http_total_time_average_seconds",
        "haproxy_server_max_queue",
        "haproxy_server_max_session_rate",
    ] {
        assert!(
            text.lines()
                .any(|line| line.starts_with(&format!("{family}{{"))),
            "{family} in\n{text}"
        );
    }
    assert_eq!(exported(&text, "haproxy_server_current_queue", s1), 0.0);
    assert_eq!(exported(&text, "haproxy_server_max_queue", s1), 0.0);
    // The busiest second saw some of the 23 requests and 8 connections (all of them unless the
    // run crossed a second boundary).
    let busiest = exported(&text, "haproxy_server_max_session_rate", s1);
    assert!((1.0..=23.0).contains(&busiest), "{busiest}");
    let busiest = exported(
        &text,
        "haproxy_frontend_max_session_rate",
        "frontend=\"web\"",
    );
    assert!((1.0..=8.0).contains(&busiest), "{busiest}");
    // HAProxy's default fullconn: a tenth of the frontend's maxconn.
    let fullconn = csv_num(&csv, "app", "BACKEND", "slim");
    assert_eq!(
        exported(&text, "haproxy_backend_limit_sessions", "backend=\"app\""),
        fullconn as f64
    );
    assert!(fullconn > 0);
    let total_time = exported(&text, "haproxy_server_http_total_time_average_seconds", s1);
    assert!(
        (0.0..10.0).contains(&total_time),
        "an average of seconds: {total_time}"
    );

    // Maintenance shows as down through the exporter.
    assert_eq!(proxy.command("set server app/s1 state maint"), "\n");
    let text = http_get(listen, "/metrics").body;
    assert_eq!(exported(&text, "haproxy_server_up", s1), 0.0);
    assert_eq!(
        exported(&text, "haproxy_backend_up", "backend=\"app\""),
        0.0
    );
}

/// HTTP/2 on both sides: the `h2_*` columns filled on the frontend, backend and server rows
/// (the server's where HAProxy leaves them empty) do not disturb the exporter's parse, and its
/// connection and session counts are those of HTTP/2 connections and streams.
#[test]
fn the_exporter_reads_http2_rows() {
    let Some(exporter) = tool(EXPORTER, EXPORTER) else {
        return;
    };
    let Some(h2load_path) = tool("h2load", "nghttp2-client") else {
        return;
    };
    let origin = h2c_origin(0);
    let socket = TempPath::new("stats-h2.sock");
    let proxy = proxy(
        &format!("stats_socket = {}", socket.toml()),
        &one_server("always", "proto = \"h2\""),
        origin.addr(),
    );
    let report = h2load(
        &h2load_path,
        &["-n", "60", "-c", "3", "-m", "5"],
        &format!("http://{}/", frontend_addr(&proxy)),
    );
    assert_eq!(h2load_status_codes(&report), [60, 0, 0, 0], "{report}");

    let (_exporter, listen) = start_exporter(&exporter, &socket);
    let text = http_get(listen, "/metrics").body;
    assert_eq!(metric(&text, "haproxy_up"), Some(1.0), "{text}");
    assert_eq!(
        metric(&text, "haproxy_exporter_csv_parse_failures_total"),
        Some(0.0)
    );
    let s1 = "backend=\"app\",server=\"s1\"";
    assert_eq!(exported(&text, "haproxy_server_sessions_total", s1), 60.0);
    assert_eq!(
        exported(
            &text,
            "haproxy_frontend_connections_total",
            "frontend=\"web\""
        ),
        3.0,
        "HTTP/2 client connections"
    );
    let csv = socket_command(socket.path(), "show stat");
    assert_eq!(csv_num(&csv, "app", "s1", "h2_total_connections"), 1);
    assert_eq!(csv_num(&csv, "app", "s1", "h2_backend_total_streams"), 60);
    assert_eq!(csv_num(&csv, "web", "FRONTEND", "h2_total_connections"), 3);
}

/// The exporter at `exporter`, scraping the stats socket, once it listens; and where.
fn start_exporter(exporter: &Path, socket: &TempPath) -> (Child, SocketAddr) {
    let listen = free_local_addr();
    let child = Child(
        Command::new(exporter)
            .arg(format!(
                "--haproxy.scrape-uri=unix:{}",
                socket.path().display()
            ))
            .arg(format!("--web.listen-address={listen}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the exporter"),
    );
    wait_until("the exporter to listen", || {
        TcpStream::connect(listen).is_ok()
    });
    (child, listen)
}
