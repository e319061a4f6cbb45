//! The load generator against an in-process origin on 127.0.0.1:0.

mod common;

use std::time::Duration;

use common::{origin, origin_with, wait_for};
use ringway_load::{run_load, LoadConfig, OriginConfig};

fn config(url: String) -> LoadConfig {
    LoadConfig {
        url,
        connections: 4,
        duration: None,
        requests: Some(200),
        threads: 1,
        ..LoadConfig::default()
    }
}

fn assert_no_errors(report: &ringway_load::LoadReport) {
    assert_eq!(report.errors_total, 0, "{report:#?}");
    assert!(report.errors.values().all(|&n| n == 0), "{report:#?}");
}

#[test]
fn keep_alive_requests() {
    let origin = origin();
    let cfg = config(format!("http://{}/ka?body=100", origin.addr()));
    let report = run_load(&cfg).unwrap();
    assert_eq!(report.requests, 200);
    assert_no_errors(&report);
    assert_eq!(report.connections_opened, 4);
    assert_eq!(report.status["2xx"], 200);
    assert!(report.rps > 0.0);
    assert!(report.latency_us.max >= report.latency_us.p50);
    assert!(report.latency_us.p50 > 0);

    let stats = origin.stats();
    assert_eq!(stats.requests, 200);
    assert_eq!(stats.accepted, 4);
    wait_for("client connections to close", || {
        origin.open_connections() == 0
    });
    assert_eq!(stats.conns.len(), 4);
    assert_eq!(stats.conns.values().sum::<u64>(), 200);
}

#[test]
fn close_opens_a_connection_per_request() {
    let origin = origin();
    let cfg = LoadConfig {
        close: true,
        ..config(format!("http://{}/close", origin.addr()))
    };
    let report = run_load(&cfg).unwrap();
    assert_eq!(report.requests, 200);
    assert_no_errors(&report);
    assert_eq!(report.connections_opened, 200);

    let stats = origin.stats();
    assert_eq!(stats.requests, 200);
    assert_eq!(stats.accepted, 200);
    assert_eq!(stats.conns.len(), 200);
    assert!(stats.conns.values().all(|&n| n == 1));
}

#[test]
fn two_threads_split_requests_and_connections() {
    let origin = origin_with(OriginConfig {
        threads: 2,
        ..OriginConfig::default()
    });
    let cfg = LoadConfig {
        threads: 2,
        connections: 5,
        requests: Some(301),
        method: "POST".to_string(),
        body_size: 10,
        ..config(format!("http://{}/", origin.addr()))
    };
    let report = run_load(&cfg).unwrap();
    assert_eq!(report.threads, 2);
    assert_eq!(report.requests, 301);
    assert_no_errors(&report);
    assert_eq!(report.connections_opened, 5);
    let stats = origin.stats();
    assert_eq!(stats.requests, 301);
    assert_eq!(stats.accepted, 5);
}

#[test]
fn chunked_and_close_delimited_responses() {
    let origin = origin();
    let report = run_load(&config(format!(
        "http://{}/?chunked=1&body=20000",
        origin.addr()
    )))
    .unwrap();
    assert_eq!(report.requests, 200);
    assert_no_errors(&report);
    assert_eq!(report.connections_opened, 4);

    let report = run_load(&config(format!(
        "http://{}/?until-close=1&body=100",
        origin.addr()
    )))
    .unwrap();
    assert_eq!(report.requests, 200);
    assert_no_errors(&report);
    // Every response ends with a close, so every request needs a connection.
    assert_eq!(report.connections_opened, 200);
}

#[test]
fn non_success_statuses_are_counted_by_class() {
    let origin = origin();
    let report = run_load(&config(format!("http://{}/?status=503", origin.addr()))).unwrap();
    assert_eq!(report.requests, 200);
    assert_eq!(report.errors["status_5xx"], 200);
    assert_eq!(report.errors_total, 200);
    assert_eq!(report.status["5xx"], 200);
    let report = run_load(&config(format!("http://{}/?status=302", origin.addr()))).unwrap();
    assert_no_errors(&report);
    assert_eq!(report.status["3xx"], 200);
}

#[test]
fn invalid_responses_and_refused_connections_are_errors() {
    let origin = origin();
    let mut cfg = config(format!("http://{}/?bad=1", origin.addr()));
    cfg.requests = Some(20);
    let report = run_load(&cfg).unwrap();
    assert_eq!(report.requests, 0);
    assert_eq!(report.errors["parse"], 20);

    // A port nobody listens on: bind, note it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = config(format!("http://127.0.0.1:{port}/"));
    cfg.requests = Some(10);
    let report = run_load(&cfg).unwrap();
    assert_eq!(report.requests, 0);
    assert_eq!(report.connections_opened, 0);
    // Pre-connects fail too (4), then every request attempt (10).
    assert_eq!(report.errors["connect"], 14);
}

#[test]
fn timeouts_are_reported() {
    let origin = origin();
    let cfg = LoadConfig {
        requests: Some(2),
        connections: 1,
        timeout: Duration::from_millis(100),
        ..config(format!("http://{}/?delay=2000", origin.addr()))
    };
    let report = run_load(&cfg).unwrap();
    assert_eq!(report.errors["timeout"], 2);
    assert_eq!(report.requests, 0);
}

#[test]
fn open_loop_rate_paces_requests() {
    let origin = origin();
    let cfg = LoadConfig {
        rate: Some(1000.0),
        requests: Some(100),
        ..config(format!("http://{}/", origin.addr()))
    };
    let report = run_load(&cfg).unwrap();
    assert_eq!(report.requests, 100);
    assert_no_errors(&report);
    assert_eq!(report.target_rate, Some(1000.0));
    // 100 requests at 1000/s are due over 99 ms.
    assert!(report.duration_secs >= 0.09, "{report:#?}");
    assert_eq!(origin.stats().requests, 100);
}

#[test]
fn duration_ends_the_run() {
    let origin = origin();
    let cfg = LoadConfig {
        duration: Some(Duration::from_millis(300)),
        requests: None,
        ..config(format!("http://{}/", origin.addr()))
    };
    let report = run_load(&cfg).unwrap();
    assert!(report.requests > 0);
    assert_no_errors(&report);
    assert!(report.duration_secs >= 0.29, "{report:#?}");
    assert!(report.duration_secs < 5.0, "{report:#?}");
    // Requests cut off by the deadline may have reached the origin.
    assert!(origin.stats().requests >= report.requests);
    // The generator closed its connections when the run ended.
    wait_for("client connections to close", || {
        origin.open_connections() == 0
    });
}

#[test]
fn report_serialises_to_json() {
    let origin = origin();
    let report = run_load(&config(format!("http://{}/", origin.addr()))).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "requests",
        "errors",
        "rps",
        "latency_us",
        "connections_opened",
        "duration_secs",
    ] {
        assert!(json.get(key).is_some(), "{key} missing in {json}");
    }
    for key in ["p50", "p90", "p99", "p999", "max"] {
        assert!(json["latency_us"].get(key).is_some(), "{key} missing");
    }
    assert!(report.render().contains("requests        200"));
}
