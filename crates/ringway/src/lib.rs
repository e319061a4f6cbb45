//! ringway: a thread-per-core HTTP/1.1 reverse proxy on glommio with HAProxy's per-thread
//! server connection pools. `Proxy::start` runs it; the binary adds the CLI and signals.

mod access_log;
mod admin;
mod balance;
mod conn_close;
mod control;
mod error;
mod exchange;
mod forward;
mod health;
mod idle;
mod iobuf;
mod layout;
mod listeners;
mod logging;
mod monitor;
mod privileges;
mod process;
mod proxy;
mod proxy_protocol;
mod readiness;
mod reload;
pub mod sd_notify;
mod server_conn;
mod session;
mod sessions;
mod shard;
mod signal;
mod tls;
pub mod upgrade;

pub use error::ProxyError;
pub use logging::{LogReopener, ProcessLog};
pub use process::{ProcessShared, ShardCommand};
pub use proxy::{check_files, Proxy, Reloader, StartError, Stopper, Upgrader};
pub use signal::{block_usr1, spawn_reopen_on_usr1};
