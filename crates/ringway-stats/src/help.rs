//! `help`, and the reply to an unknown command: ringway's command list in HAProxy 2.6's layout
//! (two spaces, the usage padded to 40 columns, `: `, the description; entries sorted by usage,
//! with `help` and `quit` last as HAProxy always appends them).

/// Usage and description of every command but `help` and `quit`.
const COMMANDS: &[(&str, &str)] = &[
    (
        "show info [json|typed]",
        "report information about the running process",
    ),
    (
        "show stat [json|no-maint|typed|up]*",
        "report counters for each proxy and server",
    ),
    (
        "show servers conn [<backend>]",
        "dump server connections status (all or for a single backend)",
    ),
    (
        "show servers conn verbose [<backend>]",
        "also how connections were used and why they closed",
    ),
    ("show activity", "show per-shard activity stats"),
    (
        "show pool advice [<bk>[/<srv>]]",
        "suggest pool settings from the last minute",
    ),
    (
        "show sess [all|<id>]",
        "list the requests in progress (all: idle connections too) or this session",
    ),
    ("shutdown session <id>", "kill a specific session"),
    (
        "shutdown sessions server <bk>/<srv>",
        "kill sessions on a server",
    ),
    (
        "set server <bk>/<srv> state ready|drain|maint",
        "change a server's state",
    ),
    (
        "clear counters [all]",
        "clear max statistics counters (or all counters)",
    ),
    (
        "set timeout cli <delay>",
        "change this connection's idle timeout",
    ),
    (
        "show backend",
        "list backends in the current running config",
    ),
    (
        "show errors [<px>] [request|response]",
        "report last request and/or response errors for each proxy",
    ),
    (
        "show servers state [<backend>]",
        "dump volatile server information (all or for a single backend)",
    ),
    ("show version", "show version of the current process"),
    (
        "set server <bk>/<srv> pool_max_conn|pool_low_conn|max_reuse <n>",
        "change a server's pool setting until the next reload",
    ),
    (
        "set server <bk>/<srv> pool_purge_delay <delay>",
        "change a server's purge delay until the next reload",
    ),
    (
        "set server <bk>/<srv> weight <w>[%]",
        "change a server's weight",
    ),
    ("get weight <bk>/<srv>", "report a server's current weight"),
    (
        "set weight <bk>/<srv>  (DEPRECATED)",
        "change a server's weight (use 'set server' instead)",
    ),
    (
        "set maxconn server <bk>/<srv>",
        "change a server's maxconn setting",
    ),
    (
        "set server <bk>/<srv> health up|stopping|down",
        "force a server's health",
    ),
    ("disable agent", "disable agent checks"),
    ("disable health", "disable health checks"),
    ("enable agent", "enable agent checks"),
    ("enable health", "enable health checks"),
];

/// Always listed last, in this order.
const TRAILER: [(&str, &str); 3] = [
    ("help", "list all commands"),
    ("prompt", "toggle interactive mode with prompt"),
    ("quit", "disconnect"),
];

fn command_list() -> String {
    let mut sorted = COMMANDS.to_vec();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    sorted
        .iter()
        .chain(TRAILER.iter())
        .map(|(usage, description)| format!("  {usage:<40}: {description}\n"))
        .collect()
}

/// The reply to `help`.
pub fn help_text() -> String {
    format!(
        "The following commands are valid at this level:\n{}",
        command_list()
    )
}

/// The reply to a command ringway does not know, as HAProxy answers one.
pub fn unknown_command_text() -> String {
    format!(
        "Unknown command. Please enter one of the following commands only:\n{}",
        command_list()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::sample_section;

    #[test]
    fn lists_exactly_ringways_commands() {
        let text = help_text();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("The following commands are valid at this level:")
        );
        let usages: Vec<&str> = lines
            .map(|line| {
                assert!(line.starts_with("  "), "{line}");
                line[2..].split(": ").next().unwrap_or("").trim_end()
            })
            .collect();
        assert_eq!(
            usages,
            [
                "clear counters [all]",
                "disable agent",
                "disable health",
                "enable agent",
                "enable health",
                "get weight <bk>/<srv>",
                "set maxconn server <bk>/<srv>",
                "set server <bk>/<srv> health up|stopping|down",
                "set server <bk>/<srv> pool_max_conn|pool_low_conn|max_reuse <n>",
                "set server <bk>/<srv> pool_purge_delay <delay>",
                "set server <bk>/<srv> state ready|drain|maint",
                "set server <bk>/<srv> weight <w>[%]",
                "set timeout cli <delay>",
                "set weight <bk>/<srv>  (DEPRECATED)",
                "show activity",
                "show backend",
                "show errors [<px>] [request|response]",
                "show info [json|typed]",
                "show pool advice [<bk>[/<srv>]]",
                "show servers conn [<backend>]",
                "show servers conn verbose [<backend>]",
                "show servers state [<backend>]",
                "show sess [all|<id>]",
                "show stat [json|no-maint|typed|up]*",
                "show version",
                "shutdown session <id>",
                "shutdown sessions server <bk>/<srv>",
                "help",
                "prompt",
                "quit",
            ]
        );
    }

    #[test]
    fn haproxy_layout() {
        let ours = help_text();
        let sample = sample_section("help");
        for line in [
            "  show servers conn [<backend>]           : dump server connections status (all or for a single backend)\n",
            "  shutdown sessions server <bk>/<srv>     : kill sessions on a server\n",
            "  quit                                    : disconnect\n",
            "  disable health                          : disable health checks\n",
            "  enable agent                            : enable agent checks\n",
            "  prompt                                  : toggle interactive mode with prompt\n",
            "  show backend                            : list backends in the current running config\n",
            "  clear counters [all]                    : clear max statistics counters (or all counters)\n",
        ] {
            assert!(sample.contains(line), "sample has {line}");
            assert!(ours.contains(line), "ours has {line}");
        }
        assert!(ours.ends_with("  quit                                    : disconnect\n"));
        assert!(unknown_command_text().starts_with(
            "Unknown command. Please enter one of the following commands only:\n  clear counters"
        ));
    }
}
