//! Sums over shards. Owns the one place where per-shard counters become per-frontend,
//! per-server and per-backend numbers, so `show stat`, `show info` and any other renderer read
//! the same values. Counters missing for an index (a layout and counters built for different
//! configurations) count as zero instead of panicking.

use std::sync::Arc;

use ringway_pool::ServerSnapshot;

use crate::close::CloseReason;
use crate::counters::{
    BackendCounters, FrontendCounters, H2Counters, ServerCounters, ShardCounters, StatusCounters,
    TlsCounters,
};
use crate::histogram::HistogramSnapshot;
use crate::layout::{Layout, ServerState};
use crate::rates::{RateSnapshot, TimesSnapshot};
use crate::status::HealthView;

/// HTTP responses by status class, summed over shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusTotals {
    pub hrsp_1xx: u64,
    pub hrsp_2xx: u64,
    pub hrsp_3xx: u64,
    pub hrsp_4xx: u64,
    pub hrsp_5xx: u64,
    pub hrsp_other: u64,
}

impl StatusTotals {
    fn add_counters(&mut self, status: &StatusCounters) {
        self.hrsp_1xx += status.hrsp_1xx.get();
        self.hrsp_2xx += status.hrsp_2xx.get();
        self.hrsp_3xx += status.hrsp_3xx.get();
        self.hrsp_4xx += status.hrsp_4xx.get();
        self.hrsp_5xx += status.hrsp_5xx.get();
        self.hrsp_other += status.hrsp_other.get();
    }

    fn add(&mut self, other: &StatusTotals) {
        self.hrsp_1xx += other.hrsp_1xx;
        self.hrsp_2xx += other.hrsp_2xx;
        self.hrsp_3xx += other.hrsp_3xx;
        self.hrsp_4xx += other.hrsp_4xx;
        self.hrsp_5xx += other.hrsp_5xx;
        self.hrsp_other += other.hrsp_other;
    }
}

/// One frontend over all shards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrontendTotals {
    /// Client connections open now.
    pub scur: u64,
    /// Sum of the shards' peaks: an upper bound of the process-wide peak (shards peak at
    /// different moments, and reading one global peak would need a shared write per accept).
    pub smax: u64,
    pub conn_tot: u64,
    pub req_tot: u64,
    /// Requests answered by the proxy itself (`monitor_uri`).
    pub intercepted: u64,
    pub ereq: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub status: StatusTotals,
    /// TLS client connections open now.
    pub tls_open: u64,
    pub tls: TlsTotals,
    /// Access log lines a syslog receiver did not take.
    pub log_dropped: u64,
    /// Accepted connections per second.
    pub conn_rate: RateSnapshot,
    /// Requests per second.
    pub req_rate: RateSnapshot,
    /// Requests in progress.
    pub streams: u64,
    /// HTTP/2 client connections.
    pub h2: H2Totals,
}

/// HTTP/2 connections, streams and frames summed over shards (and servers): the `h2_*`
/// columns of `show stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct H2Totals {
    pub conns: u64,
    pub total_conns: u64,
    pub streams: u64,
    /// Sum of the shards' peaks of streams open at once.
    pub streams_max: u64,
    pub total_streams: u64,
    pub headers_rcvd: u64,
    pub data_rcvd: u64,
    pub settings_rcvd: u64,
    pub rst_stream_rcvd: u64,
    pub goaway_rcvd: u64,
    pub conn_proto_err: u64,
    pub strm_proto_err: u64,
    pub rst_stream_resp: u64,
    pub goaway_resp: u64,
}

impl H2Totals {
    fn add_counters(&mut self, c: &H2Counters) {
        self.add(&H2Totals {
            conns: gauge_value(c.conns.get()),
            total_conns: c.total_conns.get(),
            streams: gauge_value(c.streams.get()),
            streams_max: gauge_value(c.streams.max()),
            total_streams: c.total_streams.get(),
            headers_rcvd: c.headers_rcvd.get(),
            data_rcvd: c.data_rcvd.get(),
            settings_rcvd: c.settings_rcvd.get(),
            rst_stream_rcvd: c.rst_stream_rcvd.get(),
            goaway_rcvd: c.goaway_rcvd.get(),
            conn_proto_err: c.conn_proto_err.get(),
            strm_proto_err: c.strm_proto_err.get(),
            rst_stream_resp: c.rst_stream_resp.get(),
            goaway_resp: c.goaway_resp.get(),
        });
    }

    fn add(&mut self, o: &H2Totals) {
        self.conns += o.conns;
        self.total_conns += o.total_conns;
        self.streams += o.streams;
        self.streams_max += o.streams_max;
        self.total_streams += o.total_streams;
        self.headers_rcvd += o.headers_rcvd;
        self.data_rcvd += o.data_rcvd;
        self.settings_rcvd += o.settings_rcvd;
        self.rst_stream_rcvd += o.rst_stream_rcvd;
        self.goaway_rcvd += o.goaway_rcvd;
        self.conn_proto_err += o.conn_proto_err;
        self.strm_proto_err += o.strm_proto_err;
        self.rst_stream_resp += o.rst_stream_resp;
        self.goaway_resp += o.goaway_resp;
    }
}

/// TLS handshake counts summed over shards (and servers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsTotals {
    pub handshakes: u64,
    pub resumed: u64,
    pub failed: u64,
}

impl TlsTotals {
    fn add_counters(&mut self, c: &TlsCounters) {
        self.handshakes += c.handshakes.get();
        self.resumed += c.resumed.get();
        self.failed += c.failed.get();
    }

    fn add(&mut self, o: &TlsTotals) {
        self.handshakes += o.handshakes;
        self.resumed += o.resumed;
        self.failed += o.failed;
    }
}

/// Counters of one server over all shards, or of all servers of a backend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerSums {
    /// Requests in flight now.
    pub scur: u64,
    /// Sum of the shards' peaks (see [`FrontendTotals::smax`]); for a backend, the sum over
    /// its servers.
    pub smax: u64,
    pub stot: u64,
    /// Requests waiting for a slot now, and the sum of the shards' peaks.
    pub qcur: u64,
    pub qmax: u64,
    /// Requests assigned per second.
    pub sess_rate: RateSnapshot,
    pub times: TimesSnapshot,
    pub connect: u64,
    pub reuse: u64,
    pub econ: u64,
    pub eresp: u64,
    pub wretr: u64,
    pub wredis: u64,
    pub lbtot: u64,
    pub cli_abrt: u64,
    pub srv_abrt: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub status: StatusTotals,
    pub purged: u64,
    pub takeovers: u64,
    /// Closed connections by reason, in [`CloseReason::ALL`] order.
    pub closed: [u64; CloseReason::COUNT],
    /// Requests per closed connection.
    pub reqs_per_conn: HistogramSnapshot,
    /// Request latency in microseconds.
    pub latency: HistogramSnapshot,
    pub tls: TlsTotals,
    /// HTTP/2 connections, streams and frames (`proto = "h2"`).
    pub h2: H2Totals,
}

impl ServerSums {
    /// Connections closed for `reason`.
    pub fn closed_for(&self, reason: CloseReason) -> u64 {
        self.closed[reason as usize]
    }

    /// Share of requests sent on an already-used connection: reuse / (connect + reuse).
    pub fn reuse_ratio(&self) -> f64 {
        let total = self.connect + self.reuse;
        if total == 0 {
            0.0
        } else {
            self.reuse as f64 / total as f64
        }
    }

    fn add_closed(&mut self, closed: &[u64; CloseReason::COUNT]) {
        for (mine, theirs) in self.closed.iter_mut().zip(closed) {
            *mine += theirs;
        }
    }

    fn add_counters(&mut self, c: &ServerCounters) {
        self.scur += gauge_value(c.sessions.get());
        self.smax += gauge_value(c.sessions.max());
        self.stot += c.stot.get();
        self.qcur += gauge_value(c.queue.get());
        self.qmax += gauge_value(c.queue.max());
        self.times.add(&c.times.read());
        self.connect += c.connect.get();
        self.reuse += c.reuse.get();
        self.econ += c.econ.get();
        self.eresp += c.eresp.get();
        self.wretr += c.wretr.get();
        self.wredis += c.wredis.get();
        self.lbtot += c.lbtot.get();
        self.cli_abrt += c.cli_abrt.get();
        self.srv_abrt += c.srv_abrt.get();
        self.bytes_in += c.bytes_in.get();
        self.bytes_out += c.bytes_out.get();
        self.status.add_counters(&c.status);
        self.purged += c.purged.get();
        self.takeovers += c.takeovers.get();
        self.add_closed(&c.closed.values());
        self.reqs_per_conn.add(&c.reqs_per_conn.snapshot());
        self.latency.add(&c.latency.snapshot());
        self.tls.add_counters(&c.tls);
        self.h2.add_counters(&c.h2);
    }

    fn add(&mut self, o: &ServerSums) {
        self.scur += o.scur;
        self.smax += o.smax;
        self.stot += o.stot;
        self.qcur += o.qcur;
        self.qmax += o.qmax;
        self.sess_rate.add(&o.sess_rate);
        self.times.add(&o.times);
        self.connect += o.connect;
        self.reuse += o.reuse;
        self.econ += o.econ;
        self.eresp += o.eresp;
        self.wretr += o.wretr;
        self.wredis += o.wredis;
        self.lbtot += o.lbtot;
        self.cli_abrt += o.cli_abrt;
        self.srv_abrt += o.srv_abrt;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.status.add(&o.status);
        self.purged += o.purged;
        self.takeovers += o.takeovers;
        self.add_closed(&o.closed);
        self.reqs_per_conn.add(&o.reqs_per_conn);
        self.latency.add(&o.latency);
        self.tls.add(&o.tls);
        self.h2.add(&o.h2);
    }
}

/// One server: its summed counters, a snapshot of its shared pool accounting and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTotals {
    pub counters: ServerSums,
    /// Requests in flight to this server on each shard: the connections each shard uses.
    pub used_per_shard: Vec<u64>,
    pub pool: ServerSnapshot,
    pub state: ServerState,
    /// Health: status text, checks, passive detection.
    pub health: HealthView,
    /// The effective weight now (0 when it takes no traffic; ramped during a slowstart).
    pub weight: u32,
    /// The configured or runtime weight (HAProxy's `uweight`).
    pub uweight: u32,
    pub backup: bool,
}

/// What a backend counts itself (not the sum of its servers), over all shards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendOwn {
    /// Requests routed here and not finished, and the sum of the shards' peaks.
    pub scur: u64,
    pub smax: u64,
    pub qcur: u64,
    pub qmax: u64,
    /// Final statuses, the proxy's own errors included.
    pub status: StatusTotals,
    pub req_tot: u64,
    pub sess_rate: RateSnapshot,
    pub times: TimesSnapshot,
}

impl BackendOwn {
    fn add_counters(&mut self, c: &BackendCounters, now_ms: u64) {
        self.scur += gauge_value(c.sessions.get());
        self.smax += gauge_value(c.sessions.max());
        self.qcur += gauge_value(c.queue.get());
        self.qmax += gauge_value(c.queue.max());
        self.status.add_counters(&c.status);
        self.req_tot += c.req_tot.get();
        self.sess_rate.add(&RateSnapshot::of(&c.sess_rate, now_ms));
        self.times.add(&c.times.read());
    }
}

/// One backend: its servers in configuration order, and their sums.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendTotals {
    pub servers: Vec<ServerTotals>,
    pub sum: ServerSums,
    pub own: BackendOwn,
    /// Servers in the ready state and UP.
    pub ready: u64,
    /// Usable active servers (ready, UP, effective weight above 0): HAProxy's `srv_act`.
    pub act: u64,
    /// Usable backup servers: HAProxy's `srv_bck`.
    pub bck: u64,
    /// The effective weights of the servers taking new requests now (the actives, else the
    /// serving backups), summed: HAProxy's total weight.
    pub weight: u64,
    /// Their configured or runtime weights summed.
    pub uweight: u64,
    /// Connections to the backend's servers open now: in use plus idle.
    pub open_conns: u64,
}

/// Everything the renderers need, summed once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Indexed like `Layout::frontends`.
    pub frontends: Vec<FrontendTotals>,
    /// Indexed like `Layout::backends`.
    pub backends: Vec<BackendTotals>,
    /// The shards' idle share averaged, in percent (`Idle_pct`); 100 without shards.
    pub idle_pct: u64,
}

impl Totals {
    /// Client connections open now, all frontends (`CurrConns`).
    pub fn curr_conns(&self) -> u64 {
        self.frontends.iter().map(|f| f.scur).sum()
    }

    /// Accepted client connections, all frontends (`CumConns`).
    pub fn cum_conns(&self) -> u64 {
        self.frontends.iter().map(|f| f.conn_tot).sum()
    }

    /// Accepted connections per second and the peak, all frontends (`ConnRate`,
    /// `MaxConnRate`; also `SessRate`, every connection being a session).
    pub fn conn_rate(&self) -> (u64, u64) {
        self.frontends.iter().fold((0, 0), |(rate, max), f| {
            (rate + f.conn_rate.rate, max + f.conn_rate.max)
        })
    }

    /// HTTP requests received, all frontends (`CumReq`).
    pub fn cum_req(&self) -> u64 {
        self.frontends.iter().map(|f| f.req_tot).sum()
    }

    /// TLS handshakes with clients, all frontends.
    pub fn frontend_tls(&self) -> TlsTotals {
        let mut sum = TlsTotals::default();
        for frontend in &self.frontends {
            sum.add(&frontend.tls);
        }
        sum
    }

    /// TLS handshakes with servers, all backends.
    pub fn backend_tls(&self) -> TlsTotals {
        let mut sum = TlsTotals::default();
        for backend in &self.backends {
            sum.add(&backend.sum.tls);
        }
        sum
    }

    /// Bytes written to any peer: responses to clients plus requests to servers.
    pub fn bytes_out(&self) -> u64 {
        let to_clients: u64 = self.frontends.iter().map(|f| f.bytes_out).sum();
        let to_servers: u64 = self.backends.iter().map(|b| b.sum.bytes_in).sum();
        to_clients + to_servers
    }
}

/// A gauge read as a count; a transiently negative value reads as zero.
fn gauge_value(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn frontend_totals(index: usize, shards: &[Arc<ShardCounters>], now_ms: u64) -> FrontendTotals {
    let mut t = FrontendTotals::default();
    for shard in shards {
        let Some(f): Option<&FrontendCounters> = shard.frontends.get(index) else {
            continue;
        };
        t.scur += gauge_value(f.sessions.get());
        t.smax += gauge_value(f.sessions.max());
        t.conn_tot += f.conn_tot.get();
        t.req_tot += f.req_tot.get();
        t.intercepted += f.intercepted.get();
        t.ereq += f.ereq.get();
        t.bytes_in += f.bytes_in.get();
        t.bytes_out += f.bytes_out.get();
        t.status.add_counters(&f.status);
        t.tls_open += gauge_value(f.tls_open.get());
        t.tls.add_counters(&f.tls);
        t.log_dropped += f.log_dropped.get();
        t.conn_rate.add(&RateSnapshot::of(&f.conn_rate, now_ms));
        t.req_rate.add(&RateSnapshot::of(&f.req_rate, now_ms));
        t.streams += gauge_value(f.streams.get());
        t.h2.add_counters(&f.h2);
    }
    t
}

/// One server's counters on one shard (zero when the shard has none for it).
pub fn server_sums_on(shard: &ShardCounters, backend: usize, server: usize) -> ServerSums {
    let mut sums = ServerSums::default();
    if let Some(c) = shard.servers.get(backend).and_then(|b| b.get(server)) {
        sums.add_counters(c);
    }
    sums
}

/// Every server's counters of one shard summed: that shard's share of the traffic.
pub fn shard_server_sums(shard: &ShardCounters) -> ServerSums {
    let mut sums = ServerSums::default();
    for c in shard.servers.iter().flatten() {
        sums.add_counters(c);
    }
    sums
}

fn server_sums(
    backend: usize,
    server: usize,
    shards: &[Arc<ShardCounters>],
    now_ms: u64,
) -> ServerSums {
    let mut sums = ServerSums::default();
    for shard in shards {
        if let Some(c) = shard.servers.get(backend).and_then(|b| b.get(server)) {
            sums.add_counters(c);
            sums.sess_rate.add(&RateSnapshot::of(&c.sess_rate, now_ms));
        }
    }
    sums
}

/// Milliseconds since `layout` started: the time base of the rate counters.
pub fn uptime_ms(layout: &Layout) -> u64 {
    u64::try_from(layout.started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Sums every counter of `shards` along `layout`.
pub fn totals(layout: &Layout, shards: &[Arc<ShardCounters>]) -> Totals {
    let now = std::time::Instant::now();
    let now_ms = uptime_ms(layout);
    let frontends = (0..layout.frontends.len())
        .map(|index| frontend_totals(index, shards, now_ms))
        .collect();
    let backends = layout
        .backends
        .iter()
        .enumerate()
        .map(|(b, backend)| {
            let mut totals = BackendTotals::default();
            let serving = layout.serving_weights(b);
            (totals.act, totals.bck) = layout.usable_servers(b);
            for shard in shards {
                if let Some(c) = shard.backends.get(b) {
                    totals.own.add_counters(c, now_ms);
                }
            }
            for (s, server) in backend.servers.iter().enumerate() {
                let counters = server_sums(b, s, shards, now_ms);
                let pool = server.pool.snapshot();
                let state = server.state.get();
                let health = HealthView::of(&server.health_snapshot(), state, now);
                totals.sum.add(&counters);
                if server.state.takes_traffic() {
                    totals.ready += 1;
                }
                let weight = layout.effective_weight(server);
                let uweight = server.weight.user();
                if serving[s] > 0 {
                    totals.weight += u64::from(serving[s]);
                    totals.uweight += u64::from(uweight);
                }
                totals.open_conns += (pool.used_cur + pool.idle_cur) as u64;
                let used_per_shard = shards
                    .iter()
                    .map(|shard| server_sums_on(shard, b, s).scur)
                    .collect();
                totals.servers.push(ServerTotals {
                    counters,
                    used_per_shard,
                    pool,
                    state,
                    health,
                    weight,
                    uweight,
                    backup: server.backup,
                });
            }
            totals
        })
        .collect();
    let idle_pct = if shards.is_empty() {
        100
    } else {
        shards
            .iter()
            .map(|shard| shard.activity.idle_pct.get().min(100))
            .sum::<u64>()
            / shards.len() as u64
    };
    Totals {
        frontends,
        backends,
        idle_pct,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{all_shards, limits, sample_layout};

    #[test]
    fn sums_over_shards() {
        let layout = sample_layout(3, limits(-1, 5_000));
        let shards = all_shards(&layout);
        for (i, shard) in shards.iter().enumerate() {
            let s = &shard.servers[0][0];
            s.stot.add(10 * (i as u64 + 1));
            s.sessions.inc();
            s.bytes_in.add(100);
            shard.frontends[0].bytes_out.add(1_000);
            shard.frontends[0].status.record(204);
        }
        shards[2].servers[0][0].sessions.dec();
        layout.backends[0].servers[0].state.set(ServerState::Drain);

        let t = totals(&layout, &shards);
        let s1 = &t.backends[0].servers[0];
        assert_eq!(
            (s1.counters.stot, s1.counters.scur, s1.counters.smax),
            (60, 2, 3)
        );
        assert_eq!(s1.state, ServerState::Drain);
        assert_eq!(t.backends[0].sum, s1.counters);
        assert_eq!(t.backends[0].ready, 0);
        assert_eq!(t.frontends[0].status.hrsp_2xx, 3);
        assert_eq!(t.bytes_out(), 3_300);
    }

    #[test]
    fn missing_counters_are_zero() {
        let layout = sample_layout(1, limits(-1, 5_000));
        let t = totals(&layout, &[Arc::new(ShardCounters::new(0, &[]))]);
        assert_eq!(t.frontends, vec![FrontendTotals::default()]);
        assert_eq!(t.backends[0].servers[0].counters, ServerSums::default());
        assert_eq!(t.backends[0].ready, 1);
    }
}
