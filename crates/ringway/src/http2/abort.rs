//! `shutdown session` for a session whose I/O has no socket of its own: an HTTP/2 stream on
//! either side shares its connection's socket, so shutting that down would end every stream
//! of the connection. Instead the session fires its [`Abort`], and each wait of its streams
//! ([`crate::http2::wait::Wait`]) fails at once with `ConnectionAborted`: the exchange ends as
//! it does when an HTTP/1.1 socket is shut down, and its streams, dropped unfinished, are
//! reset (RST_STREAM CANCEL) while their connections go on serving. The abort lives in the
//! session (no allocation per stream); the streams hold the session as an [`Abortable`].

use std::cell::Cell;
use std::task::{Context, Waker};

#[derive(Default)]
pub struct Abort {
    fired: Cell<bool>,
    /// The task waiting on the session's streams: the session's own (one task drives them).
    /// A `Cell`, not a `RefCell`: 8 bytes less in every session's `SessionInfo`.
    waker: Cell<Option<Waker>>,
}

impl Abort {
    /// Fails every wait watching this, now and from now on.
    pub fn fire(&self) {
        self.fired.set(true);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    pub fn fired(&self) -> bool {
        self.fired.get()
    }

    /// The task of `cx` is woken when this fires.
    pub fn watch(&self, cx: &Context<'_>) {
        let waker = match self.waker.take() {
            Some(waker) if waker.will_wake(cx.waker()) => waker,
            _ => cx.waker().clone(),
        };
        self.waker.set(Some(waker));
    }
}

/// What holds an [`Abort`]: the session a stream serves.
pub trait Abortable {
    fn abort(&self) -> &Abort;
}
