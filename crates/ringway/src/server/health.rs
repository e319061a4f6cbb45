//! Active health checks: the task that probes every server with `check = true`, and what a
//! change of health does ([`publish`]), whoever decided it: a check, passive detection
//! (`observe.rs`) or `set server B/S health` (admin/health_cmds.rs).
//!
//! **Shard 0 runs every check** of its generation, one local task per checked server, each on a
//! connection of its own: a check never takes or disturbs a pooled connection. The verdicts go
//! to the server's [`HealthMachine`](ringway_pool::HealthMachine) (HAProxy's rise/fall counter,
//! in ringway-pool), which lives in the layout beside the admin state so that `show stat` reads
//! it; the health sits in the same byte as the admin state, so a request still reads one
//! atomic per candidate server (`balance::pick_server`). When a server goes DOWN every shard
//! closes its idle connections (`ShardCommand::ServerDown`, close reason `server_down`).
//!
//! Checks of a server come `interval` apart, `fastinter` apart while it is between states and
//! `downinter` apart while it is DOWN (HAProxy's `inter`/`fastinter`/`downinter`); passive
//! detection can bring the next one forward ([`CheckWakes`]). While checks are disabled
//! (`disable health`) or the server is in maintenance no check is sent.
//!
//! Each configuration generation has its own layout and its own checks: after a reload the
//! servers start UP again and the old generation's checks end with its shard 0.
//!
//! A check: `tcp` connects within `timeout`; `http` also sends `METHOD PATH HTTP/1.1` with
//! `Host` and `Connection: close` and reads the status line, all within `timeout`, over TLS
//! with the server's `tls` settings when it has them (a handshake failure is `L6RSP`, too slow
//! `L6TOUT`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::timer::sleep;
use ringway_config::{CheckKind, HealthCheck, Sni};
use ringway_net::Socket;
use ringway_pool::{CheckOutcome, CheckStatus, Health, Intervals};
use ringway_stats::ServerState;

use crate::process::shard::ShardCtx;
use crate::process::signal::LocalNotify;
use crate::process::{ProcessShared, ShardCommand};
use crate::tls::{self, Stream};

/// The longest status line read, with what follows it in the same packet.
const MAX_STATUS_LINE: usize = 1024;

/// Why a server's health changed, for the log line.
pub enum Cause<'a> {
    /// A check (or passive detection's verdict) decided it.
    Check(&'a CheckOutcome),
    /// `set server B/S health` on the runtime API.
    Cli,
}

/// Shard 0's handles on its check tasks: passive detection wakes one to check sooner.
#[derive(Default)]
pub struct CheckWakes(RefCell<HashMap<(usize, usize), Rc<CheckWake>>>);

#[derive(Default)]
struct CheckWake {
    /// Check no later than this.
    before: Cell<Option<Instant>>,
    notify: LocalNotify,
}

impl CheckWakes {
    fn register(&self, backend: usize, server: usize) -> Rc<CheckWake> {
        let wake = Rc::new(CheckWake::default());
        self.0.borrow_mut().insert((backend, server), wake.clone());
        wake
    }

    /// Brings the server's next check forward to `at` if it comes later.
    pub fn check_by(&self, backend: usize, server: usize, at: Instant) {
        if let Some(wake) = self.0.borrow().get(&(backend, server)) {
            if wake.before.get().is_none_or(|before| at < before) {
                wake.before.set(Some(at));
                wake.notify.notify();
            }
        }
    }
}

/// Starts a check task for every checked server; called on shard 0 only.
pub fn spawn_checks(ctx: &Rc<ShardCtx>) {
    for (backend, config) in ctx.process.config.backends.iter().enumerate() {
        for (server, _) in config
            .servers
            .iter()
            .enumerate()
            .filter(|(_, server)| server.check)
        {
            let wake = ctx.check_wakes.register(backend, server);
            ringway_net::spawn(check_loop(ctx.clone(), backend, server, wake)).detach();
        }
    }
}

/// The check intervals of a backend.
pub fn intervals(check: &HealthCheck) -> Intervals {
    Intervals {
        inter: check.interval,
        fastinter: check.fastinter,
        downinter: check.downinter,
    }
}

async fn check_loop(ctx: Rc<ShardCtx>, backend: usize, server: usize, wake: Rc<CheckWake>) {
    let config = &ctx.process.config.backends[backend];
    let check = &config.health_check;
    let info = &ctx.process.layout.backends[backend].servers[server];
    loop {
        if ctx.stopping() {
            return;
        }
        let started = Instant::now();
        wake.before.set(None);
        // HAProxy sends no check while they are disabled or the server is in maintenance.
        let paused = !info.health().enabled() || info.state.get() == ServerState::Maint;
        if !paused {
            let outcome = futures_lite::future::or(
                async { Some(run_check(&ctx, backend, server, started).await) },
                async {
                    ctx.stop.wait().await;
                    None
                },
            )
            .await;
            let Some(outcome) = outcome else { return };
            record(&ctx.process, backend, server, outcome);
        }
        let interval = info.health().next_interval(&intervals(check));
        loop {
            let mut next = started + interval;
            if let Some(before) = wake.before.get() {
                next = next.min(before);
            }
            let now = Instant::now();
            if next <= now || ctx.stopping() {
                break;
            }
            futures_lite::future::or(
                futures_lite::future::or(sleep(next - now), wake.notify.notified()),
                ctx.stop.wait(),
            )
            .await;
        }
    }
}

/// Feeds a check's verdict to the server's machine and publishes a change of health.
pub fn record(process: &ProcessShared, backend: usize, server: usize, outcome: CheckOutcome) {
    let info = &process.layout.backends[backend].servers[server];
    let changed = info.health().record(outcome.clone(), Instant::now());
    if let Some(health) = changed {
        publish(process, backend, server, health, Cause::Check(&outcome));
    }
}

/// Applies a change of the server's health: the byte the shards read, the idle connections
/// of a server gone DOWN, the backend's own state, and the log line (HAProxy's wording).
pub fn publish(
    process: &ProcessShared,
    backend: usize,
    server: usize,
    health: Health,
    cause: Cause<'_>,
) {
    let info = &process.layout.backends[backend].servers[server];
    let was_down = info.state.is_down();
    info.state.set_health(health);
    if health == Health::Down {
        process.broadcast(ShardCommand::ServerDown { backend, server });
    } else if was_down {
        process.layout.came_back(info);
    }
    let (active, backup) = process.layout.usable_servers(backend);
    let mut message = format!(
        "{} {}/{} is {}",
        if info.backup {
            "Backup Server"
        } else {
            "Server"
        },
        process.config.backends[backend].name,
        info.name,
        match health {
            Health::Up => "UP",
            Health::Stopping => "stopping",
            Health::Down => "DOWN",
        }
    );
    match cause {
        Cause::Cli => message.push_str(", changed from CLI"),
        Cause::Check(outcome) => {
            message.push_str(", reason: ");
            message.push_str(outcome.status.reason());
            if let Some(code) = outcome.code {
                message.push_str(&format!(", code: {code}"));
            }
            if !outcome.info.is_empty() {
                message.push_str(&format!(", info: \"{}\"", outcome.info));
            }
            if let Some(duration) = outcome.duration {
                message.push_str(&format!(", check duration: {}ms", duration.as_millis()));
            }
        }
    }
    let servers = if health == Health::Down {
        "left"
    } else {
        "online"
    };
    message.push_str(&format!(
        ". {active} active and {backup} backup servers {servers}."
    ));
    if health == Health::Down {
        process.log.warning(format_args!("{message}"));
    } else {
        process.log.notice(format_args!("{message}"));
    }
    refresh_backend(process, backend);
}

fn count_taking_traffic(process: &ProcessShared, backend: usize) -> usize {
    process.layout.backends[backend]
        .servers
        .iter()
        .filter(|server| server.state.takes_traffic())
        .count()
}

/// Records whether the backend still has a server taking traffic (its `show stat` history);
/// logs HAProxy's alert when it has none left. Returns the servers taking traffic.
pub fn refresh_backend(process: &ProcessShared, backend: usize) -> usize {
    let info = &process.layout.backends[backend];
    let left = count_taking_traffic(process, backend);
    let went = info.health.update(left > 0, Instant::now());
    if went && left == 0 {
        process.log.err(format_args!(
            "backend {} has no server available!",
            info.name
        ));
    }
    left
}

/// Runs one check of the server, started at `started`.
async fn run_check(
    ctx: &ShardCtx,
    backend: usize,
    server: usize,
    started: Instant,
) -> CheckOutcome {
    let config = &ctx.process.config.backends[backend];
    let check = &config.health_check;
    let (status, code, info) = probe(ctx, backend, server, started + check.timeout).await;
    CheckOutcome {
        status,
        code,
        duration: Some(started.elapsed()),
        info,
    }
}

async fn probe(
    ctx: &ShardCtx,
    backend: usize,
    server: usize,
    deadline: Instant,
) -> (CheckStatus, Option<u16>, String) {
    let config = &ctx.process.config.backends[backend];
    let check = &config.health_check;
    let address = config.servers[server].address;
    let socket = match Socket::connect(address, remaining(deadline)).await {
        Ok(socket) => socket,
        Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {
            return (CheckStatus::L4Tout, None, String::new())
        }
        Err(error) => return (CheckStatus::L4Con, None, io_info(&error)),
    };
    if check.kind == CheckKind::Tcp {
        return (CheckStatus::L4Ok, None, String::new());
    }
    let host = match &check.host {
        Some(host) => host.clone(),
        None => address.to_string(),
    };
    let request = format!(
        "{} {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: ringway-check\r\n\r\n",
        check.method, check.path
    );
    let stream = match &ctx.tls_connectors[backend][server] {
        None => Stream::plain(socket),
        Some(connector) => {
            // A fixed SNI is sent as is; `sni = "host"` sends the check's Host, if it has one.
            let sni = match config.servers[server]
                .tls
                .as_ref()
                .and_then(|t| t.sni.as_ref())
            {
                Some(Sni::Fixed(name)) => Some(name.as_str()),
                Some(Sni::Host) => check.host.as_deref(),
                None => None,
            };
            match tls::connect(socket, connector, sni, remaining(deadline)).await {
                Ok(stream) => stream,
                Err(error) if crate::error::is_timeout(&error) => {
                    return (CheckStatus::L6Tout, None, String::new())
                }
                Err(error) => return (CheckStatus::L6Rsp, None, error.to_string()),
            }
        }
    };
    match read_status(stream, request.as_bytes(), deadline).await {
        Ok(Some((code, reason))) => {
            let (low, high) = check.expect_status;
            if (low..=high).contains(&code) {
                (CheckStatus::L7Ok, Some(code), String::new())
            } else {
                (CheckStatus::L7Sts, Some(code), reason)
            }
        }
        Ok(None) => (CheckStatus::L7Rsp, None, String::new()),
        Err(error) if crate::error::is_timeout(&error) => {
            (CheckStatus::L7Tout, None, String::new())
        }
        Err(_) => (CheckStatus::L7Rsp, None, String::new()),
    }
}

/// The `last_chk` text of a failed connect: the system's message without its errno suffix,
/// e.g. `Connection refused`.
fn io_info(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}

/// Sends the request and reads up to the end of the status line: `Ok(None)` when the answer is
/// not an HTTP status line (or the server closed first).
async fn read_status(
    mut stream: Stream,
    request: &[u8],
    deadline: Instant,
) -> std::io::Result<Option<(u16, String)>> {
    stream.io().set_write_timeout(Some(remaining(deadline)))?;
    stream.write_all(request).await?;
    stream.flush().await?;
    let mut buf = [0u8; MAX_STATUS_LINE];
    let mut filled = 0;
    while filled < buf.len() {
        stream.io().set_read_timeout(Some(remaining(deadline)))?;
        let read = stream.read(&mut buf[filled..]).await?;
        if read == 0 {
            break;
        }
        filled += read;
        if buf[..filled].windows(2).any(|pair| pair == b"\r\n") {
            break;
        }
    }
    Ok(status_line(&buf[..filled]))
}

/// The status and reason phrase of `HTTP/1.x NNN reason`, if `head` starts with a status line.
fn status_line(head: &[u8]) -> Option<(u16, String)> {
    let rest = head
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| head.strip_prefix(b"HTTP/1.0 "))?;
    let digits = rest.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if rest
        .get(3)
        .is_some_and(|&next| next != b' ' && next != b'\r')
    {
        return None;
    }
    let code = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let after = rest.get(4..).unwrap_or_default();
    let end = after
        .iter()
        .position(|&byte| byte == b'\r')
        .unwrap_or(after.len());
    let reason = String::from_utf8_lossy(&after[..end]).into_owned();
    Some((code, reason))
}

/// Time left before `deadline`, at least 1 ms (sockets refuse a zero timeout).
fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

#[cfg(test)]
mod tests {
    use super::status_line;

    #[test]
    fn status_lines() {
        let code = |head: &[u8]| status_line(head).map(|(code, _)| code);
        assert_eq!(code(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(code(b"HTTP/1.0 503\r\n"), Some(503));
        assert_eq!(code(b"HTTP/1.1 2000 OK\r\n"), None);
        assert_eq!(code(b"HTTP/1.1 20"), None);
        assert_eq!(code(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(code(b""), None);
        assert_eq!(
            status_line(b"HTTP/1.1 500 Internal Server Error\r\nServer: x\r\n"),
            Some((500, "Internal Server Error".to_owned()))
        );
    }
}
