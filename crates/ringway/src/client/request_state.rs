//! What a request in flight needs beyond its session and keeps only while it is served: its
//! persistence cookie, its phase marks, its host for a server's SNI. An idle keep-alive
//! connection's task would otherwise carry these 136 bytes; instead the session holds a
//! [`RequestSlot`] (8 bytes), which takes a boxed [`RequestState`] from a per-thread free list
//! at the request's first use of it and gives it back when the request ends, as the receive
//! buffers do (`iobuf.rs`): no allocation per request once the list has some.

use std::cell::RefCell;
use std::time::Instant;

use crate::client::exchange::Marks;
use crate::server::persist::RequestPersist;

/// States kept per thread for the next requests (an HTTP/2 connection's streams each hold one
/// while they run).
const FREE_STATES: usize = 1024;

thread_local! {
    // Boxes, not states: taking one and giving it back moves a pointer, not 136 bytes, and
    // the slot holds the same box.
    #[allow(clippy::vec_box)]
    static FREE: RefCell<Vec<Box<RequestState>>> = const { RefCell::new(Vec::new()) };
}

pub(crate) struct RequestState {
    /// The persistence cookie of the request, when its backend has one.
    pub persist: RequestPersist,
    /// When the request reached each phase (set when it gets a server slot).
    pub marks: Marks,
    /// The request's host, port stripped, kept when a server takes its SNI from it.
    pub host: String,
}

/// A session's [`RequestState`], there while a request uses it.
#[derive(Default)]
pub(crate) struct RequestSlot(Option<Box<RequestState>>);

impl RequestSlot {
    /// The request's state, taken from the free list (or made) at its first use.
    pub fn get(&mut self) -> &mut RequestState {
        self.0.get_or_insert_with(|| {
            FREE.with(|free| free.borrow_mut().pop())
                .unwrap_or_else(|| {
                    Box::new(RequestState {
                        persist: RequestPersist::default(),
                        marks: Marks::new(Instant::now()),
                        host: String::new(),
                    })
                })
        })
    }

    /// The request's host for a server's SNI ("" when none was kept).
    pub fn host(&self) -> &str {
        self.0.as_ref().map_or("", |state| &state.host)
    }

    /// The request ended: its state goes back to the free list.
    pub fn release(&mut self) {
        if let Some(mut state) = self.0.take() {
            // Not another session's host for a server's SNI.
            state.host.clear();
            // try_with: a session dropped as its thread exits frees the state.
            let _ = FREE.try_with(|free| {
                let mut free = free.borrow_mut();
                if free.len() < FREE_STATES {
                    free.push(state);
                }
            });
        }
    }

    /// A state is held (a request is using it).
    #[cfg(test)]
    fn is_held(&self) -> bool {
        self.0.is_some()
    }
}

impl Drop for RequestSlot {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the state saves an idle session: it must stay out of the session's task.
    #[test]
    fn a_slot_takes_8_bytes_and_the_state_136() {
        assert_eq!(std::mem::size_of::<RequestSlot>(), 8);
        assert_eq!(std::mem::size_of::<RequestState>(), 136);
    }

    #[test]
    fn a_released_state_is_taken_again_by_the_next_request() {
        let mut first = RequestSlot::default();
        assert!(!first.is_held());
        first.get().host.push_str("example.com");
        let address: *const RequestState = &*first.get();
        first.release();
        assert!(!first.is_held());
        assert_eq!(first.host(), "");
        let mut next = RequestSlot::default();
        assert!(std::ptr::eq(&*next.get(), address), "the free list's state");
        assert_eq!(next.get().host, "", "no other request's host");
    }
}
