//! Active health checks: the task that probes every server with `check = true`.
//!
//! **Shard 0 runs every check** of its generation, one local task per checked server, each on a
//! connection of its own: a check never takes or disturbs a pooled connection. The verdicts go
//! to the server's [`HealthMachine`](ringway_pool::HealthMachine) (rise/fall, in
//! ringway-pool), which lives in the layout beside the admin state so that `show stat` reads
//! it; the DOWN bit sits in the same byte as the admin state, so a request still reads one
//! atomic per candidate server (`balance::pick_server`). When a server goes DOWN every shard
//! closes its idle connections (`ShardCommand::ServerDown`, close reason `server_down`).
//!
//! Each configuration generation has its own layout and its own checks: after a reload the
//! servers start UP again and the old generation's checks end with its shard 0.
//!
//! A check: `tcp` connects within `timeout`; `http` also sends
//! `METHOD PATH HTTP/1.1` with `Host` and `Connection: close` and reads the status line, all
//! within `timeout`. TLS servers are checked by a TCP connect only (`kind = "http"` on a TLS
//! server is refused by the configuration check).

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::timer::sleep;
use ringway_config::{CheckKind, HealthCheck};
use ringway_net::Socket;
use ringway_pool::{CheckOutcome, CheckStatus, Health};

use crate::process::shard::ShardCtx;
use crate::process::ShardCommand;

/// The longest status line read, with what follows it in the same packet.
const MAX_STATUS_LINE: usize = 1024;

/// Starts a check task for every checked server; called on shard 0 only.
pub fn spawn_checks(ctx: &Rc<ShardCtx>) {
    for (backend, info) in ctx.process.layout.backends.iter().enumerate() {
        for (server, _) in info
            .servers
            .iter()
            .enumerate()
            .filter(|(_, server)| server.health.is_some())
        {
            glommio::spawn_local(check_loop(ctx.clone(), backend, server)).detach();
        }
    }
}

async fn check_loop(ctx: Rc<ShardCtx>, backend: usize, server: usize) {
    let config = &ctx.process.config.backends[backend];
    let check = &config.health_check;
    let address = config.servers[server].address;
    loop {
        if ctx.stopping() {
            return;
        }
        let started = Instant::now();
        let outcome = futures_lite::future::or(
            async { Some(run_check(check, address, started).await) },
            async {
                ctx.stop.wait().await;
                None
            },
        )
        .await;
        let Some(outcome) = outcome else { return };
        record(&ctx, backend, server, outcome);
        let next = started + check.interval;
        let now = Instant::now();
        if next > now {
            futures_lite::future::or(sleep(next - now), ctx.stop.wait()).await;
        }
    }
}

/// Feeds the verdict to the server's machine and applies a change of health.
fn record(ctx: &ShardCtx, backend: usize, server: usize, outcome: CheckOutcome) {
    let process = &ctx.process;
    let info = &process.layout.backends[backend].servers[server];
    let Some(machine) = &info.health else { return };
    let changed = machine
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .record(outcome, Instant::now());
    let Some(health) = changed else { return };
    let down = health == Health::Down;
    info.state.set_down(down);
    if !down {
        process.layout.came_back(info);
    }
    if down {
        process.broadcast(ShardCommand::ServerDown { backend, server });
    }
    let (active, backup) = process.layout.usable_servers(backend);
    let message = format_args!(
        "Server {}/{} is {}, reason: {}{}, check duration: {}ms. {active} active and {backup} backup servers left.",
        process.config.backends[backend].name,
        info.name,
        if down { "DOWN" } else { "UP" },
        outcome.status.reason(),
        outcome.code.map_or(String::new(), |code| format!(", code: {code}")),
        outcome.duration.as_millis(),
    );
    if down {
        process.log.warning(message);
    } else {
        process.log.notice(message);
    }
}

/// Runs one check against `address`, started at `started`.
async fn run_check(check: &HealthCheck, address: SocketAddr, started: Instant) -> CheckOutcome {
    let (status, code) = probe(check, address, started + check.timeout).await;
    CheckOutcome {
        status,
        code,
        duration: started.elapsed(),
    }
}

async fn probe(
    check: &HealthCheck,
    address: SocketAddr,
    deadline: Instant,
) -> (CheckStatus, Option<u16>) {
    let socket = match Socket::connect(address, remaining(deadline)).await {
        Ok(socket) => socket,
        Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {
            return (CheckStatus::L4Tout, None)
        }
        Err(_) => return (CheckStatus::L4Con, None),
    };
    if check.kind == CheckKind::Tcp {
        return (CheckStatus::L4Ok, None);
    }
    let host = match &check.host {
        Some(host) => host.clone(),
        None => address.to_string(),
    };
    let request = format!(
        "{} {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: ringway-check\r\n\r\n",
        check.method, check.path
    );
    match read_status(socket, request.as_bytes(), deadline).await {
        Ok(Some(code)) => {
            let (low, high) = check.expect_status;
            if (low..=high).contains(&code) {
                (CheckStatus::L7Ok, Some(code))
            } else {
                (CheckStatus::L7Sts, Some(code))
            }
        }
        Ok(None) => (CheckStatus::L7Rsp, None),
        Err(error) if error.kind() == std::io::ErrorKind::TimedOut => (CheckStatus::L7Tout, None),
        Err(_) => (CheckStatus::L7Rsp, None),
    }
}

/// Sends the request and reads up to the end of the status line: `Ok(None)` when the answer is
/// not an HTTP status line (or the server closed first).
async fn read_status(
    mut socket: Socket,
    request: &[u8],
    deadline: Instant,
) -> std::io::Result<Option<u16>> {
    socket.set_write_timeout(Some(remaining(deadline)))?;
    socket.write_all(request).await?;
    let mut buf = [0u8; MAX_STATUS_LINE];
    let mut filled = 0;
    while filled < buf.len() {
        socket.set_read_timeout(Some(remaining(deadline)))?;
        let read = socket.read(&mut buf[filled..]).await?;
        if read == 0 {
            break;
        }
        filled += read;
        if buf[..filled].windows(2).any(|pair| pair == b"\r\n") {
            break;
        }
    }
    Ok(status_code(&buf[..filled]))
}

/// The status of `HTTP/1.x NNN ...`, if `head` starts with a status line.
fn status_code(head: &[u8]) -> Option<u16> {
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
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Time left before `deadline`, at least 1 ms (sockets refuse a zero timeout).
fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

#[cfg(test)]
mod tests {
    use super::status_code;

    #[test]
    fn status_lines() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(status_code(b"HTTP/1.0 503\r\n"), Some(503));
        assert_eq!(status_code(b"HTTP/1.1 2000 OK\r\n"), None);
        assert_eq!(status_code(b"HTTP/1.1 20"), None);
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(b""), None);
    }
}
