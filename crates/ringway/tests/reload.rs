//! Reload without drops (issue 15): a new generation starts on the listening sockets of the
//! running one, requests in flight finish on the old one, idle server connections to unchanged
//! servers move over, and an invalid configuration leaves the running one serving.

mod common;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ringway::Proxy;
use support::TempPath;

/// A configuration with one frontend on 127.0.0.1:0 and backend `app` with server `s1` at
/// `origin`; `extra` goes into the server's table.
fn text(origin: SocketAddr, shards: usize, extra: &str) -> String {
    format!(
        "[global]\nshards = {shards}\npin_shards = false\n\
         [defaults]\ntimeout_connect = \"2s\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\nhttp_reuse = \"always\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{origin}\"\n{extra}\n"
    )
}

fn config(text: &str) -> ringway_config::Config {
    ringway_config::parse(text, "test.toml").unwrap_or_else(|errors| panic!("{errors}"))
}

#[test]
fn a_reload_sends_new_requests_to_the_new_configuration_on_the_same_socket() {
    let (first, second) = (origin(), origin());
    let proxy = proxy_from(&text(first.addr(), 2, ""));
    let addr = frontend_addr(&proxy);
    let mut kept = Client::connect(addr);
    assert_eq!(kept.get("/").status, 200);
    assert_eq!(first.stats().requests, 1);

    let summary = proxy
        .reload(config(&text(second.addr(), 2, "")))
        .expect("reloaded");
    assert!(summary.contains("generation 2 serving"), "{summary}");
    assert_eq!(frontend_addr(&proxy), addr, "the same listening socket");
    assert_eq!(get(addr, "/").status, 200);
    assert_eq!(
        second.stats().requests,
        1,
        "a new connection meets the new server"
    );

    // The connection opened before the reload gets its next answer from the old generation,
    // which tells it to close; the client then reconnects to the new one.
    let answer = kept.get("/");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("connection"), Some("close"));
    assert_eq!(first.stats().requests, 2);
}

#[test]
fn an_invalid_configuration_leaves_the_running_one_serving() {
    let origin = origin();
    let file = TempPath::new("reload.toml");
    std::fs::write(file.path(), text(origin.addr(), 1, "")).unwrap();
    let proxy = Proxy::start(ringway_config::load(file.path()).unwrap()).expect("starts");
    proxy.set_config_path(file.path().to_path_buf());
    let addr = frontend_addr(&proxy);

    std::fs::write(file.path(), text(origin.addr(), 1, "maxconn = \"lots\"")).unwrap();
    let reply = proxy.command("reload");
    assert!(reply.starts_with("Reload failed"), "{reply}");
    assert!(reply.contains("reload.toml:"), "file:line:column: {reply}");
    assert!(reply.contains("maxconn"), "{reply}");
    assert_eq!(get(addr, "/").status, 200, "still serving");
    assert!(proxy.command("show info").contains("Uptime_sec"));

    std::fs::write(file.path(), text(origin.addr(), 1, "maxconn = 10")).unwrap();
    let reply = proxy.command("reload");
    assert!(reply.starts_with("OK\n"), "{reply}");
    assert_eq!(get(addr, "/").status, 200);
}

#[test]
fn idle_connections_to_an_unchanged_server_move_to_the_new_generation() {
    let origin = origin();
    let proxy = proxy_from(&text(origin.addr(), 1, ""));
    let addr = frontend_addr(&proxy);
    let mut client = Client::connect(addr);
    assert_eq!(client.get("/").status, 200);
    drop(client);
    wait_until("the connection is pooled", || {
        stat_num(&proxy, "app", "s1", "idle_conn_cur") == 1
    });

    // Pool settings change; the server's address and TLS do not.
    proxy
        .reload(config(&text(
            origin.addr(),
            1,
            "pool_purge_delay = \"30s\"",
        )))
        .expect("reloaded");
    wait_until("the new generation adopts it", || {
        stat_num(&proxy, "app", "s1", "idle_conn_cur") == 1
    });
    let answer = get(addr, "/");
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.origin_conn_req(),
        2,
        "the connection opened before the reload"
    );
    assert_eq!(
        stat_num(&proxy, "app", "s1", "connect"),
        0,
        "no new connection"
    );
    assert_eq!(origin.stats().accepted, 1);
}

#[test]
fn idle_connections_to_a_changed_server_are_not_moved() {
    let (first, second) = (origin(), origin());
    let proxy = proxy_from(&text(first.addr(), 1, ""));
    let addr = frontend_addr(&proxy);
    assert_eq!(get(addr, "/").status, 200);
    wait_until("the connection is pooled", || {
        stat_num(&proxy, "app", "s1", "idle_conn_cur") == 1
    });
    proxy
        .reload(config(&text(second.addr(), 1, "")))
        .expect("reloaded");
    assert_eq!(get(addr, "/").status, 200);
    assert_eq!(second.stats().requests, 1);
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 1);
    wait_until("the old connection closes", || first.stats().open == 0);
}

#[test]
fn a_request_in_flight_finishes_on_the_old_generation() {
    let (first, second) = (origin(), origin());
    let proxy = proxy_from(&text(first.addr(), 1, ""));
    let addr = frontend_addr(&proxy);
    let mut slow = Client::connect(addr);
    slow.send_raw(b"GET /?delay=300 HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_until("the slow request reaches the origin", || {
        first.stats().requests == 1
    });
    proxy
        .reload(config(&text(second.addr(), 1, "")))
        .expect("reloaded");
    let answer = slow.read_response(false).expect("the slow answer");
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("connection"),
        Some("close"),
        "the old generation is leaving"
    );
    assert_eq!(get(addr, "/").status, 200);
    assert_eq!(second.stats().requests, 1);
}

/// Clients that keep sending (keep-alive ones reconnecting when told to close, and one
/// connection per request ones) through ten reloads: every request is answered.
#[test]
fn ten_reloads_under_load_lose_no_request() {
    let origin = origin();
    let proxy = proxy_from(&text(origin.addr(), 2, ""));
    let addr = frontend_addr(&proxy);
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let clients: Vec<_> = (0..6)
        .map(|index| {
            let (stop, done, failed) = (stop.clone(), done.clone(), failed.clone());
            std::thread::spawn(move || load(addr, index % 2 == 0, &stop, &done, &failed))
        })
        .collect();
    for round in 0..10 {
        let before = done.load(Relaxed);
        wait_until("requests flow", || done.load(Relaxed) >= before + 20);
        let extra = format!("pool_purge_delay = \"{}s\"", round + 2);
        proxy
            .reload(config(&text(origin.addr(), 2, &extra)))
            .expect("reloaded");
    }
    let before = done.load(Relaxed);
    wait_until("requests flow after the last reload", || {
        done.load(Relaxed) >= before + 20
    });
    stop.store(true, Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    assert_eq!(
        failed.load(Relaxed),
        0,
        "of {} requests",
        done.load(Relaxed)
    );
}

/// Sends requests until `stop`, counting answered and failed ones.
fn load(
    addr: SocketAddr,
    keep_alive: bool,
    stop: &AtomicBool,
    done: &AtomicU64,
    failed: &AtomicU64,
) {
    let mut conn: Option<TcpStream> = None;
    while !stop.load(Relaxed) {
        let stream = match conn.take() {
            Some(stream) => stream,
            None => match TcpStream::connect(addr) {
                Ok(stream) => stream,
                Err(_) => {
                    failed.fetch_add(1, Relaxed);
                    continue;
                }
            },
        };
        let close = if keep_alive {
            ""
        } else {
            "Connection: close\r\n"
        };
        match exchange(&stream, close) {
            Some(reusable) => {
                done.fetch_add(1, Relaxed);
                if reusable && keep_alive {
                    conn = Some(stream);
                }
            }
            None => {
                failed.fetch_add(1, Relaxed);
            }
        }
    }
}

/// One request and its whole answer; `Some(reusable)` when a 200 came.
fn exchange(mut stream: &TcpStream, close: &str) -> Option<bool> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!("GET /?body=10 HTTP/1.1\r\nHost: x\r\n{close}\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk).ok()?;
        if read == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..read]);
        // The origin's answer to ?body=10 is a head with Content-Length: 10, then 10 bytes.
        if let Some(end) = buf.windows(4).position(|window| window == b"\r\n\r\n") {
            if buf.len() >= end + 4 + 10 {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                return head
                    .starts_with("http/1.1 200")
                    .then(|| !head.contains("connection: close"));
            }
        }
    }
}

#[test]
fn sighup_reloads_the_binary_and_a_bad_file_is_refused() {
    let (first, second) = (origin(), origin());
    let file = TempPath::new("sighup.toml");
    std::fs::write(file.path(), text(first.addr(), 1, "")).unwrap();
    let (mut child, mut stderr, addr) = support::run_listening(file.path());
    assert_eq!(get(addr, "/").status, 200);
    assert_eq!(first.stats().requests, 1);

    std::fs::write(file.path(), "[global\n").unwrap();
    signal(&child, libc::SIGHUP);
    let line = support::stderr_line(&mut stderr, "reload failed");
    assert!(line.contains("the running configuration is kept"), "{line}");
    assert_eq!(get(addr, "/").status, 200);
    assert_eq!(first.stats().requests, 2, "still the first configuration");

    std::fs::write(file.path(), text(second.addr(), 1, "")).unwrap();
    signal(&child, libc::SIGHUP);
    support::stderr_line(&mut stderr, "reloaded");
    assert_eq!(get(addr, "/").status, 200);
    assert_eq!(second.stats().requests, 1, "the file's new server");

    signal(&child, libc::SIGTERM);
    assert!(child.wait().unwrap().success());
}

fn signal(child: &std::process::Child, signal: i32) {
    // SAFETY: sends a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
}
