//! The walk of the TOML document into a [`DraftConfig`].
//!
//! The text is parsed with toml's span-preserving document API, then every
//! table is walked by hand so that all problems of shape are collected, not
//! just the first: syntax errors, unknown keys (with the closest known key as
//! a hint), values of the wrong type, missing required keys. Value rules
//! (ranges, references, addresses) belong to `validate`.

use toml::de::{DeArray, DeTable, DeValue};
use toml::Spanned;

use crate::draft::{
    At, DraftAccessLog, DraftBackend, DraftCertPair, DraftConfig, DraftCookie, DraftFrontend,
    DraftFrontendTls, DraftGlobal, DraftHealthCheck, DraftRoute, DraftServer, DraftServerTls,
    DraftStatsSocket, DraftTcpKeepalive, DraftTuning, List, Origin,
};
use crate::duration::parse_duration;
use crate::error::Issues;

type Value<'i> = Spanned<DeValue<'i>>;

const ROOT_KEYS: &[&str] = &["global", "defaults", "frontend", "backend"];
const GLOBAL_KEYS: &[&str] = &[
    "shards",
    "pin_shards",
    "max_conn",
    "pool_low_fd_ratio",
    "pool_high_fd_ratio",
    "stats_socket",
    "admin_listen",
    "max_request_head",
    "spin_rounds",
    "grace",
    "user",
    "group",
];
const STATS_SOCKET_KEYS: &[&str] = &["path", "mode", "user", "group", "level"];
const TUNING_KEYS: &[&str] = &[
    "timeout_connect",
    "timeout_client",
    "timeout_server",
    "timeout_http_request",
    "timeout_http_keep_alive",
    "timeout_queue",
    "timeout_tunnel",
    "timeout_client_fin",
    "timeout_server_fin",
    "retries",
    "tcp_keepalive",
    "splice",
];
const TCP_KEEPALIVE_KEYS: &[&str] = &["client", "server", "idle", "interval", "count"];
const FRONTEND_KEYS: &[&str] = &[
    "name",
    "bind",
    "default_backend",
    "routes",
    "tls",
    "access_log",
    "forward_headers",
    "accept_proxy",
    "defer_accept",
    "monitor_uri",
];
const ACCESS_LOG_KEYS: &[&str] = &["target", "facility", "tag", "format", "rfc"];
const ROUTE_KEYS: &[&str] = &["host", "backend"];
const FRONTEND_TLS_KEYS: &[&str] = &["certs", "alpn"];
const CERT_KEYS: &[&str] = &["cert", "key"];
const BACKEND_KEYS: &[&str] = &[
    "name",
    "balance",
    "http_reuse",
    "redispatch",
    "server",
    "health_check",
    "allbackups",
    "cookie",
];
const COOKIE_KEYS: &[&str] = &[
    "name", "mode", "indirect", "nocache", "maxidle", "maxlife", "path", "domain", "httponly",
    "secure",
];
const HEALTH_CHECK_KEYS: &[&str] = &[
    "kind",
    "method",
    "path",
    "host",
    "expect_status",
    "interval",
    "fastinter",
    "downinter",
    "timeout",
    "rise",
    "fall",
];
const SERVER_KEYS: &[&str] = &[
    "name",
    "address",
    "maxconn",
    "pool_max_conn",
    "pool_low_conn",
    "pool_purge_delay",
    "max_reuse",
    "tls",
    "send_proxy",
    "proto",
    "check",
    "weight",
    "backup",
    "slowstart",
    "observe",
    "error_limit",
    "on_error",
    "cookie",
];
const SERVER_TLS_KEYS: &[&str] = &["verify", "ca_file", "sni", "cert", "key"];

/// Parses `text` and walks it. Returns `None` when the text is not valid TOML
/// (the syntax errors are in `issues`).
pub(crate) fn read_document(text: &str, issues: &mut Issues) -> Option<DraftConfig> {
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for error in errors {
            let span = error.span().unwrap_or(0..0);
            issues.push(span, "", format!("invalid TOML: {}", error.message()));
        }
        return None;
    }
    let root = Reader {
        table: root.get_ref(),
        origin: Origin::default(),
    };
    root.check_keys(&[ROOT_KEYS], issues);
    let mut draft = DraftConfig::default();
    if let Some(global) = root.table("global", issues) {
        draft.global = read_global(&global, issues);
    }
    if let Some(defaults) = root.table("defaults", issues) {
        defaults.check_keys(&[TUNING_KEYS], issues);
        draft.defaults = read_tuning(&defaults, issues);
    }
    draft.frontends = root.list("frontend", issues, read_frontend);
    draft.backends = root.list("backend", issues, read_backend);
    Some(draft)
}

fn read_global(table: &Reader<'_, '_>, issues: &mut Issues) -> DraftGlobal {
    table.check_keys(&[GLOBAL_KEYS], issues);
    DraftGlobal {
        shards: table.integer("shards", issues),
        pin_shards: table.boolean("pin_shards", issues),
        max_conn: table.integer("max_conn", issues),
        pool_low_fd_ratio: table.integer("pool_low_fd_ratio", issues),
        pool_high_fd_ratio: table.integer("pool_high_fd_ratio", issues),
        stats_sockets: read_stats_sockets(table, issues),
        admin_listen: table.string("admin_listen", issues),
        max_request_head: table.integer("max_request_head", issues),
        spin_rounds: table.integer("spin_rounds", issues),
        grace: table.duration("grace", issues),
        user: table.string("user", issues),
        group: table.string("group", issues),
    }
}

/// `stats_socket`: a path, a table, or a list of paths and tables.
fn read_stats_sockets(table: &Reader<'_, '_>, issues: &mut Issues) -> Vec<DraftStatsSocket> {
    let Some(value) = table.value("stats_socket") else {
        return Vec::new();
    };
    let key = table.origin.child("stats_socket");
    match value.get_ref() {
        DeValue::Array(array) => array
            .iter()
            .enumerate()
            .filter_map(|(i, item)| read_stats_socket(item, format!("{key}[{i}]"), issues))
            .collect(),
        _ => read_stats_socket(value, key, issues).into_iter().collect(),
    }
}

fn read_stats_socket(
    value: &Value<'_>,
    key: String,
    issues: &mut Issues,
) -> Option<DraftStatsSocket> {
    let origin = Origin {
        key: key.clone(),
        span: value.span(),
    };
    match value.get_ref() {
        DeValue::String(_) => Some(DraftStatsSocket {
            path: at(value, key, issues, as_string),
            origin,
            ..DraftStatsSocket::default()
        }),
        DeValue::Table(_) => {
            let table = open_table(value, key, issues)?;
            table.check_keys(&[STATS_SOCKET_KEYS], issues);
            Some(DraftStatsSocket {
                path: table.required_string("path", issues),
                mode: table.typed("mode", issues, |value| {
                    value
                        .as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| expected("octal text such as \"0600\"", value))
                }),
                user: table.string("user", issues),
                group: table.string("group", issues),
                level: table.string("level", issues),
                origin,
            })
        }
        other => {
            issues.push(
                value.span(),
                key,
                expected("a socket path, a table or a list of them", other),
            );
            None
        }
    }
}

fn read_tuning(table: &Reader<'_, '_>, issues: &mut Issues) -> DraftTuning {
    DraftTuning {
        connect: table.duration("timeout_connect", issues),
        client: table.duration("timeout_client", issues),
        server: table.duration("timeout_server", issues),
        http_request: table.duration("timeout_http_request", issues),
        http_keep_alive: table.duration("timeout_http_keep_alive", issues),
        queue: table.duration("timeout_queue", issues),
        tunnel: table.duration("timeout_tunnel", issues),
        client_fin: table.duration("timeout_client_fin", issues),
        server_fin: table.duration("timeout_server_fin", issues),
        retries: table.integer("retries", issues),
        splice: table.string("splice", issues),
        tcp_keepalive: table
            .table("tcp_keepalive", issues)
            .map(|keepalive| read_tcp_keepalive(keepalive, issues)),
    }
}

fn read_tcp_keepalive(table: Reader<'_, '_>, issues: &mut Issues) -> DraftTcpKeepalive {
    table.check_keys(&[TCP_KEEPALIVE_KEYS], issues);
    DraftTcpKeepalive {
        client: table.boolean("client", issues),
        server: table.boolean("server", issues),
        idle: table.duration("idle", issues),
        interval: table.duration("interval", issues),
        count: table.integer("count", issues),
    }
}

fn read_frontend(table: Reader<'_, '_>, issues: &mut Issues) -> DraftFrontend {
    table.check_keys(&[FRONTEND_KEYS, TUNING_KEYS], issues);
    let routes = table.list("routes", issues, read_route);
    let no_routes = routes.at.is_none() || (routes.items.is_empty() && !routes.invalid);
    if table.value("default_backend").is_none() && no_routes {
        issues.push(
            table.origin.span.clone(),
            table.origin.key.clone(),
            "a frontend needs default_backend or at least one route",
        );
    }
    DraftFrontend {
        name: table.required_string("name", issues),
        bind: table
            .required("bind", issues)
            .and_then(|_| table.strings("bind", issues)),
        default_backend: table.string("default_backend", issues),
        routes,
        tls: table
            .table("tls", issues)
            .map(|tls| read_frontend_tls(tls, issues)),
        access_log: read_access_log(&table, issues),
        forward_headers: table.strings("forward_headers", issues),
        accept_proxy: table.boolean("accept_proxy", issues),
        defer_accept: table.boolean("defer_accept", issues),
        monitor_uri: table.string("monitor_uri", issues),
        tuning: read_tuning(&table, issues),
        origin: table.origin,
    }
}

/// `access_log`: a target string or a table with `target` and the format keys.
fn read_access_log(table: &Reader<'_, '_>, issues: &mut Issues) -> Option<DraftAccessLog> {
    let value = table.value("access_log")?;
    let key = table.origin.child("access_log");
    match value.get_ref() {
        DeValue::String(_) => Some(DraftAccessLog {
            target: at(value, key, issues, as_string),
            ..DraftAccessLog::default()
        }),
        DeValue::Table(_) => {
            let log = open_table(value, key, issues)?;
            log.check_keys(&[ACCESS_LOG_KEYS], issues);
            Some(DraftAccessLog {
                target: log.required_string("target", issues),
                facility: log.string("facility", issues),
                tag: log.string("tag", issues),
                format: log.string("format", issues),
                rfc: log.typed("rfc", issues, |value| match value {
                    DeValue::Integer(_) => as_integer(value).map(|rfc| rfc.to_string()),
                    _ => value
                        .as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| expected("\"3164\" or \"5424\"", value)),
                }),
            })
        }
        other => {
            issues.push(
                value.span(),
                key,
                expected("a log target or a table with target", other),
            );
            None
        }
    }
}

fn read_route(table: Reader<'_, '_>, issues: &mut Issues) -> DraftRoute {
    table.check_keys(&[ROUTE_KEYS], issues);
    DraftRoute {
        host: table.required_string("host", issues),
        backend: table.required_string("backend", issues),
        origin: table.origin,
    }
}

fn read_frontend_tls(table: Reader<'_, '_>, issues: &mut Issues) -> DraftFrontendTls {
    table.check_keys(&[FRONTEND_TLS_KEYS], issues);
    table.required_because(
        "certs",
        "frontend TLS needs at least one certificate",
        issues,
    );
    DraftFrontendTls {
        certs: table.list("certs", issues, read_cert_pair),
        alpn: table.strings("alpn", issues).map(|alpn| alpn.value),
    }
}

fn read_cert_pair(table: Reader<'_, '_>, issues: &mut Issues) -> DraftCertPair {
    table.check_keys(&[CERT_KEYS], issues);
    DraftCertPair {
        cert: table.required_string("cert", issues),
        key: table.required_string("key", issues),
    }
}

fn read_backend(table: Reader<'_, '_>, issues: &mut Issues) -> DraftBackend {
    table.check_keys(&[BACKEND_KEYS, TUNING_KEYS], issues);
    table.required_because(
        "server",
        "a backend needs at least one [[backend.server]]",
        issues,
    );
    DraftBackend {
        name: table.required_string("name", issues),
        balance: table.string("balance", issues),
        http_reuse: table.string("http_reuse", issues),
        redispatch: table.boolean("redispatch", issues),
        servers: table.list("server", issues, read_server),
        tuning: read_tuning(&table, issues),
        health_check: table
            .table("health_check", issues)
            .map(|check| read_health_check(check, issues)),
        allbackups: table.boolean("allbackups", issues),
        cookie: table
            .table("cookie", issues)
            .map(|cookie| read_cookie(cookie, issues)),
        origin: table.origin,
    }
}

fn read_health_check(table: Reader<'_, '_>, issues: &mut Issues) -> DraftHealthCheck {
    table.check_keys(&[HEALTH_CHECK_KEYS], issues);
    DraftHealthCheck {
        kind: table.string("kind", issues),
        method: table.string("method", issues),
        path: table.string("path", issues),
        host: table.string("host", issues),
        expect_status: table.integers("expect_status", issues),
        interval: table.duration("interval", issues),
        fastinter: table.duration("fastinter", issues),
        downinter: table.duration("downinter", issues),
        timeout: table.duration("timeout", issues),
        rise: table.integer("rise", issues),
        fall: table.integer("fall", issues),
    }
}

fn read_cookie(table: Reader<'_, '_>, issues: &mut Issues) -> DraftCookie {
    table.check_keys(&[COOKIE_KEYS], issues);
    DraftCookie {
        name: table.required_string("name", issues),
        mode: table.string("mode", issues),
        indirect: table.boolean("indirect", issues),
        nocache: table.boolean("nocache", issues),
        maxidle: table.duration("maxidle", issues),
        maxlife: table.duration("maxlife", issues),
        path: table.string("path", issues),
        domain: table.string("domain", issues),
        httponly: table.boolean("httponly", issues),
        secure: table.boolean("secure", issues),
    }
}

fn read_server(table: Reader<'_, '_>, issues: &mut Issues) -> DraftServer {
    table.check_keys(&[SERVER_KEYS], issues);
    DraftServer {
        name: table.required_string("name", issues),
        address: table.required_string("address", issues),
        maxconn: table.integer("maxconn", issues),
        pool_max_conn: table.integer("pool_max_conn", issues),
        pool_low_conn: table.integer("pool_low_conn", issues),
        pool_purge_delay: table.duration("pool_purge_delay", issues),
        max_reuse: table.integer("max_reuse", issues),
        tls: table
            .table("tls", issues)
            .map(|tls| read_server_tls(tls, issues)),
        send_proxy: table.string("send_proxy", issues),
        proto: table.string("proto", issues),
        check: table.boolean("check", issues),
        weight: table.integer("weight", issues),
        backup: table.boolean("backup", issues),
        slowstart: table.duration("slowstart", issues),
        observe: table.string("observe", issues),
        error_limit: table.integer("error_limit", issues),
        on_error: table.string("on_error", issues),
        cookie: table.string("cookie", issues),
        origin: table.origin,
    }
}

fn read_server_tls(table: Reader<'_, '_>, issues: &mut Issues) -> DraftServerTls {
    table.check_keys(&[SERVER_TLS_KEYS], issues);
    DraftServerTls {
        verify: table.string("verify", issues),
        ca_file: table.string("ca_file", issues),
        sni: table.string("sni", issues),
        cert: table.string("cert", issues),
        key: table.string("key", issues),
        origin: table.origin,
    }
}

/// One TOML table being walked, with its dotted key.
struct Reader<'a, 'i> {
    table: &'a DeTable<'i>,
    origin: Origin,
}

impl<'a, 'i> Reader<'a, 'i> {
    /// Reports every key of the table that is in none of `allowed`.
    fn check_keys(&self, allowed: &[&[&str]], issues: &mut Issues) {
        for (key, _) in self.table.iter() {
            let name: &str = key.get_ref();
            if allowed.iter().any(|keys| keys.contains(&name)) {
                continue;
            }
            let message = match closest(name, allowed) {
                Some(hint) => format!("unknown key (did you mean \"{hint}\"?)"),
                None => {
                    let known: Vec<&str> = allowed.iter().flat_map(|k| k.iter().copied()).collect();
                    format!("unknown key; expected one of: {}", known.join(", "))
                }
            };
            issues.push(key.span(), self.origin.child(name), message);
        }
    }

    fn value(&self, key: &str) -> Option<&'a Value<'i>> {
        self.table.get(key)
    }

    /// Reports `key` missing; returns `Some(())` when present.
    fn required(&self, key: &str, issues: &mut Issues) -> Option<()> {
        self.required_because(key, "missing required key", issues)
    }

    /// [`Reader::required`] with a message of its own.
    fn required_because(&self, key: &str, message: &str, issues: &mut Issues) -> Option<()> {
        if self.value(key).is_some() {
            return Some(());
        }
        issues.push(self.origin.span.clone(), self.origin.child(key), message);
        None
    }

    /// Runs `read` on the value of `key` and attaches the key and span.
    fn typed<T>(
        &self,
        key: &str,
        issues: &mut Issues,
        read: impl FnOnce(&DeValue<'i>) -> Result<T, String>,
    ) -> Option<At<T>> {
        let value = self.value(key)?;
        let key = self.origin.child(key);
        at(value, key, issues, read)
    }

    fn string(&self, key: &str, issues: &mut Issues) -> Option<At<String>> {
        self.typed(key, issues, as_string)
    }

    fn required_string(&self, key: &str, issues: &mut Issues) -> Option<At<String>> {
        self.required(key, issues)?;
        self.string(key, issues)
    }

    fn integer(&self, key: &str, issues: &mut Issues) -> Option<At<i64>> {
        self.typed(key, issues, as_integer)
    }

    fn boolean(&self, key: &str, issues: &mut Issues) -> Option<At<bool>> {
        self.typed(key, issues, |value| {
            value.as_bool().ok_or_else(|| expected("a boolean", value))
        })
    }

    fn duration(&self, key: &str, issues: &mut Issues) -> Option<At<std::time::Duration>> {
        self.typed(key, issues, as_duration)
    }

    /// An array of strings; each element keeps its own key (`bind[1]`) and span.
    fn strings(&self, key: &str, issues: &mut Issues) -> Option<At<Vec<At<String>>>> {
        self.array(key, issues, as_string)
    }

    /// An array of integers; each element keeps its own key (`expect_status[1]`) and span.
    fn integers(&self, key: &str, issues: &mut Issues) -> Option<At<Vec<At<i64>>>> {
        self.array(key, issues, as_integer)
    }

    /// An array whose elements `convert` reads, each keeping its own key and span.
    fn array<T>(
        &self,
        key: &str,
        issues: &mut Issues,
        convert: fn(&DeValue<'_>) -> Result<T, String>,
    ) -> Option<At<Vec<At<T>>>> {
        let value = self.value(key)?;
        let key = self.origin.child(key);
        let array = array_of(value, &key, issues)?;
        let items = array
            .iter()
            .enumerate()
            .filter_map(|(i, item)| at(item, format!("{key}[{i}]"), issues, convert))
            .collect();
        Some(At {
            value: items,
            key,
            span: value.span(),
        })
    }

    /// The sub-table at `key`, if present and a table.
    fn table(&self, key: &str, issues: &mut Issues) -> Option<Reader<'a, 'i>> {
        let value = self.value(key)?;
        open_table(value, self.origin.child(key), issues)
    }

    /// An array of tables at `key`, each read with `read`.
    fn list<T>(
        &self,
        key: &str,
        issues: &mut Issues,
        mut read: impl FnMut(Reader<'a, 'i>, &mut Issues) -> T,
    ) -> List<T> {
        let mut list = List {
            items: Vec::new(),
            at: None,
            invalid: false,
        };
        let Some(value) = self.value(key) else {
            return list;
        };
        let key = self.origin.child(key);
        list.at = Some(Origin {
            key: key.clone(),
            span: value.span(),
        });
        let Some(array) = array_of(value, &key, issues) else {
            list.invalid = true;
            return list;
        };
        for (i, item) in array.iter().enumerate() {
            match open_table(item, format!("{key}[{i}]"), issues) {
                Some(table) => list.items.push(read(table, issues)),
                None => list.invalid = true,
            }
        }
        list
    }
}

fn at<'i, T>(
    value: &Value<'i>,
    key: String,
    issues: &mut Issues,
    read: impl FnOnce(&DeValue<'i>) -> Result<T, String>,
) -> Option<At<T>> {
    match read(value.get_ref()) {
        Ok(typed) => Some(At {
            value: typed,
            key,
            span: value.span(),
        }),
        Err(message) => {
            issues.push(value.span(), key, message);
            None
        }
    }
}

fn open_table<'a, 'i>(
    value: &'a Value<'i>,
    key: String,
    issues: &mut Issues,
) -> Option<Reader<'a, 'i>> {
    match value.get_ref() {
        DeValue::Table(table) => Some(Reader {
            table,
            origin: Origin {
                key,
                span: value.span(),
            },
        }),
        other => {
            issues.push(value.span(), key, expected("a table", other));
            None
        }
    }
}

fn array_of<'a, 'i>(
    value: &'a Value<'i>,
    key: &str,
    issues: &mut Issues,
) -> Option<&'a DeArray<'i>> {
    match value.get_ref() {
        DeValue::Array(array) => Some(array),
        other => {
            issues.push(value.span(), key, expected("an array", other));
            None
        }
    }
}

fn as_string(value: &DeValue<'_>) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| expected("a string", value))
}

fn as_integer(value: &DeValue<'_>) -> Result<i64, String> {
    let Some(integer) = value.as_integer() else {
        return Err(expected("an integer", value));
    };
    i64::from_str_radix(integer.as_str(), integer.radix())
        .map_err(|_| format!("integer {integer} is out of range"))
}

fn as_duration(value: &DeValue<'_>) -> Result<std::time::Duration, String> {
    const EXPECTED: &str = "a duration such as \"5s\" or an integer in milliseconds";
    match value {
        DeValue::String(text) => parse_duration(text)
            .map_err(|err| format!("invalid duration {:?}: {err}", text.as_ref())),
        DeValue::Integer(_) => {
            let millis = as_integer(value)?;
            u64::try_from(millis)
                .map(std::time::Duration::from_millis)
                .map_err(|_| "a duration cannot be negative".to_owned())
        }
        other => Err(expected(EXPECTED, other)),
    }
}

fn expected(what: &str, found: &DeValue<'_>) -> String {
    let found = match found {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    };
    format!("expected {what}, found {found}")
}

/// The known key closest to `name`, if it is close enough to be a typo.
fn closest<'k>(name: &str, allowed: &[&[&'k str]]) -> Option<&'k str> {
    allowed
        .iter()
        .flat_map(|keys| keys.iter().copied())
        .map(|key| (edit_distance(name, key), key))
        .filter(|&(distance, key)| distance <= 2.max(key.len() / 4) && distance < key.len())
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, key)| key)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("timeout_clinet", "timeout_client"), 2);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn hints() {
        assert_eq!(
            closest("timout_client", &[TUNING_KEYS]),
            Some("timeout_client")
        );
        assert_eq!(closest("adress", &[SERVER_KEYS]), Some("address"));
        assert_eq!(closest("zzzzzz", &[SERVER_KEYS]), None);
    }
}
