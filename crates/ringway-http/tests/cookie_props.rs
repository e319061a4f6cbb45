//! Properties of the persistence cookie's head edits on arbitrary Cookie and Set-Cookie values:
//! no panic, and the edited head still parses as a head with the same fields but the edited
//! ones (docs/http.md: a rewrite never forwards a malformed field).

use bytes::BytesMut;
use proptest::prelude::*;
use ringway_http::{
    edit_response_cookies, read_request_cookie, CookieMode, PersistCookie, RequestCookie,
    ResponseContext,
};

fn cookie_value() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 ;=~|/+\t]{0,40}").unwrap()
}

fn cookies() -> Vec<PersistCookie> {
    let mut insert = PersistCookie::new("SRV", CookieMode::Insert);
    insert.indirect = true;
    insert.maxidle = 10;
    insert.maxlife = 100;
    vec![
        insert,
        PersistCookie::new("SRV", CookieMode::Rewrite),
        PersistCookie::new("SRV", CookieMode::Prefix),
    ]
}

fn well_formed(head: &[u8]) {
    let mut fields = [httparse::EMPTY_HEADER; 16];
    let text = String::from_utf8_lossy(head).into_owned();
    if head.starts_with(b"HTTP/") {
        let mut response = httparse::Response::new(&mut fields);
        assert!(
            matches!(response.parse(head), Ok(httparse::Status::Complete(n)) if n == head.len()),
            "{text:?}"
        );
    } else {
        let mut request = httparse::Request::new(&mut fields);
        assert!(
            matches!(request.parse(head), Ok(httparse::Status::Complete(n)) if n == head.len()),
            "{text:?}"
        );
    }
}

proptest! {
    #[test]
    fn request_edits_keep_the_head_well_formed(a in cookie_value(), b in cookie_value()) {
        for cookie in cookies() {
            let head = format!("GET / HTTP/1.1\r\nHost: x\r\nCookie: {a}\r\nX: 1\r\nCookie: SRV={b}\r\n\r\n");
            let mut buf = BytesMut::from(head.as_str());
            read_request_cookie(&mut buf, &cookie, 1_780_000_000, |value| (value == b"s1").then_some(0));
            well_formed(&buf);
            prop_assert!(buf.len() <= head.len());
            prop_assert!(std::str::from_utf8(&buf).unwrap().contains("\r\nX: 1\r\n"));
        }
    }

    #[test]
    fn response_edits_keep_the_head_well_formed(a in cookie_value(), direct in any::<bool>()) {
        for cookie in cookies() {
            let head = format!("HTTP/1.1 200 OK\r\nSet-Cookie: {a}\r\nSet-Cookie: SRV={a}\r\nX: 1\r\n\r\n");
            let mut buf = BytesMut::from(head.as_str());
            let context = ResponseContext {
                server_cookie: Some("s1"),
                direct,
                request: RequestCookie::default(),
                now: 1_780_000_000,
                safe_method: true,
            };
            let status = edit_response_cookies(&mut buf, &cookie, &context);
            prop_assert!(b"NIUPRD".contains(&status));
            well_formed(&buf);
            prop_assert!(std::str::from_utf8(&buf).unwrap().contains("\r\nX: 1\r\n"));
        }
    }
}
