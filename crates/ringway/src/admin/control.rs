//! The runtime API: unix stream sockets (`global.stats_socket`, one or several), each served by
//! a thread of its own. A client writes a line (commands may be joined with `;`) and gets the
//! replies; the connection closes after them unless the client entered HAProxy's interactive
//! mode with `prompt` (`cli_session` owns both modes). Clients are served each on a thread
//! (`admin::clients`): at most `MAX_CLIENTS` per socket, each line of at most `MAX_LINE` bytes
//! received whole within a deadline, so no client holds up another or a stop. Owns the command
//! dispatch and the access levels: reads go to the shards' counters and the shared pool
//! accounting; actions go to the shards through their command queues; `show sess` asks every
//! shard for a snapshot and waits for the answers (`sessions.rs`).

use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ringway_config::{AccessLevel, StatsSocket};
use ringway_stats::{
    end_reply, help_text, info_format, render_servers_conn, render_servers_conn_verbose,
    render_servers_state, render_show_activity, render_show_backend, render_show_info_as,
    render_show_sess, render_show_stat_args, render_show_version, unknown_command_text,
    ServerState,
};

use crate::admin::cli_session::{self, parse_set_timeout, Effect, Limits};
use crate::admin::clients::Clients;
use crate::admin::{health_cmds, pool_cmds, show, socket_file, weights};
use crate::client::sessions;
use crate::process::{Current, ProcessShared, ShardCommand};

/// How long a client may take to send its whole command line (HAProxy's `timeout client` on
/// the stats socket is 10 s of inactivity; here it is the whole line, so trickling does not
/// extend it).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client may take to read the whole reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest command line, newline included.
const MAX_LINE: usize = 64 * 1024;
/// Clients served at once on one socket (HAProxy's default stats `maxconn` is 10).
const MAX_CLIENTS: usize = 16;
/// The reply to a line longer than `MAX_LINE`; the connection closes after it.
const LINE_TOO_LONG: &str = "Command line too long (limit 65536 bytes).\n\n";
/// What a client over `MAX_CLIENTS` gets before the socket closes.
const BUSY: &[u8] = b"Too many runtime API clients, try again.\n\n";
/// HAProxy's reply to `show sess <id>` for an id no session has.
const SESSION_NOT_FOUND: &str = "Session not found.\n";
/// HAProxy's reply to `shutdown session` without a valid id.
const SESSION_POINTER_EXPECTED: &str = "Session pointer expected (use 'show sess').\n";
/// HAProxy's reply to a command above the socket's level.
const PERMISSION_DENIED: &str = "Permission denied\n";

pub struct ControlServer {
    path: PathBuf,
    /// The socket file this server created: removed at stop only while the path still names
    /// it (a successor process may have taken the path over).
    identity: socket_file::Identity,
    /// A handle on the listening socket, to wake the blocked accept at stop.
    waker: UnixListener,
    done: Arc<AtomicBool>,
    clients: Arc<Clients>,
    thread: Option<JoinHandle<()>>,
}

impl ControlServer {
    /// Creates the socket file (owner and mode as configured) and serves it; the error names
    /// the step that failed.
    pub fn start(socket: &StatsSocket, current: Arc<Current>) -> Result<ControlServer, String> {
        let (listener, identity) = socket_file::bind(socket)?;
        let waker = listener.try_clone().map_err(|error| error.to_string())?;
        let done = Arc::new(AtomicBool::new(false));
        let clients = Clients::new(MAX_CLIENTS);
        let (thread_done, thread_clients, level) = (done.clone(), clients.clone(), socket.level);
        let thread = std::thread::Builder::new()
            .name("ringway-control".into())
            .spawn(move || {
                let handler = Arc::new(move |stream: UnixStream| {
                    serve_client(&stream, &current, level);
                });
                let incoming = listener.incoming();
                thread_clients.accept_loop(
                    incoming,
                    &thread_done,
                    "ringway-api-client",
                    BUSY,
                    handler,
                );
            })
            .map_err(|error| error.to_string())?;
        Ok(ControlServer {
            path: socket.path.clone(),
            identity,
            waker,
            done,
            clients,
            thread: Some(thread),
        })
    }

    /// Stops accepting and shuts every client connection; waits for no client.
    pub fn stop(mut self) {
        self.done.store(true, Relaxed);
        // Wake the blocking accept, even when the socket file is gone or is a successor's:
        // shutting the listening socket down fails the accept.
        // SAFETY: shutdown on a descriptor this struct owns.
        unsafe {
            libc::shutdown(self.waker.as_raw_fd(), libc::SHUT_RDWR);
        }
        let ours = socket_file::is_ours(&self.path, self.identity);
        if ours {
            let _ = UnixStream::connect(&self.path);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.clients.close_all();
        if ours {
            socket_file::remove_if_ours(&self.path, self.identity);
        }
    }
}

fn serve_client(stream: &UnixStream, current: &Current, level: AccessLevel) {
    let limits = Limits {
        first_line: CLIENT_TIMEOUT,
        reply: REPLY_TIMEOUT,
        max_line: MAX_LINE,
        too_long: LINE_TOO_LONG,
    };
    cli_session::serve(stream, &limits, |command| {
        let words: Vec<&str> = command.split_whitespace().collect();
        match words.as_slice() {
            // HAProxy 2.6 ignores what follows `prompt`.
            ["prompt", ..] => Effect::TogglePrompt,
            ["quit"] => Effect::Quit,
            ["set", "timeout", ..] => match parse_set_timeout(&words) {
                Ok(timeout) => Effect::SetTimeout(timeout),
                Err(error) => Effect::Reply(error),
            },
            _ => Effect::Reply(command_body(current, level, &words)),
        }
    });
}

/// Runs a command line at the `admin` level, as `Proxy::command` does.
pub fn run_command(current: &Current, line: &str) -> String {
    run_command_at(current, AccessLevel::Admin, line)
}

/// Runs a command line (commands separated by `;`) with the rights of `level` and returns the
/// concatenated replies, each ended by its empty line.
pub fn run_command_at(current: &Current, level: AccessLevel, line: &str) -> String {
    line.split(';')
        .map(str::trim)
        .filter(|command| !command.is_empty())
        .map(|command| {
            let words: Vec<&str> = command.split_whitespace().collect();
            end_reply(command_body(current, level, &words))
        })
        .collect()
}

/// One command's reply body, with the rights of `level`.
fn command_body(current: &Current, level: AccessLevel, words: &[&str]) -> String {
    if level < required_level(words) {
        PERMISSION_DENIED.to_string()
    } else if words == ["reload"] {
        reload(current)
    } else {
        run_one(&current.get(), words)
    }
}

/// The level a command needs, as HAProxy 2.6 asks: looking is for everyone, except at the
/// sessions and captured errors (client addresses and their bytes), which need `operator`, as
/// does clearing the peaks; acting on servers or sessions, and clearing every counter, needs
/// `admin`. Unknown commands need nothing (they get the help).
fn required_level(words: &[&str]) -> AccessLevel {
    match words {
        ["show", "sess", ..] => AccessLevel::Operator,
        ["set", "server", ..]
        | ["set", "weight" | "maxconn", ..]
        | ["enable" | "disable", "server" | "health" | "agent", ..]
        | ["shutdown", "session" | "sessions", ..]
        | ["clear", "counters", "all"]
        | ["reload"] => AccessLevel::Admin,
        ["clear", "counters", ..] | ["show", "errors", ..] => AccessLevel::Operator,
        _ => AccessLevel::User,
    }
}

/// `reload`: `OK` and what changed, or the configuration's errors (the running one serves on).
fn reload(current: &Current) -> String {
    match current.reload() {
        Ok(summary) => format!("OK\n{summary}"),
        Err(errors) => format!("Reload failed, the running configuration is kept:\n{errors}\n"),
    }
}

fn run_one(shared: &ProcessShared, words: &[&str]) -> String {
    let layout = &shared.layout;
    let counters = &shared.counters;
    match words {
        ["help"] => help_text(),
        ["show", "info", args @ ..] => {
            render_show_info_as(layout, counters, shared.is_stopping(), info_format(args))
        }
        ["show", "stat", args @ ..] => render_show_stat_args(layout, counters, args),
        ["show", "servers", "state"] => {
            render_servers_state(layout, None).unwrap_or_else(|error| error)
        }
        ["show", "servers", "state", backend] => {
            render_servers_state(layout, Some(backend)).unwrap_or_else(|error| error)
        }
        ["show", "backend"] => render_show_backend(layout),
        ["show", "version"] => render_show_version(),
        ["show", "errors", args @ ..] => show::show_errors(shared, args),
        ["clear", "counters", "all"] => show::clear_counters(shared, true),
        // HAProxy reads any other word as no word.
        ["clear", "counters", ..] => show::clear_counters(shared, false),
        // Interactive-mode commands, answered as HAProxy does outside that mode; the
        // connection's own handling is in `cli_session`.
        ["prompt", ..] => String::new(),
        ["set", "timeout", ..] => parse_set_timeout(words).err().unwrap_or_default(),
        ["show", "servers", "conn"] => {
            render_servers_conn(layout, None).unwrap_or_else(|error| error)
        }
        // A backend named "verbose" keeps HAProxy's meaning of the plain form.
        ["show", "servers", "conn", "verbose"] if !has_backend(shared, "verbose") => {
            render_servers_conn_verbose(layout, counters, None).unwrap_or_else(|error| error)
        }
        ["show", "servers", "conn", "verbose", backend] => {
            render_servers_conn_verbose(layout, counters, Some(backend))
                .unwrap_or_else(|error| error)
        }
        ["show", "servers", "conn", backend] => {
            render_servers_conn(layout, Some(backend)).unwrap_or_else(|error| error)
        }
        ["show", "activity"] => render_show_activity(layout, counters),
        ["show", "pool", "advice"] => pool_cmds::show_advice(shared, None),
        ["show", "pool", "advice", target] => pool_cmds::show_advice(shared, Some(target)),
        ["show", "sess"] => show_sess(shared, None),
        ["show", "sess", "all"] => show_sess(shared, Some(SessFilter::All)),
        ["show", "sess", id] => match parse_session_id(id) {
            Some(id) => show_sess(shared, Some(SessFilter::Id(id))),
            None => "Invalid session id.\n".to_string(),
        },
        ["quit"] => String::new(),
        ["set", "server", target, "state", state] => set_server_state(shared, target, state),
        ["set", "server", target, setting, value @ ..]
            if pool_cmds::is_pool_setting(setting) && value.len() <= 1 =>
        {
            pool_cmds::set_pool_setting(shared, target, setting, value.first().copied())
        }
        ["set", "server", target, "weight", rest @ ..] => {
            weights::set_weight(shared, target, rest.first().copied())
        }
        // HAProxy's older form of the same.
        ["set", "weight", rest @ ..] => {
            weights::set_weight(shared, arg(rest, 0), rest.get(1).copied())
        }
        ["get", "weight", rest @ ..] => weights::get_weight(shared, arg(rest, 0)),
        ["set", "maxconn", "server", rest @ ..] => {
            weights::set_maxconn(shared, arg(rest, 0), rest.get(1).copied())
        }
        // HAProxy's shorter forms of the same: disable puts the server in maintenance.
        ["disable", "server", target] => set_server_state(shared, target, "maint"),
        ["enable", "server", target] => set_server_state(shared, target, "ready"),
        ["enable" | "disable", what @ ("health" | "agent"), args @ ..] => {
            health_cmds::toggle(shared, words[0] == "enable", what, args)
        }
        ["set", "server", target, "health", args @ ..] => {
            health_cmds::set_health(shared, target, args)
        }
        ["shutdown", "session", id] => match parse_session_id(id) {
            Some(id) => show::shutdown_session(shared, id),
            None => SESSION_POINTER_EXPECTED.to_string(),
        },
        ["shutdown", "session"] => SESSION_POINTER_EXPECTED.to_string(),
        ["shutdown", "sessions", "server", target] => match find_server(shared, target) {
            Ok((backend, server)) => {
                shared.broadcast(ShardCommand::ShutdownServerSessions { backend, server });
                String::new()
            }
            Err(error) => error,
        },
        _ => unknown_command_text(),
    }
}

/// The argument at `index`, or "" when the command line stops before it (HAProxy's empty
/// argument).
fn arg<'a>(rest: &[&'a str], index: usize) -> &'a str {
    rest.get(index).copied().unwrap_or("")
}

fn has_backend(shared: &ProcessShared, name: &str) -> bool {
    shared
        .layout
        .backends
        .iter()
        .any(|backend| backend.name == name)
}

/// What `show sess` lists besides the requests in progress.
enum SessFilter {
    /// Idle keep-alive connections too.
    All,
    /// Only this session, whatever its state.
    Id(u64),
}

/// `show sess [all|ID]`: the requests in progress on every shard, as HAProxy lists its streams
/// (`all`: idle keep-alive connections too; an id: that session), gathered from the shards'
/// snapshots.
fn show_sess(shared: &ProcessShared, filter: Option<SessFilter>) -> String {
    let (mut rows, _silent) = sessions::collect(shared, show::snapshot_deadline(shared));
    match filter {
        None => rows.retain(|row| row.state != "idle"),
        Some(SessFilter::All) => {}
        Some(SessFilter::Id(id)) => {
            rows.retain(|row| row.id == id);
            if rows.is_empty() {
                return SESSION_NOT_FOUND.to_string();
            }
        }
    }
    render_show_sess(&shared.layout, &rows)
}

fn parse_session_id(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

pub(crate) fn find_server(shared: &ProcessShared, target: &str) -> Result<(usize, usize), String> {
    let (backend_name, server_name) = target
        .split_once('/')
        .ok_or_else(|| "Require 'backend/server'.\n".to_string())?;
    let backend = shared
        .layout
        .backends
        .iter()
        .position(|backend| backend.name == backend_name)
        .ok_or_else(|| "No such backend.\n".to_string())?;
    let server = shared.layout.backends[backend]
        .servers
        .iter()
        .position(|server| server.name == server_name)
        .ok_or_else(|| "No such server.\n".to_string())?;
    Ok((backend, server))
}

fn set_server_state(shared: &ProcessShared, target: &str, state: &str) -> String {
    let (backend, server) = match find_server(shared, target) {
        Ok(found) => found,
        Err(error) => return error,
    };
    let state = match state {
        "ready" => ServerState::Ready,
        "drain" => ServerState::Drain,
        "maint" => ServerState::Maint,
        _ => return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n".to_string(),
    };
    let info = &shared.layout.backends[backend].servers[server];
    let previous = info.state.get();
    info.state.set(state);
    info.health().admin_changed(std::time::Instant::now());
    if previous == ServerState::Maint && state != ServerState::Maint {
        shared.layout.came_back(info);
    }
    if state == ServerState::Maint {
        shared.broadcast(ShardCommand::CloseIdle { backend, server });
    }
    crate::server::health::refresh_backend(shared, backend);
    String::new()
}
