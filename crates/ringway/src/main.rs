//! The `ringway` command: `run` the proxy, `check` a configuration, `ctl` the runtime API.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc rather than glibc's malloc: an HTTP/2 stream allocates its task, session and
/// header maps, many above glibc's per-thread cache sizes, and glibc's slower paths for those
/// cost about a fifth of the CPU per HTTP/2 request (docs/http2.md, "CPU per request").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use ringway::upgrade::{Inherited, Launch};
use ringway::{Proxy, Reloader, Stopper, Upgrader};

#[derive(Parser)]
#[command(
    name = "ringway",
    version,
    about = "Thread-per-core HTTP/1.1 and HTTP/2 reverse proxy with per-core server connection pools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy in the foreground.
    Run {
        #[arg(short, long, default_value = "config/ringway.toml")]
        config: PathBuf,
    },
    /// Validate a configuration (and the TLS files and socket owners it names) without binding
    /// anything.
    Check {
        #[arg(short, long, default_value = "config/ringway.toml")]
        config: PathBuf,
    },
    /// Send one runtime API command to the stats socket and print the reply.
    Ctl {
        /// The stats socket; defaults to the first of the configuration's global.stats_socket.
        #[arg(long)]
        socket: Option<PathBuf>,
        #[arg(short, long, default_value = "config/ringway.toml")]
        config: PathBuf,
        #[arg(required = true, trailing_var_arg = true)]
        command: Vec<String>,
    },
}

/// Exit status for a configuration or start-up error, as the contract says.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    // Before any thread starts: the environment changes, and inherited descriptors are taken
    // over by number. The binary's path is read now, before an upgrade can replace the file.
    let inherited = Inherited::take_from_env();
    let launch = Launch::record();
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => match ringway_config::load(&config) {
            Ok(config) => match ringway::check_files(&config) {
                Ok(()) => {
                    println!("config OK");
                    ExitCode::SUCCESS
                }
                Err(problems) => {
                    for problem in problems {
                        eprintln!("ringway: {problem}");
                    }
                    ExitCode::from(EXIT_CONFIG)
                }
            },
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
        Command::Run { config } => run(&config, inherited, launch),
        Command::Ctl {
            socket,
            config,
            command,
        } => ctl(socket, &config, &command.join(" ")),
    }
}

fn run(path: &Path, mut inherited: Inherited, launch: std::io::Result<Launch>) -> ExitCode {
    let config = match ringway_config::load(path) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    block_stop_signals();
    ringway::block_usr1();
    let problems = std::mem::take(&mut inherited.problems);
    let sockets = std::mem::take(&mut inherited.sockets);
    let proxy = match Proxy::start_with(config, sockets) {
        Ok(proxy) => proxy,
        Err(error) => {
            eprintln!("ringway: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    for (frontend, addresses) in proxy
        .shared()
        .config
        .frontends
        .iter()
        .zip(proxy.frontend_addrs())
    {
        let list: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        proxy.shared().log.notice(format_args!(
            "frontend {} listening on {}",
            frontend.name,
            list.join(", ")
        ));
    }
    let log = proxy.shared().log.clone();
    if let Some(admin) = proxy.admin_addr() {
        log.notice(format_args!("admin HTTP listening on {admin}"));
    }
    for problem in problems {
        log.warning(format_args!("upgrade: ignored: {problem}"));
    }
    proxy.set_config_path(path.to_path_buf());
    let shards = proxy.shared().counters.len();
    if inherited.is_upgrade() {
        // The old process names us the main process to systemd once it reads this byte.
        match inherited.announce_ready() {
            Ok(()) => log.notice(format_args!(
                "upgrade: serving in place of the previous process (pid {})",
                std::process::id()
            )),
            Err(error) => log.err(format_args!(
                "upgrade: cannot tell the previous process we serve: {error}"
            )),
        }
    } else {
        ringway::sd_notify::ready(&format!(
            "serving: {} frontend(s) on {shards} shard(s)",
            proxy.frontend_addrs().len()
        ));
    }
    let upgrader = match launch {
        Ok(launch) => Some(proxy.upgrader(launch)),
        Err(error) => {
            log.err(format_args!(
                "SIGUSR2 upgrades are off: cannot read this binary's path: {error}"
            ));
            None
        }
    };
    spawn_signal_thread(proxy.stopper(), proxy.reloader(), upgrader);
    if let Err(error) = ringway::spawn_reopen_on_usr1(proxy.log_reopener()) {
        proxy
            .shared()
            .log
            .err(format_args!("no SIGUSR1 thread: {error}"));
    }
    let stopper = proxy.stopper();
    proxy.wait();
    stopper.log().notice(format_args!("stopped"));
    ExitCode::SUCCESS
}

/// Signals that would end the process by default and that ringway has no use for: they are
/// taken by the signal thread and logged, so that no signal but KILL ends the process without
/// a drain (real-time ones too; glibc keeps its own two out of any mask).
const IGNORED_SIGNALS: [libc::c_int; 8] = [
    libc::SIGALRM,
    libc::SIGIO,
    libc::SIGPROF,
    libc::SIGVTALRM,
    libc::SIGPWR,
    libc::SIGSTKFLT,
    libc::SIGXCPU,
    libc::SIGXFSZ,
];

/// The signals the signal thread handles: TERM, INT and QUIT stop gracefully, HUP reloads,
/// USR2 upgrades the binary, the ignored ones are logged.
fn handled_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGQUIT);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::sigaddset(&mut set, libc::SIGUSR2);
        for signal in IGNORED_SIGNALS
            .into_iter()
            .chain(libc::SIGRTMIN()..=libc::SIGRTMAX())
        {
            libc::sigaddset(&mut set, signal);
        }
        set
    }
}

fn is_ignored(signal: libc::c_int) -> bool {
    IGNORED_SIGNALS.contains(&signal) || (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&signal)
}

/// Blocks the handled signals in this thread and, by inheritance, in every shard thread, so
/// that only the signal thread receives them.
fn block_stop_signals() {
    let set = handled_signals();
    // SAFETY: changes this thread's signal mask with a valid set.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// HUP reloads; USR2 starts the binary upgrade on a thread of its own (a stop signal during its
/// wait still stops); each stop signal (TERM, INT, QUIT) starts the graceful stop, and a
/// second one during `global.grace` ends the grace at once.
fn spawn_signal_thread(stopper: Stopper, reloader: Reloader, upgrader: Option<Upgrader>) {
    std::thread::spawn(move || {
        let set = handled_signals();
        loop {
            let mut signal = 0;
            // SAFETY: waits for one of the blocked signals in `set`.
            if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
                continue;
            }
            if is_ignored(signal) {
                stopper
                    .log()
                    .warning(format_args!("{}: ignored", signal_name(signal)));
                continue;
            }
            if signal == libc::SIGHUP {
                match reloader.reload() {
                    Ok(summary) => stopper
                        .log()
                        .notice(format_args!("SIGHUP: reloaded: {}", summary.trim_end())),
                    Err(errors) => stopper.log().err(format_args!(
                        "SIGHUP: reload failed, the running configuration is kept: {errors}"
                    )),
                }
                continue;
            }
            if signal == libc::SIGUSR2 {
                upgrade(&stopper, upgrader.clone());
                continue;
            }
            stopper.log().notice(format_args!(
                "{}: stopping (in-flight requests finish, idle connections close)",
                signal_name(signal)
            ));
            stopper.stop();
        }
    });
}

/// SIGUSR2: starts the binary again on this process's sockets; once the new process serves,
/// this one drains and exits 0. A failure is logged and this process serves on.
fn upgrade(stopper: &Stopper, upgrader: Option<Upgrader>) {
    let log = stopper.log();
    let Some(upgrader) = upgrader else {
        log.err(format_args!(
            "SIGUSR2: no upgrade: this binary's path is unknown"
        ));
        return;
    };
    log.notice(format_args!(
        "SIGUSR2: starting the binary again with the listening sockets"
    ));
    let thread_log = log.clone();
    let spawned = std::thread::Builder::new()
        .name("ringway-upgrade".into())
        .spawn(move || match upgrader.upgrade() {
            Ok(pid) => thread_log.notice(format_args!(
                "SIGUSR2: pid {pid} serves now; this process stops accepting and drains"
            )),
            Err(why) => thread_log.err(format_args!(
                "SIGUSR2: upgrade failed, this process serves on: {why}"
            )),
        });
    if let Err(error) = spawned {
        log.err(format_args!("SIGUSR2: no upgrade thread: {error}"));
    }
}

fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGQUIT => "SIGQUIT".into(),
        other => format!("signal {other}"),
    }
}

fn ctl(socket: Option<PathBuf>, config: &Path, command: &str) -> ExitCode {
    let socket = match socket {
        Some(socket) => socket,
        None => match ringway_config::load(config)
            .map(|config| config.global.stats_sockets.into_iter().next())
        {
            Ok(Some(socket)) => socket.path,
            Ok(None) => {
                eprintln!(
                    "ringway: {} has no global.stats_socket; pass --socket",
                    config.display()
                );
                return ExitCode::from(EXIT_CONFIG);
            }
            Err(errors) => {
                eprintln!("{errors}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
    };
    let reply = UnixStream::connect(&socket).and_then(|mut stream| {
        stream.write_all(format!("{command}\n").as_bytes())?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply)?;
        Ok(reply)
    });
    match reply {
        Ok(reply) => {
            print!("{reply}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("ringway: {}: {error}", socket.display());
            ExitCode::FAILURE
        }
    }
}
