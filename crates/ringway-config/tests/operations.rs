//! The keys for running in production: `global.grace`, `global.user`, `global.group` and the
//! frontend's `monitor_uri`; their defaults, and their errors at file:line:column.

use std::time::Duration;

use ringway_config::{parse, Config};

mod common;

fn ok(text: &str) -> Config {
    parse(text, "test.toml").unwrap_or_else(|errors| panic!("{errors}\nfor:\n{text}"))
}

/// The only error of `text`, rendered as `ringway check` prints it.
fn single(text: &str) -> String {
    let all = match parse(text, "test.toml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(errors) => errors.0,
    };
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].to_string()
}

fn with_global(global: &str) -> String {
    format!("[global]\n{global}\n{}", common::MINIMAL)
}

/// MINIMAL with one more frontend key.
fn with_frontend_key(line: &str) -> String {
    common::MINIMAL.replace(
        "default_backend = \"app\"\n",
        &format!("default_backend = \"app\"\n{line}\n"),
    )
}

#[test]
fn defaults_change_nothing() {
    let config = ok(common::MINIMAL);
    assert_eq!(config.global.grace, Duration::ZERO);
    assert_eq!(config.global.user, None);
    assert_eq!(config.global.group, None);
    assert_eq!(config.frontends[0].monitor_uri, None);
}

#[test]
fn the_contract_keys() {
    let config = ok(&with_global(
        "user = \"ringway\"\ngroup = \"ringway\"\ngrace = \"2s\"",
    ));
    assert_eq!(config.global.user.as_deref(), Some("ringway"));
    assert_eq!(config.global.group.as_deref(), Some("ringway"));
    assert_eq!(config.global.grace, Duration::from_secs(2));
    let config = ok(&with_global("grace = 1500"));
    assert_eq!(config.global.grace, Duration::from_millis(1500));
    let config = ok(&with_global("grace = \"0s\""));
    assert_eq!(config.global.grace, Duration::ZERO);

    let config = ok(&with_frontend_key("monitor_uri = \"/haproxy_status\""));
    assert_eq!(
        config.frontends[0].monitor_uri.as_deref(),
        Some("/haproxy_status")
    );
}

#[test]
fn grace_errors() {
    let error = single(&with_global("grace = \"soon\""));
    assert!(
        error.starts_with("test.toml:2:9: global.grace: invalid duration \"soon\""),
        "{error}"
    );
    assert_eq!(
        single(&with_global("grace = -1")),
        "test.toml:2:9: global.grace: a duration cannot be negative"
    );
    assert_eq!(
        single(&with_global("grace = \"25h\"")),
        "test.toml:2:9: global.grace: must be at most 24h"
    );
}

#[test]
fn account_name_errors() {
    let error = single(&with_global("user = \"\""));
    assert!(
        error.starts_with("test.toml:2:8: global.user: \"\" is not an account name"),
        "{error}"
    );
    let error = single(&with_global("group = \"wheel group\""));
    assert!(
        error.starts_with("test.toml:2:9: global.group: \"wheel group\" is not an account name"),
        "{error}"
    );
    assert_eq!(
        single(&with_global("user = 0")),
        "test.toml:2:8: global.user: expected a string, found an integer"
    );
    let error = single(&with_global("usr = \"nobody\""));
    assert_eq!(
        error,
        "test.toml:2:1: global.usr: unknown key (did you mean \"user\"?)"
    );
}

#[test]
fn monitor_uri_errors() {
    // MINIMAL starts with a blank line: the new key is on line 6.
    for bad in ["haproxy_status", "", "/with space", "/tab\there"] {
        let text = with_frontend_key(&format!("monitor_uri = {bad:?}"));
        let error = single(&text);
        assert!(
            error.starts_with("test.toml:6:15: frontend[0].monitor_uri: ")
                && error.contains("is not a request path"),
            "{bad:?}: {error}"
        );
    }
    let long = format!("/{}", "a".repeat(1024));
    let error = single(&with_frontend_key(&format!("monitor_uri = \"{long}\"")));
    assert!(error.contains("is not a request path"), "{error}");
    assert_eq!(
        single(&with_frontend_key("monitor_uri = true")),
        "test.toml:6:15: frontend[0].monitor_uri: expected a string, found a boolean"
    );
}
