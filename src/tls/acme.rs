//! Certificates from an ACME server (RFC 8555) with instant-acme: account and certificate
//! persisted in state_dir (a restart neither creates an account nor orders again while
//! the certificate is valid), http-01 (RFC 8555 §8.3) answered by the HTTP listener,
//! tls-alpn-01 (RFC 8737) by the HTTPS listener through the store's resolver, renewal
//! from ACME Renewal Info (RFC 9773) when offered or else once 2/3 of the lifetime passed,
//! and on failure: keep serving the last good (or self-signed) certificate, retry with
//! exponential backoff and jitter, report degraded on /readyz.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, CertificateIdentifier, ChallengeType,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use rand::Rng;
use rcgen::{CertificateParams, CustomExtension, DistinguishedName, KeyPair};
use rustls::pki_types::Der;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::files::{parse_material, write_atomic};
use super::x509::{rfc3339, CertInfo};
use super::{CertStore, Material};
use crate::config::{AcmeChallenge, Config};
use crate::metrics::Metrics;
use crate::readiness::Readiness;

/// Longest wait between retries or renewal checks.
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// Issuances re-run at once when the server kept rejecting nonces (RFC 8555 §6.5: a
/// badNonce is retried with a fresh nonce; instant-acme already retries each request twice).
const BAD_NONCE_RERUNS: u32 = 8;

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("ACME: {0}")]
    Protocol(#[from] instant_acme::Error),
    #[error("ACME order {0}")]
    Order(String),
    #[error("ACME state in {path}: {reason}")]
    State { path: String, reason: String },
    #[error("certificate request: {0}")]
    Csr(#[from] rcgen::Error),
    #[error(transparent)]
    Tls(#[from] super::TlsError),
}

impl AcmeError {
    fn is_bad_nonce(&self) -> bool {
        matches!(self, AcmeError::Protocol(instant_acme::Error::Api(p))
            if p.r#type.as_deref() == Some("urn:ietf:params:acme:error:badNonce"))
    }
}

/// Where the account and certificate for this directory URL live.
pub fn state_path(cfg: &Config) -> PathBuf {
    let digest = Sha256::digest(cfg.acme.directory_url().as_bytes());
    let id: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    cfg.state_dir.join("acme").join(id)
}

/// The stored certificate, if it is still valid and covers the configured names.
pub fn stored_material(cfg: &Config) -> Option<Material> {
    let dir = state_path(cfg);
    let m = super::read_material(&dir.join("cert.pem"), &dir.join("key.pem")).ok()?;
    let info = CertInfo::from_der(m.key.cert.first()?.as_ref())?;
    (info.not_after > SystemTime::now() && info.covers(&cfg.acme_domains())).then_some(m)
}

pub struct AcmeManager {
    cfg: Config,
    store: Arc<CertStore>,
    readiness: Readiness,
    metrics: Arc<Metrics>,
    account: Option<Account>,
}

impl AcmeManager {
    pub fn new(
        cfg: Config,
        store: Arc<CertStore>,
        readiness: Readiness,
        metrics: Arc<Metrics>,
    ) -> Self {
        readiness.register("tls");
        readiness.set("tls", true);
        Self {
            cfg,
            store,
            readiness,
            metrics,
            account: None,
        }
    }

    /// Issues and renews until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut delay = self.cfg.acme.retry_min;
        loop {
            let wait = match self.next_renewal().await {
                Some(due) => due.duration_since(SystemTime::now()).unwrap_or_default(),
                None => Duration::ZERO,
            };
            if !wait.is_zero() {
                debug!(renew_in = ?wait, "certificate current; waiting to renew");
                self.readiness.set_degraded("tls", None);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait.min(MAX_WAIT)) => continue,
                }
            }
            match self.issue_retrying_bad_nonces().await {
                Ok(()) => delay = self.cfg.acme.retry_min,
                Err(e) => {
                    self.metrics.acme_failed();
                    let serving = self.store.info().map_or_else(|| "?".into(), |i| i.issuer);
                    warn!(error = %e, retry_in = ?delay, "certificate issuance failed");
                    let note =
                        format!("ACME failing ({e}); serving the certificate issued by {serving}");
                    self.readiness.set_degraded("tls", Some(note));
                    let jittered = delay.mul_f64(rand::thread_rng().gen_range(0.8..1.2));
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(jittered) => {}
                    }
                    delay = (delay * 2).min(MAX_WAIT);
                }
            }
        }
    }

    /// When the installed ACME certificate should be renewed; `None` = issue now.
    async fn next_renewal(&mut self) -> Option<SystemTime> {
        let stored = stored_material(&self.cfg)?;
        let info = CertInfo::from_der(stored.key.cert.first()?.as_ref())?;
        if self.store.serial_hex() != info.serial_hex {
            self.store.install(stored);
        }
        let rule = info.renewal_due(self.cfg.acme.renew_before);
        if self.cfg.acme.renew_before.is_some() {
            return Some(rule);
        }
        Some(self.renewal_info(&info).await.unwrap_or(rule))
    }

    /// A random time inside the server's suggested renewal window (RFC 9773 §4.2), when
    /// the server offers ACME Renewal Info.
    async fn renewal_info(&mut self, info: &CertInfo) -> Option<SystemTime> {
        let aki = info.aki.as_ref()?;
        let account = self.account().await.ok()?;
        let id = CertificateIdentifier::new(
            Der::from(aki.as_slice()),
            Der::from(info.serial_der.as_slice()),
        );
        let (ri, _) = account.renewal_info(&id).await.ok()?;
        let (start, end) = (ri.suggested_window.start, ri.suggested_window.end);
        let span = (end - start).whole_seconds().max(0) as u64;
        let offset = rand::thread_rng().gen_range(0..=span);
        Some(SystemTime::from(start) + Duration::from_secs(offset))
    }

    async fn account(&mut self) -> Result<&Account, AcmeError> {
        if self.account.is_none() {
            self.account = Some(self.load_or_create_account().await?);
        }
        self.account
            .as_ref()
            .ok_or_else(|| AcmeError::Order("no account".into()))
    }

    async fn load_or_create_account(&self) -> Result<Account, AcmeError> {
        let path = state_path(&self.cfg).join("account.json");
        let builder = match &self.cfg.acme.ca_file {
            Some(ca) => Account::builder_with_root(ca)?,
            None => Account::builder()?,
        };
        if let Ok(text) = std::fs::read_to_string(&path) {
            let creds: AccountCredentials =
                serde_json::from_str(&text).map_err(|e| state_err(&path, e))?;
            info!(path = %path.display(), "using the stored ACME account");
            return Ok(builder.from_credentials(creds).await?);
        }
        let contact: Vec<String> = self
            .cfg
            .acme
            .email
            .iter()
            .map(|e| format!("mailto:{e}"))
            .collect();
        let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
        let new = NewAccount {
            contact: &contact,
            terms_of_service_agreed: true,
            only_return_existing: false,
        };
        let (account, creds) = builder
            .create(&new, self.cfg.acme.directory_url().to_string(), None)
            .await?;
        let json = serde_json::to_vec_pretty(&creds).map_err(|e| state_err(&path, e))?;
        std::fs::create_dir_all(state_path(&self.cfg)).map_err(|e| state_err(&path, e))?;
        write_atomic(&path, &json, 0o600)?;
        info!(account = account.id(), "created an ACME account");
        Ok(account)
    }

    async fn issue_retrying_bad_nonces(&mut self) -> Result<(), AcmeError> {
        let mut reruns = 0;
        loop {
            match self.issue().await {
                Err(e) if e.is_bad_nonce() && reruns < BAD_NONCE_RERUNS => {
                    reruns += 1;
                    info!(
                        reruns,
                        "ACME server rejected nonces repeatedly; re-running the issuance"
                    );
                }
                other => return other,
            }
        }
    }

    /// One complete issuance: order, challenges, finalize, persist, install.
    async fn issue(&mut self) -> Result<(), AcmeError> {
        let domains = self.cfg.acme_domains();
        let challenge = self.cfg.acme.challenge;
        let store = Arc::clone(&self.store);
        let ids: Vec<Identifier> = domains.iter().cloned().map(Identifier::Dns).collect();
        info!(
            ?domains,
            directory = self.cfg.acme.directory_url(),
            "ordering a certificate"
        );
        let account = self.account().await?;
        let mut order = account.new_order(&NewOrder::new(&ids)).await?;
        let published = publish_challenges(&mut order, &store, challenge).await;
        let ready = match published {
            Ok(()) => order.poll_ready(&RetryPolicy::default()).await,
            Err(e) => Err(e),
        };
        withdraw_challenges(&store, &domains);
        let status = ready?;
        if status != OrderStatus::Ready {
            return Err(AcmeError::Order(format!("not ready: {status:?}")));
        }
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(domains.clone())?;
        params.distinguished_name = DistinguishedName::new();
        let csr = params.serialize_request(&key)?;
        order.finalize_csr(csr.der()).await?;
        let chain = order.poll_certificate(&RetryPolicy::default()).await?;
        let material = parse_material(chain.into_bytes(), key.serialize_pem().into_bytes())?;
        self.persist(&material)?;
        if let Some(i) = material
            .key
            .cert
            .first()
            .and_then(|c| CertInfo::from_der(c.as_ref()))
        {
            info!(serial = %i.serial_hex, not_after = %rfc3339(i.not_after), "certificate issued");
        }
        self.store.install(material);
        self.readiness.set_degraded("tls", None);
        Ok(())
    }

    fn persist(&self, m: &Material) -> Result<(), AcmeError> {
        let dir = state_path(&self.cfg);
        std::fs::create_dir_all(&dir).map_err(|e| state_err(&dir, e))?;
        write_atomic(&dir.join("key.pem"), &m.key_pem, 0o600)?;
        write_atomic(&dir.join("cert.pem"), &m.chain_pem, 0o644)?;
        Ok(())
    }
}

/// Answers every pending authorization with the configured challenge type.
async fn publish_challenges(
    order: &mut instant_acme::Order,
    store: &CertStore,
    kind: AcmeChallenge,
) -> Result<(), instant_acme::Error> {
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz?;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => return Err(instant_acme::Error::Str(status_text(other))),
        }
        let domain = match &authz.identifier().identifier {
            Identifier::Dns(d) => d.clone(),
            _ => {
                return Err(instant_acme::Error::Str(
                    "only DNS identifiers are supported",
                ))
            }
        };
        let ctype = match kind {
            AcmeChallenge::Http01 => ChallengeType::Http01,
            AcmeChallenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
        };
        let mut challenge = authz
            .challenge(ctype)
            .ok_or(instant_acme::Error::Str("challenge type not offered"))?;
        let key_auth = challenge.key_authorization();
        match kind {
            AcmeChallenge::Http01 => {
                store.set_http_challenge(&challenge.token, Some(key_auth.as_str().to_string()))
            }
            AcmeChallenge::TlsAlpn01 => {
                let cert =
                    alpn_challenge_cert(&domain, key_auth.digest().as_ref()).map_err(|_| {
                        instant_acme::Error::Str("cannot build the tls-alpn-01 certificate")
                    })?;
                store.set_alpn_challenge(&domain, Some(cert));
            }
        }
        challenge.set_ready().await?;
    }
    Ok(())
}

fn status_text(s: AuthorizationStatus) -> &'static str {
    match s {
        AuthorizationStatus::Invalid => "authorization invalid",
        AuthorizationStatus::Revoked => "authorization revoked",
        AuthorizationStatus::Expired => "authorization expired",
        _ => "authorization in an unexpected state",
    }
}

fn withdraw_challenges(store: &CertStore, domains: &[String]) {
    store.clear_http_challenges();
    for d in domains {
        store.set_alpn_challenge(d, None);
    }
}

/// The self-signed certificate carrying the acmeIdentifier extension (RFC 8737 §3).
fn alpn_challenge_cert(
    domain: &str,
    digest: &[u8],
) -> Result<rustls::sign::CertifiedKey, AcmeError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(vec![domain.to_string()])?;
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest)];
    let cert = params.self_signed(&key)?;
    let m = parse_material(cert.pem().into_bytes(), key.serialize_pem().into_bytes())?;
    Ok(m.key)
}

fn state_err(path: &std::path::Path, e: impl std::fmt::Display) -> AcmeError {
    AcmeError::State {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}
