//! Weighted server selection of one backend on one shard, without I/O: smooth weighted round
//! robin (nginx's: every pick adds each candidate's weight to its current value, takes the
//! highest and takes the total off it, so weights 1:3 give `b a b b` and not `a b b b`), and
//! least connections weighted by the same weights.
//!
//! The state ([`Balancer`]) lives in the shard's own memory: a pick reads no other shard's
//! memory and allocates nothing (the two vectors are sized once, to the backend's servers).

use crate::weights::serving_tier;

/// A backend's selection state on one shard.
#[derive(Debug, Clone)]
pub struct Balancer {
    /// Smooth round robin's current value of each server.
    current: Vec<i64>,
    /// The effective weight of each server for the pick under way (0 = not a candidate).
    weights: Vec<u32>,
}

/// What the balancer needs to know of the backend for one pick.
pub struct Pick<'a> {
    /// The effective weight of a server now (0 when it takes no traffic or is excluded).
    pub weight: &'a dyn Fn(usize) -> u32,
    pub backup: &'a dyn Fn(usize) -> bool,
    pub allbackups: bool,
    /// Where ties start (the servers after it first), so shards do not all start on one.
    pub start: usize,
}

impl Balancer {
    pub fn new(servers: usize) -> Balancer {
        Balancer {
            current: vec![0; servers],
            weights: vec![0; servers],
        }
    }

    /// Fills `weights` with the candidates of this pick: the serving tier only.
    fn candidates(&mut self, pick: &Pick<'_>) -> bool {
        for (index, weight) in self.weights.iter_mut().enumerate() {
            *weight = (pick.weight)(index);
        }
        serving_tier(&mut self.weights, pick.backup, pick.allbackups);
        self.weights.iter().any(|&weight| weight > 0)
    }

    /// Smooth weighted round robin over the serving tier.
    pub fn round_robin(&mut self, pick: &Pick<'_>) -> Option<usize> {
        if !self.candidates(pick) {
            return None;
        }
        self.smooth_among(pick.start)
    }

    /// The server with the fewest requests in flight for its weight (`load(index)`, compared
    /// as `load_a * weight_b < load_b * weight_a`, no division); ties go by smooth round robin,
    /// so idle servers share requests by weight too.
    pub fn least_conn(&mut self, pick: &Pick<'_>, load: impl Fn(usize) -> u64) -> Option<usize> {
        if !self.candidates(pick) {
            return None;
        }
        // The least loaded ratio, as a (load, weight) pair.
        let mut least: Option<(u64, u32)> = None;
        for (index, &weight) in self.weights.iter().enumerate() {
            if weight == 0 {
                continue;
            }
            let ratio = (load(index), weight);
            if least.is_none_or(|best| lower(ratio, best)) {
                least = Some(ratio);
            }
        }
        let least = least?;
        // Only the least loaded stay candidates: the others neither win nor gain.
        for (index, weight) in self.weights.iter_mut().enumerate() {
            if *weight > 0 && lower(least, (load(index), *weight)) {
                *weight = 0;
            }
        }
        self.smooth_among(pick.start)
    }

    /// One smooth round robin step among the candidates (weight above 0).
    fn smooth_among(&mut self, start: usize) -> Option<usize> {
        let count = self.weights.len();
        let mut total: i64 = 0;
        let mut best: Option<usize> = None;
        for step in 0..count {
            let index = (start + step) % count;
            let weight = self.weights[index];
            if weight == 0 {
                continue;
            }
            self.current[index] += i64::from(weight);
            total += i64::from(weight);
            if best.is_none_or(|best| self.current[index] > self.current[best]) {
                best = Some(index);
            }
        }
        let best = best?;
        self.current[best] -= total;
        Some(best)
    }
}

/// `a.0 / a.1 < b.0 / b.1`, by cross-multiplication (weights are at most 256).
fn lower(a: (u64, u32), b: (u64, u32)) -> bool {
    u128::from(a.0) * u128::from(b.1) < u128::from(b.0) * u128::from(a.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picks(
        balancer: &mut Balancer,
        weights: &[u32],
        backups: &[bool],
        allbackups: bool,
        rounds: usize,
    ) -> Vec<usize> {
        let weight = |index: usize| weights[index];
        let backup = |index: usize| backups[index];
        let pick = Pick {
            weight: &weight,
            backup: &backup,
            allbackups,
            start: 0,
        };
        let mut counts = vec![0; weights.len()];
        for _ in 0..rounds {
            if let Some(index) = balancer.round_robin(&pick) {
                counts[index] += 1;
            }
        }
        counts
    }

    #[test]
    fn round_robin_is_smooth_and_weighted() {
        let mut balancer = Balancer::new(2);
        let weight = |index: usize| [1, 3][index];
        let pick = Pick {
            weight: &weight,
            backup: &|_| false,
            allbackups: false,
            start: 0,
        };
        let order: Vec<usize> = (0..8)
            .map(|_| balancer.round_robin(&pick).unwrap())
            .collect();
        // Interleaved, not bunched: 1:3 in every window of four.
        assert_eq!(order, [1, 0, 1, 1, 1, 0, 1, 1]);
        let counts = picks(&mut Balancer::new(3), &[2, 5, 1], &[false; 3], false, 800);
        assert_eq!(counts, [200, 500, 100]);
    }

    #[test]
    fn equal_weights_rotate_from_the_start() {
        let mut balancer = Balancer::new(3);
        let weight = |_| 1;
        let pick = Pick {
            weight: &weight,
            backup: &|_| false,
            allbackups: false,
            start: 1,
        };
        let order: Vec<usize> = (0..6)
            .map(|_| balancer.round_robin(&pick).unwrap())
            .collect();
        assert_eq!(order, [1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn weight_zero_and_backups_take_nothing_while_an_active_serves() {
        let backups = [false, false, true];
        let counts = picks(&mut Balancer::new(3), &[0, 2, 5], &backups, false, 10);
        assert_eq!(counts, [0, 10, 0]);
        // No active usable: the first backup alone, or every backup with allbackups.
        let backups = [false, true, true];
        let counts = picks(&mut Balancer::new(3), &[0, 1, 3], &backups, false, 8);
        assert_eq!(counts, [0, 8, 0]);
        let counts = picks(&mut Balancer::new(3), &[0, 1, 3], &backups, true, 8);
        assert_eq!(counts, [0, 2, 6]);
        assert_eq!(
            picks(&mut Balancer::new(2), &[0, 0], &[false; 2], false, 3),
            [0, 0]
        );
    }

    #[test]
    fn least_conn_compares_load_per_weight() {
        let mut balancer = Balancer::new(2);
        let weight = |index: usize| [1, 3][index];
        let pick = Pick {
            weight: &weight,
            backup: &|_| false,
            allbackups: false,
            start: 0,
        };
        // 1 in flight on weight 1 (ratio 1) against 2 on weight 3 (ratio 2/3).
        assert_eq!(balancer.least_conn(&pick, |index| [1, 2][index]), Some(1));
        // 1/1 against 4/3: the first.
        assert_eq!(balancer.least_conn(&pick, |index| [1, 4][index]), Some(0));
        // Idle servers tie: shared by weight.
        let mut counts = [0; 2];
        for _ in 0..400 {
            counts[balancer.least_conn(&pick, |_| 0).unwrap()] += 1;
        }
        assert_eq!(counts, [100, 300]);
    }

    #[test]
    fn least_conn_in_flight_follows_weights() {
        // Requests arrive and never leave: the in-flight counts grow as the weights.
        let mut balancer = Balancer::new(3);
        let weight = |index: usize| [1, 2, 5][index];
        let pick = Pick {
            weight: &weight,
            backup: &|_| false,
            allbackups: false,
            start: 0,
        };
        let mut load = [0u64; 3];
        for _ in 0..80 {
            let chosen = balancer.least_conn(&pick, |index| load[index]).unwrap();
            load[chosen] += 1;
        }
        assert_eq!(load, [10, 20, 50]);
    }
}
