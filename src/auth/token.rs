//! Bearer tokens after the WLCG Common JWT Profile v1.0 (JWT, RFC 7519; JWS, RFC 7515):
//! RS256/ES256 signatures by keys from the issuer's JWK Set, `iss` exactly one configured
//! issuer, `aud` one of its audiences or `https://wlcg.cern.ch/jwt/v1/any`, `exp`/`nbf`/`iat`
//! with [`LEEWAY`], and `storage.*` scopes ([`scope`]) as rights on server paths under the
//! issuer's `base_path`. `wlcg.groups` is kept as an identity attribute and grants nothing.
//!
//! Order of checks: header (algorithm, `crit`, `kid`), the unverified `iss` only to pick the
//! issuer's keys, the signature, and only then the claims.

pub mod jwks;
mod jws;
pub mod scope;

use std::sync::Arc;

use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::auth::rights::{any_allows, normalise_grant_path, Activity, Right};
use crate::config::TokenIssuerConfig;
pub use jwks::{HttpsKeySource, JwksError, KeyCache, KeySource};

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY: i64 = 60;
/// The WLCG audience meaning "any relying party".
pub const ANY_AUDIENCE: &str = "https://wlcg.cern.ch/jwt/v1/any";
/// Longest token text looked at (real WLCG tokens are 1–3 KiB).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a token is not a valid credential (→ HTTP 401). Never carries token text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("unsupported algorithm (RS256 and ES256 only)")]
    Algorithm,
    #[error("token has critical header extensions")]
    Critical,
    #[error("token header has no kid")]
    NoKeyId,
    #[error("issuer is not trusted")]
    UnknownIssuer,
    #[error("issuer has no such key")]
    UnknownKey,
    #[error("key does not fit the algorithm")]
    KeyMismatch,
    #[error("bad signature")]
    Signature,
    #[error("missing or malformed claims")]
    Claims,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("token is for another audience")]
    Audience,
    #[error("issuer keys unavailable: {0}")]
    KeysUnavailable(String),
}

/// What a valid token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub issuer: String,
    pub subject: String,
    /// `wlcg.groups`: identity only, never rights.
    pub groups: Vec<String>,
    pub rights: Vec<Right>,
    pub expires: OffsetDateTime,
}

impl TokenGrant {
    /// Whether the token allows `activity` on `server_path` (an absolute URL path).
    pub fn allows(&self, activity: Activity, server_path: &str) -> bool {
        any_allows(&self.rights, activity, server_path)
    }
}

/// Issuer settings after validation, with `base_path` normalised.
#[derive(Debug, Clone)]
struct Issuer {
    issuer: String,
    base_path: String,
    audience: Vec<String>,
}

/// Validates tokens of the configured issuers; keys via a [`KeyCache`].
pub struct TokenValidator {
    issuers: Vec<Issuer>,
    keys: KeyCache,
}

impl TokenValidator {
    pub fn new(issuers: &[TokenIssuerConfig], source: Arc<dyn KeySource>) -> TokenValidator {
        jws::install();
        let issuers = issuers
            .iter()
            .map(|i| Issuer {
                issuer: i.issuer.clone(),
                base_path: normalise_grant_path(&i.base_path).unwrap_or_else(|| "/".into()),
                audience: i.audience.clone(),
            })
            .collect();
        TokenValidator {
            issuers,
            keys: KeyCache::new(source),
        }
    }

    pub fn has_issuers(&self) -> bool {
        !self.issuers.is_empty()
    }

    /// Validates `token` at time `now` (Unix seconds).
    pub async fn validate(&self, token: &str, now: i64) -> Result<TokenGrant, TokenError> {
        let header = check_header(token)?;
        let issuer = self.issuer_of(token)?;
        let kid = header.kid.as_deref().ok_or(TokenError::NoKeyId)?;
        let jwk = self
            .keys
            .key(&issuer.issuer, kid, now)
            .await
            .map_err(|e| TokenError::KeysUnavailable(e.to_string()))?
            .ok_or(TokenError::UnknownKey)?;
        let claims = verify_signature(token, header.alg, &jwk)?;
        check_claims(&claims, issuer, now)?;
        Ok(grant(claims, issuer))
    }

    /// The configured issuer the (not yet verified) `iss` claim names.
    fn issuer_of(&self, token: &str) -> Result<&Issuer, TokenError> {
        #[derive(Deserialize)]
        struct Iss {
            iss: String,
        }
        let payload = token.split('.').nth(1).ok_or(TokenError::Malformed)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let iss: Iss = serde_json::from_slice(&bytes).map_err(|_| TokenError::Claims)?;
        // SECURITY: `iss` must equal a configured issuer exactly (no prefix, no case folding).
        self.issuers
            .iter()
            .find(|i| i.issuer == iss.iss)
            .ok_or(TokenError::UnknownIssuer)
    }
}

fn check_header(token: &str) -> Result<jsonwebtoken::Header, TokenError> {
    if token.len() > MAX_TOKEN_LEN || token.split('.').count() != 3 {
        return Err(TokenError::Malformed);
    }
    // SECURITY: we implement no JWS extension, so any `crit` makes the token invalid
    // (RFC 7515 §4.1.11; this also keeps RFC 7797 unencoded payloads out).
    if raw_header(token)?.get("crit").is_some() {
        return Err(TokenError::Critical);
    }
    // Unknown or "none" algorithms do not even parse as a jsonwebtoken Header.
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Algorithm)?;
    // SECURITY: asymmetric signatures only (the profile forbids HMAC; "none" never parses).
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
        return Err(TokenError::Algorithm);
    }
    Ok(header)
}

/// The JOSE header as a JSON object (before the library interprets it).
fn raw_header(token: &str) -> Result<serde_json::Map<String, serde_json::Value>, TokenError> {
    let first = token.split('.').next().ok_or(TokenError::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(first)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

/// Checks the signature with `jwk` and returns the claims (only now trusted).
fn verify_signature(token: &str, alg: Algorithm, jwk: &Jwk) -> Result<Claims, TokenError> {
    check_key_fits(alg, jwk)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| TokenError::KeyMismatch)?;
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::Json(_) => TokenError::Claims,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => TokenError::KeyMismatch,
            _ => TokenError::Signature,
        })
}

/// The key type, curve, declared `alg` and `use` must all fit the header's algorithm.
fn check_key_fits(alg: Algorithm, jwk: &Jwk) -> Result<(), TokenError> {
    // SECURITY: an RSA key only for RS256, a P-256 key only for ES256 (no alg confusion).
    let fits = match (&jwk.algorithm, alg) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == EllipticCurve::P256,
        _ => false,
    };
    let declared = jwk
        .common
        .key_algorithm
        .is_none_or(|a| a == KeyAlgorithm::from(alg));
    let for_signing = jwk
        .common
        .public_key_use
        .as_ref()
        .is_none_or(|u| *u == PublicKeyUse::Signature);
    if fits && declared && for_signing {
        Ok(())
    } else {
        Err(TokenError::KeyMismatch)
    }
}

/// The claims griddock reads, strictly typed: a claim of the wrong JSON type fails the
/// whole token instead of being skipped.
#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    exp: i64,
    iat: i64,
    #[serde(default)]
    nbf: Option<i64>,
    aud: Audience,
    #[serde(default)]
    scope: Option<String>,
    #[serde(rename = "wlcg.groups", default)]
    groups: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, wanted: &str) -> bool {
        match self {
            Audience::One(a) => a == wanted,
            Audience::Many(v) => v.iter().any(|a| a == wanted),
        }
    }
}

fn check_claims(c: &Claims, issuer: &Issuer, now: i64) -> Result<(), TokenError> {
    if c.iss != issuer.issuer {
        return Err(TokenError::UnknownIssuer);
    }
    // SECURITY: expiry and not-before with a bounded leeway.
    if now >= c.exp.saturating_add(LEEWAY) {
        return Err(TokenError::Expired);
    }
    let nbf = c.nbf.unwrap_or(i64::MIN).max(c.iat);
    if nbf > now.saturating_add(LEEWAY) {
        return Err(TokenError::NotYetValid);
    }
    // SECURITY: the token must be meant for us (or for anyone).
    let ours = issuer
        .audience
        .iter()
        .map(String::as_str)
        .chain([ANY_AUDIENCE])
        .any(|a| c.aud.contains(a));
    if !ours {
        return Err(TokenError::Audience);
    }
    Ok(())
}

fn grant(c: Claims, issuer: &Issuer) -> TokenGrant {
    let rights = scope::parse_scopes(c.scope.as_deref().unwrap_or(""), &issuer.base_path);
    TokenGrant {
        issuer: c.iss,
        subject: c.sub,
        groups: c.groups,
        rights,
        expires: OffsetDateTime::from_unix_timestamp(c.exp).unwrap_or(OffsetDateTime::UNIX_EPOCH),
    }
}

#[cfg(test)]
pub(crate) mod tests;
