//! Takeover of idle HTTP/2 server connections by another shard, as HAProxy's `mux_h2`
//! takeover: a shard that has no connection with a free stream to a server, and may take a
//! peer's (the server-wide idle count reaches `pool_low_conn`), takes an idle one instead of
//! opening one.
//!
//! An HTTP/1.1 idle connection is only a socket and its TLS state, which the thief takes
//! straight from the shared pool (`server::idle`). An idle HTTP/2 connection also has a task
//! on its shard running h2's state (answering PINGs, reading a GOAWAY), so its owner hands it
//! over: the owner puts an [`Offer`] on the server's [`Shelf`] when the connection's last
//! stream ends and takes it back before reusing it; a thief takes the offer off the shelf,
//! which claims the connection, and rings the owner; the owner's driver stops, takes the
//! socket out of its poller and gives the thief everything ([`Moving`]); the thief rebuilds
//! the socket and runs the connection on its own shard. The thief waits at most the
//! server's connect timeout; if it gives up, the owner keeps the connection.

use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use h2::client::SendRequest;
use ringway_tls::rustls::Connection;
use tokio_util::compat::Compat;

use super::homed::Homed;
use crate::http2::frames::Departed;

/// h2's state of a server connection, which moves with it.
pub type H2Connection = h2::client::Connection<Compat<Homed>, Bytes>;

/// An idle connection on its way to another shard: everything but the shard's own objects.
pub struct Moving {
    pub id: u64,
    pub connection: H2Connection,
    pub send: SendRequest<Bytes>,
    pub tcp: TcpStream,
    pub tls: Option<Box<Connection>>,
    pub tally: Departed,
    /// Streams begun on it so far (`max_reuse`).
    pub begun: u64,
    pub idle_since: Instant,
}

/// One server's idle HTTP/2 connections that peers may take, per owning shard.
pub struct Shelf {
    shards: Box<[Mutex<Vec<Arc<Offer>>>]>,
}

impl Shelf {
    pub fn new(shards: usize) -> Shelf {
        Shelf {
            shards: (0..shards).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }

    fn of(&self, shard: usize) -> MutexGuard<'_, Vec<Arc<Offer>>> {
        self.shards[shard]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Offers an idle connection of `offer.shard` to its peers.
    pub fn put(&self, offer: &Arc<Offer>) {
        self.of(offer.shard).push(offer.clone());
    }

    /// Takes an offer back before its owner reuses the connection; false if a peer claimed
    /// it meanwhile.
    pub fn withdraw(&self, offer: &Arc<Offer>) -> bool {
        let mut offers = self.of(offer.shard);
        match offers.iter().position(|other| Arc::ptr_eq(other, offer)) {
            Some(at) => {
                offers.swap_remove(at);
                true
            }
            None => false,
        }
    }

    /// Claims the most recently offered connection of `peer` for shard `taker`; with the
    /// owner's driver to wake (on its shard: [`ringway_net::RemoteWakes`]).
    pub fn claim(&self, peer: usize, taker: usize) -> Option<(Arc<Offer>, Option<Waker>)> {
        let offer = self.of(peer).pop()?;
        let owner = {
            let mut deal = offer.deal();
            deal.state = State::Claimed(taker, None);
            deal.owner.clone()
        };
        Some((offer, owner))
    }
}

/// A connection's place on the shelf, kept for its life on one shard.
pub struct Offer {
    /// The shard that owns the connection.
    pub shard: usize,
    deal: Mutex<Deal>,
}

struct Deal {
    /// The owner's driver, to wake when the connection is claimed.
    owner: Option<Waker>,
    state: State,
}

enum State {
    /// Not claimed.
    Open,
    /// Claimed by a shard, whose waiting task is woken with the answer.
    Claimed(usize, Option<Waker>),
    /// The owner's answer: the connection, or nothing (it closed meanwhile).
    Given(Option<Box<Moving>>),
    /// The taker stopped waiting; the owner keeps the connection.
    Abandoned,
}

impl Offer {
    pub fn new(shard: usize) -> Arc<Offer> {
        Arc::new(Offer {
            shard,
            deal: Mutex::new(Deal {
                owner: None,
                state: State::Open,
            }),
        })
    }

    fn deal(&self) -> MutexGuard<'_, Deal> {
        self.deal
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// For the owner's driver: ready once a peer has claimed the connection (also if that
    /// peer has stopped waiting since: the owner then restarts the connection as its own).
    pub fn poll_claimed(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut deal = self.deal();
        if !deal.owner.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            deal.owner = Some(cx.waker().clone());
        }
        match deal.state {
            State::Claimed(..) | State::Abandoned => Poll::Ready(()),
            State::Open | State::Given(_) => Poll::Pending,
        }
    }

    /// The owner's answer to a claim. Returns the taker's shard and waiting task to wake, or
    /// gives `moving` back if the taker has stopped waiting (the offer is open again).
    pub fn give(
        &self,
        moving: Option<Box<Moving>>,
    ) -> Result<Option<(usize, Waker)>, Option<Box<Moving>>> {
        let mut deal = self.deal();
        match std::mem::replace(&mut deal.state, State::Open) {
            State::Claimed(taker, waker) => {
                deal.state = State::Given(moving);
                Ok(waker.map(|waker| (taker, waker)))
            }
            State::Open | State::Abandoned => Err(moving),
            given @ State::Given(_) => {
                deal.state = given;
                Ok(None)
            }
        }
    }

    /// For the taker: the owner's answer once given.
    pub fn poll_given(&self, cx: &mut Context<'_>) -> Poll<Option<Box<Moving>>> {
        let mut deal = self.deal();
        match &mut deal.state {
            State::Claimed(_, waker) => {
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            State::Given(moving) => {
                let moving = moving.take();
                deal.state = State::Open;
                Poll::Ready(moving)
            }
            State::Open | State::Abandoned => Poll::Ready(None),
        }
    }

    /// The taker stops waiting: an answer that came meanwhile is still taken, else the
    /// owner's driver is returned, to be woken on its shard.
    pub fn abandon(&self) -> Result<Option<Box<Moving>>, Option<Waker>> {
        let mut deal = self.deal();
        match std::mem::replace(&mut deal.state, State::Abandoned) {
            State::Given(moving) => {
                deal.state = State::Open;
                Ok(moving)
            }
            _ => Err(deal.owner.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    #[test]
    fn the_owner_takes_its_offer_back_unless_a_peer_claimed_it() {
        let shelf = Shelf::new(2);
        let offer = Offer::new(0);
        shelf.put(&offer);
        assert!(shelf.withdraw(&offer));
        shelf.put(&offer);
        assert!(shelf.claim(0, 1).is_some());
        assert!(!shelf.withdraw(&offer), "claimed by shard 1");
        assert!(shelf.claim(0, 1).is_none(), "claimed once");
        assert!(shelf.claim(1, 0).is_none(), "shard 1 offers nothing");
    }

    #[test]
    fn a_claim_is_answered_once_or_abandoned() {
        let shelf = Shelf::new(2);
        let offer = Offer::new(0);
        assert!(offer.poll_claimed(&mut cx()).is_pending());
        shelf.put(&offer);
        let (claimed, owner) = shelf.claim(0, 1).unwrap();
        assert!(owner.is_some(), "the owner's driver is woken");
        assert!(claimed.poll_given(&mut cx()).is_pending());
        assert!(offer.poll_claimed(&mut cx()).is_ready());
        // The owner found the connection closed: the taker hears "nothing" at once.
        assert!(matches!(offer.give(None), Ok(Some((1, _)))));
        assert!(matches!(claimed.poll_given(&mut cx()), Poll::Ready(None)));
        assert!(offer.poll_claimed(&mut cx()).is_pending(), "open again");

        // A taker that stops waiting: the owner is told, and keeps what it packed.
        shelf.put(&offer);
        let (claimed, _) = shelf.claim(0, 1).unwrap();
        assert!(
            matches!(claimed.abandon(), Err(Some(_))),
            "the owner is told"
        );
        assert!(offer.poll_claimed(&mut cx()).is_ready());
        assert!(matches!(offer.give(None), Err(None)));
        assert!(offer.poll_claimed(&mut cx()).is_pending(), "open again");
    }
}
