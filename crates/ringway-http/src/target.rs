//! Owns request targets: telling origin-form from absolute-form (RFC 9112
//! §3.2) and splitting an absolute URI into the authority, which routes the
//! request and becomes its Host (§3.2.2), and the origin-form the next hop
//! receives.

use crate::HttpError;

/// A request-target as the proxy treats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// Origin-form (`/path?query`) or asterisk-form (`*`): forwarded as is.
    Verbatim,
    /// `http://authority/path?query` (or https).
    Absolute {
        authority: &'a [u8],
        /// From the first `/`, `?` or `#` after the authority; may be empty.
        path: &'a [u8],
    },
}

/// Classifies `target`. Anything that is neither origin-form, `*`, nor an
/// absolute http(s) URI with a valid authority is refused.
pub(crate) fn parse_target(target: &[u8]) -> Result<Target<'_>, HttpError> {
    match target.first() {
        Some(b'/') => return Ok(Target::Verbatim),
        Some(b'*') if target.len() == 1 => return Ok(Target::Verbatim),
        _ => {}
    }
    let colon = target
        .iter()
        .position(|&b| b == b':')
        .ok_or(HttpError::BadTarget("not origin-form or absolute-form"))?;
    let (scheme, rest) = target.split_at(colon);
    if !scheme.eq_ignore_ascii_case(b"http") && !scheme.eq_ignore_ascii_case(b"https") {
        return Err(HttpError::BadTarget("scheme is not http or https"));
    }
    let rest = rest
        .strip_prefix(b"://")
        .ok_or(HttpError::BadTarget("absolute URI without authority"))?;
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    check_authority(authority)?;
    Ok(Target::Absolute { authority, path })
}

/// `host [":" port]` with a non-empty host (RFC 3986 §3.2; userinfo is
/// refused, as RFC 9110 §4.2.4 deprecates it and it hides the real host).
pub(crate) fn check_authority(authority: &[u8]) -> Result<(), HttpError> {
    let bad = |why| Err(HttpError::BadTarget(why));
    let (host, port) = if authority.first() == Some(&b'[') {
        let Some(close) = authority.iter().position(|&b| b == b']') else {
            return bad("unterminated IP literal");
        };
        let (literal, after) = authority.split_at(close + 1);
        let inner = literal.get(1..close).unwrap_or_default();
        if inner.is_empty()
            || !inner
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return bad("invalid IP literal");
        }
        match after {
            [] => (literal, None),
            [b':', port @ ..] => (literal, Some(port)),
            _ => return bad("invalid authority"),
        }
    } else {
        match authority.iter().position(|&b| b == b':') {
            Some(i) => (
                authority.get(..i).unwrap_or_default(),
                authority.get(i + 1..),
            ),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return bad("empty host");
    }
    if host.first() != Some(&b'[') && !host.iter().all(|&b| is_reg_name_char(b)) {
        return bad("invalid host");
    }
    if let Some(port) = port {
        let digits_ok = !port.is_empty() && port.len() <= 5 && port.iter().all(u8::is_ascii_digit);
        // Summed only once known to be at most 5 digits: a longer run overflows.
        let value = || port.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
        if !digits_ok || value() > 65535 {
            return bad("invalid port");
        }
    }
    Ok(())
}

/// unreserved, sub-delims and `%` of pct-encoded (RFC 3986 reg-name).
fn is_reg_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'%'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn absolute(target: &[u8]) -> (&[u8], &[u8]) {
        match parse_target(target) {
            Ok(Target::Absolute { authority, path }) => (authority, path),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(target)),
        }
    }

    #[test]
    fn origin_and_asterisk_forms() {
        assert_eq!(parse_target(b"/"), Ok(Target::Verbatim));
        assert_eq!(parse_target(b"/a?b"), Ok(Target::Verbatim));
        assert_eq!(parse_target(b"*"), Ok(Target::Verbatim));
    }

    #[test]
    fn absolute_forms() {
        let a = absolute(b"http://internal.example/x?y");
        assert_eq!(a, (&b"internal.example"[..], &b"/x?y"[..]));
        assert_eq!(absolute(b"HTTPS://a:8443"), (&b"a:8443"[..], &b""[..]));
        assert_eq!(absolute(b"http://a?q"), (&b"a"[..], &b"?q"[..]));
        assert_eq!(absolute(b"http://[::1]:80/"), (&b"[::1]:80"[..], &b"/"[..]));
        assert_eq!(absolute(b"http://[::1]"), (&b"[::1]"[..], &b""[..]));
    }

    #[test]
    fn refused_targets() {
        for bad in [
            &b"ftp://a/"[..],
            b"http:/a",
            b"http://",
            b"http:///x",
            b"http://user@a/",
            b"http://a:/",
            b"http://a:65536/",
            b"http://a:1x/",
            b"http://a:123456/",
            // Not digits, and long enough to overflow a sum of them.
            b"http://it:nternal.example/",
            b"http://[::1/",
            b"http://[]/",
            b"http://[::1]x/",
            b"http://[zz]/",
            b"http://a\"b/",
            b"index.html",
            b"*x",
            b"",
            b"example.com:443",
        ] {
            assert!(
                matches!(parse_target(bad), Err(HttpError::BadTarget(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
