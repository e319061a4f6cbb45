//! The stuck requests of the `/stats` page and `/stats.json` (seed 003): reads the threshold
//! from `?stuck=` (a duration, `DEFAULT_STUCK_THRESHOLD` when absent) and gathers the shards'
//! sessions as `show sess` does, waiting briefly: a page must not hang on a busy shard, and a
//! stopping process no longer runs its control ticks.

use std::time::Duration;

use ringway_stats::{StuckSessions, DEFAULT_STUCK_THRESHOLD};

use super::http::{Request, Response};
use crate::client::sessions;
use crate::process::ProcessShared;

/// How long the page waits for the shards' sessions (each answers at once: the command rings
/// its doorbell).
const PAGE_DEADLINE: Duration = Duration::from_millis(500);
/// The same for a stopping process.
const STOPPING_DEADLINE: Duration = Duration::from_millis(100);

/// The stuck requests for this request's threshold, or the 400 for a bad one.
pub fn stuck_sessions(
    request: &Request,
    shared: &ProcessShared,
) -> Result<StuckSessions, Response> {
    let threshold = match request.param("stuck") {
        None => DEFAULT_STUCK_THRESHOLD,
        Some(text) => ringway_config::parse_duration(text).map_err(|error| {
            Response::new(
                400,
                "text/plain",
                format!("bad stuck threshold: {error} (example: /stats?stuck=5s)\n"),
            )
        })?,
    };
    let deadline = if shared.is_stopping() {
        STOPPING_DEADLINE
    } else {
        PAGE_DEADLINE
    };
    let (rows, silent) = sessions::collect(shared, deadline);
    Ok(StuckSessions::select(rows, threshold, silent))
}
