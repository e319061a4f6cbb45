//! The io_uring forwarder: one ring, set up for a single issuer with
//! deferred task work, so completions are reaped only when the loop asks and
//! every receive and send queued in a round goes to the kernel in one
//! `io_uring_enter`.
//!
//! Each side of a pair always has exactly one operation in flight: a receive
//! into its own buffer, or the send of that buffer to the other side (then a
//! receive again). Buffers belong to the pair and a pair is freed only when
//! neither side has an operation in flight, so the kernel never writes into
//! freed memory: closing a pair shuts both sockets down, which completes
//! whatever is pending, and the last completion frees the slot.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use io_uring::{cqueue, opcode, squeue, types, IoUring};

const LISTENER: u64 = u64::MAX;
const STOP: u64 = u64::MAX - 1;
const BUFFER: usize = 64 * 1024;
const RING_ENTRIES: u32 = 4096;

/// One direction's socket and the bytes read from it.
struct Side {
    socket: TcpStream,
    buffer: Box<[u8]>,
    /// `Some(start..end)`: `buffer[start..end]` is being sent to the other
    /// side; `None`: a receive on `socket` is in flight.
    sending: Option<(usize, usize)>,
}

/// A client connection and the server connection opened for it.
struct Pair {
    sides: [Side; 2],
    closing: bool,
    in_flight: u8,
}

pub(super) struct RingLoop {
    ring: IoUring,
    listener: TcpListener,
    stop_rx: UnixStream,
    stop_byte: Box<[u8; 1]>,
    server: SocketAddr,
    /// Slot `i` holds pair `i`; its sides are tokens `2i` and `2i + 1`.
    pairs: Vec<Option<Pair>>,
    free: Vec<usize>,
    stopping: bool,
}

impl RingLoop {
    pub(super) fn new(
        listener: TcpListener,
        stop_rx: UnixStream,
        server: SocketAddr,
    ) -> io::Result<RingLoop> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(RING_ENTRIES)?;
        let mut ring_loop = RingLoop {
            ring,
            listener,
            stop_rx,
            stop_byte: Box::new([0]),
            server,
            pairs: Vec::new(),
            free: Vec::new(),
            stopping: false,
        };
        ring_loop.arm_accept()?;
        let stop = opcode::Recv::new(
            types::Fd(ring_loop.stop_rx.as_raw_fd()),
            ring_loop.stop_byte.as_mut_ptr(),
            1,
        )
        .build()
        .user_data(STOP);
        ring_loop.push(stop)?;
        Ok(ring_loop)
    }

    pub(super) fn run(&mut self) -> io::Result<()> {
        let mut completions = Vec::with_capacity(RING_ENTRIES as usize);
        loop {
            if let Err(e) = self.ring.submit_and_wait(1) {
                if !matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) {
                    return Err(e);
                }
            }
            completions.clear();
            completions.extend(
                self.ring
                    .completion()
                    .map(|c| (c.user_data(), c.result(), c.flags())),
            );
            for &(token, result, flags) in &completions {
                match token {
                    STOP => self.stop(),
                    LISTENER => self.accepted(result, flags)?,
                    token => self.completed(token, result)?,
                }
            }
            if self.stopping && self.free.len() == self.pairs.len() {
                return Ok(());
            }
        }
    }

    fn arm_accept(&mut self) -> io::Result<()> {
        let accept = opcode::AcceptMulti::new(types::Fd(self.listener.as_raw_fd()))
            .build()
            .user_data(LISTENER);
        self.push(accept)
    }

    /// Queues `entry`, submitting what is queued first if the ring is full.
    fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every buffer an entry points at is a pair's or the
            // loop's own, and outlives the operation (see the module doc).
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
    }

    fn accepted(&mut self, result: i32, flags: u32) -> io::Result<()> {
        if !cqueue::more(flags) && !self.stopping {
            self.arm_accept()?;
        }
        if result < 0 {
            return Ok(());
        }
        // SAFETY: a successful accept completion carries a new descriptor
        // that nothing else owns.
        let client = unsafe { <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(result) };
        if self.stopping {
            return Ok(());
        }
        // A client whose server cannot be reached is closed at once.
        let Ok(server) = TcpStream::connect(self.server) else {
            return Ok(());
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let slot = self.free.pop().unwrap_or_else(|| {
            self.pairs.push(None);
            self.pairs.len() - 1
        });
        let side = |socket| Side {
            socket,
            buffer: vec![0u8; BUFFER].into_boxed_slice(),
            sending: None,
        };
        self.pairs[slot] = Some(Pair {
            sides: [side(client), side(server)],
            closing: false,
            in_flight: 0,
        });
        self.receive(slot, 0)?;
        self.receive(slot, 1)
    }

    fn completed(&mut self, token: u64, result: i32) -> io::Result<()> {
        let slot = (token / 2) as usize;
        let from = (token % 2) as usize;
        let Some(Some(pair)) = self.pairs.get_mut(slot) else {
            return Ok(());
        };
        pair.in_flight -= 1;
        if pair.closing {
            if pair.in_flight == 0 {
                self.pairs[slot] = None;
                self.free.push(slot);
            }
            return Ok(());
        }
        if result <= 0 {
            self.close(slot);
            return Ok(());
        }
        let sent = result as usize;
        match pair.sides[from].sending {
            None => self.send(slot, from, 0, sent),
            Some((start, end)) if start + sent < end => self.send(slot, from, start + sent, end),
            Some(_) => self.receive(slot, from),
        }
    }

    fn receive(&mut self, slot: usize, from: usize) -> io::Result<()> {
        let Some(pair) = self.pairs[slot].as_mut() else {
            return Ok(());
        };
        let side = &mut pair.sides[from];
        side.sending = None;
        let entry = opcode::Recv::new(
            types::Fd(side.socket.as_raw_fd()),
            side.buffer.as_mut_ptr(),
            side.buffer.len() as u32,
        )
        .build()
        .user_data(token(slot, from));
        pair.in_flight += 1;
        self.push(entry)
    }

    /// Sends `buffer[start..end]` of side `from` to the other side.
    fn send(&mut self, slot: usize, from: usize, start: usize, end: usize) -> io::Result<()> {
        let Some(pair) = self.pairs[slot].as_mut() else {
            return Ok(());
        };
        let to = pair.sides[1 - from].socket.as_raw_fd();
        let side = &mut pair.sides[from];
        side.sending = Some((start, end));
        let bytes = &side.buffer[start..end];
        let entry = opcode::Send::new(types::Fd(to), bytes.as_ptr(), bytes.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(token(slot, from));
        pair.in_flight += 1;
        self.push(entry)
    }

    /// Shuts both sockets of a pair down; the slot is freed by the last
    /// completion of the operations still in flight.
    fn close(&mut self, slot: usize) {
        let Some(pair) = self.pairs[slot].as_mut() else {
            return;
        };
        if pair.in_flight == 0 {
            self.pairs[slot] = None;
            self.free.push(slot);
            return;
        }
        pair.closing = true;
        for side in &pair.sides {
            let _ = side.socket.shutdown(Shutdown::Both);
        }
    }

    fn stop(&mut self) {
        self.stopping = true;
        for slot in 0..self.pairs.len() {
            if self.pairs[slot].as_ref().is_some_and(|pair| !pair.closing) {
                self.close(slot);
            }
        }
    }
}

fn token(slot: usize, side: usize) -> u64 {
    (2 * slot + side) as u64
}
