//! Per-shard counters. Each counter has exactly one writer, its shard, so an increment is a
//! relaxed load and store (no locked instruction); the control thread reads them at any time and
//! sums over shards. Nothing here is shared between shards on the request path.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::close::{CloseCounters, CloseReason};
use crate::histogram::{LatencyHistogram, ReqsPerConnHistogram};
use crate::rates::{RateCounter, RequestTimes};

/// A monotonic counter written by one shard.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }

    /// Back to 0 (`clear counters all`); only the writing shard may call it.
    pub(crate) fn reset(&self) {
        self.0.store(0, Relaxed);
    }
}

/// A current value (and its peak) written by one shard.
#[derive(Debug, Default)]
pub struct Gauge {
    current: AtomicI64,
    max: AtomicI64,
}

impl Gauge {
    #[inline]
    pub fn inc(&self) {
        let value = self.current.load(Relaxed) + 1;
        self.current.store(value, Relaxed);
        if value > self.max.load(Relaxed) {
            self.max.store(value, Relaxed);
        }
    }

    #[inline]
    pub fn dec(&self) {
        self.current.store(self.current.load(Relaxed) - 1, Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.current.load(Relaxed)
    }

    pub fn max(&self) -> i64 {
        self.max.load(Relaxed)
    }

    /// The peak back to the current value (`clear counters`); only the writing shard may call
    /// it.
    pub(crate) fn reset_max(&self) {
        self.max.store(self.current.load(Relaxed), Relaxed);
    }
}

/// A value one shard sets and the control thread reads.
#[derive(Debug, Default)]
pub struct Level(AtomicU64);

impl Level {
    pub fn set(&self, value: u64) {
        self.0.store(value, Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// HTTP response status classes, as HAProxy's hrsp_1xx..hrsp_other.
#[derive(Debug, Default)]
pub struct StatusCounters {
    pub hrsp_1xx: Counter,
    pub hrsp_2xx: Counter,
    pub hrsp_3xx: Counter,
    pub hrsp_4xx: Counter,
    pub hrsp_5xx: Counter,
    pub hrsp_other: Counter,
}

impl StatusCounters {
    #[inline]
    pub fn record(&self, status: u16) {
        match status {
            100..=199 => self.hrsp_1xx.inc(),
            200..=299 => self.hrsp_2xx.inc(),
            300..=399 => self.hrsp_3xx.inc(),
            400..=499 => self.hrsp_4xx.inc(),
            500..=599 => self.hrsp_5xx.inc(),
            _ => self.hrsp_other.inc(),
        }
    }
}

/// TLS handshakes on one side of the proxy (HAProxy's `ssl_sess`, `ssl_reused_sess`,
/// `ssl_failed_handshake`).
#[derive(Debug, Default)]
pub struct TlsCounters {
    /// Completed handshakes, full or resumed.
    pub handshakes: Counter,
    /// Completed handshakes that resumed an earlier session.
    pub resumed: Counter,
    pub failed: Counter,
}

impl TlsCounters {
    #[inline]
    pub fn record(&self, resumed: bool) {
        self.handshakes.inc();
        if resumed {
            self.resumed.inc();
        }
    }
}

/// One frontend on one shard.
#[derive(Debug, Default)]
pub struct FrontendCounters {
    /// Client connections open now (scur) and their peak (smax).
    pub sessions: Gauge,
    /// Accepted client connections (conn_tot, stot of a frontend).
    pub conn_tot: Counter,
    /// HTTP requests received (req_tot).
    pub req_tot: Counter,
    /// Requests the proxy answered itself: the frontend's `monitor_uri` (intercepted).
    pub intercepted: Counter,
    /// Request errors: malformed, too large, timeouts (ereq).
    pub ereq: Counter,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    /// Responses sent to clients, by status class (including errors the proxy generated).
    pub status: StatusCounters,
    /// TLS client connections open now.
    pub tls_open: Gauge,
    pub tls: TlsCounters,
    /// Access log lines a syslog receiver did not take (its socket buffer was full, or it
    /// could not be reached): dropped, never waited for.
    pub log_dropped: Counter,
    /// Accepted connections per second (`rate` and `conn_rate`: every accepted connection is
    /// a session).
    pub conn_rate: RateCounter,
    /// Requests per second (`req_rate`).
    pub req_rate: RateCounter,
    /// Requests in progress (`h1_open_streams`).
    pub streams: Gauge,
    /// HTTP/2 client connections, their streams and frames.
    pub h2: H2Counters,
}

/// HTTP/2 connections of one side of a proxy on one shard: HAProxy's HTTP/2 stats module
/// (`h2_*` columns of `show stat`), for a frontend's client connections or a server's.
#[derive(Debug, Default)]
pub struct H2Counters {
    /// Connections open now (`h2_open_connections`), and begun (`h2_total_connections`).
    pub conns: Gauge,
    pub total_conns: Counter,
    /// Streams open now and their peak (`h2_backend_open_streams`), and begun
    /// (`h2_backend_total_streams`). HAProxy 2.6 counts them on both sides, despite the name.
    pub streams: Gauge,
    pub total_streams: Counter,
    /// Frames received, by type (`h2_headers_rcvd` ... `h2_goaway_rcvd`).
    pub headers_rcvd: Counter,
    pub data_rcvd: Counter,
    pub settings_rcvd: Counter,
    pub rst_stream_rcvd: Counter,
    pub goaway_rcvd: Counter,
    /// Protocol errors of the peer we answered, on the connection (GOAWAY) and on a stream
    /// (RST_STREAM) (`h2_detected_conn_protocol_errors`, `h2_detected_strm_protocol_errors`).
    pub conn_proto_err: Counter,
    pub strm_proto_err: Counter,
    /// RST_STREAM frames sent (`h2_rst_stream_resp`), and GOAWAY frames sent for an error
    /// (`h2_goaway_resp`).
    pub rst_stream_resp: Counter,
    pub goaway_resp: Counter,
}

impl H2Counters {
    /// A connection begins (dropped: [`H2Counters::conn_ended`]).
    pub fn conn_began(&self) {
        self.conns.inc();
        self.total_conns.inc();
    }

    pub fn conn_ended(&self) {
        self.conns.dec();
    }

    /// A connection another shard began comes to this one (a takeover): open here, not new.
    pub fn conn_arrived(&self) {
        self.conns.inc();
    }

    /// A stream begins (ended: [`H2Counters::stream_ended`]).
    #[inline]
    pub fn stream_began(&self) {
        self.streams.inc();
        self.total_streams.inc();
    }

    #[inline]
    pub fn stream_ended(&self) {
        self.streams.dec();
    }
}

/// One backend on one shard: what HAProxy counts on the backend itself rather than as the sum
/// of its servers.
#[derive(Debug, Default)]
pub struct BackendCounters {
    /// Requests routed to the backend and not finished (scur, HAProxy's `beconn`) and the
    /// backend's own peak (smax).
    pub sessions: Gauge,
    /// Requests waiting for a server slot (`maxconn`), all servers (qcur, qmax).
    pub queue: Gauge,
    /// Final responses to requests routed here, by status class, the proxy's own errors
    /// (502, 503, 504) included (hrsp_*).
    pub status: StatusCounters,
    /// Requests routed here that got a status (req_tot).
    pub req_tot: Counter,
    /// Requests routed here per second (rate, rate_max, lastsess).
    pub sess_rate: RateCounter,
    /// Phase averages of the requests that got a response (qtime, ctime, rtime, ttime).
    pub times: RequestTimes,
}

/// One server on one shard.
#[derive(Debug, Default)]
pub struct ServerCounters {
    /// Requests being served now (scur) and the peak (smax).
    pub sessions: Gauge,
    /// Requests sent to this server, reused connection or not (stot).
    pub stot: Counter,
    /// Requests waiting for a slot on this server (qcur, qmax).
    pub queue: Gauge,
    /// Requests assigned to this server per second (rate, rate_max, lastsess).
    pub sess_rate: RateCounter,
    /// Phase averages of the requests that got a response (qtime, ctime, rtime, ttime).
    pub times: RequestTimes,
    /// New TCP connections attempted to this server (connect).
    pub connect: Counter,
    /// Requests sent on a connection that had already carried one (reuse).
    pub reuse: Counter,
    /// Requests whose every connection attempt failed (econ: one per request, as HAProxy).
    pub econ: Counter,
    /// Response errors: invalid response, server closed or reset, timeout (eresp).
    pub eresp: Counter,
    /// Connection retries (wretr).
    pub wretr: Counter,
    /// Requests sent to another server after every attempt on this one failed (wredis).
    pub wredis: Counter,
    /// Times the load balancer picked this server (lbtot).
    pub lbtot: Counter,
    /// Client aborts and server aborts during a transfer (cli_abrt, srv_abrt).
    pub cli_abrt: Counter,
    pub srv_abrt: Counter,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub status: StatusCounters,
    /// Idle connections closed by this shard's purge.
    pub purged: Counter,
    /// Idle connections this shard took from a peer shard.
    pub takeovers: Counter,
    /// Connections closed by this shard, by reason.
    pub closed: CloseCounters,
    /// Requests each closed connection had carried.
    pub reqs_per_conn: ReqsPerConnHistogram,
    /// Request latency: complete request head to the end of the response.
    pub latency: LatencyHistogram,
    /// TLS handshakes with this server.
    pub tls: TlsCounters,
    /// HTTP/2 connections to this server (`proto = "h2"`), their streams and frames.
    pub h2: H2Counters,
}

impl ServerCounters {
    /// A connection to this server closed after carrying `requests` requests.
    #[inline]
    pub fn record_close(&self, reason: CloseReason, requests: u64) {
        self.closed.record(reason);
        self.reqs_per_conn.record(requests);
    }

    /// A request to this server took `elapsed`.
    #[inline]
    pub fn record_latency(&self, elapsed: Duration) {
        self.latency
            .record(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
    }
}

/// Shard-wide activity (`show activity`).
#[derive(Debug, Default)]
pub struct ActivityCounters {
    /// Client connections accepted by this shard.
    pub accepted: Counter,
    /// Idle server connections this shard took from peers (fd_takeover).
    pub fd_takeover: Counter,
    /// Tasks run by this shard's executor, sampled by the shard (ctxsw).
    pub ctxsw: Counter,
    /// The shard's poller rounds (`epoll_wait` calls), sampled by the shard (loops).
    pub loops: Counter,
    /// Rounds that found sockets ready (poll_io).
    pub poll_io: Counter,
    /// Naps that ran out, after which the shard slept in io_uring (poll_exp).
    pub poll_exp: Counter,
    /// Share of the last control tick the shard spent waiting for events, in percent
    /// (`Idle_pct`); set by the shard at each control tick.
    pub idle_pct: Level,
}

/// Everything one shard counts. Indexes follow the configuration order.
#[derive(Debug)]
pub struct ShardCounters {
    pub frontends: Vec<FrontendCounters>,
    pub backends: Vec<BackendCounters>,
    /// `servers[backend][server]`.
    pub servers: Vec<Vec<ServerCounters>>,
    pub activity: ActivityCounters,
}

impl ShardCounters {
    /// Counters for `frontends` frontends and backends with the given server counts.
    pub fn new(frontends: usize, servers_per_backend: &[usize]) -> ShardCounters {
        ShardCounters {
            frontends: (0..frontends)
                .map(|_| FrontendCounters::default())
                .collect(),
            backends: servers_per_backend
                .iter()
                .map(|_| BackendCounters::default())
                .collect(),
            servers: servers_per_backend
                .iter()
                .map(|&count| (0..count).map(|_| ServerCounters::default()).collect())
                .collect(),
            activity: ActivityCounters::default(),
        }
    }
}
