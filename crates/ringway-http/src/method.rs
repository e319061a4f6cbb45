//! Owns `Method`: the request methods the proxy tells apart.

/// A request method. Methods are case-sensitive (RFC 9110 §9.1), so `get`
/// is `Other`. `Other` methods are still forwarded with their original text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Trace,
    Connect,
    Patch,
    Other,
}

impl Method {
    pub(crate) fn from_token(token: &[u8]) -> Method {
        match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"CONNECT" => Method::Connect,
            b"PATCH" => Method::Patch,
            _ => Method::Other,
        }
    }

    /// Idempotent per RFC 9110 §9.2.2: safe to retry on another connection.
    pub fn is_idempotent(self) -> bool {
        matches!(
            self,
            Method::Get
                | Method::Head
                | Method::Options
                | Method::Trace
                | Method::Put
                | Method::Delete
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Connect => "CONNECT",
            Method::Patch => "PATCH",
            Method::Other => "OTHER",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Method; 10] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Options,
        Method::Trace,
        Method::Connect,
        Method::Patch,
        Method::Other,
    ];

    #[test]
    fn round_trip_known_methods() {
        for m in ALL {
            if m != Method::Other {
                assert_eq!(Method::from_token(m.as_str().as_bytes()), m);
            }
        }
        assert_eq!(Method::Other.as_str(), "OTHER");
        assert_eq!(Method::from_token(b"OTHER"), Method::Other);
    }

    #[test]
    fn methods_are_case_sensitive() {
        assert_eq!(Method::from_token(b"get"), Method::Other);
        assert_eq!(Method::from_token(b"PROPFIND"), Method::Other);
    }

    #[test]
    fn idempotent_set() {
        let idem: Vec<Method> = ALL.iter().copied().filter(|m| m.is_idempotent()).collect();
        assert_eq!(
            idem,
            vec![
                Method::Get,
                Method::Head,
                Method::Put,
                Method::Delete,
                Method::Options,
                Method::Trace
            ]
        );
    }
}
