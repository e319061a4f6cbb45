//! A frontend's log sink, shared by the shards: stderr, a file (reopened by SIGUSR1: the new
//! file is swapped in at once, and every later write goes to it), or a syslog receiver. Each
//! user writes through its own [`SinkWriter`], which for syslog owns its socket, so the shards
//! share no socket and take no lock on the way to a receiver.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use ringway_config::{AccessLog, LogTarget, SyslogOptions, SyslogRfc};
use ringway_stats::{Severity, SyslogFrame};

use super::host;
use super::syslog_socket::{SyslogAddr, SyslogSocket};

/// Writes to a pipe up to this size are atomic, so lines of two shards never mix on stderr.
const PIPE_BUF: usize = 4096;

pub enum LogSink {
    Stderr,
    File(FileSink),
    Syslog(SyslogSink),
}

pub struct FileSink {
    path: PathBuf,
    file: Mutex<Arc<File>>,
}

pub struct SyslogSink {
    addr: SyslogAddr,
    options: SyslogOptions,
    hostname: Option<String>,
    pid: u32,
}

impl LogSink {
    /// Opens a file target (creating it); syslog sockets connect at their first message.
    pub fn open(log: &AccessLog) -> io::Result<LogSink> {
        let syslog = |addr: SyslogAddr| {
            let options = log.syslog.clone().unwrap_or_default();
            // A local socket gets syslog(3)'s RFC 3164 form, without the host.
            let remote = matches!(addr, SyslogAddr::Udp(_)) || options.rfc == SyslogRfc::Rfc5424;
            LogSink::Syslog(SyslogSink {
                addr,
                options,
                hostname: remote.then(host::hostname).flatten(),
                pid: std::process::id(),
            })
        };
        Ok(match &log.target {
            LogTarget::Stderr => LogSink::Stderr,
            LogTarget::File(path) => LogSink::File(FileSink {
                file: Mutex::new(Arc::new(open_append(path)?)),
                path: path.clone(),
            }),
            LogTarget::Udp(addr) => syslog(SyslogAddr::Udp(*addr)),
            LogTarget::Unix(path) => syslog(SyslogAddr::Unix(path.clone())),
        })
    }

    /// A new way to this sink for one user (a shard, the process log).
    pub fn writer(self: &Arc<Self>) -> SinkWriter {
        let socket = match &**self {
            LogSink::Syslog(syslog) => Some(SyslogSocket::new(syslog.addr.clone())),
            _ => None,
        };
        SinkWriter {
            sink: self.clone(),
            socket,
            datagram: Vec::new(),
        }
    }

    pub fn syslog(&self) -> Option<&SyslogSink> {
        match self {
            LogSink::Syslog(syslog) => Some(syslog),
            _ => None,
        }
    }

    /// SIGUSR1: a file target opens its path again (a new file after logrotate renamed the
    /// old one) and later writes go there; the old file gets no more lines once writes in
    /// progress end. Other targets have nothing to reopen.
    pub fn reopen(&self) -> io::Result<()> {
        if let LogSink::File(sink) = self {
            let file = Arc::new(open_append(&sink.path)?);
            *sink.file.lock().unwrap_or_else(PoisonError::into_inner) = file;
        }
        Ok(())
    }

    pub fn path(&self) -> Option<&Path> {
        match self {
            LogSink::File(sink) => Some(&sink.path),
            _ => None,
        }
    }
}

impl SyslogSink {
    /// The same receiver with the same framing: one process message is enough for both.
    pub fn same_as(&self, other: &SyslogSink) -> bool {
        self.addr == other.addr && self.options == other.options
    }

    fn frame(&self) -> SyslogFrame<'_> {
        SyslogFrame {
            rfc: match self.options.rfc {
                SyslogRfc::Rfc3164 => ringway_stats::SyslogRfc::Rfc3164,
                SyslogRfc::Rfc5424 => ringway_stats::SyslogRfc::Rfc5424,
            },
            facility: self.options.facility,
            hostname: self.hostname.as_deref(),
            tag: &self.options.tag,
            pid: self.pid,
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// One user's way to a sink.
pub struct SinkWriter {
    sink: Arc<LogSink>,
    /// This user's own socket, for a syslog sink.
    socket: Option<SyslogSocket>,
    /// The datagram being sent, reused.
    datagram: Vec<u8>,
}

impl SinkWriter {
    /// Writes whole lines, each ending in a newline; errors are dropped (a full disk or a
    /// slow receiver must not stop the proxy). For syslog, each line is one datagram of
    /// `severity`, sent without blocking. Returns how many lines a syslog receiver did not
    /// take.
    pub fn write_lines(&mut self, bytes: &[u8], severity: Severity) -> u64 {
        match &*self.sink {
            // O_APPEND: one write per flush keeps every line whole.
            LogSink::File(sink) => {
                let file = sink
                    .file
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let _ = (&*file).write_all(bytes);
                0
            }
            LogSink::Stderr => {
                write_stderr(bytes);
                0
            }
            LogSink::Syslog(_) => {
                let Some(socket) = &mut self.socket else {
                    return 0;
                };
                let LogSink::Syslog(sink) = &*self.sink else {
                    return 0;
                };
                let datagram = &mut self.datagram;
                datagram.clear();
                sink.frame().write_header(datagram, severity, host::now());
                let header = datagram.len();
                let mut dropped = 0;
                for line in bytes.split(|&byte| byte == b'\n') {
                    if line.is_empty() {
                        continue;
                    }
                    datagram.truncate(header);
                    datagram.extend_from_slice(line);
                    if !socket.send(datagram) {
                        dropped += 1;
                    }
                }
                dropped
            }
        }
    }
}

/// Writes to stderr in pieces of at most PIPE_BUF bytes cut at line ends.
fn write_stderr(bytes: &[u8]) {
    let mut stderr = io::stderr().lock();
    let mut rest = bytes;
    while !rest.is_empty() {
        let cut = if rest.len() <= PIPE_BUF {
            rest.len()
        } else {
            rest[..PIPE_BUF]
                .iter()
                .rposition(|&byte| byte == b'\n')
                .map_or(PIPE_BUF, |at| at + 1)
        };
        if stderr.write_all(&rest[..cut]).is_err() {
            return;
        }
        rest = &rest[cut..];
    }
}
