//! `show servers state [<backend>]` (HAProxy 2.6's format version 1, the one
//! `server-state-file` reads), `show backend` and `show version`. Owns the mapping from a
//! server's administrative state and health to HAProxy's numeric states.

use std::fmt::Write as _;
use std::time::Instant;

use crate::info::VERSION;
use crate::layout::{BackendInfo, Layout, ServerInfo, ServerState};
use crate::servers_conn::NO_SUCH_BACKEND;

/// The version line and column names of format 1.
const STATE_HEADER: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n";

/// HAProxy's `SRV_ST_STOPPED` and `SRV_ST_RUNNING`.
const OP_STOPPED: u8 = 0;
const OP_RUNNING: u8 = 2;
/// HAProxy's `SRV_ADMF_FMAINT` (maintenance forced from the CLI) and `SRV_ADMF_FDRAIN`.
const ADMIN_FMAINT: u8 = 0x01;
const ADMIN_FDRAIN: u8 = 0x08;
/// HAProxy's `HCHK_STATUS_INI`: the check status of a server without checks.
const CHECK_STATUS_INI: u8 = 1;
/// HAProxy's `CHK_ST_CONFIGURED | CHK_ST_ENABLED`, and `CHK_ST_PAUSED` (maintenance).
const CHECK_STATE_ON: u8 = 0x06;
const CHECK_STATE_PAUSED: u8 = 0x08;

/// HAProxy's `HCHK_STATUS_*` number for a check status name.
fn check_status_code(status: &str) -> u8 {
    match status {
        "HANA" => 4,
        "L4OK" => 6,
        "L4TOUT" => 7,
        "L4CON" => 8,
        "L6TOUT" => 10,
        "L6RSP" => 11,
        "L7TOUT" => 12,
        "L7RSP" => 13,
        "L7OK" => 15,
        "L7STS" => 17,
        _ => CHECK_STATUS_INI,
    }
}

fn push_server(
    out: &mut String,
    backend: &BackendInfo,
    server: &ServerInfo,
    now: Instant,
    uptime: u64,
) {
    let admin = server.state.get();
    let health = server.health_snapshot();
    let down = health.health() == ringway_pool::Health::Down;
    let op_state = if admin == ServerState::Maint || down {
        OP_STOPPED
    } else {
        OP_RUNNING
    };
    let admin_state = match admin {
        ServerState::Ready => 0,
        ServerState::Drain => ADMIN_FDRAIN,
        ServerState::Maint => ADMIN_FMAINT,
    };
    // Unchecked servers read as HAProxy prints them: status INI, result unknown, health 2.
    let (since_change, check_status, check_result, check_health, check_state) =
        if !health.configured() {
            (uptime, CHECK_STATUS_INI, 0, 2, 0)
        } else {
            let passed = health.last.as_ref().map(|last| last.status.is_success());
            let paused = if admin == ServerState::Maint {
                CHECK_STATE_PAUSED
            } else {
                0
            };
            (
                now.saturating_duration_since(health.last_change).as_secs(),
                health.last.as_ref().map_or(CHECK_STATUS_INI, |last| {
                    check_status_code(last.status.as_str())
                }),
                match passed {
                    None => 0,
                    Some(true) => 3,
                    Some(false) => 2,
                },
                health.counter(),
                CHECK_STATE_ON | paused,
            )
        };
    let _ = writeln!(
        out,
        "{} {} {} {} {} {op_state} {admin_state} {} {} {since_change} {check_status} {check_result} {check_health} {check_state} 0 0 0 - {} - 0 0 - - 0",
        backend.iid,
        backend.name,
        server.sid,
        server.name,
        server.address.ip(),
        server.weight.user(),
        server.weight.initial(),
        server.address.port(),
    );
}

/// `show servers state [<backend>]`, or HAProxy's error for an unknown backend.
pub fn render_servers_state(layout: &Layout, only: Option<&str>) -> Result<String, String> {
    let backends: Vec<&BackendInfo> = match only {
        None => layout.backends.iter().collect(),
        Some(name) => vec![layout
            .backends
            .iter()
            .find(|backend| backend.name == name)
            .ok_or_else(|| NO_SUCH_BACKEND.to_string())?],
    };
    let now = Instant::now();
    let uptime = now.saturating_duration_since(layout.started).as_secs();
    let mut out = STATE_HEADER.to_string();
    for backend in backends {
        for server in &backend.servers {
            push_server(&mut out, backend, server, now, uptime);
        }
    }
    Ok(out)
}

/// `show backend`: `# name`, then one backend name a line.
pub fn render_show_backend(layout: &Layout) -> String {
    let mut out = String::from("# name\n");
    for backend in &layout.backends {
        out.push_str(&backend.name);
        out.push('\n');
    }
    out
}

/// `show version`: the version alone on its line, as HAProxy prints its own.
pub fn render_show_version() -> String {
    format!("{VERSION}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{section_of, two_server_layout, FORMATS};

    /// fe (iid 2), be (iid 3) with s1 and s2.
    fn layout() -> Layout {
        two_server_layout()
    }

    #[test]
    fn servers_state_is_haproxy_26s_format_1() {
        let layout = layout();
        let ours = render_servers_state(&layout, Some("be")).expect("be exists");
        let theirs = section_of(FORMATS, "show servers state be");
        let (ours, theirs): (Vec<&str>, Vec<&str>) =
            (ours.lines().collect(), theirs.lines().collect());
        assert_eq!(ours[..2], theirs[..2], "version and header");
        assert_eq!(ours.len(), theirs.len());
        for (ours, theirs) in ours[2..].iter().zip(&theirs[2..]) {
            let (ours, theirs): (Vec<&str>, Vec<&str>) =
                (ours.split(' ').collect(), theirs.split(' ').collect());
            assert_eq!(ours.len(), theirs.len(), "{ours:?}");
            // Every column but the ids, address, port and time since the last change.
            for column in [
                1, 3, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 19, 20, 21, 22, 23, 24,
            ] {
                assert_eq!(ours[column], theirs[column], "column {column}");
            }
        }
    }

    #[test]
    fn states_and_unknown_backend() {
        let layout = layout();
        let servers = &layout.backends[0].servers;
        servers[0].state.set(ServerState::Maint);
        servers[1].state.set(ServerState::Drain);
        let text = render_servers_state(&layout, None).expect("all");
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(2)
            .map(|l| l.split(' ').collect())
            .collect();
        assert_eq!(
            (rows[0][5], rows[0][6]),
            ("0", "1"),
            "maint: stopped, FMAINT"
        );
        assert_eq!(
            (rows[1][5], rows[1][6]),
            ("2", "8"),
            "drain: running, FDRAIN"
        );
        assert_eq!(rows[1][18], "9002");
        assert_eq!(
            render_servers_state(&layout, Some("nope")),
            Err(section_of(FORMATS, "show servers state nope"))
        );
    }

    #[test]
    fn backend_list_and_version() {
        let layout = layout();
        assert_eq!(render_show_backend(&layout), "# name\nbe\n");
        let theirs = section_of(FORMATS, "show backend");
        assert!(theirs.starts_with("# name\nbe\n"), "{theirs}");
        assert_eq!(render_show_version(), format!("{VERSION}\n"));
    }
}
