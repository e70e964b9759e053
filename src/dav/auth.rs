//! Credentials → access for the WebDAV endpoint: RFC 7617 HTTP Basic against the users
//! file (the listener is TLS-only, so Basic never travels in clear), RFC 6750 bearer
//! credentials (WLCG tokens and griddock's macaroons through the one
//! [`BearerAuthority`]), X.509 certificates and RFC 3820 proxies from TLS client
//! authentication mapped through the grid-mapfile, and anonymous access per
//! `[auth] anonymous`. Every identity ends as a confined [`DataRoot`] and an
//! [`auth::rights::Grant`](Grant) on server paths, the one rights vocabulary shared with
//! the bearer layer: an account's grant covers its root, a bearer credential's grant is
//! exactly its scopes.
//!
//! Server paths: absolute paths in the data directory. An account whose root is `alice`
//! sees the server path `/alice/x` as the URL path `/x`; a WLCG token's URL paths are
//! server paths (its root is the whole data directory); a macaroon keeps the root of the
//! account that asked for it (`root:` caveat), so it works at the URLs that account uses.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hyper::header::AUTHORIZATION;
use hyper::HeaderMap;
use tracing::{info, warn};

use super::error::DavError;
use crate::auth::rights::{join, normalise_grant_path, Activity, Grant};
use crate::auth::{AuthError, Authenticator, BearerAuthority, BearerError, Principal};
use crate::gsi::{ChainError, Gsi, Identity};
use crate::metrics::{EndpointLabel, LoginMethod};
use crate::storage::{DataRoot, VPath};

/// An authenticated (or anonymous) request's identity, root and rights.
#[derive(Debug, Clone)]
pub struct Access {
    pub user: String,
    pub dn: Option<String>,
    pub method: LoginMethod,
    pub root: DataRoot,
    /// The server path of `root` (`/` for the whole data directory).
    pub root_path: String,
    /// What the caller may do, on server paths.
    pub grant: Grant,
    /// No credential was presented (anonymous access).
    pub anonymous: bool,
}

impl Access {
    /// The server path of the URL path `path`.
    pub fn server_path(&self, path: &VPath) -> String {
        join(&self.root_path, path.as_str())
    }

    /// Checks that `act` on `path` (a URL path, below `root`) is allowed: 401 for an
    /// anonymous request that needs more (the client may retry with a credential), 403
    /// for an identity that lacks it.
    pub fn require(&self, act: Activity, path: &VPath) -> Result<(), DavError> {
        // SECURITY: rights are matched component by component on the server path
        // (`storage.read:/foo` does not cover `/foobar`).
        if self.grant.allows(act, &self.server_path(path)) {
            return Ok(());
        }
        if self.anonymous {
            return Err(DavError::Unauthenticated(
                "this operation needs credentials",
            ));
        }
        Err(DavError::Forbidden(match act {
            Activity::Stat => "the credential does not allow stat here",
            Activity::Read => "the credential does not allow reading here",
            Activity::List => "the credential does not allow listing here",
            Activity::Create => "the credential does not allow creating files here",
            Activity::MakeDir => "the credential does not allow creating collections here",
            Activity::Overwrite => "the credential does not allow overwriting here",
            Activity::Delete => "the credential does not allow deleting here",
            Activity::Rename => "the credential does not allow renaming here",
        }))
    }
}

/// Turns credentials into [`Access`].
#[derive(Clone)]
pub struct Authn {
    pub users: Authenticator,
    pub gsi: Option<Arc<Gsi>>,
    pub root: DataRoot,
    pub failed_login_delay: Duration,
    /// Recently verified Basic credentials.
    pub verified: Arc<super::credcache::CredCache>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// WLCG tokens and macaroons (created once per server).
    pub bearer: Arc<BearerAuthority>,
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl Authn {
    /// The access for a request with `headers` on a connection whose TLS client
    /// certificate chain validated as `cert` (if one was presented).
    pub async fn resolve(
        &self,
        headers: &HeaderMap,
        cert: Option<&Result<Identity, ChainError>>,
    ) -> Result<Access, DavError> {
        if let Some(value) = headers.get(AUTHORIZATION) {
            let value = value
                .to_str()
                .map_err(|_| DavError::Unauthenticated("malformed Authorization header"))?;
            return self.authorization(value).await;
        }
        match cert {
            Some(Ok(identity)) => return self.certificate(identity).await,
            Some(Err(_)) => {
                return Err(DavError::Unauthenticated(
                    "the client certificate no longer validates",
                ))
            }
            None => {}
        }
        self.anonymous().await
    }

    async fn authorization(&self, value: &str) -> Result<Access, DavError> {
        let value = value.trim();
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return self.basic(rest.trim()).await;
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            return self.bearer(rest.trim()).await;
        }
        Err(DavError::Unauthenticated(
            "unsupported authorization scheme",
        ))
    }

    /// A WLCG token or a macaroon: its grant on the whole data directory.
    async fn bearer(&self, token: &str) -> Result<Access, DavError> {
        match self.bearer.authorise_bearer(token).await {
            Ok(g) => {
                let grant = g.to_grant();
                let mut root_path = "/".to_string();
                if let crate::auth::BearerGrant::Macaroon(m) = &g {
                    info!(identity = %m.identity, id = %m.id, "webdav: macaroon accepted");
                    // A macaroon from an account with its own root keeps that account's
                    // URLs; its rights are on server paths either way.
                    if let Some(r) = &m.root {
                        root_path = r.clone();
                    }
                }
                let root = if root_path == "/" {
                    self.root.clone()
                } else {
                    let (base, rel) = (self.root.clone(), root_path.clone());
                    tokio::task::spawn_blocking(move || base.sub_root(&rel, true))
                        .await
                        .map_err(|e| DavError::Internal(e.to_string()))??
                };
                self.metrics
                    .logged_in(EndpointLabel::Webdav, LoginMethod::Bearer);
                Ok(Access {
                    user: grant.identity.clone(),
                    dn: None,
                    method: LoginMethod::Bearer,
                    root,
                    root_path,
                    grant,
                    anonymous: false,
                })
            }
            Err(e) => {
                warn!(error = %e, "webdav: bearer credential refused");
                self.metrics.login_failed(EndpointLabel::Webdav);
                Err(match e {
                    BearerError::Unavailable(_) => DavError::TokenCheckUnavailable,
                    // Forbidden is never returned by authorise_bearer; any other is 401.
                    _ => DavError::InvalidToken,
                })
            }
        }
    }

    async fn basic(&self, b64: &str) -> Result<Access, DavError> {
        let decoded = B64
            .decode(b64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(DavError::Unauthenticated("malformed Basic credentials"))?;
        let (user, pass) = decoded
            .split_once(':')
            .ok_or(DavError::Unauthenticated("malformed Basic credentials"))?;
        let stamp = self.users.user_stamp(user);
        if let Some(p) = self.verified.get(user, pass, stamp.as_ref()) {
            return self.account(p, None, LoginMethod::Password).await;
        }
        match self.users.login(user, pass).await {
            Ok(p) => {
                if let (false, Some(stamp)) = (p.anonymous, stamp) {
                    self.verified.put(user, pass, p.clone(), stamp);
                }
                self.metrics
                    .logged_in(EndpointLabel::Webdav, LoginMethod::Password);
                let method = if p.anonymous {
                    LoginMethod::Anonymous
                } else {
                    LoginMethod::Password
                };
                self.account(p, None, method).await
            }
            Err(e) => {
                warn!(user, error = %e, "webdav: Basic authentication failed");
                self.metrics.login_failed(EndpointLabel::Webdav);
                // SECURITY: slow down password guessing, the same delay for every cause.
                tokio::time::sleep(self.failed_login_delay).await;
                Err(DavError::Unauthenticated(match e {
                    AuthError::AnonymousDisabled => "anonymous access is disabled",
                    _ => "invalid credentials",
                }))
            }
        }
    }

    async fn certificate(&self, identity: &Identity) -> Result<Access, DavError> {
        let Some(gsi) = &self.gsi else {
            return Err(DavError::Forbidden(
                "X.509 authentication is not configured",
            ));
        };
        let Some(p) = gsi.principal(identity, None, &self.users).await else {
            warn!(dn = %identity.dn, "webdav: no grid-mapfile mapping");
            self.metrics.login_failed(EndpointLabel::Webdav);
            return Err(DavError::Forbidden("no grid-mapfile mapping for this DN"));
        };
        self.account(p, Some(identity.dn.clone()), LoginMethod::X509)
            .await
    }

    async fn anonymous(&self) -> Result<Access, DavError> {
        match self.users.login("anonymous", "").await {
            Ok(p) => {
                let mut a = self.account(p, None, LoginMethod::Anonymous).await?;
                a.anonymous = true;
                Ok(a)
            }
            Err(_) => Err(DavError::Unauthenticated("credentials required")),
        }
    }

    /// The account's confined root (created if missing, as for FTP logins), and its grant:
    /// everything (or, read-only, stat/read/list) on the root's server path.
    pub(super) async fn account(
        &self,
        p: Principal,
        dn: Option<String>,
        method: LoginMethod,
    ) -> Result<Access, DavError> {
        let base = self.root.clone();
        let (rel, write) = (p.root.clone(), p.can_write);
        let root = tokio::task::spawn_blocking(move || base.sub_root(&rel, write))
            .await
            .map_err(|e| DavError::Internal(e.to_string()))??;
        let root_path = normalise_grant_path(&format!("/{}", p.root))
            .ok_or(DavError::Internal(format!("account root {:?}", p.root)))?;
        let grant = Grant::account(&p.name, &root_path, p.can_write);
        Ok(Access {
            user: p.name,
            dn,
            method,
            root,
            root_path,
            grant,
            anonymous: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::rights::Right;

    fn access(grant: Grant, root_path: &str, anonymous: bool) -> Access {
        let dir = tempfile::tempdir().unwrap();
        Access {
            user: "u".into(),
            dn: None,
            method: LoginMethod::Password,
            root: DataRoot::open(dir.path()).unwrap(),
            root_path: root_path.into(),
            grant,
            anonymous,
        }
    }

    fn p(s: &str) -> VPath {
        VPath::root().resolve(s).unwrap()
    }

    fn scoped(rights: &[(Activity, &str)]) -> Grant {
        Grant {
            identity: "t".into(),
            rights: rights
                .iter()
                .map(|(a, path)| Right::new(*a, path.to_string()))
                .collect(),
            expires: None,
        }
    }

    #[test]
    fn account_rights() {
        let ro = access(Grant::account("u", "/", false), "/", false);
        assert!(ro.require(Activity::Read, &p("/x")).is_ok());
        assert!(matches!(
            ro.require(Activity::Create, &p("/x")),
            Err(DavError::Forbidden(_))
        ));
        let anon = access(Grant::account("anonymous", "/", false), "/", true);
        assert!(matches!(
            anon.require(Activity::Delete, &p("/x")),
            Err(DavError::Unauthenticated(_))
        ));
        let rw = access(Grant::account("u", "/home/u", true), "/home/u", false);
        assert!(rw.require(Activity::Overwrite, &p("/x")).is_ok());
        assert!(rw.require(Activity::Delete, &p("/")).is_ok());
        assert_eq!(rw.server_path(&p("/a/b")), "/home/u/a/b");
    }

    #[test]
    fn scoped_rights_match_whole_components() {
        let a = access(
            scoped(&[
                (Activity::Read, "/foo"),
                (Activity::Create, "/up"),
                (Activity::Overwrite, "/mine"),
            ]),
            "/",
            false,
        );
        assert!(a.require(Activity::Read, &p("/foo")).is_ok());
        assert!(a.require(Activity::Read, &p("/foo/bar")).is_ok());
        assert!(matches!(
            a.require(Activity::Read, &p("/foobar")),
            Err(DavError::Forbidden(_))
        ));
        assert!(a.require(Activity::Create, &p("/foo/x")).is_err());
        assert!(a.require(Activity::Create, &p("/up/new")).is_ok());
        assert!(a.require(Activity::Overwrite, &p("/up/new")).is_err());
        assert!(a.require(Activity::Overwrite, &p("/mine/x")).is_ok());
        assert!(a.require(Activity::Read, &p("/mine/x")).is_err());
    }

    fn authn(dir: &std::path::Path) -> Authn {
        let cfg = crate::config::Config {
            state_dir: dir.join("state"),
            ..crate::config::Config::default()
        };
        std::fs::create_dir_all(dir.join("data")).unwrap();
        Authn {
            users: Authenticator::new(&cfg.auth).unwrap(),
            gsi: None,
            root: DataRoot::open(&dir.join("data")).unwrap(),
            failed_login_delay: Duration::from_millis(300),
            verified: Default::default(),
            metrics: crate::metrics::Metrics::new(),
            bearer: Arc::new(BearerAuthority::from_config(&cfg).unwrap()),
        }
    }

    #[tokio::test]
    async fn a_failed_basic_login_waits_the_delay() {
        let dir = tempfile::tempdir().unwrap();
        let authn = authn(dir.path());
        let mut h = HeaderMap::new();
        let cred = B64.encode("nobody:wrong");
        h.insert(AUTHORIZATION, format!("Basic {cred}").parse().unwrap());
        let t = std::time::Instant::now();
        let r = authn.resolve(&h, None).await;
        assert!(matches!(r, Err(DavError::Unauthenticated(_))));
        assert!(
            t.elapsed() >= Duration::from_millis(300),
            "{:?}",
            t.elapsed()
        );
        // No credential: anonymous read (the default), without a delay.
        let a = authn.resolve(&HeaderMap::new(), None).await.unwrap();
        assert!(a.anonymous && a.grant.allows(Activity::Read, "/x"));
        assert!(!a.grant.allows(Activity::Create, "/x"));
    }

    #[tokio::test]
    async fn bad_bearer_credentials_are_invalid_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let authn = authn(dir.path());
        for token in ["abc", "a.b.c", ""] {
            let mut h = HeaderMap::new();
            h.insert(AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
            let r = authn.resolve(&h, None).await;
            assert!(matches!(r, Err(DavError::InvalidToken)), "{token}: {r:?}");
        }
    }
}
