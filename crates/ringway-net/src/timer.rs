//! Timers the poller's driver fires itself ([`sleep_until`]), for tasks whose timing matters
//! to the microsecond, as the load generator's open-loop pacing does.
//!
//! A glommio timer fires only when glommio's executor looks at its timers, and while the
//! driver naps in `epoll_wait` (docs/architecture.md) it does not: a glommio timer can fire up
//! to a nap late (1 ms in the load kit, 10 ms in a proxy shard). The driver knows these timers instead: it fires the due ones every
//! round, ends a nap when the earliest one is due, and sleeps in glommio no longer than it (a
//! task that adds an earlier timer during that sleep ends it).

use std::cell::{Cell, RefCell};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::poller::Poller;

/// Waits until `deadline`. On a thread with a [`Poller`] the poller's driver fires the wait
/// (on time even while the thread naps in `epoll_wait`); elsewhere it is a glommio timer.
pub async fn sleep_until(deadline: Instant) {
    match Poller::current() {
        Some(poller) => {
            PollerSleep {
                poller,
                deadline,
                registered: false,
            }
            .await
        }
        None => glommio::timer::sleep(deadline.saturating_duration_since(Instant::now())).await,
    }
}

/// A thread's pending [`sleep_until`] waits, earliest first.
#[derive(Default)]
pub(crate) struct Timers {
    heap: RefCell<BinaryHeap<Entry>>,
    /// A timer earlier than every other was added since the driver began to sleep.
    earlier: Cell<bool>,
    /// The sleeping driver, woken by such a timer.
    sleeper: RefCell<Option<Waker>>,
}

impl Timers {
    /// The earliest deadline still pending.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.borrow().peek().map(|entry| entry.deadline)
    }

    /// Wakes the waits due at `now`; returns how many.
    pub(crate) fn fire(&self, now: Instant) -> usize {
        let mut fired = 0;
        loop {
            // The borrow ends before the wake, which may run code that adds a timer.
            let due = {
                let mut heap = self.heap.borrow_mut();
                match heap.peek() {
                    Some(entry) if entry.deadline <= now => heap.pop(),
                    _ => None,
                }
            };
            let Some(entry) = due else {
                return fired;
            };
            entry.waker.wake();
            fired += 1;
        }
    }

    /// Resolves once a timer earlier than every pending one is added: the driver's sleep,
    /// bounded by the earliest timer when it began, must then end sooner.
    pub(crate) fn earlier_added(&self) -> impl Future<Output = ()> + '_ {
        self.earlier.set(false);
        futures_lite::future::poll_fn(move |cx| {
            if self.earlier.get() {
                return Poll::Ready(());
            }
            *self.sleeper.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
    }

    fn add(&self, deadline: Instant, waker: Waker) {
        let earliest = {
            let mut heap = self.heap.borrow_mut();
            let earliest = heap.peek().is_none_or(|entry| deadline < entry.deadline);
            heap.push(Entry { deadline, waker });
            earliest
        };
        if earliest {
            self.earlier.set(true);
            if let Some(sleeper) = self.sleeper.borrow_mut().take() {
                sleeper.wake();
            }
        }
    }
}

/// A wait: ordered so that the heap's top is the earliest deadline.
struct Entry {
    deadline: Instant,
    waker: Waker,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.deadline == other.deadline
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> Ordering {
        other.deadline.cmp(&self.deadline)
    }
}

/// The future of [`sleep_until`] on a thread with a poller. It registers its waker once; a
/// wait dropped early leaves its entry behind, and firing it later wakes the task once for
/// nothing, which a task must allow for anyway.
struct PollerSleep {
    poller: Rc<Poller>,
    deadline: Instant,
    registered: bool,
}

impl Future for PollerSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        if !self.registered {
            self.registered = true;
            self.poller.timers().add(self.deadline, cx.waker().clone());
        }
        Poll::Pending
    }
}
