//! The per-thread readiness poller: one epoll instance per executor thread, edge-triggered,
//! that tells the thread's sockets when they have bytes to read or room to write, and its
//! listeners when a connection waits.
//!
//! Why not glommio's own read: a glommio read that finds no data arms an io_uring poll for that
//! one socket, and glommio 0.9 sets its rings up without `IORING_SETUP_COOP_TASKRUN`, so each
//! completion interrupts the busy thread with an IPI (docs/benchmarks.md). Here an attempt that
//! would block leaves its waker in the poller's table instead (per descriptor and direction,
//! through `registration.rs`), and one driver task per thread collects the readiness of all the
//! thread's sockets with one non-blocking `epoll_wait`: one system call for every socket, no
//! interrupt. The table also remembers which sockets are known to block, so a read does not try
//! a socket that is known to be empty (as HAProxy's fd cache).
//!
//! The driver harvests, lets the tasks it woke run, and harvests again. After a spin of empty
//! harvests (as many as its [`Spin`] policy says, `spin.rs`), the thread has little to do: the
//! driver blocks in `epoll_wait` for a while (a nap), and if nothing comes hands
//! the wait to glommio: one io_uring poll on the epoll descriptor itself, so the executor
//! sleeps until any of the thread's descriptors becomes ready. The driver also fires the thread's
//! [`sleep_until`](crate::sleep_until) timers (`timer.rs`): every round, at the end of a nap cut
//! short for them, and by bounding the glommio sleep.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use futures_lite::AsyncReadExt;
use glommio::net::TcpStream;

use crate::clock::Clock;
use crate::deadlines::Deadlines;
use crate::spin::{Spin, SpinState};
use crate::tick::TickGate;
use crate::timer::Timers;
use crate::watch::Watches;

/// Events taken from the kernel per `epoll_wait`.
const EVENTS_PER_WAIT: usize = 256;

/// The poller's clock tick: reads past their deadline fail at the next tick (timeouts are
/// this coarse). The tick is also what bounds a lost wake-up: glommio 0.9 can park its thread
/// while a self-woken task is queued (when a preemption event is pending as its run loop
/// starts) and then sleeps until some timer or I/O completes, and the driver wakes itself every
/// round. It pauses while the driver sleeps on the epoll descriptor and no wait has a
/// deadline (`tick.rs`), so an idle thread with no deadlines is not woken by it; glommio's
/// wake-up of the sleeping driver arms a one-tick glommio timer instead (`ParkWaker`).
const TICK: Duration = Duration::from_millis(10);

/// Events after which a socket stays readable for good.
const HANG_UP_EVENTS: u32 = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
/// Events that make a socket readable (or a listener ready to accept).
const READABLE: u32 = libc::EPOLLIN as u32 | HANG_UP_EVENTS;
/// Events that make a socket writable (a failed one fails its next write at once).
const WRITABLE: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;

/// Which way a task waits on a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Bytes to read, a connection to accept.
    Read,
    /// Room to write, a connection established.
    Write,
}

/// One direction of a descriptor. Its flags (ready, timed out) are in its [`Slot`]'s, packed.
#[derive(Default)]
struct Waiting {
    /// The task waiting.
    waker: Option<Waker>,
    /// When the waiting task gives up, as a [`Clock`] tick (0: never).
    deadline: u64,
    /// The deadline of this side's entry in the poller's `deadlines` (0: it has none).
    queued: u64,
}

/// What the poller knows of one descriptor: 80 bytes (a unit test pins it), one per descriptor
/// number up to the highest open, so an idle connection pays for its client socket's.
struct Slot {
    read: Waiting,
    write: Waiting,
    /// The token of an idle watch (`watch.rs`), when `WATCHED` is set: the next readable event
    /// reports it.
    watch: u64,
    /// `READ_READY`, `WRITE_READY`, `READ_TIMED_OUT`, `WRITE_TIMED_OUT`, `HUNG_UP`, `WATCHED`.
    flags: u8,
}

/// Flags of a [`Slot`]. Ready: an attempt in that direction may not block (an event came since
/// an attempt last found it would). Timed out: the waiting task's deadline passed.
const READ_READY: u8 = 1;
const WRITE_READY: u8 = 1 << 1;
const READ_TIMED_OUT: u8 = 1 << 2;
const WRITE_TIMED_OUT: u8 = 1 << 3;
/// The peer closed or the socket failed: a read never blocks again. Kept apart from
/// `READ_READY` because a read that takes the last bytes leaves the end of stream behind it.
const HUNG_UP: u8 = 1 << 4;
/// An idle watch is on (its token in `watch`).
const WATCHED: u8 = 1 << 5;

impl Default for Slot {
    /// Nothing known yet: the next attempt either way is made.
    fn default() -> Slot {
        Slot {
            read: Waiting::default(),
            write: Waiting::default(),
            watch: 0,
            flags: READ_READY | WRITE_READY,
        }
    }
}

impl Slot {
    fn side(&mut self, direction: Direction) -> &mut Waiting {
        match direction {
            Direction::Read => &mut self.read,
            Direction::Write => &mut self.write,
        }
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    fn set(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    /// Clears `flag`, returning whether it was set.
    fn take(&mut self, flag: u8) -> bool {
        let was = self.has(flag);
        self.flags &= !flag;
        was
    }

    /// A read is known to block: nothing came since an attempt found it would, no hang-up.
    fn read_quiet(&self) -> bool {
        !self.has(READ_READY) && !self.has(HUNG_UP)
    }

    fn set_watch(&mut self, token: Option<u64>) {
        self.watch = token.unwrap_or(0);
        self.set(WATCHED, token.is_some());
    }
}

fn ready_flag(direction: Direction) -> u8 {
    match direction {
        Direction::Read => READ_READY,
        Direction::Write => WRITE_READY,
    }
}

fn timed_out_flag(direction: Direction) -> u8 {
    match direction {
        Direction::Read => READ_TIMED_OUT,
        Direction::Write => WRITE_TIMED_OUT,
    }
}

/// A thread's epoll instance and its table of descriptors.
pub struct Poller {
    epoll: OwnedFd,
    /// `slots[fd]`.
    slots: RefCell<Vec<Slot>>,
    /// `epoll_wait`'s output, kept to avoid clearing a fresh array every harvest.
    events: RefCell<Vec<libc::epoll_event>>,
    /// What the driver did so far.
    activity: Cell<PollerActivity>,
    /// The thread's `sleep_until` waits, fired by the driver.
    timers: Timers,
    /// Whether the tick has work.
    tick_gate: TickGate,
    /// The waits' deadlines, earliest first.
    deadlines: Deadlines,
    /// Idle watches that fired.
    watches: Watches,
    /// The current wait for events began then (its time is not yet in `idle_us`).
    idle_since: Cell<Option<Instant>>,
    /// The deadlines' ticks, and the round's time they count from (`clock.rs`).
    clock: Clock,
}

/// What a thread's poller driver did since it started, for `show activity`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollerActivity {
    /// `epoll_wait` calls (rounds, naps included): HAProxy's `loops`.
    pub loops: u64,
    /// Those that returned events: HAProxy's `poll_io`.
    pub poll_io: u64,
    /// Naps that an event ended.
    pub naps: u64,
    /// Naps that ran out, after which the thread slept in io_uring: HAProxy's `poll_exp`.
    pub parks: u64,
    /// Time spent waiting for events (naps and sleeps), in microseconds: HAProxy's idle time.
    pub idle_us: u64,
}

thread_local! {
    static POLLER: RefCell<Option<Rc<Poller>>> = const { RefCell::new(None) };
}

impl Poller {
    /// Creates this thread's poller and spawns its driver on the thread's glommio executor.
    /// Must be called inside the executor; a second call keeps the first poller.
    pub fn install(spin: Spin, nap: Duration) -> io::Result<()> {
        Poller::get_or_install(spin, nap).map(drop)
    }

    /// This thread's poller, installed now (with `spin` and `nap`, see [`crate::DEFAULT_NAP`])
    /// if it has none. Must be called inside the thread's glommio executor.
    pub(crate) fn get_or_install(spin: Spin, nap: Duration) -> io::Result<Rc<Poller>> {
        if let Some(poller) = Poller::current() {
            return Ok(poller);
        }
        // SAFETY: plain system call; the result is checked before use.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let poller = Rc::new(Poller {
            // SAFETY: `fd` is a new descriptor that nothing else owns.
            epoll: unsafe { OwnedFd::from_raw_fd(fd) },
            slots: RefCell::new(Vec::new()),
            events: RefCell::new(vec![
                libc::epoll_event { events: 0, u64: 0 };
                EVENTS_PER_WAIT
            ]),
            activity: Cell::new(PollerActivity::default()),
            timers: Timers::default(),
            tick_gate: TickGate::default(),
            deadlines: Deadlines::default(),
            watches: Watches::default(),
            idle_since: Cell::new(None),
            clock: Clock::new(),
        });
        POLLER.with(|slot| *slot.borrow_mut() = Some(poller.clone()));
        glommio::spawn_local(drive(poller.clone(), spin, nap)).detach();
        let ticked = poller.clone();
        crate::spawn(async move {
            loop {
                let gate = &ticked.tick_gate;
                gate.until_needed().await;
                let now = Instant::now();
                // Awake, the driver needs the tick's bound on a lost wake-up; asleep, only the
                // earliest deadline matters.
                let next = if gate.driver_parked() {
                    let Some(deadline) = ticked.next_deadline() else {
                        gate.set_deadlines(false);
                        continue;
                    };
                    deadline.max(now + TICK)
                } else {
                    now + TICK
                };
                gate.plan(next);
                futures_lite::future::or(glommio::timer::sleep(next - now), gate.replanned()).await;
                gate.woke();
                let pending = ticked.expire(Instant::now());
                gate.set_deadlines(pending);
            }
        })
        .detach();
        Ok(poller)
    }

    /// How many times this thread's poller has waited in io_uring (0 without a poller).
    pub fn parks() -> u64 {
        Poller::activity().parks
    }

    /// How many of this thread's naps in epoll_wait an event ended (0 without a poller).
    pub fn naps() -> u64 {
        Poller::activity().naps
    }

    /// What this thread's poller driver did so far (zeros without a poller).
    pub fn activity() -> PollerActivity {
        Poller::current().map_or_else(PollerActivity::default, |poller| {
            // A wait in progress counts up to now, so a tick that runs while the driver sleeps
            // sees the sleep.
            let now = Instant::now();
            if poller.idle_since.get().is_some() {
                poller.fold_idle(now, Some(now));
            }
            poller.activity.get()
        })
    }

    /// Adds the wait since `idle_since` to `idle_us`, and marks it as counted up to `until`.
    fn fold_idle(&self, now: Instant, until: Option<Instant>) {
        if let Some(since) = self.idle_since.replace(until) {
            let waited = now.saturating_duration_since(since).as_micros();
            self.count(|activity| activity.idle_us += waited as u64);
        }
    }

    pub(crate) fn timers(&self) -> &Timers {
        &self.timers
    }

    pub(crate) fn watches(&self) -> &Watches {
        &self.watches
    }

    /// Watches `fd` while it is idle: its next readable event fires `token`. Returns whether
    /// the poller knows that a read would block (nothing arrived since an attempt found it
    /// empty), which a registered socket's slot tells without a system call.
    pub(crate) fn watch(&self, fd: RawFd, token: u64) -> bool {
        let mut quiet = false;
        self.with_slot(fd, |slot| {
            slot.set_watch(Some(token));
            quiet = slot.read_quiet();
        });
        quiet
    }

    /// Ends the watch of `fd`; returns whether the poller knows that a read would block (as of
    /// its last harvest: bytes that reach the socket between a harvest and the reuse are read
    /// as the response, a race no HTTP/1.1 proxy closes; docs/architecture.md).
    pub(crate) fn unwatch(&self, fd: RawFd) -> bool {
        let mut quiet = false;
        self.with_slot(fd, |slot| {
            slot.set_watch(None);
            quiet = slot.read_quiet();
        });
        quiet
    }

    fn count(&self, change: impl FnOnce(&mut PollerActivity)) {
        let mut activity = self.activity.get();
        change(&mut activity);
        self.activity.set(activity);
    }

    /// This thread's poller, if one was installed.
    pub(crate) fn current() -> Option<Rc<Poller>> {
        POLLER.with(|slot| slot.borrow().clone())
    }

    /// Adds `fd`, on which an attempt just found it would block, to the epoll set
    /// (edge-triggered: an event for every change, and at once for one that came since that
    /// attempt). Both directions start unknown, so the next attempt either way is made.
    pub(crate) fn register(&self, fd: RawFd) -> io::Result<()> {
        self.with_slot(fd, |slot| *slot = Slot::default());
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: fd as u64,
        };
        // SAFETY: `event` is valid for the call; the descriptors are open.
        let rc =
            unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// `fd` is about to close: its slot is cleared.
    pub(crate) fn forget(&self, fd: RawFd) {
        self.with_slot(fd, |slot| *slot = Slot::default());
    }

    /// Removes `fd` (still open) from the epoll set.
    pub(crate) fn deregister(&self, fd: RawFd) {
        // SAFETY: `fd` is open; a null event is allowed for EPOLL_CTL_DEL.
        unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            );
        }
    }

    /// An attempt on `fd` in `direction` may not block.
    pub(crate) fn is_ready(&self, fd: RawFd, direction: Direction) -> bool {
        self.slots
            .borrow()
            .get(fd as usize)
            .is_none_or(|slot| match direction {
                Direction::Read => !slot.read_quiet(),
                Direction::Write => slot.has(WRITE_READY),
            })
    }

    /// An attempt on `fd` in `direction` found it would block.
    pub(crate) fn blocked(&self, fd: RawFd, direction: Direction) {
        self.with_slot(fd, |slot| slot.set(ready_flag(direction), false));
    }

    /// An attempt on `fd` in `direction` completed; `drained`: it also showed that the next
    /// one would block (a read that took less than it asked for empties a stream socket).
    pub(crate) fn done(&self, fd: RawFd, direction: Direction, drained: bool) {
        self.with_slot(fd, |slot| {
            slot.set(timed_out_flag(direction), false);
            if drained {
                slot.set(ready_flag(direction), false);
            }
        });
    }

    /// The deadline `timeout` from now as a tick for [`wait`](Self::wait): from the round's
    /// time, so up to a round early (`clock.rs`).
    pub(crate) fn deadline(&self, timeout: Duration) -> u64 {
        self.clock.deadline(timeout)
    }

    /// The task behind `waker` waits on `fd` in `direction`, until the tick `deadline` (from
    /// [`deadline`](Self::deadline); 0: none), checked at every tick.
    pub(crate) fn wait(&self, fd: RawFd, direction: Direction, waker: &Waker, deadline: u64) {
        if deadline != 0 {
            self.tick_gate.deadline_set(self.clock.instant(deadline));
        }
        self.with_slot(fd, |slot| {
            let side = slot.side(direction);
            side.deadline = deadline;
            // One entry per side: an earlier one already queued finds this deadline when it
            // comes due.
            if deadline != 0 && (side.queued == 0 || deadline < side.queued) {
                side.queued = deadline;
                self.deadlines.push(deadline, fd, direction);
            }
            match &side.waker {
                Some(current) if current.will_wake(waker) => {}
                _ => side.waker = Some(waker.clone()),
            }
        });
    }

    /// The wait on `fd` in `direction` passed its deadline (and the mark is cleared).
    pub(crate) fn take_timed_out(&self, fd: RawFd, direction: Direction) -> bool {
        let mut timed_out = false;
        self.with_slot(fd, |slot| timed_out = slot.take(timed_out_flag(direction)));
        timed_out
    }

    /// Wakes the waits whose deadline passed, marked as timed out; returns whether any wait
    /// may still have a deadline. Looks only at the entries due.
    fn expire(&self, now: Instant) -> bool {
        let now = self.clock.tick(now);
        while let Some((queued, fd, direction)) = self.deadlines.pop_due(now) {
            self.settle(queued, fd, direction, now);
        }
        self.deadlines.next().is_some()
    }

    /// The earliest deadline a wait still has. The heap's first entries whose wait ended or
    /// moved to a later deadline are settled now rather than when they come due: a read that
    /// ended long ago leaves its entry behind (a first request's head arrives at once, its
    /// 10 s `timeout_http_request` entry stays), and the sleeping tick woke for each such
    /// entry, one every 10 ms for the 10 s after a burst of 9 000 keep-alive clients (12–14 ms
    /// of CPU a second while they sat idle).
    fn next_deadline(&self) -> Option<Instant> {
        loop {
            let (queued, fd, direction) = self.deadlines.peek()?;
            let live = self
                .slots
                .borrow_mut()
                .get_mut(fd as usize)
                .is_some_and(|slot| {
                    let side = slot.side(direction);
                    side.queued == queued && side.waker.is_some() && side.deadline == queued
                });
            if live {
                return Some(self.clock.instant(queued));
            }
            self.deadlines.pop();
            // Not a live wait's own deadline: settling it at its own time times nothing out.
            self.settle(queued, fd, direction, queued);
        }
    }

    /// The heap's entry `queued` for `fd` in `direction`, taken from the heap at tick `now`: a
    /// wait past its deadline is woken, timed out; one whose deadline moved later is queued
    /// again for then; an entry whose wait ended, or whose descriptor was closed and reused,
    /// is dropped.
    fn settle(&self, queued: u64, fd: RawFd, direction: Direction, now: u64) {
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots.get_mut(fd as usize) else {
            return;
        };
        let side = slot.side(direction);
        if side.queued != queued {
            // Its descriptor was closed and reused, or a later entry replaced it.
            return;
        }
        side.queued = 0;
        if side.waker.is_none() || side.deadline == 0 {
            return;
        }
        if side.deadline <= now {
            side.deadline = 0;
            if let Some(waker) = side.waker.take() {
                waker.wake();
            }
            slot.set(timed_out_flag(direction), true);
        } else {
            // The wait moved its deadline on: queued again for then.
            side.queued = side.deadline;
            self.deadlines.push(side.deadline, fd, direction);
        }
    }

    fn with_slot(&self, fd: RawFd, change: impl FnOnce(&mut Slot)) {
        let mut slots = self.slots.borrow_mut();
        let index = fd as usize;
        if slots.len() <= index {
            slots.resize_with(index + 1, Slot::default);
        }
        change(&mut slots[index]);
    }

    /// Marks the sockets that became readable and wakes their tasks; returns how many events
    /// came.
    fn harvest(&self) -> usize {
        self.harvest_within(Duration::ZERO)
    }

    /// [`harvest`](Self::harvest), the first `epoll_wait` blocking the thread for up to
    /// `timeout` until an event comes.
    fn harvest_within(&self, timeout: Duration) -> usize {
        let mut events = self.events.borrow_mut();
        let mut total = 0;
        let mut timeout = timeout;
        loop {
            let n = wait_for_events(
                self.epoll.as_raw_fd(),
                &mut events,
                std::mem::take(&mut timeout),
            );
            self.count(|activity| {
                activity.loops += 1;
                activity.poll_io += u64::from(n > 0);
            });
            if n <= 0 {
                return total;
            }
            let n = n as usize;
            let mut slots = self.slots.borrow_mut();
            for event in &events[..n] {
                let Some(slot) = slots.get_mut(event.u64 as usize) else {
                    continue;
                };
                if event.events & HANG_UP_EVENTS != 0 {
                    slot.set(HUNG_UP, true);
                }
                // An event reports the whole state of the socket, so EPOLLIN is in every one
                // that finds bytes waiting.
                if event.events & READABLE != 0 {
                    slot.set(READ_READY, true);
                    if let Some(waker) = slot.read.waker.take() {
                        waker.wake();
                    }
                    if slot.take(WATCHED) {
                        self.watches.fire(slot.watch);
                    }
                }
                if event.events & WRITABLE != 0 {
                    slot.set(WRITE_READY, true);
                    if let Some(waker) = slot.write.waker.take() {
                        waker.wake();
                    }
                }
            }
            total += n;
            if n < EVENTS_PER_WAIT {
                return total;
            }
        }
    }
}

/// The driver: harvests, lets the woken tasks run (it wakes itself, so it runs again after
/// them in the same pass of the executor, without a system call), and once a spin of empty
/// harvests runs out, naps and then waits in io_uring until the epoll descriptor has events.
async fn drive(poller: Rc<Poller>, spin: Spin, nap: Duration) {
    let mut spin = SpinState::new(spin);
    // Empty harvests in a row, and how many the current streak may make before the nap.
    let mut empty = 0;
    let mut budget = 0;
    let mut wakes = crate::spawn::wakes();
    loop {
        // A task woken since the last round (by another task: the driver's own wakes are
        // counted at its round's end) may be queued behind the driver, where a nap would keep
        // it waiting (`spawn.rs`).
        let woken_meanwhile = crate::spawn::wakes() != wakes;
        poller.clock.new_round();
        let mut found = poller.harvest();
        if poller.timers.next().is_some() {
            found += poller.timers.fire(Instant::now());
        }
        if found > 0 {
            if empty > 0 && budget > 0 {
                spin.record(true);
            }
            empty = 0;
        } else {
            if empty == 0 {
                budget = spin.budget();
            }
            empty += 1;
            if empty > budget && !woken_meanwhile {
                if budget > 0 {
                    spin.record(false);
                }
                empty = 0;
                idle(&poller, nap).await;
            }
        }
        wakes = crate::spawn::wakes();
        futures_lite::future::yield_now().await;
    }
}

/// The thread found nothing to do for a while: a nap in `epoll_wait` (cut short by the
/// earliest `sleep_until` timer), and if nothing came, a sleep in glommio until a descriptor
/// is ready or that timer is due.
async fn idle(poller: &Poller, longest_nap: Duration) {
    let now = Instant::now();
    poller.idle_since.set(Some(now));
    wait_idle(poller, longest_nap, now).await;
    // The tasks the nap or the sleep woke run in a round of their own.
    poller.clock.new_round();
    poller.fold_idle(Instant::now(), None);
}

async fn wait_idle(poller: &Poller, longest_nap: Duration, now: Instant) {
    let next_timer = poller.timers.next();
    let nap = next_timer.map_or(longest_nap, |due| {
        longest_nap.min(due.saturating_duration_since(now))
    });
    if poller.harvest_within(nap) > 0 {
        poller.count(|activity| activity.naps += 1);
        return;
    }
    if nap < longest_nap {
        // A timer is due: the next round fires it.
        return;
    }
    poller.count(|activity| activity.parks += 1);
    poller.tick_gate.set_driver_parked(true);
    poller.clock.pause();
    let readable = async {
        if ParkWaker::wrap(epoll_readable(poller.epoll.as_raw_fd()))
            .await
            .is_err()
        {
            // No descriptor left for the wait (the process is at its limit): sleep a nap in
            // glommio instead. Returning at once would keep the driver in glommio's run queue,
            // napping in epoll_wait, and glommio's timers (the accept loops' back-off after
            // EMFILE) would wait for its 100 ms preemption.
            glommio::timer::sleep(longest_nap).await;
        }
    };
    let timer_due = async {
        match next_timer {
            Some(due) => glommio::timer::sleep(due.saturating_duration_since(Instant::now())).await,
            None => futures_lite::future::pending().await,
        }
    };
    // A task may add an earlier timer while the thread sleeps (woken by glommio for
    // something else): the sleep then ends, and the next round sees the new timer.
    let earlier_timer = poller.timers.earlier_added();
    futures_lite::future::or(readable, futures_lite::future::or(timer_due, earlier_timer)).await;
    poller.tick_gate.set_driver_parked(false);
}

/// The waker glommio's io_uring poll on the epoll descriptor holds while the driver sleeps:
/// it tells the tick gate that glommio woke the driver (`TickGate::driver_woken`), then wakes
/// it. glommio 0.9 can park its thread with a woken task still queued (its run loop reads a
/// pending preemption as "nothing to run"; fixed upstream by glommio/glommio#53), until some
/// timer or completion ends the sleep: with the driver stranded so, and the tick asleep until
/// the earliest deadline, the thread stopped serving. This is the one wake-up that carries
/// every socket's work, so it is the one bounded here. It wraps the io_uring poll alone: a
/// glommio timer's waker runs while glommio holds its timer table, which the nudge needs.
struct ParkWaker {
    driver: Waker,
}

impl ParkWaker {
    /// `future`, polled with a `ParkWaker` around its task's waker.
    async fn wrap<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        futures_lite::future::poll_fn(|cx| {
            let waker = Waker::from(Arc::new(ParkWaker {
                driver: cx.waker().clone(),
            }));
            future.as_mut().poll(&mut Context::from_waker(&waker))
        })
        .await
    }
}

impl Wake for ParkWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // try_with: a wake during the thread's exit finds no poller and only wakes.
        if let Ok(Some(poller)) = POLLER.try_with(|slot| slot.borrow().clone()) {
            poller.tick_gate.driver_woken(TICK, &self.driver);
        }
        self.driver.wake_by_ref();
    }
}

/// One `epoll_wait` into `events`, blocking up to `timeout`; a timeout finer than a
/// millisecond goes through `epoll_pwait2` (Linux 5.11), which takes nanoseconds. Returns the
/// number of events, or -1 on an error (on an older kernel `epoll_pwait2` fails at once, and
/// the driver polls without napping until the timer is due).
fn wait_for_events(epoll: RawFd, events: &mut [libc::epoll_event], timeout: Duration) -> i32 {
    let max = events.len() as i32;
    let whole_ms = timeout.subsec_nanos().is_multiple_of(1_000_000);
    if whole_ms {
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `events` is valid for `max` entries.
        return unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), max, ms) };
    }
    let timespec = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `events` is valid for `max` entries; `timespec` outlives the call; a null
    // signal mask leaves the thread's mask alone.
    unsafe { libc::epoll_pwait2(epoll, events.as_mut_ptr(), max, &timespec, std::ptr::null()) }
}

/// Waits until the epoll descriptor has events, through one io_uring poll of glommio's.
///
/// glommio has no public "wait for this descriptor" call, but a stream it builds from a
/// descriptor arms an io_uring POLLIN on it at once, and the stream's first read waits for that
/// poll. So a stream over a duplicate of the epoll descriptor serves as the wait: its read
/// returns when the poll fires (with ENOTSOCK, since epoll is no socket, which is expected) and
/// dropping it closes the duplicate.
async fn epoll_readable(epoll: RawFd) -> io::Result<()> {
    // SAFETY: plain system call; the result is checked before use.
    let dup = unsafe { libc::fcntl(epoll, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `dup` is a new descriptor that the stream now owns and closes.
    let mut stream = unsafe { TcpStream::from_raw_fd(dup) };
    let mut byte = [0u8; 1];
    let _ = stream.read(&mut byte).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slot per descriptor number up to the highest open: each idle client connection pays
    /// for one (docs/benchmarks.md, "What an idle connection holds"). It was 136 bytes with
    /// `Option<Instant>` deadlines, an `Option<u64>` watch token and a `bool` per flag.
    #[test]
    fn a_slot_takes_80_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 80);
    }

    #[test]
    fn flags_are_per_direction() {
        let mut slot = Slot::default();
        assert!(slot.has(READ_READY) && slot.has(WRITE_READY));
        slot.set(READ_READY, false);
        assert!(slot.read_quiet() && slot.has(WRITE_READY));
        slot.set(timed_out_flag(Direction::Write), true);
        assert!(!slot.take(timed_out_flag(Direction::Read)));
        assert!(slot.take(timed_out_flag(Direction::Write)));
        assert!(!slot.has(WRITE_TIMED_OUT));
        slot.set(HUNG_UP, true);
        assert!(!slot.read_quiet());
        slot.set_watch(Some(0));
        assert!(slot.has(WATCHED) && slot.watch == 0);
        slot.set_watch(None);
        assert!(!slot.has(WATCHED));
    }
}
