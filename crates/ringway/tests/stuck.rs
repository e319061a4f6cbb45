//! Seed 003, stuck sessions, over real sockets: the `/stats` page and `/stats.json` list the
//! requests in progress past `?stuck=` (an origin holding a request), never an idle keep-alive
//! client; `timeout_client_fin` ends a half-closed client's wait for a silent server, and the
//! fin timeouts end a half-closed tunnel; `tcp_keepalive` arms the kernel's keepalive timer on
//! the proxy's client and server sockets, read from `/proc/net/tcp`.

mod common;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread;

use common::*;
use serde_json::Value;
use support::*;

/// The id of the `show sess` line whose `src=` is `peer` (listing idle sessions too).
fn session_of(proxy: &ringway::Proxy, peer: SocketAddr) -> Option<(String, String)> {
    let sessions = proxy.command("show sess all");
    let line = sessions
        .lines()
        .find(|line| line.contains(&format!("src={peer} ")))?;
    let id = line.split(':').next()?.to_string();
    Some((id, line.to_string()))
}

#[test]
fn a_held_request_is_stuck_on_stats_and_an_idle_client_is_not() {
    let origin = origin();
    let proxy = proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\nadmin_listen = \"127.0.0.1:0\"\n\
         [defaults]\ntimeout_server = \"60s\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n",
        origin.addr()
    ));
    let (addr, admin) = (frontend_addr(&proxy), proxy.admin_addr().expect("admin"));
    let mut idle = Client::connect(addr);
    assert_eq!(idle.get("/").status, 200);
    let idle_peer = idle.stream().local_addr().unwrap();
    let mut held = Client::connect(addr);
    held.send_raw(b"GET /?delay=600000 HTTP/1.1\r\nHost: t\r\n\r\n");
    let held_peer = held.stream().local_addr().unwrap();
    wait_until("the held request to be in progress", || {
        session_of(&proxy, held_peer).is_some_and(|(_, line)| line.contains("state=busy"))
    });
    let (held_id, _) = session_of(&proxy, held_peer).unwrap();
    assert!(session_of(&proxy, idle_peer).is_some_and(|(_, line)| line.contains("state=idle")));

    // Both sessions grow older than the threshold; only the request in progress is stuck.
    let mut json = Value::Null;
    wait_until("the held request to pass 50 ms", || {
        json = serde_json::from_str(&http_get(admin, "/stats.json?stuck=50ms").body).unwrap();
        json["stuck"]
            .as_array()
            .is_some_and(|stuck| !stuck.is_empty())
    });
    assert_eq!(json["stuck_threshold_ms"], 50);
    let stuck = json["stuck"].as_array().unwrap();
    assert_eq!(stuck.len(), 1, "{stuck:?}");
    assert_eq!(stuck[0]["id"], held_id.as_str());
    assert_eq!(stuck[0]["client"], held_peer.to_string());
    assert_eq!(
        (
            &stuck[0]["backend"],
            &stuck[0]["server"],
            &stuck[0]["state"]
        ),
        (
            &Value::from("app"),
            &Value::from("s1"),
            &Value::from("busy")
        )
    );
    assert!(stuck[0]["age_ms"].as_u64().unwrap() >= 50);

    let page = http_get(admin, "/stats?stuck=50ms");
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("<tr><td class=l>app/s1</td><td class=big>1</td>"),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!(
        "<td class=l>{held_id}</td><td class=l>{held_peer}</td>"
    )));
    assert!(
        !page.body.contains(&idle_peer.to_string()),
        "an idle client is not stuck"
    );

    // The default threshold (10 s) is not reached yet; a bad one is refused.
    let page = http_get(admin, "/stats");
    assert!(page.body.contains("in progress for 10.0 s or more"));
    assert!(!page.body.contains(&held_peer.to_string()));
    let bad = http_get(admin, "/stats.json?stuck=soon");
    assert_eq!(bad.status, 400);
    assert!(bad.body.starts_with("bad stuck threshold:"), "{}", bad.body);

    assert_eq!(proxy.command(&format!("shutdown session {held_id}")), "\n");
    assert!(held.closed());
}

#[test]
fn a_half_closed_client_is_not_waited_for_past_timeout_client_fin() {
    let origin = origin();
    let log = TempPath::new("stuck-access.log");
    let proxy = proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [defaults]\ntimeout_client = \"30s\"\ntimeout_server = \"30s\"\n\
         timeout_client_fin = \"200ms\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         access_log = {}\n\
         [[backend]]\nname = \"app\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n",
        log.toml(),
        origin.addr()
    ));
    let addr = frontend_addr(&proxy);
    let mut waiting = Client::connect(addr);
    waiting.send_raw(b"GET /?delay=600000 HTTP/1.1\r\nHost: t\r\n\r\n");
    let waiting_peer = waiting.stream().local_addr().unwrap();
    let mut half_closed = Client::connect(addr);
    half_closed.send_raw(b"GET /?delay=600000 HTTP/1.1\r\nHost: t\r\n\r\n");
    half_closed.shutdown_write();
    // Closed without an answer, long before timeout_server (the client reads for at most
    // IO_TIMEOUT, 20 s).
    assert!(half_closed.closed(), "the half-closed client is let go");
    // The client that did not half-close still waits for its answer.
    let (id, line) = session_of(&proxy, waiting_peer).expect("still listed");
    assert!(line.contains("state=busy"), "{line}");
    // Logged as a client-side timeout while waiting for the response, with no status (nothing
    // was sent); not the server's error.
    let mut logged = String::new();
    wait_until("the half-closed request's log line", || {
        logged = std::fs::read_to_string(log.path()).unwrap_or_default();
        !logged.is_empty()
    });
    assert!(logged.contains(" -1 0 - - cH-- "), "{logged}");
    assert_eq!(stat_num(&proxy, "app", "s1", "eresp"), 0);
    assert_eq!(proxy.command(&format!("shutdown session {id}")), "\n");
    assert!(waiting.closed());
}

/// A server that reads one request head, writes `answer` and then stays silent with the
/// connection open until `hold` is dropped.
fn holding_server(answer: &'static [u8], hold: mpsc::Receiver<()>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        let _ = stream.write_all(answer);
        let _ = hold.recv();
        drop(stream);
    });
    addr
}

#[test]
fn a_half_closed_client_is_let_go_when_the_response_body_stalls() {
    let (hold_tx, hold_rx) = mpsc::channel::<()>();
    let server = holding_server(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", hold_rx);
    let proxy = proxy_with_defaults(
        "",
        "timeout_client = \"30s\"\ntimeout_server = \"30s\"\ntimeout_client_fin = \"200ms\"",
        &one_server("safe", ""),
        server,
    );
    let mut client = Client::connect(frontend_addr(&proxy));
    client.send_raw(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    client.shutdown_write();
    assert!(
        client.read_until(b"abc").is_some(),
        "the head and first bytes"
    );
    // The rest of the body never comes: the half-closed client is let go long before
    // timeout_server (the client reads for at most IO_TIMEOUT, 20 s).
    assert!(client.closed());
    assert_eq!(stat_num(&proxy, "app", "s1", "cli_abrt"), 1);
    drop(hold_tx);
}

/// A server that answers an upgrade with 101, reports the proxy's FIN on `fin`, then writes
/// `late` and stays silent with the connection open until `hold` is dropped.
fn upgrading_server(fin: mpsc::Sender<()>, hold: mpsc::Receiver<()>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        let _ = stream.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: raw\r\nConnection: upgrade\r\n\r\n",
        );
        if matches!(stream.read(&mut byte), Ok(0)) {
            let _ = fin.send(());
            let _ = stream.write_all(b"late\n");
        }
        let _ = hold.recv();
        drop(stream);
    });
    addr
}

#[test]
fn a_half_closed_tunnel_passes_the_fin_on_and_ends_after_the_fin_timeouts() {
    let (fin_tx, fin_rx) = mpsc::channel();
    let (hold_tx, hold_rx) = mpsc::channel::<()>();
    let server = upgrading_server(fin_tx, hold_rx);
    let proxy = proxy_with_defaults(
        "",
        "timeout_tunnel = \"30s\"\ntimeout_client_fin = \"200ms\"\ntimeout_server_fin = \"200ms\"",
        &one_server("safe", ""),
        server,
    );
    let mut client = Client::connect(frontend_addr(&proxy));
    client.send_raw(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: raw\r\nConnection: upgrade\r\n\r\n");
    assert_eq!(client.read_response(false).expect("a 101").status, 101);
    client.shutdown_write();
    fin_rx
        .recv_timeout(IO_TIMEOUT)
        .expect("the client's FIN reaches the server");
    assert!(
        client.read_until(b"late\n").is_some(),
        "the server's direction goes on after the client's FIN"
    );
    // The server stays silent and open: the tunnel ends after the fin timeouts, not after
    // timeout_tunnel (the client reads for at most IO_TIMEOUT, 20 s).
    assert!(client.closed());
    drop(hold_tx);
}

/// `/proc/net/tcp`'s address form: the IPv4 address as the kernel's u32 and the port, in hex.
fn proc_addr(addr: SocketAddr) -> String {
    let SocketAddr::V4(v4) = addr else {
        panic!("IPv4 only")
    };
    format!(
        "{:08X}:{:04X}",
        u32::from_ne_bytes(v4.ip().octets()),
        v4.port()
    )
}

/// The `timer_active` and `expires` (in USER_HZ ticks) of each established socket of this
/// network namespace whose remote address is `remote`.
fn timers(remote: SocketAddr) -> Vec<(u32, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let wanted = proc_addr(remote);
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(2) != Some(&wanted.as_str()) || fields.get(3) != Some(&"01") {
                return None;
            }
            let (active, when) = fields.get(5)?.split_once(':')?;
            Some((
                u32::from_str_radix(active, 16).ok()?,
                u64::from_str_radix(when, 16).ok()?,
            ))
        })
        .collect()
}

#[test]
fn tcp_keepalive_arms_the_keepalive_timer_on_the_proxy_sockets() {
    let origin = origin();
    let proxy = proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [defaults]\ntcp_keepalive = {{ server = true, idle = \"77s\" }}\n\
         [[frontend]]\nname = \"on\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         tcp_keepalive = {{ client = true }}\n\
         [[frontend]]\nname = \"off\"\nbind = [\"127.0.0.2:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\nhttp_reuse = \"always\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n",
        origin.addr()
    ));
    let addrs = proxy.frontend_addrs();
    let mut on = Client::connect(addrs[0][0]);
    let mut off = Client::connect(addrs[1][0]);
    assert_eq!(on.get("/").status, 200);
    assert_eq!(off.get("/").status, 200);
    // The proxy's socket of a client is the one whose remote address is the client's.
    let proxy_side = |client: &mut Client| timers(client.stream().local_addr().unwrap());
    // Timer 2 is the keepalive timer; its expiry (USER_HZ = 100 ticks a second) is within the 77 s idle.
    wait_until("the keepalive timer on the client socket", || {
        let timer = proxy_side(&mut on);
        timer.len() == 1 && timer[0].0 == 2 && (7_000..=7_700).contains(&timer[0].1)
    });
    let off_timer = proxy_side(&mut off);
    assert_eq!(off_timer.len(), 1);
    assert_eq!(off_timer[0].0, 0, "no keepalive where it is off");
    // The proxy's connections to the origin (remote = the origin).
    wait_until("the keepalive timer on the server sockets", || {
        let server_side = timers(origin.addr());
        !server_side.is_empty()
            && server_side
                .iter()
                .all(|&(active, when)| active == 2 && (7_000..=7_700).contains(&when))
    });
}
