//! Statistics: per-shard counters written by the shards, and the renderers the control plane
//! serves from them (HAProxy 2.6 runtime API formats).
//!
//! Every renderer returns the body of its reply. HAProxy's CLI ends every reply, errors and
//! empty ones included, with one empty line (a lone `\n` after the body); the socket handler
//! adds it with [`end_reply`], once per command.

mod activity;
mod counters;
mod help;
mod info;
mod layout;
mod servers_conn;
mod stat_csv;
mod totals;

#[cfg(test)]
mod testutil;

pub use activity::{render_activity_at, render_show_activity};
pub use counters::{
    ActivityCounters, Counter, FrontendCounters, Gauge, ServerCounters, ShardCounters,
    StatusCounters,
};
pub use help::{help_text, unknown_command_text};
pub use info::{
    format_uptime, render_info_from, render_show_info, PRODUCT_NAME, RELEASE_DATE, VERSION,
};
pub use layout::{BackendInfo, FrontendInfo, Layout, ServerInfo, ServerState, SharedState};
pub use servers_conn::{render_servers_conn, NO_SUCH_BACKEND};
pub use stat_csv::{render_show_stat, render_stat_from, stat_header, FIELDS as STAT_FIELDS};
pub use totals::{
    totals, BackendTotals, FrontendTotals, ServerSums, ServerTotals, StatusTotals, Totals,
};

/// A command's full reply on the stats socket: its body and the empty line with which
/// HAProxy's CLI ends every reply in non-interactive mode.
pub fn end_reply(mut body: String) -> String {
    body.push('\n');
    body
}

#[cfg(test)]
mod tests {
    #[test]
    fn end_reply_adds_the_empty_line() {
        assert_eq!(super::end_reply(String::new()), "\n");
        assert_eq!(super::end_reply("a\n".to_string()), "a\n\n");
    }
}
