//! Idle watches: a socket that sits unused (a pooled server connection) is watched through the
//! thread's poller, so that a byte, an end of stream or an error arriving on it is known at
//! once, at no cost while nothing arrives.
//!
//! The socket stays in the epoll set it already waits through. [`Socket::watch`] marks its slot
//! with a token; when the poller's harvest sees it become readable it records the token here
//! and wakes the one task that waits in [`watch_fired`] (the proxy's shard closes such a
//! connection). [`Socket::idle_check`] tells whether an idle socket holds anything, from the
//! poller's knowledge when it has it (no system call), else from one `MSG_PEEK` receive.
//!
//! [`Socket::watch`]: crate::Socket::watch
//! [`Socket::idle_check`]: crate::Socket::idle_check

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::poller::Poller;

/// What an idle socket holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleCheck {
    /// Nothing: no byte, no end of stream, no error.
    Quiet,
    /// Bytes the peer sent while nothing was asked of it.
    Data,
    /// The peer closed the connection or it failed.
    Closed,
}

/// Tokens of watched sockets that became readable, and the task waiting for them.
#[derive(Default)]
pub(crate) struct Watches {
    fired: RefCell<Vec<u64>>,
    waiter: RefCell<Option<Waker>>,
}

impl Watches {
    /// A watched socket became readable.
    pub(crate) fn fire(&self, token: u64) {
        self.fired.borrow_mut().push(token);
        if let Some(waker) = self.waiter.borrow_mut().take() {
            waker.wake();
        }
    }
}

/// Waits until some watched socket of this thread becomes readable (its watch ends then), and
/// moves the tokens of those that did into `tokens`. A token can be stale: the socket may have
/// been taken and watched again since; check it with [`crate::Socket::idle_check`]. Without a
/// poller on the thread it never returns.
pub async fn watch_fired(tokens: &mut Vec<u64>) {
    let Some(poller) = Poller::current() else {
        return futures_lite::future::pending().await;
    };
    WatchFired {
        poller: &poller,
        tokens,
    }
    .await
}

struct WatchFired<'a> {
    poller: &'a Poller,
    tokens: &'a mut Vec<u64>,
}

impl Future for WatchFired<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let watches = this.poller.watches();
        let mut fired = watches.fired.borrow_mut();
        if fired.is_empty() {
            *watches.waiter.borrow_mut() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        this.tokens.append(&mut fired);
        Poll::Ready(())
    }
}
