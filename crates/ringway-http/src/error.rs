//! Owns `HttpError`, the single error type of the codec, and its mapping to
//! the status code the proxy answers with.

/// Why a head or body was rejected.
///
/// For requests the proxy answers with [`HttpError::status`]; for responses
/// the caller answers 502 whatever the variant.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    #[error("message head too large")]
    HeadTooLarge,
    #[error("too many header fields")]
    TooManyHeaders,
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    #[error("invalid Content-Length")]
    BadContentLength,
    #[error("both Content-Length and Transfer-Encoding")]
    LengthWithTransferEncoding,
    #[error("invalid Transfer-Encoding")]
    BadTransferEncoding,
    #[error("invalid chunked body: {0}")]
    BadChunk(&'static str),
    /// A chunk size above [`crate::MAX_CHUNK_SIZE`].
    #[error("chunk size above 2^52-1")]
    ChunkTooLarge,
    #[error("invalid request target: {0}")]
    BadTarget(&'static str),
    /// A 101 answering a request that asked for no upgrade: relaying it
    /// would turn the connection into a raw tunnel.
    #[error("101 Switching Protocols to a request without Upgrade")]
    UnsolicitedUpgrade,
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
}

impl HttpError {
    /// Status code to answer a client whose request caused this error.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::HeadTooLarge | HttpError::TooManyHeaders => 431,
            HttpError::NotImplemented(_) => 501,
            _ => 400,
        }
    }

    pub(crate) fn from_httparse(e: httparse::Error) -> Self {
        match e {
            httparse::Error::TooManyHeaders => HttpError::TooManyHeaders,
            httparse::Error::HeaderName => HttpError::Malformed("invalid header name"),
            httparse::Error::HeaderValue => HttpError::Malformed("invalid header value"),
            httparse::Error::NewLine => HttpError::Malformed("invalid line ending"),
            httparse::Error::Status => HttpError::Malformed("invalid status line"),
            httparse::Error::Token => HttpError::Malformed("invalid request line"),
            httparse::Error::Version => HttpError::Malformed("invalid HTTP version"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping() {
        assert_eq!(HttpError::HeadTooLarge.status(), 431);
        assert_eq!(HttpError::TooManyHeaders.status(), 431);
        assert_eq!(HttpError::NotImplemented("CONNECT").status(), 501);
        assert_eq!(HttpError::Malformed("x").status(), 400);
        assert_eq!(HttpError::BadContentLength.status(), 400);
        assert_eq!(HttpError::LengthWithTransferEncoding.status(), 400);
        assert_eq!(HttpError::BadTransferEncoding.status(), 400);
        assert_eq!(HttpError::BadChunk("x").status(), 400);
        assert_eq!(HttpError::ChunkTooLarge.status(), 400);
        assert_eq!(HttpError::BadTarget("x").status(), 400);
    }

    #[test]
    fn httparse_mapping() {
        assert_eq!(
            HttpError::from_httparse(httparse::Error::TooManyHeaders),
            HttpError::TooManyHeaders
        );
        assert!(matches!(
            HttpError::from_httparse(httparse::Error::Version),
            HttpError::Malformed(_)
        ));
    }
}
