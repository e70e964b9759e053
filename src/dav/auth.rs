//! Credentials → access for the WebDAV endpoint: RFC 7617 HTTP Basic against the users
//! file (the listener is TLS-only, so Basic never travels in clear), RFC 6750 bearer
//! credentials (one plug-in point, [`bearer_grant`], for WLCG tokens and macaroons), X.509
//! certificates and RFC 3820 proxies from TLS client authentication mapped through the
//! grid-mapfile, and anonymous access per `[auth] anonymous`. Every identity ends as the
//! same account root and rights FTP and GridFTP give it.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hyper::header::AUTHORIZATION;
use hyper::HeaderMap;
use tracing::warn;

use super::error::DavError;
use crate::auth::{AuthError, Authenticator, Principal};
use crate::gsi::{ChainError, Gsi, Identity};
use crate::metrics::{Endpoint, LoginMethod};
use crate::storage::{DataRoot, VPath};

/// What a request wants to do to a path (the WLCG storage scopes' activities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// GET, HEAD, PROPFIND.
    Read,
    /// New files and collections (PUT of a new name, MKCOL, MOVE to a new name).
    Create,
    /// Overwrite, delete, rename: a superset of Create.
    Modify,
}

impl Activity {
    /// Whether a right for `self` allows `wanted`.
    fn covers(self, wanted: Activity) -> bool {
        self == wanted || (self == Activity::Modify && wanted == Activity::Create)
    }
}

/// What a bearer credential (WLCG JWT or macaroon) grants: who, and which activities
/// below which path prefixes (paths as the client sees them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub identity: String,
    pub rights: Vec<(Activity, VPath)>,
}

/// The one function a bearer credential goes through: `Authorization: Bearer <x>` →
/// (macaroon, then JWT) → a grant. Tokens and macaroons are not part of this build yet
/// (they arrive as sans-I/O modules in `auth::token` / `auth::macaroon`), so every bearer
/// credential is answered with 401 and a message saying so.
pub fn bearer_grant(_credential: &str) -> Result<Grant, DavError> {
    Err(DavError::BearerUnsupported)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rights {
    /// An account: read everything under its root, write when `write`.
    Account { write: bool },
    /// A bearer grant: exactly these (activity, prefix) pairs.
    Scoped(Vec<(Activity, VPath)>),
}

/// An authenticated (or anonymous) request's identity, root and rights.
#[derive(Debug, Clone)]
pub struct Access {
    pub user: String,
    pub dn: Option<String>,
    pub method: LoginMethod,
    pub root: DataRoot,
    pub rights: Rights,
    /// No credential was presented (anonymous access).
    pub anonymous: bool,
}

impl Access {
    /// Checks that `act` on `path` is allowed: 401 for an anonymous request that needs
    /// more (the client may retry with a credential), 403 for an identity that lacks it.
    pub fn require(&self, act: Activity, path: &VPath) -> Result<(), DavError> {
        let allowed = match &self.rights {
            Rights::Account { write } => act == Activity::Read || *write,
            // SECURITY: component-wise prefixes (`/foo` does not cover `/foobar`).
            Rights::Scoped(list) => list
                .iter()
                .any(|(a, prefix)| a.covers(act) && path.starts_with(prefix)),
        };
        match (allowed, self.anonymous) {
            (true, _) => Ok(()),
            (false, true) => Err(DavError::Unauthenticated(
                "this operation needs credentials",
            )),
            (false, false) => Err(DavError::Forbidden("the identity lacks this right")),
        }
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
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return self.basic(rest.trim()).await;
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            let grant = bearer_grant(rest.trim())?;
            return Ok(Access {
                user: grant.identity,
                dn: None,
                method: LoginMethod::Bearer,
                root: self.root.clone(),
                rights: Rights::Scoped(grant.rights),
                anonymous: false,
            });
        }
        Err(DavError::Unauthenticated(
            "unsupported authorization scheme",
        ))
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
                    .logged_in(Endpoint::Webdav, LoginMethod::Password);
                let method = if p.anonymous {
                    LoginMethod::Anonymous
                } else {
                    LoginMethod::Password
                };
                self.account(p, None, method).await
            }
            Err(e) => {
                warn!(user, error = %e, "webdav: Basic authentication failed");
                self.metrics.login_failed(Endpoint::Webdav);
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
        let table = gsi.gridmap.table();
        let Some(account) = table.accounts(&identity.dn).first().cloned() else {
            warn!(dn = %identity.dn, "webdav: no grid-mapfile mapping");
            self.metrics.login_failed(Endpoint::Webdav);
            return Err(DavError::Forbidden("no grid-mapfile mapping for this DN"));
        };
        let (root, can_write) = self.users.account(&account);
        // SECURITY: a limited proxy reads but does not write unless the site allows it.
        let can_write = can_write && (!identity.limited || gsi.limited_proxy_write);
        let p = Principal {
            name: account,
            root,
            can_write,
            anonymous: false,
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

    /// The account's confined root (created if missing, as for FTP logins).
    async fn account(
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
        Ok(Access {
            user: p.name,
            dn,
            method,
            root,
            rights: Rights::Account { write: p.can_write },
            anonymous: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(rights: Rights, anonymous: bool) -> Access {
        let dir = tempfile::tempdir().unwrap();
        Access {
            user: "u".into(),
            dn: None,
            method: LoginMethod::Password,
            root: DataRoot::open(dir.path()).unwrap(),
            rights,
            anonymous,
        }
    }

    fn p(s: &str) -> VPath {
        VPath::root().resolve(s).unwrap()
    }

    #[test]
    fn account_rights() {
        let ro = access(Rights::Account { write: false }, false);
        assert!(ro.require(Activity::Read, &p("/x")).is_ok());
        assert!(matches!(
            ro.require(Activity::Create, &p("/x")),
            Err(DavError::Forbidden(_))
        ));
        let anon = access(Rights::Account { write: false }, true);
        assert!(matches!(
            anon.require(Activity::Modify, &p("/x")),
            Err(DavError::Unauthenticated(_))
        ));
        let rw = access(Rights::Account { write: true }, false);
        assert!(rw.require(Activity::Modify, &p("/x")).is_ok());
    }

    #[test]
    fn scoped_rights_match_whole_components() {
        let a = access(
            Rights::Scoped(vec![
                (Activity::Read, p("/foo")),
                (Activity::Create, p("/up")),
                (Activity::Modify, p("/mine")),
            ]),
            false,
        );
        assert!(a.require(Activity::Read, &p("/foo")).is_ok());
        assert!(a.require(Activity::Read, &p("/foo/bar")).is_ok());
        assert!(a.require(Activity::Read, &p("/foobar")).is_err());
        assert!(a.require(Activity::Create, &p("/foo/x")).is_err());
        assert!(a.require(Activity::Create, &p("/up/new")).is_ok());
        assert!(a.require(Activity::Modify, &p("/up/new")).is_err());
        assert!(a.require(Activity::Create, &p("/mine/x")).is_ok());
        assert!(a.require(Activity::Modify, &p("/mine/x")).is_ok());
        assert!(a.require(Activity::Read, &p("/mine/x")).is_err());
    }

    #[tokio::test]
    async fn a_failed_basic_login_waits_the_delay() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::config::AuthConfig::default();
        let authn = Authn {
            users: Authenticator::new(&cfg).unwrap(),
            gsi: None,
            root: DataRoot::open(dir.path()).unwrap(),
            failed_login_delay: Duration::from_millis(300),
            verified: Default::default(),
            metrics: crate::metrics::Metrics::new(),
        };
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
        assert!(a.anonymous && a.rights == Rights::Account { write: false });
    }

    #[test]
    fn bearer_is_refused_until_tokens_land() {
        assert!(matches!(
            bearer_grant("abc"),
            Err(DavError::BearerUnsupported)
        ));
    }
}
