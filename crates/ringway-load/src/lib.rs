//! `ringway-load`: the test origin and the load generator used to exercise
//! and benchmark the ringway proxy, over HTTP or HTTPS.
//!
//! - [`origin`] owns a fast HTTP/1.1 origin server with test hooks driven by
//!   the query string, per-connection ids and shared request counters. Other
//!   crates start it in-process through [`Origin::start`]. With
//!   [`OriginConfig::tls`] it serves HTTPS and counts handshakes, resumed
//!   handshakes, failed handshakes and SNI names.
//!   With [`OriginConfig::h2`] it speaks HTTP/2 over clear text with prior
//!   knowledge (h2c) instead, each stream counted as a request.
//! - [`load`] owns the load generator: closed-loop and open-loop (fixed
//!   rate) HTTP/1.1 clients on one glommio executor per thread, latency in
//!   HdrHistograms, a [`LoadReport`] at the end. `https://` URLs speak TLS,
//!   resuming sessions unless told not to.
//! - [`certs`] owns the test PKI: a CA and the leaf certificates it signs,
//!   as PEM files, for tests, benchmarks and demos.
//! - [`forward`] owns a byte-for-byte TCP forwarder with no HTTP in it, the
//!   cost floor the benchmarks set beside the proxies, waiting with epoll or
//!   with an io_uring ring.
//! - [`hostile`] owns a misbehaving origin (late bytes, a body after HEAD,
//!   idle connections closed at random) and the client that checks no
//!   response reaches the wrong client through a proxy.
//! - Chunked bodies are framed by `ringway_http::BodyFramer`, the proxy's
//!   own decoder, on both sides.
//! - [`cli`] owns the command line of the `ringway-load` binary.
//! - `spin.rs` owns the process-wide number of poll rounds
//!   ([`set_spin_rounds`]) each thread's `ringway_net::Poller` makes before
//!   it waits in io_uring; both sides read through `ringway_net::Socket`,
//!   as the proxy does.
//!
//! Both sides run plain and TLS connections through the same code, over
//! `ringway_tls::NetStream`, whose plain path delegates straight to the
//! socket. Everything here is written for tests and benchmarks on one
//! machine; the parsers still never panic on network input.

pub mod certs;
pub mod cli;
mod decimal;
pub mod duration;
pub mod forward;
pub mod hostile;
pub mod load;
pub mod origin;
mod runtime;
mod spin;

pub use certs::{LeafFiles, Pki, ScratchDir};
pub use forward::{Forwarder, Waiter};
pub use load::{run_load, LatencySummary, LoadConfig, LoadReport};
pub use origin::{origin_body, Origin, OriginConfig, OriginStats, OriginTls};
pub use spin::{set_spin_rounds, DEFAULT_SPIN_ROUNDS};
