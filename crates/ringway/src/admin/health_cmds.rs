//! Runtime API commands on servers' health, HAProxy 2.6's syntax and replies:
//! `enable health B/S`, `disable health B/S`, `set server B/S health up|stopping|down`, and
//! `enable agent` / `disable agent` (ringway has no agent checks: HAProxy's answers for a
//! server without one). Changes go through the server's health machine and
//! `server::health::publish`, which the checks use too.

use std::time::Instant;

use ringway_pool::Health;

use crate::admin::control::find_server;
use crate::process::ProcessShared;
use crate::server::health::{publish, Cause};

const HEALTH_NOT_CONFIGURED: &str =
    "Health check was not configured on this server, cannot enable.\n";
const AGENT_NOT_CONFIGURED: &str = "Agent was not configured on this server, cannot enable.\n";
const HEALTH_EXPECTS: &str = "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n";

/// `enable|disable health|agent B/S`. Disabled checks are no longer sent and no longer change
/// the server's health; its health stays what it was until they resume (or `set server B/S
/// health` changes it), as in HAProxy.
pub fn toggle(shared: &ProcessShared, enable: bool, what: &str, args: &[&str]) -> String {
    let (backend, server) = match find_server(shared, args.first().copied().unwrap_or("")) {
        Ok(found) => found,
        Err(error) => return error,
    };
    match (what, enable) {
        ("agent", true) => AGENT_NOT_CONFIGURED.to_owned(),
        ("agent", false) => String::new(),
        _ => {
            let info = &shared.layout.backends[backend].servers[server];
            if info.health().set_enabled(enable) {
                String::new()
            } else {
                HEALTH_NOT_CONFIGURED.to_owned()
            }
        }
    }
}

/// `set server B/S health up|stopping|down`: forces the server's health; `stopping` is
/// HAProxy's NOLB (UP, no new requests). Checks, if enabled, go on from there.
pub fn set_health(shared: &ProcessShared, target: &str, args: &[&str]) -> String {
    let (backend, server) = match find_server(shared, target) {
        Ok(found) => found,
        Err(error) => return error,
    };
    let health = match args {
        ["up"] => Health::Up,
        ["stopping"] => Health::Stopping,
        ["down"] => Health::Down,
        _ => return HEALTH_EXPECTS.to_owned(),
    };
    let info = &shared.layout.backends[backend].servers[server];
    let changed = info.health().force(health, Instant::now());
    if let Some(health) = changed {
        publish(shared, backend, server, health, Cause::Cli);
    }
    String::new()
}
