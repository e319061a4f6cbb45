//! Readiness and the grace period: the first phase of a graceful stop. Owns the process's
//! "ready" flag, which `/ready` on the admin listener and each frontend's `monitor_uri` answer
//! from, and the grace timer that hands a stop request on to the drain
//! ([`ProcessShared::request_stop`]) once `global.grace` has passed.
//!
//! The way out of service: ready → (a stop signal) not ready, still accepting and serving for
//! `grace`, so that a load balancer sees the 503s and takes the node out of rotation → stopping:
//! no more accepts, in-flight requests finish, idle connections close (the shards' drain,
//! unchanged). A second stop request during the grace ends it at once.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

use crate::process::sd_notify;
use crate::process::ProcessShared;

/// Whether the process serves, as a load balancer should see it.
#[derive(Debug, Default)]
pub struct Readiness {
    /// Every shard has its listeners and runs (set once at the end of the start).
    serving: AtomicBool,
    /// A graceful stop has begun.
    stop_begun: AtomicBool,
}

impl Readiness {
    /// Serving and no stop begun: `/ready` and `monitor_uri` answer 200.
    pub fn is_ready(&self) -> bool {
        self.serving.load(SeqCst) && !self.stop_begun.load(SeqCst)
    }

    /// The start is complete: every listener is bound and every shard serves.
    pub fn mark_serving(&self) {
        self.serving.store(true, SeqCst);
    }

    /// Marks the process not ready; true the first time.
    fn begin_stop(&self) -> bool {
        !self.stop_begun.swap(true, SeqCst)
    }
}

/// Starts a graceful stop: not ready at once, then, after `global.grace`, the drain. A call
/// during the grace (a second signal) starts the drain at once.
pub fn graceful_stop(shared: &Arc<ProcessShared>) {
    let grace = shared.config.global.grace;
    if !shared.readiness.begin_stop() {
        if !shared.is_stopping() {
            shared.log.notice(format_args!(
                "stop requested again: the grace period ends now"
            ));
            draining(shared);
        }
        return;
    }
    if grace.is_zero() {
        sd_notify::stopping("stopping: in-flight requests finish, idle connections close");
        draining(shared);
        return;
    }
    sd_notify::stopping(&format!(
        "stopping: not ready, still serving for the {grace:?} grace period"
    ));
    shared.log.notice(format_args!(
        "not ready; accepting and serving for the {grace:?} grace period, then draining"
    ));
    let timer_shared = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("ringway-grace".into())
        .spawn(move || {
            std::thread::sleep(grace);
            if !timer_shared.is_stopping() {
                draining(&timer_shared);
            }
        });
    if let Err(error) = spawned {
        shared
            .log
            .err(format_args!("no grace timer ({error}): draining now"));
        draining(shared);
    }
}

fn draining(shared: &ProcessShared) {
    sd_notify::status("draining: no new connections, in-flight requests finish");
    shared.request_stop();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_between_start_and_stop() {
        let readiness = Readiness::default();
        assert!(!readiness.is_ready(), "not ready while starting");
        readiness.mark_serving();
        assert!(readiness.is_ready());
        assert!(readiness.begin_stop());
        assert!(!readiness.is_ready());
        assert!(!readiness.begin_stop(), "a second stop is not the first");
        assert!(!readiness.is_ready());
    }
}
