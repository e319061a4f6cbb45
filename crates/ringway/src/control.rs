//! The runtime API: a unix stream socket served by a control thread. A client writes one line
//! (commands may be joined with `;`), gets the replies and the socket closes, as HAProxy's
//! non-interactive mode does. Owns the command dispatch: reads go to the shards' counters and
//! the shared pool accounting; actions go to the shards through their command queues; `show
//! sess` asks every shard for a snapshot and waits for the answers (`sessions.rs`).

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ringway_config::StatsSocket;
use ringway_stats::{
    end_reply, help_text, render_servers_conn, render_servers_conn_verbose, render_show_activity,
    render_show_info, render_show_sess, render_show_stat, unknown_command_text, ServerState,
};

use crate::process::{ProcessShared, ShardCommand};
use crate::sessions::{self, SNAPSHOT_DEADLINE};

/// How long a runtime API client may take to send its command line.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct ControlServer {
    path: PathBuf,
    /// A handle on the listening socket, to wake the blocked accept at stop.
    waker: UnixListener,
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ControlServer {
    pub fn start(
        socket: &StatsSocket,
        shared: Arc<ProcessShared>,
    ) -> std::io::Result<ControlServer> {
        let path = socket.path.as_path();
        if path.exists() && UnixStream::connect(path).is_err() {
            // A socket left behind by a process that is gone.
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)?;
        let waker = listener.try_clone()?;
        let done = Arc::new(AtomicBool::new(false));
        let thread_done = done.clone();
        let thread = std::thread::Builder::new()
            .name("ringway-control".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if thread_done.load(Relaxed) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        serve_client(stream, &shared);
                    }
                }
            })?;
        Ok(ControlServer {
            path: path.to_path_buf(),
            waker,
            done,
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) {
        self.done.store(true, Relaxed);
        // Wake the blocking accept, even when the socket file is gone: shutting the listening
        // socket down fails the accept.
        // SAFETY: shutdown on a descriptor this struct owns.
        unsafe {
            libc::shutdown(self.waker.as_raw_fd(), libc::SHUT_RDWR);
        }
        let _ = UnixStream::connect(&self.path);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve_client(stream: UnixStream, shared: &ProcessShared) {
    let _ = stream.set_read_timeout(Some(CLIENT_TIMEOUT));
    let _ = stream.set_write_timeout(Some(CLIENT_TIMEOUT));
    let mut line = String::new();
    let mut reader = BufReader::new(&stream);
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let reply = run_command(shared, &line);
    let mut writer = &stream;
    let _ = writer.write_all(reply.as_bytes());
}

/// Runs a command line (commands separated by `;`) and returns the concatenated replies.
pub fn run_command(shared: &ProcessShared, line: &str) -> String {
    line.split(';')
        .map(str::trim)
        .filter(|command| !command.is_empty())
        .map(|command| end_reply(run_one(shared, command)))
        .collect()
}

fn run_one(shared: &ProcessShared, command: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    let layout = &shared.layout;
    let counters = &shared.counters;
    match words.as_slice() {
        ["help"] => help_text(),
        ["show", "info", ..] => render_show_info(layout, counters, shared.is_stopping()),
        ["show", "stat", ..] => render_show_stat(layout, counters),
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
        ["show", "sess"] => show_sess(shared, None),
        ["show", "sess", id] => match parse_session_id(id) {
            Some(id) => show_sess(shared, Some(id)),
            None => "Invalid session id.\n".to_string(),
        },
        ["quit"] => String::new(),
        ["set", "server", target, "state", state] => set_server_state(shared, target, state),
        ["shutdown", "session", id] => match parse_session_id(id) {
            Some(id) => {
                shared.broadcast(ShardCommand::ShutdownSession(id));
                String::new()
            }
            None => "Invalid session id.\n".to_string(),
        },
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

fn has_backend(shared: &ProcessShared, name: &str) -> bool {
    shared
        .layout
        .backends
        .iter()
        .any(|backend| backend.name == name)
}

/// `show sess [ID]`: every session of every shard (or the one with that id), gathered from the
/// shards' snapshots. A stopping process no longer runs its control ticks, so it is asked only
/// briefly.
fn show_sess(shared: &ProcessShared, only: Option<u64>) -> String {
    let deadline = if shared.is_stopping() {
        SNAPSHOT_DEADLINE / 20
    } else {
        SNAPSHOT_DEADLINE
    };
    let (mut rows, _silent) = sessions::collect(shared, deadline);
    if let Some(id) = only {
        rows.retain(|row| row.id == id);
    }
    render_show_sess(&shared.layout, &rows)
}

fn parse_session_id(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn find_server(shared: &ProcessShared, target: &str) -> Result<(usize, usize), String> {
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
    shared.layout.backends[backend].servers[server]
        .state
        .set(state);
    if state == ServerState::Maint {
        shared.broadcast(ShardCommand::CloseIdle { backend, server });
    }
    String::new()
}
