//! The process's own messages (start, stop, failed requests, errors of the runtime) and the
//! reopening of log files. Messages go to every distinct syslog receiver the frontends' access
//! logs name, with a severity (notice, warning, err); with no syslog access log they go to
//! stderr as `ringway: ...` lines, as before.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use ringway_stats::Severity;

use super::sink::{LogSink, SinkWriter};
use crate::process::Current;

pub struct ProcessLog {
    /// One writer per distinct syslog receiver; empty: stderr.
    syslog: Vec<Mutex<SinkWriter>>,
}

impl ProcessLog {
    /// Messages follow the access logs that go to syslog, once per receiver.
    pub fn new(sinks: &[Option<Arc<LogSink>>]) -> ProcessLog {
        let mut chosen: Vec<&Arc<LogSink>> = Vec::new();
        for sink in sinks.iter().flatten() {
            let Some(syslog) = sink.syslog() else {
                continue;
            };
            let seen = chosen
                .iter()
                .filter_map(|other| other.syslog())
                .any(|other| other.same_as(syslog));
            if !seen {
                chosen.push(sink);
            }
        }
        ProcessLog {
            syslog: chosen
                .into_iter()
                .map(|sink| Mutex::new(sink.writer()))
                .collect(),
        }
    }

    /// Only stderr.
    pub fn stderr() -> ProcessLog {
        ProcessLog { syslog: Vec::new() }
    }

    /// Start, stop and other normal but significant events.
    pub fn notice(&self, message: fmt::Arguments<'_>) {
        self.emit(Severity::Notice, message);
    }

    /// Something went wrong on a client's side, or the runtime works around a problem.
    pub fn warning(&self, message: fmt::Arguments<'_>) {
        self.emit(Severity::Warning, message);
    }

    /// A request failed on the proxy's or a server's side, or the runtime hit an error.
    pub fn err(&self, message: fmt::Arguments<'_>) {
        self.emit(Severity::Err, message);
    }

    fn emit(&self, severity: Severity, message: fmt::Arguments<'_>) {
        if self.syslog.is_empty() {
            // A closed stderr loses the message; it must not end the process (eprintln! would
            // panic).
            let _ = writeln!(std::io::stderr(), "ringway: {message}");
            return;
        }
        let line = format!("{message}\n");
        for writer in &self.syslog {
            // A message the receiver does not take is lost: there is nowhere else to say so.
            let _ = writer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write_lines(line.as_bytes(), severity);
        }
    }
}

/// Reopens every frontend's log file (SIGUSR1, after logrotate renamed them); usable from
/// another thread.
#[derive(Clone)]
pub struct LogReopener(pub(crate) Arc<Current>);

impl LogReopener {
    /// The process's messages (the generation serving now).
    pub fn log(&self) -> Arc<ProcessLog> {
        self.0.get().log.clone()
    }

    /// Reopens each file target; a file that cannot be opened keeps the old one and is
    /// reported. Returns how many files were reopened.
    pub fn reopen(&self) -> usize {
        let mut reopened = 0;
        let shared = self.0.get();
        for sink in shared.access_logs.iter().flatten() {
            let Some(path) = sink.path() else {
                continue;
            };
            match sink.reopen() {
                Ok(()) => reopened += 1,
                Err(error) => shared.log.err(format_args!(
                    "cannot reopen the access log {}: {error}; writing to the old file",
                    path.display()
                )),
            }
        }
        reopened
    }
}
