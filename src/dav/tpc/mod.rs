//! HTTP third-party copy (HTTP-TPC, dCache/HTTP-TPC draft-http-tpc-01 as XRootD, dCache
//! and StoRM implement it; the WebDAV `COPY` of RFC 4918 §9.8 with a remote end):
//! griddock is the *active* party. `COPY <path>` + `Source: <url>` pulls the remote file
//! into `<path>` (atomically); `COPY <path>` + `Destination: <url>` pushes `<path>` to the
//! remote. The response is `202 Accepted` with a `text/perf-marker-stream` body: a marker
//! at once, one every `webdav.marker_interval`, and a final `success: Created` or
//! `failure: …` line. A client that goes away cancels the copy.
//!
//! `request.rs` (COPY headers), `policy.rs` (which addresses may be reached: the one
//! place), `remote.rs` (outbound HTTP/1.1 over rustls, redirects), `pull.rs`, `push.rs`,
//! `markers.rs` (the marker body).

mod digest;
mod local;
mod markers;
mod policy;
mod pull;
mod push;
mod remote;
mod request;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use tokio::sync::mpsc;
use tracing::{info, warn};

pub use markers::failure as failure_line;
pub use policy::{is_public, Refusal, TpcPolicy};
pub use remote::{resolve_location, Outbound, TrustSource};
pub use request::{parse as parse_request, CopyRequest, Mode, RequestError};

use super::body::{self, Body};
use super::error::DavError;
use super::request::Ctx;
use super::Transfer;
use crate::metrics::{Direction, EndpointLabel, Metrics};
use crate::storage::checksum::ChecksumCache;

/// The third-party-copy side of the endpoint.
pub struct Tpc {
    pub out: Outbound,
    pub max_streams: usize,
    pub marker_interval: Duration,
    /// One permit per data connection of any copy (`webdav.tpc_max_connections`).
    pub slots: Arc<tokio::sync::Semaphore>,
}

impl Tpc {
    /// Waits for a data-connection slot; held for the connection's life.
    async fn slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, TpcError> {
        Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| TpcError::Local("shutting down".into()))
    }
}

/// Everything a copy can fail with once it is under way; the text is the `failure:`
/// line.
#[derive(Debug, thiserror::Error)]
pub enum TpcError {
    #[error("refused by the server's third-party-copy policy: {0}")]
    Refused(Refusal),
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("cannot connect to the remote: {0}")]
    Connect(String),
    #[error("TLS with the remote failed: {0}")]
    Tls(String),
    #[error("HTTP with the remote failed: {0}")]
    Http(String),
    #[error("Remote side failed with status code {code}{detail}")]
    Status { code: u16, detail: String },
    #[error("no data from the remote within the data timeout")]
    Stalled,
    #[error("received {got} bytes, the remote announced {want}")]
    Short { got: u64, want: u64 },
    #[error("the remote file exists and Overwrite is F")]
    Exists,
    #[error("checksum mismatch: adler32 {local} here, {remote} at the remote")]
    Checksum { local: String, remote: String },
    #[error("RequireChecksumVerification is true but the remote sent no adler32 Digest")]
    NoDigest,
    #[error("the remote does not honour Range requests")]
    NoRanges,
    #[error("local storage: {0}")]
    Local(String),
}

impl TpcError {
    /// The `cause` label of `griddock_tpc_failures`.
    fn cause(&self) -> &'static str {
        match self {
            TpcError::Refused(_) => "policy",
            TpcError::Resolve(_) | TpcError::Connect(_) => "connect",
            TpcError::Tls(_) => "tls",
            TpcError::Stalled => "timeout",
            TpcError::Checksum { .. } | TpcError::NoDigest => "checksum",
            TpcError::Local(_) => "local",
            TpcError::Http(_)
            | TpcError::Status { .. }
            | TpcError::Short { .. }
            | TpcError::Exists
            | TpcError::NoRanges => "remote",
        }
    }
}

/// Bytes moved and the data connections, read by the marker loop.
#[derive(Default)]
pub struct Progress {
    pub bytes: AtomicU64,
    conns: Mutex<Vec<SocketAddr>>,
}

impl Progress {
    /// One more data connection (each stream's, as XRootD lists them; bounded).
    fn connected(&self, peer: SocketAddr) {
        let mut c = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        if c.len() < MAX_LISTED_CONNS {
            c.push(peer);
        }
    }

    fn conns(&self) -> Vec<SocketAddr> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn marker(&self) -> Bytes {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Bytes::from(markers::marker(
            now,
            self.bytes.load(Ordering::Relaxed),
            &self.conns(),
        ))
    }
}

/// Most connections one marker lists.
const MAX_LISTED_CONNS: usize = 64;

type Work = Pin<Box<dyn Future<Output = Result<u64, TpcError>> + Send>>;

/// What a running copy needs from the endpoint (all owned: it outlives the handler).
#[derive(Clone)]
pub(crate) struct Env {
    pub tpc: Arc<Tpc>,
    pub checksums: ChecksumCache,
    pub stall: Duration,
}

pub(crate) async fn handle(
    ctx: &Ctx<'_>,
    req: &Request<Incoming>,
) -> Result<Response<Body>, DavError> {
    let tpc = &ctx.dav.tpc;
    let copy = request::parse(req.headers(), tpc.max_streams)
        .map_err(|e| DavError::BadRequest(e.text()))?;
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok());
    let progress = Arc::new(Progress::default());
    if let Some(other) = local::target(&copy, host) {
        return copy_here(ctx, req, copy, other, progress).await;
    }
    if !tpc.out.policy().enabled() {
        // 501, not 403: gfal2 then falls back to a streamed copy.
        return Err(DavError::NotImplemented(
            "HTTP third-party copy is disabled on this server",
        ));
    }
    let env = Env {
        tpc: Arc::clone(tpc),
        checksums: ctx.dav.checksums.clone(),
        stall: ctx.dav.data_timeout,
    };
    // Local checks and authorization first: an unauthorized caller learns nothing about
    // the policy, and local errors keep their HTTP status.
    let work: Work = match copy.mode {
        Mode::Pull => {
            let job = pull::prepare(ctx, &copy).await?;
            admit(ctx, &copy).await?;
            Box::pin(pull::run(env, copy.clone(), job, Arc::clone(&progress)))
        }
        Mode::Push => {
            let job = push::prepare(ctx, &copy).await?;
            admit(ctx, &copy).await?;
            Box::pin(push::run(env, copy.clone(), job, Arc::clone(&progress)))
        }
    };
    Ok(start(ctx, copy, work, progress))
}

/// A copy whose other end is this endpoint: on the file system, answered as the client
/// expects (a marker stream for HTTP-TPC clients, 201/204 for WebDAV ones).
async fn copy_here(
    ctx: &Ctx<'_>,
    req: &Request<Incoming>,
    copy: CopyRequest,
    other: crate::storage::VPath,
    progress: Arc<Progress>,
) -> Result<Response<Body>, DavError> {
    let job = local::prepare(ctx, &copy, other).await?;
    if local::tpc_client(req.headers(), &copy) {
        let work: Work = Box::pin(local::run(job, Arc::clone(&progress)));
        return Ok(start(ctx, copy, work, progress));
    }
    let replaced = job.replaced;
    let started = Instant::now();
    ctx.dav
        .metrics
        .transfer_started(EndpointLabel::Webdav, Direction::Upload);
    let outcome = local::run(job, Arc::clone(&progress)).await;
    let mut log = copy_log(ctx, &copy);
    // A copy on the file system writes a file here, whichever header named the other end.
    (log.direction, log.streams, log.started) = (Direction::Upload, 1, started);
    log.bytes = progress.bytes.load(Ordering::Relaxed);
    log.result = if outcome.is_ok() { "ok" } else { "failed" };
    log.record(&ctx.dav.metrics);
    outcome.map_err(|e| DavError::Internal(e.to_string()))?;
    let mut resp = Response::new(body::empty());
    *resp.status_mut() = if replaced {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    };
    Ok(resp)
}

/// The policy on the remote's resolved addresses; a refusal is a 403 before any
/// connection is made.
async fn admit(ctx: &Ctx<'_>, copy: &CopyRequest) -> Result<(), DavError> {
    match ctx.dav.tpc.out.resolve(&copy.remote).await {
        // Other failures (the name does not resolve) end up in the failure line.
        Ok(_) | Err(TpcError::Resolve(_)) => Ok(()),
        Err(TpcError::Refused(why)) => {
            warn!(
                peer = %ctx.peer,
                user = %ctx.access.user,
                mode = copy.mode.as_str(),
                remote = %remote::redact(&copy.remote),
                reason = %why,
                "third-party copy refused by policy"
            );
            ctx.dav
                .metrics
                .tpc_finished(copy.mode.as_str(), Some("policy"));
            Err(DavError::Forbidden(
                "the server's third-party-copy policy does not allow this remote address",
            ))
        }
        Err(e) => Err(DavError::Internal(e.to_string())),
    }
}

/// The transfer-log line of a COPY, started now: a pull brings data in, a push sends it.
fn copy_log(ctx: &Ctx<'_>, copy: &CopyRequest) -> Transfer {
    Transfer {
        peer: ctx.peer,
        user: ctx.access.user.clone(),
        dn: ctx.access.dn.clone(),
        verb: "COPY",
        path: ctx.path.to_string(),
        bytes: 0,
        started: Instant::now(),
        result: "ok",
        direction: match copy.mode {
            Mode::Pull => Direction::Upload,
            Mode::Push => Direction::Download,
        },
        remote: Some(remote::redact(&copy.remote)),
        streams: copy.streams,
    }
}

/// Starts the copy and answers 202 with the marker stream.
fn start(ctx: &Ctx<'_>, copy: CopyRequest, work: Work, progress: Arc<Progress>) -> Response<Body> {
    let (tx, body) = body::channel(8);
    let log = copy_log(ctx, &copy);
    let metrics = Arc::clone(&ctx.dav.metrics);
    let interval = ctx.dav.tpc.marker_interval;
    metrics.transfer_started(EndpointLabel::Webdav, log.direction);
    tokio::spawn(drive(work, progress, tx, interval, log, metrics, copy.mode));
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::ACCEPTED;
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/perf-marker-stream"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Runs the copy, sends markers until it ends, then the final line. Dropping `work`
/// (the client went away) cancels the copy, and the upload is discarded.
async fn drive(
    mut work: Work,
    progress: Arc<Progress>,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    interval: Duration,
    mut log: Transfer,
    metrics: Arc<Metrics>,
    mode: Mode,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let outcome = loop {
        tokio::select! {
            r = &mut work => break Some(r),
            _ = tick.tick() => {
                // A client that does not read its markers skips some; one that is gone
                // cancels the copy.
                if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(Ok(progress.marker())) {
                    break None;
                }
            }
            _ = tx.closed() => break None,
        }
    };
    drop(work);
    log.bytes = progress.bytes.load(Ordering::Relaxed);
    let (result, cause, last) = match &outcome {
        Some(Ok(_)) => ("ok", None, Some(markers::success().to_string())),
        Some(Err(e)) => (
            "failed",
            Some(e.cause()),
            Some(markers::failure(&e.to_string())),
        ),
        None => ("cancelled", Some("cancelled"), None),
    };
    if let Some(line) = last {
        // The last marker carries the final count and every connection (a copy shorter
        // than the marker period would otherwise report neither).
        let _ = tx.send(Ok(progress.marker())).await;
        let _ = tx.send(Ok(Bytes::from(line))).await;
    }
    if let Some(Err(e)) = &outcome {
        info!(mode = mode.as_str(), path = %log.path, error = %e, "third-party copy failed");
    }
    log.result = result;
    log.record(&metrics);
    metrics.tpc_finished(mode.as_str(), cause);
}
