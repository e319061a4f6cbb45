//! Syslog framing: the header put before each log line sent to a syslog receiver, in the form
//! of RFC 3164 (`<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: `) or of RFC 5424
//! (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD `), as rsyslog and journald read them. Pure: the runtime passes the time, the local
//! offset from UTC, the host name and the pid, and owns the sockets. One message is one header
//! and one line, without its newline, in one datagram.

use std::io::Write;
use std::time::Duration;

use crate::logline::{write_bsd_date, write_iso_date};

/// Which message format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyslogRfc {
    #[default]
    Rfc3164,
    Rfc5424,
}

/// Syslog severities (RFC 5424 §6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Emerg = 0,
    Alert = 1,
    Crit = 2,
    Err = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

/// The highest facility code (`local7`).
pub const MAX_FACILITY: u8 = 23;
/// RFC 5424's limits on HOSTNAME and APP-NAME; RFC 3164's on the TAG.
const MAX_HOSTNAME: usize = 255;
const MAX_APP_NAME: usize = 48;
const MAX_TAG: usize = 32;

/// PRI: facility × 8 + severity (a facility past `local7` counts as `local7`).
pub fn pri(facility: u8, severity: Severity) -> u8 {
    facility.min(MAX_FACILITY) * 8 + severity as u8
}

/// What every message of one sender has in common.
#[derive(Debug, Clone, Copy)]
pub struct SyslogFrame<'a> {
    pub rfc: SyslogRfc,
    pub facility: u8,
    /// The HOSTNAME field. `None` leaves it out of an RFC 3164 header, as syslog(3) does on
    /// `/dev/log` (rsyslog's and journald's local socket parsers expect no host there), and
    /// writes the NILVALUE `-` in RFC 5424.
    pub hostname: Option<&'a str>,
    /// TAG (3164) or APP-NAME (5424).
    pub tag: &'a str,
    pub pid: u32,
}

/// When a message is sent: the time since the epoch and the local offset from UTC in seconds
/// (RFC 3164 timestamps are local time; RFC 5424 ones are written in UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyslogTime {
    pub since_epoch: Duration,
    pub utc_offset: i32,
}

impl SyslogFrame<'_> {
    /// Writes the header of a message of `severity` sent at `time`; the line follows it.
    pub fn write_header(&self, out: &mut Vec<u8>, severity: Severity, time: SyslogTime) {
        let _ = write!(out, "<{}>", pri(self.facility, severity));
        match self.rfc {
            SyslogRfc::Rfc3164 => {
                write_bsd_date(out, time.since_epoch, time.utc_offset);
                out.push(b' ');
                if let Some(host) = self.hostname {
                    write_token(out, host, MAX_HOSTNAME, "localhost");
                    out.push(b' ');
                }
                write_token(out, self.tag, MAX_TAG, "ringway");
                let _ = write!(out, "[{}]: ", self.pid);
            }
            SyslogRfc::Rfc5424 => {
                out.extend_from_slice(b"1 ");
                write_iso_date(out, time.since_epoch, 6);
                out.push(b' ');
                write_token(out, self.hostname.unwrap_or("-"), MAX_HOSTNAME, "-");
                out.push(b' ');
                write_token(out, self.tag, MAX_APP_NAME, "-");
                // PROCID, MSGID, no STRUCTURED-DATA.
                let _ = write!(out, " {} - - ", self.pid);
            }
        }
    }

    /// A whole message: the header and `line` (one line; a trailing newline is dropped).
    pub fn write_message(
        &self,
        out: &mut Vec<u8>,
        severity: Severity,
        time: SyslogTime,
        line: &[u8],
    ) {
        self.write_header(out, severity, time);
        out.extend_from_slice(line.strip_suffix(b"\n").unwrap_or(line));
    }
}

/// A header field: printable ASCII without spaces and at most `max` bytes; other bytes become
/// `_`, and an empty field becomes `empty`.
fn write_token(out: &mut Vec<u8>, text: &str, max: usize, empty: &str) {
    if text.is_empty() {
        out.extend_from_slice(empty.as_bytes());
        return;
    }
    out.extend(text.bytes().take(max).map(|byte| {
        if byte.is_ascii_graphic() && byte != b'[' && byte != b']' && byte != b':' {
            byte
        } else {
            b'_'
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIME: SyslogTime = SyslogTime {
        // 2026-11-01T10:00:00.123456Z
        since_epoch: Duration::from_micros(1_793_527_200_123_456),
        utc_offset: 3600,
    };

    fn message(frame: SyslogFrame<'_>, severity: Severity, line: &str) -> String {
        let mut out = Vec::new();
        frame.write_message(&mut out, severity, TIME, line.as_bytes());
        String::from_utf8(out).unwrap()
    }

    fn frame(rfc: SyslogRfc, hostname: Option<&str>) -> SyslogFrame<'_> {
        SyslogFrame {
            rfc,
            facility: 16,
            hostname,
            tag: "ringway",
            pid: 4242,
        }
    }

    #[test]
    fn pri_is_facility_times_8_plus_severity() {
        assert_eq!(pri(16, Severity::Info), 134);
        assert_eq!(pri(0, Severity::Emerg), 0);
        assert_eq!(pri(23, Severity::Debug), 191);
        assert_eq!(pri(200, Severity::Debug), 191);
        assert_eq!(pri(3, Severity::Notice), 29);
    }

    #[test]
    fn rfc3164() {
        assert_eq!(
            message(
                frame(SyslogRfc::Rfc3164, Some("edge1")),
                Severity::Info,
                "a b\n"
            ),
            "<134>Nov  1 11:00:00 edge1 ringway[4242]: a b"
        );
        // On a local socket, as syslog(3): no host.
        assert_eq!(
            message(frame(SyslogRfc::Rfc3164, None), Severity::Err, "x"),
            "<131>Nov  1 11:00:00 ringway[4242]: x"
        );
    }

    #[test]
    fn rfc5424() {
        assert_eq!(
            message(
                frame(SyslogRfc::Rfc5424, Some("edge1")),
                Severity::Notice,
                "a b"
            ),
            "<133>1 2026-11-01T10:00:00.123456Z edge1 ringway 4242 - - a b"
        );
        assert_eq!(
            message(frame(SyslogRfc::Rfc5424, None), Severity::Info, ""),
            "<134>1 2026-11-01T10:00:00.123456Z - ringway 4242 - - "
        );
    }

    #[test]
    fn fields_never_break_the_header() {
        let odd = SyslogFrame {
            rfc: SyslogRfc::Rfc3164,
            facility: 1,
            hostname: Some("my host\n"),
            tag: "t[1]:",
            pid: 1,
        };
        assert_eq!(
            message(odd, Severity::Warning, "m"),
            "<12>Nov  1 11:00:00 my_host_ t_1__[1]: m"
        );
        let empty = SyslogFrame {
            hostname: Some(""),
            tag: "",
            ..odd
        };
        assert_eq!(
            message(empty, Severity::Warning, "m"),
            "<12>Nov  1 11:00:00 localhost ringway[1]: m"
        );
        let long = "h".repeat(300);
        let long_frame = SyslogFrame {
            rfc: SyslogRfc::Rfc5424,
            hostname: Some(&long),
            tag: &long,
            ..odd
        };
        let text = message(long_frame, Severity::Info, "m");
        assert_eq!(
            text.len(),
            "<14>1 2026-11-01T10:00:00.123456Z ".len() + 255 + 1 + 48 + " 1 - - m".len()
        );
    }
}
