//! The byte-for-byte forwarder over real sockets, waiting with epoll and with
//! io_uring: requests reach the origin through it, one server connection per
//! client connection, large responses arrive whole, a closed client closes
//! its server connection, and stopping the forwarder closes what it holds.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};

use common::{origin, wait_for, Client};
use ringway_load::{Forwarder, Waiter};

const WAITERS: [Waiter; 2] = [Waiter::Epoll, Waiter::IoUring];

fn forwarder(server: SocketAddr, waiter: Waiter) -> Forwarder {
    Forwarder::start_with("127.0.0.1:0".parse().unwrap(), server, waiter)
        .unwrap_or_else(|e| panic!("{waiter:?} forwarder starts: {e}"))
}

#[test]
fn keep_alive_requests_pass_through_one_server_connection_per_client() {
    for waiter in WAITERS {
        let origin = origin();
        let forwarder = forwarder(origin.addr(), waiter);
        let mut a = Client::connect(forwarder.addr());
        let mut b = Client::connect(forwarder.addr());
        let a1 = a.get("/one");
        let a2 = a.get("/two?body=200000");
        let b1 = b.get("/three");
        assert_eq!(
            (a1.status, a2.status, b1.status),
            (200, 200, 200),
            "{waiter:?}"
        );
        assert_eq!(a2.body.len(), 200_000, "{waiter:?}");
        assert_eq!(a1.conn_id(), a2.conn_id(), "{waiter:?}");
        assert_eq!((a1.conn_req(), a2.conn_req()), (1, 2), "{waiter:?}");
        assert_ne!(a1.conn_id(), b1.conn_id(), "{waiter:?}");
        assert_eq!(origin.stats().accepted, 2, "{waiter:?}");
    }
}

#[test]
fn a_closed_client_closes_its_server_connection() {
    for waiter in WAITERS {
        let (origin, _forwarder, client) = one_request_through(waiter);
        drop(client);
        wait_for("the server connection to close", || {
            origin.stats().open == 0
        });
    }
}

#[test]
fn a_client_whose_server_is_down_is_closed() {
    for waiter in WAITERS {
        let origin = origin();
        let server = origin.addr();
        drop(origin);
        let forwarder = forwarder(server, waiter);
        assert_eq!(read_until_closed(forwarder.addr()), 0, "{waiter:?}");
    }
}

#[test]
fn stopping_the_forwarder_closes_its_connections() {
    for waiter in WAITERS {
        let (origin, forwarder, _client) = one_request_through(waiter);
        drop(forwarder);
        wait_for("the server connection to close", || {
            origin.stats().open == 0
        });
    }
}

/// An origin, a forwarder to it and a client that has had one response
/// through it, its server connection still open.
fn one_request_through(waiter: Waiter) -> (ringway_load::Origin, Forwarder, Client) {
    let origin = origin();
    let forwarder = forwarder(origin.addr(), waiter);
    let mut client = Client::connect(forwarder.addr());
    assert_eq!(client.get("/").status, 200, "{waiter:?}");
    assert_eq!(origin.stats().open, 1, "{waiter:?}");
    (origin, forwarder, client)
}

/// Connects and reads until the forwarder closes the connection; returns
/// the bytes read.
fn read_until_closed(addr: SocketAddr) -> usize {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(common::DEADLINE)).unwrap();
    let mut bytes = Vec::new();
    stream
        .read_to_end(&mut bytes)
        .expect("closed, not timed out");
    bytes.len()
}
