//! The byte-for-byte forwarder over real sockets: requests reach the origin
//! through it, one server connection per client connection, and a closed
//! client closes its server connection.

mod common;

use common::{origin, wait_for, Client};
use ringway_load::Forwarder;

fn forwarder_to(origin: &ringway_load::Origin) -> Forwarder {
    Forwarder::start("127.0.0.1:0".parse().unwrap(), origin.addr()).expect("forwarder starts")
}

#[test]
fn keep_alive_requests_pass_through_one_server_connection_per_client() {
    let origin = origin();
    let forwarder = forwarder_to(&origin);
    let mut a = Client::connect(forwarder.addr());
    let mut b = Client::connect(forwarder.addr());
    let a1 = a.get("/one");
    let a2 = a.get("/two?body=70000");
    let b1 = b.get("/three");
    assert_eq!((a1.status, a2.status, b1.status), (200, 200, 200));
    assert_eq!(a2.body.len(), 70000);
    assert_eq!(a1.conn_id(), a2.conn_id());
    assert_eq!((a1.conn_req(), a2.conn_req()), (1, 2));
    assert_ne!(a1.conn_id(), b1.conn_id());
    assert_eq!(origin.stats().accepted, 2);
}

#[test]
fn a_closed_client_closes_its_server_connection() {
    let origin = origin();
    let forwarder = forwarder_to(&origin);
    let mut client = Client::connect(forwarder.addr());
    assert_eq!(client.get("/").status, 200);
    assert_eq!(origin.stats().open, 1);
    drop(client);
    wait_for("the server connection to close", || {
        origin.stats().open == 0
    });
}

#[test]
fn a_client_whose_server_is_down_is_closed() {
    let origin = origin();
    let server = origin.addr();
    drop(origin);
    let forwarder =
        Forwarder::start("127.0.0.1:0".parse().unwrap(), server).expect("forwarder starts");
    let mut stream = std::net::TcpStream::connect(forwarder.addr()).unwrap();
    stream.set_read_timeout(Some(common::DEADLINE)).unwrap();
    let mut byte = [0u8; 1];
    let n = std::io::Read::read(&mut stream, &mut byte).expect("closed, not timed out");
    assert_eq!(n, 0);
}
