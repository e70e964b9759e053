//! OPTIONS (RFC 9110 §9.3.7, RFC 4918 §10.1 `DAV:` compliance class 1) and the refusal of
//! POST: griddock issues no macaroons yet, and a POST must never be served like a GET
//! (StoRM once returned a whole file to a macaroon request).

use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT_RANGES, ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response};

use super::body::{empty, Body};
use super::error::DavError;

pub const ALLOWED: &str = "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, MKCOL, MOVE";

/// `200` with `DAV: 1` and the methods (no credential needed: clients probe with it).
pub fn options() -> Response<Body> {
    let mut resp = Response::new(empty());
    let h = resp.headers_mut();
    h.insert("DAV", HeaderValue::from_static("1"));
    h.insert(ALLOW, HeaderValue::from_static(ALLOWED));
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

/// Every POST is refused at once, before authentication and without reading the body:
/// 501 for a macaroon request (gfal2 then goes on without one), 405 otherwise.
pub fn post(req: &Request<Incoming>) -> DavError {
    let macaroon = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/macaroon-request")
        });
    if macaroon {
        DavError::NotImplemented("macaroon issuance is not available on this server yet")
    } else {
        DavError::MethodNotAllowed("POST")
    }
}
