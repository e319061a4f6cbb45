//! The backend's `health_check` table and the server's `check` key: defaults, values, and
//! errors at the offending key.

use std::time::Duration;

use ringway_config::{CheckKind, HealthCheck, ObserveLayer, OnError};

mod common;
use common::{ok, single};

/// MINIMAL with `check` lines on the backend (before its server) and on the server.
fn config(backend: &str, server: &str) -> String {
    common::MINIMAL
        .replacen(
            "name = \"app\"\n",
            &format!("name = \"app\"\n{backend}\n"),
            1,
        )
        .to_string()
        + server
        + "\n"
}

#[test]
fn defaults_are_haproxy_s() {
    let config = ok(common::MINIMAL);
    let backend = &config.backends[0];
    assert_eq!(backend.health_check, HealthCheck::default());
    assert_eq!(backend.health_check.kind, CheckKind::Tcp);
    assert_eq!(backend.health_check.interval, Duration::from_secs(2));
    assert_eq!(
        (backend.health_check.rise, backend.health_check.fall),
        (2, 3)
    );
    assert_eq!(backend.health_check.expect_status, (200, 399));
    assert!(!backend.servers[0].check);
}

#[test]
fn every_key_is_read() {
    let text = config(
        r#"health_check = { kind = "http", method = "HEAD", path = "/health", host = "example.com", expect_status = [200, 204], interval = "100ms", timeout = "50ms", rise = 3, fall = 4 }"#,
        "check = true",
    );
    let config = ok(&text);
    let check = &config.backends[0].health_check;
    assert_eq!(check.kind, CheckKind::Http);
    assert_eq!(
        (check.method.as_str(), check.path.as_str()),
        ("HEAD", "/health")
    );
    assert_eq!(check.host.as_deref(), Some("example.com"));
    assert_eq!(check.expect_status, (200, 204));
    assert_eq!(check.interval, Duration::from_millis(100));
    assert_eq!(check.timeout, Duration::from_millis(50));
    assert_eq!((check.rise, check.fall), (3, 4));
    assert!(config.backends[0].servers[0].check);
}

#[test]
fn errors_point_at_the_key() {
    let error = single(
        &config(r#"health_check = { kind = "icmp" }"#, ""),
        "backend[0].health_check.kind",
    );
    assert_eq!((error.line, error.column), (9, 25));
    assert_eq!(error.message, "must be \"tcp\" or \"http\"");
    let error = single(
        &config(r#"health_check = { path = "health" }"#, ""),
        "backend[0].health_check.path",
    );
    assert!(error.message.contains("start with"), "{error}");
    single(
        &config(r#"health_check = { method = "GE T" }"#, ""),
        "backend[0].health_check.method",
    );
    single(
        &config(r#"health_check = { expect_status = [399, 200] }"#, ""),
        "backend[0].health_check.expect_status",
    );
    single(
        &config(r#"health_check = { expect_status = [200] }"#, ""),
        "backend[0].health_check.expect_status",
    );
    single(
        &config(r#"health_check = { expect_status = [200, 700] }"#, ""),
        "backend[0].health_check.expect_status[1]",
    );
    single(
        &config(r#"health_check = { interval = "0s" }"#, ""),
        "backend[0].health_check.interval",
    );
    single(
        &config(r#"health_check = { fall = 0 }"#, ""),
        "backend[0].health_check.fall",
    );
    let error = single(
        &config(r#"health_check = { rize = 2 }"#, ""),
        "backend[0].health_check.rize",
    );
    assert!(error.message.contains("\"rise\""), "{error}");
    let error = single(&config("", "check = \"yes\""), "backend[0].server[0].check");
    assert_eq!(error.message, "expected a boolean, found a string");
    // HTTP checks of TLS servers run over TLS.
    let tls = config(
        r#"health_check = { kind = "http" }"#,
        "check = true\ntls = { verify = \"none\" }",
    );
    assert!(ok(&tls).backends[0].servers[0].check);
}

#[test]
fn passive_detection_keys() {
    let config_text = config(
        r#"health_check = { fastinter = "50ms", downinter = "5s" }"#,
        "check = true\nobserve = \"layer7\"\nerror_limit = 3\non_error = \"mark_down\"",
    );
    let parsed = ok(&config_text);
    let check = &parsed.backends[0].health_check;
    assert_eq!(check.fastinter, Some(Duration::from_millis(50)));
    assert_eq!(check.downinter, Some(Duration::from_secs(5)));
    let observe = parsed.backends[0].servers[0].observe.expect("observe");
    assert_eq!(observe.layer, ObserveLayer::Layer7);
    assert_eq!(observe.error_limit, 3);
    assert_eq!(observe.on_error, OnError::MarkDown);
    // HAProxy's defaults: 10 errors, fail_check; fastinter and downinter are the interval.
    let defaults = ok(&config("", "check = true\nobserve = \"layer4\""));
    let observe = defaults.backends[0].servers[0].observe.expect("observe");
    assert_eq!(
        (observe.error_limit, observe.on_error),
        (10, OnError::FailCheck)
    );
    assert_eq!(defaults.backends[0].health_check.fastinter, None);
    assert!(ok(&config("", "check = true")).backends[0].servers[0]
        .observe
        .is_none());

    let error = single(
        &config("", "observe = \"layer4\""),
        "backend[0].server[0].observe",
    );
    assert!(error.message.contains("check = true"), "{error}");
    assert_eq!((error.line, error.column), (14, 11));
    single(
        &config("", "on_error = \"mark_down\""),
        "backend[0].server[0].on_error",
    );
    single(
        &config("", "error_limit = 5"),
        "backend[0].server[0].error_limit",
    );
    let error = single(
        &config("", "check = true\nobserve = \"layer5\""),
        "backend[0].server[0].observe",
    );
    assert_eq!(error.message, "must be \"layer4\" or \"layer7\"");
    single(
        &config("", "check = true\nobserve = \"layer4\"\nerror_limit = 0"),
        "backend[0].server[0].error_limit",
    );
    single(
        &config("", "check = true\non_error = \"sudden-death\""),
        "backend[0].server[0].on_error",
    );
    single(
        &config(r#"health_check = { fastinter = "0s" }"#, ""),
        "backend[0].health_check.fastinter",
    );
}
