//! The browser page on the davs:// endpoint (issue 21; docs/decisions/0004-browser-page.md):
//! a static page (`assets.rs`) and a small JSON API under the reserved prefix
//! `/.griddock-web/` — login, session cookie and CSRF token (`session.rs`, RFC 6265bis
//! cookies, OWASP synchroniser-token CSRF defence), listing, checksums, downloads and
//! namespace changes (`api.rs`), and chunked, resumable uploads with RFC 9110 §14.4
//! `Content-Range` parts into the storage layer's atomic part file (`upload.rs`); what a
//! browser controls in those requests is parsed without I/O in `input.rs`.
//!
//! The prefix can never shadow data: `.griddock-` names are refused as any path
//! component by the storage layer and hidden from every listing, so no file or
//! collection of that name is reachable through any protocol. Every action resolves an
//! [`Access`](super::Access) and asks [`Access::require`](super::Access::require), the
//! same authorisation as WebDAV.

mod api;
mod assets;
pub mod input;
mod session;
mod upload;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use tracing::warn;

use super::body::{full, Body};
use super::error::DavError;
use super::request::Conn;
use super::Dav;

/// The reserved prefix of the page's assets and API.
pub(super) const PREFIX: &str = "/.griddock-web/";

/// The page's sessions, open uploads and settings (`[webdav.browser]`).
pub struct Web {
    enabled: bool,
    sessions: session::Sessions,
    gsiftp_port: Option<u16>,
    chunk_size: u64,
    max_uploads: usize,
    /// Upload objects idle this long are forgotten (their part file is swept by then).
    stale_upload_age: Duration,
}

impl Web {
    pub fn new(cfg: &crate::config::Config) -> Web {
        let b = &cfg.webdav.browser;
        Web {
            enabled: b.enabled,
            sessions: session::Sessions::new(b.session_lifetime),
            gsiftp_port: cfg.gridftp.enabled.then(|| cfg.gridftp.listen.port()),
            chunk_size: b.chunk_size,
            max_uploads: b.max_uploads_per_session,
            stale_upload_age: cfg.storage.stale_upload_age,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(super) enum WebError {
    #[error(transparent)]
    Dav(#[from] DavError),
    #[error("log in first")]
    NoSession,
    #[error("missing or wrong CSRF token")]
    Csrf,
    #[error("invalid credentials")]
    BadLogin,
    #[error("this session has too many open uploads; finish or cancel one")]
    TooManyUploads,
    #[error("too many sessions; try again later")]
    Busy,
    /// A chunk that does not continue what the server holds (409, with the offset).
    #[error("the server holds {0} bytes of this upload")]
    Offset(u64),
    /// Another part of the same upload is still being received (409; retry later).
    #[error("another part of this upload is being received")]
    PartInFlight,
    #[error("no such upload (expired, finished or from another session)")]
    UnknownUpload,
    #[error("not found")]
    NotFound,
    #[error("bad request: {0}")]
    Bad(&'static str),
}

impl WebError {
    fn status(&self) -> StatusCode {
        match self {
            WebError::Dav(e) => e.status(),
            WebError::NoSession | WebError::BadLogin => StatusCode::UNAUTHORIZED,
            WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::TooManyUploads => StatusCode::TOO_MANY_REQUESTS,
            WebError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Offset(_) | WebError::PartInFlight => StatusCode::CONFLICT,
            WebError::UnknownUpload | WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Bad(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// A JSON error. No `WWW-Authenticate` on a 401: the page has its own login form,
    /// and a Basic challenge would make the browser pop up its own dialog.
    fn into_response(self) -> Response<Body> {
        let status = self.status();
        let text = if status == StatusCode::INTERNAL_SERVER_ERROR {
            warn!(error = %self, "web: internal error");
            "internal server error".to_string()
        } else {
            self.to_string()
        };
        let mut body = serde_json::json!({ "error": text });
        if let WebError::Offset(n) = self {
            body["offset"] = n.into();
        }
        json(status, &body)
    }
}

/// Whether the page handles this request: the reserved prefix, or a browser navigating
/// to a collection (`GET /dir/` with `Accept: text/html`; WebDAV clients do not ask for
/// HTML, and a GET on a collection is a 405 for them anyway).
pub(super) fn claims(dav: &Dav, req: &Request<Incoming>) -> bool {
    if !dav.web.enabled {
        return false;
    }
    let path = req.uri().path();
    if path.starts_with(PREFIX) {
        return true;
    }
    (req.method() == Method::GET || req.method() == Method::HEAD)
        && path.ends_with('/')
        && input::accepts_html(req.headers())
}

/// One page or API request; never fails (errors become JSON answers).
pub(super) async fn handle(dav: &Dav, conn: &Conn, req: Request<Incoming>) -> Response<Body> {
    let mut resp = match route(dav, conn, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    security_headers(resp.headers_mut());
    resp
}

async fn route(dav: &Dav, conn: &Conn, req: Request<Incoming>) -> Result<Response<Body>, WebError> {
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Ok(assets::page());
    };
    let (head, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let m = req.method().as_str();
    match (m, head) {
        ("GET" | "HEAD", "app.js" | "app.css") => assets::asset(head).ok_or(WebError::NotFound),
        ("POST", "login") => session::login(dav, conn, req).await,
        ("POST", "logout") => session::logout(dav, &req),
        ("GET", "session") => session::whoami(dav, conn, &req).await,
        ("GET", "list") => api::list(dav, conn, &req, tail).await,
        ("GET", "sum") => api::checksum(dav, conn, &req, tail).await,
        ("GET" | "HEAD", "dl") => api::download(dav, conn, &req, tail).await,
        ("POST", "mkdir") => api::mkdir(dav, conn, &req, tail).await,
        ("POST", "delete") => api::delete(dav, conn, &req, tail).await,
        ("POST", "rename") => api::rename(dav, conn, &req, tail).await,
        ("POST", "upload") => upload::create(dav, conn, &req, tail).await,
        ("GET", "up") => upload::status(dav, conn, &req, tail).await,
        ("PUT", "up") => upload::chunk(dav, conn, req, tail).await,
        ("DELETE", "up") => upload::cancel(dav, conn, &req, tail).await,
        _ => Err(WebError::NotFound),
    }
}

/// On every answer of the page and its API: a strict CSP (no inline script or style, no
/// framing), no MIME sniffing, no referrer.
fn security_headers(h: &mut HeaderMap) {
    // SECURITY: scripts and styles only from our own origin (no inline code, so markup
    // that ever slipped into the page could not run), never framed (clickjacking).
    h.entry(hyper::header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ));
    h.insert(
        hyper::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        hyper::header::X_FRAME_OPTIONS,
        HeaderValue::from_static("DENY"),
    );
    h.insert(
        hyper::header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

fn json(status: StatusCode, v: &serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(full(Bytes::from(v.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// A small request body (JSON, a path), at most `limit` bytes, within the data timeout.
async fn small_body(dav: &Dav, body: Incoming, limit: usize) -> Result<Bytes, WebError> {
    let limited = http_body_util::Limited::new(body, limit);
    match tokio::time::timeout(dav.data_timeout, limited.collect()).await {
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(_)) => Err(WebError::Bad("request body too large or broken")),
        Err(_) => Err(WebError::Bad("request body not sent in time")),
    }
}

/// The data path in the rest of an API URL (percent-encoded segments, as WebDAV's).
fn data_path(tail: &str) -> Result<crate::storage::VPath, WebError> {
    Ok(super::href::decode_path(&format!("/{tail}"))?)
}
