//! The I/O of an HTTP/2 server connection as h2 holds it. h2's connection state is `Send`,
//! but a socket belongs to its shard's poller; so h2 is given a [`Homed`], a name for the
//! counted socket that the shard running the connection keeps in a thread table. When another
//! shard takes the idle connection over (`takeover.rs`), the socket leaves this table and is
//! rebuilt in the taker's, under the same name, and h2's state moves as it is.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::http2::frames::Tallied;
use crate::process::id_map::IdMap;
use crate::tls::Stream;

/// A server connection's socket as this shard runs it, counted.
pub type HomeIo = Tallied<Stream>;

thread_local! {
    static HOMES: RefCell<IdMap<HomeIo>> = RefCell::new(IdMap::default());
}

/// The socket of connection `id` on whichever shard runs it now; dropping it closes the
/// socket.
pub struct Homed {
    id: u64,
}

impl Homed {
    /// Files `io` in this shard's table as connection `id`.
    pub fn settle(id: u64, io: HomeIo) -> Homed {
        Homed::resettle(id, io);
        Homed { id }
    }

    /// Files `io` as connection `id`, which came from another shard with its `Homed`.
    pub fn resettle(id: u64, io: HomeIo) {
        HOMES.with(|homes| homes.borrow_mut().insert(id, io));
    }

    /// Takes connection `id`'s socket out of this shard's table, for another shard.
    pub fn leave(id: u64) -> Option<HomeIo> {
        HOMES.with(|homes| homes.borrow_mut().remove(&id))
    }

    fn with<R>(
        &self,
        run: impl FnOnce(Pin<&mut HomeIo>) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        HOMES.with(|homes| match homes.borrow_mut().get_mut(&self.id) {
            Some(io) => run(Pin::new(io)),
            None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        })
    }
}

impl Drop for Homed {
    fn drop(&mut self) {
        // Dropped outside the table's borrow.
        let io = HOMES.try_with(|homes| homes.borrow_mut().remove(&self.id));
        drop(io);
    }
}

impl AsyncRead for Homed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.with(|io| io.poll_read(cx, buf))
    }
}

impl AsyncWrite for Homed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.with(|io| io.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|io| io.poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|io| io.poll_close(cx))
    }
}
