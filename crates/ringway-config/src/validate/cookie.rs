//! The persistence checks: the backend's `cookie` table (HAProxy's `cookie` directive, with its
//! refusals: `rewrite` with `indirect`; and ours: `maxidle`/`maxlife` only where a cookie can
//! carry dates) and the servers' `cookie` values (cookie-octets, unique in the backend).

use std::collections::HashMap;

use super::Checker;
use crate::draft::{At, DraftCookie};
use crate::model::{CookieMode, PersistCookie};

/// Longest `maxidle`/`maxlife`, HAProxy's: 2^31-1 seconds.
const MAX_COOKIE_SECONDS: u64 = i32::MAX as u64;

impl Checker<'_> {
    pub(super) fn cookie(&mut self, draft: &DraftCookie) -> Option<PersistCookie> {
        let name = draft.name.as_ref()?;
        if !is_token(&name.value) {
            self.issue(
                name,
                "must be a cookie name: letters, digits and !#$%&'*+-.^_`|~, not empty",
            );
        }
        let mode = match &draft.mode {
            None => CookieMode::default(),
            Some(given) => match given.value.as_str() {
                "insert" => CookieMode::Insert,
                "rewrite" => CookieMode::Rewrite,
                "prefix" => CookieMode::Prefix,
                _ => {
                    self.issue(given, "must be \"insert\", \"rewrite\" or \"prefix\"");
                    CookieMode::default()
                }
            },
        };
        let flag = |given: &Option<At<bool>>| given.as_ref().is_some_and(|given| given.value);
        let mut cookie = PersistCookie {
            indirect: flag(&draft.indirect),
            nocache: flag(&draft.nocache),
            httponly: flag(&draft.httponly),
            secure: flag(&draft.secure),
            ..PersistCookie::new(&name.value, mode)
        };
        if let (CookieMode::Rewrite, Some(indirect)) = (mode, &draft.indirect) {
            if indirect.value {
                self.issue(
                    indirect,
                    "cookie mode \"rewrite\" and indirect are incompatible (as in HAProxy)",
                );
            }
        }
        for (given, slot) in [
            (&draft.maxidle, &mut cookie.maxidle),
            (&draft.maxlife, &mut cookie.maxlife),
        ] {
            let Some(given) = given else { continue };
            if mode != CookieMode::Insert {
                self.issue(
                    given,
                    "only works with mode = \"insert\": only an inserted cookie carries dates",
                );
            } else if given.value.as_secs() == 0 {
                self.issue(given, "must be at least 1s (dates are in seconds)");
            } else if given.value.as_secs() > MAX_COOKIE_SECONDS {
                self.issue(given, "must be at most 2147483647s (about 68 years)");
            } else {
                *slot = given.value.as_secs() as u32;
            }
        }
        if let Some(path) = &draft.path {
            if path.value.starts_with('/') && attribute_text(&path.value) {
                cookie.path = path.value.clone();
            } else {
                self.issue(
                    path,
                    "must start with \"/\" and hold no spaces, ';' or control characters",
                );
            }
        }
        if let Some(domain) = &draft.domain {
            if !domain.value.is_empty() && attribute_text(&domain.value) {
                cookie.domain = Some(domain.value.clone());
            } else {
                self.issue(
                    domain,
                    "must be a domain name without spaces, ';' or control characters",
                );
            }
        }
        Some(cookie)
    }

    /// Checks the `cookie` values of one backend's servers.
    pub(super) fn server_cookies<'a>(&mut self, values: impl Iterator<Item = &'a At<String>>) {
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for value in values {
            if !is_cookie_value(&value.value) {
                self.issue(
                    value,
                    "must be a cookie value: printable characters other than space, '\"', ',', ';', '\\\\', '|' and '~', not empty",
                );
            } else if let Some(first) = seen.get(value.value.as_str()) {
                let message = format!(
                    "duplicate cookie value {:?} in this backend (already used by {first})",
                    value.value
                );
                self.issue(value, message);
            } else {
                let owner = value.key.strip_suffix(".cookie").unwrap_or(&value.key);
                seen.insert(value.value.as_str(), owner);
            }
        }
    }
}

/// An RFC 9110 token, what a cookie name is (RFC 6265 §4.1.1).
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// RFC 6265 cookie-octets, without the delimiters of the persistence cookie's value (`|` before
/// dates, `~` before the application's value in prefix mode).
fn is_cookie_value(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\",;\\|~".contains(&b))
}

/// An attribute value of an inserted cookie: printable, no space, no `;`.
fn attribute_text(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_graphic() && b != b';')
}
