//! A hostile origin and the client that checks a proxy against it (issue 14): the origin
//! misbehaves the way real servers do — bytes after a complete response, a body after a HEAD
//! answer, a body longer than its Content-Length, idle keep-alive connections closed at random
//! — and the client tags every request with an id and checks that the response it gets carries
//! the same id. A response carrying another id reached the wrong client.
//!
//! Blocking std sockets and a thread per connection: this is test equipment, where clarity
//! beats speed.
//!
//! - `origin.rs` owns [`HostileOrigin`] and its [`Hostility`].
//! - `check.rs` owns [`check`], the tagging client, and its [`CheckReport`].
//! - `wire.rs` owns the small blocking HTTP/1.1 reads both sides share.

mod check;
mod origin;
mod wire;

pub use check::{check, CheckConfig, CheckReport, Mix};
pub use origin::{HostileOrigin, Hostility};
