//! glommio socket helpers shared by the proxy and its load kit. `spin.rs` owns the reads both
//! use: a few executor rounds of non-blocking `recv` before glommio arms an io_uring wait.

mod spin;

pub use spin::{Spinner, DEFAULT_SPIN_ROUNDS};
