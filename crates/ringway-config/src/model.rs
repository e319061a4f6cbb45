//! The typed configuration handed to the runtime.
//!
//! Everything here has already been checked: names are unique, backend
//! references are indices into [`Config::backends`], addresses are resolved
//! and every default has been filled in. The runtime never needs to look at
//! the TOML text again.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub global: Global,
    pub frontends: Vec<Frontend>,
    pub backends: Vec<Backend>,
}

impl Config {
    /// Index in [`Config::backends`] of the backend called `name`.
    pub fn backend_index(&self, name: &str) -> Option<usize> {
        self.backends
            .iter()
            .position(|backend| backend.name == name)
    }
}

/// Default of [`Global::spin_rounds`] (as `ringway_net::DEFAULT_SPIN_ROUNDS`).
pub const DEFAULT_SPIN_ROUNDS: u32 = 16;

/// The `[global]` table: process-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    /// Number of shards (threads); 0 means one per online CPU.
    pub shards: usize,
    /// Pin each shard to one CPU.
    pub pin_shards: bool,
    /// Client connections allowed for the whole process.
    pub max_conn: usize,
    /// `pool_low_fd_ratio` and `pool_high_fd_ratio`: percentages of the open-file limit
    /// (HAProxy's `tune.pool-low-fd-ratio` and `tune.pool-high-fd-ratio` of `maxsock`). With
    /// more descriptors open than the low one, a shard keeps no connection the estimate rule
    /// would keep for later and may take a peer's idle connection below `pool_low_conn`;
    /// above the high one, no server connection is kept idle at all.
    pub pool_low_fd_ratio: u8,
    pub pool_high_fd_ratio: u8,
    /// The runtime API's unix sockets (`stats_socket`), in file order; empty when none.
    pub stats_sockets: Vec<StatsSocket>,
    /// Address of the HTTP admin endpoint, if any.
    pub admin_listen: Option<SocketAddr>,
    /// Largest request head accepted, in bytes; larger ones get a 431.
    pub max_request_head: usize,
    /// Most rounds the shard's epoll poller looks for ready sockets, finding none, before the
    /// shard naps (fewer while such spins rarely find any, `ringway_net::Spin::Adaptive`);
    /// 0 = nap as soon as a round finds nothing.
    pub spin_rounds: u32,
    /// `grace`: how long the proxy keeps accepting and serving after a graceful stop starts,
    /// already answering not-ready (`/ready`, `monitor_uri`), before it stops accepting and
    /// drains (HAProxy's `grace`); 0 by default.
    pub grace: Duration,
    /// `user` and `group`: the account the process switches to once every listener and
    /// socket is bound (names, resolved at start and by `ringway check`).
    pub user: Option<String>,
    pub group: Option<String>,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            shards: 0,
            pin_shards: true,
            max_conn: 100_000,
            pool_low_fd_ratio: ringway_pool::DEFAULT_LOW_FD_RATIO,
            pool_high_fd_ratio: ringway_pool::DEFAULT_HIGH_FD_RATIO,
            stats_sockets: Vec::new(),
            admin_listen: None,
            max_request_head: 65_536,
            spin_rounds: DEFAULT_SPIN_ROUNDS,
            grace: Duration::ZERO,
            user: None,
            group: None,
        }
    }
}

/// One runtime API socket: `stats_socket = "PATH"` or `{ path, mode, user, group, level }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSocket {
    pub path: PathBuf,
    /// Permission bits of the socket file (at most 0o777); 0o600 by default.
    pub mode: u32,
    /// Owner of the socket file, by name; resolved when the socket is created.
    pub user: Option<String>,
    pub group: Option<String>,
    /// The commands this socket accepts.
    pub level: AccessLevel,
}

/// Default of [`StatsSocket::mode`].
pub const DEFAULT_SOCKET_MODE: u32 = 0o600;

/// HAProxy's runtime API levels, in increasing power: `user` may only look, `operator` may
/// also change counters and tuning, `admin` may do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum AccessLevel {
    User,
    Operator,
    #[default]
    Admin,
}

impl AccessLevel {
    /// The spelling used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::User => "user",
            AccessLevel::Operator => "operator",
            AccessLevel::Admin => "admin",
        }
    }
}

/// The timeouts of a frontend or backend (`timeout_*` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `timeout_connect`: establishing a server connection.
    pub connect: Duration,
    /// `timeout_client`: client inactivity.
    pub client: Duration,
    /// `timeout_server`: server inactivity.
    pub server: Duration,
    /// `timeout_http_request`: receiving a whole request head.
    pub http_request: Duration,
    /// `timeout_http_keep_alive`: waiting for the next request on a kept-alive connection.
    pub http_keep_alive: Duration,
    /// `timeout_queue`: waiting for a free server slot.
    pub queue: Duration,
    /// `timeout_tunnel`: inactivity of an upgraded (tunnelled) connection.
    pub tunnel: Duration,
    /// `timeout_client_fin` (HAProxy's `timeout client-fin`; a frontend's applies): the client
    /// side's inactivity once one direction is shut (the client sent its FIN, or the proxy sent
    /// one to it). None: the side's ordinary timeout, as HAProxy when unset.
    pub client_fin: Option<Duration>,
    /// `timeout_server_fin` (HAProxy's `timeout server-fin`; a backend's applies): the server
    /// side's inactivity once one direction is shut.
    pub server_fin: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            client: Duration::from_secs(30),
            server: Duration::from_secs(30),
            http_request: Duration::from_secs(10),
            http_keep_alive: Duration::from_secs(10),
            queue: Duration::from_secs(5),
            tunnel: Duration::from_secs(3600),
            client_fin: None,
            server_fin: None,
        }
    }
}

/// `tcp_keepalive`: SO_KEEPALIVE on accepted client sockets (`client`, HAProxy's `option
/// clitcpka`, read from the frontend) and on server connections (`server`, `option srvtcpka`,
/// read from the backend); the system's probe intervals unless `idle`, `interval` or `count`
/// (TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT) are set. Off by default, as HAProxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpKeepalive {
    pub client: bool,
    pub server: bool,
    /// Silence before the first probe (whole seconds).
    pub idle: Option<Duration>,
    /// Between probes (whole seconds).
    pub interval: Option<Duration>,
    /// Unanswered probes before the connection is dropped.
    pub count: Option<u32>,
}

/// Default `retries` when neither `[defaults]` nor the section sets it.
pub const DEFAULT_RETRIES: u32 = 3;

/// A `[[frontend]]`: where clients connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontend {
    pub name: String,
    pub bind: Vec<SocketAddr>,
    /// Index in [`Config::backends`].
    pub default_backend: Option<usize>,
    pub routes: Vec<Route>,
    pub tls: Option<FrontendTls>,
    pub access_log: Option<AccessLog>,
    /// The fields added to forwarded requests (`forward_headers`); by
    /// default X-Forwarded-For alone.
    pub forward_headers: ForwardHeaders,
    /// Every connection starts with a PROXY protocol header (v1 or v2, `accept_proxy`), whose
    /// addresses replace the connection's own.
    pub accept_proxy: bool,
    /// `defer_accept`: the listening sockets wait for a connection's first bytes before they
    /// report it (TCP_DEFER_ACCEPT, HAProxy's `defer-accept`).
    pub defer_accept: bool,
    /// `monitor_uri`: a request whose target is exactly this (HAProxy's `monitor-uri`) is
    /// answered by the proxy itself: 200 while serving, 503 once a graceful stop starts.
    pub monitor_uri: Option<String>,
    pub timeouts: Timeouts,
    pub retries: u32,
    /// SO_KEEPALIVE on accepted client sockets when `client` is set.
    pub tcp_keepalive: TcpKeepalive,
}

/// A host route of a frontend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Lower-case host, port stripped.
    pub host: String,
    /// Index in [`Config::backends`].
    pub backend: usize,
}

/// TLS termination on a frontend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontendTls {
    /// At least one pair.
    pub certs: Vec<CertPair>,
    /// ALPN protocols offered, in order; empty when not configured.
    pub alpn: Vec<String>,
}

/// A certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A frontend's access log (`access_log`): where its lines go and in which format. The plain
/// string form is a target with the httplog format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLog {
    pub target: LogTarget,
    pub format: LogFormat,
    /// How lines are framed for a syslog target; `None` for stderr and files.
    pub syslog: Option<SyslogOptions>,
}

impl AccessLog {
    /// A target with the httplog format and, for a syslog target, the default framing.
    pub fn new(target: LogTarget) -> AccessLog {
        let syslog = target.is_syslog().then(SyslogOptions::default);
        AccessLog {
            target,
            format: LogFormat::Httplog,
            syslog,
        }
    }
}

/// Where log lines go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LogTarget {
    Stderr,
    /// A file, opened for appending (reopened on SIGUSR1).
    File(PathBuf),
    /// A syslog receiver over UDP (`udp://HOST:PORT`, port 514 by default).
    Udp(SocketAddr),
    /// A local syslog datagram socket (`unix:///dev/log`).
    Unix(PathBuf),
}

impl LogTarget {
    /// Lines to this target are syslog messages.
    pub fn is_syslog(&self) -> bool {
        matches!(self, LogTarget::Udp(_) | LogTarget::Unix(_))
    }
}

impl std::fmt::Display for LogTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogTarget::Stderr => f.write_str("stderr"),
            LogTarget::File(path) => write!(f, "{}", path.display()),
            LogTarget::Udp(addr) => write!(f, "udp://{addr}"),
            LogTarget::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

/// The layout of an access log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// ringway's httplog line (see the runtime's `access_log` module).
    #[default]
    Httplog,
    /// One JSON object per line with the httplog fields.
    Json,
}

/// Syslog framing of a syslog target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SyslogOptions {
    /// The facility code, 0 (`kern`) to 23 (`local7`); `local0` (16) by default.
    pub facility: u8,
    /// The TAG (RFC 3164) or APP-NAME (RFC 5424); `ringway` by default.
    pub tag: String,
    pub rfc: SyslogRfc,
}

impl Default for SyslogOptions {
    fn default() -> SyslogOptions {
        SyslogOptions {
            facility: 16,
            tag: "ringway".to_owned(),
            rfc: SyslogRfc::Rfc3164,
        }
    }
}

/// Which syslog message format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SyslogRfc {
    /// `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG` (BSD syslog).
    #[default]
    Rfc3164,
    /// `<PRI>1 TIMESTAMP HOST APP PROCID MSGID - MSG`.
    Rfc5424,
}

/// Syslog facility names, by code (`facility = "local0"`).
pub const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// A `[[backend]]`: a group of servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub name: String,
    pub balance: Balance,
    pub http_reuse: ReuseMode,
    /// `redispatch` (HAProxy's `option redispatch`): a request whose connection attempts to its
    /// server all failed goes to another server, once.
    pub redispatch: bool,
    /// At least one.
    pub servers: Vec<Server>,
    pub timeouts: Timeouts,
    pub retries: u32,
    /// SO_KEEPALIVE on server connections when `server` is set.
    pub tcp_keepalive: TcpKeepalive,
    /// `splice`: bodies relayed with splice(2) (from `[defaults]` when not set here).
    pub splice: Splice,
    /// How servers with `check = true` are checked (`health_check`; HAProxy's defaults when
    /// absent).
    pub health_check: HealthCheck,
    /// `allbackups` (HAProxy's `option allbackups`): with no active server usable, every usable
    /// backup shares the requests by weight, not only the first one.
    pub allbackups: bool,
    /// `cookie`: cookie-based persistence (HAProxy's `cookie` directive); None: off.
    pub cookie: Option<PersistCookie>,
}

/// `health_check`: how a backend's checked servers are probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub kind: CheckKind,
    /// HTTP checks: the request line and Host header.
    pub method: String,
    pub path: String,
    /// The Host header; the server's address when absent.
    pub host: Option<String>,
    /// HTTP checks: the statuses counted as a success, `low..=high`.
    pub expect_status: (u16, u16),
    pub interval: Duration,
    /// HAProxy's `fastinter`: the interval while the server is between states (`UP 2/3`,
    /// `DOWN 1/2`, not yet checked) and after passive detection forced a check; `None`: the
    /// `interval`.
    pub fastinter: Option<Duration>,
    /// HAProxy's `downinter`: the interval while the server is DOWN; `None`: the `interval`.
    pub downinter: Option<Duration>,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
}

impl Default for HealthCheck {
    /// HAProxy's: tcp, `inter 2s`, `rise 2`, `fall 3`; http checks `GET /` expecting 2xx-3xx.
    fn default() -> HealthCheck {
        HealthCheck {
            kind: CheckKind::Tcp,
            method: "GET".to_owned(),
            path: "/".to_owned(),
            host: None,
            expect_status: (200, 399),
            interval: Duration::from_secs(2),
            fastinter: None,
            downinter: None,
            timeout: Duration::from_secs(1),
            rise: 2,
            fall: 3,
        }
    }
}

/// What a health check does: connect (`tcp`), or connect and read an HTTP status (`http`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CheckKind {
    #[default]
    Tcp,
    Http,
}

/// Load-balancing algorithm of a backend (`balance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Balance {
    #[default]
    RoundRobin,
    LeastConn,
    /// Consistent hash of the client's address.
    Source,
    /// Consistent hash of the request path (without its query, as HAProxy's default).
    Uri,
}

impl Balance {
    /// The spelling used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            Balance::RoundRobin => "roundrobin",
            Balance::LeastConn => "leastconn",
            Balance::Source => "source",
            Balance::Uri => "uri",
        }
    }
}

/// `splice` (HAProxy's `option splice-auto` / `splice-request` + `splice-response`): whether
/// message bodies between a plain-TCP client and a plain-TCP server go through a pipe with
/// splice(2), the kernel moving the bytes without copying them through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Splice {
    /// Bodies whose rest is large enough that splicing costs less than copying.
    #[default]
    Auto,
    /// Never: every body is copied.
    Off,
    /// Every body by length or until close, whatever its size.
    Always,
}

/// `http_reuse`: the pool crate owns the reuse modes and their table.
pub use ringway_http::{CookieMode, ForwardHeaders, PersistCookie, ProxyVersion};

/// A server's `proto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerProto {
    #[default]
    H1,
    H2,
}
pub use ringway_pool::ReuseMode;

/// A `[[backend.server]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub name: String,
    /// Resolved when the configuration was loaded (first address).
    pub address: SocketAddr,
    /// Concurrent requests; 0 = unlimited.
    pub maxconn: u32,
    /// Pooled idle connections; -1 = unlimited, 0 = no pooling.
    pub pool_max_conn: i64,
    pub pool_low_conn: u32,
    pub pool_purge_delay: Duration,
    /// Requests per server connection; -1 = unlimited.
    pub max_reuse: i64,
    pub tls: Option<ServerTls>,
    /// Each new connection starts with a PROXY protocol header of this version (`send_proxy`),
    /// announcing the client; such connections are reused only for that client.
    pub send_proxy: Option<ProxyVersion>,
    /// The protocol spoken to the server (`proto`): HTTP/1.1, or HTTP/2 (h2 by ALPN over TLS,
    /// h2c with prior knowledge in clear text).
    pub proto: ServerProto,
    /// Probed by the backend's `health_check` (`check = true`); taken out of the rotation while
    /// DOWN.
    pub check: bool,
    /// Share of the backend's requests, 0..=256 (`weight`, default 1); 0 = no new requests from
    /// the balancer.
    pub weight: u32,
    /// Used only when no active server takes traffic (`backup`).
    pub backup: bool,
    /// After coming back UP (or out of maintenance) the weight ramps up over this long
    /// (`slowstart`; 0 = at once).
    pub slowstart: Duration,
    /// Passive detection (HAProxy's `observe`, `error-limit`, `on-error`); `None`: off.
    pub observe: Option<Observe>,
    /// This server's persistence cookie value (`cookie`); None: requests are never sent to it by
    /// cookie, and an inserted cookie for it clears the client's (as HAProxy).
    pub cookie: Option<String>,
}

/// Passive health detection of one server: what its traffic counts as an error, and what
/// `error_limit` consecutive errors do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observe {
    pub layer: ObserveLayer,
    /// Consecutive errors that trigger `on_error` (HAProxy's default 10).
    pub error_limit: u32,
    pub on_error: OnError,
}

/// `observe`: which failures of live traffic count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObserveLayer {
    /// Connection failures and timeouts.
    Layer4,
    /// Also invalid responses, server resets and timeouts, and statuses other than 100-499,
    /// 501 and 505.
    Layer7,
}

/// `on_error`: the pool crate's health machine applies it.
pub use ringway_pool::OnError;

/// TLS towards a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    pub verify: Verify,
    pub ca_file: Option<PathBuf>,
    pub sni: Option<Sni>,
    /// Client certificate; given together with `key`.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Whether the server certificate is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verify {
    #[default]
    Required,
    None,
}

/// The SNI name sent to a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sni {
    /// Always this name.
    Fixed(String),
    /// The host of the client request.
    Host,
}
