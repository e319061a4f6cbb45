//! Starting and stopping the whole proxy: one glommio executor per shard (pinned when asked),
//! listeners bound by shard 0 first so that port 0 resolves once and the other shards join the
//! same ports, the control thread when a stats socket is configured, and the admin HTTP
//! listener when `admin_listen` is. The shards wait at a gate until everything is bound and the
//! privilege drop (`global.user`/`group`) is done, so no connection is handled before it.
//! A binary upgrade (`upgrade.rs`) starts the next process on this one's sockets, then retires
//! the serving generation as a reload does and stops the process.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::queue::SegQueue;
use glommio::{ExecutorJoinHandle, LocalExecutorBuilder, Placement};
use ringway_config::Config;
use ringway_net::Listener;
use ringway_stats::{ErrorCaptures, ShardCounters};

use super::{privileges, readiness, sd_notify, upgrade};
use crate::admin::control::{run_command, ControlServer};
use crate::admin::{socket_file, AdminServer};
use crate::logging::{LogReopener, LogSink, ProcessLog};
use crate::process::layout::build_layout;
use crate::process::listeners::ListenerSet;
use crate::process::reload::{successor_servers, Successor};
use crate::process::shard::{run_shard, ShardCtx};
use crate::process::upgrade::{Launch, Sockets, READY_TIMEOUT};
use crate::process::{Current, ProcessShared};
use crate::server::idle::ServerIdle;
use crate::tls::TlsSetup;

/// How long a reload waits for the retiring generation to stop accepting.
const RETIRE_ACCEPT_WAIT: Duration = Duration::from_secs(2);

/// Locked memory glommio reserves per executor for registered buffers. We do no file I/O, so
/// a small area keeps the RLIMIT_MEMLOCK need low.
const IO_MEMORY: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Bind(String),
    #[error(
        "cannot start io_uring ({0}): raise the locked-memory limit (ulimit -l unlimited, or LimitMEMLOCK=infinity \
         under systemd) and make sure io_uring is enabled (Linux 5.8+, sysctl kernel.io_uring_disabled=0)"
    )]
    IoUring(String),
    #[error("stats socket {0}")]
    StatsSocket(String),
    #[error("admin_listen {0}")]
    Admin(String),
    #[error("access log {0}")]
    AccessLog(String),
    #[error("{0}")]
    Tls(String),
    #[error("cannot create a shard's eventfd: {0}")]
    Doorbell(std::io::Error),
    #[error("{0}")]
    Privileges(String),
}

/// What `ringway check` verifies beyond the configuration file, without binding anything:
/// every certificate, key and CA file loads (bounded in size) and every stats socket's user and
/// group exist. `Proxy::start` runs the same checks as it starts. One message per problem.
pub fn check_files(config: &Config) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    if let Err(error) = TlsSetup::build(config) {
        problems.push(error);
    }
    for socket in &config.global.stats_sockets {
        if let Err(error) = socket_file::owner(socket) {
            problems.push(
                StartError::StatsSocket(format!("{}: {error}", socket.path.display())).to_string(),
            );
        }
    }
    if let Err(error) = privileges::resolve(&config.global) {
        problems.push(format!("global.user/global.group: {error}"));
    }
    for frontend in &config.frontends {
        if let Some(ringway_config::AccessLog {
            target: ringway_config::LogTarget::File(path),
            ..
        }) = &frontend.access_log
        {
            if let Err(error) = writable_file(path) {
                problems.push(format!(
                    "access log of frontend {}: {}: {error}",
                    frontend.name,
                    path.display()
                ));
            }
        }
    }
    for socket in &config.global.stats_sockets {
        let directory = socket
            .path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty());
        if let Err(error) = writable_directory(directory.unwrap_or(Path::new("."))) {
            problems.push(
                StartError::StatsSocket(format!("{}: {error}", socket.path.display())).to_string(),
            );
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// A file `run` can open for appending: writable if it exists, else in a writable directory.
fn writable_file(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err("is a directory".into());
    }
    if path.exists() {
        return access(path, libc::W_OK).map_err(|error| format!("not writable: {error}"));
    }
    let directory = path.parent().filter(|dir| !dir.as_os_str().is_empty());
    writable_directory(directory.unwrap_or(Path::new(".")))
}

/// A directory `run` can create a file in.
fn writable_directory(directory: &Path) -> Result<(), String> {
    if !directory.is_dir() {
        return Err(format!("directory {} does not exist", directory.display()));
    }
    access(directory, libc::W_OK | libc::X_OK)
        .map_err(|error| format!("cannot create files in {}: {error}", directory.display()))
}

fn access(path: &Path, mode: libc::c_int) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: a valid NUL-terminated path for the call.
    if unsafe { libc::access(c_path.as_ptr(), mode) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A running proxy: the generation serving now, the ones still draining after a reload, and
/// the control-plane servers that outlive generations.
pub struct Proxy {
    supervisor: Arc<Supervisor>,
    /// One per stats socket.
    control: Vec<ControlServer>,
    admin: Option<AdminServer>,
}

/// Stops a proxy from another thread (a signal handler thread).
#[derive(Clone)]
pub struct Stopper(Arc<Supervisor>);

impl Stopper {
    /// Graceful stop: not ready at once, then after `global.grace` no new connections and
    /// in-flight requests finish. Called again during the grace, it ends the grace.
    pub fn stop(&self) {
        self.0.stop();
    }

    /// The process's messages (those of the generation serving now), for the signal thread.
    pub fn log(&self) -> Arc<ProcessLog> {
        self.0.current.get().log.clone()
    }
}

/// Reloads a proxy from another thread (the SIGHUP handler).
#[derive(Clone)]
pub struct Reloader(Arc<Supervisor>);

impl Reloader {
    /// Reads the configuration file again and applies it: a summary of what moved, or every
    /// error, the running generation serving on.
    pub fn reload(&self) -> Result<String, String> {
        self.0.reload_from_file()
    }
}

/// Starts the binary again on this process's sockets from another thread (SIGUSR2).
#[derive(Clone)]
pub struct Upgrader {
    supervisor: Arc<Supervisor>,
    launch: Launch,
    /// The admin listener as configured, and a handle on its socket.
    admin: Option<(SocketAddr, Arc<OwnedFd>)>,
}

impl Upgrader {
    /// Starts `launch` with every listening socket and waits for it to serve; then this
    /// process retires (no more accepts, in-flight requests finish) and its `wait` returns.
    /// The new process's pid, or why it did not take over (this process serves on).
    pub fn upgrade(&self) -> Result<u32, String> {
        let admin = match &self.admin {
            Some((address, socket)) => Some((
                *address,
                socket
                    .try_clone()
                    .map_err(|error| format!("cannot duplicate the admin socket: {error}"))?,
            )),
            None => None,
        };
        self.supervisor.upgrade(&self.launch, admin)
    }
}

/// One generation: a configuration and the shards serving it.
struct Generation {
    number: u64,
    shared: Arc<ProcessShared>,
    shards: Vec<ExecutorJoinHandle<()>>,
    /// One per shard until it may serve: a message lets it, a dropped sender ends it.
    gates: Vec<mpsc::Sender<()>>,
    listeners: ListenerSet,
    bound: Vec<Vec<SocketAddr>>,
}

/// Owns the generations: starts the first, replaces it at a reload, stops the last.
struct Supervisor {
    current: Arc<Current>,
    state: Mutex<State>,
    stopped: Condvar,
    /// The configuration file a reload reads, when the process was started from one.
    config_path: Mutex<Option<PathBuf>>,
    /// A binary upgrade is waiting for its new process.
    upgrading: AtomicBool,
    /// A new process serves in this one's place: this one only drains.
    handed_over: AtomicBool,
}

struct State {
    active: Option<Generation>,
    /// Generations a reload replaced, draining: their shards and the thread joining them.
    retiring: Vec<JoinHandle<()>>,
    stopped: bool,
}

impl Proxy {
    pub fn start(config: Config) -> Result<Proxy, StartError> {
        Proxy::start_with(config, Sockets::default())
    }

    /// Starts on the listening sockets a predecessor process handed over (a binary upgrade),
    /// matched by configured address; those of addresses no longer configured close.
    pub fn start_with(config: Config, inherited: Sockets) -> Result<Proxy, StartError> {
        raise_memlock_limit();
        let account = privileges::resolve(&config.global).map_err(|error| {
            StartError::Privileges(format!("global.user/global.group: {error}"))
        })?;
        let listeners = match inherited.listeners.is_empty() {
            true => None,
            false => Some(
                ListenerSet::inherited(inherited.listeners).map_err(|error| {
                    StartError::Bind(format!("inherited listening sockets: {error}"))
                })?,
            ),
        };
        let generation = start_generation(config, 1, listeners).map_err(|(error, _)| error)?;
        let current = Arc::new(Current::new(generation.shared.clone()));
        let supervisor = Arc::new(Supervisor {
            current: current.clone(),
            state: Mutex::new(State {
                active: Some(generation),
                retiring: Vec::new(),
                stopped: false,
            }),
            stopped: Condvar::new(),
            config_path: Mutex::new(None),
            upgrading: AtomicBool::new(false),
            handed_over: AtomicBool::new(false),
        });
        // Weak: the supervisor owns `current`, which must not keep it alive in turn.
        let weak = Arc::downgrade(&supervisor);
        current.set_reloader(Box::new(move || match weak.upgrade() {
            Some(supervisor) => supervisor.reload_from_file(),
            None => Err("the proxy is stopping".into()),
        }));
        let shared = current.get();
        let fail = |control: Vec<ControlServer>, admin: Option<AdminServer>, error| {
            control.into_iter().for_each(ControlServer::stop);
            if let Some(admin) = admin {
                admin.stop();
            }
            supervisor.abort();
            Err(error)
        };
        let mut control = Vec::new();
        for socket in &shared.config.global.stats_sockets {
            match ControlServer::start(socket, current.clone()) {
                Ok(server) => control.push(server),
                Err(error) => {
                    let path = socket.path.display();
                    return fail(
                        control,
                        None,
                        StartError::StatsSocket(format!("{path}: {error}")),
                    );
                }
            }
        }
        let admin = match shared.config.global.admin_listen {
            Some(addr) => {
                let started = match inherited.admin {
                    Some((handed, socket)) if handed == addr => {
                        AdminServer::serve_on(std::net::TcpListener::from(socket), current.clone())
                    }
                    _ => AdminServer::start(addr, current.clone()),
                };
                match started {
                    Ok(server) => Some(server),
                    Err(error) => {
                        return fail(control, None, StartError::Admin(format!("{addr}: {error}")));
                    }
                }
            }
            None => None,
        };
        // Everything is bound: the shards, waiting at their gate, serve once the privileges are
        // dropped, so that no connection is ever handled with the starting account's.
        if let Some(account) = account {
            if let Err(error) = privileges::drop_to(account) {
                return fail(control, admin, StartError::Privileges(error));
            }
        }
        if let Some(generation) = &mut lock(&supervisor.state).active {
            generation.open_gates();
        }
        Ok(Proxy {
            supervisor,
            control,
            admin,
        })
    }

    /// Makes `reload` (SIGHUP, `ringway ctl reload`) read this file.
    pub fn set_config_path(&self, path: PathBuf) {
        *lock(&self.supervisor.config_path) = Some(path);
    }

    /// Replaces the running configuration with `config` without closing a listening socket:
    /// new connections go to the new generation, requests in flight finish on the old one,
    /// idle connections to unchanged servers move over. On an error the running generation
    /// keeps serving.
    pub fn reload(&self, config: Config) -> Result<String, String> {
        self.supervisor.reload(config)
    }

    pub fn reloader(&self) -> Reloader {
        Reloader(self.supervisor.clone())
    }

    /// The SIGUSR2 handle: starts `launch` (this binary's path and arguments, recorded at
    /// start) on this process's listening sockets.
    pub fn upgrader(&self, launch: Launch) -> Upgrader {
        let admin = self.admin.as_ref().and_then(|admin| {
            let configured = self.supervisor.current.get().config.global.admin_listen?;
            let socket = admin.listener().ok()?;
            Some((configured, Arc::new(socket)))
        });
        Upgrader {
            supervisor: self.supervisor.clone(),
            launch,
            admin,
        }
    }

    /// The addresses each frontend listens on, port 0 resolved: `[frontend][bind]`.
    pub fn frontend_addrs(&self) -> Vec<Vec<SocketAddr>> {
        let state = lock(&self.supervisor.state);
        state
            .active
            .as_ref()
            .map(|generation| generation.bound.clone())
            .unwrap_or_default()
    }

    /// The admin HTTP listener's address (port 0 resolved), when `admin_listen` is set.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(AdminServer::local_addr)
    }

    /// The generation serving now.
    pub fn shared(&self) -> Arc<ProcessShared> {
        self.supervisor.current.get()
    }

    /// Runs one runtime API command line, as the stats socket would.
    pub fn command(&self, line: &str) -> String {
        run_command(&self.supervisor.current, line)
    }

    pub fn stopper(&self) -> Stopper {
        Stopper(self.supervisor.clone())
    }

    /// Reopens the log files of the generation serving now from another thread (SIGUSR1).
    pub fn log_reopener(&self) -> LogReopener {
        LogReopener(self.supervisor.current.clone())
    }

    /// Waits until the proxy is stopped and every shard of every generation has ended.
    pub fn wait(mut self) {
        self.supervisor.wait_stopped();
        if self.supervisor.handed_over.load(SeqCst) {
            // The successor accepts on the admin socket too: leave it the new connections. (It
            // took the stats socket paths over, so no new client reaches ours.)
            if let Some(admin) = &mut self.admin {
                admin.stop_accepting();
            }
        }
        self.shut_down();
    }

    /// Whether a binary upgrade handed the service over to a new process.
    pub fn handed_over(&self) -> bool {
        self.supervisor.handed_over.load(SeqCst)
    }

    /// Graceful stop: no new connections, in-flight requests finish, then everything closes.
    pub fn stop(self) {
        self.stopper().stop();
        self.wait();
    }

    fn shut_down(&mut self) {
        self.supervisor.join_all();
        self.stop_control_plane();
    }

    fn stop_control_plane(&mut self) {
        self.control.drain(..).for_each(ControlServer::stop);
        if let Some(admin) = self.admin.take() {
            admin.stop();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.supervisor.abort();
        self.shut_down();
    }
}

impl Generation {
    /// Lets the shards serve; the generation is ready (`/ready`, `monitor_uri`).
    fn open_gates(&mut self) {
        for gate in self.gates.drain(..) {
            let _ = gate.send(());
        }
        self.shared.readiness.mark_serving();
    }
}

impl Supervisor {
    /// Graceful stop: not ready at once, the drain after `global.grace` (a second call ends
    /// the grace).
    fn stop(&self) {
        let mut state = lock(&self.state);
        state.stopped = true;
        if let Some(generation) = &state.active {
            readiness::graceful_stop(&generation.shared);
        }
        self.stopped.notify_all();
    }

    /// Stops at once, with no grace, and joins every shard (a failed start, a dropped proxy).
    fn abort(&self) {
        {
            let mut state = lock(&self.state);
            state.stopped = true;
            if let Some(generation) = &mut state.active {
                generation.gates.clear();
                generation.shared.request_stop();
            }
            self.stopped.notify_all();
        }
        self.join_all();
    }

    fn wait_stopped(&self) {
        let mut state = lock(&self.state);
        while !state.stopped {
            state = self
                .stopped
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Joins the shards of every generation (after a stop).
    fn join_all(&self) {
        let (active, retiring) = {
            let mut state = lock(&self.state);
            (state.active.take(), std::mem::take(&mut state.retiring))
        };
        if let Some(generation) = active {
            for handle in generation.shards {
                let _ = handle.join();
            }
        }
        for thread in retiring {
            let _ = thread.join();
        }
    }

    /// A binary upgrade: one at a time, never once stopping.
    fn upgrade(
        &self,
        launch: &Launch,
        admin: Option<(SocketAddr, OwnedFd)>,
    ) -> Result<u32, String> {
        if self.upgrading.swap(true, SeqCst) {
            return Err("an upgrade is under way already".into());
        }
        let result = self.hand_over(launch, admin);
        self.upgrading.store(false, SeqCst);
        result
    }

    /// Starts the successor process on duplicates of the serving generation's sockets, without
    /// holding the state lock while it starts (reloads and stops go on); once it serves, the
    /// serving generation retires as at a reload and the process stops.
    fn hand_over(
        &self,
        launch: &Launch,
        admin: Option<(SocketAddr, OwnedFd)>,
    ) -> Result<u32, String> {
        let listeners = {
            let state = lock(&self.state);
            match (&state.active, state.stopped) {
                (Some(generation), false) => generation
                    .listeners
                    .duplicates()
                    .map_err(|error| format!("cannot duplicate the listening sockets: {error}"))?,
                _ => return Err("the proxy is stopping".into()),
            }
        };
        let pid = upgrade::start_successor(launch, Sockets { listeners, admin }, READY_TIMEOUT)?;
        sd_notify::handed_over(pid, &format!("upgraded: pid {pid} serves"));
        let mut state = lock(&self.state);
        self.handed_over.store(true, SeqCst);
        if let Some(generation) = &state.active {
            generation.shared.retiring.store(true, Relaxed);
            generation.shared.request_stop();
        }
        state.stopped = true;
        self.stopped.notify_all();
        Ok(pid)
    }

    fn reload_from_file(&self) -> Result<String, String> {
        let Some(path) = lock(&self.config_path).clone() else {
            return Err("no configuration file to reload from".into());
        };
        let config = ringway_config::load(&path).map_err(|errors| errors.to_string())?;
        check_files(&config).map_err(|problems| problems.join("\n"))?;
        self.reload(config)
    }

    /// Starts a generation for `config` on the listening sockets of the running one, then
    /// retires the running one (it stops accepting, hands its idle server connections over and
    /// drains in the background).
    fn reload(&self, config: Config) -> Result<String, String> {
        sd_notify::reloading("reloading the configuration");
        let result = self.replace_generation(config);
        match &result {
            Ok(summary) => sd_notify::reloaded(summary.trim_end()),
            Err(_) => sd_notify::reloaded("reload failed: serving the previous configuration"),
        }
        result
    }

    fn replace_generation(&self, config: Config) -> Result<String, String> {
        check_files(&config).map_err(|problems| problems.join("\n"))?;
        let mut state = lock(&self.state);
        if state.stopped {
            return Err("the proxy is stopping".into());
        }
        let Some(mut old) = state.active.take() else {
            return Err("the proxy is stopping".into());
        };
        let listeners = std::mem::replace(&mut old.listeners, ListenerSet::empty());
        let started = start_generation(config, old.number + 1, Some(listeners));
        let mut new = match started {
            Ok(generation) => generation,
            Err((error, listeners)) => {
                if let Some(listeners) = listeners {
                    old.listeners = listeners;
                }
                state.active = Some(old);
                return Err(error.to_string());
            }
        };
        new.open_gates();
        let servers = successor_servers(&old.shared.config, &new.shared.config);
        let kept = servers.iter().flatten().filter(|to| to.is_some()).count();
        let _ = old.shared.successor.set(Successor {
            process: new.shared.clone(),
            servers,
        });
        old.shared.retiring.store(true, Relaxed);
        old.shared.request_stop();
        self.current.set(new.shared.clone());
        // Each retiring shard stops accepting at its next control tick, rung now; until then a
        // connection may still land on it (and be served by the old configuration).
        let deadline = Instant::now() + RETIRE_ACCEPT_WAIT;
        while old.shared.accepting.load(Relaxed) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let summary = format!(
            "generation {} serving ({} shards); generation {} draining; servers whose idle connections move over: {kept}\n",
            new.number,
            new.shards.len(),
            old.number
        );
        state.active = Some(new);
        let number = old.number;
        let log = old.shared.log.clone();
        log.notice(format_args!("reload: {}", summary.trim_end()));
        let reaper = std::thread::Builder::new()
            .name(format!("ringway-gen{number}"))
            .spawn(move || {
                for handle in old.shards {
                    let _ = handle.join();
                }
                log.notice(format_args!("generation {number} finished draining"));
            });
        if let Ok(reaper) = reaper {
            state.retiring.push(reaper);
        }
        state.retiring.retain(|thread| !thread.is_finished());
        Ok(summary)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The start failed: why, and the listening sockets handed in, to give back to the running
/// generation when a reload fails.
type StartFailure = (StartError, Option<ListenerSet>);

/// Builds the shared state of a generation and starts its shards, on `inherited` listening
/// sockets where the configuration keeps an address.
fn start_generation(
    config: Config,
    number: u64,
    inherited: Option<ListenerSet>,
) -> Result<Generation, StartFailure> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let shards = match config.global.shards {
        0 => cores.len().max(1),
        count => count,
    };
    let shared = match build_shared(config, shards) {
        Ok(shared) => Arc::new(shared),
        Err(error) => return Err((error, inherited)),
    };
    let listeners = ListenerSet::open(&shared.config, shards, inherited)
        .map_err(|error| (StartError::Bind(error), None))?;
    let mut handles = Vec::with_capacity(shards);
    let mut gates = Vec::with_capacity(shards);
    for shard in 0..shards {
        let placement = match (shared.config.global.pin_shards, cores.is_empty()) {
            (true, false) => Placement::Fixed(cores[shard % cores.len()].id),
            _ => Placement::Unbound,
        };
        let fail = |error: StartError, handles, gates| {
            abort(&shared, handles, gates);
            Err((error, None))
        };
        let sockets = match listeners.for_shard(shard, shards) {
            Ok(sockets) => sockets,
            Err(error) => return fail(StartError::Bind(error.to_string()), handles, gates),
        };
        let shard_shared = shared.clone();
        let (started_tx, started_rx) = mpsc::channel();
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let spawned = LocalExecutorBuilder::new(placement)
            .name(&format!("ringway-{shard}"))
            .io_memory(IO_MEMORY)
            .spawn(move || async move {
                let listeners = sockets
                    .into_iter()
                    .map(|binds| {
                        binds
                            .into_iter()
                            .filter_map(|fd| Listener::from_fd(fd).ok())
                            .collect()
                    })
                    .collect();
                let ctx = Rc::new(ShardCtx::new(shard, shard_shared));
                let _ = started_tx.send(());
                // Nothing else runs on this executor yet: blocking here holds the shard back
                // until the process lets it serve, or ends it when the start fails.
                if gate_rx.recv().is_err() {
                    return;
                }
                ctx.adopt_incoming();
                run_shard(ctx, listeners).await;
            });
        let handle = match spawned {
            Ok(handle) => handle,
            Err(error) => return fail(StartError::IoUring(error.to_string()), handles, gates),
        };
        // An executor that cannot set its rings up ends without running the shard.
        if started_rx.recv().is_err() {
            let reason = match handle.join() {
                Err(error) => error.to_string(),
                Ok(()) => "the shard exited during start".to_string(),
            };
            return fail(StartError::IoUring(reason), handles, gates);
        }
        handles.push(handle);
        gates.push(gate_tx);
    }
    let bound = listeners.bound();
    Ok(Generation {
        number,
        shared,
        shards: handles,
        gates,
        listeners,
        bound,
    })
}

/// The state the shards of a generation share.
fn build_shared(config: Config, shards: usize) -> Result<ProcessShared, StartError> {
    let access_logs = open_access_logs(&config)?;
    let log = Arc::new(ProcessLog::new(&access_logs));
    let tls = TlsSetup::build(&config).map_err(StartError::Tls)?;
    let max_fds = open_file_limit();
    let layout = build_layout(&config, shards, max_fds);
    let servers_per_backend: Vec<usize> = config
        .backends
        .iter()
        .map(|backend| backend.servers.len())
        .collect();
    Ok(ProcessShared {
        rings: crate::server::persist::hash_rings(&config),
        counters: (0..shards)
            .map(|_| {
                Arc::new(ShardCounters::new(
                    config.frontends.len(),
                    &servers_per_backend,
                ))
            })
            .collect(),
        errors: ErrorCaptures::new(config.frontends.len(), config.backends.len()),
        stopping: AtomicBool::new(false),
        readiness: Default::default(),
        open_fds: AtomicU64::new(0),
        fd_marks: ringway_pool::FdPressure::new(
            0,
            max_fds,
            config.global.pool_low_fd_ratio,
            config.global.pool_high_fd_ratio,
        ),
        commands: (0..shards).map(|_| SegQueue::new()).collect(),
        doorbells: (0..shards)
            .map(|_| ringway_net::Doorbell::new())
            .collect::<Result<_, _>>()
            .map_err(StartError::Doorbell)?,
        remote_wakes: (0..shards)
            .map(|_| ringway_net::RemoteWakes::new())
            .collect::<Result<_, _>>()
            .map_err(StartError::Doorbell)?,
        idle: layout
            .backends
            .iter()
            .map(|backend| {
                backend
                    .servers
                    .iter()
                    .map(|server| ServerIdle::new(server.pool.clone(), shards))
                    .collect()
            })
            .collect(),
        served: servers_per_backend
            .iter()
            .map(|&count| (0..count).map(|_| AtomicU32::new(0)).collect())
            .collect(),
        advice: crate::admin::pool_cmds::AdviceLog::new(&servers_per_backend),
        observed: servers_per_backend
            .iter()
            .map(|&count| (0..count).map(|_| AtomicU32::new(0)).collect())
            .collect(),
        access_logs,
        log,
        tls,
        retiring: AtomicBool::new(false),
        successor: OnceLock::new(),
        accepting: AtomicU64::new(0),
        incoming: (0..shards).map(|_| SegQueue::new()).collect(),
        layout,
        config,
    })
}

/// Ends a failed start: the shards waiting at their gate end when it is dropped.
fn abort(
    shared: &ProcessShared,
    handles: Vec<ExecutorJoinHandle<()>>,
    gates: Vec<mpsc::Sender<()>>,
) {
    drop(gates);
    shared.request_stop();
    for handle in handles {
        let _ = handle.join();
    }
}

/// Opens every frontend's access log once; the shards share the handles.
fn open_access_logs(config: &Config) -> Result<Vec<Option<Arc<LogSink>>>, StartError> {
    config
        .frontends
        .iter()
        .map(|frontend| {
            frontend
                .access_log
                .as_ref()
                .map(|log| {
                    LogSink::open(log).map(Arc::new).map_err(|error| {
                        StartError::AccessLog(format!(
                            "of frontend {}: {}: {error}",
                            frontend.name, log.target
                        ))
                    })
                })
                .transpose()
        })
        .collect()
}

/// The soft descriptor limit, which the pool's pressure thresholds are fractions of.
fn open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur
    } else {
        1024
    }
}

/// Raises the soft locked-memory limit to the hard one; io_uring rings count against it.
fn raise_memlock_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit);
        }
    }
}
