//! A descriptor's place in its thread's [`Poller`]: the one way sockets and listeners wait.
//!
//! An attempt (a `recv`, a `send`, an `accept`, a second `connect`) is made unless the poller
//! knows it would block; when it would, the descriptor joins the epoll set (at its first wait)
//! and the task leaves its waker for that direction, with a deadline from the caller's timeout
//! (checked at the poller's tick).

use std::cell::Cell;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::poller::{Direction, Poller};

pub(crate) struct Registration {
    fd: RawFd,
    poller: Rc<Poller>,
    /// In the poller's epoll set.
    registered: Cell<bool>,
    /// The deadline of the wait running in each direction as the poller's tick, set at its
    /// first pending poll (`Some(0)`: waiting without a deadline; `None`: no wait running).
    read_wait: Cell<Option<u64>>,
    write_wait: Cell<Option<u64>>,
}

impl Registration {
    /// `fd` on this thread's poller (installed now with the default rounds if the thread has
    /// none). Must be called inside a glommio executor.
    pub(crate) fn new(fd: RawFd) -> io::Result<Registration> {
        Ok(Registration {
            fd,
            poller: Poller::get_or_install(
                crate::Spin::Fixed(crate::DEFAULT_SPIN_ROUNDS),
                crate::DEFAULT_NAP,
            )?,
            registered: Cell::new(false),
            read_wait: Cell::new(None),
            write_wait: Cell::new(None),
        })
    }

    /// Runs `attempt` (which reports "would block" as `ErrorKind::WouldBlock`) or waits for
    /// `direction`, at most `timeout` from the first wait. `drained` tells from a result that
    /// the next attempt would block (a short read or write), which saves that attempt.
    pub(crate) fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        timeout: Option<Duration>,
        attempt: impl FnOnce() -> io::Result<T>,
        drained: impl FnOnce(&T) -> bool,
    ) -> Poll<io::Result<T>> {
        let registered = self.registered.get();
        if !registered || self.poller.is_ready(self.fd, direction) {
            match attempt() {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.poller.blocked(self.fd, direction)
                }
                result => {
                    let drained = result.as_ref().is_ok_and(drained);
                    self.poller.done(self.fd, direction, drained);
                    self.wait_cell(direction).set(None);
                    return Poll::Ready(result);
                }
            }
        }
        if !registered {
            if let Err(error) = self.poller.register(self.fd) {
                return Poll::Ready(Err(error));
            }
            self.registered.set(true);
            self.poller.blocked(self.fd, direction);
        }
        if self.poller.take_timed_out(self.fd, direction) {
            self.wait_cell(direction).set(None);
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                match direction {
                    Direction::Read => "read timed out",
                    Direction::Write => "write timed out",
                },
            )));
        }
        let wait = self.wait_cell(direction);
        let deadline = match wait.get() {
            Some(deadline) => deadline,
            None => {
                let deadline = timeout.map_or(0, |timeout| self.poller.deadline(timeout));
                wait.set(Some(deadline));
                deadline
            }
        };
        self.poller.wait(self.fd, direction, cx.waker(), deadline);
        Poll::Pending
    }

    /// Forgets the deadline of a wait under way in `direction`: its next poll sets one from the
    /// timeout it is given then.
    pub(crate) fn restart_wait(&self, direction: Direction) {
        self.wait_cell(direction).set(None);
    }

    fn wait_cell(&self, direction: Direction) -> &Cell<Option<u64>> {
        match direction {
            Direction::Read => &self.read_wait,
            Direction::Write => &self.write_wait,
        }
    }

    /// Puts the descriptor in the epoll set if it is not there yet (its slot starts unknown).
    fn ensure_registered(&self) -> io::Result<()> {
        if !self.registered.get() {
            self.poller.register(self.fd)?;
            self.registered.set(true);
        }
        Ok(())
    }

    /// Joins the epoll set with reads known to block until an event says otherwise (a
    /// connection that has received nothing yet). Edge-triggered registration reports what
    /// is already there at once, so nothing that came before is missed.
    pub(crate) fn register_quiet(&self) -> io::Result<()> {
        self.ensure_registered()?;
        self.poller.blocked(self.fd, Direction::Read);
        Ok(())
    }

    /// Joins the epoll set as [`register_quiet`](Self::register_quiet) if not in it yet: a
    /// descriptor never seen to block would otherwise count as ready (for a wait that makes
    /// no attempt of its own, `Socket::readable`). Its first event reports what it holds.
    pub(crate) fn register_quiet_if_new(&self) -> io::Result<()> {
        if self.registered.get() {
            return Ok(());
        }
        self.register_quiet()
    }

    /// Starts an idle watch with `token` (`watch.rs`), joining the epoll set if needed. Returns
    /// whether the poller knows a read would block.
    pub(crate) fn watch(&self, token: u64) -> io::Result<bool> {
        self.ensure_registered()?;
        Ok(self.poller.watch(self.fd, token))
    }

    /// Ends the idle watch; returns whether the poller knows a read would block.
    pub(crate) fn unwatch(&self) -> bool {
        self.registered.get() && self.poller.unwatch(self.fd)
    }

    /// The poller knows a read would block.
    pub(crate) fn known_quiet(&self) -> bool {
        self.registered.get() && !self.poller.is_ready(self.fd, Direction::Read)
    }

    /// A look at the socket found nothing to read.
    pub(crate) fn read_would_block(&self) {
        self.poller.blocked(self.fd, Direction::Read);
    }

    /// Takes the descriptor out of the epoll set before it is dropped, for one that stays open
    /// through another descriptor: closing the last descriptor of a socket removes it by itself.
    pub(crate) fn leave(&self) {
        if self.registered.replace(false) {
            self.poller.deregister(self.fd);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.poller.forget(self.fd);
    }
}
