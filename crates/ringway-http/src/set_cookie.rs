//! Owns cookie-based persistence on the response side (HAProxy's `cookie` directive), without
//! I/O: what becomes of the server's own `Set-Cookie` for the persistence cookie (deleted in
//! `insert` mode, its value replaced in `rewrite` mode, prefixed with `SERVER~` in `prefix`
//! mode), when a cookie is inserted or its date refreshed, and `Cache-Control: private` for
//! `nocache`. Values written come from the checked configuration (cookie tokens), so an edit
//! never makes a field malformed.

use bytes::BytesMut;

use crate::cookie::{
    date_units, encode_date_units, field_at, find, first_field, splice, split_pair, trim,
    CookieMode, PersistCookie, RequestCookie, DATE_DELIMITER, PREFIX_DELIMITER,
};

/// What the response side needs to know of the request.
#[derive(Debug, Clone, Copy)]
pub struct ResponseContext<'a> {
    /// The chosen server's cookie value; None for a server without one.
    pub server_cookie: Option<&'a str>,
    /// The request went to the server its cookie named (HAProxy's `SF_DIRECT`).
    pub direct: bool,
    /// What the request's cookie carried (its dates).
    pub request: RequestCookie,
    /// UNIX seconds.
    pub now: u64,
    /// GET, HEAD, OPTIONS or TRACE: a response a cache may keep.
    pub safe_method: bool,
}

/// Edits the response head `head` (exactly a head this crate wrote, ending with its empty
/// line) for the persistence cookie. Returns HAProxy's fourth termination character: `N`
/// nothing, `I` inserted, `U` updated (a new date for the same server), `P` the server's
/// cookie passed as it was, `R` rewritten (rewrite or prefix), `D` deleted.
pub fn edit_response_cookies(
    head: &mut BytesMut,
    cookie: &PersistCookie,
    context: &ResponseContext<'_>,
) -> u8 {
    if !head.ends_with(b"\r\n\r\n") {
        return b'N';
    }
    let mut status = b'N';
    let mut line = first_field(head);
    while let Some(field) = field_at(head, line) {
        line = field.end;
        if !field.named(head, b"set-cookie") {
            continue;
        }
        // One cookie per Set-Cookie field: `NAME=VALUE; attributes` (RFC 6265 §4.1).
        let pair_end = find(head, field.value.clone(), b';').unwrap_or(field.value.end);
        let pair = trim(head, field.value.start..pair_end);
        let Some((name, value)) = split_pair(head, pair) else {
            continue;
        };
        if &head[name] != cookie.name.as_bytes() {
            continue;
        }
        status = b'P';
        let delete = cookie.mode == CookieMode::Insert || (context.direct && cookie.indirect);
        if delete {
            splice(head, field.start..field.end, b"");
            line = field.start;
            status = b'D';
            continue;
        }
        let Some(server) = context.server_cookie else {
            continue;
        };
        let before = head.len();
        match cookie.mode {
            CookieMode::Rewrite => splice(head, value, server.as_bytes()),
            CookieMode::Prefix => {
                let at = value.start + server.len();
                splice(head, value.start..value.start, server.as_bytes());
                splice(head, at..at, &[PREFIX_DELIMITER]);
            }
            CookieMode::Insert => {}
        }
        line = (field.end + head.len()) - before;
        status = b'R';
    }
    if cookie.mode == CookieMode::Insert && needs_insert(cookie, context) {
        // The empty line goes, the new fields come, then the empty line again.
        head.truncate(head.len() - 2);
        write_inserted(head, cookie, context);
        status = if context.server_cookie.is_some() && context.direct {
            b'U'
        } else {
            b'I'
        };
        if cookie.nocache && context.safe_method && cacheable(head) {
            head.extend_from_slice(b"Cache-Control: private\r\n");
        }
        head.extend_from_slice(b"\r\n");
    }
    status
}

/// HAProxy's rule: insert when the request did not come straight to its cookie's server, or
/// when the dates need a change (a last date to refresh, a first date to add or remove).
fn needs_insert(cookie: &PersistCookie, context: &ResponseContext<'_>) -> bool {
    let request = &context.request;
    !context.direct
        || ((cookie.maxidle > 0 || request.last_date != 0)
            && (request.last_date == 0 || request.last_date < context.now))
        || (cookie.maxlife > 0 && request.first_date == 0)
        || (cookie.maxlife == 0 && request.first_date != 0)
}

/// Appends `Set-Cookie: NAME=SERVER[|LAST[|FIRST]]; path=...` (attributes as configured), or for
/// a server without a cookie value, HAProxy's removal of the client's cookie.
fn write_inserted(head: &mut BytesMut, cookie: &PersistCookie, context: &ResponseContext<'_>) {
    head.extend_from_slice(b"Set-Cookie: ");
    head.extend_from_slice(cookie.name.as_bytes());
    head.extend_from_slice(b"=");
    match context.server_cookie {
        None => head.extend_from_slice(b"; Expires=Thu, 01-Jan-1970 00:00:01 GMT"),
        Some(server) => {
            head.extend_from_slice(server.as_bytes());
            if cookie.dated() {
                head.extend_from_slice(&[DATE_DELIMITER]);
                head.extend_from_slice(&encode_date_units(date_units(context.now)));
                if cookie.maxlife > 0 {
                    let first = match context.request.first_date {
                        0 => date_units(context.now),
                        first => (first >> 2) as u32,
                    };
                    head.extend_from_slice(&[DATE_DELIMITER]);
                    head.extend_from_slice(&encode_date_units(first));
                }
            }
        }
    }
    head.extend_from_slice(b"; path=");
    head.extend_from_slice(cookie.path.as_bytes());
    if let Some(domain) = &cookie.domain {
        head.extend_from_slice(b"; domain=");
        head.extend_from_slice(domain.as_bytes());
    }
    if cookie.httponly {
        head.extend_from_slice(b"; HttpOnly");
    }
    if cookie.secure {
        head.extend_from_slice(b"; Secure");
    }
    head.extend_from_slice(b"\r\n");
}

/// Whether a shared cache may keep the response, as HAProxy judges it for `nocache`: not when
/// `Pragma: no-cache` or a Cache-Control element says `private`, `no-cache`, `no-store`,
/// `max-age=0` or `s-maxage=0` (a later `public` makes it cacheable again).
fn cacheable(head: &[u8]) -> bool {
    let mut cacheable = true;
    let mut line = first_field(head);
    while let Some(field) = field_at(head, line) {
        line = field.end;
        let value = &head[field.value.clone()];
        if field.named(head, b"pragma") && value.eq_ignore_ascii_case(b"no-cache") {
            return false;
        }
        if !field.named(head, b"cache-control") {
            continue;
        }
        for element in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
            let lower = |text: &[u8]| element.eq_ignore_ascii_case(text);
            if lower(b"public") {
                cacheable = true;
            } else if lower(b"private")
                || lower(b"no-cache")
                || lower(b"no-store")
                || lower(b"max-age=0")
                || lower(b"s-maxage=0")
            {
                cacheable = false;
            }
        }
    }
    cacheable
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::{decode_date, CookieSeen};

    const NOW: u64 = 1_780_000_000;
    const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n";

    fn context(direct: bool) -> ResponseContext<'static> {
        ResponseContext {
            server_cookie: Some("s1"),
            direct,
            request: RequestCookie::default(),
            now: NOW,
            safe_method: true,
        }
    }

    fn edit(fields: &str, cookie: &PersistCookie, context: &ResponseContext<'_>) -> (char, String) {
        let mut head = BytesMut::from(format!("{OK}{fields}\r\n").as_str());
        let status = edit_response_cookies(&mut head, cookie, context);
        let text = String::from_utf8(head.to_vec()).unwrap();
        (status as char, text.strip_prefix(OK).unwrap().to_owned())
    }

    fn insert() -> PersistCookie {
        PersistCookie::new("SRV", CookieMode::Insert)
    }

    #[test]
    fn insert_mode_inserts_for_a_new_client_only() {
        let (status, fields) = edit("", &insert(), &context(false));
        assert_eq!(status, 'I');
        assert_eq!(fields, "Set-Cookie: SRV=s1; path=/\r\n\r\n");
        let (status, fields) = edit("", &insert(), &context(true));
        assert_eq!((status, fields.as_str()), ('N', "\r\n"));
    }

    #[test]
    fn insert_mode_replaces_the_server_s_own_cookie() {
        let (status, fields) = edit(
            "Set-Cookie: SRV=mine; path=/x\r\nSet-Cookie: app=1\r\n",
            &insert(),
            &context(false),
        );
        assert_eq!(status, 'I');
        assert_eq!(
            fields,
            "Set-Cookie: app=1\r\nSet-Cookie: SRV=s1; path=/\r\n\r\n"
        );
        let (status, fields) = edit("set-cookie: SRV=mine\r\n", &insert(), &context(true));
        assert_eq!((status, fields.as_str()), ('D', "\r\n"));
    }

    #[test]
    fn attributes_and_nocache() {
        let cookie = PersistCookie {
            nocache: true,
            httponly: true,
            secure: true,
            domain: Some(".example.com".into()),
            path: "/app".into(),
            ..insert()
        };
        let (_, fields) = edit("", &cookie, &context(false));
        assert_eq!(
            fields,
            "Set-Cookie: SRV=s1; path=/app; domain=.example.com; HttpOnly; Secure\r\n\
             Cache-Control: private\r\n\r\n"
        );
        // Already not cacheable, or not a safe method: no Cache-Control added.
        for fields in [
            "Cache-Control: no-store\r\n",
            "Cache-Control: max-age=5, private\r\n",
            "Pragma: no-cache\r\n",
        ] {
            let (_, out) = edit(fields, &cookie, &context(false));
            assert!(
                !out.contains("Cache-Control: private"),
                "{fields:?} -> {out:?}"
            );
        }
        let (_, out) = edit(
            "Cache-Control: private, public\r\n",
            &cookie,
            &context(false),
        );
        assert!(out.contains("Cache-Control: private\r\n\r\n"), "{out:?}");
        let post = ResponseContext {
            safe_method: false,
            ..context(false)
        };
        let (_, out) = edit("", &cookie, &post);
        assert!(!out.contains("Cache-Control"), "{out:?}");
        // No insertion, no Cache-Control.
        let (_, out) = edit("", &cookie, &context(true));
        assert_eq!(out, "\r\n");
    }

    #[test]
    fn a_server_without_cookie_clears_the_client_s() {
        let context = ResponseContext {
            server_cookie: None,
            ..context(false)
        };
        let (status, fields) = edit("", &insert(), &context);
        assert_eq!(status, 'I');
        assert_eq!(
            fields,
            "Set-Cookie: SRV=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/\r\n\r\n"
        );
    }

    fn dates(fields: &str) -> (u64, Option<u64>) {
        let value = fields
            .strip_prefix("Set-Cookie: SRV=s1|")
            .and_then(|rest| rest.split(';').next())
            .unwrap_or_else(|| panic!("{fields:?}"));
        let mut parts = value.split('|');
        let last = decode_date(parts.next().unwrap().as_bytes()).unwrap();
        (
            last,
            parts
                .next()
                .map(|first| decode_date(first.as_bytes()).unwrap()),
        )
    }

    #[test]
    fn dated_cookies_are_inserted_and_refreshed() {
        let cookie = PersistCookie {
            maxidle: 1800,
            maxlife: 28_800,
            ..insert()
        };
        let (status, fields) = edit("", &cookie, &context(false));
        assert_eq!(status, 'I');
        let (last, first) = dates(&fields);
        assert!((NOW..NOW + 8).contains(&last), "{last}");
        assert_eq!(first, Some(last));
        // A client back with a stale last date gets it updated, its first date kept.
        let back = ResponseContext {
            request: RequestCookie {
                seen: CookieSeen::Server,
                server: Some(0),
                last_date: NOW - 600,
                first_date: NOW - 7200,
            },
            ..context(true)
        };
        let (status, fields) = edit("", &cookie, &back);
        assert_eq!(status, 'U');
        let (last, first) = dates(&fields);
        assert!(last >= NOW);
        assert_eq!(first, Some(NOW - 7200));
        // Within the same 4-second slot nothing is sent.
        let fresh = ResponseContext {
            request: RequestCookie {
                last_date: NOW + 4,
                ..back.request
            },
            ..back
        };
        assert_eq!(edit("", &cookie, &fresh).0, 'N');
        // maxidle alone: no first date; a first date the client had is dropped.
        let idle = PersistCookie {
            maxlife: 0,
            ..cookie.clone()
        };
        let (status, fields) = edit("", &idle, &fresh);
        assert_eq!(status, 'U');
        assert_eq!(dates(&fields).1, None);
    }

    #[test]
    fn rewrite_and_prefix_edit_the_server_s_cookie() {
        let rewrite = PersistCookie::new("SRV", CookieMode::Rewrite);
        let (status, fields) = edit(
            "Set-Cookie: SRV=anything; Path=/; HttpOnly\r\nX: y\r\n",
            &rewrite,
            &context(false),
        );
        assert_eq!(status, 'R');
        assert_eq!(
            fields,
            "Set-Cookie: SRV=s1; Path=/; HttpOnly\r\nX: y\r\n\r\n"
        );
        assert_eq!(edit("X: y\r\n", &rewrite, &context(false)).0, 'N');
        let prefix = PersistCookie::new("JSESSIONID", CookieMode::Prefix);
        let (status, fields) = edit(
            "Set-Cookie: other=1\r\nSet-Cookie: JSESSIONID=abc; path=/\r\n",
            &prefix,
            &context(false),
        );
        assert_eq!(status, 'R');
        assert_eq!(
            fields,
            "Set-Cookie: other=1\r\nSet-Cookie: JSESSIONID=s1~abc; path=/\r\n\r\n"
        );
        // prefix + indirect: a client that came with a valid cookie does not get it again.
        let indirect = PersistCookie {
            indirect: true,
            ..prefix.clone()
        };
        let (status, fields) = edit("Set-Cookie: JSESSIONID=abc\r\n", &indirect, &context(true));
        assert_eq!((status, fields.as_str()), ('D', "\r\n"));
        // A server without a cookie value: the server's cookie passes as it is.
        let bare = ResponseContext {
            server_cookie: None,
            ..context(false)
        };
        let (status, fields) = edit("Set-Cookie: JSESSIONID=abc\r\n", &prefix, &bare);
        assert_eq!(
            (status, fields.as_str()),
            ('P', "Set-Cookie: JSESSIONID=abc\r\n\r\n")
        );
    }

    #[test]
    fn a_head_that_is_not_whole_is_left_alone() {
        let mut head = BytesMut::from("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n");
        assert_eq!(
            edit_response_cookies(&mut head, &insert(), &context(false)),
            b'N'
        );
        assert_eq!(&head[..], b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n");
    }
}
