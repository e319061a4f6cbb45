//! Pieces of log lines shared by the access log formats and the syslog framing: calendar dates
//! from a time since the epoch (HAProxy's `21/Nov/2026:10:00:00.123`, ISO 8601, and syslog's
//! `Nov 21 10:00:00`) and JSON string escaping. Pure: callers pass the time.

use std::io::Write;
use std::time::Duration;

pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down time of day and date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
    pub hour: u64,
    pub minute: u64,
    pub second: u64,
}

impl Civil {
    /// The date and time `seconds` after 1970-01-01T00:00:00 (negative: before).
    pub fn from_unix(seconds: i64) -> Civil {
        let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
        let rem = seconds.rem_euclid(86_400).unsigned_abs();
        Civil {
            year,
            month,
            day,
            hour: rem / 3_600,
            minute: rem % 3_600 / 60,
            second: rem % 60,
        }
    }

    fn month_name(&self) -> &'static str {
        MONTHS
            .get((self.month as usize).wrapping_sub(1))
            .unwrap_or(&"Jan")
    }
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn unix_seconds(since_epoch: Duration) -> i64 {
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX / 2)
}

/// HAProxy's date form, `21/Nov/2026:10:00:00.123`, in UTC.
pub fn write_haproxy_date(out: &mut Vec<u8>, since_epoch: Duration) {
    let c = Civil::from_unix(unix_seconds(since_epoch));
    let _ = write!(
        out,
        "{:02}/{}/{:04}:{:02}:{:02}:{:02}.{:03}",
        c.day,
        c.month_name(),
        c.year,
        c.hour,
        c.minute,
        c.second,
        since_epoch.subsec_millis()
    );
}

/// ISO 8601 / RFC 3339 in UTC with `digits` (3 or 6) fractional digits:
/// `2026-11-21T10:00:00.123Z`.
pub fn write_iso_date(out: &mut Vec<u8>, since_epoch: Duration, digits: u8) {
    let c = Civil::from_unix(unix_seconds(since_epoch));
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    );
    let _ = match digits {
        6 => write!(out, ".{:06}Z", since_epoch.subsec_micros()),
        _ => write!(out, ".{:03}Z", since_epoch.subsec_millis()),
    };
}

/// Syslog's RFC 3164 timestamp, `Nov  1 10:00:00` (day padded with a space), at `since_epoch`
/// shifted by `utc_offset` seconds (the local time).
pub fn write_bsd_date(out: &mut Vec<u8>, since_epoch: Duration, utc_offset: i32) {
    let c = Civil::from_unix(unix_seconds(since_epoch).saturating_add(i64::from(utc_offset)));
    let _ = write!(
        out,
        "{} {:>2} {:02}:{:02}:{:02}",
        c.month_name(),
        c.day,
        c.hour,
        c.minute,
        c.second
    );
}

/// `text` as a JSON string, quotes included.
pub fn write_json_str(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'"');
    let mut rest = text;
    while let Some(at) = rest
        .iter()
        .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
    {
        out.extend_from_slice(&rest[..at]);
        match rest[at] {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            control => {
                let _ = write!(out, "\\u{control:04x}");
            }
        }
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn at(secs: u64, micros: u64) -> Duration {
        Duration::from_micros(secs * 1_000_000 + micros)
    }

    #[test]
    fn haproxy_dates() {
        let date =
            |secs: u64, millis: u64| text(|out| write_haproxy_date(out, at(secs, millis * 1000)));
        assert_eq!(date(0, 0), "01/Jan/1970:00:00:00.000");
        assert_eq!(date(951_782_400, 7), "29/Feb/2000:00:00:00.007");
        assert_eq!(date(1_795_257_368, 986), "21/Nov/2026:10:36:08.986");
        assert_eq!(date(4_102_444_799, 999), "31/Dec/2099:23:59:59.999");
        assert!(date(u64::MAX / 1_000_000, 0).is_ascii());
    }

    #[test]
    fn iso_and_bsd_dates() {
        let time = at(1_795_257_368, 986_543);
        assert_eq!(
            text(|out| write_iso_date(out, time, 6)),
            "2026-11-21T10:36:08.986543Z"
        );
        assert_eq!(
            text(|out| write_iso_date(out, time, 3)),
            "2026-11-21T10:36:08.986Z"
        );
        assert_eq!(text(|out| write_bsd_date(out, time, 0)), "Nov 21 10:36:08");
        assert_eq!(
            text(|out| write_bsd_date(out, time, 14 * 3600)),
            "Nov 22 00:36:08"
        );
        assert_eq!(
            text(|out| write_bsd_date(out, at(1_793_527_200, 0), -3600)),
            "Nov  1 09:00:00"
        );
    }

    #[test]
    fn json_strings() {
        assert_eq!(text(|out| write_json_str(out, b"plain")), "\"plain\"");
        assert_eq!(
            text(|out| write_json_str(out, b"a\"b\\c\nd\x01")),
            r#""a\"b\\c\nd\u0001""#
        );
        let parsed: String =
            serde_json::from_str(&text(|out| write_json_str(out, "é\t\"x\u{7f}".as_bytes())))
                .unwrap();
        assert_eq!(parsed, "é\t\"x\u{7f}");
    }
}
