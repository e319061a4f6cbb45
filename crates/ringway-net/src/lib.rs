//! Sockets for the proxy and its load kit that wait through one epoll instance per thread
//! ([`Poller`], `poller.rs`) rather than through glommio: TCP streams ([`Socket`],
//! `socket.rs`) and listeners ([`Listener`], `listener.rs`), both waiting through a
//! registration with the thread's poller (`registration.rs`), and timers the poller fires
//! itself ([`sleep_until`], `timer.rs`), and a wake-up other threads send ([`Doorbell`],
//! `doorbell.rs`), splices of body bytes through a pipe ([`Pipe`], `splice.rs`), and watches
//! on idle sockets that report their first byte or close
//! ([`watch_fired`], `watch.rs`). How long the poller looks for work before its thread naps is its [`Spin`]
//! policy (`spin.rs`). glommio keeps the executor, its other timers and its channels.

mod clock;
mod deadlines;
mod doorbell;
mod listener;
mod poller;
mod registration;
mod socket;
mod spawn;
mod spin;
mod splice;
mod tick;
mod timer;
mod watch;

pub use doorbell::{Doorbell, DoorbellListener, RemoteWakes};
pub use listener::{set_listen_options, Listener};
pub use poller::{Poller, PollerActivity};
pub use socket::{Keepalive, Socket};
pub use spawn::spawn;
pub use spin::Spin;
pub use splice::{spliced_bytes, Pipe, MAX_PIPES, PIPE_SIZE};
pub use timer::sleep_until;
pub use watch::{watch_fired, IdleCheck};

/// How long a poller's driver blocks its thread in `epoll_wait` once rounds come back empty,
/// before it hands the wait to glommio, unless installed with another nap (the proxy's shards
/// nap longer). A glommio sleep costs a dozen io_uring operations and system calls (timers
/// armed and cancelled, a membarrier); a nap costs one `epoll_wait`, as HAProxy's sleep does,
/// and covers the gaps of a partly loaded thread. While it lasts the thread's glommio timers
/// and completions, and tasks woken other than through the poller, wait (by one nap at
/// most): every socket of the thread goes through the poller, and
/// [`sleep_until`] timers end a nap, so none of them is held up.
pub const DEFAULT_NAP: std::time::Duration = std::time::Duration::from_millis(1);

/// Empty executor rounds the poller looks for ready sockets before it waits in io_uring,
/// unless configured (`spin_rounds`).
pub const DEFAULT_SPIN_ROUNDS: u32 = 16;
