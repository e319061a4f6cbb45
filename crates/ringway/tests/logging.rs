//! Logging to real peers: syslog datagrams read by a UDP receiver in the test (RFC 3164 and
//! RFC 5424 framing, PRI, tag, the line, the process's own messages), a real rsyslogd reading
//! a unix datagram socket and a UDP port (and the unix socket coming back after rsyslogd
//! restarts), JSON lines parsed with serde_json, and SIGUSR1 reopening a renamed log file of a
//! `ringway run` process without stopping it.

mod common;
mod support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use support::*;

/// A proxy with one frontend logging with `access_log` to a backend with one server.
fn proxy_logging(access_log: &str, server: SocketAddr) -> ringway::Proxy {
    proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\n[defaults]\ntimeout_connect = \"2s\"\nretries = 0\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         access_log = {access_log}\n\
         [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"s1\"\naddress = \"{server}\"\n"
    ))
}

/// Datagrams from `socket` until `done` holds for what arrived, within the test deadline.
fn receive(socket: &UdpSocket, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut messages = Vec::new();
    let mut buffer = vec![0u8; 65_536];
    while !done(&messages) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out; received {messages:#?}");
        socket.set_read_timeout(Some(left)).unwrap();
        if let Ok(size) = socket.recv(&mut buffer) {
            messages.push(String::from_utf8(buffer[..size].to_vec()).expect("UTF-8"));
        }
    }
    messages
}

fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most len bytes into our buffer.
    assert_eq!(
        unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len() - 1) },
        0
    );
    let end = buffer.iter().position(|&byte| byte == 0).unwrap();
    String::from_utf8(buffer[..end].to_vec()).unwrap()
}

/// Splits an RFC 3164 message into (PRI, timestamp, the rest after it).
fn rfc3164(message: &str) -> (u8, &str, &str) {
    let (pri, rest) = message[1..].split_once('>').expect("<PRI>");
    let (stamp, rest) = rest.split_at(15);
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let bytes = stamp.as_bytes();
    assert!(months.contains(&&stamp[..3]), "{message}");
    assert!(bytes[4] == b' ' || bytes[4].is_ascii_digit(), "{message}");
    assert!(bytes[5].is_ascii_digit(), "{message}");
    assert_eq!((bytes[9], bytes[12]), (b':', b':'), "{message}");
    (
        pri.parse().expect("PRI"),
        stamp,
        rest.strip_prefix(' ').expect("a space"),
    )
}

#[test]
fn udp_syslog_in_rfc3164() {
    let origin = origin();
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let proxy = proxy_logging(
        &format!(
            "{{ target = \"udp://{}\", facility = \"local3\", tag = \"edge\" }}",
            receiver.local_addr().unwrap()
        ),
        origin.addr(),
    );
    let addr = frontend_addr(&proxy);
    assert_eq!(get(addr, "/syslog-3164").status, 200);
    let messages = receive(&receiver, |got| !got.is_empty());
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let (pri, _, rest) = rfc3164(&messages[0]);
    assert_eq!(pri, 19 * 8 + 6, "local3.info");
    let prefix = format!("{} edge[{}]: ", hostname(), std::process::id());
    let line = rest
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{rest}"));
    assert!(!line.ends_with('\n'), "one line without its newline");
    assert!(line.starts_with("127.0.0.1:"), "{line}");
    assert!(
        line.contains(" web app/s1 ") && line.contains("\"GET /syslog-3164 HTTP/1.1\""),
        "{line}"
    );
    assert!(line.contains("\" reused=0 shard=0 conn=0x"), "{line}");
}

#[test]
fn udp_syslog_in_rfc5424_with_the_process_messages() {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let proxy = proxy_logging(
        &format!(
            "{{ target = \"udp://{}\", facility = \"daemon\", rfc = \"5424\", tag = \"rw\" }}",
            receiver.local_addr().unwrap()
        ),
        dead_addr(),
    );
    assert_eq!(get(frontend_addr(&proxy), "/gone").status, 503);
    // The access line (info) and the proxy's own message about the 503 (err).
    let messages = receive(&receiver, |got| got.len() >= 2);
    assert_eq!(messages.len(), 2, "{messages:#?}");
    let header = |message: &str| -> (String, Vec<String>, String) {
        let (pri, rest) = message[1..].split_once('>').expect("<PRI>");
        let fields: Vec<&str> = rest.splitn(7, ' ').collect();
        assert_eq!(fields.len(), 7, "{message}");
        (
            pri.to_string(),
            fields[..6].iter().map(|f| f.to_string()).collect(),
            fields[6].to_string(),
        )
    };
    let mut seen = Vec::new();
    for message in &messages {
        let (pri, fields, text) = header(message);
        assert_eq!(fields[0], "1", "VERSION: {message}");
        let stamp = &fields[1];
        assert!(
            stamp.len() == 27 && stamp.ends_with('Z') && &stamp[10..11] == "T",
            "TIMESTAMP: {message}"
        );
        assert_eq!(fields[2], hostname());
        assert_eq!(fields[3], "rw");
        assert_eq!(fields[4], std::process::id().to_string());
        assert_eq!((fields[5].as_str(), &text[..2]), ("-", "- "), "{message}");
        seen.push((pri, text[2..].to_string()));
    }
    seen.sort();
    // daemon = 3: err = 27, info = 30.
    assert_eq!(seen[0].0, "27", "{seen:?}");
    assert!(
        seen[0].1.starts_with("web 127.0.0.1:") && seen[0].1.contains(": 503 ("),
        "{seen:?}"
    );
    assert_eq!(seen[1].0, "30", "{seen:?}");
    assert!(
        seen[1].1.contains(" 503 ")
            && seen[1]
                .1
                .contains(" SC-- 1/1/0/0/0 0/0 \"GET /gone HTTP/1.1\""),
        "{seen:?}"
    );
}

#[test]
fn json_lines_carry_the_httplog_fields() {
    let origin = origin();
    let log = TempPath::new("access.json");
    let proxy = proxy_logging(
        &format!("{{ target = {}, format = \"json\" }}", log.toml()),
        origin.addr(),
    );
    let addr = frontend_addr(&proxy);
    let mut client = Client::connect(addr);
    let peer = client.stream().local_addr().unwrap();
    assert_eq!(client.get("/j?q=\"x\"").status, 200);
    assert_eq!(client.get("/k").status, 200);
    drop(client);
    let bad = raw(addr, b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n").expect("answer");
    assert_eq!(bad.status, 400);
    let mut lines = Vec::new();
    wait_until("3 JSON lines", || {
        lines = std::fs::read_to_string(log.path())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        lines.len() >= 3
    });
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let objects: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let first = &objects[0];
    assert_eq!(first["client"], peer.to_string());
    let date = first["date"].as_str().unwrap();
    assert!(
        date.len() == 24 && date.ends_with('Z') && &date[10..11] == "T",
        "{date}"
    );
    assert_eq!(
        (&first["frontend"], &first["backend"], &first["server"]),
        (
            &serde_json::json!("web"),
            &serde_json::json!("app"),
            &serde_json::json!("s1")
        )
    );
    for timer in ["TR", "Tw", "Tc", "Tr", "Ta"] {
        assert!(first[timer].as_i64().unwrap() >= 0, "{timer}: {first}");
    }
    assert_eq!(first["status"], 200);
    assert!(first["bytes"].as_u64().unwrap() > 0);
    assert_eq!(first["termination"], "----");
    assert_eq!(first["retries"], 0);
    // A double quote in a request line is logged as '#', as in the httplog line.
    assert_eq!(first["request"], "GET /j?q=#x# HTTP/1.1");
    assert_eq!(
        (&first["reused"], &first["shard"]),
        (&false.into(), &0.into())
    );
    assert_eq!(objects[1]["reused"], true);
    let bad = &objects[2];
    assert_eq!(
        (
            &bad["server"],
            &bad["status"],
            &bad["termination"],
            &bad["request"]
        ),
        (
            &"<NOSRV>".into(),
            &400.into(),
            &"PR--".into(),
            &"<BADREQ>".into()
        ),
        "{bad}"
    );
    assert_eq!(bad["Tr"], -1);
}

/// Lines of a file, or none while it does not exist.
fn file_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn wait_file_lines(path: &Path, count: usize) -> Vec<String> {
    let mut lines = Vec::new();
    wait_until(&format!("{count} lines in {}", path.display()), || {
        lines = file_lines(path);
        lines.len() >= count
    });
    assert_eq!(lines.len(), count, "{lines:#?}");
    lines
}

/// stderr of a child, line by line, read by a thread of its own.
fn stderr_lines(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits for a line of `lines` containing `text`.
fn wait_line(lines: &mpsc::Receiver<String>, text: &str) -> String {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(text) => return line,
            Ok(_) => {}
            Err(error) => panic!("no line with {text:?}: {error}"),
        }
    }
}

#[test]
fn sigusr1_reopens_a_renamed_log_file_and_keeps_running() {
    let origin = origin();
    let dir = TempDir::new("reopen");
    let log = dir.0.join("access.log");
    let rotated = dir.0.join("access.log.1");
    let config = dir.0.join("ringway.toml");
    let bind = free_local_addr();
    std::fs::write(
        &config,
        format!(
            "[global]\nshards = 2\npin_shards = false\n\
             [[frontend]]\nname = \"web\"\nbind = [\"{bind}\"]\ndefault_backend = \"app\"\n\
             access_log = {:?}\n\
             [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n",
            log.display().to_string(),
            origin.addr()
        ),
    )
    .unwrap();
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_ringway"))
            .arg("run")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run ringway"),
    );
    let stderr = stderr_lines(&mut child.0);
    wait_line(&stderr, "listening on");
    let pid = child.0.id() as libc::pid_t;
    let usr1 = || {
        // SAFETY: signals the child we started, by its id.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGUSR1) }, 0);
    };

    for n in 0..4 {
        assert_eq!(get(bind, &format!("/before-{n}")).status, 200);
    }
    wait_file_lines(&log, 4);
    std::fs::rename(&log, &rotated).unwrap();
    usr1();
    wait_line(&stderr, "SIGUSR1: reopened 1 log file(s)");
    for n in 0..3 {
        assert_eq!(get(bind, &format!("/after-{n}")).status, 200);
    }
    let new = wait_file_lines(&log, 3);
    assert!(new.iter().all(|line| line.contains("/after-")), "{new:#?}");
    let old = file_lines(&rotated);
    assert_eq!(old.len(), 4, "{old:#?}");
    assert!(old.iter().all(|line| line.contains("/before-")), "{old:#?}");

    // Again, without a rename: the same file goes on.
    usr1();
    wait_line(&stderr, "SIGUSR1: reopened 1 log file(s)");
    assert_eq!(get(bind, "/again").status, 200);
    wait_file_lines(&log, 4);
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "SIGUSR1 ended ringway"
    );

    // SAFETY: signals the child we started, by its id.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
}

/// A directory under the temporary directory, removed with what it holds on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = TempPath::new(name).0.clone();
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An rsyslogd of the test's own: a unix datagram socket and a UDP port as inputs, every
/// message written to `out` as `programname|procid|pri|msg`.
struct Rsyslogd {
    binary: PathBuf,
    config: PathBuf,
    pid_file: PathBuf,
    socket: PathBuf,
    out: PathBuf,
    port: u16,
    child: Option<Child>,
    /// How many times it started: the readiness probe of each start is its own.
    starts: u32,
}

impl Rsyslogd {
    fn new(binary: PathBuf, dir: &Path) -> Rsyslogd {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let socket = dir.join("log.sock");
        let out = dir.join("out.log");
        let config = dir.join("rsyslog.conf");
        std::fs::write(
            &config,
            format!(
                "global(workDirectory=\"{dir}\")\n\
                 module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
                 input(type=\"imuxsock\" Socket=\"{socket}\")\n\
                 module(load=\"imudp\")\n\
                 input(type=\"imudp\" address=\"127.0.0.1\" port=\"{port}\")\n\
                 template(name=\"t\" type=\"string\" string=\"%programname%|%procid%|%pri%|%msg%\\n\")\n\
                 *.* action(type=\"omfile\" file=\"{out}\" template=\"t\")\n",
                dir = dir.display(),
                socket = socket.display(),
                out = out.display(),
            ),
        )
        .unwrap();
        Rsyslogd {
            binary,
            pid_file: dir.join("rsyslogd.pid"),
            config,
            socket,
            out,
            port,
            child: None,
            starts: 0,
        }
    }

    /// Starts it and waits until both inputs take messages.
    fn start(&mut self) {
        let child = Command::new(&self.binary)
            .arg("-n")
            .arg("-f")
            .arg(&self.config)
            .arg("-i")
            .arg(&self.pid_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rsyslogd");
        self.child = Some(Child(child));
        wait_until("rsyslogd's socket", || self.socket.exists());
        self.starts += 1;
        let ready = format!("ready-{}", self.starts);
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        wait_until("rsyslogd reading its UDP port", || {
            let message = format!("<14>Jan  1 00:00:00 probe probe[1]: {ready}");
            let _ = probe.send_to(message.as_bytes(), ("127.0.0.1", self.port));
            std::fs::read_to_string(&self.out).is_ok_and(|text| text.contains(&ready))
        });
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signals the child we started, by its id.
            unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGTERM) };
            let _ = child.0.wait();
        }
        let _ = std::fs::remove_file(&self.socket);
    }

    /// Output lines `programname|procid|pri|msg` of the given program.
    fn lines_of(&self, program: &str) -> Vec<Vec<String>> {
        file_lines(&self.out)
            .into_iter()
            .filter(|line| line.starts_with(&format!("{program}|")))
            .map(|line| line.splitn(4, '|').map(|f| f.trim().to_string()).collect())
            .collect()
    }
}

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn rsyslogd_reads_the_access_lines_and_the_unix_socket_comes_back_after_a_restart() {
    let Some(binary) = tool("rsyslogd", "rsyslog") else {
        return;
    };
    let origin = origin();
    let dir = TempDir::new("rsyslog");
    let mut rsyslogd = Rsyslogd::new(binary, &dir.0);
    rsyslogd.start();
    let text = format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [[frontend]]\nname = \"local\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         access_log = {{ target = \"unix://{}\", tag = \"rw-local\" }}\n\
         [[frontend]]\nname = \"remote\"\nbind = [\"127.0.0.2:0\"]\ndefault_backend = \"app\"\n\
         access_log = {{ target = \"udp://127.0.0.1:{}\", tag = \"rw-remote\", rfc = \"5424\", facility = \"local1\" }}\n\
         [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n",
        rsyslogd.socket.display(),
        rsyslogd.port,
        origin.addr()
    );
    let proxy = proxy_from(&text);
    let local = proxy.frontend_addrs()[0][0];
    let remote = proxy.frontend_addrs()[1][0];
    for n in 0..3 {
        assert_eq!(get(local, &format!("/unix-{n}")).status, 200);
        assert_eq!(get(remote, &format!("/udp-{n}")).status, 200);
    }
    let pid = std::process::id().to_string();
    let mut lines = Vec::new();
    wait_until("3 lines through the unix socket", || {
        lines = rsyslogd.lines_of("rw-local");
        lines.len() >= 3
    });
    assert_eq!(lines.len(), 3, "{lines:#?}");
    for (n, fields) in lines.iter().enumerate() {
        assert_eq!(fields[1], pid, "{fields:?}");
        assert_eq!(
            fields[2],
            (16 * 8 + 6).to_string(),
            "local0.info: {fields:?}"
        );
        assert!(fields[3].starts_with("127.0.0.1:"), "{fields:?}");
        assert!(
            fields[3].contains(" local app/s1 ")
                && fields[3].contains(&format!("\"GET /unix-{n} HTTP/1.1\"")),
            "{fields:?}"
        );
    }
    wait_until("3 lines over UDP in RFC 5424", || {
        lines = rsyslogd.lines_of("rw-remote");
        lines.len() >= 3
    });
    assert_eq!(lines.len(), 3, "{lines:#?}");
    for (n, fields) in lines.iter().enumerate() {
        assert_eq!(fields[1], pid, "{fields:?}");
        assert_eq!(
            fields[2],
            (17 * 8 + 6).to_string(),
            "local1.info: {fields:?}"
        );
        assert!(
            fields[3].contains(&format!("\"GET /udp-{n} HTTP/1.1\"")),
            "{fields:?}"
        );
    }

    // rsyslogd restarts: its socket goes away and comes back; ringway connects again.
    rsyslogd.stop();
    rsyslogd.start();
    let mut n = 0;
    let deadline = Instant::now() + IO_TIMEOUT;
    while !rsyslogd
        .lines_of("rw-local")
        .iter()
        .any(|fields| fields[3].contains("/again-"))
    {
        assert!(
            Instant::now() < deadline,
            "no line after rsyslogd restarted"
        );
        assert_eq!(get(local, &format!("/again-{n}")).status, 200);
        n += 1;
        // Lines are flushed on the shard's control tick: look a few times before asking again.
        for _ in 0..50 {
            if file_lines(&rsyslogd.out)
                .iter()
                .any(|line| line.contains("/again-"))
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

#[test]
fn a_slow_or_missing_receiver_costs_dropped_lines_never_a_blocked_shard() {
    use std::os::unix::net::UnixDatagram;
    let origin = origin();
    let dir = TempDir::new("slow-syslog");
    let path = dir.0.join("never-read.sock");
    // Bound, never read: its queue fills and sends would block.
    let _receiver = UnixDatagram::bind(&path).unwrap();
    let proxy = proxy_logging(
        &format!("{{ target = \"unix://{}\" }}", path.display()),
        origin.addr(),
    );
    let dropped = || proxy.shared().counters[0].frontends[0].log_dropped.get();
    let mut client = Client::connect(frontend_addr(&proxy));
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut requests = 0;
    while dropped() == 0 {
        assert!(
            Instant::now() < deadline,
            "nothing dropped after {requests} requests"
        );
        assert_eq!(client.get("/fill").status, 200);
        requests += 1;
    }

    // A receiver that is gone: every line is dropped and counted; requests go on.
    drop(_receiver);
    std::fs::remove_file(&path).unwrap();
    let before = dropped();
    assert_eq!(client.get("/after").status, 200);
    wait_until("the line to the missing socket counted", || {
        dropped() > before
    });
}
