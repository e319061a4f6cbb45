//! Runtime API commands that need a round trip to the shards or the shards' captures: `clear
//! counters [all]` (each shard clears its own counters, so a clear never races an increment,
//! and the command returns once every shard has), `shutdown session` with HAProxy's reply for
//! an unknown id, and `show errors`.

use std::time::{Duration, Instant};

use crossbeam::channel::{bounded, Sender};
use ringway_stats::render_show_errors;

use crate::client::sessions::{self, SNAPSHOT_DEADLINE};
use crate::process::{ProcessShared, ShardCommand};

/// HAProxy's reply to `shutdown session` for an id no session has.
pub const NO_SUCH_SESSION: &str = "No such session (use 'show sess').\n";

/// A shard's "done" for a command the control thread waits on.
#[derive(Clone)]
pub struct Ack(Sender<()>);

impl Ack {
    /// Says done; a control thread that stopped waiting is not an error.
    pub fn send(&self) {
        let _ = self.0.try_send(());
    }
}

impl PartialEq for Ack {
    fn eq(&self, other: &Self) -> bool {
        self.0.same_channel(&other.0)
    }
}

impl Eq for Ack {}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ack")
    }
}

/// `clear counters [all]`: HAProxy's empty reply once every shard has cleared (or after the
/// snapshot deadline, for a shard that is stopping).
pub fn clear_counters(shared: &ProcessShared, all: bool) -> String {
    let shards = shared.commands.len();
    let (tx, rx) = bounded(shards);
    shared.broadcast(ShardCommand::ClearCounters { all, done: Ack(tx) });
    let until = Instant::now() + snapshot_deadline(shared);
    for _ in 0..shards {
        let left = until.saturating_duration_since(Instant::now());
        if rx.recv_timeout(left).is_err() {
            break;
        }
    }
    String::new()
}

/// How long to wait for the shards' answers. A stopping process no longer runs its control
/// ticks, so it is asked only briefly.
pub fn snapshot_deadline(shared: &ProcessShared) -> Duration {
    if shared.is_stopping() {
        SNAPSHOT_DEADLINE / 20
    } else {
        SNAPSHOT_DEADLINE
    }
}

/// `shutdown session <id>`: closes it on the shard that owns it, or HAProxy's reply when no
/// session has that id.
pub fn shutdown_session(shared: &ProcessShared, id: u64) -> String {
    let (rows, _silent) = sessions::collect(shared, snapshot_deadline(shared));
    if !rows.iter().any(|row| row.id == id) {
        return NO_SUCH_SESSION.to_string();
    }
    shared.broadcast(ShardCommand::ShutdownSession(id));
    String::new()
}

/// `show errors [<px>] [request|response]`.
pub fn show_errors(shared: &ProcessShared, args: &[&str]) -> String {
    render_show_errors(&shared.layout, &shared.errors, args)
}
