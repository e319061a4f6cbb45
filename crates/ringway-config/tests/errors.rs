//! Every validation rule reports an error at the offending key or value.

use ringway_config::{parse, ConfigError};

mod common;

/// A valid configuration that the tests below break in one place.
const BASE: &str = common::MINIMAL;

fn errors(text: &str) -> Vec<ConfigError> {
    match parse(text, "test.toml") {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(errors) => errors.0,
    }
}

/// The only error of `text`, which must concern `key`.
fn single(text: &str, key: &str) -> ConfigError {
    let all = errors(text);
    assert_eq!(all.len(), 1, "expected one error, got:\n{}", render(&all));
    assert_eq!(all[0].key, key, "got:\n{}", render(&all));
    all.into_iter().next().unwrap()
}

/// The error about `key` among several.
fn about<'e>(all: &'e [ConfigError], key: &str) -> &'e ConfigError {
    all.iter()
        .find(|error| error.key == key)
        .unwrap_or_else(|| panic!("no error about {key}, got:\n{}", render(all)))
}

fn render(all: &[ConfigError]) -> String {
    all.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn at(error: &ConfigError) -> (usize, usize) {
    (error.line, error.column)
}

fn ok(text: &str) -> ringway_config::Config {
    parse(text, "test.toml").unwrap_or_else(|errors| panic!("{errors}\nfor:\n{text}"))
}

#[test]
fn base_is_valid() {
    ok(BASE);
}

#[test]
fn display_format() {
    let text = format!("[global]\nshards = 2048\n{BASE}");
    let all = errors(&text);
    assert_eq!(
        all[0].to_string(),
        "test.toml:2:10: global.shards: must be between 0 and 1024, found 2048"
    );
}

#[test]
fn unknown_keys_at_every_level() {
    let text = r#"
colour = "blue"
[global]
shard = 1
[defaults]
timeout_clinet = "5s"
[[frontend]]
name = "web"
bind = ["127.0.0.1:8080"]
routes = [{ host = "a.com", backend = "app", weight = 1 }]
tls = { certs = [{ cert = "c", key = "k", pass = "x" }], alpn = [], ciphers = "x" }
port = 80
[[backend]]
name = "app"
mode = "http"
[[backend.server]]
name = "s1"
address = "127.0.0.1:8081"
priority = 10
tls = { verify = "none", sni_host = true }
"#;
    let all = errors(text);
    let expect = [
        ("colour", (2, 1)),
        ("global.shard", (4, 1)),
        ("defaults.timeout_clinet", (6, 1)),
        ("frontend[0].routes[0].weight", (10, 46)),
        ("frontend[0].tls.certs[0].pass", (11, 43)),
        ("frontend[0].tls.ciphers", (11, 69)),
        ("frontend[0].port", (12, 1)),
        ("backend[0].mode", (15, 1)),
        ("backend[0].server[0].priority", (19, 1)),
        ("backend[0].server[0].tls.sni_host", (20, 26)),
    ];
    assert_eq!(all.len(), expect.len(), "{}", render(&all));
    for (key, position) in expect {
        let error = about(&all, key);
        assert_eq!(at(error), position, "{error}");
        assert!(error.message.starts_with("unknown key"), "{error}");
    }
    assert!(about(&all, "defaults.timeout_clinet")
        .message
        .contains("did you mean \"timeout_client\""));
    assert!(about(&all, "colour")
        .message
        .contains("expected one of: global, defaults, frontend, backend"));
}

#[test]
fn wrong_types() {
    let text = r#"
[global]
shards = "4"
pin_shards = 1
stats_socket = 5
[defaults]
timeout_client = true
timeout_server = 1.5
retries = "3"
[[frontend]]
name = 7
bind = "127.0.0.1:8080"
default_backend = "app"
tls = "yes"
[[backend]]
name = "app"
server = { name = "s1", address = "127.0.0.1:1" }
"#;
    let all = errors(text);
    let expect = [
        (
            "global.shards",
            (3, 10),
            "expected an integer, found a string",
        ),
        (
            "global.pin_shards",
            (4, 14),
            "expected a boolean, found an integer",
        ),
        (
            "global.stats_socket",
            (5, 16),
            "expected a socket path, a table or a list of them, found an integer",
        ),
        (
            "defaults.timeout_client",
            (7, 18),
            "expected a duration such as \"5s\" or an integer in milliseconds, found a boolean",
        ),
        (
            "defaults.timeout_server",
            (8, 18),
            "expected a duration such as \"5s\" or an integer in milliseconds, found a float",
        ),
        (
            "defaults.retries",
            (9, 11),
            "expected an integer, found a string",
        ),
        (
            "frontend[0].name",
            (11, 8),
            "expected a string, found an integer",
        ),
        (
            "frontend[0].bind",
            (12, 8),
            "expected an array, found a string",
        ),
        (
            "frontend[0].tls",
            (14, 7),
            "expected a table, found a string",
        ),
        (
            "backend[0].server",
            (17, 10),
            "expected an array, found a table",
        ),
    ];
    assert_eq!(all.len(), expect.len(), "{}", render(&all));
    for (key, position, message) in expect {
        let error = about(&all, key);
        assert_eq!(at(error), position, "{error}");
        assert_eq!(error.message, message, "{error}");
    }
}

#[test]
fn bad_durations() {
    let text = "[defaults]\ntimeout_connect = \"5 s\"\ntimeout_queue = -5\ntimeout_tunnel = \"\"\n";
    let all = errors(&format!("{text}{BASE}"));
    assert_eq!(
        about(&all, "defaults.timeout_connect").message,
        "invalid duration \"5 s\": unknown unit \" s\" (use ms, s, m, h or d)"
    );
    assert_eq!(at(about(&all, "defaults.timeout_connect")), (2, 19));
    assert_eq!(
        about(&all, "defaults.timeout_queue").message,
        "a duration cannot be negative"
    );
    assert_eq!(
        about(&all, "defaults.timeout_tunnel").message,
        "invalid duration \"\": empty duration"
    );
    assert_eq!(all.len(), 3);
}

#[test]
fn timeouts_must_be_positive_except_purge_delay() {
    let text = BASE.replace("name = \"app\"", "name = \"app\"\ntimeout_server = \"0s\"")
        + "pool_purge_delay = 0\n";
    let error = single(&text, "backend[0].timeout_server");
    assert_eq!(error.message, "must be greater than 0");
    assert_eq!((error.line, error.column), (9, 18));
    for key in [
        "timeout_connect",
        "timeout_client",
        "timeout_server",
        "timeout_http_request",
        "timeout_http_keep_alive",
        "timeout_queue",
        "timeout_tunnel",
    ] {
        let text = format!("[defaults]\n{key} = 0\n{BASE}");
        let error = single(&text, &format!("defaults.{key}"));
        assert_eq!(at(&error), (2, key.len() + 4));
        let text = BASE.replace(
            "default_backend = \"app\"",
            &format!("default_backend = \"app\"\n{key} = \"0ms\""),
        );
        single(&text, &format!("frontend[0].{key}"));
    }
    let config = ok(&(BASE.to_owned() + "pool_purge_delay = \"0s\"\n"));
    assert!(config.backends[0].servers[0].pool_purge_delay.is_zero());
}

#[test]
fn needs_a_frontend_and_a_backend() {
    let all = errors("");
    assert_eq!(all.len(), 2, "{}", render(&all));
    assert_eq!(
        about(&all, "frontend").message,
        "at least one [[frontend]] is required"
    );
    assert_eq!(
        about(&all, "backend").message,
        "at least one [[backend]] is required"
    );
    assert_eq!(at(&all[0]), (1, 1));

    let text = "frontend = []\nbackend = []\n";
    let all = errors(text);
    assert_eq!(all.len(), 2, "{}", render(&all));
    assert_eq!(at(about(&all, "frontend")), (1, 12));
    assert_eq!(at(about(&all, "backend")), (2, 11));

    let text = BASE.split("[[backend]]").next().unwrap().to_owned();
    let all = errors(&text);
    assert_eq!(all.len(), 2, "{}", render(&all));
    about(&all, "backend");
    assert_eq!(
        about(&all, "frontend[0].default_backend").message,
        "no backend named \"app\""
    );
}

#[test]
fn names_are_unique() {
    let text = format!(
        "{BASE}{}",
        r#"
[[backend.server]]
name = "s1"
address = "127.0.0.1:8082"

[[frontend]]
name = "web"
bind = ["127.0.0.1:8090"]
default_backend = "app"

[[backend]]
name = "app"
[[backend.server]]
name = "s1"
address = "127.0.0.1:8081"
"#
    );
    let all = errors(&text);
    assert_eq!(all.len(), 3, "{}", render(&all));
    let server = about(&all, "backend[0].server[1].name");
    assert_eq!(at(server), (15, 8));
    assert_eq!(
        server.message,
        "duplicate server name \"s1\" (already used by backend[0].server[0])"
    );
    let frontend = about(&all, "frontend[1].name");
    assert_eq!(at(frontend), (19, 8));
    assert_eq!(
        frontend.message,
        "duplicate frontend name \"web\" (already used by frontend[0])"
    );
    let backend = about(&all, "backend[1].name");
    assert_eq!(at(backend), (24, 8));
    // The same server name in another backend is fine.
    assert!(all.iter().all(|e| e.key != "backend[1].server[0].name"));
}

#[test]
fn empty_names() {
    let text = BASE.replace("name = \"web\"", "name = \"\"");
    let error = single(&text, "frontend[0].name");
    assert_eq!(error.message, "must not be empty");
}

#[test]
fn missing_required_keys() {
    let text = r#"
[[frontend]]
default_backend = "app"

[[backend]]

[[backend.server]]
maxconn = 1
"#;
    let all = errors(text);
    assert_eq!(all.len(), 6, "{}", render(&all));
    for (key, position) in [
        ("frontend[0].name", (2, 1)),
        ("frontend[0].bind", (2, 1)),
        ("backend[0].name", (5, 1)),
        ("backend[0].server[0].name", (7, 1)),
        ("backend[0].server[0].address", (7, 1)),
    ] {
        let error = about(&all, key);
        assert_eq!(at(error), position, "{error}");
    }
    assert_eq!(
        about(&all, "frontend[0].name").message,
        "missing required key"
    );
}

#[test]
fn bind_addresses() {
    let text = BASE.replace(
        r#"bind = ["127.0.0.1:8080"]"#,
        r#"bind = ["127.0.0.1:8080", "localhost:80", "0.0.0.0", 5, "127.0.0.1:8080"]"#,
    );
    let all = errors(&text);
    assert_eq!(all.len(), 4, "{}", render(&all));
    let host = about(&all, "frontend[0].bind[1]");
    assert_eq!(at(host), (4, 27));
    assert_eq!(
        host.message,
        "\"localhost:80\" is not an ip:port address such as \"127.0.0.1:8080\""
    );
    assert_eq!(at(about(&all, "frontend[0].bind[2]")), (4, 43));
    assert_eq!(
        about(&all, "frontend[0].bind[3]").message,
        "expected a string, found an integer"
    );
    assert_eq!(
        about(&all, "frontend[0].bind[4]").message,
        "127.0.0.1:8080 is already bound by frontend[0].bind[0]"
    );

    let text = BASE.replace(r#"["127.0.0.1:8080"]"#, "[]");
    let error = single(&text, "frontend[0].bind");
    assert_eq!(at(&error), (4, 8));
    assert_eq!(error.message, "must list at least one address");
}

#[test]
fn backend_references_point_at_the_value() {
    let text = BASE.replace(
        "default_backend = \"app\"",
        "default_backend = \"api\"\nroutes = [{ host = \"a.com\", backend = \"nope\" }]",
    );
    let all = errors(&text);
    assert_eq!(all.len(), 2, "{}", render(&all));
    let default = about(&all, "frontend[0].default_backend");
    assert_eq!(at(default), (5, 19));
    assert_eq!(default.message, "no backend named \"api\"");
    let route = about(&all, "frontend[0].routes[0].backend");
    assert_eq!(at(route), (6, 39));
    assert_eq!(route.message, "no backend named \"nope\"");
}

#[test]
fn frontend_needs_default_backend_or_routes() {
    let text = BASE.replace("default_backend = \"app\"\n", "");
    let error = single(&text, "frontend[0]");
    assert_eq!(at(&error), (2, 1));
    assert_eq!(
        error.message,
        "a frontend needs default_backend or at least one route"
    );
    single(
        &BASE.replace("default_backend = \"app\"", "routes = []"),
        "frontend[0]",
    );
    let config = ok(&BASE.replace(
        "default_backend = \"app\"",
        "[[frontend.routes]]\nhost = \"EXAMPLE.com:8080\"\nbackend = \"app\"",
    ));
    assert_eq!(config.frontends[0].default_backend, None);
    assert_eq!(config.frontends[0].routes[0].host, "example.com");
    assert_eq!(config.frontends[0].routes[0].backend, 0);
}

#[test]
fn route_hosts() {
    let text = BASE.replace(
        "default_backend = \"app\"",
        r#"routes = [
  { host = "a.com", backend = "app" },
  { host = "A.com:443", backend = "app" },
  { host = "", backend = "app" },
  { host = "a.com:http", backend = "app" },
  { backend = "app" },
]"#,
    );
    let all = errors(&text);
    assert_eq!(all.len(), 4, "{}", render(&all));
    let duplicate = about(&all, "frontend[0].routes[1].host");
    assert_eq!(at(duplicate), (7, 12));
    assert_eq!(
        duplicate.message,
        "host \"a.com\" is already routed by frontend[0].routes[0]"
    );
    assert_eq!(
        about(&all, "frontend[0].routes[2].host").message,
        "must not be empty"
    );
    assert_eq!(
        about(&all, "frontend[0].routes[3].host").message,
        "\"a.com:http\" has an invalid port"
    );
    assert_eq!(at(about(&all, "frontend[0].routes[4].host")), (10, 3));
}

#[test]
fn backend_needs_a_server() {
    let text = BASE.split("[[backend.server]]").next().unwrap();
    let error = single(text, "backend[0].server");
    assert_eq!(at(&error), (7, 1));
    assert_eq!(
        error.message,
        "a backend needs at least one [[backend.server]]"
    );

    let text = text.replace("name = \"app\"", "name = \"app\"\nserver = []");
    let error = single(&text, "backend[0].server");
    assert_eq!(at(&error), (9, 10));
}

#[test]
fn server_addresses() {
    for (address, message) in [
        (
            "no-such-host.invalid:80",
            "cannot resolve \"no-such-host.invalid\"",
        ),
        ("127.0.0.1", "\"127.0.0.1\" is not a host:port address"),
        ("localhost:99999", "\"localhost:99999\" has an invalid port"),
        (":80", "\":80\" has no host"),
        ("::1:80", "write IPv6 as [addr]:port"),
    ] {
        let text = BASE.replace("127.0.0.1:8081", address);
        let error = single(&text, "backend[0].server[0].address");
        assert_eq!(at(&error), (12, 11), "{error}");
        assert!(error.message.contains(message), "{error}");
    }
    let config = ok(&BASE.replace("127.0.0.1:8081", "localhost:8081"));
    let address = config.backends[0].servers[0].address;
    assert!(address.ip().is_loopback());
    assert_eq!(address.port(), 8081);
    let config = ok(&BASE.replace("127.0.0.1:8081", "[::1]:8081"));
    assert_eq!(
        config.backends[0].servers[0].address,
        "[::1]:8081".parse().unwrap()
    );
}

#[test]
fn server_limits() {
    let text =
        format!("{BASE}maxconn = -1\npool_max_conn = -2\npool_low_conn = -1\nmax_reuse = -3\n");
    let all = errors(&text);
    assert_eq!(all.len(), 4, "{}", render(&all));
    let pool = about(&all, "backend[0].server[0].pool_max_conn");
    assert_eq!(at(pool), (14, 17));
    assert_eq!(pool.message, "must be at least -1, found -2");
    let reuse = about(&all, "backend[0].server[0].max_reuse");
    assert_eq!(at(reuse), (16, 13));
    assert_eq!(reuse.message, "must be at least -1, found -3");
    assert_eq!(
        about(&all, "backend[0].server[0].maxconn").message,
        "must be between 0 and 4294967295, found -1"
    );
    assert_eq!(
        about(&all, "backend[0].server[0].pool_low_conn").message,
        "must be between 0 and 4294967295, found -1"
    );

    let config = ok(&format!(
        "{BASE}maxconn = 4294967295\npool_max_conn = 0\npool_low_conn = 7\nmax_reuse = 0\n"
    ));
    let server = &config.backends[0].servers[0];
    assert_eq!(server.maxconn, u32::MAX);
    assert_eq!(server.pool_max_conn, 0);
    assert_eq!(server.pool_low_conn, 7);
    assert_eq!(server.max_reuse, 0);
    single(
        &format!("{BASE}maxconn = 4294967296\n"),
        "backend[0].server[0].maxconn",
    );
    let error = single(
        &format!("{BASE}max_reuse = 9223372036854775808\n"),
        "backend[0].server[0].max_reuse",
    );
    assert_eq!(error.message, "integer 9223372036854775808 is out of range");
}

#[test]
fn global_limits() {
    for (key, bad, good) in [
        ("shards", "1025", "1024"),
        ("shards", "-1", "0"),
        ("max_request_head", "1023", "1024"),
        ("max_request_head", "1048577", "1048576"),
        ("spin_rounds", "-1", "0"),
        ("spin_rounds", "1001", "1000"),
        ("max_conn", "0", "1"),
        ("pool_low_fd_ratio", "-1", "0"),
        ("pool_high_fd_ratio", "101", "100"),
        ("admin_listen", "\"localhost:9100\"", "\"[::1]:9100\""),
        ("stats_socket", "\"\"", "\"ringway.sock\""),
    ] {
        let error = single(
            &format!("[global]\n{key} = {bad}\n{BASE}"),
            &format!("global.{key}"),
        );
        assert_eq!(at(&error), (2, key.len() + 4), "{error}");
        ok(&format!("[global]\n{key} = {good}\n{BASE}"));
    }
    let long = "x".repeat(108);
    single(
        &format!("[global]\nstats_socket = \"/{long}\"\n{BASE}"),
        "global.stats_socket",
    );
}

#[test]
fn the_low_fd_ratio_may_not_exceed_the_high_one() {
    let error = single(
        &format!("[global]\npool_high_fd_ratio = 90\npool_low_fd_ratio = 95\n{BASE}"),
        "global.pool_low_fd_ratio",
    );
    assert_eq!(at(&error), (3, 21), "{error}");
    assert_eq!(
        error.message,
        "pool_low_fd_ratio (95) must not exceed pool_high_fd_ratio (90)"
    );
    // Against the other's default: 30 > 25.
    single(
        &format!("[global]\npool_low_fd_ratio = 30\n{BASE}"),
        "global.pool_low_fd_ratio",
    );
    single(
        &format!("[global]\npool_high_fd_ratio = 10\n{BASE}"),
        "global.pool_high_fd_ratio",
    );
    let config = ok(&format!(
        "[global]\npool_low_fd_ratio = 80\npool_high_fd_ratio = 90\n{BASE}"
    ));
    assert_eq!(
        (
            config.global.pool_low_fd_ratio,
            config.global.pool_high_fd_ratio
        ),
        (80, 90)
    );
}

#[test]
fn enumerations() {
    let text = BASE.replace(
        "name = \"app\"",
        "name = \"app\"\nbalance = \"random\"\nhttp_reuse = \"sometimes\"",
    ) + "tls = { verify = \"optional\", sni = \"\" }\n";
    let all = errors(&text);
    assert_eq!(all.len(), 4, "{}", render(&all));
    assert_eq!(
        about(&all, "backend[0].balance").message,
        "must be \"roundrobin\", \"leastconn\", \"source\" or \"uri\""
    );
    assert_eq!(at(about(&all, "backend[0].balance")), (9, 11));
    assert_eq!(
        about(&all, "backend[0].http_reuse").message,
        "must be one of \"never\", \"safe\", \"aggressive\", \"always\""
    );
    let verify = about(&all, "backend[0].server[0].tls.verify");
    assert_eq!(at(verify), (15, 18));
    assert_eq!(verify.message, "must be \"required\" or \"none\"");
    assert_eq!(
        about(&all, "backend[0].server[0].tls.sni").message,
        "must be a server name or \"host\""
    );
}

#[test]
fn frontend_tls() {
    let with = |tls: &str| {
        BASE.replace(
            "default_backend = \"app\"",
            &format!("default_backend = \"app\"\ntls = {tls}"),
        )
    };
    let error = single(&with("{ certs = [] }"), "frontend[0].tls.certs");
    assert_eq!(at(&error), (6, 17));
    assert_eq!(error.message, "frontend TLS needs at least one certificate");
    let error = single(&with("{ alpn = [\"http/1.1\"] }"), "frontend[0].tls.certs");
    assert_eq!(at(&error), (6, 7));
    let all = errors(&with(
        "{ certs = [{ cert = \"a.pem\" }, { cert = \"\", key = \"k\" }], alpn = [\"\"] }",
    ));
    assert_eq!(all.len(), 3, "{}", render(&all));
    assert_eq!(
        about(&all, "frontend[0].tls.certs[0].key").message,
        "missing required key"
    );
    assert_eq!(
        about(&all, "frontend[0].tls.certs[1].cert").message,
        "must not be empty"
    );
    about(&all, "frontend[0].tls.alpn[0]");
    let error = single(
        &with("{ certs = [{ cert = \"a.pem\", key = \"k\" }], alpn = [\"h3\", \"http/1.1\"] }"),
        "frontend[0].tls.alpn[0]",
    );
    assert!(error.message.contains("\"h2\""), "{}", error.message);
    let error = single(&with("{ certs = [\"a.pem\"] }"), "frontend[0].tls.certs[0]");
    assert_eq!(error.message, "expected a table, found a string");
}

#[test]
fn server_tls_cert_and_key_go_together() {
    let error = single(
        &format!("{BASE}tls = {{ cert = \"c.pem\" }}\n"),
        "backend[0].server[0].tls.key",
    );
    assert_eq!(at(&error), (13, 7));
    let config = ok(&format!(
        "{BASE}tls = {{ cert = \"c.pem\", key = \"c.key\", sni = \"api.internal\" }}\n"
    ));
    let tls = config.backends[0].servers[0].tls.clone().unwrap();
    assert_eq!(tls.verify, ringway_config::Verify::Required);
    assert_eq!(tls.cert.as_deref(), Some(std::path::Path::new("c.pem")));
    assert_eq!(
        tls.sni,
        Some(ringway_config::Sni::Fixed("api.internal".into()))
    );
}

#[test]
fn access_log() {
    use ringway_config::{AccessLog, LogFormat, LogTarget, SyslogOptions, SyslogRfc};
    let with = |log: &str| {
        BASE.replace(
            "default_backend = \"app\"",
            &format!("default_backend = \"app\"\naccess_log = {log}"),
        )
    };
    let log_of = |log: &str| ok(&with(log)).frontends[0].access_log.clone();
    let error = single(&with("\"\""), "frontend[0].access_log");
    assert_eq!(at(&error), (6, 14));
    assert_eq!(
        log_of("\"stderr\""),
        Some(AccessLog::new(LogTarget::Stderr))
    );
    assert_eq!(
        log_of("\"logs/a.log\""),
        Some(AccessLog::new(LogTarget::File("logs/a.log".into())))
    );
    // The table form; a syslog target gets the default framing.
    assert_eq!(
        log_of("{ target = \"udp://127.0.0.1:5140\" }"),
        Some(AccessLog {
            target: LogTarget::Udp("127.0.0.1:5140".parse().unwrap()),
            format: LogFormat::Httplog,
            syslog: Some(SyslogOptions {
                facility: 16,
                tag: "ringway".into(),
                rfc: SyslogRfc::Rfc3164
            }),
        })
    );
    assert_eq!(
        log_of(
            "{ target = \"unix:///dev/log\", facility = \"daemon\", tag = \"edge\", \
             format = \"json\", rfc = \"5424\" }"
        ),
        Some(AccessLog {
            target: LogTarget::Unix("/dev/log".into()),
            format: LogFormat::Json,
            syslog: Some(SyslogOptions {
                facility: 3,
                tag: "edge".into(),
                rfc: SyslogRfc::Rfc5424
            }),
        })
    );
    assert_eq!(
        log_of("{ target = \"stderr\", format = \"json\" }").map(|log| log.format),
        Some(LogFormat::Json)
    );
    assert_eq!(
        log_of("{ target = \"udp://127.0.0.1\", rfc = 5424 }").and_then(|log| log.syslog),
        Some(SyslogOptions {
            rfc: SyslogRfc::Rfc5424,
            ..SyslogOptions::default()
        })
    );

    // Every wrong value is reported at its own position.
    let error = single(
        &with("{ format = \"json\" }"),
        "frontend[0].access_log.target",
    );
    assert_eq!(error.message, "missing required key");
    let error = single(
        &with("{ target = \"tcp://h:1\" }"),
        "frontend[0].access_log.target",
    );
    assert_eq!(at(&error), (6, 25));
    assert!(error.message.contains("unknown scheme \"tcp\""), "{error}");
    let error = single(
        &with("{ target = \"udp://127.0.0.1:x\" }"),
        "frontend[0].access_log.target",
    );
    assert!(error.message.contains("invalid port"), "{error}");
    let error = single(
        &with("{ target = \"udp://127.0.0.1\", facility = \"local9\" }"),
        "frontend[0].access_log.facility",
    );
    assert_eq!(at(&error), (6, 55));
    assert!(error.message.contains("local7"), "{error}");
    let error = single(
        &with("{ target = \"udp://127.0.0.1\", tag = \"ring way\" }"),
        "frontend[0].access_log.tag",
    );
    assert_eq!(at(&error), (6, 50));
    single(
        &with("{ target = \"udp://127.0.0.1\", rfc = \"3195\" }"),
        "frontend[0].access_log.rfc",
    );
    single(
        &with("{ target = \"udp://127.0.0.1\", rfc = true }"),
        "frontend[0].access_log.rfc",
    );
    single(
        &with("{ target = \"stderr\", format = \"clf\" }"),
        "frontend[0].access_log.format",
    );
    let error = single(
        &with("{ target = \"a.log\", fomat = \"json\" }"),
        "frontend[0].access_log.fomat",
    );
    assert!(error.message.contains("\"format\""), "{error}");
    let error = single(
        &with("{ target = \"a.log\", rfc = \"5424\" }"),
        "frontend[0].access_log.rfc",
    );
    assert!(error.message.contains("syslog targets only"), "{error}");
    let all = errors(&with(
        "{ target = \"stderr\", facility = \"local0\", tag = \"x\" }",
    ));
    assert_eq!(all.len(), 2, "{}", render(&all));
    let error = single(&with("42"), "frontend[0].access_log");
    assert_eq!(
        error.message,
        "expected a log target or a table with target, found an integer"
    );
}

#[test]
fn forward_headers() {
    let with = |list: &str| {
        BASE.replace(
            "default_backend = \"app\"",
            &format!("default_backend = \"app\"\nforward_headers = {list}"),
        )
    };
    use ringway_config::ForwardHeaders as F;
    assert_eq!(ok(BASE).frontends[0].forward_headers, F::X_FORWARDED_FOR);
    assert_eq!(ok(&with("[]")).frontends[0].forward_headers, F::NONE);
    let all = ok(&with(
        r#"["x-forwarded-for", "X-Forwarded-Proto", "x-forwarded-host", "x-forwarded-port", "forwarded", "via"]"#,
    ));
    let set = all.frontends[0].forward_headers;
    for (_, one) in F::NAMES {
        assert!(set.contains(one));
    }
    let error = single(
        &with(r#"["via", "x-real-ip"]"#),
        "frontend[0].forward_headers[1]",
    );
    assert_eq!(at(&error), (6, 27));
    assert!(error.message.contains("x-forwarded-proto"), "{error}");
    let error = single(&with("\"via\""), "frontend[0].forward_headers");
    assert_eq!(at(&error), (6, 19));
}

#[test]
fn syntax_errors_carry_their_position() {
    let all = errors("[global]\nshards = 1\nshards = 2\n");
    assert_eq!(all.len(), 1, "{}", render(&all));
    assert_eq!(at(&all[0]), (3, 1));
    assert_eq!(all[0].key, "");
    assert_eq!(
        all[0].to_string(),
        "test.toml:3:1: invalid TOML: duplicate key"
    );
    let all = errors("[global\nshards = \n");
    assert!(!all.is_empty());
    assert_eq!(all[0].line, 1);
}

#[test]
fn many_errors_at_once_in_file_order() {
    let text = r#"[global]
shards = 5000
bogus = true

[[frontend]]
name = "web"
bind = ["nope"]
default_backend = "ghost"

[[backend]]
name = "app"
balance = "random"

[[backend.server]]
name = "s1"
address = "127.0.0.1:8081"
pool_max_conn = -7
"#;
    let all = errors(text);
    let got: Vec<(usize, usize, &str)> = all
        .iter()
        .map(|e| (e.line, e.column, e.key.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, 10, "global.shards"),
            (3, 1, "global.bogus"),
            (7, 9, "frontend[0].bind[0]"),
            (8, 19, "frontend[0].default_backend"),
            (12, 11, "backend[0].balance"),
            (17, 17, "backend[0].server[0].pool_max_conn"),
        ]
    );
    let shown = parse(text, "bad.toml").unwrap_err().to_string();
    assert_eq!(shown.lines().count(), 6);
    assert!(
        shown.starts_with("bad.toml:2:10: global.shards: must be between 0 and 1024, found 5000\n")
    );
}

#[test]
fn columns_count_characters() {
    let text = BASE.replace(
        "default_backend = \"app\"",
        "routes = [{ host = \"é.com\", backend = \"app\", x = 1 }]",
    );
    let error = single(&text, "frontend[0].routes[0].x");
    assert_eq!(at(&error), (5, 46));
}

#[test]
fn unreadable_file() {
    let path = std::env::temp_dir().join("ringway-config-test-does-not-exist.toml");
    let errors = ringway_config::load(&path).unwrap_err();
    assert_eq!(errors.len(), 1);
    let shown = errors.to_string();
    assert!(
        shown.starts_with(&format!("{}: cannot read: ", path.display())),
        "{shown}"
    );
}

#[test]
fn proxy_protocol_keys() {
    let accept = |value: &str| {
        BASE.replace(
            "default_backend = \"app\"",
            &format!("default_backend = \"app\"\naccept_proxy = {value}"),
        )
    };
    assert!(!ok(BASE).frontends[0].accept_proxy);
    assert!(ok(&accept("true")).frontends[0].accept_proxy);
    assert!(!ok(&accept("false")).frontends[0].accept_proxy);
    let error = single(&accept("\"yes\""), "frontend[0].accept_proxy");
    assert_eq!(at(&error), (6, 16));
    assert_eq!(error.message, "expected a boolean, found a string");

    use ringway_config::ProxyVersion;
    assert_eq!(ok(BASE).backends[0].servers[0].send_proxy, None);
    for (given, version) in [("v1", ProxyVersion::V1), ("v2", ProxyVersion::V2)] {
        let config = ok(&format!("{BASE}send_proxy = \"{given}\"\n"));
        assert_eq!(config.backends[0].servers[0].send_proxy, Some(version));
    }
    let error = single(
        &format!("{BASE}send_proxy = \"v3\"\n"),
        "backend[0].server[0].send_proxy",
    );
    assert_eq!(at(&error), (13, 14));
    assert_eq!(error.message, "must be \"v1\" or \"v2\"");
    let error = single(
        &format!("{BASE}send_proxy = true\n"),
        "backend[0].server[0].send_proxy",
    );
    assert_eq!(error.message, "expected a string, found a boolean");
    let error = single(
        &format!("{BASE}send_proxy_v2 = true\n"),
        "backend[0].server[0].send_proxy_v2",
    );
    assert!(error.message.contains("send_proxy"), "{error}");
}

#[test]
fn defer_accept_key() {
    let defer = |value: &str| {
        BASE.replace(
            "default_backend = \"app\"",
            &format!("default_backend = \"app\"\ndefer_accept = {value}"),
        )
    };
    assert!(!ok(BASE).frontends[0].defer_accept);
    assert!(ok(&defer("true")).frontends[0].defer_accept);
    assert!(!ok(&defer("false")).frontends[0].defer_accept);
    let error = single(&defer("1"), "frontend[0].defer_accept");
    assert_eq!(at(&error), (6, 16));
    assert_eq!(error.message, "expected a boolean, found an integer");
}

#[test]
fn splice_key() {
    use ringway_config::Splice;
    let in_backend = |value: &str| {
        BASE.replace(
            "name = \"app\"\n",
            &format!("name = \"app\"\nsplice = {value}\n"),
        )
    };
    assert_eq!(ok(BASE).backends[0].splice, Splice::Auto);
    assert_eq!(ok(&in_backend("\"off\"")).backends[0].splice, Splice::Off);
    assert_eq!(
        ok(&in_backend("\"always\"")).backends[0].splice,
        Splice::Always
    );
    let from_defaults = format!("[defaults]\nsplice = \"off\"\n{BASE}");
    assert_eq!(ok(&from_defaults).backends[0].splice, Splice::Off);
    let overridden = format!("[defaults]\nsplice = \"off\"\n{}", in_backend("\"auto\""));
    assert_eq!(ok(&overridden).backends[0].splice, Splice::Auto);

    let error = single(&in_backend("\"sometimes\""), "backend[0].splice");
    assert_eq!(at(&error), (9, 10));
    assert_eq!(
        error.message,
        "must be one of \"auto\", \"off\", \"always\""
    );
    let error = single(&in_backend("true"), "backend[0].splice");
    assert_eq!(error.message, "expected a string, found a boolean");
    let in_frontend = BASE.replace(
        "default_backend = \"app\"",
        "default_backend = \"app\"\nsplice = \"auto\"",
    );
    let error = single(&in_frontend, "frontend[0].splice");
    assert_eq!(at(&error), (6, 10));
    assert!(error.message.contains("applies to a backend"), "{error}");
}
