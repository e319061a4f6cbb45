//! The deadlines of a thread's socket waits, earliest first, so that the tick expires only
//! the waits that are due instead of scanning every descriptor (50 000 idle keep-alive clients
//! would otherwise cost a scan of 100 000 entries every 10 ms). Each side of a descriptor has
//! at most one entry in the heap (`Waiting::queued` in the poller): a wait whose deadline is
//! later than its queued entry's is found when that entry comes due and is queued again then;
//! an entry whose wait ended or changed is dropped when it comes due. Deadlines are the
//! poller's ticks (`Clock` in `poller.rs`): an entry is 16 bytes.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::os::fd::RawFd;

use crate::poller::Direction;

/// A deadline's entry: its tick, the descriptor, and whether it is the write side's.
type Entry = Reverse<(u64, RawFd, bool)>;

#[derive(Default)]
pub(crate) struct Deadlines {
    heap: RefCell<BinaryHeap<Entry>>,
}

impl Deadlines {
    pub(crate) fn push(&self, deadline: u64, fd: RawFd, direction: Direction) {
        let write = direction == Direction::Write;
        self.heap.borrow_mut().push(Reverse((deadline, fd, write)));
    }

    /// The earliest entry due at `now`, taken.
    pub(crate) fn pop_due(&self, now: u64) -> Option<(u64, RawFd, Direction)> {
        match self.peek() {
            Some((deadline, _, _)) if deadline <= now => self.pop(),
            _ => None,
        }
    }

    /// The earliest entry.
    pub(crate) fn peek(&self) -> Option<(u64, RawFd, Direction)> {
        self.heap
            .borrow()
            .peek()
            .map(|Reverse(entry)| unpack(*entry))
    }

    /// The earliest entry, taken.
    pub(crate) fn pop(&self) -> Option<(u64, RawFd, Direction)> {
        self.heap
            .borrow_mut()
            .pop()
            .map(|Reverse(entry)| unpack(entry))
    }

    /// When the earliest entry comes due.
    pub(crate) fn next(&self) -> Option<u64> {
        self.peek().map(|(deadline, _, _)| deadline)
    }
}

fn unpack((deadline, fd, write): (u64, RawFd, bool)) -> (u64, RawFd, Direction) {
    let direction = if write {
        Direction::Write
    } else {
        Direction::Read
    };
    (deadline, fd, direction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_due_entries_come_out_earliest_first() {
        let deadlines = Deadlines::default();
        let now = 1_000;
        deadlines.push(now + 60_000, 7, Direction::Read);
        deadlines.push(now + 5, 8, Direction::Write);
        deadlines.push(now + 1, 9, Direction::Read);
        assert_eq!(deadlines.pop_due(now), None);
        let later = now + 10;
        assert_eq!(
            deadlines.pop_due(later).map(|(_, fd, dir)| (fd, dir)),
            Some((9, Direction::Read))
        );
        assert_eq!(
            deadlines.pop_due(later).map(|(_, fd, dir)| (fd, dir)),
            Some((8, Direction::Write))
        );
        assert_eq!(deadlines.pop_due(later), None);
        assert_eq!(deadlines.next(), Some(now + 60_000));
    }

    /// Each waiting side with a deadline has an entry (the heap doubles as it grows).
    #[test]
    fn an_entry_takes_16_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 16);
    }
}
