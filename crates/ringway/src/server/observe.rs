//! Passive health detection (HAProxy's `observe`, `error-limit`, `on-error`): the exchange
//! reports what live traffic saw of a server; `error_limit` consecutive errors make shard 0
//! apply the server's `on_error` to its health machine and bring its next check forward.
//!
//! The count of consecutive errors is one atomic per server (`ProcessShared::observed`),
//! shared by every shard. An error adds one; the shard whose error reaches the limit takes the
//! count back to 0 and tells shard 0 (`ShardCommand::Observed`). A success clears the count
//! with a store only when it is not already 0, so a healthy server costs one load per
//! response; a server without `observe` costs a look at its configuration.
//!
//! What counts (HAProxy's table): with `layer4` a failed connect (refused or timed out) is an
//! error and an established connection a success; with `layer7` a failed connect is an error,
//! and so is a response status other than 100-499, 501 and 505, an invalid response, a read
//! error, a read timeout and a close before the response; any other status is a success.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use ringway_config::ObserveLayer;

use crate::process::shard::ShardCtx;
use crate::process::ShardCommand;
use crate::server::health::{intervals, publish, Cause};

/// What live traffic saw of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The request has an established connection (new or reused).
    Connected,
    /// A connection attempt failed or timed out.
    ConnectFailed,
    /// The response's status.
    Status(u16),
    /// The response head was not valid HTTP.
    BadResponse,
    /// Reading the response failed (a reset).
    ReadError,
    /// The response did not come within timeout_server.
    ReadTimeout,
    /// The server closed before any response byte.
    ServerClosed,
}

impl Event {
    /// HAProxy's description, quoted in the log line and `last_chk`.
    pub fn description(self) -> &'static str {
        match self {
            Event::Connected => "L4 successful connection",
            Event::ConnectFailed => "L4 unsuccessful connection",
            Event::Status(status) if status_is_valid(status) => "Correct http response",
            Event::Status(_) => "Wrong http response",
            Event::BadResponse => "Invalid http response",
            Event::ReadError => "Read error (http)",
            Event::ReadTimeout => "Read timeout (http)",
            Event::ServerClosed => "Close from server (http)",
        }
    }

    /// Whether the event is an error (`Some(true)`), a success (`Some(false)`) or does not
    /// count (`None`) at this layer.
    fn verdict(self, layer: ObserveLayer) -> Option<bool> {
        match (self, layer) {
            (Event::ConnectFailed, _) => Some(true),
            (Event::Connected, ObserveLayer::Layer4) => Some(false),
            (_, ObserveLayer::Layer4) | (Event::Connected, _) => None,
            (Event::Status(status), ObserveLayer::Layer7) => Some(!status_is_valid(status)),
            (_, ObserveLayer::Layer7) => Some(true),
        }
    }
}

/// HAProxy's valid statuses for `observe layer7`: 100 to 499, 501 and 505.
fn status_is_valid(status: u16) -> bool {
    (100..500).contains(&status) || status == 501 || status == 505
}

/// Reports what a request saw of the server, if the server is observed.
#[inline]
pub fn report(ctx: &ShardCtx, backend: usize, server: usize, event: Event) {
    let Some(observe) = &ctx.process.config.backends[backend].servers[server].observe else {
        return;
    };
    let Some(error) = event.verdict(observe.layer) else {
        return;
    };
    let count = &ctx.process.observed[backend][server];
    if !error {
        if count.load(Relaxed) != 0 {
            count.store(0, Relaxed);
        }
        return;
    }
    let errors = count.fetch_add(1, Relaxed) + 1;
    // Of the shards whose errors pass the limit together, the one that takes the count back
    // to 0 reports it.
    if errors >= observe.error_limit && count.swap(0, Relaxed) >= observe.error_limit {
        ctx.process.tell(
            0,
            ShardCommand::Observed {
                backend,
                server,
                errors,
                last: event.description(),
            },
        );
    }
}

/// On shard 0: `errors` consecutive errors were seen on the server, the last being `last`.
/// Applies its `on_error` and brings its next check forward to `fastinter`.
pub fn on_errors(ctx: &ShardCtx, backend: usize, server: usize, errors: u32, last: &str) {
    let process = &ctx.process;
    let config = &process.config.backends[backend];
    let Some(observe) = &config.servers[server].observe else {
        return;
    };
    let info = &process.layout.backends[backend].servers[server];
    let now = Instant::now();
    let (changed, outcome) = {
        let mut machine = info.health();
        let changed = machine.on_error(observe.on_error, errors, last, now);
        (changed, machine.last.clone())
    };
    if let (Some(health), Some(outcome)) = (changed, outcome) {
        publish(process, backend, server, health, Cause::Check(&outcome));
    }
    if let Some(fastinter) = intervals(&config.health_check).fastinter {
        ctx.check_wakes.check_by(backend, server, now + fastinter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_s_table() {
        use ObserveLayer::{Layer4, Layer7};
        for (event, layer4, layer7) in [
            (Event::Connected, Some(false), None),
            (Event::ConnectFailed, Some(true), Some(true)),
            (Event::Status(200), None, Some(false)),
            (Event::Status(404), None, Some(false)),
            (Event::Status(501), None, Some(false)),
            (Event::Status(505), None, Some(false)),
            (Event::Status(500), None, Some(true)),
            (Event::Status(502), None, Some(true)),
            (Event::Status(503), None, Some(true)),
            (Event::BadResponse, None, Some(true)),
            (Event::ReadError, None, Some(true)),
            (Event::ReadTimeout, None, Some(true)),
            (Event::ServerClosed, None, Some(true)),
        ] {
            assert_eq!(event.verdict(Layer4), layer4, "{event:?} layer4");
            assert_eq!(event.verdict(Layer7), layer7, "{event:?} layer7");
        }
        assert_eq!(Event::Status(503).description(), "Wrong http response");
    }
}
