//! [`DavError`]: everything a WebDAV request can fail with, and the one place that maps
//! each kind to its HTTP status (RFC 9110 §15, RFC 4918 §11 for 207/422/423/424/507).

use bytes::Bytes;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};

use super::body::{full, Body};
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum DavError {
    /// No credential, or one that does not check out (401 + `WWW-Authenticate`).
    #[error("authentication required: {0}")]
    Unauthenticated(&'static str),
    /// A bearer credential (WLCG token or macaroon) that is not valid: malformed, expired,
    /// tampered, from an unknown issuer (401, RFC 6750 §3.1 `invalid_token`). The cause
    /// goes to the log only.
    #[error("invalid bearer token")]
    InvalidToken,
    /// The token issuer's keys could not be fetched (503).
    #[error("the bearer token cannot be checked now")]
    TokenCheckUnavailable,
    /// Authenticated, but the identity lacks the right (403).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The request target or a header is not acceptable (400).
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("method not allowed here: {0}")]
    MethodNotAllowed(&'static str),
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
    /// The parent collection of a new resource is missing (RFC 4918 §9.3.1, §9.7.1: 409).
    #[error("parent collection does not exist")]
    ParentMissing,
    /// `Overwrite: F` and the destination exists (RFC 4918 §10.6: 412).
    #[error("destination exists and Overwrite is F")]
    PreconditionFailed,
    /// `Depth: infinity` on PROPFIND (RFC 4918 §9.1: 403 propfind-finite-depth).
    #[error("PROPFIND with Depth: infinity is not supported")]
    InfiniteDepth,
    #[error("range not satisfiable")]
    RangeNotSatisfiable { size: u64 },
    /// The body did not have the announced length, or could not be read.
    #[error("request body: {0}")]
    Body(String),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(&'static str),
    /// `Destination` names another server (RFC 4918 §9.9.4: 502).
    #[error("destination is on another server")]
    BadGateway,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl DavError {
    /// The one error → status mapping.
    pub fn status(&self) -> StatusCode {
        use StorageError as S;
        match self {
            DavError::Unauthenticated(_) | DavError::InvalidToken => StatusCode::UNAUTHORIZED,
            DavError::TokenCheckUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            DavError::Forbidden(_) | DavError::InfiniteDepth => StatusCode::FORBIDDEN,
            DavError::BadRequest(_) | DavError::Body(_) => StatusCode::BAD_REQUEST,
            DavError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            DavError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            DavError::ParentMissing => StatusCode::CONFLICT,
            DavError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            DavError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            DavError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            DavError::BadGateway => StatusCode::BAD_GATEWAY,
            DavError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            DavError::Storage(e) => match e {
                S::NotFound => StatusCode::NOT_FOUND,
                S::PermissionDenied | S::ReadOnly => StatusCode::FORBIDDEN,
                S::AlreadyExists => StatusCode::METHOD_NOT_ALLOWED,
                S::NotADirectory | S::DirectoryNotEmpty => StatusCode::CONFLICT,
                S::IsADirectory => StatusCode::METHOD_NOT_ALLOWED,
                S::InvalidPath(_) | S::InvalidRestart => StatusCode::BAD_REQUEST,
                S::NoSpace => StatusCode::INSUFFICIENT_STORAGE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    /// The response: status, a one-line text body, `WWW-Authenticate` on 401.
    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        let text = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // The cause goes to the log, not to the client.
            "internal server error\n".to_string()
        } else {
            format!("{self}\n")
        };
        let mut resp = Response::new(full(Bytes::from(text)));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        match &self {
            DavError::InvalidToken => {
                h.append(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"griddock\", error=\"invalid_token\""),
                );
            }
            DavError::Unauthenticated(_) => {
                h.append(WWW_AUTHENTICATE, basic_challenge());
                h.append(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"griddock\""),
                );
            }
            DavError::InfiniteDepth => {
                return infinite_depth();
            }
            DavError::MethodNotAllowed(_) => {
                h.insert(
                    hyper::header::ALLOW,
                    HeaderValue::from_static(super::options::ALLOWED),
                );
            }
            DavError::RangeNotSatisfiable { size } => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    h.insert(hyper::header::CONTENT_RANGE, v);
                }
            }
            _ => {}
        }
        resp
    }
}

fn basic_challenge() -> HeaderValue {
    HeaderValue::from_static("Basic realm=\"griddock\"")
}

/// 403 with the RFC 4918 §9.1 precondition element.
fn infinite_depth() -> Response<Body> {
    let body = super::xml::error_body("propfind-finite-depth");
    let mut resp = Response::new(full(Bytes::from(body)));
    *resp.status_mut() = StatusCode::FORBIDDEN;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    resp
}

/// Marks a response so hyper closes the connection after it: used whenever a request
/// body was (or may be) left unread, so it is never parsed as the next request.
pub fn close_after(resp: &mut Response<Body>) {
    resp.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let cases: Vec<(DavError, u16)> = vec![
            (DavError::Unauthenticated("x"), 401),
            (DavError::InvalidToken, 401),
            (DavError::TokenCheckUnavailable, 503),
            (DavError::Forbidden("x"), 403),
            (DavError::InfiniteDepth, 403),
            (DavError::ParentMissing, 409),
            (DavError::PreconditionFailed, 412),
            (DavError::Storage(StorageError::NotFound), 404),
            (DavError::Storage(StorageError::NoSpace), 507),
            (DavError::Storage(StorageError::ReadOnly), 403),
            (DavError::Storage(StorageError::InvalidPath("x")), 400),
            (DavError::Storage(StorageError::AlreadyExists), 405),
            (DavError::BadGateway, 502),
            (DavError::RangeNotSatisfiable { size: 3 }, 416),
        ];
        for (e, code) in cases {
            assert_eq!(e.status().as_u16(), code, "{e}");
        }
    }

    #[test]
    fn unauthenticated_carries_a_challenge() {
        let r = DavError::Unauthenticated("no credential").into_response();
        assert!(r.headers().get(WWW_AUTHENTICATE).is_some());
        let all: Vec<_> = r.headers().get_all(WWW_AUTHENTICATE).iter().collect();
        assert_eq!(all.len(), 2, "Basic and Bearer");
        let r = DavError::InvalidToken.into_response();
        let all: Vec<_> = r.headers().get_all(WWW_AUTHENTICATE).iter().collect();
        assert_eq!(all.len(), 1);
        assert!(all[0].to_str().unwrap().contains("error=\"invalid_token\""));
    }
}
