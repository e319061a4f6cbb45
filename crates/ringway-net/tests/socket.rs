//! `Socket` writes and connects and `Listener` accepts through the thread's `Poller`, against
//! real sockets on 127.0.0.1.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{connect, echo_server, on_executor, round_trip, DEADLINE};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use ringway_net::{Listener, Socket};

/// More than loopback's socket buffers hold, so a peer that does not read blocks the writer.
const BIG: usize = 32 << 20;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|index| (index % 251) as u8).collect()
}

#[test]
fn a_write_to_a_full_socket_waits_until_the_peer_reads() {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (go, start_reading) = mpsc::channel::<()>();
    let reader = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        start_reading.recv().unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).unwrap();
        got
    });
    on_executor(1, move || async move {
        let mut socket = connect(addr).await;
        let data = pattern(BIG);
        let mut write = Box::pin(async {
            socket.write_all(&data).await.unwrap();
            socket.close().await.unwrap();
        });
        assert!(
            futures_lite::future::poll_once(&mut write).await.is_none(),
            "the write waits while the peer does not read"
        );
        go.send(()).unwrap();
        write.await;
    });
    let got = reader.join().unwrap();
    assert_eq!(got.len(), BIG);
    assert!(got == pattern(BIG), "the bytes arrive in order");
}

#[test]
fn a_write_to_a_peer_that_never_reads_times_out() {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = thread::spawn(move || listener.accept().map(|(stream, _)| stream));
    on_executor(1, move || async move {
        let mut socket = connect(addr).await;
        socket
            .set_write_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let error = socket.write_all(&pattern(BIG)).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
    });
    drop(holder.join().unwrap());
}

#[test]
fn a_zero_timeout_is_refused() {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    on_executor(1, move || async move {
        let socket = connect(addr).await;
        let error = socket.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        assert!(socket.set_write_timeout(Some(Duration::ZERO)).is_err());
        assert_eq!(socket.read_timeout(), None);
    });
    drop(listener);
}

#[test]
fn a_connect_to_a_closed_port_is_refused() {
    let addr = {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    on_executor(1, move || async move {
        let error = Socket::connect(addr, DEADLINE)
            .await
            .err()
            .expect("refused");
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn a_listener_accepts_clients_and_shares_its_port() {
    let (bound, port) = mpsc::channel::<SocketAddr>();
    let client = thread::spawn(move || {
        let addr = port.recv().unwrap();
        let mut answers = Vec::new();
        for index in 0..3u8 {
            let mut stream = StdStream::connect(addr).unwrap();
            stream.set_read_timeout(Some(DEADLINE)).unwrap();
            stream.write_all(&[index; 4]).unwrap();
            let mut answer = [0u8; 4];
            stream.read_exact(&mut answer).unwrap();
            answers.push(answer);
        }
        answers
    });
    on_executor(1, move || async move {
        let listener = Listener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        // SO_REUSEPORT: another listener (another shard's) binds the same address.
        let twin = Listener::bind(addr).expect("a second listener on the same port");
        drop(twin);
        bound.send(addr).unwrap();
        for _ in 0..3 {
            let mut socket = listener.accept().await.unwrap();
            assert_eq!(socket.peer_addr().unwrap().ip(), addr.ip());
            let mut request = [0u8; 4];
            socket.read_exact(&mut request).await.unwrap();
            socket.write_all(&request).await.unwrap();
        }
    });
    let answers = client.join().unwrap();
    assert_eq!(answers, vec![[0u8; 4], [1u8; 4], [2u8; 4]]);
}

#[test]
fn an_accepted_socket_round_trips_with_a_connected_one() {
    on_executor(1, || async {
        let listener = Listener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = glommio::spawn_local(async move {
            let mut socket = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match socket.read(&mut buf).await.unwrap() {
                    0 => return,
                    read => socket.write_all(&buf[..read]).await.unwrap(),
                }
            }
        });
        let mut client = connect(addr).await;
        for round in 0..20u8 {
            round_trip(&mut client, &vec![round; 1 + round as usize * 3000]).await;
        }
        drop(client);
        server.await;
    });
}

#[test]
fn keepalive_is_off_until_set_and_takes_the_given_timings() {
    let addr = echo_server();
    on_executor(1, move || async move {
        let socket = connect(addr).await;
        assert!(!socket.keepalive().unwrap(), "off by default");
        socket
            .set_keepalive(ringway_net::Keepalive::default())
            .unwrap();
        assert!(socket.keepalive().unwrap());
        let system_idle = socket2::SockRef::from(&socket).keepalive_time().unwrap();
        socket
            .set_keepalive(ringway_net::Keepalive {
                idle: Some(Duration::from_secs(7)),
                interval: Some(Duration::from_secs(3)),
                count: Some(4),
            })
            .unwrap();
        let raw = socket2::SockRef::from(&socket);
        assert_eq!(raw.keepalive_time().unwrap(), Duration::from_secs(7));
        assert_eq!(raw.keepalive_interval().unwrap(), Duration::from_secs(3));
        assert_eq!(raw.keepalive_retries().unwrap(), 4);
        assert_ne!(
            system_idle,
            Duration::from_secs(7),
            "the timing came from the setter"
        );
    });
}

/// `readable` on a socket that no attempt has seen block (an accepted client whose first
/// request was there at once) waits for the poller's word: before the fix it said "readable"
/// at once, and the session's read after it waited holding a 16 KiB buffer.
#[test]
fn readable_on_a_socket_never_seen_to_block_waits_for_bytes() {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let mut quiet_peer = StdStream::connect(listener.local_addr().unwrap()).unwrap();
    let quiet = listener.accept().unwrap().0;
    let mut early_peer = StdStream::connect(listener.local_addr().unwrap()).unwrap();
    let early = listener.accept().unwrap().0;
    early_peer.write_all(b"early").unwrap();
    on_executor(1, move || async move {
        let mut quiet = Socket::from_std(quiet).unwrap();
        quiet.set_read_timeout(Some(DEADLINE)).unwrap();
        {
            let mut wait = Box::pin(quiet.readable());
            for _ in 0..3 {
                assert!(
                    futures_lite::future::poll_once(&mut wait).await.is_none(),
                    "nothing came: readable waits"
                );
                futures_lite::future::yield_now().await;
            }
            quiet_peer.write_all(b"x").unwrap();
            wait.await.unwrap();
        }
        let mut byte = [0u8; 1];
        assert_eq!(quiet.read(&mut byte).await.unwrap(), 1);
        // Bytes there before the first wait: the registration's first event reports them.
        let mut early = Socket::from_std(early).unwrap();
        early.set_read_timeout(Some(DEADLINE)).unwrap();
        early.readable().await.unwrap();
        let mut got = [0u8; 5];
        early.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"early");
    });
}

/// Whether the socket acknowledges at once: TCP_QUICKACK reads back 0 in delayed-ACK
/// ("ping-pong") mode.
fn quick_ack_on(fd: std::os::fd::RawFd) -> bool {
    let mut value: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid for writes of their sizes; `fd` is an open socket.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt TCP_QUICKACK");
    value != 0
}

/// `set_listen_options` makes accepted connections start with delayed ACKs (a request's ACK
/// rides on the response), and `quick_ack` turns quick ACKs back on for one that has more to
/// receive.
#[test]
fn accepted_sockets_start_with_delayed_acks_until_quick_ack() {
    use std::os::fd::{AsRawFd, BorrowedFd};
    let (bound, port) = mpsc::channel::<SocketAddr>();
    let client = thread::spawn(move || {
        let stream = StdStream::connect(port.recv().unwrap()).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut end = [0u8; 1];
        let _ = (&stream).read(&mut end);
    });
    on_executor(1, move || async move {
        let listener = Listener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        // SAFETY: the listener's descriptor stays open for the call.
        let fd = unsafe { BorrowedFd::borrow_raw(listener.as_raw_fd()) };
        ringway_net::set_listen_options(fd, 0).unwrap();
        bound.send(listener.local_addr().unwrap()).unwrap();
        let socket = listener.accept().await.unwrap();
        let fd = socket.as_raw_fd();
        let delayed = !quick_ack_on(fd);
        socket.quick_ack().unwrap();
        assert!(delayed, "an accepted socket starts with delayed ACKs");
        assert!(quick_ack_on(fd), "quick ACKs after quick_ack");
    });
    client.join().unwrap();
}
