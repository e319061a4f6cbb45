//! Stress phases against a serving process (the test origin, or the proxy in front of one) run
//! as a child with a low descriptor limit: connection churn, abrupt resets, half-closes, clients
//! that connect and never send, bursts larger than the listen backlog, and more connections than
//! the child has descriptors (its accepts fail with EMFILE). After each phase the child must
//! answer a fresh request and give back the descriptors of the connections that ended, each
//! within a deadline: a lost wake-up in its poller (a thread asleep with work waiting) fails it.
//!
//! Shared by `crates/ringway-load/tests/stress_accept.rs` (the origin) and
//! `crates/ringway/tests/stress_accept.rs` (the proxy), which include it by path.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Longest any single wait may take: a fresh request answered, descriptors given back. After
/// a burst the listen queue can still be full of connections the clients already closed, which
/// the child accepts and drops first: a fresh connection's SYN is then dropped and sent again
/// (after 1 s, then 3 s), so an answer can take seconds; a lost wake-up never comes.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Descriptors the child may open (RLIMIT_NOFILE): low, so that the phases reach it.
pub const CHILD_NOFILE: u64 = 256;

/// Connections in a burst: more than the listen backlog (1024), which the child cannot all
/// take at once with its descriptor limit.
pub const BURST: usize = 1500;

/// A request on a connection that stays open.
pub const KEEP_ALIVE_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: stress\r\n\r\n";

/// Makes `command` run with at most `nofile` descriptors.
pub fn limit_descriptors(command: &mut Command, nofile: u64) -> &mut Command {
    // SAFETY: setrlimit is async-signal-safe and touches nothing of the parent's.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: nofile,
                rlim_max: nofile,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// A child process, killed when dropped.
pub struct Served {
    pub child: Child,
    pub addr: SocketAddr,
    /// Descriptors the child may keep past its baseline once connections ended (a proxy's
    /// pooled server connections).
    pub kept: usize,
}

impl Served {
    /// Descriptors the child holds now.
    pub fn descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|entries| entries.count())
            .unwrap_or(0)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `condition` holds, checking every millisecond; panics at the deadline.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A fresh connection gets `200` to a request within the deadline.
pub fn assert_answers(served: &Served, after: &str) {
    let answer = (|| -> std::io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect_timeout(&served.addr, DEADLINE)?;
        stream.set_read_timeout(Some(DEADLINE))?;
        stream.write_all(b"GET / HTTP/1.1\r\nHost: stress\r\nConnection: close\r\n\r\n")?;
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok(head)
    })();
    match answer {
        Ok(head) if head.starts_with(b"HTTP/1.1 200") => {}
        Ok(head) => panic!(
            "after {after}: a fresh request got {:?}",
            String::from_utf8_lossy(&head)
        ),
        Err(error) => panic!(
            "after {after}: no answer to a fresh request within {DEADLINE:?} ({error}); \
             the child holds {} descriptors",
            served.descriptors()
        ),
    }
}

/// After a phase: a fresh request is answered, and the child gives back the descriptors of
/// the connections that ended (down to `baseline` and a few in flight).
pub fn assert_recovers(served: &Served, baseline: usize, after: &str) {
    assert_answers(served, after);
    wait_until(
        &format!("the child to close the connections of {after}"),
        || served.descriptors() <= baseline + served.kept + 4,
    );
}

/// A connection begun without waiting for its handshake (a burst can outrun the backlog).
pub fn connect_now(addr: SocketAddr) -> Option<TcpStream> {
    // SAFETY: plain system calls on a descriptor this function owns; `sin` is a valid IPv4
    // address for the call.
    unsafe {
        let fd = libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        );
        if fd < 0 {
            return None;
        }
        let stream = TcpStream::from_raw_fd(fd);
        let SocketAddr::V4(v4) = addr else {
            return None;
        };
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: v4.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*v4.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        let rc = libc::connect(
            fd,
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        if rc < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINPROGRESS) {
            return None;
        }
        Some(stream)
    }
}

/// Closes with a reset (SO_LINGER 0) rather than a FIN.
pub fn reset(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `linger` is valid for reads of its size for the call; the descriptor is open.
    unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&stream),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Ends connections three ways in turn: a reset, a FIN, a half-close (then a FIN).
pub fn end_mixed(streams: Vec<TcpStream>) {
    for (index, stream) in streams.into_iter().enumerate() {
        match index % 3 {
            0 => reset(stream),
            1 => drop(stream),
            _ => {
                let _ = stream.shutdown(Shutdown::Write);
                drop(stream);
            }
        }
    }
}

/// Sends `request` on every stream that takes it (a connection still in the handshake or the
/// accept queue takes it into its buffer all the same).
pub fn send_all(streams: &[TcpStream], request: &[u8]) {
    for mut stream in streams {
        let _ = stream.write(request);
    }
}

/// Begins `count` connections at once.
pub fn burst(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    (0..count).filter_map(|_| connect_now(addr)).collect()
}

/// Waits until every stream has completed its handshake (the kernel completes them into the
/// listener's queue whether or not the child accepts).
pub fn wait_connected(streams: &[TcpStream]) {
    wait_until("the burst's handshakes", || {
        streams.iter().all(|stream| stream.peer_addr().is_ok())
    });
}

/// Runs every phase against `served`, whose idle connections end after `keepalive` at the
/// latest (None: never).
pub fn run_phases(served: &Served) {
    assert_answers(served, "start");
    let baseline = served.descriptors();

    // Churn: short connections, one request each.
    for round in 0..200 {
        assert_answers(served, &format!("churn round {round}"));
    }
    assert_recovers(served, baseline, "churn");

    // Clients that connect and never send, then reset.
    let silent = burst(served.addr, 300);
    wait_connected(&silent);
    silent.into_iter().for_each(reset);
    assert_recovers(served, baseline, "silent clients reset");

    // A burst past the backlog and the descriptor limit, with requests, ended every way.
    for round in 0..3 {
        let streams = burst(served.addr, BURST);
        send_all(&streams, KEEP_ALIVE_REQUEST);
        // The child runs out of descriptors: its accepts fail with EMFILE while the rest wait
        // in the accept queue or in SYN retries.
        wait_until("the child to reach its descriptor limit", || {
            served.descriptors() as u64 + 8 >= CHILD_NOFILE
        });
        end_mixed(streams);
        assert_recovers(served, baseline, &format!("burst round {round}"));
    }

    // Keep-alive connections held at the descriptor limit while the thread goes idle, with a
    // queue of connections it cannot accept; then released.
    let held = burst(served.addr, CHILD_NOFILE as usize + 200);
    send_all(&held, KEEP_ALIVE_REQUEST);
    wait_until("the child to reach its descriptor limit", || {
        served.descriptors() as u64 + 8 >= CHILD_NOFILE
    });
    // Idle: the child's threads run out of work and sleep (past their nap in epoll_wait).
    std::thread::sleep(Duration::from_millis(300));
    end_mixed(held);
    assert_recovers(served, baseline, "release at the descriptor limit");

    // Idle periods of several lengths, with and without open connections (and so with and
    // without read deadlines in the child's poller), each ended by a fresh request.
    for (index, idle_ms) in [5u64, 50, 400, 1200].into_iter().enumerate() {
        let open = burst(served.addr, 20 * (index % 2));
        wait_connected(&open);
        send_all(&open, KEEP_ALIVE_REQUEST);
        std::thread::sleep(Duration::from_millis(idle_ms));
        assert_answers(served, &format!("{idle_ms} ms idle"));
        end_mixed(open);
    }
    assert_recovers(served, baseline, "idle periods");
}
