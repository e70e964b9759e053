//! Issuer keys for the WLCG Common JWT Profile §"Token Verification": OpenID Connect
//! Discovery 1.0 §4 (`<issuer>/.well-known/openid-configuration` → `jwks_uri`) and the
//! RFC 7517 JWK Set behind it, over HTTPS only (hyper + rustls, the system roots plus an
//! optional per-issuer `ca_file`). The fetch is behind [`KeySource`] so the validator is
//! tested without a network; [`KeyCache`] keeps each issuer's keys for an hour and refetches
//! early (at most once a minute) when a token names a `kid` it does not know.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde::Deserialize;

use crate::config::TokenIssuerConfig;

/// How long fetched keys are used without asking again, in seconds (the profile asks for
/// at least an hour).
pub const KEY_CACHE_TTL: i64 = 3600;
/// Minimum seconds between two fetches for one issuer (unknown `kid`s, failures).
pub const REFETCH_INTERVAL: i64 = 60;
const MAX_DOCUMENT: usize = 1 << 20;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("{url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("{0}")]
    Setup(String),
}

pub type KeysFuture<'a> = Pin<Box<dyn Future<Output = Result<JwkSet, JwksError>> + Send + 'a>>;

/// Where an issuer's current JWK Set comes from.
pub trait KeySource: Send + Sync {
    fn fetch<'a>(&'a self, issuer: &'a str) -> KeysFuture<'a>;
}

struct Entry {
    keys: Arc<JwkSet>,
    fetched: Option<i64>,
    last_attempt: Option<i64>,
}

/// Per-issuer key cache in front of a [`KeySource`].
pub struct KeyCache {
    source: Arc<dyn KeySource>,
    entries: Mutex<HashMap<String, Entry>>,
    /// One fetch at a time per issuer; concurrent requests wait for it and use its keys.
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeyCache {
    pub fn new(source: Arc<dyn KeySource>) -> KeyCache {
        KeyCache {
            source,
            entries: Mutex::new(HashMap::new()),
            fetching: Mutex::new(HashMap::new()),
        }
    }

    /// The key `kid` of `issuer` at `now` (Unix seconds): from the cache when fresh and
    /// present, else after one (rate-limited) fetch. `Ok(None)`: the issuer has no such key.
    pub async fn key(&self, issuer: &str, kid: &str, now: i64) -> Result<Option<Jwk>, JwksError> {
        if let (Some(jwk), FetchPolicy { stale: false, .. }) = self.lookup(issuer, kid, now) {
            return Ok(Some(jwk));
        }
        let gate = self.gate(issuer);
        let _one_fetch = gate.lock().await;
        // Another request may have fetched while this one waited.
        let (cached, may_fetch) = self.lookup(issuer, kid, now);
        if let Some(jwk) = cached.as_ref().filter(|_| !may_fetch.stale) {
            return Ok(Some(jwk.clone()));
        }
        if !may_fetch.allowed {
            return Ok(cached);
        }
        self.note_attempt(issuer, now);
        match self.source.fetch(issuer).await {
            Ok(set) => {
                let found = set.find(kid).cloned();
                self.store(issuer, set, now);
                Ok(found)
            }
            Err(e) => {
                tracing::warn!(issuer, error = %e, "cannot fetch token issuer keys");
                match self.lookup(issuer, kid, now).0 {
                    Some(stale) => Ok(Some(stale)),
                    None => Err(e),
                }
            }
        }
    }

    fn gate(&self, issuer: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(gates.entry(issuer.to_string()).or_default())
    }

    fn lookup(&self, issuer: &str, kid: &str, now: i64) -> (Option<Jwk>, FetchPolicy) {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let Some(e) = entries.get(issuer) else {
            return (
                None,
                FetchPolicy {
                    stale: true,
                    allowed: true,
                },
            );
        };
        let stale = e
            .fetched
            .is_none_or(|t| now - t >= KEY_CACHE_TTL || now < t);
        let allowed = e
            .last_attempt
            .is_none_or(|t| now - t >= REFETCH_INTERVAL || now < t);
        (e.keys.find(kid).cloned(), FetchPolicy { stale, allowed })
    }

    fn note_attempt(&self, issuer: &str, now: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .entry(issuer.to_string())
            .or_insert_with(|| Entry {
                keys: Arc::new(JwkSet { keys: Vec::new() }),
                fetched: None,
                last_attempt: None,
            })
            .last_attempt = Some(now);
    }

    fn store(&self, issuer: &str, set: JwkSet, now: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert(
            issuer.to_string(),
            Entry {
                keys: Arc::new(set),
                fetched: Some(now),
                last_attempt: Some(now),
            },
        );
    }
}

struct FetchPolicy {
    stale: bool,
    allowed: bool,
}

/// A JWK Set document with the keys griddock cannot use dropped (an issuer may publish
/// encryption or unusual keys beside its signing keys).
pub fn parse_jwks(body: &[u8]) -> Result<JwkSet, String> {
    #[derive(Deserialize)]
    struct Raw {
        keys: Vec<serde_json::Value>,
    }
    let raw: Raw = serde_json::from_slice(body).map_err(|e| format!("not a JWK Set: {e}"))?;
    let keys = raw
        .keys
        .into_iter()
        .filter_map(|k| serde_json::from_value::<Jwk>(k).ok())
        .collect();
    Ok(JwkSet { keys })
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// The discovery document must be the issuer's own and point at keys over HTTPS.
fn check_discovery(meta: &Discovery, issuer: &str) -> Result<(), &'static str> {
    // SECURITY: the metadata must name the issuer we asked (OpenID Discovery §4.3).
    if meta.issuer != issuer {
        return Err("metadata names another issuer");
    }
    // SECURITY: keys come over HTTPS only.
    if !meta.jwks_uri.starts_with("https://") {
        return Err("jwks_uri is not https");
    }
    Ok(())
}

type HttpsClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Fetches keys over HTTPS, one client per configured issuer (each may add its `ca_file`).
pub struct HttpsKeySource {
    clients: HashMap<String, HttpsClient>,
}

impl HttpsKeySource {
    pub fn new(issuers: &[TokenIssuerConfig]) -> Result<HttpsKeySource, JwksError> {
        let mut clients = HashMap::new();
        for i in issuers {
            clients.insert(i.issuer.clone(), client(i.ca_file.as_deref())?);
        }
        Ok(HttpsKeySource { clients })
    }

    async fn fetch_keys(&self, issuer: &str) -> Result<JwkSet, JwksError> {
        let client = self.clients.get(issuer).ok_or_else(|| JwksError::Fetch {
            url: issuer.to_string(),
            reason: "not a configured issuer".into(),
        })?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let body = get(client, &url).await?;
        let meta: Discovery = serde_json::from_slice(&body).map_err(|e| JwksError::Fetch {
            url: url.clone(),
            reason: format!("bad discovery document: {e}"),
        })?;
        check_discovery(&meta, issuer).map_err(|reason| JwksError::Fetch {
            url,
            reason: reason.into(),
        })?;
        let body = get(client, &meta.jwks_uri).await?;
        parse_jwks(&body).map_err(|reason| JwksError::Fetch {
            url: meta.jwks_uri,
            reason,
        })
    }
}

impl KeySource for HttpsKeySource {
    fn fetch<'a>(&'a self, issuer: &'a str) -> KeysFuture<'a> {
        Box::pin(self.fetch_keys(issuer))
    }
}

fn client(ca_file: Option<&std::path::Path>) -> Result<HttpsClient, JwksError> {
    let roots = crate::tls::roots::client_roots(ca_file).map_err(JwksError::Setup)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| JwksError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

async fn get(client: &HttpsClient, url: &str) -> Result<Vec<u8>, JwksError> {
    let err = |reason: String| JwksError::Fetch {
        url: url.to_string(),
        reason,
    };
    let uri: hyper::Uri = url.parse().map_err(|e| err(format!("bad URL: {e}")))?;
    let fetch = async {
        let resp = client.get(uri).await.map_err(|e| err(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(err(format!("HTTP {}", resp.status())));
        }
        let body = Limited::new(resp.into_body(), MAX_DOCUMENT)
            .collect()
            .await
            .map_err(|e| err(e.to_string()))?;
        Ok(body.to_bytes().to_vec())
    };
    tokio::time::timeout(FETCH_TIMEOUT, fetch)
        .await
        .map_err(|_| err("timed out".into()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_must_name_the_issuer_and_https_keys() {
        let meta = |issuer: &str, jwks_uri: &str| Discovery {
            issuer: issuer.into(),
            jwks_uri: jwks_uri.into(),
        };
        let iss = "https://iam.test";
        assert!(check_discovery(&meta(iss, "https://iam.test/jwks"), iss).is_ok());
        assert!(check_discovery(&meta("https://evil.test", "https://iam.test/jwks"), iss).is_err());
        assert!(check_discovery(&meta("https://iam.test/", "https://iam.test/jwks"), iss).is_err());
        assert!(check_discovery(&meta(iss, "http://iam.test/jwks"), iss).is_err());
        assert!(check_discovery(&meta(iss, "file:///etc/keys"), iss).is_err());
    }

    #[test]
    fn jwks_with_unusable_keys_keeps_the_rest() {
        let text = br#"{"keys": [42, {"kty": "EC", "crv": "P-256", "kid": "a",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
        let set = parse_jwks(text).unwrap();
        assert_eq!(set.keys.len(), 1);
        assert!(set.find("a").is_some());
        assert!(parse_jwks(b"[]").is_err());
    }
}
