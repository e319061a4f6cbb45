//! Binary upgrade (SIGUSR2, issue 15): the built binary runs as real processes on 127.0.0.1:0;
//! clients keep sending requests (keep-alive and a connection per request) while the process
//! is replaced, twice, and must see no failure and no refused connection; the stats socket
//! path answers throughout and survives the old process; a new process that cannot start
//! leaves the old one serving. Every wait is on a condition with a deadline.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{origin, IO_TIMEOUT};

const RINGWAY: &str = env!("CARGO_BIN_EXE_ringway");

/// Processes a test started (the first one) or that its processes started (the successors,
/// ours once orphaned: the test process is a child subreaper). Those not reaped yet are killed
/// on drop (a reaped pid may already name another test's process).
struct Pids(Vec<i32>);

impl Pids {
    /// Waits for `pid` to exit and forgets it; its exit code.
    fn exit_code(&mut self, pid: i32) -> Option<i32> {
        let code = exit_code(pid);
        self.0.retain(|&known| known != pid);
        code
    }
}

impl Drop for Pids {
    fn drop(&mut self) {
        for &pid in &self.0 {
            // SAFETY: signals and reaps processes this test started.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG);
            }
        }
    }
}

/// The stderr lines of every process of a test (successors write to the same pipe).
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// The first line after `from` containing `what`, waiting for it.
    fn wait_for(&self, from: usize, what: &str) -> String {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            if let Some(line) = self.lines().iter().skip(from).find(|l| l.contains(what)) {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no line with {what:?} in {:#?}",
                self.lines()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

struct Running {
    pid: i32,
    web: SocketAddr,
    stats: PathBuf,
    log: Log,
}

fn become_subreaper() {
    // SAFETY: a process attribute; orphaned descendants are reparented to this process.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringway-upg-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config_text(dir: &Path, server: SocketAddr) -> String {
    format!(
        "[global]\nshards = 2\npin_shards = false\nstats_socket = {:?}\nadmin_listen = \"127.0.0.1:0\"\n\
         [defaults]\ntimeout_http_keep_alive = \"2s\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{server}\"\n",
        dir.join("stats.sock").display().to_string()
    )
}

fn start(dir: &Path, server: SocketAddr, pids: &mut Pids) -> Running {
    become_subreaper();
    let config = dir.join("ringway.toml");
    std::fs::write(&config, config_text(dir, server)).unwrap();
    let mut child = Command::new(RINGWAY)
        .args(["run", "-c", config.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringway");
    let pid = child.id() as i32;
    pids.0.push(pid);
    let stderr = child.stderr.take().unwrap();
    // The child is reaped with waitpid, like its successors.
    std::mem::forget(child);
    let log = Log::default();
    let lines = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            lines.0.lock().unwrap().push(line);
        }
    });
    let line = log.wait_for(0, "frontend web listening on ");
    let web = line
        .split("listening on ")
        .nth(1)
        .and_then(|address| address.parse().ok())
        .expect("an address");
    Running {
        pid,
        web,
        stats: dir.join("stats.sock"),
        log,
    }
}

/// Waits for `pid` (ours or an orphan reparented to us) to exit; its exit code.
fn exit_code(pid: i32) -> Option<i32> {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let mut status = 0;
        // SAFETY: reaps a process of this test.
        let reaped = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if reaped == pid {
            return libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
        }
        assert!(
            reaped == 0 && Instant::now() < deadline,
            "pid {pid} did not exit"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn signal(pid: i32, signal: i32) {
    // SAFETY: signals a process of this test.
    unsafe { libc::kill(pid, signal) };
}

/// The `Pid:` of `show info` on the stats socket.
fn stats_pid(path: &Path) -> Result<i32, String> {
    let mut stream = UnixStream::connect(path).map_err(|error| error.to_string())?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
        .write_all(b"show info\n")
        .map_err(|error| error.to_string())?;
    let mut reply = String::new();
    stream
        .read_to_string(&mut reply)
        .map_err(|error| error.to_string())?;
    reply
        .lines()
        .find_map(|line| line.strip_prefix("Pid: "))
        .and_then(|pid| pid.trim().parse().ok())
        .ok_or_else(|| format!("no Pid line in {reply:?}"))
}

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    failures: AtomicU64,
    refused: AtomicU64,
    errors: Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, counter: &AtomicU64, what: String) {
        counter.fetch_add(1, SeqCst);
        let mut errors = self.errors.lock().unwrap();
        if errors.len() < 20 {
            errors.push(what);
        }
    }
}

/// One response: its status and whether the server closes the connection after it.
fn exchange(stream: &mut TcpStream, close: bool) -> Result<(u16, bool), String> {
    let request: &[u8] = if close {
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    } else {
        b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
    };
    stream
        .write_all(request)
        .map_err(|error| format!("write: {error}"))?;
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(format!("closed after {} bytes", buffer.len())),
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
            Err(error) => return Err(format!("read: {error}")),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or("no status")?;
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .ok_or("no content-length")?;
    while buffer.len() < head_end + length {
        match stream.read(&mut chunk) {
            Ok(0) => return Err("body cut".into()),
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
            Err(error) => return Err(format!("read body: {error}")),
        }
    }
    Ok((status, head.contains("\r\nconnection: close")))
}

/// Sends requests to `web` until `stop`, a connection per request when `close`.
fn client(web: SocketAddr, close: bool, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let mut stream: Option<TcpStream> = None;
    let mut on_connection = 0;
    while !stop.load(SeqCst) {
        let connection = match stream.as_mut() {
            Some(connection) => connection,
            None => match TcpStream::connect(web) {
                Ok(connection) => {
                    on_connection = 0;
                    connection.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                    stream.insert(connection)
                }
                Err(error) => {
                    tally.fail(&tally.refused, format!("connect: {error}"));
                    continue;
                }
            },
        };
        tally.requests.fetch_add(1, SeqCst);
        on_connection += 1;
        match exchange(connection, close) {
            Ok((200, closing)) => {
                if close || closing {
                    stream = None;
                }
            }
            Ok((status, _)) => {
                tally.fail(&tally.failures, format!("status {status}"));
                stream = None;
            }
            Err(error) => {
                let kind = if close { "close" } else { "keep-alive" };
                tally.fail(
                    &tally.failures,
                    format!("{kind}, request {on_connection} on its connection: {error}"),
                );
                stream = None;
            }
        }
    }
}

/// Asks the stats socket until `stop`; every pid it answered with, in order.
fn stats_watcher(path: PathBuf, stop: Arc<AtomicBool>, tally: Arc<Tally>) -> Vec<i32> {
    let mut seen = Vec::new();
    while !stop.load(SeqCst) {
        match stats_pid(&path) {
            Ok(pid) if seen.last() != Some(&pid) => seen.push(pid),
            Ok(_) => {}
            Err(error) => tally.fail(&tally.failures, format!("stats socket: {error}")),
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    seen
}

/// SIGUSR2 to `old`: the pid of the process serving after it, which `old` names in its log.
fn upgrade(running: &Running, old: i32, pids: &mut Pids) -> i32 {
    let from = running.log.lines().len();
    signal(old, libc::SIGUSR2);
    let line = running.log.wait_for(from, "SIGUSR2: pid ");
    let new: i32 = line
        .split("SIGUSR2: pid ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|pid| pid.parse().ok())
        .expect("the new pid");
    pids.0.push(new);
    assert_ne!(new, old);
    assert!(Path::new(&format!("/proc/{new}")).exists());
    assert_eq!(
        pids.exit_code(old),
        Some(0),
        "the old process drains and exits 0"
    );
    new
}

#[test]
fn two_upgrades_under_load_lose_no_request() {
    let origin = origin();
    let dir = temp_dir("load");
    let mut pids = Pids(Vec::new());
    let running = start(&dir, origin.addr(), &mut pids);
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = (0..4)
        .map(|n| {
            let (stop, tally, web) = (stop.clone(), tally.clone(), running.web);
            std::thread::spawn(move || client(web, n % 2 == 1, stop, tally))
        })
        .collect();
    let watcher = {
        let (stop, tally, path) = (stop.clone(), tally.clone(), running.stats.clone());
        std::thread::spawn(move || stats_watcher(path, stop, tally))
    };
    let served = |count: u64| {
        let target = tally.requests.load(SeqCst) + count;
        common::wait_until("requests to be served", || {
            tally.requests.load(SeqCst) >= target
        });
    };

    served(100);
    let second = upgrade(&running, running.pid, &mut pids);
    served(150);
    let third = upgrade(&running, second, &mut pids);
    served(150);
    stop.store(true, SeqCst);
    for client in clients {
        client.join().unwrap();
    }
    let seen = watcher.join().unwrap();

    let (requests, failures, refused) = (
        tally.requests.load(SeqCst),
        tally.failures.load(SeqCst),
        tally.refused.load(SeqCst),
    );
    eprintln!("upgrade under load: {requests} requests, {failures} failures, {refused} refused");
    let errors = tally.errors.lock().unwrap().clone();
    assert_eq!((failures, refused), (0, 0), "{errors:#?}");
    assert!(requests >= 400, "{requests}");
    assert_eq!(seen.first(), Some(&running.pid), "{seen:?}");
    assert_eq!(seen.last(), Some(&third), "{seen:?}");
    // The socket file outlived both old processes and is the new one's.
    assert!(running.stats.exists());
    assert_eq!(stats_pid(&running.stats), Ok(third));
    let log = running.log.lines();
    let listening = log
        .iter()
        .filter(|line| line.contains(&format!("listening on {}", running.web)))
        .count();
    assert_eq!(listening, 3, "every process on the same port: {log:#?}");
    assert!(
        log.iter().any(|line| line.contains("admin HTTP listening")),
        "{log:#?}"
    );

    signal(third, libc::SIGTERM);
    assert_eq!(pids.exit_code(third), Some(0));
    assert!(
        !running.stats.exists(),
        "the last owner removes the socket file"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_new_process_that_cannot_start_leaves_the_old_one_serving() {
    let origin = origin();
    let dir = temp_dir("failed");
    let mut pids = Pids(Vec::new());
    let running = start(&dir, origin.addr(), &mut pids);
    let config = dir.join("ringway.toml");
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{good}\nshards = \"many\"\n")).unwrap();

    let from = running.log.lines().len();
    signal(running.pid, libc::SIGUSR2);
    let failed = running.log.wait_for(from, "SIGUSR2: upgrade failed");
    assert!(failed.contains("serves on"), "{failed}");
    assert!(failed.contains("exited before serving"), "{failed}");
    let lines = running.log.lines();
    assert!(
        lines[from..].iter().any(|line| line.contains("shards")),
        "the new process says why: {lines:#?}"
    );
    // Still the old process, on its port and its stats socket.
    let mut stream = TcpStream::connect(running.web).expect("still listening");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    assert_eq!(exchange(&mut stream, false), Ok((200, false)));
    assert_eq!(stats_pid(&running.stats), Ok(running.pid));
    drop(stream);
    // Fixed, the configuration upgrades.
    std::fs::write(&config, good).unwrap();
    let new = upgrade(&running, running.pid, &mut pids);
    assert_eq!(stats_pid(&running.stats), Ok(new));
    let mut stream = TcpStream::connect(running.web).expect("the new process listens");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    assert_eq!(
        exchange(&mut stream, true).map(|(status, _)| status),
        Ok(200)
    );
    signal(new, libc::SIGTERM);
    assert_eq!(pids.exit_code(new), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
