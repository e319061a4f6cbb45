//! The draft: what the file says, typed but not yet checked.
//!
//! `parse` fills these structs from the TOML document; `validate` turns them
//! into the [`crate::model`]. Every value keeps its dotted key and its byte
//! span so that later checks can point at it. An absent key is `None`; a key
//! whose value had the wrong type was already reported and is also `None`.

use std::ops::Range;
use std::time::Duration;

/// A value with the dotted key it was read from and where it sits.
#[derive(Debug, Clone)]
pub(crate) struct At<T> {
    pub value: T,
    pub key: String,
    pub span: Range<usize>,
}

/// Where a table sits: its dotted key and the span of its header (or of the
/// inline table), used for "missing key" errors.
#[derive(Debug, Clone, Default)]
pub(crate) struct Origin {
    pub key: String,
    pub span: Range<usize>,
}

impl Origin {
    /// The dotted key of `child` inside this table.
    pub fn child(&self, child: &str) -> String {
        if self.key.is_empty() {
            child.to_owned()
        } else {
            format!("{}.{child}", self.key)
        }
    }
}

/// An array of tables (`[[frontend]]`, `[[backend.server]]`).
#[derive(Debug, Default)]
pub(crate) struct List<T> {
    pub items: Vec<T>,
    /// Where the array is, when the key is present.
    pub at: Option<Origin>,
    /// The key was present but not an array; already reported.
    pub invalid: bool,
}

#[derive(Debug, Default)]
pub(crate) struct DraftConfig {
    pub global: DraftGlobal,
    pub defaults: DraftTuning,
    pub frontends: List<DraftFrontend>,
    pub backends: List<DraftBackend>,
}

#[derive(Debug, Default)]
pub(crate) struct DraftGlobal {
    pub shards: Option<At<i64>>,
    pub pin_shards: Option<At<bool>>,
    pub max_conn: Option<At<i64>>,
    pub pool_low_fd_ratio: Option<At<i64>>,
    pub pool_high_fd_ratio: Option<At<i64>>,
    pub stats_sockets: Vec<DraftStatsSocket>,
    pub admin_listen: Option<At<String>>,
    pub max_request_head: Option<At<i64>>,
    pub spin_rounds: Option<At<i64>>,
    pub grace: Option<At<Duration>>,
    pub user: Option<At<String>>,
    pub group: Option<At<String>>,
}

/// One `stats_socket`: a plain path (only `path` set, keyed `global.stats_socket`) or a table.
#[derive(Debug, Default)]
pub(crate) struct DraftStatsSocket {
    pub origin: Origin,
    pub path: Option<At<String>>,
    pub mode: Option<At<String>>,
    pub user: Option<At<String>>,
    pub group: Option<At<String>>,
    pub level: Option<At<String>>,
}

/// The keys of `[defaults]`, which frontends and backends may override.
#[derive(Debug, Default)]
pub(crate) struct DraftTuning {
    pub connect: Option<At<Duration>>,
    pub client: Option<At<Duration>>,
    pub server: Option<At<Duration>>,
    pub http_request: Option<At<Duration>>,
    pub http_keep_alive: Option<At<Duration>>,
    pub queue: Option<At<Duration>>,
    pub tunnel: Option<At<Duration>>,
    pub client_fin: Option<At<Duration>>,
    pub server_fin: Option<At<Duration>>,
    pub retries: Option<At<i64>>,
    pub splice: Option<At<String>>,
    pub tcp_keepalive: Option<DraftTcpKeepalive>,
}

/// `tcp_keepalive`, an inline table.
#[derive(Debug, Default)]
pub(crate) struct DraftTcpKeepalive {
    pub client: Option<At<bool>>,
    pub server: Option<At<bool>>,
    pub idle: Option<At<Duration>>,
    pub interval: Option<At<Duration>>,
    pub count: Option<At<i64>>,
}

#[derive(Debug, Default)]
pub(crate) struct DraftFrontend {
    pub origin: Origin,
    pub name: Option<At<String>>,
    pub bind: Option<At<Vec<At<String>>>>,
    pub default_backend: Option<At<String>>,
    pub routes: List<DraftRoute>,
    pub tls: Option<DraftFrontendTls>,
    pub access_log: Option<DraftAccessLog>,
    pub forward_headers: Option<At<Vec<At<String>>>>,
    pub accept_proxy: Option<At<bool>>,
    pub defer_accept: Option<At<bool>>,
    pub monitor_uri: Option<At<String>>,
    pub tuning: DraftTuning,
}

/// `access_log`: a plain target (only `target` set, keyed `frontend[i].access_log`) or a table.
#[derive(Debug, Default)]
pub(crate) struct DraftAccessLog {
    pub target: Option<At<String>>,
    pub facility: Option<At<String>>,
    pub tag: Option<At<String>>,
    pub format: Option<At<String>>,
    pub rfc: Option<At<String>>,
}

#[derive(Debug, Default)]
pub(crate) struct DraftRoute {
    pub origin: Origin,
    pub host: Option<At<String>>,
    pub backend: Option<At<String>>,
}

#[derive(Debug, Default)]
pub(crate) struct DraftFrontendTls {
    pub certs: List<DraftCertPair>,
    /// None: the key is absent (the default list applies).
    pub alpn: Option<Vec<At<String>>>,
}

#[derive(Debug, Default)]
pub(crate) struct DraftCertPair {
    pub cert: Option<At<String>>,
    pub key: Option<At<String>>,
}

#[derive(Debug, Default)]
pub(crate) struct DraftBackend {
    pub origin: Origin,
    pub name: Option<At<String>>,
    pub balance: Option<At<String>>,
    pub http_reuse: Option<At<String>>,
    pub redispatch: Option<At<bool>>,
    pub servers: List<DraftServer>,
    pub tuning: DraftTuning,
    pub health_check: Option<DraftHealthCheck>,
    pub allbackups: Option<At<bool>>,
    pub cookie: Option<DraftCookie>,
}

/// `cookie`, an inline table (HAProxy's `cookie` directive).
#[derive(Debug, Default)]
pub(crate) struct DraftCookie {
    pub name: Option<At<String>>,
    pub mode: Option<At<String>>,
    pub indirect: Option<At<bool>>,
    pub nocache: Option<At<bool>>,
    pub maxidle: Option<At<Duration>>,
    pub maxlife: Option<At<Duration>>,
    pub path: Option<At<String>>,
    pub domain: Option<At<String>>,
    pub httponly: Option<At<bool>>,
    pub secure: Option<At<bool>>,
}

/// `health_check`, an inline table.
#[derive(Debug, Default)]
pub(crate) struct DraftHealthCheck {
    pub kind: Option<At<String>>,
    pub method: Option<At<String>>,
    pub path: Option<At<String>>,
    pub host: Option<At<String>>,
    pub expect_status: Option<At<Vec<At<i64>>>>,
    pub interval: Option<At<Duration>>,
    pub fastinter: Option<At<Duration>>,
    pub downinter: Option<At<Duration>>,
    pub timeout: Option<At<Duration>>,
    pub rise: Option<At<i64>>,
    pub fall: Option<At<i64>>,
}

#[derive(Debug, Default)]
pub(crate) struct DraftServer {
    pub origin: Origin,
    pub name: Option<At<String>>,
    pub address: Option<At<String>>,
    pub maxconn: Option<At<i64>>,
    pub pool_max_conn: Option<At<i64>>,
    pub pool_low_conn: Option<At<i64>>,
    pub pool_purge_delay: Option<At<Duration>>,
    pub max_reuse: Option<At<i64>>,
    pub tls: Option<DraftServerTls>,
    pub send_proxy: Option<At<String>>,
    pub proto: Option<At<String>>,
    pub check: Option<At<bool>>,
    pub weight: Option<At<i64>>,
    pub backup: Option<At<bool>>,
    pub slowstart: Option<At<Duration>>,
    pub observe: Option<At<String>>,
    pub error_limit: Option<At<i64>>,
    pub on_error: Option<At<String>>,
    pub cookie: Option<At<String>>,
}

#[derive(Debug, Default)]
pub(crate) struct DraftServerTls {
    pub origin: Origin,
    pub verify: Option<At<String>>,
    pub ca_file: Option<At<String>>,
    pub sni: Option<At<String>>,
    pub cert: Option<At<String>>,
    pub key: Option<At<String>>,
}
