//! Sockets for the proxy and its load kit that wait through one epoll instance per thread
//! ([`Poller`], `poller.rs`) rather than through glommio: TCP streams ([`Socket`],
//! `socket.rs`) and listeners ([`Listener`], `listener.rs`), both waiting through a
//! registration with the thread's poller (`registration.rs`), and timers the poller fires
//! itself ([`sleep_until`], `timer.rs`), and a wake-up other threads send ([`Doorbell`],
//! `doorbell.rs`). How long the poller looks for work before its thread naps is its [`Spin`]
//! policy (`spin.rs`). glommio keeps the executor, its other timers and its channels.

mod doorbell;
mod listener;
mod poller;
mod registration;
mod socket;
mod spin;
mod tick;
mod timer;

pub use doorbell::{Doorbell, DoorbellListener};
pub use listener::Listener;
pub use poller::{Poller, PollerActivity};
pub use socket::Socket;
pub use spin::Spin;
pub use timer::sleep_until;

/// Empty executor rounds the poller looks for ready sockets before it waits in io_uring,
/// unless configured (`spin_rounds`).
pub const DEFAULT_SPIN_ROUNDS: u32 = 16;
