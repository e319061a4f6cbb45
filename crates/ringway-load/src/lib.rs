//! `ringway-load`: the test origin and the load generator used to exercise
//! and benchmark the ringway proxy.
//!
//! - [`origin`] owns a fast HTTP/1.1 origin server with test hooks driven by
//!   the query string, per-connection ids and shared request counters. Other
//!   crates start it in-process through [`Origin::start`].
//! - [`load`] owns the load generator: closed-loop and open-loop (fixed
//!   rate) HTTP/1.1 clients on one glommio executor per thread, latency in
//!   HdrHistograms, a [`LoadReport`] at the end.
//! - [`chunked`] owns the incremental `Transfer-Encoding: chunked` decoder
//!   both sides use.
//! - [`cli`] owns the command line of the `ringway-load` binary.
//! - `spin.rs` owns the reads both sides use: a few executor rounds of
//!   non-blocking `recv` before waiting in io_uring, which makes both
//!   faster than plain glommio reads under load ([`set_spin_rounds`]
//!   tunes or disables it).
//!
//! Everything here is written for tests and benchmarks on one machine; the
//! parsers still never panic on network input.

pub mod chunked;
pub mod cli;
mod decimal;
pub mod duration;
pub mod load;
pub mod origin;
mod runtime;
mod spin;

pub use load::{run_load, LatencySummary, LoadConfig, LoadReport};
pub use origin::{origin_body, Origin, OriginConfig, OriginStats};
pub use spin::{set_spin_rounds, DEFAULT_SPIN_ROUNDS};
