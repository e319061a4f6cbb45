//! The `Connection: close` client path: server connections the proxy drops after a complete
//! response are reset, leaving no TIME_WAIT on the proxy's own ports, and `defer_accept`
//! keeps silent client connections away from the proxy.

mod common;

use std::net::{SocketAddr, TcpStream};

use common::*;
use ringway::Proxy;

/// TCP states in `/proc/net/tcp` (include/net/tcp_states.h).
const TIME_WAIT: &str = "06";

/// The state of every IPv4 TCP socket from a port other than `port` to `port`: the proxy's
/// side of its connections to a server listening there (not the server's side).
fn towards(port: u16) -> Vec<String> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let port_of = |address: &str| {
        address
            .rsplit_once(':')
            .and_then(|(_, port)| u16::from_str_radix(port, 16).ok())
    };
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, remote, state) = (fields.get(1)?, fields.get(2)?, fields.get(3)?);
            (port_of(remote) == Some(port) && port_of(local) != Some(port))
                .then(|| state.to_string())
        })
        .collect()
}

/// An origin on a port towards which no socket is left: TIME_WAIT lasts a minute, and a port
/// that an earlier test's listener held (a frontend whose clients closed first) may be handed
/// out again, its TIME_WAIT sockets with it, which would be counted as the proxy's.
fn origin_on_a_fresh_port() -> ringway_load::Origin {
    loop {
        let origin = origin();
        if towards(origin.addr().port()).is_empty() {
            return origin;
        }
    }
}

/// Sends `count` `Connection: close` requests through the proxy, one client connection each,
/// waits until the proxy has closed `count` server connections and none of its sockets towards
/// the origin is still closing, and returns how many of them are in TIME_WAIT.
fn time_waits_after_close_clients(proxy: &Proxy, origin: SocketAddr, count: u64) -> usize {
    let addr = frontend_addr(proxy);
    for _ in 0..count {
        let response = raw(
            addr,
            b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        .expect("response");
        assert_eq!(response.status, 200);
    }
    assert_eq!(stat_num(proxy, "app", "s1", "connect"), count);
    // A FIN-closed socket reaches TIME_WAIT once the origin's FIN comes back: wait until every
    // socket of the proxy's towards the origin is gone or in TIME_WAIT.
    wait_until("every server connection to be closed", || {
        stat_num(proxy, "app", "s1", "used_conn_cur") == 0
            && towards(origin.port())
                .iter()
                .all(|state| state == TIME_WAIT)
    });
    towards(origin.port())
        .iter()
        .filter(|state| *state == TIME_WAIT)
        .count()
}

const REQUESTS: u64 = 40;

#[test]
fn never_mode_resets_server_connections_of_close_clients() {
    let origin = origin_on_a_fresh_port();
    let proxy = proxy("", &one_server("never", ""), origin.addr());
    let time_waits = time_waits_after_close_clients(&proxy, origin.addr(), REQUESTS);
    assert_eq!(time_waits, 0, "TIME_WAIT sockets left on the proxy's ports");
    assert_eq!(origin.stats().accepted, REQUESTS);
}

#[test]
fn connections_the_pool_refuses_are_reset() {
    let origin = origin_on_a_fresh_port();
    let proxy = proxy("", &one_server("safe", "pool_max_conn = 0"), origin.addr());
    let time_waits = time_waits_after_close_clients(&proxy, origin.addr(), REQUESTS);
    assert_eq!(time_waits, 0, "TIME_WAIT sockets left on the proxy's ports");
}

/// A proxy whose frontend has `frontend` keys added, one server at the origin.
fn proxy_with_frontend(frontend: &str, origin: SocketAddr) -> Proxy {
    proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         {frontend}\n[[backend]]\nname = \"app\"\n{}",
        one_server("safe", "").replace("{origin}", &origin.to_string())
    ))
}

fn conn_tot(proxy: &Proxy) -> u64 {
    stat_num(proxy, "web", "FRONTEND", "conn_tot")
}

#[test]
fn defer_accept_keeps_silent_connections_out() {
    let origin = origin();
    let proxy = proxy_with_frontend("defer_accept = true", origin.addr());
    let addr = frontend_addr(&proxy);
    // Connected as far as the client can tell, but it sends nothing.
    let silent = TcpStream::connect(addr).expect("connect");
    assert_eq!(get(addr, "/").status, 200);
    // The client that sent a request was accepted (and counted) before it was answered; the
    // silent one, connected earlier, is still held back by the kernel.
    assert_eq!(conn_tot(&proxy), 1);
    drop(silent);
}

#[test]
fn without_defer_accept_a_silent_connection_is_accepted() {
    let origin = origin();
    let proxy = proxy_with_frontend("defer_accept = false", origin.addr());
    let addr = frontend_addr(&proxy);
    let silent = TcpStream::connect(addr).expect("connect");
    wait_until("the silent connection to be accepted", || {
        conn_tot(&proxy) == 1
    });
    assert_eq!(get(addr, "/").status, 200);
    assert_eq!(conn_tot(&proxy), 2);
    drop(silent);
}

#[test]
fn private_connections_are_reset_when_their_client_leaves() {
    let origin = origin_on_a_fresh_port();
    let proxy = proxy("", &one_server("never", ""), origin.addr());
    for _ in 0..REQUESTS / 2 {
        let mut client = Client::connect(frontend_addr(&proxy));
        assert_eq!(client.get("/").status, 200);
        assert_eq!(client.get("/").status, 200);
    }
    wait_until("every server connection to be closed", || {
        stat_num(&proxy, "app", "s1", "connect") == REQUESTS / 2
            && towards(origin.addr().port())
                .iter()
                .all(|state| state == TIME_WAIT)
            && origin.stats().open == 0
    });
    let time_waits = towards(origin.addr().port())
        .iter()
        .filter(|state| *state == TIME_WAIT)
        .count();
    assert_eq!(time_waits, 0, "TIME_WAIT sockets left on the proxy's ports");
}
