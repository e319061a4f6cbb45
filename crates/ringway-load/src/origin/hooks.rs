//! Test hooks read from the query string of any request path.
//!
//! `status=N`, `www-auth=VALUE`, `chunked=1`, `body=N`, `delay=MS`,
//! `close=1`, `close-after=1`, `noresponse=1`, `echo=1`, `until-close=1`,
//! `bad=1`, `set-cookie=VALUE` (a `set-cookie` field with that value), `echo-cookie=1` (the
//! request's Cookie fields, joined with `; `, in `x-origin-cookie`, `-` for none).
//! `close-after=1` answers as a keep-alive response would and then
//! closes the connection, like a server closing an idle connection. Unknown
//! keys are ignored; a malformed value of a known key is an error that the
//! origin answers with 400. Values are percent-decoded (`+` is a space).

use std::time::Duration;

/// Largest `body=` override accepted (1 GiB).
pub(crate) const MAX_BODY_OVERRIDE: usize = 1 << 30;
/// Longest `delay=` accepted (one hour).
const MAX_DELAY_MS: u64 = 3_600_000;

/// The hooks one request asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Hooks {
    pub status: Option<u16>,
    pub www_auth: Option<String>,
    pub chunked: bool,
    pub body: Option<usize>,
    pub delay: Option<Duration>,
    pub close: bool,
    /// Respond without `Connection: close`, then close anyway.
    pub close_after: bool,
    pub no_response: bool,
    pub echo: bool,
    pub until_close: bool,
    pub bad: bool,
    pub set_cookie: Option<String>,
    pub echo_cookie: bool,
}

impl Hooks {
    /// Parses the query part (after `?`) of a request target.
    pub(crate) fn parse(query: &[u8]) -> Result<Hooks, &'static str> {
        let mut hooks = Hooks::default();
        for pair in query.split(|&b| b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (key, value) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &b""[..]),
            };
            match key {
                b"status" => {
                    let n = parse_u64(value).ok_or("status= wants a number")?;
                    if !(200..=999).contains(&n) {
                        return Err("status= must be in 200..=999");
                    }
                    hooks.status = Some(n as u16);
                }
                b"www-auth" => {
                    let decoded = percent_decode(value).ok_or("www-auth= is not valid")?;
                    hooks.www_auth = Some(decoded);
                }
                b"chunked" => hooks.chunked = flag(value)?,
                b"body" => {
                    let n = parse_u64(value).ok_or("body= wants a number")?;
                    if n > MAX_BODY_OVERRIDE as u64 {
                        return Err("body= is larger than 1 GiB");
                    }
                    hooks.body = Some(n as usize);
                }
                b"delay" => {
                    let n = parse_u64(value).ok_or("delay= wants milliseconds")?;
                    if n > MAX_DELAY_MS {
                        return Err("delay= is longer than an hour");
                    }
                    hooks.delay = Some(Duration::from_millis(n));
                }
                b"close" => hooks.close = flag(value)?,
                b"close-after" => hooks.close_after = flag(value)?,
                b"noresponse" => hooks.no_response = flag(value)?,
                b"echo" => hooks.echo = flag(value)?,
                b"until-close" => hooks.until_close = flag(value)?,
                b"bad" => hooks.bad = flag(value)?,
                b"set-cookie" => {
                    let decoded = percent_decode(value).ok_or("set-cookie= is not valid")?;
                    hooks.set_cookie = Some(decoded);
                }
                b"echo-cookie" => hooks.echo_cookie = flag(value)?,
                _ => {}
            }
        }
        Ok(hooks)
    }
}

fn flag(value: &[u8]) -> Result<bool, &'static str> {
    match value {
        b"1" | b"true" | b"" => Ok(true),
        b"0" | b"false" => Ok(false),
        _ => Err("flag hooks want 1 or 0"),
    }
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| {
        if d.is_ascii_digit() {
            Some(acc * 10 + u64::from(d - b'0'))
        } else {
            None
        }
    })
}

/// Percent-decodes a query value into a header value. Rejects bytes that
/// would break the header (control characters other than tab) and non-UTF-8.
fn percent_decode(value: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let b = value[i];
        match b {
            b'%' => {
                let hi = hex(*value.get(i + 1)?)?;
                let lo = hex(*value.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    if out.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return None;
    }
    String::from_utf8(out).ok()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_hooks() {
        let h = Hooks::parse(
            b"status=503&www-auth=Basic+realm%3D%22x%22&chunked=1&body=10&delay=5\
              &close=1&close-after=1&noresponse=0&echo=1&until-close=1&bad=0&other=zzz",
        )
        .unwrap();
        assert!(h.close_after);
        assert_eq!(h.status, Some(503));
        assert_eq!(h.www_auth.as_deref(), Some("Basic realm=\"x\""));
        assert!(h.chunked && h.close && h.echo && h.until_close);
        assert!(!h.no_response && !h.bad);
        assert_eq!(h.body, Some(10));
        assert_eq!(h.delay, Some(Duration::from_millis(5)));
    }

    #[test]
    fn rejects_bad_values() {
        assert!(Hooks::parse(b"status=abc").is_err());
        assert!(Hooks::parse(b"status=99").is_err());
        assert!(Hooks::parse(b"status=1000").is_err());
        assert!(Hooks::parse(b"body=99999999999999999999").is_err());
        assert!(Hooks::parse(b"www-auth=a%0d%0aX:%20y").is_err());
        assert!(Hooks::parse(b"www-auth=%zz").is_err());
        assert!(Hooks::parse(b"close=maybe").is_err());
        assert!(Hooks::parse(b"close-after=2").is_err());
        assert_eq!(Hooks::parse(b"").unwrap(), Hooks::default());
    }
}
