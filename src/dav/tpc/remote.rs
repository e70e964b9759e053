//! griddock's outbound HTTP/1.1 (RFC 9112) for third-party copies, over rustls with
//! server-name verification (RFC 9525): resolution, the [`TpcPolicy`] check of every
//! resolved address *before* connecting, and redirects (RFC 9110 §15.4) followed only
//! through the same check, with `Authorization` dropped when a redirect leaves the
//! origin (as curl and dCache do).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, HOST, LOCATION, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tracing::{debug, warn};

use super::policy::{Refusal, TpcPolicy};
use super::TpcError;
use crate::dav::body::Body;
use crate::watch::{parent_dir, Pending, Spec, Wake, Watch};

const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const MAX_REDIRECTS: usize = 5;
const AGENT: &str = concat!("griddock/", env!("CARGO_PKG_VERSION"));

/// Where the outbound trust comes from; the client configuration is rebuilt in the
/// background when the IGTF directory or the CA file's directory changes (CAs are added
/// and retired there by the distribution), so a copy only loads a pointer.
pub struct TrustSource {
    pub cert_dir: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
}

/// How often the trust directory's mtime is compared anyway (a file system whose changes
/// notify cannot see, or the directory replaced as a whole).
const TRUST_POLL: Duration = Duration::from_secs(2);

pub struct Outbound {
    policy: TpcPolicy,
    tls: Arc<ArcSwap<rustls::ClientConfig>>,
    /// Keeps the trust reload running; `None` when there is nothing to watch.
    _reload: Option<Watch>,
    /// Longest wait for a response head (`limits.data_timeout`).
    head_timeout: Duration,
}

/// One HTTP/1.1 connection to the remote.
pub struct Conn {
    send: SendRequest<Body>,
    pub peer: SocketAddr,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

impl Outbound {
    pub fn new(
        policy: TpcPolicy,
        trust: TrustSource,
        head_timeout: Duration,
    ) -> Result<Outbound, String> {
        // Watching starts before the first load: a change in between is not lost.
        let pending = watch_trust(&trust);
        let seen = dir_mtime(&trust);
        let tls = Arc::new(ArcSwap::new(build_tls(&trust)?));
        let reload = pending.and_then(|p| reload_trust(p, trust, Arc::clone(&tls), seen));
        Ok(Outbound {
            policy,
            tls,
            _reload: reload,
            head_timeout,
        })
    }

    pub fn policy(&self) -> &TpcPolicy {
        &self.policy
    }

    /// The current client configuration: a pointer load, no file-system access.
    fn tls(&self) -> Arc<rustls::ClientConfig> {
        self.tls.load_full()
    }

    /// The addresses of `uri`'s host that the policy allows; an error when there are
    /// none (the refusal of the first refused address) or the name does not resolve.
    pub async fn resolve(&self, uri: &Uri) -> Result<Vec<SocketAddr>, TpcError> {
        let (host, port) = host_port(uri)?;
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
                .await
                .map_err(|_| TpcError::Resolve(format!("{host}: resolution timed out")))?
                .map_err(|e| TpcError::Resolve(format!("{host}: {e}")))?
                .collect(),
        };
        let mut refused: Option<Refusal> = None;
        let mut allowed = Vec::new();
        for a in addrs {
            // SECURITY: every resolved address passes the policy before any connection
            // (a name may resolve to a private address: DNS rebinding, metadata).
            match self.policy.check(a.ip()) {
                Ok(()) => allowed.push(a),
                Err(r) => refused = refused.or(Some(r)),
            }
        }
        match (allowed.is_empty(), refused) {
            (false, _) => Ok(allowed),
            (true, Some(r)) => Err(TpcError::Refused(r)),
            (true, None) => Err(TpcError::Resolve(format!("{host}: no address"))),
        }
    }

    /// A connection to `uri`'s origin (policy-checked addresses only, TLS for https).
    pub async fn connect(&self, uri: &Uri) -> Result<Conn, TpcError> {
        let addrs = self.resolve(uri).await?;
        let (host, _) = host_port(uri)?;
        let mut last = String::new();
        for addr in addrs {
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => return self.handshake(uri, host, tcp, addr).await,
                Ok(Err(e)) => last = format!("{addr}: {e}"),
                Err(_) => last = format!("{addr}: connection timed out"),
            }
        }
        Err(TpcError::Connect(last))
    }

    async fn handshake(
        &self,
        uri: &Uri,
        host: &str,
        tcp: TcpStream,
        peer: SocketAddr,
    ) -> Result<Conn, TpcError> {
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = if uri.scheme_str() == Some("https") {
            let name = server_name(host)?;
            let connector = tokio_rustls::TlsConnector::from(self.tls());
            let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
                .await
                .map_err(|_| TpcError::Tls(format!("{peer}: TLS handshake timed out")))?
                .map_err(|e| TpcError::Tls(format!("{peer}: {e}")))?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        // Title-Case names on the wire: XRootD 5.5 matches header names case-sensitively
        // (`Want-Digest`, not `want-digest`).
        let (send, conn) = hyper::client::conn::http1::Builder::new()
            .title_case_headers(true)
            .handshake(TokioIo::new(io))
            .await
            .map_err(|e| TpcError::Http(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                debug!(%peer, error = %e, "third-party copy connection ended");
            }
        });
        Ok(Conn { send, peer })
    }

    /// Sends one request on `conn` (origin-form target, `Host`, griddock's User-Agent and
    /// the forwarded headers) and waits for the response head: at most the data timeout
    /// after the last progress of `uploading` (the count of body bytes sent, for a PUT
    /// whose answer comes only after its whole body), or after sending when `None`.
    pub async fn request(
        &self,
        conn: &mut Conn,
        method: &Method,
        uri: &Uri,
        headers: &[(HeaderName, HeaderValue)],
        body: Body,
        uploading: Option<&AtomicU64>,
    ) -> Result<Response<Incoming>, TpcError> {
        let req = build(method, uri, headers, body)?;
        conn.send
            .ready()
            .await
            .map_err(|e| TpcError::Http(e.to_string()))?;
        let answer = conn.send.send_request(req);
        tokio::pin!(answer);
        let mut seen = uploading.map(|n| n.load(Ordering::Relaxed));
        loop {
            match tokio::time::timeout(self.head_timeout, &mut answer).await {
                Ok(r) => return r.map_err(|e| TpcError::Http(e.to_string())),
                Err(_) => {
                    let now = uploading.map(|n| n.load(Ordering::Relaxed));
                    if now == seen {
                        return Err(TpcError::Stalled);
                    }
                    seen = now;
                }
            }
        }
    }

    /// [`Outbound::request`] on a new connection, following redirects: the final
    /// response, its URL and its connection. `body` makes the body anew for each hop.
    pub async fn follow(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &[(HeaderName, HeaderValue)],
        body: &(dyn Fn() -> Result<Body, TpcError> + Sync),
        uploading: Option<&AtomicU64>,
    ) -> Result<(Response<Incoming>, Uri, Conn), TpcError> {
        let mut uri = uri.clone();
        let mut headers = headers.to_vec();
        for _ in 0..=MAX_REDIRECTS {
            let mut conn = self.connect(&uri).await?;
            let resp = self
                .request(&mut conn, method, &uri, &headers, body()?, uploading)
                .await?;
            let Some(next) = redirect_target(&resp, &uri) else {
                return Ok((resp, uri, conn));
            };
            let next = next?;
            debug!(from = %redact(&uri), to = %redact(&next), "third-party copy: redirected");
            if origin(&next) != origin(&uri) {
                // SECURITY: the client's credential for one host is not handed to
                // another one that a redirect names.
                headers.retain(|(n, _)| n != AUTHORIZATION);
            }
            uri = next;
        }
        Err(TpcError::Http(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }
}

fn build_tls(trust: &TrustSource) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = crate::tls::roots::client_roots(trust.ca_file.as_deref())?;
    if let Some(dir) = &trust.cert_dir {
        crate::tls::roots::add_cert_dir(&mut roots, dir);
    }
    crate::tls::roots::client_config(roots)
}

fn dir_mtime(trust: &TrustSource) -> Option<SystemTime> {
    let dir = trust.cert_dir.as_ref()?;
    std::fs::metadata(dir).and_then(|m| m.modified()).ok()
}

/// Starts watching the IGTF directory and the CA file's directory, those that exist (an
/// FTP-only site has no /etc/grid-security/certificates); the 2 s poll of the IGTF
/// directory's mtime runs in any case, so a directory created later is found too.
fn watch_trust(trust: &TrustSource) -> Option<Pending> {
    let mut dirs: Vec<PathBuf> = trust.cert_dir.iter().cloned().collect();
    dirs.extend(trust.ca_file.as_deref().map(parent_dir));
    dirs.retain(|d| d.is_dir());
    dirs.dedup();
    let spec = Spec {
        name: "tpc-trust-reload",
        dirs,
        settle: Duration::from_millis(300),
        poll: Some(TRUST_POLL),
    };
    Pending::start(spec, || {})
        .map_err(|e| warn!(error = %e, "third-party copy: trust changes need a restart"))
        .ok()
}

/// Rebuilds the client configuration on the watcher's thread: on every settled change in
/// the watched directories, and at every poll when the IGTF directory's mtime moved.
fn reload_trust(
    pending: Pending,
    trust: TrustSource,
    tls: Arc<ArcSwap<rustls::ClientConfig>>,
    mut seen: Option<SystemTime>,
) -> Option<Watch> {
    let started = pending.run(move |wake| {
        let now = dir_mtime(&trust);
        if wake == Wake::Poll && now == seen {
            return;
        }
        seen = now;
        match build_tls(&trust) {
            Ok(new) => tls.store(new),
            Err(e) => warn!(error = %e, "third-party copy: trust anchors not reloaded"),
        }
    });
    started
        .map_err(|e| warn!(error = %e, "third-party copy: trust changes need a restart"))
        .ok()
}

impl Outbound {
    /// The adler32 of the remote's `Digest` on a HEAD with `headers` (which carry the
    /// `Want-Digest`), following redirects; an answer other than 200 is an error.
    pub async fn head_adler32(
        &self,
        uri: &Uri,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<Option<String>, TpcError> {
        let (resp, _, _) = self
            .follow(
                &Method::HEAD,
                uri,
                headers,
                &|| Ok(crate::dav::body::empty()),
                None,
            )
            .await?;
        if resp.status() != StatusCode::OK {
            return Err(status_error(resp).await);
        }
        Ok(super::digest::remote_adler32(resp.headers()))
    }
}

/// A non-success answer as an error, with the first line of its body (at most 256
/// bytes, read for at most 5 s) as detail.
pub async fn status_error(resp: Response<Incoming>) -> TpcError {
    use http_body_util::BodyExt;
    let code = resp.status().as_u16();
    let body = http_body_util::Limited::new(resp.into_body(), 4096).collect();
    let text = match tokio::time::timeout(Duration::from_secs(5), body).await {
        Ok(Ok(b)) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
        _ => String::new(),
    };
    let line: String = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .chars()
        .take(256)
        .collect();
    let detail = if line.is_empty() {
        String::new()
    } else {
        format!("; error message: \"{line}\"")
    };
    TpcError::Status { code, detail }
}

impl Conn {
    pub fn is_closed(&self) -> bool {
        self.send.is_closed()
    }
}

/// Host (without IPv6 brackets) and port (default by scheme).
fn host_port(uri: &Uri) -> Result<(&str, u16), TpcError> {
    let host = uri
        .host()
        .ok_or_else(|| TpcError::Http("URL without a host".into()))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("http") => 80,
        _ => 443,
    });
    Ok((host, port))
}

fn server_name(host: &str) -> Result<rustls::pki_types::ServerName<'static>, TpcError> {
    match host.parse::<IpAddr>() {
        Ok(ip) => Ok(rustls::pki_types::ServerName::IpAddress(ip.into())),
        Err(_) => rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|_| TpcError::Tls(format!("{host}: not a valid server name"))),
    }
}

fn build(
    method: &Method,
    uri: &Uri,
    headers: &[(HeaderName, HeaderValue)],
    body: Body,
) -> Result<Request<Body>, TpcError> {
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut req = Request::builder().method(method.clone()).uri(target);
    let h = req
        .headers_mut()
        .ok_or_else(|| TpcError::Http("bad request".into()))?;
    let authority = uri
        .authority()
        .ok_or_else(|| TpcError::Http("URL without a host".into()))?;
    h.insert(
        HOST,
        HeaderValue::from_str(authority.as_str()).map_err(|_| TpcError::Http("bad host".into()))?,
    );
    h.insert(USER_AGENT, HeaderValue::from_static(AGENT));
    for (n, v) in headers {
        h.append(n.clone(), v.clone());
    }
    req.body(body).map_err(|e| TpcError::Http(e.to_string()))
}

/// The next URL for a redirect status with a `Location`; `None` for anything else.
fn redirect_target(resp: &Response<Incoming>, base: &Uri) -> Option<Result<Uri, TpcError>> {
    let s = resp.status();
    let redirect = matches!(
        s,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    );
    if !redirect {
        return None;
    }
    let loc = resp.headers().get(LOCATION)?.to_str().ok()?;
    Some(resolve_location(base, loc))
}

/// An absolute `Location`, or one relative to the origin (`/path`).
pub fn resolve_location(base: &Uri, loc: &str) -> Result<Uri, TpcError> {
    let bad = || TpcError::Http(format!("unusable redirect Location {loc:?}"));
    if loc.starts_with('/') && !loc.starts_with("//") {
        let scheme = base.scheme_str().unwrap_or("https");
        let auth = base.authority().ok_or_else(bad)?;
        return format!("{scheme}://{auth}{loc}").parse().map_err(|_| bad());
    }
    let uri: Uri = loc.parse().map_err(|_| bad())?;
    match uri.scheme_str() {
        Some("http") | Some("https") if uri.host().is_some() => Ok(uri),
        _ => Err(bad()),
    }
}

/// Scheme, host and port: the origin (RFC 6454) credentials are scoped to.
fn origin(uri: &Uri) -> (Option<&str>, Option<&str>, Option<u16>) {
    let port = uri.port_u16().or(match uri.scheme_str() {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    });
    (uri.scheme_str(), uri.host(), port)
}

/// The URL without its query, for logs: capability URLs carry tokens there.
pub fn redact(uri: &Uri) -> String {
    match (uri.scheme_str(), uri.authority()) {
        (Some(s), Some(a)) => format!("{s}://{a}{}", uri.path()),
        _ => uri.path().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let base: Uri = "https://a.example:8443/x?authz=secret".parse().unwrap();
        assert_eq!(
            resolve_location(&base, "/y").unwrap().to_string(),
            "https://a.example:8443/y"
        );
        assert_eq!(
            resolve_location(&base, "http://b/z").unwrap().to_string(),
            "http://b/z"
        );
        assert!(resolve_location(&base, "//b/z").is_err());
        assert!(resolve_location(&base, "file:///etc/passwd").is_err());
        assert!(resolve_location(&base, "gopher://b/").is_err());
        assert_eq!(redact(&base), "https://a.example:8443/x");
    }

    #[test]
    fn origins() {
        let a: Uri = "https://h/x".parse().unwrap();
        let b: Uri = "https://h:443/y".parse().unwrap();
        let c: Uri = "https://h:8443/y".parse().unwrap();
        let d: Uri = "http://h/y".parse().unwrap();
        assert_eq!(origin(&a), origin(&b));
        assert_ne!(origin(&a), origin(&c));
        assert_ne!(origin(&a), origin(&d));
    }

    #[test]
    fn host_ports() {
        let u: Uri = "https://[::1]:9/x".parse().unwrap();
        assert_eq!(host_port(&u).unwrap(), ("::1", 9));
        let u: Uri = "http://h/x".parse().unwrap();
        assert_eq!(host_port(&u).unwrap(), ("h", 80));
    }
}
