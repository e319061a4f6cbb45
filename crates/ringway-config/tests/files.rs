//! The bundled configuration files in `config/` all load, and say what they
//! are documented to say.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ringway_config::{
    load, AccessLevel, AccessLog, Balance, Config, LogFormat, LogTarget, ReuseMode, Sni, Timeouts,
    Verify,
};

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

fn config_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(config_dir())
        .expect("config directory")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
}

fn load_ok(name: &str) -> Config {
    let path = config_dir().join(name);
    load(&path).unwrap_or_else(|errors| panic!("{}:\n{errors}", path.display()))
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn every_bundled_file_loads() {
    let files = config_files();
    for required in ["ringway.toml", "full-example.toml", "two-backends.toml"] {
        assert!(
            files.iter().any(|file| file.ends_with(required)),
            "config/{required} is missing"
        );
    }
    for file in &files {
        if let Err(errors) = load(file) {
            panic!("{} does not load:\n{errors}", file.display());
        }
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.display().to_string();
        if let Err(errors) = ringway_config::parse(&text, &name) {
            panic!("{name} does not parse:\n{errors}");
        }
    }
}

#[test]
fn bundled_default() {
    let config = load_ok("ringway.toml");
    assert_eq!(config.global.shards, 0);
    assert!(config.global.pin_shards);
    assert_eq!(config.global.max_conn, 100_000);
    let sockets: Vec<&Path> = config
        .global
        .stats_sockets
        .iter()
        .map(|socket| socket.path.as_path())
        .collect();
    assert_eq!(sockets, [Path::new("/tmp/ringway.sock")]);
    assert_eq!(config.global.admin_listen, None);
    assert_eq!(config.global.max_request_head, 65_536);

    assert_eq!(config.frontends.len(), 1);
    let web = &config.frontends[0];
    assert_eq!(web.name, "web");
    assert_eq!(web.bind, vec![addr("127.0.0.1:8080")]);
    assert_eq!(web.default_backend, config.backend_index("app"));
    assert_eq!(web.default_backend, Some(0));
    assert!(web.routes.is_empty());
    assert_eq!(web.tls, None);
    assert_eq!(web.access_log, None);
    assert_eq!(web.timeouts, Timeouts::default());
    assert_eq!(web.retries, 3);

    assert_eq!(config.backends.len(), 1);
    let app = &config.backends[0];
    assert_eq!(app.name, "app");
    assert_eq!(app.balance, Balance::RoundRobin);
    assert_eq!(app.http_reuse, ReuseMode::Always);
    assert_eq!(app.servers.len(), 1);
    let s1 = &app.servers[0];
    assert_eq!(s1.name, "s1");
    assert_eq!(s1.address, addr("127.0.0.1:8081"));
    assert_eq!(s1.maxconn, 0);
    assert_eq!(s1.pool_max_conn, -1);
    assert_eq!(s1.pool_low_conn, 0);
    assert_eq!(s1.pool_purge_delay, Duration::from_secs(5));
    assert_eq!(s1.max_reuse, -1);
    assert_eq!(s1.tls, None);
}

#[test]
fn full_example_sets_every_key() {
    let config = load_ok("full-example.toml");
    let dir = config_dir();
    assert_eq!(config.global.admin_listen, Some(addr("127.0.0.1:9100")));
    let socket = &config.global.stats_sockets[0];
    assert_eq!(socket.path, Path::new("/run/ringway.sock"));
    assert_eq!((socket.mode, socket.level), (0o600, AccessLevel::Admin));
    assert_eq!(config.global.grace, Duration::from_secs(2));
    assert_eq!(
        (
            config.global.pool_low_fd_ratio,
            config.global.pool_high_fd_ratio
        ),
        (25, 30)
    );

    let web = &config.frontends[0];
    assert_eq!(web.monitor_uri.as_deref(), Some("/haproxy_status"));
    assert_eq!(web.bind, vec![addr("127.0.0.1:8443"), addr("[::1]:8443")]);
    let hosts: Vec<(&str, usize)> = web
        .routes
        .iter()
        .map(|route| (route.host.as_str(), route.backend))
        .collect();
    assert_eq!(
        hosts,
        vec![("static.example.com", 1), ("app.example.com", 0)]
    );
    let tls = web.tls.as_ref().expect("frontend tls");
    assert_eq!(tls.certs.len(), 1);
    assert_eq!(tls.certs[0].cert, dir.join("certs/site.pem"));
    assert_eq!(tls.certs[0].key, dir.join("certs/site.key"));
    assert_eq!(tls.alpn, ["h2", "http/1.1"]);
    assert_eq!(web.access_log, Some(AccessLog::new(LogTarget::Stderr)));
    assert_eq!(web.timeouts.client, Duration::from_secs(60));
    assert_eq!(web.timeouts.server, Duration::from_secs(30));
    assert_eq!(web.timeouts.client_fin, Some(Duration::from_secs(1)));
    assert_eq!(
        config.backends[0].timeouts.server_fin,
        Some(Duration::from_secs(1))
    );
    let keepalive = config.backends[0].tcp_keepalive;
    assert!(web.tcp_keepalive.client && keepalive.server);
    assert_eq!(
        (keepalive.idle, keepalive.interval, keepalive.count),
        (
            Some(Duration::from_secs(60)),
            Some(Duration::from_secs(10)),
            Some(6)
        )
    );

    let plain = &config.frontends[1];
    assert_eq!(
        plain.access_log,
        Some(AccessLog {
            format: LogFormat::Json,
            ..AccessLog::new(LogTarget::File(dir.join("logs/plain-access.log")))
        })
    );
    assert_eq!(plain.timeouts.client, Duration::from_secs(30));

    let app = &config.backends[0];
    assert_eq!(app.timeouts.server, Duration::from_millis(45_000));
    assert_eq!(app.retries, 2);
    assert!(!app.allbackups);
    let s1 = &app.servers[0];
    assert_eq!((s1.weight, s1.slowstart), (3, Duration::from_secs(30)));
    assert!(!app.servers[1].backup);
    let cookie = app.cookie.as_ref().expect("a persistence cookie");
    assert_eq!(
        (
            cookie.name.as_str(),
            cookie.mode,
            cookie.indirect,
            cookie.nocache
        ),
        ("SERVERID", ringway_config::CookieMode::Insert, true, true)
    );
    assert_eq!((cookie.maxidle, cookie.maxlife), (1800, 8 * 3600));
    assert!(cookie.httponly && !cookie.secure);
    assert_eq!(app.servers[0].cookie.as_deref(), Some("s1"));
    let s2 = &app.servers[1];
    assert_eq!(s2.cookie.as_deref(), Some("s2"));
    assert_eq!(s2.address.port(), 8082);
    assert_eq!(s2.maxconn, 100);
    assert_eq!(s2.pool_max_conn, 32);
    assert_eq!(s2.pool_low_conn, 4);
    assert_eq!(s2.pool_purge_delay, Duration::from_millis(500));
    assert_eq!(s2.max_reuse, 1000);
    let tls = s2.tls.as_ref().expect("server tls");
    assert_eq!(tls.verify, Verify::Required);
    assert_eq!(tls.ca_file, Some(dir.join("certs/ca.pem")));
    assert_eq!(tls.sni, Some(Sni::Host));
    assert_eq!(tls.cert, Some(dir.join("certs/client.pem")));
    assert_eq!(tls.key, Some(dir.join("certs/client.key")));

    let files = &config.backends[1];
    assert_eq!(files.balance, Balance::LeastConn);
    assert_eq!(files.http_reuse, ReuseMode::Aggressive);
    let tls = files.servers[0].tls.as_ref().expect("server tls");
    assert_eq!(tls.verify, Verify::None);
    assert_eq!(tls.sni, Some(Sni::Fixed("static.example.com".into())));
    assert_eq!(tls.ca_file, None);
}

#[test]
fn two_backends_route_by_host() {
    let config = load_ok("two-backends.toml");
    assert_eq!(config.global.shards, 2);
    assert!(!config.global.pin_shards);
    let edge = &config.frontends[0];
    assert_eq!(edge.default_backend, None);
    let api = config.backend_index("api").unwrap();
    let web = config.backend_index("web").unwrap();
    let hosts: Vec<(&str, usize)> = edge
        .routes
        .iter()
        .map(|route| (route.host.as_str(), route.backend))
        .collect();
    assert_eq!(
        hosts,
        vec![("api.example.com", api), ("www.example.com", web)]
    );
    assert_eq!(config.backends[api].balance, Balance::LeastConn);
    assert_eq!(config.backends[web].balance, Balance::RoundRobin);
    assert_eq!(
        config.backends[api].timeouts.connect,
        Duration::from_secs(2)
    );
    assert_eq!(edge.timeouts.server, Duration::from_secs(20));
    assert_eq!(edge.timeouts.client, Duration::from_secs(30));
    assert_eq!(config.backends[web].servers.len(), 2);
}
