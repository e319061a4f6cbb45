//! ringway: a thread-per-core HTTP/1.1 reverse proxy on glommio with HAProxy's per-thread
//! server connection pools. `Proxy::start` runs it; the binary adds the CLI and signals.

mod admin;
mod client;
mod error;
mod http2;
mod logging;
mod process;
mod server;
mod tls;

pub use error::ProxyError;
pub use logging::{LogReopener, ProcessLog};
pub use process::proxy::{check_files, Proxy, Reloader, StartError, Stopper, Upgrader};
pub use process::signal::{block_usr1, spawn_reopen_on_usr1};
pub use process::{sd_notify, upgrade, ProcessShared, ShardCommand};
