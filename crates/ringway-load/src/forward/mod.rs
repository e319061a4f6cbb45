//! `ringway-load forward`: the cost floor of a proxy on this machine.
//!
//! A byte-for-byte TCP forwarder with no HTTP in it: one thread, one server
//! connection per client connection (opened at accept), every byte read from
//! one side written to the other. Per keep-alive request it does the socket
//! work no proxy can avoid (two reads, two writes, a share of a wait) and
//! nothing else, so its CPU time per request is what the kernel's TCP path
//! costs here. The benchmark harness runs it beside the real proxies to show
//! how much of their CPU is theirs.
//!
//! It waits in one of two ways ([`Waiter`]): an epoll loop making one system
//! call per read and per write (`epoll.rs`), or an io_uring ring that batches
//! every read and write of a round into one `io_uring_enter` (`uring.rs`).
//! Measuring both shows what batching submissions is worth on this kernel.

mod epoll;
mod uring;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// How the forwarder waits for its sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Waiter {
    /// Level-triggered epoll, a `recv` and a `send` system call per message.
    #[default]
    Epoll,
    /// An io_uring ring (single issuer, deferred task work): receives and
    /// sends are queued and submitted together, one system call per round.
    IoUring,
}

/// A running forwarder; dropping it stops its thread.
pub struct Forwarder {
    addr: SocketAddr,
    stop: Option<UnixStream>,
    thread: Option<JoinHandle<()>>,
}

impl Forwarder {
    /// Binds `listen` and forwards every connection to `server` on a new
    /// thread that waits with epoll.
    pub fn start(listen: SocketAddr, server: SocketAddr) -> io::Result<Forwarder> {
        Forwarder::start_with(listen, server, Waiter::Epoll)
    }

    /// Binds `listen` and forwards every connection to `server` on a new
    /// thread that waits the way `waiter` says. Fails if the waiter cannot
    /// be set up (an io_uring ring needs Linux 6.1 or later).
    pub fn start_with(
        listen: SocketAddr,
        server: SocketAddr,
        waiter: Waiter,
    ) -> io::Result<Forwarder> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        let (stop, stop_rx) = UnixStream::pair()?;
        let (ready_tx, ready_rx) = mpsc::channel();
        // The loop is built on its own thread: an io_uring ring set up for a
        // single issuer belongs to the thread that creates it.
        let thread = std::thread::Builder::new()
            .name("forward".into())
            .spawn(move || {
                let result = match waiter {
                    Waiter::Epoll => {
                        epoll::EventLoop::new(listener, stop_rx, server).map(|mut event_loop| {
                            let _ = ready_tx.send(Ok(()));
                            event_loop.run()
                        })
                    }
                    Waiter::IoUring => {
                        uring::RingLoop::new(listener, stop_rx, server).map(|mut ring_loop| {
                            let _ = ready_tx.send(Ok(()));
                            ring_loop.run()
                        })
                    }
                };
                match result {
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                    Ok(Err(e)) => eprintln!("forward: {e}"),
                    Ok(Ok(())) => {}
                }
            })?;
        let ready = ready_rx.recv().unwrap_or_else(|_| {
            Err(io::Error::other(
                "the forwarder thread ended while starting",
            ))
        });
        if let Err(e) = ready {
            let _ = thread.join();
            return Err(e);
        }
        Ok(Forwarder {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        // Closing our end makes the loop's end readable: the loop returns.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
