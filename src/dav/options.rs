//! OPTIONS (RFC 9110 §9.3.7, RFC 4918 §10.1 `DAV:` compliance class 1). POST is only a
//! macaroon request (`macaroon.rs`); any other POST is refused with 405 in `service.rs`.

use hyper::header::{HeaderValue, ACCEPT_RANGES, ALLOW, CONTENT_LENGTH};
use hyper::Response;

use super::body::{empty, Body};

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
