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
mod idle;
mod iobuf;
mod layout;
mod monitor;
mod privileges;
mod process;
mod proxy;
mod readiness;
pub mod sd_notify;
mod server_conn;
mod session;
mod sessions;
mod shard;
mod signal;
mod tls;

pub use error::ProxyError;
pub use process::{ProcessShared, ShardCommand};
pub use proxy::{check_files, Proxy, StartError, Stopper};
