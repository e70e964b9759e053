//! Logins of the browser page: a JSON login (users-file password, or the connection's
//! X.509 client certificate) opens a server-side session named by a random cookie
//! (RFC 6265bis: `__Host-` prefix, `Secure`, `HttpOnly`, `SameSite=Strict`, `Path=/`,
//! `Max-Age`), which expires at a fixed time and ends at logout. Every state-changing
//! request must carry the session's CSRF token in `X-CSRF-Token` (OWASP synchroniser
//! token), compared in constant time. Each request re-derives the caller's
//! [`Access`] from the current users file / grid-mapfile, so a changed password, root or
//! permission takes effect at once.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, SET_COOKIE};
use hyper::{HeaderMap, Request, Response, StatusCode};
use serde::Deserialize;
use sha2::Digest;
use tracing::{info, warn};

use super::input::{session_cookie, COOKIE_NAME};
use super::{json, small_body, WebError};
use crate::auth::{Authenticator, Principal};
use crate::dav::body::Body;
use crate::dav::request::Conn;
use crate::dav::{Access, Dav};
use crate::metrics::{EndpointLabel, LoginMethod};
use crate::storage::VPath;

pub(super) const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions held at once (all of them expire; this bounds memory under a login flood).
const MAX_SESSIONS: usize = 10_000;

/// Who a session is.
#[derive(Clone)]
enum Who {
    /// A users-file account, as its entry was at login (hash, root, write).
    Password {
        user: String,
        stamp: (String, String, bool),
    },
    /// A client certificate's subject: the session works only on connections that
    /// present a valid certificate with this DN.
    X509 { dn: String },
}

/// One resumable upload of a session (created by `upload.rs`, kept here with its session).
pub(super) struct UploadObject {
    pub(super) path: VPath,
    pub(super) size: u64,
    pub(super) touched: Instant,
    /// A part is being received (a second one at the same time is refused).
    pub(super) busy: bool,
}

struct Session {
    who: Who,
    csrf: String,
    expires: Instant,
    uploads: HashMap<String, UploadObject>,
}

/// The session table, keyed by the SHA-256 of the cookie value.
pub(super) struct Sessions {
    table: Mutex<HashMap<[u8; 32], Session>>,
    lifetime: Duration,
}

/// The caller of an API request: its access, and its session's key if it has one.
pub(super) struct Caller {
    pub access: Access,
    pub session: Option<[u8; 32]>,
}

impl Sessions {
    pub(super) fn new(lifetime: Duration) -> Sessions {
        Sessions {
            table: Mutex::new(HashMap::new()),
            lifetime,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session: (cookie value, CSRF token).
    fn open(&self, who: Who) -> Result<(String, String), WebError> {
        let (token, csrf) = (random_hex(), random_hex());
        let mut t = self.lock();
        let now = Instant::now();
        t.retain(|_, s| s.expires > now);
        if t.len() >= MAX_SESSIONS {
            return Err(WebError::Busy);
        }
        let session = Session {
            who,
            csrf: csrf.clone(),
            expires: now + self.lifetime,
            uploads: HashMap::new(),
        };
        t.insert(key(&token), session);
        Ok((token, csrf))
    }

    /// Runs `f` on the live session `k` (an expired one is removed: `None`).
    pub(super) fn with<T>(
        &self,
        k: &[u8; 32],
        f: impl FnOnce(&mut HashMap<String, UploadObject>) -> T,
    ) -> Option<T> {
        let mut t = self.lock();
        match t.get_mut(k) {
            Some(s) if s.expires > Instant::now() => Some(f(&mut s.uploads)),
            Some(_) => {
                t.remove(k);
                None
            }
            None => None,
        }
    }

    /// Who the live session `k` is, its CSRF token and remaining lifetime.
    fn get(&self, k: &[u8; 32]) -> Option<(Who, String, Duration)> {
        let mut t = self.lock();
        let now = Instant::now();
        match t.get(k) {
            Some(s) if s.expires > now => Some((s.who.clone(), s.csrf.clone(), s.expires - now)),
            Some(_) => {
                t.remove(k);
                None
            }
            None => None,
        }
    }

    fn close(&self, k: &[u8; 32]) -> bool {
        self.lock().remove(k).is_some()
    }
}

fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn key(token: &str) -> [u8; 32] {
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// Constant-time equality (the length is not secret: tokens are all 64 hex digits).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The caller of a request. `write`: a state-changing request, which needs a session
/// and its CSRF token; reads without a session run as the connection's certificate or
/// as anonymous (when `[auth] anonymous` allows it).
pub(super) async fn caller(
    dav: &Dav,
    conn: &Conn,
    h: &HeaderMap,
    write: bool,
) -> Result<Caller, WebError> {
    let found = session_cookie(h).map(|t| key(&t)).and_then(|k| {
        let s = dav.web.sessions.get(&k)?;
        Some((k, s))
    });
    let Some((k, (who, csrf, _))) = found else {
        // SECURITY: nothing changes without a session: the browser's certificate and
        // anonymous access are ambient, so they never authorise a write by themselves.
        if write {
            return Err(WebError::NoSession);
        }
        let access = dav
            .authn
            .resolve(&HeaderMap::new(), conn.cert.as_ref())
            .await
            .map_err(|_| WebError::NoSession)?;
        return Ok(Caller {
            access,
            session: None,
        });
    };
    if write {
        let sent = h.get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or(b"");
        // SECURITY: a cross-site request carries no token (it cannot read ours); compared
        // in constant time.
        if !same(sent, csrf.as_bytes()) {
            return Err(WebError::Csrf);
        }
    }
    let access = match session_access(dav, conn, &who).await {
        Some(a) => a,
        None => {
            dav.web.sessions.close(&k);
            return Err(WebError::NoSession);
        }
    };
    Ok(Caller {
        access,
        session: Some(k),
    })
}

/// The session's access now, or `None` when its account changed or went away.
async fn session_access(dav: &Dav, conn: &Conn, who: &Who) -> Option<Access> {
    match who {
        Who::Password { user, stamp } => {
            // SECURITY: a changed password, root or permission (or a removed account)
            // ends the session.
            if dav.authn.users.user_stamp(user).as_ref() != Some(stamp) {
                info!(user, "web: account changed, session ended");
                return None;
            }
            let p = Principal {
                name: user.clone(),
                root: stamp.1.clone(),
                can_write: stamp.2,
                anonymous: false,
            };
            dav.authn.account(p, None, LoginMethod::Password).await.ok()
        }
        Who::X509 { dn } => match &conn.cert {
            // The access always comes from this connection's own certificate; a
            // certificate session is only good where that same DN is presented.
            Some(Ok(id)) if id.dn == *dn => dav
                .authn
                .resolve(&HeaderMap::new(), conn.cert.as_ref())
                .await
                .ok(),
            _ => None,
        },
    }
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    certificate: bool,
}

/// `POST /.griddock-web/login` with a JSON body: `{"user", "password"}` or
/// `{"certificate": true}`.
pub(super) async fn login(
    dav: &Dav,
    conn: &Conn,
    req: Request<Incoming>,
) -> Result<Response<Body>, WebError> {
    // SECURITY: JSON only: a cross-site HTML form cannot send it without a CORS
    // preflight we never grant, so no other site can log a visitor in (login CSRF).
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().starts_with("application/json"));
    if !is_json {
        return Err(WebError::Bad("login takes application/json"));
    }
    let body = small_body(dav, req.into_body(), 4096).await?;
    let form: LoginForm =
        serde_json::from_slice(&body).map_err(|_| WebError::Bad("malformed login"))?;
    let (who, user) = if form.certificate {
        certificate_login(dav, conn).await?
    } else {
        password_login(dav, &form).await?
    };
    let (token, csrf) = dav.web.sessions.open(who)?;
    info!(peer = %conn.peer, user, "web: session opened");
    let mut resp = json(
        StatusCode::OK,
        &serde_json::json!({ "user": user, "csrf": csrf }),
    );
    let max_age = dav.web.sessions.lifetime.as_secs().max(1);
    let c = format!(
        "{COOKIE_NAME}={token}; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}"
    );
    let v = HeaderValue::from_str(&c).map_err(|e| crate::dav::DavError::Internal(e.to_string()))?;
    resp.headers_mut().insert(SET_COOKIE, v);
    Ok(resp)
}

async fn password_login(dav: &Dav, form: &LoginForm) -> Result<(Who, String), WebError> {
    if Authenticator::is_anonymous_user(&form.user) {
        return Err(WebError::Bad("anonymous access needs no login"));
    }
    let users = &dav.authn.users;
    match users.login(&form.user, &form.password).await {
        Ok(p) => {
            let stamp = users.user_stamp(&p.name).ok_or(WebError::BadLogin)?;
            dav.metrics
                .logged_in(EndpointLabel::Webdav, LoginMethod::Password);
            let user = p.name.clone();
            Ok((
                Who::Password {
                    user: p.name,
                    stamp,
                },
                user,
            ))
        }
        Err(e) => {
            warn!(user = %form.user, error = %e, "web: login failed");
            dav.metrics.login_failed(EndpointLabel::Webdav);
            // SECURITY: slow down password guessing, as for Basic.
            tokio::time::sleep(dav.authn.failed_login_delay).await;
            Err(WebError::BadLogin)
        }
    }
}

async fn certificate_login(dav: &Dav, conn: &Conn) -> Result<(Who, String), WebError> {
    let Some(Ok(id)) = &conn.cert else {
        return Err(WebError::Bad(
            "no valid client certificate on this connection",
        ));
    };
    let access = dav
        .authn
        .resolve(&HeaderMap::new(), conn.cert.as_ref())
        .await?;
    Ok((Who::X509 { dn: id.dn.clone() }, access.user))
}

/// `POST /.griddock-web/logout` (with the CSRF token): ends the session, clears the
/// cookie.
pub(super) fn logout(dav: &Dav, req: &Request<Incoming>) -> Result<Response<Body>, WebError> {
    let h = req.headers();
    let k = session_cookie(h)
        .map(|t| key(&t))
        .ok_or(WebError::NoSession)?;
    let (_, csrf, _) = dav.web.sessions.get(&k).ok_or(WebError::NoSession)?;
    let sent = h.get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or(b"");
    // SECURITY: logout is state-changing too (a forced logout would abort uploads).
    if !same(sent, csrf.as_bytes()) {
        return Err(WebError::Csrf);
    }
    dav.web.sessions.close(&k);
    let mut resp = json(StatusCode::OK, &serde_json::json!({ "ok": true }));
    resp.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static(
            "__Host-griddock=; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        ),
    );
    Ok(resp)
}

/// `GET /.griddock-web/session`: who the page runs as, the CSRF token of its session,
/// and what the page needs to know (a certificate to log in with, the gsiftp port).
pub(super) async fn whoami(
    dav: &Dav,
    conn: &Conn,
    req: &Request<Incoming>,
) -> Result<Response<Body>, WebError> {
    let h = req.headers();
    let session = session_cookie(h)
        .map(|t| key(&t))
        .and_then(|k| dav.web.sessions.get(&k));
    let caller = caller(dav, conn, h, false).await.ok();
    let cert = match &conn.cert {
        Some(Ok(id)) => Some(id.dn.clone()),
        _ => None,
    };
    let (csrf, expires_in) = match (&session, &caller) {
        (Some((_, csrf, left)), Some(c)) if c.session.is_some() => {
            (Some(csrf.clone()), Some(left.as_secs()))
        }
        _ => (None, None),
    };
    let body = serde_json::json!({
        "user": caller.as_ref().map(|c| c.access.user.clone()),
        "session": csrf.is_some(),
        "anonymous": caller.as_ref().is_some_and(|c| c.access.anonymous),
        "csrf": csrf,
        "expires_in": expires_in,
        "certificate": cert,
        "gsiftp_port": dav.web.gsiftp_port,
        "chunk_size": dav.web.chunk_size,
    });
    Ok(json(StatusCode::OK, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_compare() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(!same(b"", b"a"));
    }

    #[test]
    fn sessions_expire_and_close() {
        let s = Sessions::new(Duration::from_millis(50));
        let who = Who::X509 { dn: "/CN=x".into() };
        let (token, csrf) = s.open(who).unwrap();
        assert_eq!(csrf.len(), 64);
        let k = key(&token);
        assert!(s.get(&k).is_some());
        std::thread::sleep(Duration::from_millis(80));
        assert!(s.get(&k).is_none(), "expired");
        let (token, _) = s.open(Who::X509 { dn: "/CN=y".into() }).unwrap();
        assert!(s.close(&key(&token)));
        assert!(s.get(&key(&token)).is_none());
    }
}
