//! `shutdown session` for a session whose I/O has no socket of its own: an HTTP/2 stream on
//! either side shares its connection's socket, so shutting that down would end every stream
//! of the connection. Instead the session fires its [`Abort`], and each wait of its streams
//! ([`crate::http2::wait::Wait`]) fails at once with `ConnectionAborted`: the exchange ends as
//! it does when an HTTP/1.1 socket is shut down, and its streams, dropped unfinished, are
//! reset (RST_STREAM CANCEL) while their connections go on serving.

use std::cell::{Cell, RefCell};
use std::task::{Context, Waker};

#[derive(Default)]
pub struct Abort {
    fired: Cell<bool>,
    /// The tasks waiting on the session's streams (one in practice: the session's).
    wakers: RefCell<Vec<Waker>>,
}

impl Abort {
    /// Fails every wait watching this, now and from now on.
    pub fn fire(&self) {
        self.fired.set(true);
        for waker in self.wakers.take() {
            waker.wake();
        }
    }

    pub fn fired(&self) -> bool {
        self.fired.get()
    }

    /// The task of `cx` is woken when this fires.
    pub fn watch(&self, cx: &Context<'_>) {
        let mut wakers = self.wakers.borrow_mut();
        if !wakers.iter().any(|waker| waker.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
    }
}
