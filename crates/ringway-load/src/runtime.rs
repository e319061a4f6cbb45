//! Executor construction shared by the origin and the load generator.
//!
//! Owns the glommio settings that let several executors live in one process
//! under a small `RLIMIT_MEMLOCK` (tests start an origin, a proxy and a load
//! generator side by side).

use glommio::{LocalExecutorBuilder, Placement};

/// Locked I/O memory per executor. Network I/O does not use this pool (it
/// only backs DMA file buffers), so use glommio's minimum: glommio
/// registers it with each of an executor's three rings, which charges
/// about 3 x 64 KiB of `RLIMIT_MEMLOCK` per executor, so an 8 MiB limit
/// leaves room for some forty executors in one process (origin, proxy and
/// load generator side by side in tests).
pub(crate) const IO_MEMORY: usize = 64 << 10;

/// A builder for one executor thread named `name`, pinned to `cpu` if given.
pub(crate) fn executor(name: &str, cpu: Option<usize>) -> LocalExecutorBuilder {
    let placement = match cpu {
        Some(cpu) => Placement::Fixed(cpu),
        None => Placement::Unbound,
    };
    LocalExecutorBuilder::new(placement)
        .name(name)
        .io_memory(IO_MEMORY)
}

/// Turns a glommio error into an `std::io::Error` for callers outside glommio.
pub(crate) fn io_error(err: glommio::GlommioError<()>) -> std::io::Error {
    std::io::Error::other(err.to_string())
}
