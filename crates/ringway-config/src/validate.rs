//! Semantic checks: [`DraftConfig`] → [`Config`].
//!
//! This module owns the value rules (ranges, non-empty lists, enumerations,
//! addresses, using `address`), the cross-references (unique names,
//! backends named by frontends and routes), the built-in defaults and the
//! inheritance of `[defaults]` by frontends and backends, and the resolution
//! of relative paths. Each problem is recorded as an issue and checking goes
//! on, so one run reports everything; the returned [`Config`] is only used
//! when no issue was recorded.

mod cookie;
mod keepalive;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ringway_pool::MAX_WEIGHT;

use crate::address::{normalize_host, resolve_address};
use crate::draft::{
    At, DraftAccessLog, DraftBackend, DraftConfig, DraftFrontend, DraftFrontendTls, DraftGlobal,
    DraftHealthCheck, DraftServer, DraftServerTls, DraftStatsSocket, DraftTuning, List,
};
use crate::error::Issues;
use crate::log_target::{parse_facility, parse_format, parse_rfc, parse_tag, parse_target};
use crate::model::{
    AccessLevel, AccessLog, Backend, Balance, CertPair, CheckKind, Config, ForwardHeaders,
    Frontend, FrontendTls, Global, HealthCheck, LogFormat, Observe, ObserveLayer, OnError,
    ProxyVersion, ReuseMode, Route, Server, ServerProto, ServerTls, Sni, Splice, StatsSocket,
    SyslogOptions, TcpKeepalive, Timeouts, Verify, DEFAULT_RETRIES, DEFAULT_SOCKET_MODE,
};

const MAX_SHARDS: i64 = 1024;
const MIN_REQUEST_HEAD: i64 = 1024;
const MAX_REQUEST_HEAD: i64 = 1024 * 1024;
const MAX_SPIN_ROUNDS: i64 = 1000;
/// `sun_path` holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;
/// An ALPN protocol id is at most 255 bytes.
const MAX_ALPN_LEN: usize = 255;
/// The ALPN names of the protocols ringway speaks.
const KNOWN_ALPN: [&str; 3] = ["h2", "http/1.1", "http/1.0"];
/// What a TLS frontend offers when its `alpn` key is absent.
const DEFAULT_ALPN: [&str; 2] = ["h2", "http/1.1"];
/// Longest `grace`: a stop that waits longer is surely a typo.
const MAX_GRACE: Duration = Duration::from_secs(24 * 3600);
/// Longest `slowstart` ramp.
const MAX_SLOWSTART: Duration = Duration::from_secs(24 * 3600);
/// Longest `monitor_uri`.
const MAX_MONITOR_URI: usize = 1024;
/// Longest user or group name (as `useradd`'s limit).
const MAX_ACCOUNT_NAME: usize = 32;

/// Checks `draft` and builds the configuration; relative paths are joined to
/// `base` when given.
pub(crate) fn build(draft: DraftConfig, base: Option<&Path>, issues: &mut Issues) -> Config {
    let mut check = Checker { base, issues };
    let global = check.global(&draft.global);
    let defaults = check.tuning(
        &draft.defaults,
        Tuning {
            timeouts: Timeouts::default(),
            retries: DEFAULT_RETRIES,
            tcp_keepalive: TcpKeepalive::default(),
            splice: Splice::default(),
        },
    );
    check.not_empty(
        &draft.backends,
        "backend",
        "at least one [[backend]] is required",
    );
    check.not_empty(
        &draft.frontends,
        "frontend",
        "at least one [[frontend]] is required",
    );

    let mut backend_names = Names::new("backend");
    let backends: Vec<Backend> = draft
        .backends
        .items
        .iter()
        .enumerate()
        .map(|(index, backend)| {
            if let Some(name) = &backend.name {
                backend_names.add(name, index, &backend.origin.key, check.issues);
            }
            check.backend(backend, defaults)
        })
        .collect();

    let mut frontend_names = Names::new("frontend");
    let mut bound: HashMap<SocketAddr, String> = HashMap::new();
    let frontends = draft
        .frontends
        .items
        .iter()
        .enumerate()
        .map(|(index, frontend)| {
            if let Some(name) = &frontend.name {
                frontend_names.add(name, index, &frontend.origin.key, check.issues);
            }
            check.frontend(frontend, defaults, &backend_names, &mut bound)
        })
        .collect();

    Config {
        global,
        frontends,
        backends,
    }
}

/// What `[defaults]` passes down, and what a section ends up with.
#[derive(Debug, Clone, Copy)]
struct Tuning {
    timeouts: Timeouts,
    retries: u32,
    tcp_keepalive: TcpKeepalive,
    splice: Splice,
}

/// Names seen so far in one namespace, for uniqueness and lookups.
struct Names {
    what: &'static str,
    index: HashMap<String, (usize, String)>,
}

impl Names {
    fn new(what: &'static str) -> Self {
        Names {
            what,
            index: HashMap::new(),
        }
    }

    /// Records `name` for item `index` (whose table is at `owner`).
    fn add(&mut self, name: &At<String>, index: usize, owner: &str, issues: &mut Issues) {
        if name.value.is_empty() {
            issues.push(name.span.clone(), &name.key, "must not be empty");
            return;
        }
        if let Some((_, first)) = self.index.get(&name.value) {
            issues.push(
                name.span.clone(),
                &name.key,
                format!(
                    "duplicate {} name {:?} (already used by {first})",
                    self.what, name.value
                ),
            );
            return;
        }
        self.index
            .insert(name.value.clone(), (index, owner.to_owned()));
    }

    fn get(&self, name: &str) -> Option<usize> {
        self.index.get(name).map(|&(index, _)| index)
    }
}

struct Checker<'c> {
    base: Option<&'c Path>,
    issues: &'c mut Issues,
}

impl Checker<'_> {
    fn global(&mut self, draft: &DraftGlobal) -> Global {
        let mut global = Global::default();
        if let Some(shards) = self.ranged(&draft.shards, 0, MAX_SHARDS) {
            global.shards = usize::try_from(shards).unwrap_or(global.shards);
        }
        if let Some(pin) = &draft.pin_shards {
            global.pin_shards = pin.value;
        }
        if let Some(max_conn) = self.ranged(&draft.max_conn, 1, i64::MAX) {
            global.max_conn = usize::try_from(max_conn).unwrap_or(usize::MAX);
        }
        self.fd_ratios(draft, &mut global);
        let mut paths = Names::new("stats socket");
        for (index, draft) in draft.stats_sockets.iter().enumerate() {
            if let Some(path) = &draft.path {
                paths.add(path, index, &draft.origin.key, self.issues);
            }
            if let Some(socket) = self.stats_socket(draft) {
                global.stats_sockets.push(socket);
            }
        }
        if let Some(admin) = &draft.admin_listen {
            global.admin_listen = self.socket_addr(admin, "127.0.0.1:9100");
        }
        if let Some(head) = self.ranged(&draft.max_request_head, MIN_REQUEST_HEAD, MAX_REQUEST_HEAD)
        {
            global.max_request_head = usize::try_from(head).unwrap_or(global.max_request_head);
        }
        if let Some(rounds) = self.ranged(&draft.spin_rounds, 0, MAX_SPIN_ROUNDS) {
            global.spin_rounds = u32::try_from(rounds).unwrap_or(global.spin_rounds);
        }
        if let Some(grace) = &draft.grace {
            if grace.value > MAX_GRACE {
                self.issue(grace, "must be at most 24h");
            } else {
                global.grace = grace.value;
            }
        }
        global.user = self.account(&draft.user);
        global.group = self.account(&draft.group);
        global
    }

    /// `pool_low_fd_ratio` ≤ `pool_high_fd_ratio`, both percentages.
    fn fd_ratios(&mut self, draft: &DraftGlobal, global: &mut Global) {
        let low = self.ranged(&draft.pool_low_fd_ratio, 0, 100);
        let high = self.ranged(&draft.pool_high_fd_ratio, 0, 100);
        let low = low.map_or(global.pool_low_fd_ratio, |low| low as u8);
        let high = high.map_or(global.pool_high_fd_ratio, |high| high as u8);
        if low > high {
            let at = draft
                .pool_low_fd_ratio
                .as_ref()
                .or(draft.pool_high_fd_ratio.as_ref());
            if let Some(at) = at {
                self.issue(
                    at,
                    format!(
                        "pool_low_fd_ratio ({low}) must not exceed pool_high_fd_ratio ({high})"
                    ),
                );
            }
            return;
        }
        global.pool_low_fd_ratio = low;
        global.pool_high_fd_ratio = high;
    }

    /// A user or group name for the privilege drop; whether it exists is the runtime's
    /// question (`ringway check` asks it).
    fn account(&mut self, given: &Option<At<String>>) -> Option<String> {
        let given = given.as_ref()?;
        let name = &given.value;
        let valid = !name.is_empty()
            && name.len() <= MAX_ACCOUNT_NAME
            && !name.starts_with('-')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-$".contains(&b));
        if !valid {
            self.issue(
                given,
                format!(
                    "{name:?} is not an account name: 1 to {MAX_ACCOUNT_NAME} letters, digits, \
                     '_', '.', '-' (not first) or a final '$'"
                ),
            );
            return None;
        }
        Some(name.clone())
    }

    /// `None` when the path is missing or wrong (already reported).
    fn stats_socket(&mut self, draft: &DraftStatsSocket) -> Option<StatsSocket> {
        let path = draft.path.as_ref().and_then(|path| {
            if path.value.len() > MAX_SOCKET_PATH {
                self.issue(
                    path,
                    format!("longer than {MAX_SOCKET_PATH} bytes, too long for a Unix socket"),
                );
                return None;
            }
            // Emptiness is reported with uniqueness (`Names::add`).
            (!path.value.is_empty()).then(|| PathBuf::from(&path.value))
        });
        let mode = draft.mode.as_ref().map_or(Some(DEFAULT_SOCKET_MODE), |mode| {
            let parsed = parse_mode(&mode.value);
            if parsed.is_none() {
                self.issue(
                    mode,
                    format!(
                        "{:?} is not a file mode: octal text from \"0\" to \"0777\", such as \"0600\"",
                        mode.value
                    ),
                );
            }
            parsed
        });
        let level = draft
            .level
            .as_ref()
            .map_or(Some(AccessLevel::default()), |level| {
                match level.value.as_str() {
                    "user" => Some(AccessLevel::User),
                    "operator" => Some(AccessLevel::Operator),
                    "admin" => Some(AccessLevel::Admin),
                    _ => {
                        self.issue(level, "must be \"user\", \"operator\" or \"admin\"");
                        None
                    }
                }
            });
        let mut owner = |name: &Option<At<String>>| {
            let name = name.as_ref()?;
            if name.value.is_empty() {
                self.issue(name, "must not be empty");
                return None;
            }
            Some(name.value.clone())
        };
        let (user, group) = (owner(&draft.user), owner(&draft.group));
        Some(StatsSocket {
            path: path?,
            mode: mode?,
            user,
            group,
            level: level?,
        })
    }

    /// Applies the keys set in `draft` over `inherited`.
    fn tuning(&mut self, draft: &DraftTuning, inherited: Tuning) -> Tuning {
        let mut out = inherited;
        let fields: [(&Option<At<Duration>>, &mut Duration); 7] = [
            (&draft.connect, &mut out.timeouts.connect),
            (&draft.client, &mut out.timeouts.client),
            (&draft.server, &mut out.timeouts.server),
            (&draft.http_request, &mut out.timeouts.http_request),
            (&draft.http_keep_alive, &mut out.timeouts.http_keep_alive),
            (&draft.queue, &mut out.timeouts.queue),
            (&draft.tunnel, &mut out.timeouts.tunnel),
        ];
        for (given, slot) in fields {
            if let Some(given) = given {
                if given.value.is_zero() {
                    self.issue(given, "must be greater than 0");
                } else {
                    *slot = given.value;
                }
            }
        }
        for (given, slot) in [
            (&draft.client_fin, &mut out.timeouts.client_fin),
            (&draft.server_fin, &mut out.timeouts.server_fin),
        ] {
            if let Some(given) = given {
                if given.value.is_zero() {
                    self.issue(given, "must be greater than 0");
                } else {
                    *slot = Some(given.value);
                }
            }
        }
        if let Some(keepalive) = &draft.tcp_keepalive {
            out.tcp_keepalive = self.tcp_keepalive(keepalive, out.tcp_keepalive);
        }
        if let Some(retries) = self.ranged(&draft.retries, 0, i64::from(u32::MAX)) {
            out.retries = u32::try_from(retries).unwrap_or(out.retries);
        }
        if let Some(given) = &draft.splice {
            match given.value.as_str() {
                "auto" => out.splice = Splice::Auto,
                "off" => out.splice = Splice::Off,
                "always" => out.splice = Splice::Always,
                _ => self.issue(given, "must be one of \"auto\", \"off\", \"always\""),
            }
        }
        out
    }

    fn backend(&mut self, draft: &DraftBackend, defaults: Tuning) -> Backend {
        let balance = match &draft.balance {
            None => Balance::default(),
            Some(given) => match given.value.as_str() {
                "roundrobin" => Balance::RoundRobin,
                "leastconn" => Balance::LeastConn,
                "source" => Balance::Source,
                "uri" => Balance::Uri,
                _ => {
                    self.issue(
                        given,
                        "must be \"roundrobin\", \"leastconn\", \"source\" or \"uri\"",
                    );
                    Balance::default()
                }
            },
        };
        let http_reuse = match &draft.http_reuse {
            None => ReuseMode::default(),
            Some(given) => match given.value.as_str() {
                "never" => ReuseMode::Never,
                "safe" => ReuseMode::Safe,
                "aggressive" => ReuseMode::Aggressive,
                "always" => ReuseMode::Always,
                _ => {
                    self.issue(
                        given,
                        "must be one of \"never\", \"safe\", \"aggressive\", \"always\"",
                    );
                    ReuseMode::default()
                }
            },
        };
        if draft.servers.at.is_some() {
            self.not_empty(
                &draft.servers,
                "",
                "a backend needs at least one [[backend.server]]",
            );
        }
        let health_check = draft
            .health_check
            .as_ref()
            .map_or_else(HealthCheck::default, |check| self.health_check(check));
        let mut server_names = Names::new("server");
        let servers = draft
            .servers
            .items
            .iter()
            .enumerate()
            .filter_map(|(index, server)| {
                if let Some(name) = &server.name {
                    server_names.add(name, index, &server.origin.key, self.issues);
                }
                self.server(server)
            })
            .collect();
        let cookie = draft.cookie.as_ref().and_then(|cookie| self.cookie(cookie));
        self.server_cookies(
            draft
                .servers
                .items
                .iter()
                .filter_map(|server| server.cookie.as_ref()),
        );
        self.keepalive_side(&draft.tuning, "client", "frontend");
        let tuning = self.tuning(&draft.tuning, defaults);
        Backend {
            name: name_of(&draft.name),
            balance,
            http_reuse,
            redispatch: draft
                .redispatch
                .as_ref()
                .is_some_and(|redispatch| redispatch.value),
            servers,
            timeouts: tuning.timeouts,
            retries: tuning.retries,
            tcp_keepalive: tuning.tcp_keepalive,
            splice: tuning.splice,
            health_check,
            allbackups: draft.allbackups.as_ref().is_some_and(|all| all.value),
            cookie,
        }
    }

    fn health_check(&mut self, draft: &DraftHealthCheck) -> HealthCheck {
        let mut out = HealthCheck::default();
        if let Some(kind) = &draft.kind {
            match kind.value.as_str() {
                "tcp" => out.kind = CheckKind::Tcp,
                "http" => out.kind = CheckKind::Http,
                _ => self.issue(kind, "must be \"tcp\" or \"http\""),
            }
        }
        if let Some(method) = &draft.method {
            let token = !method.value.is_empty()
                && method
                    .value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if token {
                out.method = method.value.clone();
            } else {
                self.issue(method, "must be an HTTP method such as \"GET\" or \"HEAD\"");
            }
        }
        if let Some(path) = &draft.path {
            if path.value.starts_with('/') && printable(&path.value) {
                out.path = path.value.clone();
            } else {
                self.issue(
                    path,
                    "must start with \"/\" and hold no spaces or control characters",
                );
            }
        }
        if let Some(host) = &draft.host {
            if !host.value.is_empty() && printable(&host.value) {
                out.host = Some(host.value.clone());
            } else {
                self.issue(
                    host,
                    "must be a host name without spaces or control characters",
                );
            }
        }
        if let Some(range) = &draft.expect_status {
            match range.value.as_slice() {
                [low, high] => {
                    let low_ok = self.ranged(&Some(low.clone()), 100, 599);
                    let high_ok = self.ranged(&Some(high.clone()), 100, 599);
                    if let (Some(low), Some(high)) = (low_ok, high_ok) {
                        if low <= high {
                            out.expect_status = (low as u16, high as u16);
                        } else {
                            self.issue(range, "the low status must not exceed the high one");
                        }
                    }
                }
                _ => self.issue(
                    range,
                    "must be a [low, high] pair of statuses, e.g. [200, 399]",
                ),
            }
        }
        for (given, slot) in [
            (&draft.fastinter, &mut out.fastinter),
            (&draft.downinter, &mut out.downinter),
        ] {
            if let Some(given) = given {
                if given.value.is_zero() {
                    self.issue(given, "must be more than 0");
                } else {
                    *slot = Some(given.value);
                }
            }
        }
        for (given, slot) in [
            (&draft.interval, &mut out.interval),
            (&draft.timeout, &mut out.timeout),
        ] {
            if let Some(given) = given {
                if given.value.is_zero() {
                    self.issues
                        .push(given.span.clone(), &given.key, "must be more than 0");
                } else {
                    *slot = given.value;
                }
            }
        }
        if let Some(rise) = self.ranged(&draft.rise, 1, 1000) {
            out.rise = rise as u32;
        }
        if let Some(fall) = self.ranged(&draft.fall, 1, 1000) {
            out.fall = fall as u32;
        }
        out
    }

    /// `None` when the address is missing or wrong (already reported).
    fn server(&mut self, draft: &DraftServer) -> Option<Server> {
        let address =
            draft
                .address
                .as_ref()
                .and_then(|address| match resolve_address(&address.value) {
                    Ok(resolved) => Some(resolved),
                    Err(message) => {
                        self.issue(address, message);
                        None
                    }
                });
        let maxconn = self.ranged(&draft.maxconn, 0, i64::from(u32::MAX));
        let pool_max_conn = self.ranged(&draft.pool_max_conn, -1, i64::MAX);
        let pool_low_conn = self.ranged(&draft.pool_low_conn, 0, i64::from(u32::MAX));
        let max_reuse = self.ranged(&draft.max_reuse, -1, i64::MAX);
        let weight = self.ranged(&draft.weight, 0, i64::from(MAX_WEIGHT));
        let tls = draft.tls.as_ref().map(|tls| self.server_tls(tls));
        let send_proxy = draft
            .send_proxy
            .as_ref()
            .and_then(|given| match given.value.as_str() {
                "v1" => Some(ProxyVersion::V1),
                "v2" => Some(ProxyVersion::V2),
                _ => {
                    self.issue(given, "must be \"v1\" or \"v2\"");
                    None
                }
            });
        let proto =
            draft
                .proto
                .as_ref()
                .map_or(ServerProto::H1, |given| match given.value.as_str() {
                    "h1" => ServerProto::H1,
                    "h2" => ServerProto::H2,
                    _ => {
                        self.issue(given, "must be \"h1\" or \"h2\"");
                        ServerProto::H1
                    }
                });
        Some(Server {
            name: name_of(&draft.name),
            address: address?,
            maxconn: maxconn.and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
            pool_max_conn: pool_max_conn.unwrap_or(-1),
            pool_low_conn: pool_low_conn
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            pool_purge_delay: draft
                .pool_purge_delay
                .as_ref()
                .map_or(Duration::from_secs(5), |delay| delay.value),
            max_reuse: max_reuse.unwrap_or(-1),
            tls,
            send_proxy,
            proto,
            check: draft.check.as_ref().is_some_and(|check| check.value),
            weight: weight.and_then(|n| u32::try_from(n).ok()).unwrap_or(1),
            backup: draft.backup.as_ref().is_some_and(|backup| backup.value),
            slowstart: self.slowstart(&draft.slowstart),
            observe: self.observe(draft),
            cookie: draft.cookie.as_ref().map(|cookie| cookie.value.clone()),
        })
    }

    /// `observe`, `error_limit`, `on_error`: passive detection needs the server's checks, as
    /// HAProxy's does (its actions are check results).
    fn observe(&mut self, draft: &DraftServer) -> Option<Observe> {
        let layer = draft
            .observe
            .as_ref()
            .and_then(|given| match given.value.as_str() {
                "layer4" => Some(ObserveLayer::Layer4),
                "layer7" => Some(ObserveLayer::Layer7),
                _ => {
                    self.issue(given, "must be \"layer4\" or \"layer7\"");
                    None
                }
            });
        let error_limit = self
            .ranged(&draft.error_limit, 1, i64::from(u32::MAX))
            .map_or(10, |limit| limit as u32);
        let on_error = draft
            .on_error
            .as_ref()
            .map_or(OnError::default(), |given| match given.value.as_str() {
                "fastinter" => OnError::FastInter,
                "fail_check" => OnError::FailCheck,
                "sudden_death" => OnError::SuddenDeath,
                "mark_down" => OnError::MarkDown,
                _ => {
                    self.issue(
                        given,
                        "must be one of \"fastinter\", \"fail_check\", \"sudden_death\", \"mark_down\"",
                    );
                    OnError::default()
                }
            });
        let checked = draft.check.as_ref().is_some_and(|check| check.value);
        if !checked {
            let given = [&draft.observe, &draft.on_error]
                .into_iter()
                .flatten()
                .next()
                .map(|at| (at.span.clone(), at.key.clone()))
                .or_else(|| {
                    draft
                        .error_limit
                        .as_ref()
                        .map(|at| (at.span.clone(), at.key.clone()))
                });
            if let Some((span, key)) = given {
                self.issues.push(
                    span,
                    &key,
                    "passive detection needs the server's health checks: set check = true",
                );
                return None;
            }
        }
        layer.map(|layer| Observe {
            layer,
            error_limit,
            on_error,
        })
    }

    /// `slowstart`: at most a day (a longer ramp is surely a typo).
    fn slowstart(&mut self, given: &Option<At<Duration>>) -> Duration {
        match given {
            Some(given) if given.value > MAX_SLOWSTART => {
                self.issues
                    .push(given.span.clone(), &given.key, "must be at most 24h");
                Duration::ZERO
            }
            Some(given) => given.value,
            None => Duration::ZERO,
        }
    }

    fn server_tls(&mut self, draft: &DraftServerTls) -> ServerTls {
        let verify = match &draft.verify {
            None => Verify::default(),
            Some(given) => match given.value.as_str() {
                "required" => Verify::Required,
                "none" => Verify::None,
                _ => {
                    self.issue(given, "must be \"required\" or \"none\"");
                    Verify::default()
                }
            },
        };
        let sni = draft
            .sni
            .as_ref()
            .and_then(|given| match given.value.as_str() {
                "" => {
                    self.issue(given, "must be a server name or \"host\"");
                    None
                }
                "host" => Some(Sni::Host),
                name => Some(Sni::Fixed(name.to_owned())),
            });
        match (&draft.cert, &draft.key) {
            (Some(_), None) => self.missing(&draft.origin.child("key"), draft, "cert"),
            (None, Some(_)) => self.missing(&draft.origin.child("cert"), draft, "key"),
            _ => {}
        }
        ServerTls {
            verify,
            ca_file: self.path(&draft.ca_file),
            sni,
            cert: self.path(&draft.cert),
            key: self.path(&draft.key),
        }
    }

    fn missing(&mut self, key: &str, draft: &DraftServerTls, other: &str) {
        self.issues.push(
            draft.origin.span.clone(),
            key,
            format!("missing required key (it goes with {other})"),
        );
    }

    fn frontend(
        &mut self,
        draft: &DraftFrontend,
        defaults: Tuning,
        backends: &Names,
        bound: &mut HashMap<SocketAddr, String>,
    ) -> Frontend {
        let mut bind = Vec::new();
        if let Some(list) = &draft.bind {
            if list.value.is_empty() {
                self.issue(list, "must list at least one address");
            }
            for item in &list.value {
                let Some(addr) = self.socket_addr(item, "127.0.0.1:8080") else {
                    continue;
                };
                if let Some(first) = bound.get(&addr) {
                    self.issue(item, format!("{addr} is already bound by {first}"));
                    continue;
                }
                bound.insert(addr, item.key.clone());
                bind.push(addr);
            }
        }
        let default_backend = draft
            .default_backend
            .as_ref()
            .and_then(|name| self.backend_ref(name, backends));
        let mut routes = Vec::new();
        let mut hosts: HashMap<String, String> = HashMap::new();
        for route in &draft.routes.items {
            let host = route.host.as_ref().and_then(|host| {
                let normal = match normalize_host(&host.value) {
                    Ok(normal) => normal,
                    Err(message) => {
                        self.issue(host, message);
                        return None;
                    }
                };
                if let Some(first) = hosts.get(&normal) {
                    self.issue(
                        host,
                        format!("host {normal:?} is already routed by {first}"),
                    );
                    return None;
                }
                hosts.insert(normal.clone(), route.origin.key.clone());
                Some(normal)
            });
            let backend = route
                .backend
                .as_ref()
                .and_then(|name| self.backend_ref(name, backends));
            if let (Some(host), Some(backend)) = (host, backend) {
                routes.push(Route { host, backend });
            }
        }
        let tls = draft.tls.as_ref().map(|tls| self.frontend_tls(tls));
        let access_log = draft
            .access_log
            .as_ref()
            .and_then(|log| self.access_log(log));
        let forward_headers = draft
            .forward_headers
            .as_ref()
            .map_or(ForwardHeaders::DEFAULT, |list| self.forward_headers(list));
        let monitor_uri = draft
            .monitor_uri
            .as_ref()
            .and_then(|uri| self.monitor_uri(uri));
        self.keepalive_side(&draft.tuning, "server", "backend");
        if let Some(given) = &draft.tuning.splice {
            self.issue(given, "applies to a backend: set it there or in [defaults]");
        }
        let tuning = self.tuning(&draft.tuning, defaults);
        Frontend {
            name: name_of(&draft.name),
            bind,
            default_backend,
            routes,
            tls,
            access_log,
            forward_headers,
            accept_proxy: draft
                .accept_proxy
                .as_ref()
                .is_some_and(|accept| accept.value),
            defer_accept: draft.defer_accept.as_ref().is_some_and(|defer| defer.value),
            monitor_uri,
            timeouts: tuning.timeouts,
            retries: tuning.retries,
            tcp_keepalive: tuning.tcp_keepalive,
        }
    }

    /// `access_log`; `None` when the target is missing or wrong (already reported).
    fn access_log(&mut self, draft: &DraftAccessLog) -> Option<AccessLog> {
        let target = draft.target.as_ref().and_then(|target| {
            let parsed = parse_target(&target.value, |path| self.resolve(path));
            self.check(target, parsed)
        });
        let format = draft
            .format
            .as_ref()
            .map_or(Some(LogFormat::Httplog), |format| {
                self.check(format, parse_format(&format.value))
            });
        let syslog_only = [&draft.facility, &draft.tag, &draft.rfc];
        if target.as_ref().is_some_and(|target| !target.is_syslog()) {
            for given in syslog_only.into_iter().flatten() {
                self.issue(
                    given,
                    "applies to syslog targets only (udp://HOST:PORT or unix:///path)",
                );
            }
        }
        let mut options = SyslogOptions::default();
        let mut valid = true;
        if let Some(facility) = &draft.facility {
            let parsed = self.check(facility, parse_facility(&facility.value));
            valid &= parsed.is_some();
            options.facility = parsed.unwrap_or(options.facility);
        }
        if let Some(tag) = &draft.tag {
            let parsed = self.check(tag, parse_tag(&tag.value));
            valid &= parsed.is_some();
            options.tag = parsed.unwrap_or(options.tag);
        }
        if let Some(rfc) = &draft.rfc {
            let parsed = self.check(rfc, parse_rfc(&rfc.value));
            valid &= parsed.is_some();
            options.rfc = parsed.unwrap_or(options.rfc);
        }
        let target = target?;
        let syslog = target.is_syslog().then_some(options);
        (valid).then_some(AccessLog {
            target,
            format: format?,
            syslog,
        })
    }

    /// The value of a check, or `None` with its message recorded at `at`.
    fn check<T, U>(&mut self, at: &At<U>, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.issue(at, message)).ok()
    }

    /// A request target in origin form: '/' then visible ASCII, as it appears on a request line.
    fn monitor_uri(&mut self, uri: &At<String>) -> Option<String> {
        let text = &uri.value;
        if !text.starts_with('/')
            || text.len() > MAX_MONITOR_URI
            || !text.bytes().all(|b| b.is_ascii_graphic())
        {
            self.issue(
                uri,
                format!(
                    "{text:?} is not a request path: '/' then up to {} visible ASCII characters, \
                     such as \"/haproxy_status\"",
                    MAX_MONITOR_URI - 1
                ),
            );
            return None;
        }
        Some(text.clone())
    }

    /// The set named by `forward_headers`; an empty list adds no field.
    fn forward_headers(&mut self, list: &At<Vec<At<String>>>) -> ForwardHeaders {
        let mut set = ForwardHeaders::NONE;
        for item in &list.value {
            match ForwardHeaders::from_name(&item.value) {
                Some(one) => set = set.with(one),
                None => {
                    let known: Vec<&str> = ForwardHeaders::NAMES
                        .iter()
                        .map(|&(name, _)| name)
                        .collect();
                    self.issue(
                        item,
                        format!(
                            "unknown forwarding header {:?}; expected one of: {}",
                            item.value,
                            known.join(", ")
                        ),
                    );
                }
            }
        }
        set
    }

    fn frontend_tls(&mut self, draft: &DraftFrontendTls) -> FrontendTls {
        if draft.certs.at.is_some() {
            self.not_empty(
                &draft.certs,
                "",
                "frontend TLS needs at least one certificate",
            );
        }
        let certs = draft
            .certs
            .items
            .iter()
            .filter_map(|pair| {
                let cert = self.path(&pair.cert);
                let key = self.path(&pair.key);
                Some(CertPair {
                    cert: cert?,
                    key: key?,
                })
            })
            .collect();
        let Some(offered) = &draft.alpn else {
            let alpn = DEFAULT_ALPN.iter().map(|name| name.to_string()).collect();
            return FrontendTls { certs, alpn };
        };
        let mut alpn = Vec::new();
        for protocol in offered {
            if protocol.value.is_empty() || protocol.value.len() > MAX_ALPN_LEN {
                self.issue(
                    protocol,
                    format!("an ALPN protocol name is 1 to {MAX_ALPN_LEN} bytes"),
                );
            } else if !KNOWN_ALPN.contains(&protocol.value.as_str()) {
                // Offering another protocol would make clients speak one we do not.
                self.issue(
                    protocol,
                    "ringway speaks HTTP/2 and HTTP/1.x: the ALPN protocols are \"h2\", \"http/1.1\" and \"http/1.0\"",
                );
            } else {
                alpn.push(protocol.value.clone());
            }
        }
        FrontendTls { certs, alpn }
    }

    fn backend_ref(&mut self, name: &At<String>, backends: &Names) -> Option<usize> {
        let found = backends.get(&name.value);
        if found.is_none() {
            self.issue(name, format!("no backend named {:?}", name.value));
        }
        found
    }

    /// An `ip:port` address; `example` shows the expected form.
    fn socket_addr(&mut self, given: &At<String>, example: &str) -> Option<SocketAddr> {
        match given.value.parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.issue(
                    given,
                    format!(
                        "{:?} is not an ip:port address such as \"{example}\"",
                        given.value
                    ),
                );
                None
            }
        }
    }

    /// A non-empty path, joined to the config directory when relative.
    fn path(&mut self, given: &Option<At<String>>) -> Option<PathBuf> {
        let given = given.as_ref()?;
        if given.value.is_empty() {
            self.issue(given, "must not be empty");
            return None;
        }
        Some(self.resolve(&given.value))
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let path = PathBuf::from(path);
        match self.base {
            Some(base) if path.is_relative() => base.join(path),
            _ => path,
        }
    }

    /// An integer within `min..=max`.
    fn ranged(&mut self, given: &Option<At<i64>>, min: i64, max: i64) -> Option<i64> {
        let given = given.as_ref()?;
        if (min..=max).contains(&given.value) {
            return Some(given.value);
        }
        let message = if max == i64::MAX {
            format!("must be at least {min}, found {}", given.value)
        } else {
            format!("must be between {min} and {max}, found {}", given.value)
        };
        self.issue(given, message);
        None
    }

    /// Reports an empty array of tables. `key` overrides the array's own key
    /// when the array is absent (empty `key` keeps it).
    fn not_empty<T>(&mut self, list: &List<T>, key: &str, message: &str) {
        if !list.items.is_empty() || list.invalid {
            return;
        }
        let (span, own_key) = match &list.at {
            Some(at) => (at.span.clone(), at.key.clone()),
            None => (0..0, key.to_owned()),
        };
        self.issues.push(span, own_key, message);
    }

    fn issue<T>(&mut self, at: &At<T>, message: impl Into<String>) {
        self.issues.push(at.span.clone(), &at.key, message);
    }
}

/// A file mode written in octal, as chmod takes it: `"0600"`, `"600"`, `"0o600"`.
fn parse_mode(text: &str) -> Option<u32> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return None;
    }
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|&mode| mode <= 0o777)
}

fn name_of(name: &Option<At<String>>) -> String {
    name.as_ref()
        .map(|name| name.value.clone())
        .unwrap_or_default()
}

/// Visible ASCII only: no spaces, no control characters (it goes into a request line).
fn printable(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_graphic())
}
