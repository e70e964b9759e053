//! The HTTP endpoint (RFC 9110/9112 over hyper): `/healthz` (process alive), `/readyz`
//! (every registered component ready), `/metrics` (OpenMetrics text) and ACME http-01
//! answers under `/.well-known/acme-challenge/` (RFC 8555 §8.3). Plain HTTP only: the TLS
//! listener is the WebDAV endpoint (`crate::dav`), which also completes tls-alpn-01
//! handshakes (RFC 8737).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::metrics::Metrics;
use crate::readiness::Readiness;
use crate::tls::CertStore;

/// What the HTTP(S) handlers need.
#[derive(Clone)]
pub struct HttpState {
    pub metrics: Arc<Metrics>,
    pub ready: Readiness,
    pub certs: Arc<CertStore>,
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves plain HTTP until `shutdown`; in-flight requests finish.
pub async fn serve(listener: TcpListener, state: HttpState, shutdown: CancellationToken) {
    accept_loop(listener, state, shutdown).await;
    info!(endpoint = "http", "listener stopped");
}

async fn accept_loop(listener: TcpListener, state: HttpState, shutdown: CancellationToken) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    debug!(error = %e, "http accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let state = state.clone();
        let service = service_fn(move |req| {
            let resp = route(&req, &state);
            async move { Ok::<_, Infallible>(resp) }
        });
        let conn =
            graceful.watch(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                debug!(%peer, error = %e, "http connection error");
            }
        });
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
}

fn route(req: &Request<Incoming>, state: &HttpState) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed\n".into(),
        );
    }
    let (metrics, ready) = (&state.metrics, &state.ready);
    if let Some(token) = req
        .uri()
        .path()
        .strip_prefix("/.well-known/acme-challenge/")
    {
        return match state.certs.http_challenge(token) {
            Some(key_auth) => text(StatusCode::OK, key_auth),
            None => text(StatusCode::NOT_FOUND, "no such challenge\n".into()),
        };
    }
    match req.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => {
            let (ok, report) = ready.report();
            let status = if ok {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            text(status, report)
        }
        "/metrics" => {
            let mut resp = text(StatusCode::OK, metrics.encode());
            resp.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(OPENMETRICS),
            );
            resp
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
