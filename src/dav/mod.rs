//! The HTTPS/WebDAV data endpoint (`davs://host:port/path`): RFC 9110 GET/HEAD/PUT/DELETE/
//! OPTIONS with RFC 9110 §14 ranges and §13 conditionals, RFC 4918 PROPFIND/MKCOL/MOVE
//! (class 1), RFC 3230 / RFC 9530 digests, on hyper (RFC 9112 HTTP/1.1 with keep-alive)
//! over rustls with the shared certificate store. Every path goes through the caller's
//! confined [`DataRoot`](crate::storage::DataRoot): the same account sees the same files
//! as over `ftp://` and `gsiftp://`.
//!
//! One file per verb family: `get.rs` (GET, HEAD), `put.rs`, `propfind.rs`, `fsops.rs`
//! (MKCOL, DELETE, MOVE), `options.rs` (OPTIONS), `macaroon.rs` (POST macaroon requests);
//! `service.rs` (listener, TLS, routing), `request.rs` (what a handler gets: `Conn`,
//! `Ctx`), `auth.rs` (credential → access),
//! `credcache.rs` (recently verified Basic credentials), `x509.rs`
//! (optional TLS client certificates), `href.rs` (request paths), `digest.rs`,
//! `xml.rs` (PROPFIND bodies), `body.rs` (streamed bodies), `error.rs` (error → status),
//! `linger.rs` (staged close, so an early refusal reaches a client still sending);
//! `web/` the page for browsers (docs/decisions/0004-browser-page.md).

mod auth;
mod body;
mod credcache;
mod digest;
mod error;
mod fsops;
mod get;
mod href;
mod linger;
mod macaroon;
mod options;
mod propfind;
mod put;
mod request;
mod service;
mod sink;
pub mod tpc;
mod web;
mod x509;
pub mod xml;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tracing::info;

pub use auth::{Access, Authn};
pub use error::DavError;
pub use service::serve;
pub use web::Web;

// The sans-I/O parsers, public for the fuzz targets.
pub use digest::{choose_rfc3230, choose_rfc9530};
pub use get::{parse_range, ByteRange, RangeAnswer};
pub use href::{decode_path, destination, encode_href};
pub use web::input as web_input;

use crate::metrics::{Direction, EndpointLabel, Metrics};
use crate::storage::checksum::ChecksumCache;

/// What every request handler shares.
pub struct Dav {
    pub authn: Authn,
    pub checksums: ChecksumCache,
    pub metrics: Arc<Metrics>,
    pub tls: Arc<rustls::ServerConfig>,
    pub max_connections: usize,
    /// Longest wait for a client to take or send the next piece of a body
    /// (`limits.data_timeout`).
    pub data_timeout: std::time::Duration,
    /// HTTP third-party copy (COPY with a remote).
    pub tpc: Arc<tpc::Tpc>,
    /// The browser page's sessions and uploads (`web/`).
    pub web: Web,
}

/// Runs blocking storage work on the blocking pool.
async fn blocking<T, F>(f: F) -> Result<T, DavError>
where
    F: FnOnce() -> Result<T, DavError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DavError::Internal(e.to_string()))?
}

/// One finished GET or PUT, for the transfer log and the metrics.
pub(crate) struct Transfer {
    pub peer: SocketAddr,
    pub user: String,
    pub dn: Option<String>,
    pub verb: &'static str,
    pub path: String,
    pub bytes: u64,
    pub started: Instant,
    pub result: &'static str,
    pub direction: Direction,
    /// The other party's URL (query removed) for a third-party copy; the client otherwise.
    pub remote: Option<String>,
    pub streams: usize,
}

impl Transfer {
    /// The xferlog line (target `griddock::xferlog`, as FTP's) and the byte/transfer
    /// counters with `endpoint="webdav"`.
    pub(crate) fn record(&self, metrics: &Metrics) {
        let ep = EndpointLabel::Webdav;
        metrics.add_bytes(ep, self.direction, self.bytes);
        metrics.transfer_finished(ep, self.direction, self.result == "ok");
        info!(
            target: "griddock::xferlog",
            endpoint = ep.as_str(),
            peer = %self.peer,
            data_peer = %self.remote.clone().unwrap_or_else(|| self.peer.to_string()),
            user = %self.user,
            dn = self.dn.as_deref().unwrap_or("-"),
            verb = self.verb,
            path = %self.path,
            bytes = self.bytes,
            seconds = self.started.elapsed().as_secs_f64(),
            streams = self.streams,
            result = self.result,
            direction = self.direction.as_str(),
            "transfer"
        );
    }
}
