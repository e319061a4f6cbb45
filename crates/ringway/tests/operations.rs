//! Running in production (issue 15): readiness behind a load balancer (`/ready`, a frontend's
//! `monitor_uri`, `global.grace`), SIGQUIT as a graceful stop, systemd's notify protocol and
//! unit file, and the privilege drop. Real sockets on 127.0.0.1:0; every wait is on a
//! condition with a deadline.

mod common;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use support::{http_get, tool, Child, TempPath};

const RINGWAY: &str = env!("CARGO_BIN_EXE_ringway");

/// A proxy with the admin listener, `grace`, and `monitor_uri` on frontend `web`; frontend
/// `plain` has no monitor URI.
fn ops_proxy(origin: SocketAddr, grace: &str) -> ringway::Proxy {
    proxy_from(&format!(
        "[global]\nshards = 2\npin_shards = false\nadmin_listen = \"127.0.0.1:0\"\n\
         grace = \"{grace}\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         monitor_uri = \"/haproxy_status\"\n\
         [[frontend]]\nname = \"plain\"\nbind = [\"127.0.0.2:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{origin}\"\n"
    ))
}

fn refuses_connections(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err()
}

#[test]
fn ready_then_503_during_the_grace_while_requests_are_still_served() {
    let origin = origin();
    let proxy = ops_proxy(origin.addr(), "1h");
    let admin = proxy.admin_addr().expect("admin address");
    let web = proxy.frontend_addrs()[0][0];

    let ready = http_get(admin, "/ready");
    assert_eq!((ready.status, ready.body.as_str()), (200, "ready\n"));
    assert_eq!(get(web, "/haproxy_status").status, 200);
    assert_eq!(get(web, "/").status, 200);

    // A client that keeps its connection across the start of the stop.
    let mut kept = Client::connect(web);
    assert_eq!(kept.get("/").status, 200);

    let stopper = proxy.stopper();
    stopper.stop();
    let not_ready = http_get(admin, "/ready");
    assert_eq!(not_ready.status, 503);
    assert_eq!(not_ready.header("Cache-Control"), Some("no-store"));
    let monitor = get(web, "/haproxy_status");
    assert_eq!(monitor.status, 503);
    assert_eq!(monitor.header("connection"), Some("close"));
    // During the grace: new connections are accepted and served, kept ones too.
    assert_eq!(get(web, "/").status, 200);
    assert_eq!(kept.get("/").status, 200);
    assert_eq!(get(proxy.frontend_addrs()[1][0], "/").status, 200);
    assert!(
        !proxy.shared().is_stopping(),
        "the drain waits for the grace"
    );

    // A second stop request ends the grace: the proxy drains and stops.
    stopper.stop();
    wait_until("the listener to close", || refuses_connections(web));
    proxy.wait();
}

#[test]
fn the_grace_ends_by_itself_then_the_drain_lets_in_flight_requests_finish() {
    let origin = ringway_load::Origin::start(ringway_load::OriginConfig {
        delay: Duration::from_millis(300),
        ..Default::default()
    })
    .expect("origin");
    let proxy = ops_proxy(origin.addr(), "100ms");
    let admin = proxy.admin_addr().expect("admin address");
    let web = proxy.frontend_addrs()[0][0];
    let mut in_flight = Client::connect(web);
    in_flight.send_raw(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_until("the request to reach the origin", || {
        origin.open_connections() == 1
    });
    proxy.stopper().stop();
    assert_eq!(http_get(admin, "/ready").status, 503);
    wait_until("the grace to end", || proxy.shared().is_stopping());
    wait_until("the listener to close", || refuses_connections(web));
    let response = in_flight
        .read_response(false)
        .expect("the in-flight response");
    assert_eq!(response.status, 200);
    proxy.wait();
}

#[test]
fn monitor_uri_is_answered_by_the_proxy_and_never_forwarded() {
    let origin = origin();
    let proxy = ops_proxy(origin.addr(), "0s");
    let web = proxy.frontend_addrs()[0][0];
    let plain = proxy.frontend_addrs()[1][0];

    let mut client = Client::connect(web);
    let answer = client.get("/haproxy_status");
    assert_eq!(answer.status, 200);
    assert!(
        String::from_utf8_lossy(&answer.body).contains("Service ready."),
        "{answer:?}"
    );
    // The connection stays open: the next request on it is forwarded.
    assert_eq!(client.get("/").status, 200);
    client.send_raw(b"HEAD /haproxy_status HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = client.read_response(true).expect("a HEAD answer");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(origin.stats().requests, 1, "only GET / reached the origin");

    // Not the monitor URI: a query string, another path, another frontend.
    assert_eq!(get(web, "/haproxy_status?x=1").status, 200);
    assert_eq!(get(web, "/haproxy_statu").status, 200);
    assert_eq!(get(plain, "/haproxy_status").status, 200);
    assert_eq!(origin.stats().requests, 4);

    // Counted as frontend requests (five on web), never as server requests.
    wait_until("the counters", || {
        stat_num(&proxy, "web", "FRONTEND", "req_tot") == 5
            && stat_num(&proxy, "web", "FRONTEND", "hrsp_2xx") == 5
    });
    assert_eq!(stat_num(&proxy, "web", "FRONTEND", "intercepted"), 2);
    assert_eq!(stat_num(&proxy, "plain", "FRONTEND", "intercepted"), 0);
    assert_eq!(stat_num(&proxy, "app", "s1", "stot"), 4);

    // A monitor request with a body is answered, then the connection closes.
    let mut with_body = Client::connect(web);
    with_body.send_raw(b"POST /haproxy_status HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    let answer = with_body.read_response(false).expect("an answer");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(with_body.closed());
    assert_eq!(origin.stats().requests, 4);
    proxy.stop();
}

#[test]
fn monitor_requests_write_no_access_log_line() {
    let origin = origin();
    let log = TempPath::new("monitor-log");
    let proxy = proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         monitor_uri = \"/haproxy_status\"\naccess_log = {}\n\
         [[backend]]\nname = \"app\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n",
        log.toml(),
        origin.addr()
    ));
    let web = frontend_addr(&proxy);
    let mut client = Client::connect(web);
    assert_eq!(client.get("/haproxy_status").status, 200);
    assert_eq!(client.get("/logged").status, 200);
    drop(client);
    proxy.stop();
    let text = std::fs::read_to_string(log.path()).expect("the access log");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("\"GET /logged HTTP/1.1\""), "{text}");
}

// ---- the binary: signals, notify, privileges, systemd ----

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringway-ops-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_config(dir: &Path, global: &str, server: SocketAddr) -> PathBuf {
    let path = dir.join("ringway.toml");
    std::fs::write(
        &path,
        format!(
            "[global]\nshards = 2\npin_shards = false\n{global}\n\
             [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
             [[backend]]\nname = \"app\"\n\
             [[backend.server]]\nname = \"s1\"\naddress = \"{server}\"\n"
        ),
    )
    .unwrap();
    path
}

/// Starts `ringway run -c config`; returns the child and the frontend address once it listens,
/// with the later stderr lines on a channel.
fn start(config: &Path, envs: &[(&str, &str)]) -> (Child, SocketAddr, mpsc::Receiver<String>) {
    let mut child = Child(
        Command::new(RINGWAY)
            .args(["run", "-c", config.to_str().unwrap()])
            .envs(envs.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ringway"),
    );
    let stderr = child.0.stderr.take().unwrap();
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    loop {
        let line = lines
            .recv_timeout(IO_TIMEOUT)
            .expect("ringway says where it listens");
        if let Some(address) = line.split("listening on ").nth(1) {
            return (child, address.parse().expect("an address"), lines);
        }
    }
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: sends a signal to our own child.
    unsafe {
        libc::kill(child.0.id() as i32, signal);
    }
}

fn exit_code(mut child: Child) -> Option<i32> {
    child.0.wait().expect("wait").code()
}

#[test]
fn sigquit_drains_like_sigterm() {
    // An origin that holds its answer until the test says so.
    let origin = TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = temp_dir("sigquit");
    let config = write_config(&dir, "", origin.local_addr().unwrap());
    let (child, web, lines) = start(&config, &[]);

    let mut client = Client::connect(web);
    client.send_raw(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
    let (mut server, _) = origin.accept().unwrap();
    server.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(server.read(&mut byte).unwrap(), 1, "the request head");
        head.push(byte[0]);
    }

    signal(&child, libc::SIGQUIT);
    wait_until("the listener to close", || refuses_connections(web));
    let said = lines.recv_timeout(IO_TIMEOUT).expect("a stop line");
    assert!(said.contains("SIGQUIT: stopping"), "{said}");
    server
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
        .unwrap();
    let response = client.read_response(false).expect("the in-flight response");
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, &b"done"[..])
    );
    assert_eq!(exit_code(child), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Reads notifications until one contains `what`; returns it.
fn notification(socket: &UnixDatagram, what: &str) -> String {
    let mut buf = [0u8; 4096];
    loop {
        let read = socket
            .recv(&mut buf)
            .unwrap_or_else(|error| panic!("waiting for {what}: {error}"));
        let text = String::from_utf8_lossy(&buf[..read]).into_owned();
        if text.lines().any(|line| line == what) {
            return text;
        }
    }
}

#[test]
fn notify_socket_gets_ready_then_stopping() {
    let dir = temp_dir("notify");
    let path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let config = write_config(&dir, "grace = \"50ms\"", dead_addr());
    let (child, web, _lines) = start(&config, &[("NOTIFY_SOCKET", path.to_str().unwrap())]);

    let ready = notification(&socket, "READY=1");
    assert!(ready.contains("STATUS=serving"), "{ready}");
    // READY=1 comes once the proxy serves.
    assert!(TcpStream::connect(web).is_ok());
    signal(&child, libc::SIGTERM);
    let stopping = notification(&socket, "STOPPING=1");
    assert!(stopping.contains("STATUS=stopping"), "{stopping}");
    let draining = notification(
        &socket,
        "STATUS=draining: no new connections, in-flight requests finish",
    );
    assert!(!draining.contains("READY=1"));
    assert_eq!(exit_code(child), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn notify_socket_may_be_an_abstract_name() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("ringway-ops-notify-{}", std::process::id());
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let socket = UnixDatagram::bind_addr(&address).unwrap();
    socket.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let dir = temp_dir("notify-abstract");
    let config = write_config(&dir, "", dead_addr());
    let at_name = format!("@{name}");
    let (child, _web, _lines) = start(&config, &[("NOTIFY_SOCKET", at_name.as_str())]);
    notification(&socket, "READY=1");
    signal(&child, libc::SIGINT);
    notification(&socket, "STOPPING=1");
    assert_eq!(exit_code(child), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

fn is_root() -> bool {
    // SAFETY: a plain id getter.
    unsafe { libc::geteuid() == 0 }
}

/// `Uid:`, `Gid:` and `Groups:` of every thread of process `pid`.
fn thread_ids(pid: u32) -> Vec<(String, String, String)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/PID/task");
    tasks
        .map(|task| {
            let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix(name))
                    .map(|value| value.split_whitespace().collect::<Vec<_>>().join(" "))
                    .unwrap_or_default()
            };
            (field("Uid:"), field("Gid:"), field("Groups:"))
        })
        .collect()
}

#[test]
fn every_thread_runs_as_the_configured_user_once_ready() {
    if !is_root() {
        eprintln!("skipped: the privilege drop needs a test run as root");
        return;
    }
    let origin = origin();
    let dir = temp_dir("privileges");
    // Both directory and file must stay readable; the stats socket is made as root first.
    let socket = dir.join("stats.sock");
    let config = write_config(
        &dir,
        &format!(
            "user = \"nobody\"\ngroup = \"nogroup\"\nstats_socket = \"{}\"",
            socket.display()
        ),
        origin.addr(),
    );
    let notify = dir.join("notify.sock");
    let ready = UnixDatagram::bind(&notify).unwrap();
    // As systemd's own socket: the proxy sends READY=1 after the drop, as nobody.
    std::fs::set_permissions(&notify, std::fs::Permissions::from_mode(0o777)).unwrap();
    ready.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let (child, web, _lines) = start(&config, &[("NOTIFY_SOCKET", notify.to_str().unwrap())]);
    notification(&ready, "READY=1");
    let threads = thread_ids(child.0.id());
    assert!(threads.len() >= 3, "main, the shards and more: {threads:?}");
    for (uid, gid, groups) in &threads {
        assert_eq!(uid, "65534 65534 65534 65534", "{threads:?}");
        assert_eq!(gid, "65534 65534 65534 65534", "{threads:?}");
        assert_eq!(groups, "", "{threads:?}");
    }
    // It still serves, and the stats socket still answers.
    assert_eq!(get(web, "/").status, 200);
    let info = support::socket_command(&socket, "show info");
    assert!(info.contains("Nbthread: 2"), "{info}");
    signal(&child, libc::SIGTERM);
    assert_eq!(exit_code(child), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_accounts_fail_check_and_run_with_one_line() {
    let dir = temp_dir("no-such-user");
    let config = write_config(&dir, "user = \"no-such-user-rw\"", dead_addr());
    for command in ["check", "run"] {
        let output = Command::new(RINGWAY)
            .args([command, "-c", config.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{command}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr.trim(),
            "ringway: global.user/global.group: unknown user \"no-such-user-rw\"",
            "{command}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_drop_exits_2_with_one_line() {
    if !is_root() {
        eprintln!("skipped: needs root to start a child as nobody");
        return;
    }
    let dir = temp_dir("drop-fails");
    // World-readable, so that the child running as nobody reads its configuration.
    let config = write_config(&dir, "user = \"root\"", dead_addr());
    let mut command = Command::new(RINGWAY);
    command.args(["run", "-c", config.to_str().unwrap()]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("ringway: cannot drop privileges to uid 0 gid 0: setgroups: "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    let Some(analyze) = tool("systemd-analyze", "systemd") else {
        return;
    };
    let unit = std::fs::read_to_string(repo_file("config/systemd/ringway.service")).unwrap();
    for line in [
        "Type=notify",
        "ExecStart=/usr/local/bin/ringway run -c /etc/ringway/ringway.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillSignal=SIGTERM",
        "LimitMEMLOCK=infinity",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "RuntimeDirectory=ringway",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit has {line}");
    }
    // verify checks that ExecStart's binary exists: point a copy at the built one.
    let dir = temp_dir("systemd");
    let copy = dir.join("ringway.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/ringway", RINGWAY)).unwrap();
    let output = Command::new(analyze)
        .arg("verify")
        .arg(&copy)
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let about_the_unit: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("ringway.service"))
        .collect();
    assert!(about_the_unit.is_empty(), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
