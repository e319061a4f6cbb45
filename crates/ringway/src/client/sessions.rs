//! `show sess` across shards. Owns the round trip: the control thread queues
//! [`ShardCommand::ShowSessions`] to every shard with a reply channel, each shard's control tick
//! answers with a snapshot of its session registry (shard-local state the control thread
//! cannot read itself), and the control thread waits for every shard up to a deadline.

use std::time::{Duration, Instant};

use crossbeam::channel::{bounded, Receiver, Sender};
use ringway_stats::SessionRow;

use crate::client::session::SessionPhase;
use crate::process::shard::ShardCtx;
use crate::process::{ProcessShared, ShardCommand};

/// How long `show sess` waits for the shards (each answers at once: the command rings its doorbell).
pub const SNAPSHOT_DEADLINE: Duration = Duration::from_secs(2);

/// Where a shard sends its rows.
#[derive(Clone)]
pub struct SessionsReply(Sender<Vec<SessionRow>>);

impl SessionsReply {
    /// Sends the rows; a control thread that stopped waiting is not an error.
    pub fn send(&self, rows: Vec<SessionRow>) {
        let _ = self.0.try_send(rows);
    }
}

impl PartialEq for SessionsReply {
    fn eq(&self, other: &Self) -> bool {
        self.0.same_channel(&other.0)
    }
}

impl Eq for SessionsReply {}

impl std::fmt::Debug for SessionsReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionsReply")
    }
}

fn phase_name(phase: SessionPhase) -> &'static str {
    match phase {
        SessionPhase::Reading => "reading",
        SessionPhase::Idle => "idle",
        SessionPhase::Busy => "busy",
        SessionPhase::Tunnel => "tunnel",
    }
}

/// This shard's sessions now.
pub fn snapshot(ctx: &ShardCtx) -> Vec<SessionRow> {
    let now = Instant::now();
    ctx.sessions
        .borrow()
        .values()
        .map(|info| SessionRow {
            id: info.id,
            shard: ctx.id,
            frontend: info.frontend,
            peer: info.peer,
            server: info.server.get(),
            state: phase_name(info.phase.get()),
            age: now.saturating_duration_since(info.request_began.get()),
            conn_age: now.saturating_duration_since(info.accepted),
            requests: info.requests.get(),
            h2_conn: info.h2_conn(),
        })
        .collect()
}

/// Asks every shard for its sessions and gathers the answers that arrive before `deadline`
/// passes. The second value is the number of shards that did not answer in time.
pub fn collect(shared: &ProcessShared, deadline: Duration) -> (Vec<SessionRow>, usize) {
    let shards = shared.commands.len();
    let (tx, rx): (Sender<Vec<SessionRow>>, Receiver<Vec<SessionRow>>) = bounded(shards);
    shared.broadcast(ShardCommand::ShowSessions(SessionsReply(tx)));
    let until = Instant::now() + deadline;
    let mut rows = Vec::new();
    let mut answered = 0;
    while answered < shards {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(mut batch) => {
                rows.append(&mut batch);
                answered += 1;
            }
            Err(_) => break,
        }
    }
    (rows, shards - answered)
}
