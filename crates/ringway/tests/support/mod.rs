//! Helpers for the observability tests (runtime API, admin listener, access log, external
//! tools): a unique stats socket path per test, a runtime API client over the real unix
//! socket, a plain HTTP GET for the admin listener, and finding (or installing) Debian tools.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// A path under the temporary directory unique to this process and call; removed on drop.
pub struct TempPath(pub PathBuf);

impl TempPath {
    pub fn new(name: &str) -> TempPath {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        TempPath(
            std::env::temp_dir().join(format!("ringway-test-{}-{n}-{name}", std::process::id())),
        )
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The path as a TOML string value (quoted).
    pub fn toml(&self) -> String {
        format!("{:?}", self.0.display().to_string())
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Sends one command line to the stats socket and returns the whole reply (the server closes).
pub fn socket_command(path: &Path, line: &str) -> String {
    let mut stream = UnixStream::connect(path).expect("connect to the stats socket");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
        .write_all(format!("{line}\n").as_bytes())
        .expect("write command");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read reply");
    reply
}

/// A column of a `show stat` reply for a row (pxname, svname).
pub fn csv_value(csv: &str, pxname: &str, svname: &str, column: &str) -> String {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .expect("header")
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let index = header
        .iter()
        .position(|name| *name == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    lines
        .map(|line| line.split(',').collect::<Vec<_>>())
        .find(|fields| fields.len() > index && fields[0] == pxname && fields[1] == svname)
        .map(|fields| fields[index].to_string())
        .unwrap_or_else(|| panic!("no row {pxname}/{svname} in\n{csv}"))
}

pub fn csv_num(csv: &str, pxname: &str, svname: &str, column: &str) -> u64 {
    csv_value(csv, pxname, svname, column)
        .parse()
        .unwrap_or_else(|_| panic!("{pxname}/{svname} {column} is not a number"))
}

/// An HTTP response from the admin listener or the exporter.
pub struct HttpReply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// `METHOD path` on a new connection, read until the server closes.
pub fn http(addr: SocketAddr, method: &str, path: &str) -> HttpReply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
        .write_all(
            format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .expect("write request");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("read response");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status code");
    let chunked = head
        .lines()
        .any(|line| line.eq_ignore_ascii_case("transfer-encoding: chunked"));
    HttpReply {
        status,
        head: head.to_string(),
        body: if chunked {
            dechunk(body)
        } else {
            body.to_string()
        },
    }
}

/// A chunked body's data (a large reply, such as the exporter's, comes in chunks).
fn dechunk(mut body: &str) -> String {
    let mut data = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .expect("a chunk size");
        if size == 0 {
            break;
        }
        data.push_str(&rest[..size]);
        body = rest[size..].strip_prefix("\r\n").expect("a chunk's end");
    }
    data
}

pub fn http_get(addr: SocketAddr, path: &str) -> HttpReply {
    http(addr, "GET", path)
}

/// The value of a Prometheus sample line `series value`, exactly as written.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// The full path of `command` on PATH (or in /usr/sbin, /usr/bin).
pub fn which(command: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(command))
        .find(|candidate| candidate.is_file())
}

fn apt_get(args: &[&str]) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|out| out.stdout.starts_with(b"0"))
        .unwrap_or(false);
    let mut command = if root {
        Command::new("apt-get")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.args(["-n", "apt-get"]);
        sudo
    };
    command
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|status| status.success())
        .unwrap_or(false)
}

/// The path of `command`, installing the Debian `package` first when it is missing (as root,
/// or with password-less sudo). None when it is absent and cannot be installed.
pub fn ensure_tool(command: &str, package: &str) -> Option<PathBuf> {
    if let Some(found) = which(command) {
        return Some(found);
    }
    eprintln!("{command} not found: installing the Debian package {package}");
    if !apt_get(&["install", "-y", "-qq", package]) {
        apt_get(&["update", "-qq"]);
        apt_get(&["install", "-y", "-qq", package]);
    }
    which(command)
}

/// The environment variable `scripts/test.sh` (and so CI) sets to `1`: a test whose external
/// tool is missing then fails instead of skipping.
pub const REQUIRE_TOOLS: &str = "RINGWAY_REQUIRE_TOOLS";

/// Whether [`REQUIRE_TOOLS`] is set (to anything but empty or `0`).
pub fn tools_required() -> bool {
    std::env::var(REQUIRE_TOOLS).is_ok_and(|value| !value.is_empty() && value != "0")
}

/// The path of the external tool `command` a test runs, installing the Debian `package` when
/// it is missing ([`ensure_tool`]). Every tool test gets its tools here. When the tool cannot
/// be had: under [`REQUIRE_TOOLS`] the test fails; otherwise it prints `SKIPPED <test>: ...`
/// and gets None, and returns at once.
pub fn tool(command: &str, package: &str) -> Option<PathBuf> {
    if let Some(path) = ensure_tool(command, package) {
        return Some(path);
    }
    let current = std::thread::current();
    let test = current.name().unwrap_or("this test");
    let why = format!(
        "{command} is not installed and could not be installed (Debian package {package}, \
         which scripts/test.sh installs)"
    );
    assert!(!tools_required(), "{test}: {why}; {REQUIRE_TOOLS} is set");
    eprintln!("SKIPPED {test}: {why}");
    None
}

/// A free TCP port on 127.0.0.1 for a child process that needs an address on its command
/// line (the port is released just before the child binds it).
pub fn free_local_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr")
}

/// A child process killed (by its own id) and reaped when dropped.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// HAProxy (`haproxy`, the binary's path) in the foreground on `config`, its output
/// discarded; stopped when dropped. The caller waits for its listeners.
pub fn run_haproxy(haproxy: &Path, config: &Path) -> Child {
    Child(
        std::process::Command::new(haproxy)
            .args(["-db", "-f"])
            .arg(config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start haproxy"),
    )
}

/// `ringway run -c config` as a child with its stderr piped, once it printed its first
/// "listening on ADDR" line: the child, its stderr, and that address.
pub fn run_listening(
    config: &Path,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStderr>,
    SocketAddr,
) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringway"))
        .args(["run", "-c", config.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .expect("ringway runs");
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let addr = stderr_line(&mut stderr, "listening on")
        .rsplit(' ')
        .next()
        .and_then(|address| address.trim().parse().ok())
        .expect("a listening address");
    (child, stderr, addr)
}

/// Reads stderr lines until one contains `needle` (a read times out with the test).
pub fn stderr_line(stderr: &mut impl std::io::BufRead, needle: &str) -> String {
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let read = stderr.read_line(&mut line).expect("stderr");
        assert!(read > 0, "stderr ended before {needle:?}:\n{seen}");
        if line.contains(needle) {
            return line;
        }
        seen.push_str(&line);
    }
}

/// Runs h2load (`-n`, `-c`, `-m`... then the URL); returns its report.
pub fn h2load(path: &Path, args: &[&str], url: &str) -> String {
    let output = Command::new(path)
        .args(args)
        .arg(url)
        .output()
        .expect("h2load runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The numbers on h2load's `status codes:` line: 2xx, 3xx, 4xx, 5xx.
pub fn h2load_status_codes(report: &str) -> Vec<u64> {
    let line = report
        .lines()
        .find(|line| line.starts_with("status codes:"))
        .unwrap_or_else(|| panic!("no status line in {report}"));
    line.split([' ', ','])
        .filter_map(|word| word.parse().ok())
        .collect()
}
