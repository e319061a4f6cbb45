//! Server weights without I/O: the weight a server has now (configured, changed at runtime,
//! ramped by `slowstart`), and which servers of a backend take new requests (the usable active
//! ones, else the backups, HAProxy's way).
//!
//! [`ServerWeight`] is shared by every shard and the control thread: one `AtomicU64` holding the
//! runtime weight and the moment the server came back (health check DOWN → UP, or out of
//! maintenance). A shard reads it with one relaxed load per candidate server; the slowstart
//! ramp is computed from that moment and the time passed in, so no timer task moves it and the
//! tests drive it with a virtual clock.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The largest weight, as HAProxy's.
pub const MAX_WEIGHT: u32 = 256;

/// The runtime weight in the low 16 bits; above them, the moment the server came back, in
/// milliseconds since the clock's origin, plus one (0 = no ramp under way).
const WEIGHT_BITS: u32 = 16;
const WEIGHT_MASK: u64 = (1 << WEIGHT_BITS) - 1;

/// One server's weight, shared by all shards.
#[derive(Debug)]
pub struct ServerWeight {
    /// The configured weight (HAProxy's `iweight`).
    initial: u32,
    /// How long the ramp after coming back lasts; zero = none.
    slowstart: Duration,
    packed: AtomicU64,
}

impl ServerWeight {
    pub fn new(initial: u32, slowstart: Duration) -> ServerWeight {
        let initial = initial.min(MAX_WEIGHT);
        ServerWeight {
            initial,
            slowstart,
            packed: AtomicU64::new(u64::from(initial)),
        }
    }

    /// The configured weight.
    pub fn initial(&self) -> u32 {
        self.initial
    }

    /// The weight set at runtime, or the configured one (HAProxy's `uweight`).
    pub fn user(&self) -> u32 {
        (self.packed.load(Relaxed) & WEIGHT_MASK) as u32
    }

    /// Sets the runtime weight (clamped to [`MAX_WEIGHT`]); a ramp under way goes on.
    pub fn set(&self, weight: u32) {
        let weight = u64::from(weight.min(MAX_WEIGHT));
        let _ = self.packed.fetch_update(Relaxed, Relaxed, |packed| {
            Some((packed & !WEIGHT_MASK) | weight)
        });
    }

    /// The server came back at `now` (time since the clock's origin): a slowstart ramp starts.
    pub fn came_back(&self, now: Duration) {
        let stamp = (now.as_millis() as u64).saturating_add(1) << WEIGHT_BITS;
        let _ = self.packed.fetch_update(Relaxed, Relaxed, |packed| {
            Some((packed & WEIGHT_MASK) | stamp)
        });
    }

    /// The weight the balancer uses now: the runtime weight, scaled down while a `slowstart`
    /// ramp is under way. `now` is asked only during a ramp. One load.
    pub fn effective(&self, now: impl FnOnce() -> Duration) -> u32 {
        let slowstart = self.slowstart;
        let packed = self.packed.load(Relaxed);
        let weight = (packed & WEIGHT_MASK) as u32;
        let stamp = packed >> WEIGHT_BITS;
        if stamp == 0 || slowstart.is_zero() || weight == 0 {
            return weight;
        }
        let back = Duration::from_millis(stamp - 1);
        let elapsed = now().saturating_sub(back);
        if elapsed >= slowstart {
            // The ramp is over: forget it, so later reads need no clock (once per ramp).
            let _ = self
                .packed
                .compare_exchange(packed, packed & WEIGHT_MASK, Relaxed, Relaxed);
            return weight;
        }
        ramped(weight, slowstart, elapsed)
    }
}

/// The weight `elapsed` into a `slowstart` ramp: linear from 5 % of `weight` (at least 1) to
/// all of it, as HAProxy's warm-up, which starts at a twentieth and steps every twentieth.
pub fn ramped(weight: u32, slowstart: Duration, elapsed: Duration) -> u32 {
    if elapsed >= slowstart || weight == 0 {
        return weight;
    }
    let total = slowstart.as_millis().max(1);
    let elapsed = elapsed.as_millis().max(total / 20);
    let scaled = (u128::from(weight) * elapsed).div_ceil(total);
    (scaled as u32).clamp(1, weight)
}

/// Keeps in `weights` (the effective weight of each server, 0 = takes nothing) only the
/// servers that take new requests, HAProxy's way: the usable active servers; when there is
/// none, the backups: every usable one with `allbackups`, else the first usable one in
/// configuration order. The others are set to 0. Returns whether backups serve.
pub fn serving_tier(weights: &mut [u32], backup: impl Fn(usize) -> bool, allbackups: bool) -> bool {
    let actives = (0..weights.len()).any(|index| !backup(index) && weights[index] > 0);
    let mut first_backup_kept = false;
    for (index, weight) in weights.iter_mut().enumerate() {
        let keep = if actives {
            !backup(index)
        } else if backup(index) && *weight > 0 && (allbackups || !first_backup_kept) {
            first_backup_kept = true;
            true
        } else {
            false
        };
        if !keep {
            *weight = 0;
        }
    }
    !actives && first_backup_kept
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn runtime_weight_keeps_the_initial_one() {
        let weight = ServerWeight::new(3, Duration::ZERO);
        assert_eq!((weight.user(), weight.initial()), (3, 3));
        weight.set(10);
        assert_eq!((weight.user(), weight.initial()), (10, 3));
        weight.set(1000);
        assert_eq!(weight.user(), MAX_WEIGHT);
        assert_eq!(ServerWeight::new(999, Duration::ZERO).initial(), MAX_WEIGHT);
    }

    #[test]
    fn without_a_ramp_the_clock_is_not_read() {
        let weight = ServerWeight::new(4, 30 * SECOND);
        assert_eq!(weight.effective(|| panic!("clock read")), 4);
        // No slowstart configured: full weight at once.
        let weight = ServerWeight::new(4, Duration::ZERO);
        weight.came_back(SECOND);
        assert_eq!(weight.effective(|| panic!("clock read")), 4);
    }

    #[test]
    fn slowstart_ramps_linearly_on_a_virtual_clock() {
        let weight = ServerWeight::new(100, 20 * SECOND);
        let back = 50 * SECOND;
        weight.came_back(back);
        let at = |after: Duration| weight.effective(|| back + after);
        // A twentieth at first, then linear, then full.
        assert_eq!(at(Duration::ZERO), 5);
        assert_eq!(at(SECOND / 2), 5);
        assert_eq!(at(5 * SECOND), 25);
        assert_eq!(at(10 * SECOND), 50);
        assert_eq!(at(19 * SECOND), 95);
        let mut last = 0;
        for tenth in 0..200 {
            let now = at(SECOND * tenth / 10);
            assert!(now >= last, "the ramp never goes down");
            last = now;
        }
        assert_eq!(at(20 * SECOND), 100);
        // Over: the ramp is forgotten, later reads need no clock.
        assert_eq!(weight.effective(|| panic!("clock read")), 100);
    }

    #[test]
    fn a_small_weight_ramps_from_one() {
        assert_eq!(ramped(1, 30 * SECOND, Duration::ZERO), 1);
        assert_eq!(ramped(3, 30 * SECOND, Duration::ZERO), 1);
        assert_eq!(ramped(3, 30 * SECOND, 15 * SECOND), 2);
        assert_eq!(ramped(0, 30 * SECOND, Duration::ZERO), 0);
    }

    #[test]
    fn a_weight_change_during_a_ramp_scales_with_it() {
        let weight = ServerWeight::new(10, 10 * SECOND);
        weight.came_back(Duration::ZERO);
        weight.set(200);
        assert_eq!(weight.effective(|| 5 * SECOND), 100);
        // Coming back again restarts the ramp.
        weight.came_back(100 * SECOND);
        assert_eq!(weight.effective(|| 100 * SECOND), 10);
    }

    #[test]
    fn actives_serve_while_one_is_usable() {
        let backup = |index: usize| index >= 2;
        let mut weights = [0, 3, 5, 7];
        assert!(!serving_tier(&mut weights, backup, false));
        assert_eq!(weights, [0, 3, 0, 0]);
    }

    #[test]
    fn the_first_usable_backup_serves_alone_unless_allbackups() {
        let backup = |index: usize| index >= 1;
        let mut weights = [0, 0, 5, 7];
        assert!(serving_tier(&mut weights, backup, false));
        assert_eq!(weights, [0, 0, 5, 0]);
        let mut weights = [0, 0, 5, 7];
        assert!(serving_tier(&mut weights, backup, true));
        assert_eq!(weights, [0, 0, 5, 7]);
        let mut weights = [0, 0, 0, 0];
        assert!(!serving_tier(&mut weights, backup, true));
        assert_eq!(weights, [0, 0, 0, 0]);
    }
}
