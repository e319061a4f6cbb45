//! Owns cookie-based persistence on the request side (HAProxy's `cookie` directive), without
//! I/O: the backend's cookie settings, the dates `maxidle`/`maxlife` carry in the cookie value,
//! and finding the persistence cookie in a forwarded request head, then removing it (`insert`
//! with `indirect`) or its `SERVER~` prefix (`prefix`) so the server sees what it set. The
//! response side is `set_cookie.rs`.
//!
//! Heads here are ones this crate wrote ([`crate::parse_request`], [`crate::parse_response`]):
//! a start line, then `Name: value` lines each ending in CRLF, then an empty line. Edits only
//! remove bytes from a request head, so they cannot produce a malformed field.

use std::ops::Range;

use bytes::BytesMut;

/// How the persistence cookie is carried (HAProxy's `insert`, `rewrite`, `prefix`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CookieMode {
    /// The proxy sets its own cookie, `NAME=SERVER[|LAST[|FIRST]]`.
    #[default]
    Insert,
    /// The server sets the cookie; the proxy replaces its value with the server's.
    Rewrite,
    /// The server sets an application cookie; the proxy prefixes its value with `SERVER~`.
    Prefix,
}

impl CookieMode {
    /// The spelling used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            CookieMode::Insert => "insert",
            CookieMode::Rewrite => "rewrite",
            CookieMode::Prefix => "prefix",
        }
    }
}

/// A backend's persistence cookie (`cookie = { ... }`), checked by the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistCookie {
    /// A cookie name token.
    pub name: String,
    pub mode: CookieMode,
    /// `insert`: the cookie is removed from requests sent to the server; `prefix`: a server's
    /// own cookie is deleted from responses to requests that came with a valid one.
    pub indirect: bool,
    /// A response that gets an inserted cookie and may be cached also gets
    /// `Cache-Control: private`.
    pub nocache: bool,
    /// Seconds a cookie may go unused (0: no limit); inserted cookies carry their last date.
    pub maxidle: u32,
    /// Seconds a cookie may live from its first date (0: no limit).
    pub maxlife: u32,
    /// Attributes of an inserted cookie.
    pub path: String,
    pub domain: Option<String>,
    pub httponly: bool,
    pub secure: bool,
}

impl PersistCookie {
    /// A cookie with HAProxy's defaults for `name` and `mode` (no option, `path=/`).
    pub fn new(name: &str, mode: CookieMode) -> PersistCookie {
        PersistCookie {
            name: name.to_owned(),
            mode,
            indirect: false,
            nocache: false,
            maxidle: 0,
            maxlife: 0,
            path: "/".to_owned(),
            domain: None,
            httponly: false,
            secure: false,
        }
    }

    /// Inserted cookies carry dates.
    pub fn dated(&self) -> bool {
        self.maxidle > 0 || self.maxlife > 0
    }
}

/// Separates the server's value from the dates (`s1|LAST|FIRST`), as HAProxy.
pub const DATE_DELIMITER: u8 = b'|';
/// Separates the server's value from the application's in prefix mode (`s1~abc`).
pub const PREFIX_DELIMITER: u8 = b'~';
/// Dates more than this far in the future are refused (HAProxy: a day).
const FUTURE_SLACK: u64 = 86_400;

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// HAProxy's cookie date: a UNIX time in 4-second units, 30 bits in 5 base64 characters, most
/// significant first (`s30tob64`). `units` is `(seconds + 3) >> 2` for "now".
pub fn encode_date_units(units: u32) -> [u8; 5] {
    let mut out = [0u8; 5];
    for (index, slot) in out.iter_mut().enumerate() {
        let shift = 24 - 6 * index as u32;
        *slot = BASE64[((units >> shift) & 0x3f) as usize];
    }
    out
}

/// The date `now` (UNIX seconds) as an inserted cookie carries it, in 4-second units.
pub fn date_units(now: u64) -> u32 {
    (((now + 3) >> 2) & 0x3fff_ffff) as u32
}

/// Decodes 5 characters of [`encode_date_units`] into seconds; None when they are not base64.
pub fn decode_date(text: &[u8]) -> Option<u64> {
    let digits = text.get(..5)?;
    let mut units: u64 = 0;
    for &byte in digits {
        let value = BASE64.iter().position(|&c| c == byte)? as u64;
        units = (units << 6) | value;
    }
    (units > 0).then_some(units << 2)
}

/// What the request's persistence cookie said, before the runtime looked at its server's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestCookie {
    pub seen: CookieSeen,
    /// The server the cookie names (by the `lookup` of [`read_request_cookie`]), when it is
    /// neither expired nor too old.
    pub server: Option<usize>,
    /// The cookie's dates in UNIX seconds, 0 for none (or after it expired).
    pub last_date: u64,
    pub first_date: u64,
}

/// The request side of the cookie, HAProxy's third termination character but for the server's
/// state (`D`, which only the runtime knows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CookieSeen {
    /// `N`: no persistence cookie.
    #[default]
    None,
    /// `I`: a value no server has (or an empty one).
    Invalid,
    /// A server's value; `V`, or `D` when that server cannot take it.
    Server,
    /// `E`: its last date is older than `maxidle` (or more than a day ahead).
    Expired,
    /// `O`: its first date is older than `maxlife` (or more than a day ahead).
    Old,
}

impl CookieSeen {
    /// The log character; `Server` is `V` (the runtime writes `D` itself).
    pub fn log_char(self) -> u8 {
        match self {
            CookieSeen::None => b'N',
            CookieSeen::Invalid => b'I',
            CookieSeen::Server => b'V',
            CookieSeen::Expired => b'E',
            CookieSeen::Old => b'O',
        }
    }
}

/// Finds the persistence cookie in the `Cookie` fields of `head` (a forwarded request head),
/// judges its dates against `now` (UNIX seconds) and maps its value to a server with `lookup`.
/// Then edits the head as the mode asks: in `insert` mode with `indirect` every cookie of that
/// name is removed (a field left empty goes whole), in `prefix` mode the `SERVER~` prefix is.
/// The first cookie of that name decides; the edits apply to all of them.
pub fn read_request_cookie(
    head: &mut BytesMut,
    cookie: &PersistCookie,
    now: u64,
    lookup: impl Fn(&[u8]) -> Option<usize>,
) -> RequestCookie {
    let mut found: Option<RequestCookie> = None;
    let mut line = first_field(head);
    while let Some(field) = field_at(head, line) {
        if !field.named(head, b"cookie") {
            line = field.end;
            continue;
        }
        let mut pos = field.value.start;
        // Bytes removed from this field so far: its value and line end that much earlier.
        let mut shrunk = 0;
        let mut removed_line = false;
        while pos < field.value.end - shrunk {
            let value_end = field.value.end - shrunk;
            let pair_end = find(head, pos..value_end, b';').unwrap_or(value_end);
            let pair = trim(head, pos..pair_end);
            let Some((name, value)) = split_pair(head, pair.clone()) else {
                pos = pair_end + 1;
                continue;
            };
            if &head[name] != cookie.name.as_bytes() {
                pos = pair_end + 1;
                continue;
            }
            if found.is_none() {
                found = Some(judge(&head[value.clone()], cookie, now, &lookup));
            }
            match cookie.mode {
                CookieMode::Insert if cookie.indirect => {
                    let whole = field.value.start..value_end;
                    let cut = pair_cut(head, whole.clone(), pos, pair_end);
                    if cut == whole {
                        // The only cookie of the field: the field goes.
                        splice(head, field.start..field.end - shrunk, b"");
                        removed_line = true;
                        break;
                    }
                    shrunk += cut.len();
                    pos = cut.start;
                    splice(head, cut, b"");
                }
                CookieMode::Prefix => match find(head, value.clone(), PREFIX_DELIMITER) {
                    Some(delimiter) => {
                        let removed = delimiter + 1 - value.start;
                        splice(head, value.start..delimiter + 1, b"");
                        shrunk += removed;
                        pos = pair_end - removed + 1;
                    }
                    None => pos = pair_end + 1,
                },
                _ => pos = pair_end + 1,
            }
        }
        if !removed_line {
            line = field.end - shrunk;
        }
    }
    found.unwrap_or_default()
}

/// The meaning of one persistence cookie value, HAProxy's order: too old, then expired.
fn judge(
    value: &[u8],
    cookie: &PersistCookie,
    now: u64,
    lookup: &impl Fn(&[u8]) -> Option<usize>,
) -> RequestCookie {
    let (server, dates) = match cookie.mode {
        CookieMode::Prefix => (
            value
                .split(|&b| b == PREFIX_DELIMITER)
                .next()
                .unwrap_or(value),
            &b""[..],
        ),
        _ => match value.iter().position(|&b| b == DATE_DELIMITER) {
            Some(bar) => (&value[..bar], &value[bar + 1..]),
            None => (value, &b""[..]),
        },
    };
    let last_date = decode_date(dates).unwrap_or(0);
    let first_date = dates
        .iter()
        .position(|&b| b == DATE_DELIMITER)
        .and_then(|bar| decode_date(&dates[bar + 1..]))
        .unwrap_or(0);
    let beyond = |date: u64, limit: u32| {
        date != 0
            && limit > 0
            && (now.saturating_sub(date) > u64::from(limit)
                || date.saturating_sub(now) > FUTURE_SLACK)
    };
    if beyond(first_date, cookie.maxlife) {
        return RequestCookie {
            seen: CookieSeen::Old,
            ..RequestCookie::default()
        };
    }
    if beyond(last_date, cookie.maxidle) {
        return RequestCookie {
            seen: CookieSeen::Expired,
            ..RequestCookie::default()
        };
    }
    let server = if server.is_empty() {
        None
    } else {
        lookup(server)
    };
    RequestCookie {
        seen: if server.is_some() {
            CookieSeen::Server
        } else {
            CookieSeen::Invalid
        },
        server,
        last_date,
        first_date,
    }
}

/// The bytes to remove for the cookie pair starting at `pair_start` (its `;` at `separator`,
/// or the value's end) within a Cookie field `value`: the pair with the separator before it, or
/// for the first pair, the pair with the separator and the spaces after it.
fn pair_cut(head: &[u8], value: Range<usize>, pair_start: usize, separator: usize) -> Range<usize> {
    let before = head[value.start..pair_start]
        .iter()
        .rposition(|&b| b == b';')
        .map(|offset| value.start + offset);
    match before {
        Some(semicolon) => semicolon..separator,
        None if separator < value.end => {
            let mut end = separator + 1;
            while end < value.end && (head[end] == b' ' || head[end] == b'\t') {
                end += 1;
            }
            value.start..end
        }
        None => value,
    }
}

/// One field line of a head written by this crate.
#[derive(Debug, Clone)]
pub(crate) struct FieldLine {
    pub start: usize,
    pub name: Range<usize>,
    /// Without the spaces around it.
    pub value: Range<usize>,
    /// After the line's CRLF.
    pub end: usize,
}

impl FieldLine {
    pub(crate) fn named(&self, head: &[u8], name: &[u8]) -> bool {
        head[self.name.clone()].eq_ignore_ascii_case(name)
    }
}

/// Where the first field line starts (after the start line).
pub(crate) fn first_field(head: &[u8]) -> usize {
    find(head, 0..head.len(), b'\n').map_or(head.len(), |lf| lf + 1)
}

/// The field line at `start`; None at the empty line that ends the head (or past the end).
pub(crate) fn field_at(head: &[u8], start: usize) -> Option<FieldLine> {
    let lf = find(head, start..head.len(), b'\n')?;
    let line_end = if lf > start && head[lf - 1] == b'\r' {
        lf - 1
    } else {
        lf
    };
    if line_end == start {
        return None;
    }
    let colon = find(head, start..line_end, b':')?;
    Some(FieldLine {
        start,
        name: start..colon,
        value: trim(head, colon + 1..line_end),
        end: lf + 1,
    })
}

/// `name=value` split at its first `=`, both trimmed; None without `=` or with an empty name.
pub(crate) fn split_pair(head: &[u8], pair: Range<usize>) -> Option<(Range<usize>, Range<usize>)> {
    let equal = find(head, pair.clone(), b'=')?;
    let name = trim(head, pair.start..equal);
    (!name.is_empty()).then(|| (name, trim(head, equal + 1..pair.end)))
}

pub(crate) fn find(head: &[u8], range: Range<usize>, byte: u8) -> Option<usize> {
    let start = range.start;
    head.get(range)?
        .iter()
        .position(|&b| b == byte)
        .map(|offset| start + offset)
}

pub(crate) fn trim(head: &[u8], mut range: Range<usize>) -> Range<usize> {
    while range.start < range.end && matches!(head[range.start], b' ' | b'\t') {
        range.start += 1;
    }
    while range.end > range.start && matches!(head[range.end - 1], b' ' | b'\t') {
        range.end -= 1;
    }
    range
}

/// Replaces `range` of `buf` with `with`, moving what follows.
pub(crate) fn splice(buf: &mut BytesMut, range: Range<usize>, with: &[u8]) {
    let old_len = buf.len();
    let removed = range.end - range.start;
    if with.len() > removed {
        let grow = with.len() - removed;
        buf.resize(old_len + grow, 0);
        buf.copy_within(range.end..old_len, range.end + grow);
    } else if with.len() < removed {
        buf.copy_within(range.end..old_len, range.start + with.len());
        buf.truncate(old_len - (removed - with.len()));
    }
    buf[range.start..range.start + with.len()].copy_from_slice(with);
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_780_000_000;

    fn servers(value: &[u8]) -> Option<usize> {
        [&b"s1"[..], b"s2"].iter().position(|&known| known == value)
    }

    fn read(head: &str, cookie: &PersistCookie, now: u64) -> (RequestCookie, String) {
        let mut buf = BytesMut::from(head);
        let found = read_request_cookie(&mut buf, cookie, now, servers);
        (found, String::from_utf8(buf.to_vec()).unwrap())
    }

    fn insert(indirect: bool) -> PersistCookie {
        PersistCookie {
            indirect,
            ..PersistCookie::new("SRV", CookieMode::Insert)
        }
    }

    #[test]
    fn dates_round_trip_as_haproxy_encodes_them() {
        // s30tob64: 30 bits, MSB first; 0 is "AAAAA", 1 is "AAAAB", 64 is "AAABA".
        assert_eq!(&encode_date_units(0), b"AAAAA");
        assert_eq!(&encode_date_units(1), b"AAAAB");
        assert_eq!(&encode_date_units(64), b"AAABA");
        assert_eq!(&encode_date_units(0x3fff_ffff), b"/////");
        let units = date_units(NOW);
        assert_eq!(u64::from(units), NOW.div_ceil(4));
        assert_eq!(
            decode_date(&encode_date_units(units)),
            Some(u64::from(units) * 4)
        );
        assert_eq!(decode_date(b"AAAAA"), None, "0 is no date");
        assert_eq!(decode_date(b"AA*AA"), None);
        assert_eq!(decode_date(b"AAAA"), None);
    }

    #[test]
    fn no_cookie_field_or_another_name_is_none() {
        let head = "GET / HTTP/1.1\r\nHost: a\r\nCookie: other=s1\r\n\r\n";
        let (found, out) = read(head, &insert(true), NOW);
        assert_eq!(found.seen, CookieSeen::None);
        assert_eq!(out, head, "untouched");
        let (found, _) = read("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &insert(true), NOW);
        assert_eq!(found, RequestCookie::default());
    }

    #[test]
    fn valid_and_invalid_values() {
        let (found, out) = read(
            "GET / HTTP/1.1\r\nCookie: a=1; SRV=s2; b=2\r\n\r\n",
            &insert(false),
            NOW,
        );
        assert_eq!((found.seen, found.server), (CookieSeen::Server, Some(1)));
        assert_eq!(out, "GET / HTTP/1.1\r\nCookie: a=1; SRV=s2; b=2\r\n\r\n");
        for value in ["s9", "", "S1"] {
            let head = format!("GET / HTTP/1.1\r\nCookie: SRV={value}\r\n\r\n");
            let (found, _) = read(&head, &insert(false), NOW);
            assert_eq!(
                (found.seen, found.server),
                (CookieSeen::Invalid, None),
                "{value}"
            );
        }
    }

    #[test]
    fn indirect_insert_removes_the_cookie_wherever_it_is() {
        let cases = [
            ("Cookie: SRV=s1\r\n", ""),
            ("Cookie: SRV=s1; a=1\r\n", "Cookie: a=1\r\n"),
            ("Cookie: a=1; SRV=s1\r\n", "Cookie: a=1\r\n"),
            ("Cookie: a=1; SRV=s1; b=2\r\n", "Cookie: a=1; b=2\r\n"),
            ("Cookie: a=1;SRV=s1;b=2\r\n", "Cookie: a=1;b=2\r\n"),
            ("Cookie: SRV=s1; SRV=s2\r\n", ""),
            ("Cookie: a=1\r\nCookie: SRV=s1\r\n", "Cookie: a=1\r\n"),
            (
                "Cookie: SRV=s1\r\nX: y\r\nCookie: b=2; SRV=s2\r\n",
                "X: y\r\nCookie: b=2\r\n",
            ),
        ];
        for (fields, expected) in cases {
            let head = format!("GET / HTTP/1.1\r\nHost: a\r\n{fields}\r\n");
            let (found, out) = read(&head, &insert(true), NOW);
            assert_eq!(found.server, Some(0), "{fields:?}");
            assert_eq!(
                out,
                format!("GET / HTTP/1.1\r\nHost: a\r\n{expected}\r\n"),
                "{fields:?}"
            );
        }
    }

    #[test]
    fn prefix_mode_strips_the_server_prefix() {
        let cookie = PersistCookie::new("JSESSIONID", CookieMode::Prefix);
        let (found, out) = read(
            "GET / HTTP/1.1\r\nCookie: a=1; JSESSIONID=s2~abc~d; b=2\r\n\r\n",
            &cookie,
            NOW,
        );
        assert_eq!(found.server, Some(1));
        assert_eq!(
            out,
            "GET / HTTP/1.1\r\nCookie: a=1; JSESSIONID=abc~d; b=2\r\n\r\n"
        );
        // Without a prefix the whole value is looked up, and nothing changes.
        let (found, out) = read(
            "GET / HTTP/1.1\r\nCookie: JSESSIONID=abc\r\n\r\n",
            &cookie,
            NOW,
        );
        assert_eq!(found.seen, CookieSeen::Invalid);
        assert_eq!(out, "GET / HTTP/1.1\r\nCookie: JSESSIONID=abc\r\n\r\n");
    }

    #[test]
    fn maxidle_and_maxlife_judge_the_dates() {
        let cookie = PersistCookie {
            maxidle: 60,
            maxlife: 3600,
            ..insert(true)
        };
        let date = |seconds: u64| {
            String::from_utf8(encode_date_units(date_units(seconds)).to_vec()).unwrap()
        };
        let at = |last: u64, first: u64| {
            let head = format!(
                "GET / HTTP/1.1\r\nCookie: SRV=s1|{}|{}\r\n\r\n",
                date(last),
                date(first)
            );
            read(&head, &cookie, NOW).0
        };
        let fresh = at(NOW - 30, NOW - 600);
        assert_eq!((fresh.seen, fresh.server), (CookieSeen::Server, Some(0)));
        assert!(fresh.last_date.abs_diff(NOW - 30) < 4);
        assert!(fresh.first_date.abs_diff(NOW - 600) < 4);
        assert_eq!(at(NOW - 120, NOW - 600).seen, CookieSeen::Expired);
        assert_eq!(
            at(NOW - 30, NOW - 7200).seen,
            CookieSeen::Old,
            "maxlife first"
        );
        assert_eq!(at(NOW - 120, NOW - 7200).seen, CookieSeen::Old);
        assert_eq!(
            at(NOW + 2 * 86_400, NOW).seen,
            CookieSeen::Expired,
            "far future"
        );
        let expired = at(NOW - 120, NOW - 600);
        assert_eq!((expired.server, expired.last_date), (None, 0));
        // A cookie without dates is accepted (and refreshed by the response).
        let (found, _) = read("GET / HTTP/1.1\r\nCookie: SRV=s1\r\n\r\n", &cookie, NOW);
        assert_eq!(
            (found.seen, found.last_date, found.first_date),
            (CookieSeen::Server, 0, 0)
        );
        // Dates without limits are read but never expire.
        let head = format!("GET / HTTP/1.1\r\nCookie: SRV=s1|{}\r\n\r\n", date(1_000));
        let (found, _) = read(&head, &insert(true), NOW);
        assert_eq!(found.seen, CookieSeen::Server);
        assert!(found.last_date > 0);
        // Garbage dates are no dates.
        let (found, _) = read(
            "GET / HTTP/1.1\r\nCookie: SRV=s1|#####\r\n\r\n",
            &cookie,
            NOW,
        );
        assert_eq!((found.seen, found.last_date), (CookieSeen::Server, 0));
    }

    #[test]
    fn splice_grows_and_shrinks() {
        let mut buf = BytesMut::from("abcdef");
        splice(&mut buf, 1..3, b"XYZW");
        assert_eq!(&buf[..], b"aXYZWdef");
        splice(&mut buf, 0..5, b"");
        assert_eq!(&buf[..], b"def");
        splice(&mut buf, 3..3, b"!");
        assert_eq!(&buf[..], b"def!");
    }

    #[test]
    fn every_split_of_hostile_fields_keeps_the_head_well_formed() {
        let fields = [
            "Cookie: ;;SRV=s1;;\r\n",
            "Cookie: =;SRV\r\n",
            "Cookie: SRV==s1\r\n",
            "Cookie:\r\n",
            "Cookie: SRV=s1 ; SRV = s2 ;\r\n",
        ];
        for field in fields {
            for cookie in [insert(true), PersistCookie::new("SRV", CookieMode::Prefix)] {
                let head = format!("GET / HTTP/1.1\r\nHost: a\r\n{field}\r\n");
                let (_, out) = read(&head, &cookie, NOW);
                assert!(out.ends_with("\r\n\r\n"), "{field:?} -> {out:?}");
                assert!(out.starts_with("GET / HTTP/1.1\r\nHost: a\r\n"), "{out:?}");
                for line in out.split("\r\n").skip(1).filter(|l| !l.is_empty()) {
                    assert!(line.contains(':'), "{field:?} -> {out:?}");
                }
            }
        }
    }
}
