//! Captures of rejected messages for `show errors` (HAProxy's error snapshots): the request
//! bytes a frontend refused, the response bytes a backend's server sent that could not be
//! relayed. Called only on those errors, never on the request path.

use ringway_http::HttpError;
use ringway_stats::Capture;

use crate::client::session::Session;
use crate::error::ProxyError;

/// The header whose value a well-formed head was rejected for.
fn faulty_header(error: &HttpError) -> Option<&'static str> {
    match error {
        HttpError::BadContentLength | HttpError::LengthWithTransferEncoding => {
            Some("content-length")
        }
        HttpError::BadTransferEncoding => Some("transfer-encoding"),
        _ => None,
    }
}

impl Session {
    /// Keeps a malformed request head (the bytes still in `cbuf`) as its frontend's last
    /// error; no backend was chosen for it yet.
    pub(crate) fn capture_bad_request(&self, error: &ProxyError) {
        let ProxyError::BadRequest(http) = error else {
            return;
        };
        let capture = Capture {
            src: self.info.peer,
            other: None,
            server: None,
            bytes: self.cbuf.data(),
            reason: http.to_string(),
            header: faulty_header(http),
        };
        self.ctx
            .process
            .errors
            .capture_request(self.frontend, &capture);
    }

    /// Keeps an invalid response (the bytes still in `sbuf`) as its backend's last error.
    pub(crate) fn capture_bad_response(&self, error: &ProxyError, backend: usize, server: usize) {
        let ProxyError::BadResponse(http) = error else {
            return;
        };
        let capture = Capture {
            src: self.info.peer,
            other: Some(self.frontend),
            server: Some((backend, server)),
            bytes: self.sbuf.data(),
            reason: http.to_string(),
            header: faulty_header(http),
        };
        self.ctx.process.errors.capture_response(backend, &capture);
    }
}
