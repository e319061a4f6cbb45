//! The epoll forwarder: one level-triggered epoll instance, every readable
//! socket read once and the bytes written to its partner.
//!
//! Sockets stay blocking and are read with `MSG_DONTWAIT`: a write blocks
//! until the peer takes the bytes, which never deadlocks request/response
//! traffic and keeps the loop free of write buffers.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

const LISTENER: u64 = u64::MAX;
const STOP: u64 = u64::MAX - 1;
const READ_BUFFER: usize = 64 * 1024;

/// A client connection and the server connection opened for it.
struct Pair {
    sides: [TcpStream; 2],
}

pub(super) struct EventLoop {
    epoll: OwnedFd,
    listener: TcpListener,
    stop_rx: UnixStream,
    server: SocketAddr,
    /// Slot `i` holds pair `i`; its sides are tokens `2i` and `2i + 1`.
    pairs: Vec<Option<Pair>>,
    free: Vec<usize>,
}

impl EventLoop {
    pub(super) fn new(
        listener: TcpListener,
        stop: UnixStream,
        server: SocketAddr,
    ) -> io::Result<EventLoop> {
        listener.set_nonblocking(true)?;
        // SAFETY: epoll_create1 returns a new descriptor or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        let event_loop = EventLoop {
            epoll,
            listener,
            stop_rx: stop,
            server,
            pairs: Vec::new(),
            free: Vec::new(),
        };
        event_loop.watch(event_loop.listener.as_raw_fd(), LISTENER)?;
        event_loop.watch(event_loop.stop_rx.as_raw_fd(), STOP)?;
        Ok(event_loop)
    }

    fn watch(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: both descriptors are open; event is a valid epoll_event.
        let rc =
            unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub(super) fn run(&mut self) -> io::Result<()> {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        let mut buffer = vec![0u8; READ_BUFFER];
        loop {
            // SAFETY: events has room for events.len() entries.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    events.len() as i32,
                    -1,
                )
            };
            if n < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            for event in &events[..n as usize] {
                match event.u64 {
                    STOP => return Ok(()),
                    LISTENER => self.accept_all(),
                    token => self.forward(token, &mut buffer),
                }
            }
        }
    }

    fn accept_all(&mut self) {
        while let Ok((client, _)) = self.listener.accept() {
            // A client whose server cannot be reached is closed at once.
            let Ok(server) = TcpStream::connect(self.server) else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let slot = self.free.pop().unwrap_or_else(|| {
                self.pairs.push(None);
                self.pairs.len() - 1
            });
            let token = 2 * slot as u64;
            if self.watch(client.as_raw_fd(), token).is_err()
                || self.watch(server.as_raw_fd(), token + 1).is_err()
            {
                self.free.push(slot);
                continue;
            }
            self.pairs[slot] = Some(Pair {
                sides: [client, server],
            });
        }
    }

    /// Reads what side `token` has and writes it to the other side; closes
    /// the pair at the end of either stream or on an error.
    fn forward(&mut self, token: u64, buffer: &mut [u8]) {
        let slot = (token / 2) as usize;
        let from = (token % 2) as usize;
        // An event of a pair closed earlier in the same batch.
        let Some(Some(pair)) = self.pairs.get_mut(slot) else {
            return;
        };
        // SAFETY: the socket is open and buffer is writable for its length.
        let n = unsafe {
            libc::recv(
                pair.sides[from].as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                libc::MSG_DONTWAIT,
            )
        };
        let keep = match n {
            n if n > 0 => pair.sides[1 - from]
                .write_all(&buffer[..n as usize])
                .is_ok(),
            0 => false,
            _ => io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock,
        };
        if !keep {
            // Dropping the pair closes both sockets, which leaves the epoll set.
            self.pairs[slot] = None;
            self.free.push(slot);
        }
    }
}
