//! Where log lines go. Owns the sinks of the frontends' access logs (stderr, files that SIGUSR1
//! reopens, syslog receivers over UDP or a unix datagram socket), each user's way to a sink
//! (a shard's own syslog socket), and the process's own messages (start, stop, errors), which
//! follow the access logs to syslog when a frontend logs there. Line formats belong to
//! `access_log`; the syslog framing is `ringway_stats::SyslogFrame`.

pub(crate) mod access_log;
mod host;
mod process_log;
mod sink;
mod syslog_socket;

pub use process_log::{LogReopener, ProcessLog};
pub use sink::{LogSink, SinkWriter};
