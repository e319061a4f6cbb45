//! `Socket` reads through the thread's `Poller`, against real sockets on 127.0.0.1: each test
//! runs on its own glommio executor, with its peers on plain threads.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener as StdListener;
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    adopt, connect, echo_server, echo_server_after, on_executor, on_executor_spinning, round_trip,
};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use ringway_net::{Poller, Spin};

#[test]
fn reads_wake_from_a_parked_poller() {
    // 20 ms: longer than the driver's nap in epoll_wait, so it parks in io_uring.
    let addr = echo_server_after(Duration::from_millis(20));
    on_executor(1, move || async move {
        let mut socket = connect(addr).await;
        for round in 0..5u8 {
            round_trip(&mut socket, &[round; 10]).await;
        }
        assert!(Poller::parks() > 0, "the poller never waited in io_uring");
    });
}

#[test]
fn reads_wake_from_a_nap() {
    let addr = echo_server();
    on_executor(1, move || async move {
        let mut socket = connect(addr).await;
        // The echo comes from another thread: the executor runs out of work while it waits and
        // naps in epoll_wait, or parks when the echo takes longer than the nap (a loaded
        // machine). Round trips go on until one echo came during a nap, within the deadline.
        let deadline = Instant::now() + common::DEADLINE;
        let mut round = 0u8;
        while Poller::naps() == 0 {
            assert!(Instant::now() < deadline, "no echo came during a nap");
            round_trip(&mut socket, &[round; 10]).await;
            round = round.wrapping_add(1);
        }
    });
}

#[test]
fn many_sockets_wait_at_once() {
    let addr = echo_server();
    on_executor(4, move || async move {
        let tasks: Vec<_> = (0..32u8)
            .map(|index| {
                glommio::spawn_local(async move {
                    let mut socket = connect(addr).await;
                    for round in 0..50u8 {
                        round_trip(&mut socket, &[index, round, index]).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
    });
}

#[test]
fn a_silent_peer_times_the_read_out() {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = thread::spawn(move || listener.accept().map(|(stream, _)| stream));
    on_executor(2, move || async move {
        let mut socket = connect(addr).await;
        let timeout = Duration::from_millis(100);
        socket.set_read_timeout(Some(timeout)).unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 8];
        let error = socket.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= timeout);
        // The next read gets a fresh deadline and still sees bytes that come.
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        drop(holder.join().unwrap().unwrap());
        assert_eq!(socket.read(&mut buf).await.unwrap(), 0, "end of stream");
    });
}

#[test]
fn a_socket_taken_over_through_a_duplicate_reads_on() {
    let addr = echo_server();
    on_executor(1, move || async move {
        let mut owner = connect(addr).await;
        round_trip(&mut owner, b"before").await;
        // Another descriptor of the same socket lives on, as after a takeover.
        // SAFETY: plain system call; the result is checked.
        let dup = unsafe { libc::dup(owner.as_raw_fd()) };
        assert!(dup >= 0);
        owner.leave_poller();
        drop(owner);
        let mut taker = adopt(dup);
        round_trip(&mut taker, b"after").await;
    });
}

#[test]
fn with_no_empty_rounds_the_poller_sleeps_at_once() {
    let addr = echo_server();
    on_executor(0, move || async move {
        let mut socket = connect(addr).await;
        for round in 0..5u8 {
            round_trip(&mut socket, &[round; 7]).await;
        }
        assert!(
            Poller::naps() + Poller::parks() > 0,
            "the poller never slept"
        );
    });
}

#[test]
fn a_peer_that_writes_in_pieces_is_read_whole() {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let writer = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut go = [0u8; 1];
        for piece in 0..10u8 {
            // Each piece waits for the reader's request, so the reader waits in between.
            stream.read_exact(&mut go).unwrap();
            stream.write_all(&[piece; 100]).unwrap();
        }
    });
    on_executor(1, move || async move {
        let mut socket = connect(addr).await;
        let mut got = Vec::new();
        for _ in 0..10 {
            socket.write_all(b"g").await.unwrap();
            let mut piece = [0u8; 100];
            socket.read_exact(&mut piece).await.unwrap();
            got.extend_from_slice(&piece);
        }
        let expected: Vec<u8> = (0..10u8).flat_map(|piece| [piece; 100]).collect();
        assert_eq!(got, expected);
    });
    writer.join().unwrap();
}

#[test]
fn a_socket_first_waiting_while_the_poller_is_parked_is_woken() {
    let addr = echo_server();
    on_executor(1, move || async move {
        let mut idle = connect(addr).await;
        round_trip(&mut idle, b"warm").await;
        // A timer wakes the executor while the poller waits in io_uring (an idle executor
        // parks it within a few rounds); the socket made then has its first wait (and joins
        // the epoll set) during that park.
        glommio::timer::sleep(Duration::from_millis(50)).await;
        assert!(Poller::parks() > 0, "the poller parked");
        let mut late = connect(addr).await;
        for round in 0..10u8 {
            round_trip(&mut late, &[round; 3]).await;
        }
    });
}

#[test]
fn the_end_of_stream_behind_the_last_bytes_is_seen() {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut go = [0u8; 1];
        stream.read_exact(&mut go).unwrap();
        stream.write_all(b"ready").unwrap();
        stream.read_exact(&mut go).unwrap();
        // The last bytes and the end of stream, back to back: one event for both.
        stream.write_all(b"last bytes").unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
    });
    on_executor(1, move || async move {
        let mut socket = connect(addr).await;
        // A missed end of stream fails the test rather than hanging it.
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        socket.write_all(b"1").await.unwrap();
        let mut buf = [0u8; 64];
        // Waits (the socket joins the epoll set) and leaves it known to be empty.
        assert_eq!(socket.read(&mut buf).await.unwrap(), 5);
        socket.write_all(b"2").await.unwrap();
        let mut got = Vec::new();
        loop {
            match socket.read(&mut buf).await.unwrap() {
                0 => break,
                read => got.extend_from_slice(&buf[..read]),
            }
        }
        assert_eq!(got, b"last bytes");
    });
    peer.join().unwrap();
}

/// Tasks the executor ran while `wait` was awaited (glommio's statistics count from the
/// previous call, which takes them).
async fn tasks_run_during(wait: impl std::future::Future<Output = ()>) -> u64 {
    glommio::executor().executor_stats();
    wait.await;
    glommio::executor().executor_stats().tasks_executed()
}

#[test]
fn an_idle_thread_with_no_deadlines_is_not_ticked() {
    on_executor(0, || async {
        // Let the driver reach its sleep on the epoll descriptor first.
        let deadline = Instant::now() + common::DEADLINE;
        while Poller::parks() == 0 {
            assert!(Instant::now() < deadline, "the driver never slept");
            glommio::timer::sleep(Duration::from_millis(5)).await;
        }
        let ran = tasks_run_during(glommio::timer::sleep(Duration::from_millis(200))).await;
        // This task ran once; a 10 ms tick would have run ~20 times.
        assert!(ran < 8, "{ran} tasks ran on an idle thread in 200 ms");
    });
}

#[test]
fn an_idle_thread_is_not_ticked_for_the_deadlines_of_reads_long_done() {
    // Each read with a timeout leaves a deadline entry behind it when it completes at once (a
    // first request's head arriving with its connection). Spread over 200 ms, 40 of them come
    // due after the thread has gone idle: a tick that woke for each would run every 10 ms.
    let addr = echo_server();
    on_executor(0, move || async move {
        let timeout = Duration::from_millis(400);
        let mut sockets = Vec::new();
        for round in 0..40u8 {
            let mut socket = connect(addr).await;
            socket.set_read_timeout(Some(timeout)).unwrap();
            round_trip(&mut socket, &[round; 4]).await;
            sockets.push(socket);
            glommio::timer::sleep(Duration::from_millis(5)).await;
        }
        // Every entry comes due before this sleep ends; the driver parks within its first nap.
        let ran =
            tasks_run_during(glommio::timer::sleep(timeout + Duration::from_millis(20))).await;
        assert!(
            ran < 8,
            "{ran} tasks ran while 40 finished reads' deadlines came due"
        );
    });
}

/// `epoll_wait` calls the poller makes over `trips` round trips to a peer that answers 5 ms
/// late (far longer than any spin), after a few round trips to learn from.
fn loops_waiting_on_a_slow_peer(spin: Spin, trips: u8) -> u64 {
    let addr = echo_server_after(Duration::from_millis(5));
    let (sender, loops) = std::sync::mpsc::channel();
    on_executor_spinning(spin, move || async move {
        let mut socket = connect(addr).await;
        for round in 0..10u8 {
            round_trip(&mut socket, &[round; 3]).await;
        }
        let before = Poller::activity().loops;
        for round in 0..trips {
            round_trip(&mut socket, &[round; 3]).await;
        }
        sender.send(Poller::activity().loops - before).unwrap();
    });
    loops.recv().unwrap()
}

#[test]
fn an_adaptive_poller_stops_spinning_when_its_spins_find_nothing() {
    let fixed = loops_waiting_on_a_slow_peer(Spin::Fixed(16), 40);
    let adaptive = loops_waiting_on_a_slow_peer(Spin::Adaptive(16), 40);
    // Fixed: 16 empty rounds and a nap per wait. Adaptive: one empty round and a nap, and a
    // full spin in one wait of 8 (its probe).
    assert!(fixed >= 40 * 16, "fixed spin: {fixed} epoll_wait calls");
    assert!(
        adaptive * 2 < fixed,
        "adaptive {adaptive} against fixed {fixed}"
    );
}
