//! Starting and stopping the whole proxy: one glommio executor per shard (pinned when asked),
//! listeners bound by shard 0 first so that port 0 resolves once and the other shards join the
//! same ports, the control thread when a stats socket is configured, and the admin HTTP
//! listener when `admin_listen` is. The shards wait at a gate until everything is bound and the
//! privilege drop (`global.user`/`group`) is done, so no connection is handled before it.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::mpsc;
use std::sync::Arc;

use crossbeam::queue::SegQueue;
use glommio::{ExecutorJoinHandle, LocalExecutorBuilder, Placement};
use ringway_config::Config;
use ringway_stats::ShardCounters;

use crate::access_log::LogTarget;
use crate::admin::{socket_file, AdminServer};
use crate::control::{run_command, ControlServer};
use crate::idle::ServerIdle;
use crate::layout::build_layout;
use crate::process::ProcessShared;
use crate::shard::{bind_listeners, run_shard, ShardCtx};
use crate::tls::TlsSetup;
use crate::{privileges, readiness};

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
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// A running proxy.
pub struct Proxy {
    shared: Arc<ProcessShared>,
    shards: Vec<ExecutorJoinHandle<()>>,
    /// One per stats socket.
    control: Vec<ControlServer>,
    admin: Option<AdminServer>,
    bound: Vec<Vec<SocketAddr>>,
}

/// Stops a proxy from another thread (a signal handler thread).
#[derive(Clone)]
pub struct Stopper(Arc<ProcessShared>);

impl Stopper {
    /// Graceful stop: not ready at once, then after `global.grace` no new connections and
    /// in-flight requests finish. Called again during the grace, it ends the grace.
    pub fn stop(&self) {
        readiness::graceful_stop(&self.0);
    }
}

impl Proxy {
    pub fn start(config: Config) -> Result<Proxy, StartError> {
        raise_memlock_limit();
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let shards = match config.global.shards {
            0 => cores.len().max(1),
            count => count,
        };
        let account = privileges::resolve(&config.global).map_err(|error| {
            StartError::Privileges(format!("global.user/global.group: {error}"))
        })?;
        let access_logs = open_access_logs(&config)?;
        let tls = TlsSetup::build(&config).map_err(StartError::Tls)?;
        let max_fds = open_file_limit();
        let layout = build_layout(&config, shards, max_fds);
        let servers_per_backend: Vec<usize> = config
            .backends
            .iter()
            .map(|backend| backend.servers.len())
            .collect();
        let shared = Arc::new(ProcessShared {
            counters: (0..shards)
                .map(|_| {
                    Arc::new(ShardCounters::new(
                        config.frontends.len(),
                        &servers_per_backend,
                    ))
                })
                .collect(),
            stopping: AtomicBool::new(false),
            readiness: Default::default(),
            open_fds: AtomicU64::new(0),
            max_fds,
            commands: (0..shards).map(|_| SegQueue::new()).collect(),
            doorbells: (0..shards)
                .map(|_| ringway_net::Doorbell::new())
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
            access_logs,
            tls,
            layout,
            config,
        });
        let mut addresses: Vec<Vec<SocketAddr>> = shared
            .config
            .frontends
            .iter()
            .map(|frontend| frontend.bind.clone())
            .collect();
        let mut handles = Vec::with_capacity(shards);
        // One sender per started shard: a message lets it serve, a dropped sender ends it.
        let mut gates = Vec::with_capacity(shards);
        for shard in 0..shards {
            let placement = match (shared.config.global.pin_shards, cores.is_empty()) {
                (true, false) => Placement::Fixed(cores[shard % cores.len()].id),
                _ => Placement::Unbound,
            };
            let (bound_tx, bound_rx) = mpsc::channel();
            let (gate_tx, gate_rx) = mpsc::channel::<()>();
            let shard_shared = shared.clone();
            let shard_addresses = addresses.clone();
            let spawned = LocalExecutorBuilder::new(placement)
                .name(&format!("ringway-{shard}"))
                .io_memory(IO_MEMORY)
                .spawn(move || async move {
                    let listeners = match bind_listeners(&shard_addresses) {
                        Ok(listeners) => listeners,
                        Err(error) => {
                            let _ = bound_tx.send(Err(error.to_string()));
                            return;
                        }
                    };
                    let bound = listeners
                        .iter()
                        .map(|binds| binds.iter().map(|(_, address)| *address).collect())
                        .collect();
                    let _ = bound_tx.send(Ok(bound));
                    // Nothing else runs on this executor yet: blocking here holds the shard
                    // back until the privilege drop is done, or ends it when the start fails.
                    if gate_rx.recv().is_err() {
                        return;
                    }
                    let ctx = Rc::new(ShardCtx::new(shard, shard_shared));
                    run_shard(ctx, listeners).await;
                });
            let handle = match spawned {
                Ok(handle) => handle,
                Err(error) => {
                    abort(&shared, handles, gates);
                    return Err(StartError::IoUring(error.to_string()));
                }
            };
            match bound_rx.recv() {
                Ok(Ok(bound)) => addresses = bound,
                Ok(Err(message)) => {
                    let _ = handle.join();
                    abort(&shared, handles, gates);
                    return Err(StartError::Bind(message));
                }
                Err(_) => {
                    let reason = match handle.join() {
                        Err(error) => error.to_string(),
                        Ok(()) => "the shard exited during start".to_string(),
                    };
                    abort(&shared, handles, gates);
                    return Err(StartError::IoUring(reason));
                }
            }
            handles.push(handle);
            gates.push(gate_tx);
        }
        let mut control = Vec::new();
        for socket in &shared.config.global.stats_sockets {
            match ControlServer::start(socket, shared.clone()) {
                Ok(server) => control.push(server),
                Err(error) => {
                    control.into_iter().for_each(ControlServer::stop);
                    abort(&shared, handles, gates);
                    return Err(StartError::StatsSocket(format!(
                        "{}: {error}",
                        socket.path.display()
                    )));
                }
            }
        }
        let admin = match shared.config.global.admin_listen {
            Some(addr) => match AdminServer::start(addr, shared.clone()) {
                Ok(server) => Some(server),
                Err(error) => {
                    control.into_iter().for_each(ControlServer::stop);
                    abort(&shared, handles, gates);
                    return Err(StartError::Admin(format!("{addr}: {error}")));
                }
            },
            None => None,
        };
        if let Some(account) = account {
            if let Err(error) = privileges::drop_to(account) {
                control.into_iter().for_each(ControlServer::stop);
                if let Some(admin) = admin {
                    admin.stop();
                }
                abort(&shared, handles, gates);
                return Err(StartError::Privileges(error));
            }
        }
        shared.readiness.mark_serving();
        for gate in gates {
            let _ = gate.send(());
        }
        Ok(Proxy {
            shared,
            shards: handles,
            control,
            admin,
            bound: addresses,
        })
    }

    /// The addresses each frontend listens on, port 0 resolved: `[frontend][bind]`.
    pub fn frontend_addrs(&self) -> &[Vec<SocketAddr>] {
        &self.bound
    }

    /// The admin HTTP listener's address (port 0 resolved), when `admin_listen` is set.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(AdminServer::local_addr)
    }

    pub fn shared(&self) -> &Arc<ProcessShared> {
        &self.shared
    }

    /// Runs one runtime API command line, as the stats socket would.
    pub fn command(&self, line: &str) -> String {
        run_command(&self.shared, line)
    }

    pub fn stopper(&self) -> Stopper {
        Stopper(self.shared.clone())
    }

    /// Waits until every shard has stopped.
    pub fn wait(mut self) {
        for handle in self.shards.drain(..) {
            let _ = handle.join();
        }
        self.control.drain(..).for_each(ControlServer::stop);
        if let Some(admin) = self.admin.take() {
            admin.stop();
        }
    }

    /// Graceful stop: no new connections, in-flight requests finish, then everything closes.
    pub fn stop(self) {
        self.stopper().stop();
        self.wait();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.request_stop();
        for handle in self.shards.drain(..) {
            let _ = handle.join();
        }
        self.control.drain(..).for_each(ControlServer::stop);
        if let Some(admin) = self.admin.take() {
            admin.stop();
        }
    }
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
fn open_access_logs(config: &Config) -> Result<Vec<Option<Arc<LogTarget>>>, StartError> {
    config
        .frontends
        .iter()
        .map(|frontend| {
            frontend
                .access_log
                .as_ref()
                .map(|log| {
                    LogTarget::open(log).map(Arc::new).map_err(|error| {
                        let target = match log {
                            ringway_config::AccessLog::Stderr => "stderr".to_string(),
                            ringway_config::AccessLog::File(path) => path.display().to_string(),
                        };
                        StartError::AccessLog(format!(
                            "of frontend {}: {target}: {error}",
                            frontend.name
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
