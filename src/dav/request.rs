//! What a WebDAV request handler gets (RFC 9110 §9 methods, RFC 4918 §9): the
//! connection's peer and TLS client certificate ([`Conn`]), and, once the router has
//! authenticated the caller and decoded the path, a [`Ctx`]. Shared by the router
//! (`service.rs`) and every handler, so imports run one way: service → handlers → here.

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::Request;

use super::auth::Access;
use super::Dav;
use crate::gsi::{ChainError, Identity};
use crate::storage::VPath;

/// One TLS connection: who is at the other end.
pub(crate) struct Conn {
    pub peer: SocketAddr,
    pub cert: Option<Result<Identity, ChainError>>,
}

/// What a verb handler gets: the shared state, the caller's access and the target path.
pub(crate) struct Ctx<'a> {
    pub dav: &'a Dav,
    pub access: Access,
    pub path: VPath,
    pub peer: SocketAddr,
}

/// The request carries a body (chunked, or a non-zero Content-Length).
pub(crate) fn announces_body(req: &Request<Incoming>) -> bool {
    let h = req.headers();
    h.contains_key(hyper::header::TRANSFER_ENCODING)
        || h.get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}
