//! The backend's `cookie` table, the server's `cookie` value and `balance = "source"`/`"uri"`:
//! defaults, values, and errors at the offending key.

use ringway_config::{Balance, CookieMode, PersistCookie};

mod common;
use common::{ok, single};

/// MINIMAL with lines on the backend (before its server) and on its server, then `more`
/// (extra servers).
fn config(backend: &str, server: &str, more: &str) -> String {
    common::MINIMAL.replacen(
        "name = \"app\"\n",
        &format!("name = \"app\"\n{backend}\n"),
        1,
    ) + server
        + "\n"
        + more
}

const SECOND: &str = "[[backend.server]]\nname = \"s2\"\naddress = \"127.0.0.1:8082\"\n";

#[test]
fn off_by_default() {
    let config = ok(common::MINIMAL);
    assert_eq!(config.backends[0].cookie, None);
    assert_eq!(config.backends[0].servers[0].cookie, None);
    assert_eq!(config.backends[0].balance, Balance::RoundRobin);
}

#[test]
fn every_key_is_read() {
    let text = config(
        r#"cookie = { name = "SERVERID", mode = "insert", indirect = true, nocache = true, maxidle = "30m", maxlife = "8h", path = "/app", domain = ".example.com", httponly = true, secure = true }"#,
        "cookie = \"s1\"",
        &(SECOND.to_owned() + "cookie = \"s2\"\n"),
    );
    let config = ok(&text);
    let backend = &config.backends[0];
    assert_eq!(
        backend.cookie,
        Some(PersistCookie {
            name: "SERVERID".into(),
            mode: CookieMode::Insert,
            indirect: true,
            nocache: true,
            maxidle: 1800,
            maxlife: 28_800,
            path: "/app".into(),
            domain: Some(".example.com".into()),
            httponly: true,
            secure: true,
        })
    );
    assert_eq!(backend.servers[0].cookie.as_deref(), Some("s1"));
    assert_eq!(backend.servers[1].cookie.as_deref(), Some("s2"));
}

#[test]
fn haproxy_defaults_and_modes() {
    let parsed = ok(&config(r#"cookie = { name = "SRV" }"#, "", ""));
    assert_eq!(
        parsed.backends[0].cookie,
        Some(PersistCookie::new("SRV", CookieMode::Insert))
    );
    assert_eq!(parsed.backends[0].cookie.as_ref().unwrap().path, "/");
    for (text, mode) in [
        ("rewrite", CookieMode::Rewrite),
        ("prefix", CookieMode::Prefix),
    ] {
        let line = format!("cookie = {{ name = \"JSESSIONID\", mode = \"{text}\" }}");
        let parsed = ok(&config(&line, "", ""));
        assert_eq!(parsed.backends[0].cookie.as_ref().unwrap().mode, mode);
    }
    for (text, balance) in [("source", Balance::Source), ("uri", Balance::Uri)] {
        let parsed = ok(&config(&format!("balance = \"{text}\""), "", ""));
        assert_eq!(parsed.backends[0].balance, balance);
        assert_eq!(balance.as_str(), text);
    }
}

#[test]
fn errors_point_at_the_key() {
    let error = single(
        &config("cookie = { mode = \"insert\" }", "", ""),
        "backend[0].cookie.name",
    );
    assert_eq!(error.message, "missing required key");
    let error = single(
        &config(r#"cookie = { name = "SRV", mode = "passive" }"#, "", ""),
        "backend[0].cookie.mode",
    );
    assert_eq!((error.line, error.column), (9, 33));
    single(
        &config(r#"cookie = { name = "S RV" }"#, "", ""),
        "backend[0].cookie.name",
    );
    let error = single(
        &config(
            r#"cookie = { name = "SRV", mode = "rewrite", indirect = true }"#,
            "",
            "",
        ),
        "backend[0].cookie.indirect",
    );
    assert!(error.message.contains("incompatible"), "{error}");
    let error = single(
        &config(
            r#"cookie = { name = "SRV", mode = "prefix", maxidle = "30m" }"#,
            "",
            "",
        ),
        "backend[0].cookie.maxidle",
    );
    assert!(
        error.message.contains("only works with mode = \"insert\""),
        "{error}"
    );
    single(
        &config(r#"cookie = { name = "SRV", maxlife = "500ms" }"#, "", ""),
        "backend[0].cookie.maxlife",
    );
    single(
        &config(r#"cookie = { name = "SRV", path = "app" }"#, "", ""),
        "backend[0].cookie.path",
    );
    single(
        &config(r#"cookie = { name = "SRV", domain = "a.com; x" }"#, "", ""),
        "backend[0].cookie.domain",
    );
    let error = single(
        &config(r#"cookie = { name = "SRV", max_idle = "1s" }"#, "", ""),
        "backend[0].cookie.max_idle",
    );
    assert!(error.message.contains("\"maxidle\""), "{error}");
    single(
        &config(r#"balance = "random""#, "", ""),
        "backend[0].balance",
    );
}

#[test]
fn server_cookie_values() {
    let text = config(
        r#"cookie = { name = "SRV" }"#,
        "cookie = \"a\"",
        &(SECOND.to_owned() + "cookie = \"a\"\n"),
    );
    let error = single(&text, "backend[0].server[1].cookie");
    assert!(
        error.message.contains("duplicate cookie value \"a\""),
        "{error}"
    );
    assert!(error.message.contains("backend[0].server[0]"), "{error}");
    for bad in ["", "a b", "a;b", "a|b", "a~b", "é"] {
        let text = config("", &format!("cookie = {bad:?}"), "");
        single(&text, "backend[0].server[0].cookie");
    }
    single(&config("", "cookie = 1", ""), "backend[0].server[0].cookie");
    // A server cookie without a backend cookie is accepted and unused, as in HAProxy.
    assert_eq!(
        ok(&config("", "cookie = \"s1\"", "")).backends[0].servers[0]
            .cookie
            .as_deref(),
        Some("s1")
    );
}
