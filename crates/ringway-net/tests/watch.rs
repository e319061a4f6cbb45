//! Idle watches and the unacknowledged-bytes proof, against real sockets on 127.0.0.1: what a
//! pooled server connection relies on to be closed when the server speaks while it is idle, and
//! to know when a failed request never reached the server.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Instant;

use common::{connect, on_executor};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use ringway_net::{watch_fired, IdleCheck};
use std::os::fd::AsRawFd;

/// A server that answers one 4-byte message with "done", then does what `then` says with the
/// connection, when the test sends on `go`.
fn server(then: fn(TcpStream)) -> (std::net::SocketAddr, mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (go, wait) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).unwrap();
        stream.write_all(b"done").unwrap();
        if wait.recv().is_ok() {
            then(stream);
        }
    });
    (addr, go)
}

#[test]
fn a_quiet_idle_socket_is_known_quiet_and_a_byte_fires_its_watch() {
    let (addr, go) = server(|mut stream| {
        stream.write_all(b"late").unwrap();
        // Held open until the test has seen the byte.
        let _ = stream.read(&mut [0u8; 1]);
    });
    on_executor(1, move || async move {
        let mut socket = connect(addr).await;
        socket.write_all(b"ping").await.unwrap();
        let mut answer = [0u8; 4];
        socket.read_exact(&mut answer).await.unwrap();
        assert_eq!(socket.watch(7).unwrap(), IdleCheck::Quiet);
        go.send(()).unwrap();
        let mut fired = Vec::new();
        watch_fired(&mut fired).await;
        assert_eq!(fired, vec![7]);
        assert_eq!(socket.idle_check(), IdleCheck::Data);
        assert_eq!(socket.unwatch(), IdleCheck::Data);
    });
}

#[test]
fn a_server_close_fires_the_watch_and_reads_as_closed() {
    let (addr, go) = server(drop);
    on_executor(1, move || async move {
        let mut socket = connect(addr).await;
        round_trip_done(&mut socket).await;
        assert_eq!(socket.watch(9).unwrap(), IdleCheck::Quiet);
        go.send(()).unwrap();
        let mut fired = Vec::new();
        watch_fired(&mut fired).await;
        assert_eq!(fired, vec![9]);
        assert_eq!(socket.idle_check(), IdleCheck::Closed);
    });
}

#[test]
fn bytes_already_there_when_the_watch_begins_are_reported_at_once() {
    let (addr, go) = server(|mut stream| {
        stream.write_all(b"x").unwrap();
        let _ = stream.read(&mut [0u8; 1]);
    });
    on_executor(1, move || async move {
        let mut socket = connect(addr).await;
        round_trip_done(&mut socket).await;
        go.send(()).unwrap();
        // The byte is on its way: wait until the kernel has it, without reading it.
        let deadline = Instant::now() + common::DEADLINE;
        while socket.idle_check() == IdleCheck::Quiet {
            assert!(Instant::now() < deadline, "the byte never came");
            glommio::yield_if_needed().await;
            futures_lite::future::yield_now().await;
        }
        assert_eq!(socket.watch(3).unwrap(), IdleCheck::Data);
    });
}

#[test]
fn bytes_sent_to_a_closed_server_stay_unacknowledged() {
    let (addr, go) = server(drop);
    on_executor(1, move || async move {
        let mut socket = connect(addr).await;
        round_trip_done(&mut socket).await;
        assert_eq!(
            socket.unacked().unwrap(),
            0,
            "the first message was acknowledged"
        );
        let before = socket.bytes_sent();
        go.send(()).unwrap();
        let mut eof = [0u8; 1];
        assert_eq!(socket.read(&mut eof).await.unwrap(), 0, "the server closed");
        // The server's socket is gone: it answers with a reset and acknowledges nothing.
        socket.write_all(b"request").await.unwrap();
        let sent = socket.bytes_sent() - before;
        assert_eq!(sent, 7);
        let deadline = Instant::now() + common::DEADLINE;
        while tcp_state(&socket) != TCP_CLOSE {
            assert!(Instant::now() < deadline, "no reset came");
            futures_lite::future::yield_now().await;
        }
        assert_eq!(
            socket.unacked().unwrap(),
            sent,
            "none of it reached the server"
        );
    });
}

#[test]
fn bytes_a_server_read_are_acknowledged() {
    let (addr, go) = server(|mut stream| {
        let mut buf = [0u8; 7];
        stream.read_exact(&mut buf).unwrap();
        drop(stream);
    });
    on_executor(1, move || async move {
        let mut socket = connect(addr).await;
        round_trip_done(&mut socket).await;
        go.send(()).unwrap();
        socket.write_all(b"request").await.unwrap();
        let mut eof = [0u8; 1];
        let _ = socket.read(&mut eof).await;
        assert_eq!(socket.unacked().unwrap(), 0, "the server took all of it");
    });
}

async fn round_trip_done(socket: &mut ringway_net::Socket) {
    socket.write_all(b"ping").await.unwrap();
    let mut answer = [0u8; 4];
    socket.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"done");
}

/// Linux's TCP_CLOSE state (include/net/tcp_states.h).
const TCP_CLOSE: u8 = 7;

/// The socket's TCP state (`TCP_INFO`'s first byte): `TCP_CLOSE` once a reset came.
fn tcp_state(socket: &ringway_net::Socket) -> u8 {
    let mut info = [0u8; 256];
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: `info` is valid for `len` bytes; the kernel writes at most that many.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "TCP_INFO");
    info[0]
}
