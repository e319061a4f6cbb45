//! `show activity`: HAProxy 2.6's per-thread activity lines, one thread per shard. A line
//! reads `name: total` with one shard and `name: total [ s1 s2 ... ]` with several. Owns which
//! lines ringway fills (ctxsw, loops, poll_io, poll_exp, accepted, fd_takeover from
//! [`ActivityCounters`]); the others keep HAProxy's names and order and read 0.
//!
//! [`ActivityCounters`]: crate::ActivityCounters

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::counters::{ActivityCounters, ShardCounters};
use crate::layout::Layout;

/// Lines of `show activity` after `date_now`, in HAProxy's order.
const LINES: [&str; 24] = [
    "ctxsw",
    "tasksw",
    "empty_rq",
    "long_rq",
    "loops",
    "wake_tasks",
    "wake_signal",
    "poll_io",
    "poll_exp",
    "poll_drop_fd",
    "poll_skip_fd",
    "conn_dead",
    "stream_calls",
    "pool_fail",
    "buf_wait",
    "cpust_ms_tot",
    "cpust_ms_1s",
    "cpust_ms_15s",
    "avg_loop_us",
    "accepted",
    "accq_pushed",
    "accq_full",
    "accq_ring",
    "fd_takeover",
];

fn value(activity: &ActivityCounters, line: &str) -> u64 {
    match line {
        "ctxsw" => activity.ctxsw.get(),
        "loops" => activity.loops.get(),
        "poll_io" => activity.poll_io.get(),
        "poll_exp" => activity.poll_exp.get(),
        "accepted" => activity.accepted.get(),
        "fd_takeover" => activity.fd_takeover.get(),
        _ => 0,
    }
}

fn push_line(out: &mut String, name: &str, values: &[u64]) {
    let total: u64 = values.iter().sum();
    let _ = write!(out, "{name}: {total}");
    if values.len() > 1 {
        out.push_str(" [");
        for v in values {
            let _ = write!(out, " {v}");
        }
        out.push_str(" ]");
    }
    out.push('\n');
}

/// Renders `show activity` at `now` (seconds and microseconds since the Unix epoch).
pub fn render_activity_at(
    layout: &Layout,
    shards: &[Arc<ShardCounters>],
    now: (u64, u32),
) -> String {
    let count = layout.shards.max(shards.len()).max(1);
    let mut out = format!("thread_id: 1 (1..{count})\n");
    let _ = writeln!(out, "date_now: {}.{:06}", now.0, now.1);
    for name in LINES {
        let values: Vec<u64> = (0..count)
            .map(|i| shards.get(i).map_or(0, |s| value(&s.activity, name)))
            .collect();
        push_line(&mut out, name, &values);
    }
    out
}

/// `show activity` now.
pub fn render_show_activity(layout: &Layout, shards: &[Arc<ShardCounters>]) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    render_activity_at(layout, shards, (now.as_secs(), now.subsec_micros()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{all_shards, limits, sample_counters, sample_layout, sample_section};

    fn names(text: &str) -> Vec<&str> {
        text.lines()
            .filter_map(|line| line.split_once(':').map(|(name, _)| name))
            .collect()
    }

    #[test]
    fn two_shards_show_each_value() {
        let layout = sample_layout(2, limits(-1, 5_000));
        let shards = all_shards(&layout);
        shards[0].activity.fd_takeover.add(3);
        shards[1].activity.fd_takeover.add(4);
        shards[0].activity.accepted.add(10);
        shards[1].activity.ctxsw.add(9);
        shards[0].activity.poll_io.add(5);
        shards[1].activity.poll_exp.add(2);
        let text = render_activity_at(&layout, &shards, (1_795_257_368, 986_353));
        assert!(text.starts_with("thread_id: 1 (1..2)\ndate_now: 1795257368.986353\n"));
        assert!(text.contains("\nfd_takeover: 7 [ 3 4 ]\n"), "{text}");
        assert!(text.contains("\naccepted: 10 [ 10 0 ]\n"));
        assert!(text.contains("\nctxsw: 9 [ 0 9 ]\n"));
        assert!(text.contains("\nloops: 0 [ 0 0 ]\n"));
        assert!(text.contains("\npoll_io: 5 [ 5 0 ]\n"), "{text}");
        assert!(text.contains("\npoll_exp: 2 [ 0 2 ]\n"), "{text}");
    }

    #[test]
    fn one_shard_has_the_sample_lines() {
        let layout = sample_layout(1, limits(-1, 5_000));
        let shards = sample_counters(&layout);
        let text = render_activity_at(&layout, &shards, (7, 5));
        assert!(text.contains("date_now: 7.000005\n"));
        assert!(text.contains("\naccepted: 13\n"));
        assert!(text.ends_with("\nfd_takeover: 0\n"));
        assert_eq!(names(&text), names(&sample_section("show activity")));
        assert!(render_show_activity(&layout, &shards).starts_with("thread_id: 1 (1..1)\n"));
    }
}
