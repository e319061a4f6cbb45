//! `timeout_client_fin`, `timeout_server_fin` and `tcp_keepalive`: off by default, inherited
//! from `[defaults]` key by key, and errors at the offending key with its line and column.

use std::time::Duration;

use ringway_config::TcpKeepalive;

mod common;
use common::{ok, single};

#[test]
fn off_by_default_as_haproxy() {
    let config = ok(common::MINIMAL);
    for timeouts in [&config.frontends[0].timeouts, &config.backends[0].timeouts] {
        assert_eq!(timeouts.client_fin, None);
        assert_eq!(timeouts.server_fin, None);
    }
    assert_eq!(config.frontends[0].tcp_keepalive, TcpKeepalive::default());
    assert_eq!(config.backends[0].tcp_keepalive, TcpKeepalive::default());
}

#[test]
fn defaults_are_inherited_and_overridden_key_by_key() {
    let text = format!(
        "[defaults]\ntimeout_client_fin = \"1s\"\ntimeout_server_fin = 200\n\
         tcp_keepalive = {{ client = true, server = true, idle = \"60s\", count = 4 }}\n{}",
        common::MINIMAL.replacen(
            "name = \"app\"\n",
            "name = \"app\"\ntimeout_server_fin = \"3s\"\n\
             tcp_keepalive = { server = false, interval = \"5s\" }\n",
            1,
        )
    );
    let config = ok(&text);
    let frontend = &config.frontends[0];
    assert_eq!(frontend.timeouts.client_fin, Some(Duration::from_secs(1)));
    assert_eq!(
        frontend.timeouts.server_fin,
        Some(Duration::from_millis(200))
    );
    assert!(frontend.tcp_keepalive.client);
    assert_eq!(frontend.tcp_keepalive.idle, Some(Duration::from_secs(60)));
    let backend = &config.backends[0];
    assert_eq!(backend.timeouts.server_fin, Some(Duration::from_secs(3)));
    assert_eq!(
        backend.tcp_keepalive,
        TcpKeepalive {
            client: true,
            server: false,
            idle: Some(Duration::from_secs(60)),
            interval: Some(Duration::from_secs(5)),
            count: Some(4),
        }
    );
}

#[test]
fn bad_values_point_at_their_key() {
    let error = single(
        &format!("[defaults]\ntimeout_client_fin = 0\n{}", common::MINIMAL),
        "defaults.timeout_client_fin",
    );
    assert_eq!(error.message, "must be greater than 0");
    assert_eq!((error.line, error.column), (2, 22));
    let error = single(
        &format!(
            "[defaults]\ntcp_keepalive = {{ client = true, idle = \"1500ms\" }}\n{}",
            common::MINIMAL
        ),
        "defaults.tcp_keepalive.idle",
    );
    assert_eq!(error.message, "must be whole seconds from 1s to 32767s");
    assert_eq!(error.line, 2);
    let error = single(
        &format!(
            "[defaults]\ntcp_keepalive = {{ count = 0 }}\n{}",
            common::MINIMAL
        ),
        "defaults.tcp_keepalive.count",
    );
    assert_eq!(error.message, "must be between 1 and 127, found 0");
    let error = single(
        &format!(
            "[defaults]\ntcp_keepalive = {{ client = \"yes\" }}\n{}",
            common::MINIMAL
        ),
        "defaults.tcp_keepalive.client",
    );
    assert!(error.message.contains("boolean"), "{}", error.message);
    single(
        &format!(
            "[defaults]\ntcp_keepalive = {{ probes = 3 }}\n{}",
            common::MINIMAL
        ),
        "defaults.tcp_keepalive.probes",
    );
}

#[test]
fn a_side_belongs_to_its_section() {
    let text = common::MINIMAL.replacen(
        "default_backend = \"app\"\n",
        "default_backend = \"app\"\ntcp_keepalive = { server = true }\n",
        1,
    );
    let error = single(&text, "frontend[0].tcp_keepalive.server");
    assert_eq!(
        error.message,
        "applies to a backend: set it there or in [defaults]"
    );
    assert_eq!(error.line, 6);
    let text = common::MINIMAL.replacen(
        "name = \"app\"\n",
        "name = \"app\"\ntcp_keepalive = { client = true }\n",
        1,
    );
    single(&text, "backend[0].tcp_keepalive.client");
}
