//! glommio socket helpers shared by the proxy and its load kit: reads that wait through one
//! epoll instance per thread ([`Poller`], `poller.rs`) rather than one io_uring poll per socket,
//! and the stream type that uses it ([`Socket`], `socket.rs`).

mod poller;
mod socket;

pub use poller::Poller;
pub use socket::Socket;

/// Empty executor rounds the poller looks for ready sockets before it waits in io_uring,
/// unless configured (`spin_rounds`).
pub const DEFAULT_SPIN_ROUNDS: u32 = 16;
