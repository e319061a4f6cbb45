//! The `tcp_keepalive` checks: each key applies over what `[defaults]` gave; `idle` and
//! `interval` are whole seconds the kernel accepts (1 to 32767, Linux's `MAX_TCP_KEEPIDLE`), `count`
//! 1 to 127; `client` belongs to frontends and `server` to backends (HAProxy's `clitcpka` is a
//! frontend option, `srvtcpka` a backend one), so a side set where it has no effect is an error.

use std::time::Duration;

use super::Checker;
use crate::draft::{At, DraftTcpKeepalive, DraftTuning};
use crate::model::TcpKeepalive;

/// Longest TCP_KEEPIDLE / TCP_KEEPINTVL Linux accepts, in seconds.
const MAX_KEEPALIVE_SECONDS: u64 = 32_767;
/// Most TCP_KEEPCNT probes Linux accepts.
const MAX_KEEPALIVE_COUNT: i64 = 127;

impl Checker<'_> {
    /// Applies the keys set in `draft` over `inherited`.
    pub(super) fn tcp_keepalive(
        &mut self,
        draft: &DraftTcpKeepalive,
        inherited: TcpKeepalive,
    ) -> TcpKeepalive {
        let mut out = inherited;
        if let Some(client) = &draft.client {
            out.client = client.value;
        }
        if let Some(server) = &draft.server {
            out.server = server.value;
        }
        if let Some(idle) = self.keepalive_seconds(&draft.idle) {
            out.idle = Some(idle);
        }
        if let Some(interval) = self.keepalive_seconds(&draft.interval) {
            out.interval = Some(interval);
        }
        if let Some(count) = self.ranged(&draft.count, 1, MAX_KEEPALIVE_COUNT) {
            out.count = u32::try_from(count).ok();
        }
        out
    }

    fn keepalive_seconds(&mut self, given: &Option<At<Duration>>) -> Option<Duration> {
        let given = given.as_ref()?;
        let value = given.value;
        if value.subsec_nanos() != 0 || !(1..=MAX_KEEPALIVE_SECONDS).contains(&value.as_secs()) {
            self.issue(
                given,
                format!("must be whole seconds from 1s to {MAX_KEEPALIVE_SECONDS}s"),
            );
            return None;
        }
        Some(value)
    }

    /// A section's `tcp_keepalive.<side>` where that side does not apply (`section` names the
    /// kind of section it belongs to).
    pub(super) fn keepalive_side(&mut self, draft: &DraftTuning, side: &str, section: &str) {
        let Some(keepalive) = &draft.tcp_keepalive else {
            return;
        };
        let given = if side == "client" {
            &keepalive.client
        } else {
            &keepalive.server
        };
        if let Some(given) = given {
            self.issue(
                given,
                format!("applies to a {section}: set it there or in [defaults]"),
            );
        }
    }
}
