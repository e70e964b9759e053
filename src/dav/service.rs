//! The WebDAV listener: TLS handshakes (ACME `acme-tls/1` validations end after the
//! handshake, RFC 8737 §3), one hyper HTTP/1.1 connection per client with keep-alive
//! (RFC 9112 §9.3), and routing by method (RFC 9110 §9, RFC 4918 §9). The endpoint owns
//! every path: `/metrics` here is a file like any other.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::body::Body;
use super::error::{close_after, DavError};
use super::linger::Linger;
use super::request::{announces_body, Conn, Ctx};
use super::{fsops, get, href, macaroon, options, propfind, put, tpc, web, Dav};
use crate::metrics::EndpointLabel;
use crate::tls::ACME_TLS_ALPN;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client has to send a complete request head, counted from when the server waits
/// for one: also how long a keep-alive connection may sit idle between requests.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts until `shutdown`, then lets running requests finish (the caller's tracker
/// bounds that by `shutdown_grace`).
pub async fn serve(
    listener: TcpListener,
    dav: Arc<Dav>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&dav.tls));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(dav.max_connections));
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    debug!(error = %e, "webdav accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // SECURITY: a bounded number of connections; the next one is dropped at once.
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            warn!(%peer, "webdav: connection limit reached");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (dav, acceptor, watcher) = (Arc::clone(&dav), acceptor.clone(), graceful.watcher());
        tracker.spawn(async move {
            connection(dav, acceptor, watcher, stream, peer).await;
            drop(slot);
        });
    }
    graceful.shutdown().await;
    info!(endpoint = "webdav", "listener stopped");
}

async fn connection(
    dav: Arc<Dav>,
    acceptor: tokio_rustls::TlsAcceptor,
    watcher: hyper_util::server::graceful::Watcher,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
) {
    let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await else {
        debug!(%peer, "webdav: TLS handshake failed");
        return;
    };
    let session = tls.get_ref().1;
    if session.alpn_protocol() == Some(ACME_TLS_ALPN) {
        debug!(%peer, "tls-alpn-01 validation handshake");
        return;
    }
    let cert = dav
        .authn
        .gsi
        .as_ref()
        .and_then(|g| super::x509::peer_identity(&g.verifier, session));
    if let Some(Ok(id)) = &cert {
        info!(%peer, dn = %id.dn, limited = id.limited, "webdav: X.509 client certificate");
        dav.metrics
            .logged_in(EndpointLabel::Webdav, crate::metrics::LoginMethod::X509);
    }
    let conn = Arc::new(Conn { peer, cert });
    let _open = dav.metrics.session_opened(EndpointLabel::Webdav);
    let io = Linger::new(tls);
    let linger = io.arm_handle();
    let svc_dav = Arc::clone(&dav);
    let service = service_fn(move |req| {
        let (dav, conn, linger) = (Arc::clone(&svc_dav), Arc::clone(&conn), Arc::clone(&linger));
        async move { Ok::<_, Infallible>(handle(&dav, &conn, &linger, req).await) }
    });
    // SECURITY: a connection that sends no request, or a head a byte at a time
    // (slowloris), or idles after a response, is closed after HEADER_TIMEOUT, so slow
    // clients cannot keep the connection slots (`limits.max_sessions`) for ever. The
    // timer is what makes hyper enforce it.
    let http = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(http).await {
        debug!(%peer, error = %e, "webdav connection ended with an error");
    }
}

/// One request: dispatch, map errors, and close the connection after an error answer to
/// a request whose body may be unread (with a staged close, `linger.rs`, so the answer
/// reaches a client that is still sending).
async fn handle(
    dav: &Dav,
    conn: &Conn,
    linger: &AtomicBool,
    req: Request<Incoming>,
) -> Response<Body> {
    let method = req.method().clone();
    let target = req.uri().path().to_string();
    let has_body = announces_body(&req);
    let mut resp = match dispatch(dav, conn, req).await {
        Ok(r) => r,
        Err(e) => {
            if let DavError::Internal(cause) = &e {
                warn!(peer = %conn.peer, %method, path = %target, cause, "webdav: internal error");
            }
            e.into_response()
        }
    };
    // SECURITY: an early refusal never reads the body; closing the connection keeps the
    // body bytes from being parsed as the next request.
    if has_body && (resp.status().is_client_error() || resp.status().is_server_error()) {
        close_after(&mut resp);
        linger.store(true, Ordering::Relaxed);
    }
    debug!(peer = %conn.peer, %method, path = %target, status = resp.status().as_u16(), "webdav request");
    resp
}

async fn dispatch(
    dav: &Dav,
    conn: &Conn,
    req: Request<Incoming>,
) -> Result<Response<Body>, DavError> {
    // The browser page and its API (`web/`): the reserved `/.griddock-web/` prefix, and
    // HTML navigations to collections. Everything else is WebDAV as before.
    if web::claims(dav, &req) {
        return Ok(web::handle(dav, conn, req).await);
    }
    match req.method().as_str() {
        // OPTIONS names methods only, nothing about any resource: no credential needed.
        "OPTIONS" => return Ok(options::options()),
        // SECURITY: a POST is never routed to a handler that could serve the file (StoRM
        // once answered a macaroon request with the whole file): anything but a macaroon
        // request is refused before anything else, its body unread.
        "POST" if !macaroon::is_request(&req) => return Err(DavError::MethodNotAllowed("POST")),
        "LOCK" | "UNLOCK" | "PROPPATCH" => {
            return Err(DavError::MethodNotAllowed("this server is WebDAV class 1"))
        }
        _ => {}
    }
    let access = dav.authn.resolve(req.headers(), conn.cert.as_ref()).await?;
    let path = href::decode_path(req.uri().path())?;
    let ctx = Ctx {
        dav,
        access,
        path,
        peer: conn.peer,
    };
    match *req.method() {
        Method::GET => get::handle(&ctx, &req, false).await,
        Method::HEAD => get::handle(&ctx, &req, true).await,
        Method::PUT => put::handle(&ctx, req).await,
        Method::DELETE => fsops::delete(&ctx, &req).await,
        _ => match req.method().as_str() {
            "PROPFIND" => propfind::handle(&ctx, req).await,
            "MKCOL" => fsops::mkcol(&ctx, &req).await,
            "MOVE" => fsops::mv(&ctx, &req).await,
            "POST" => macaroon::issue(&ctx, req).await,
            "COPY" => tpc::handle(&ctx, &req).await,
            _ => Err(DavError::NotImplemented("unknown method")),
        },
    }
}
