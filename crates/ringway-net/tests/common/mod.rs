//! Helpers of the ringway-net tests: an executor per test, echo peers on plain threads.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener};
use std::thread;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::LocalExecutorBuilder;
use ringway_net::{Poller, Socket, Spin};

/// Longest any single wait in a test may take.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Runs `test` on a fresh executor thread whose poller makes `rounds` empty rounds before it
/// parks.
pub fn on_executor<F, Fut>(rounds: u32, test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    on_executor_spinning(Spin::Fixed(rounds), test)
}

/// Runs `test` on a fresh executor thread whose poller spins as `spin` says.
pub fn on_executor_spinning<F, Fut>(spin: Spin, test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    LocalExecutorBuilder::default()
        .spawn(move || async move {
            Poller::install(spin, ringway_net::DEFAULT_NAP).unwrap();
            test().await;
        })
        .unwrap()
        .join()
        .unwrap();
}

/// A peer that echoes every byte back until the connection closes.
pub fn echo_server() -> SocketAddr {
    echo_server_after(Duration::ZERO)
}

/// A peer that echoes what it reads `delay` after reading it (a slow peer: long enough, the
/// reader's thread runs out of work and sleeps).
pub fn echo_server_after(delay: Duration) -> SocketAddr {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    thread::sleep(delay);
                    if stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

pub async fn connect(addr: SocketAddr) -> Socket {
    Socket::connect(addr, DEADLINE).await.unwrap()
}

/// A socket over `fd`, a connected descriptor that nothing else owns.
pub fn adopt(fd: std::os::fd::RawFd) -> Socket {
    // SAFETY: the caller gives up `fd`; the stream owns and closes it from now on.
    Socket::from_std(unsafe { <std::net::TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd) })
        .unwrap()
}

/// Writes `message` and reads its echo back.
pub async fn round_trip(socket: &mut Socket, message: &[u8]) {
    socket.write_all(message).await.unwrap();
    let mut echoed = vec![0u8; message.len()];
    socket.read_exact(&mut echoed).await.unwrap();
    assert_eq!(echoed, message);
}
