//! `clear counters` and `clear counters all` on one shard's counters, as HAProxy 2.6 clears
//! its own: the first brings every peak (`smax`) back to the current value, the second also
//! brings every counter back to 0. Gauges of what is open now (`scur`) are never touched. Only
//! the shard that writes the counters may call these (its control tick does, on the control
//! thread's command), so a clear never races an increment.

use crate::counters::{
    ActivityCounters, BackendCounters, FrontendCounters, H2Counters, ServerCounters, ShardCounters,
    StatusCounters, TlsCounters,
};

impl StatusCounters {
    fn reset(&self) {
        for counter in [
            &self.hrsp_1xx,
            &self.hrsp_2xx,
            &self.hrsp_3xx,
            &self.hrsp_4xx,
            &self.hrsp_5xx,
            &self.hrsp_other,
        ] {
            counter.reset();
        }
    }
}

impl TlsCounters {
    fn reset(&self) {
        self.handshakes.reset();
        self.resumed.reset();
        self.failed.reset();
    }
}

impl H2Counters {
    fn reset(&self) {
        for counter in [
            &self.total_conns,
            &self.total_streams,
            &self.headers_rcvd,
            &self.data_rcvd,
            &self.settings_rcvd,
            &self.rst_stream_rcvd,
            &self.goaway_rcvd,
            &self.conn_proto_err,
            &self.strm_proto_err,
            &self.rst_stream_resp,
            &self.goaway_resp,
        ] {
            counter.reset();
        }
    }
}

impl FrontendCounters {
    fn reset(&self) {
        for counter in [
            &self.conn_tot,
            &self.req_tot,
            &self.intercepted,
            &self.ereq,
            &self.bytes_in,
            &self.bytes_out,
            &self.log_dropped,
        ] {
            counter.reset();
        }
        self.status.reset();
        self.tls.reset();
        self.h2.reset();
        self.conn_rate.reset();
        self.req_rate.reset();
    }
}

impl BackendCounters {
    fn reset(&self) {
        self.status.reset();
        self.req_tot.reset();
        self.sess_rate.reset();
        self.times.reset();
    }
}

impl ServerCounters {
    fn reset(&self) {
        for counter in [
            &self.stot,
            &self.connect,
            &self.reuse,
            &self.econ,
            &self.eresp,
            &self.wretr,
            &self.wredis,
            &self.lbtot,
            &self.cli_abrt,
            &self.srv_abrt,
            &self.bytes_in,
            &self.bytes_out,
            &self.purged,
            &self.takeovers,
        ] {
            counter.reset();
        }
        self.status.reset();
        self.closed.reset();
        self.reqs_per_conn.reset();
        self.latency.reset();
        self.tls.reset();
        self.h2.reset();
        self.sess_rate.reset();
        self.times.reset();
    }
}

impl ActivityCounters {
    fn reset(&self) {
        for counter in [
            &self.accepted,
            &self.fd_takeover,
            &self.ctxsw,
            &self.loops,
            &self.poll_io,
            &self.poll_exp,
        ] {
            counter.reset();
        }
    }
}

impl ShardCounters {
    /// `clear counters`: every peak back to the current value.
    pub fn clear_max(&self) {
        for frontend in &self.frontends {
            frontend.sessions.reset_max();
            frontend.tls_open.reset_max();
            frontend.streams.reset_max();
            frontend.h2.streams.reset_max();
            frontend.conn_rate.reset_max();
            frontend.req_rate.reset_max();
        }
        for backend in &self.backends {
            backend.sessions.reset_max();
            backend.queue.reset_max();
            backend.sess_rate.reset_max();
            backend.times.reset_max();
        }
        for server in self.servers.iter().flatten() {
            server.sessions.reset_max();
            server.queue.reset_max();
            server.h2.streams.reset_max();
            server.sess_rate.reset_max();
            server.times.reset_max();
        }
    }

    /// `clear counters all`: the peaks, and every counter back to 0.
    pub fn clear_all(&self) {
        self.clear_max();
        self.frontends.iter().for_each(FrontendCounters::reset);
        self.servers
            .iter()
            .flatten()
            .for_each(ServerCounters::reset);
        self.backends.iter().for_each(BackendCounters::reset);
        self.activity.reset();
    }
}

#[cfg(test)]
mod tests {
    use crate::counters::ShardCounters;

    #[test]
    fn clear_max_keeps_totals_and_current_values() {
        let shard = ShardCounters::new(1, &[1]);
        let server = &shard.servers[0][0];
        for _ in 0..3 {
            server.sessions.inc();
        }
        server.sessions.dec();
        server.stot.add(7);
        server.latency.record(100);
        shard.frontends[0].ereq.inc();
        shard.clear_max();
        assert_eq!((server.sessions.get(), server.sessions.max()), (2, 2));
        assert_eq!(server.stot.get(), 7);

        shard.clear_all();
        assert_eq!((server.sessions.get(), server.sessions.max()), (2, 2));
        assert_eq!(server.stot.get(), 0);
        assert_eq!(server.latency.snapshot().count(), 0);
        assert_eq!(shard.frontends[0].ereq.get(), 0);
    }

    #[test]
    fn rates_queues_and_time_averages_are_cleared_too() {
        let shard = ShardCounters::new(1, &[1]);
        let server = &shard.servers[0][0];
        server.queue.inc();
        server.queue.inc();
        server.queue.dec();
        server.sess_rate.record(10);
        server.sess_rate.record(20);
        server.times.record([1, 2, 30, 40]);
        shard.backends[0].queue.inc();
        shard.backends[0].queue.dec();
        shard.clear_max();
        assert_eq!((server.queue.get(), server.queue.max()), (1, 1));
        assert_eq!(shard.backends[0].queue.max(), 0);
        assert_eq!(server.times.read().total.max, 0);
        assert_eq!(
            server.sess_rate.max(),
            2,
            "the current second's events stay"
        );

        shard.clear_all();
        assert_eq!(server.sess_rate.max(), 0);
        assert_eq!(server.times.read().total.average(), 0);
    }
}
