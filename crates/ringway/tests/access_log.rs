//! The access log: one line per request in HAProxy's httplog layout, then whether the server
//! connection was reused, the shard and the session; written to a file (flushed by the shard's
//! control tick), to stderr by the binary, and error requests with their termination state
//! (`K` for a session ended by `shutdown session`).

mod common;
mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use common::*;
use support::*;

fn logging_proxy(log: &TempPath, defaults: &str, server: SocketAddr) -> ringway::Proxy {
    proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\n[defaults]\ntimeout_connect = \"2s\"\n{defaults}\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         access_log = {}\n\
         [[backend]]\nname = \"app\"\nhttp_reuse = \"safe\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{server}\"\n",
        log.toml()
    ))
}

fn read_lines(log: &TempPath) -> Vec<String> {
    std::fs::read_to_string(log.path())
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits until the log holds `count` lines and returns them.
fn wait_lines(log: &TempPath, count: usize) -> Vec<String> {
    let mut lines = Vec::new();
    wait_until(&format!("{count} log lines"), || {
        lines = read_lines(log);
        lines.len() >= count
    });
    assert_eq!(lines.len(), count, "{lines:#?}");
    lines
}

/// A line's fields split HAProxy-style: the quoted request stays one field.
fn fields(line: &str) -> Vec<String> {
    let (before, rest) = line.split_once(" \"").expect("a quoted request");
    let (request, after) = rest.split_once("\" ").expect("the request's closing quote");
    let mut out: Vec<String> = before.split(' ').map(str::to_string).collect();
    out.push(request.to_string());
    out.extend(after.split(' ').map(str::to_string));
    out
}

#[test]
fn one_line_per_request_with_timings_reuse_and_shard() {
    let origin = origin();
    let log = TempPath::new("access.log");
    let proxy = logging_proxy(&log, "", origin.addr());
    let mut client = Client::connect(frontend_addr(&proxy));
    let peer = client.stream().local_addr().unwrap();
    assert_eq!(client.get("/a").status, 200);
    assert_eq!(client.get("/b?x=1").status, 200);
    client.send_raw(b"HEAD /c HTTP/1.0\r\n\r\n");
    assert_eq!(client.read_response(true).unwrap().status, 200);

    let lines = wait_lines(&log, 3);
    let requests = ["GET /a HTTP/1.1", "GET /b?x=1 HTTP/1.1", "HEAD /c HTTP/1.0"];
    for (index, (line, request)) in lines.iter().zip(requests).enumerate() {
        let f = fields(line);
        assert_eq!(f.len(), 17, "{line}");
        assert_eq!(f[0], peer.to_string());
        assert!(
            f[1].starts_with('[') && f[1].ends_with(']') && f[1].len() == 26,
            "{line}"
        );
        assert_eq!((f[2].as_str(), f[3].as_str()), ("web", "app/s1"));
        let timings: Vec<i64> = f[4].split('/').map(|t| t.parse().unwrap()).collect();
        assert_eq!(timings.len(), 5, "{line}");
        assert!(
            timings.iter().all(|&t| t >= 0),
            "every phase happened: {line}"
        );
        assert!(timings[4] >= timings[3], "Ta covers Tr: {line}");
        assert_eq!(f[5], "200");
        assert!(f[6].parse::<u64>().unwrap() > 0, "bytes: {line}");
        // No captured cookies, a normal end, one client connection open (process and
        // frontend), the request no longer counted on the backend and server, no retry, no
        // queue; no captured headers, so nothing between the queues and the request.
        let expected = ["-", "-", "----", "1/1/0/0/0", "0/0"];
        assert_eq!(f[7..12], expected, "{line}");
        assert_eq!(f[12], request);
        let reused = if index == 0 { "reused=0" } else { "reused=1" };
        assert_eq!(
            (f[13].as_str(), f[14].as_str()),
            (reused, "shard=0"),
            "{line}"
        );
        assert!(f[15].starts_with("conn=0x"), "{line}");
        assert_eq!(f[16], "proto=h1/h1", "{line}");
    }
}

#[test]
fn errors_carry_their_termination_state() {
    let origin = origin();
    let log = TempPath::new("access.log");
    let proxy = logging_proxy(&log, "timeout_server = \"200ms\"", origin.addr());
    let addr = frontend_addr(&proxy);
    assert_eq!(get(addr, "/?delay=5000").status, 504);
    // A line is written when its session ends (after the lingering close), so the second
    // request waits for the first line to keep their order.
    wait_lines(&log, 1);
    let bad = raw(addr, b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n").expect("answer");
    assert_eq!(bad.status, 400);
    let lines = wait_lines(&log, 2);
    let timeout = fields(&lines[0]);
    assert_eq!(
        (
            timeout[3].as_str(),
            timeout[5].as_str(),
            timeout[9].as_str()
        ),
        ("app/s1", "504", "sH--"),
        "{lines:?}"
    );
    assert_eq!(
        timeout[4].split('/').nth(3),
        Some("-1"),
        "no response head: Tr = -1"
    );
    let bad = fields(&lines[1]);
    assert_eq!(
        (
            bad[3].as_str(),
            bad[5].as_str(),
            bad[9].as_str(),
            bad[12].as_str()
        ),
        ("web/<NOSRV>", "400", "PR--", "<BADREQ>"),
        "{lines:?}"
    );

    let dead = dead_addr();
    let log = TempPath::new("access.log");
    let proxy = logging_proxy(&log, "retries = 0", dead);
    assert_eq!(get(frontend_addr(&proxy), "/gone").status, 503);
    let line = &wait_lines(&log, 1)[0];
    let f = fields(line);
    assert_eq!(
        (f[3].as_str(), f[5].as_str(), f[9].as_str(), f[12].as_str()),
        ("app/s1", "503", "SC--", "GET /gone HTTP/1.1"),
        "{line}"
    );
}

/// A session that makes no request to a server (a malformed head) on a shard whose control
/// tick sleeps gets its line written at once: the first line in a buffer wakes the tick.
#[test]
fn a_bad_request_to_an_idle_shard_is_logged_at_once() {
    let origin = origin();
    let log = TempPath::new("access.log");
    let proxy = logging_proxy(&log, "", origin.addr());
    wait_until("the shard asleep", || idle_pct(&proxy) == 100);
    let addr = frontend_addr(&proxy);
    let bad = raw(addr, b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n").expect("answer");
    assert_eq!(bad.status, 400);
    let line = &wait_lines(&log, 1)[0];
    assert_eq!(fields(line)[5], "400", "{line}");
}

#[test]
fn a_killed_session_is_logged_with_k_and_no_status() {
    let origin = origin();
    let log = TempPath::new("access.log");
    let proxy = logging_proxy(&log, "", origin.addr());
    let mut busy = Client::connect(frontend_addr(&proxy));
    // The origin holds the response far longer than the test waits for anything.
    busy.send_raw(b"GET /?delay=600000 HTTP/1.1\r\nHost: test\r\n\r\n");
    let peer = busy.stream().local_addr().unwrap();
    let mut id = String::new();
    wait_until("the request to show in show sess", || {
        let sessions = proxy.command("show sess");
        let line = sessions
            .lines()
            .find(|line| line.contains(&format!(" src={peer} ")) && line.contains("state=busy"));
        if let Some(line) = line {
            id = line.split(':').next().unwrap_or_default().to_string();
        }
        !id.is_empty()
    });
    assert_eq!(proxy.command(&format!("shutdown session {id}")), "\n");
    assert!(
        busy.read_response(false).is_none(),
        "closed without a response"
    );
    let line = &wait_lines(&log, 1)[0];
    let f = fields(line);
    // Killed while waiting for the response head; nothing was sent.
    assert_eq!(
        (f[3].as_str(), f[5].as_str(), f[9].as_str()),
        ("app/s1", "-1", "KH--"),
        "{line}"
    );
    let csv = proxy.command("show stat");
    let frontend = csv
        .lines()
        .find(|l| l.starts_with("web,FRONTEND,"))
        .unwrap();
    let backend = csv.lines().find(|l| l.starts_with("app,BACKEND,")).unwrap();
    // hrsp_5xx is the 44th column: no 502 was counted for the killed request.
    assert_eq!(frontend.split(',').nth(43), Some("0"), "{frontend}");
    assert_eq!(backend.split(',').nth(43), Some("0"), "{backend}");
}

#[test]
fn a_log_file_that_cannot_be_opened_stops_the_start() {
    let config = ringway_config::parse(
        "[global]\nshards = 1\npin_shards = false\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         access_log = \"/nonexistent-dir-for-ringway/access.log\"\n\
         [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"s1\"\naddress = \"127.0.0.1:9\"\n",
        "test.toml",
    )
    .expect("valid config");
    let error = ringway::Proxy::start(config).err().expect("start fails");
    let message = error.to_string();
    assert!(
        message.starts_with("access log of frontend web: /nonexistent-dir-for-ringway/access.log:"),
        "{message}"
    );
}

#[test]
fn the_binary_logs_to_stderr() {
    let origin = origin();
    let config = TempPath::new("stderr-log.toml");
    let bind = free_local_addr();
    std::fs::write(
        config.path(),
        format!(
            "[global]\nshards = 1\npin_shards = false\n\
             [[frontend]]\nname = \"web\"\nbind = [\"{bind}\"]\ndefault_backend = \"app\"\n\
             access_log = \"stderr\"\n\
             [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n",
            origin.addr()
        ),
    )
    .unwrap();
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_ringway"))
            .arg("run")
            .arg("-c")
            .arg(config.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run ringway"),
    );
    let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "ringway exited");
    }
    assert_eq!(get(bind, "/from-the-binary").status, 200);
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "no access log line"
        );
        if line.contains("\"GET /from-the-binary HTTP/1.1\"") {
            break;
        }
    }
    assert!(line.contains(" web app/s1 "), "{line}");
    assert!(line.contains("\" reused=0 shard=0 conn=0x"), "{line}");
}
