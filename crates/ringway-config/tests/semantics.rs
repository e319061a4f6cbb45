//! Defaults, inheritance, duration forms and path resolution.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ringway_config::{load, parse, AccessLog, Balance, Global, LogTarget, ReuseMode, Timeouts};

mod common;

use common::MINIMAL;

#[test]
fn built_in_defaults() {
    let config = parse(MINIMAL, "minimal.toml").unwrap();
    assert_eq!(config.global, Global::default());
    assert_eq!(config.global.shards, 0);
    assert!(config.global.pin_shards);
    assert_eq!(config.global.max_conn, 100_000);
    assert_eq!(config.global.max_request_head, 65_536);
    assert_eq!(config.global.spin_rounds, 16);
    assert_eq!(config.global.pool_low_fd_ratio, 20);
    assert_eq!(config.global.pool_high_fd_ratio, 25);
    let timeouts = Timeouts {
        connect: Duration::from_secs(5),
        client: Duration::from_secs(30),
        server: Duration::from_secs(30),
        http_request: Duration::from_secs(10),
        http_keep_alive: Duration::from_secs(10),
        queue: Duration::from_secs(5),
        tunnel: Duration::from_secs(3600),
        client_fin: None,
        server_fin: None,
    };
    assert_eq!(Timeouts::default(), timeouts);
    assert_eq!(config.frontends[0].timeouts, timeouts);
    assert_eq!(config.frontends[0].retries, 3);
    let backend = &config.backends[0];
    assert_eq!(backend.timeouts, timeouts);
    assert_eq!(backend.retries, 3);
    assert_eq!(backend.balance, Balance::RoundRobin);
    assert_eq!(backend.http_reuse, ReuseMode::Safe);
    assert_eq!(ReuseMode::default(), ReuseMode::Safe);
    let server = &backend.servers[0];
    assert_eq!(
        (
            server.maxconn,
            server.pool_max_conn,
            server.pool_low_conn,
            server.max_reuse
        ),
        (0, -1, 0, -1)
    );
    assert_eq!(server.pool_purge_delay, Duration::from_secs(5));
}

#[test]
fn defaults_are_inherited_and_overridden() {
    let text = format!(
        "[defaults]\ntimeout_connect = \"1s\"\ntimeout_client = 1500\nretries = 1\n{}",
        MINIMAL
            .replace(
                "default_backend = \"app\"",
                "default_backend = \"app\"\ntimeout_client = \"2m\"\nretries = 0",
            )
            .replace(
                "name = \"app\"",
                "name = \"app\"\ntimeout_connect = \"250ms\"\ntimeout_tunnel = \"1d\"",
            )
    );
    let config = parse(&text, "t.toml").unwrap();
    let frontend = &config.frontends[0];
    assert_eq!(frontend.timeouts.connect, Duration::from_secs(1));
    assert_eq!(frontend.timeouts.client, Duration::from_secs(120));
    assert_eq!(frontend.timeouts.server, Duration::from_secs(30));
    assert_eq!(frontend.retries, 0);
    let backend = &config.backends[0];
    assert_eq!(backend.timeouts.connect, Duration::from_millis(250));
    assert_eq!(backend.timeouts.client, Duration::from_millis(1500));
    assert_eq!(backend.timeouts.tunnel, Duration::from_secs(86_400));
    assert_eq!(backend.retries, 1);
}

#[test]
fn duration_forms() {
    for (value, want) in [
        ("\"250ms\"", Duration::from_millis(250)),
        ("\"5s\"", Duration::from_secs(5)),
        ("\"1m\"", Duration::from_secs(60)),
        ("\"1h\"", Duration::from_secs(3600)),
        ("\"1d\"", Duration::from_secs(86_400)),
        ("1", Duration::from_millis(1)),
        ("30_000", Duration::from_secs(30)),
        ("0x10", Duration::from_millis(16)),
    ] {
        let text = format!("[defaults]\ntimeout_queue = {value}\n{MINIMAL}");
        let config = parse(&text, "t.toml").unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(config.backends[0].timeouts.queue, want, "{value}");
    }
}

#[test]
fn backend_index() {
    let text = MINIMAL.to_owned()
        + "[[backend]]\nname = \"other\"\n[[backend.server]]\nname = \"s\"\naddress = \"127.0.0.1:1\"\n";
    let config = parse(&text, "t.toml").unwrap();
    assert_eq!(config.backend_index("app"), Some(0));
    assert_eq!(config.backend_index("other"), Some(1));
    assert_eq!(config.backend_index("nope"), None);
}

fn with_paths(text: &str) -> String {
    text.replace(
        "default_backend = \"app\"",
        "default_backend = \"app\"\naccess_log = \"logs/access.log\"\n\
         tls = { certs = [{ cert = \"site.pem\", key = \"/abs/site.key\" }] }",
    ) + "tls = { ca_file = \"ca/ca.pem\", cert = \"c.pem\", key = \"c.key\" }\n"
}

#[test]
fn parse_keeps_relative_paths() {
    let config = parse(&with_paths(MINIMAL), "t.toml").unwrap();
    let frontend = &config.frontends[0];
    assert_eq!(
        frontend.access_log,
        Some(AccessLog::new(LogTarget::File(PathBuf::from(
            "logs/access.log"
        ))))
    );
    let tls = frontend.tls.as_ref().unwrap();
    assert_eq!(tls.certs[0].cert, Path::new("site.pem"));
    // Absent: HTTP/2 first, then HTTP/1.1.
    assert_eq!(tls.alpn, ["h2", "http/1.1"]);
    let server_tls = config.backends[0].servers[0].tls.as_ref().unwrap();
    assert_eq!(server_tls.ca_file.as_deref(), Some(Path::new("ca/ca.pem")));
}

#[test]
fn load_resolves_relative_paths_against_the_file() {
    let dir = std::env::temp_dir().join(format!("ringway-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("paths.toml");
    std::fs::write(&file, with_paths(MINIMAL)).unwrap();
    let result = load(&file);
    let _ = std::fs::remove_dir_all(&dir);
    let config = result.unwrap();
    let frontend = &config.frontends[0];
    assert_eq!(
        frontend.access_log,
        Some(AccessLog::new(LogTarget::File(dir.join("logs/access.log"))))
    );
    let tls = frontend.tls.as_ref().unwrap();
    assert_eq!(tls.certs[0].cert, dir.join("site.pem"));
    assert_eq!(tls.certs[0].key, Path::new("/abs/site.key"));
    let server_tls = config.backends[0].servers[0].tls.as_ref().unwrap();
    assert_eq!(server_tls.ca_file, Some(dir.join("ca/ca.pem")));
    assert_eq!(server_tls.cert, Some(dir.join("c.pem")));
    assert_eq!(server_tls.key, Some(dir.join("c.key")));
}

#[test]
fn errors_are_std_errors() {
    fn takes_error(_: &dyn std::error::Error) {}
    let errors = parse("", "t.toml").unwrap_err();
    takes_error(&errors);
    takes_error(&errors.0[0]);
    assert_eq!(errors.iter().count(), errors.len());
}
