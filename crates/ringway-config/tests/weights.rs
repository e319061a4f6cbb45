//! The server keys `weight`, `backup`, `slowstart` and the backend key `allbackups`: defaults,
//! values, and errors at the offending key with its line and column.

use std::time::Duration;

mod common;
use common::{ok, single};

/// MINIMAL with `backend` lines on the backend (before its server) and `server` lines on it.
fn config(backend: &str, server: &str) -> String {
    common::MINIMAL.replacen(
        "name = \"app\"\n",
        &format!("name = \"app\"\n{backend}\n"),
        1,
    ) + server
        + "\n"
}

#[test]
fn defaults_are_haproxy_s() {
    let config = ok(common::MINIMAL);
    let server = &config.backends[0].servers[0];
    assert_eq!(server.weight, 1);
    assert!(!server.backup);
    assert_eq!(server.slowstart, Duration::ZERO);
    assert!(!config.backends[0].allbackups);
}

#[test]
fn every_key_is_read() {
    let full = ok(&config(
        "allbackups = true",
        "weight = 256\nbackup = true\nslowstart = \"30s\"",
    ));
    let server = &full.backends[0].servers[0];
    assert_eq!(server.weight, 256);
    assert!(server.backup);
    assert_eq!(server.slowstart, Duration::from_secs(30));
    assert!(full.backends[0].allbackups);
    let zero = ok(&config("", "weight = 0\nslowstart = 1500"));
    assert_eq!(zero.backends[0].servers[0].weight, 0);
    assert_eq!(
        zero.backends[0].servers[0].slowstart,
        Duration::from_millis(1500)
    );
}

#[test]
fn errors_point_at_the_key() {
    // The backend line is line 9, the server lines start at line 14.
    let error = single(&config("", "weight = 257"), "backend[0].server[0].weight");
    assert_eq!((error.line, error.column), (14, 10));
    assert!(
        error.message.contains("0") && error.message.contains("256"),
        "{error}"
    );
    single(&config("", "weight = -1"), "backend[0].server[0].weight");
    let error = single(&config("", "weight = \"3\""), "backend[0].server[0].weight");
    assert!(error.message.contains("integer"), "{error}");
    let error = single(&config("", "backup = 1"), "backend[0].server[0].backup");
    assert_eq!(error.message, "expected a boolean, found an integer");
    single(
        &config("", "slowstart = \"soon\""),
        "backend[0].server[0].slowstart",
    );
    let error = single(
        &config("", "slowstart = \"2d\""),
        "backend[0].server[0].slowstart",
    );
    assert_eq!(error.message, "must be at most 24h");
    let error = single(&config("allbackups = \"yes\"", ""), "backend[0].allbackups");
    assert_eq!((error.line, error.column), (9, 14));
    let error = single(&config("", "wieght = 2"), "backend[0].server[0].wieght");
    assert!(error.message.contains("\"weight\""), "{error}");
}
