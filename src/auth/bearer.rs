//! `Authorization: Bearer` credentials of the HTTPS data endpoint (RFC 6750 §2.1): a
//! griddock macaroon ([`macaroon`](super::macaroon)) or a WLCG JWT ([`token`](super::token)).
//! They are told apart by shape: a JWS compact token has exactly two `.`, base64url macaroon
//! text has none. Errors split what HTTP answers differently: [`BearerError::Invalid`] →
//! 401 with `WWW-Authenticate: Bearer`, [`BearerError::Forbidden`] → 403,
//! [`BearerError::Unavailable`] → 503 (the issuer's keys could not be fetched).

use std::sync::Arc;

use time::OffsetDateTime;

use super::macaroon::{MacaroonError, MacaroonGrant, Minter};
use super::rights::{Activity, Grant, Right};
use super::token::{KeySource, TokenError, TokenGrant, TokenValidator};
use crate::config::AuthConfig;

/// A valid bearer credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerGrant {
    Token(TokenGrant),
    Macaroon(MacaroonGrant),
}

impl BearerGrant {
    pub fn allows(&self, activity: Activity, server_path: &str) -> bool {
        match self {
            BearerGrant::Token(t) => t.allows(activity, server_path),
            BearerGrant::Macaroon(m) => m.allows(activity, server_path),
        }
    }

    /// [`BearerError::Forbidden`] unless the credential allows `activity` on `server_path`.
    pub fn require(&self, activity: Activity, server_path: &str) -> Result<(), BearerError> {
        if self.allows(activity, server_path) {
            Ok(())
        } else {
            Err(BearerError::Forbidden(activity))
        }
    }

    /// Who it acts for: `sub@iss` of a token, the minter's identity of a macaroon.
    pub fn identity(&self) -> String {
        match self {
            BearerGrant::Token(t) => format!("{}@{}", t.subject, t.issuer),
            BearerGrant::Macaroon(m) => m.identity.clone(),
        }
    }

    pub fn rights(&self) -> &[Right] {
        match self {
            BearerGrant::Token(t) => &t.rights,
            BearerGrant::Macaroon(m) => &m.rights,
        }
    }

    pub fn expires(&self) -> OffsetDateTime {
        match self {
            BearerGrant::Token(t) => t.expires,
            BearerGrant::Macaroon(m) => m.expires,
        }
    }

    /// The authority this credential passes on when its holder asks for a macaroon.
    pub fn to_grant(&self) -> Grant {
        Grant {
            identity: self.identity(),
            rights: self.rights().to_vec(),
            expires: Some(self.expires()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BearerError {
    /// Not a valid credential (→ 401). The reason names no token text.
    #[error("invalid bearer token: {0}")]
    Invalid(String),
    /// Valid, but does not allow this (→ 403).
    #[error("bearer token does not allow {0} here")]
    Forbidden(Activity),
    /// The issuer's keys could not be fetched (→ 503).
    #[error("cannot check the token now: {0}")]
    Unavailable(String),
}

impl BearerError {
    pub fn http_status(&self) -> u16 {
        match self {
            BearerError::Invalid(_) => 401,
            BearerError::Forbidden(_) => 403,
            BearerError::Unavailable(_) => 503,
        }
    }
}

impl From<TokenError> for BearerError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::KeysUnavailable(why) => BearerError::Unavailable(why),
            other => BearerError::Invalid(other.to_string()),
        }
    }
}

impl From<MacaroonError> for BearerError {
    fn from(e: MacaroonError) -> Self {
        BearerError::Invalid(e.to_string())
    }
}

/// Why the bearer authority could not be set up (at start-up, from the configuration).
#[derive(Debug, thiserror::Error)]
pub enum BearerSetupError {
    #[error(transparent)]
    Keys(#[from] super::token::JwksError),
    #[error(transparent)]
    Macaroon(#[from] MacaroonError),
}

/// Everything needed to check bearer credentials; one per server.
pub struct BearerAuthority {
    pub minter: Minter,
    pub tokens: TokenValidator,
}

impl BearerAuthority {
    /// The minter's key from `state_dir`; token keys from `source` (an
    /// [`HttpsKeySource`](super::token::HttpsKeySource) in the server).
    pub fn new(
        cfg: &AuthConfig,
        state_dir: &std::path::Path,
        location: &str,
        source: Arc<dyn KeySource>,
    ) -> Result<BearerAuthority, MacaroonError> {
        Ok(BearerAuthority {
            minter: Minter::load_or_create(state_dir, cfg.macaroon_max_validity, location)?,
            tokens: TokenValidator::new(&cfg.token_issuers, source),
        })
    }

    /// The server's authority: macaroon key in `state_dir`, token keys fetched over HTTPS
    /// for `[[auth.token_issuers]]`, macaroons located at `public_host`.
    pub fn from_config(cfg: &crate::config::Config) -> Result<BearerAuthority, BearerSetupError> {
        let source = super::token::HttpsKeySource::new(&cfg.auth.token_issuers)?;
        Ok(BearerAuthority::new(
            &cfg.auth,
            &cfg.state_dir,
            &cfg.public_host,
            Arc::new(source),
        )?)
    }

    /// Checks the text after `Bearer ` at the current time.
    pub async fn authorise_bearer(&self, token: &str) -> Result<BearerGrant, BearerError> {
        self.authorise_bearer_at(token, OffsetDateTime::now_utc())
            .await
    }

    /// [`Self::authorise_bearer`] at `now` (tests, fuzzing).
    pub async fn authorise_bearer_at(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<BearerGrant, BearerError> {
        let token = token.trim();
        if token.len() > super::token::MAX_TOKEN_LEN {
            return Err(BearerError::Invalid("token too long".into()));
        }
        if !token.contains('.') {
            return Ok(BearerGrant::Macaroon(self.minter.verify(token, now)?));
        }
        if !self.tokens.has_issuers() {
            return Err(BearerError::Invalid("no token issuers configured".into()));
        }
        let grant = self.tokens.validate(token, now.unix_timestamp()).await?;
        Ok(BearerGrant::Token(grant))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::auth::macaroon::MacaroonActivity;
    use crate::auth::token::tests::{claims, issuer_cfg, rs, Keys, MockSource, NOW};

    fn authority(keys: &Keys, dir: &std::path::Path) -> BearerAuthority {
        let cfg = AuthConfig {
            token_issuers: vec![issuer_cfg()],
            ..AuthConfig::default()
        };
        let source = Arc::new(MockSource {
            set: Mutex::new(keys.set()),
            fetches: AtomicUsize::new(0),
        });
        BearerAuthority::new(&cfg, dir, "griddock.test", source).unwrap()
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(NOW).unwrap()
    }

    #[tokio::test]
    async fn one_entry_point_for_both_kinds() {
        let keys = Keys::new();
        let dir = tempfile::tempdir().unwrap();
        let auth = authority(&keys, dir.path());
        let jwt = keys.sign(&rs("r1"), &claims("storage.read:/data"));
        let g = auth.authorise_bearer_at(&jwt, now()).await.unwrap();
        assert!(matches!(g, BearerGrant::Token(_)));
        assert_eq!(g.identity(), "alice@https://issuer.test");
        g.require(Activity::Read, "/atlas/data/x").unwrap();
        let e = g.require(Activity::Read, "/atlas/other").unwrap_err();
        assert_eq!(e.http_status(), 403);
        // The token holder asks for a macaroon for one file; it works through the same call.
        let mac = auth
            .minter
            .mint(
                &g.to_grant(),
                "/atlas/data/x",
                &[MacaroonActivity::Download],
                Duration::from_secs(60),
                now(),
            )
            .unwrap();
        let m = auth.authorise_bearer_at(&mac, now()).await.unwrap();
        assert!(matches!(m, BearerGrant::Macaroon(_)));
        assert!(m.allows(Activity::Read, "/atlas/data/x"));
        assert!(!m.allows(Activity::Read, "/atlas/data/y"));
        assert_eq!(
            m.require(Activity::Delete, "/atlas/data/x")
                .unwrap_err()
                .http_status(),
            403
        );
    }

    #[tokio::test]
    async fn from_config_creates_the_key_in_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::config::Config {
            state_dir: dir.path().join("state"),
            ..crate::config::Config::default()
        };
        let auth = BearerAuthority::from_config(&cfg).unwrap();
        assert!(cfg.state_dir.join("macaroon.key").is_file());
        let e = auth.authorise_bearer("a.b.c").await.unwrap_err();
        assert_eq!(e.http_status(), 401, "no issuers configured: {e}");
    }

    #[tokio::test]
    async fn invalid_credentials_are_401_and_name_no_token_text() {
        let keys = Keys::new();
        let dir = tempfile::tempdir().unwrap();
        let auth = authority(&keys, dir.path());
        let mut expired = claims("storage.read:/");
        expired["exp"] = serde_json::json!(NOW - 3600);
        let cases = [
            keys.sign(&rs("r1"), &expired),
            keys.sign(
                &serde_json::json!({"alg": "HS256", "kid": "r1"}),
                &claims("storage.read:/"),
            ),
            "bm90LWEtbWFjYXJvb24".to_string(),
            "a.b.c".to_string(),
            String::new(),
            "x".repeat(20_000),
        ];
        for token in cases {
            let e = auth.authorise_bearer_at(&token, now()).await.unwrap_err();
            assert_eq!(e.http_status(), 401, "{e}");
            if token.len() > 8 {
                assert!(!e.to_string().contains(&token[..8]), "{e}");
            }
        }
    }
}
