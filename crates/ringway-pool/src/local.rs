//! Per-shard idle pool of one server. Owns the idle connections this shard keeps for the server,
//! in return order, split into the idle (unsafe) and safe classes of §1.1, and keeps the
//! server-wide counters in [`ServerShared`] in step with its contents. Other shards reach it only
//! through takeover.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::keep::{keep_decision, KeepRefusal, KeepRequest};
use crate::mode::LookupPlan;
use crate::purge::{purge_quota, PurgeOutcome};
use crate::ServerShared;

/// The two pooled classes of §1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleClass {
    /// Completed exactly one exchange.
    Idle,
    /// Known to survive reuse.
    Safe,
}

struct Entry<C> {
    /// Return order across both classes; lower is older.
    seq: u64,
    hash: u64,
    conn: C,
}

/// The idle connections of one server on one shard.
pub struct LocalPool<C> {
    shared: Arc<ServerShared>,
    shard: usize,
    idle: VecDeque<Entry<C>>,
    safe: VecDeque<Entry<C>>,
    next_seq: u64,
}

impl<C> LocalPool<C> {
    pub fn new(shared: Arc<ServerShared>, shard: usize) -> Self {
        LocalPool {
            shared,
            shard,
            idle: VecDeque::new(),
            safe: VecDeque::new(),
            next_seq: 0,
        }
    }

    pub fn shared(&self) -> &Arc<ServerShared> {
        &self.shared
    }

    pub fn shard(&self) -> usize {
        self.shard
    }

    pub fn len(&self) -> usize {
        self.idle.len() + self.safe.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pooled connections, idle class then safe class.
    pub fn conns(&self) -> impl Iterator<Item = &C> {
        self.idle.iter().chain(&self.safe).map(|entry| &entry.conn)
    }

    pub fn idle_len(&self) -> usize {
        self.idle.len()
    }

    pub fn safe_len(&self) -> usize {
        self.safe.len()
    }

    /// Takes the oldest connection matching `hash` as `plan` says (§1.3 step 3 on this shard,
    /// §2 step 1). The server-wide counters move it from idle to used.
    pub fn take(&mut self, hash: u64, plan: LookupPlan) -> Option<(C, IdleClass)> {
        if self.shared.pool_max_conn() == 0 || self.shared.idle_count() == 0 {
            return None;
        }
        let order: &[IdleClass] = match plan {
            LookupPlan::NewOnly => &[],
            LookupPlan::IdleThenSafe => &[IdleClass::Idle, IdleClass::Safe],
            LookupPlan::SafeOnly => &[IdleClass::Safe],
            LookupPlan::SafeThenIdle => &[IdleClass::Safe, IdleClass::Idle],
        };
        for &class in order {
            if let Some(conn) = self.take_class(hash, class) {
                self.shared
                    .idle_removed(self.shard, class == IdleClass::Safe);
                self.shared.mark_used();
                self.shared.set_next_takeover(self.shard);
                return Some((conn, class));
            }
        }
        None
    }

    fn take_class(&mut self, hash: u64, class: IdleClass) -> Option<C> {
        let queue = self.queue_mut(class);
        let position = queue.iter().position(|entry| entry.hash == hash)?;
        queue.remove(position).map(|entry| entry.conn)
    }

    fn queue_mut(&mut self, class: IdleClass) -> &mut VecDeque<Entry<C>> {
        match class {
            IdleClass::Idle => &mut self.idle,
            IdleClass::Safe => &mut self.safe,
        }
    }

    /// Offers a connection that finished a request (§3.1). On refusal the connection comes back
    /// with the reason and is still counted as used: the caller closes it and calls
    /// [`ServerShared::drop_used`].
    pub fn offer(&mut self, conn: C, hash: u64, req: &KeepRequest) -> Result<(), (C, KeepRefusal)> {
        if let Err(refusal) = keep_decision(req, &self.shared, self.idle.len(), self.safe.len()) {
            return Err((conn, refusal));
        }
        if !self.shared.reserve_idle() {
            return Err((conn, KeepRefusal::PoolFull));
        }
        self.shared.idle_added(self.shard, req.is_safe);
        let seq = self.next_seq;
        self.next_seq += 1;
        let class = if req.is_safe {
            IdleClass::Safe
        } else {
            IdleClass::Idle
        };
        self.queue_mut(class).push_back(Entry { seq, hash, conn });
        Ok(())
    }

    /// Removes the idle connections for which `dead` is true (the server closed them, the
    /// server went into maintenance...). They are returned for the caller to close.
    pub fn remove_where(&mut self, mut dead: impl FnMut(&C) -> bool) -> Vec<C> {
        let mut removed = Vec::new();
        for class in [IdleClass::Idle, IdleClass::Safe] {
            let queue = self.queue_mut(class);
            let mut kept = VecDeque::with_capacity(queue.len());
            for entry in queue.drain(..) {
                if dead(&entry.conn) {
                    removed.push((entry.conn, class));
                } else {
                    kept.push_back(entry);
                }
            }
            *self.queue_mut(class) = kept;
        }
        removed
            .into_iter()
            .map(|(conn, class)| {
                self.shared
                    .idle_closed(self.shard, class == IdleClass::Safe);
                conn
            })
            .collect()
    }

    /// Takes in a connection that sat idle in the pool of an earlier generation of the process
    /// (a reload): as [`offer`](Self::offer), but without the keep-on-release estimate, which
    /// knows nothing of this generation's traffic yet; `pool_max_conn` still holds, and the
    /// purge trims what turns out not to be needed. A refused connection comes back.
    pub fn adopt(&mut self, conn: C, hash: u64, safe: bool) -> Result<(), C> {
        self.shared.use_conn();
        if self.shared.pool_max_conn() == 0 || !self.shared.reserve_idle() {
            self.shared.drop_used();
            return Err(conn);
        }
        self.shared.idle_added(self.shard, safe);
        // The predecessor needed these: count them in the estimate of need, or the next
        // releases would be refused as not needed and the connections opened again.
        let need = self.shared.conn_count();
        self.shared
            .est_need
            .fetch_max(need, std::sync::atomic::Ordering::Relaxed);
        let seq = self.next_seq;
        self.next_seq += 1;
        let class = if safe {
            IdleClass::Safe
        } else {
            IdleClass::Idle
        };
        self.queue_mut(class).push_back(Entry { seq, hash, conn });
        Ok(())
    }

    /// Takes all but the `keep` most recently returned connections out of the pool, oldest
    /// first, each with its hash (a reload hands them over).
    pub fn drain_with_hashes(&mut self, keep: usize) -> Vec<(C, u64)> {
        let mut drained = Vec::new();
        while self.len() > keep {
            let class = match (self.idle.front(), self.safe.front()) {
                (Some(idle), Some(safe)) if safe.seq < idle.seq => IdleClass::Safe,
                (Some(_), _) => IdleClass::Idle,
                (None, _) => IdleClass::Safe,
            };
            let Some(entry) = self.queue_mut(class).pop_front() else {
                break;
            };
            self.shared
                .idle_closed(self.shard, class == IdleClass::Safe);
            drained.push((entry.conn, entry.hash));
        }
        drained
    }

    /// Empties the pool (stop, maintenance).
    pub fn drain_all(&mut self) -> Vec<C> {
        self.remove_where(|_| true)
    }

    /// Removes the oldest idle connection of either class.
    pub fn pop_oldest(&mut self) -> Option<C> {
        let class = match (self.idle.front(), self.safe.front()) {
            (Some(idle), Some(safe)) if safe.seq < idle.seq => IdleClass::Safe,
            (Some(_), _) => IdleClass::Idle,
            (None, Some(_)) => IdleClass::Safe,
            (None, None) => return None,
        };
        let entry = self.queue_mut(class).pop_front()?;
        self.shared
            .idle_closed(self.shard, class == IdleClass::Safe);
        Some(entry.conn)
    }

    /// This shard's purge run for the server (§3.4) at `now` (a monotonic clock: time since
    /// any fixed instant). Returns the connections to close, oldest first, and whether the
    /// purge timer must be re-armed.
    pub fn purge(&mut self, now: Duration) -> (Vec<C>, PurgeOutcome) {
        let outcome = purge_quota(&self.shared, self.shard, now);
        let mut closed = Vec::with_capacity(outcome.quota);
        while closed.len() < outcome.quota {
            match self.pop_oldest() {
                Some(conn) => closed.push(conn),
                None => break,
            }
        }
        let outcome = PurgeOutcome {
            rearm: !self.is_empty(),
            ..outcome
        };
        (closed, outcome)
    }
}
