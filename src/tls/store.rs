//! [`CertStore`]: the current certificate behind `ArcSwap`, served to every handshake
//! through rustls' `ResolvesServerCert` (RFC 8446 §4.4.2). Installing a new one never
//! disturbs established sessions. ACME tls-alpn-01 challenge certificates (RFC 8737 §3) are
//! answered from the same resolver for ClientHellos offering `acme-tls/1`.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tracing::{info, warn};

use super::x509::{rfc3339, CertInfo};
use super::{files, selfsigned, Material, TlsError};
use crate::config::{Config, TlsSource};
use crate::metrics::Metrics;

/// ALPN protocol of the tls-alpn-01 challenge (RFC 8737 §6.2).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

pub struct CertStore {
    current: ArcSwap<CertifiedKey>,
    source: TlsSource,
    alpn: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    http: Mutex<HashMap<String, String>>,
    export_dir: Option<PathBuf>,
    metrics: Arc<Metrics>,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("source", &self.source)
            .finish()
    }
}

impl CertStore {
    /// The store with its first certificate: self-signed, from files, or (ACME) the stored
    /// certificate when still valid, else a self-signed fallback until issuance succeeds.
    pub fn from_config(cfg: &Config, metrics: Arc<Metrics>) -> Result<Arc<CertStore>, TlsError> {
        let tls = &cfg.tls;
        let first = match (tls.source, &tls.cert_file, &tls.key_file) {
            (TlsSource::Files, Some(cert), Some(key)) => files::read_material(cert, key)?,
            (TlsSource::Files, _, _) => {
                return Err(TlsError::Config(
                    "tls.cert_file and tls.key_file are required".into(),
                ))
            }
            (TlsSource::Acme, _, _) => match super::acme::stored_material(cfg) {
                Some(m) => m,
                None => selfsigned::load_or_create(&cfg.state_dir, &cfg.public_host)?,
            },
            (TlsSource::SelfSigned, _, _) => {
                selfsigned::load_or_create(&cfg.state_dir, &cfg.public_host)?
            }
        };
        let store = Arc::new(CertStore {
            current: ArcSwap::from_pointee(first.key.clone()),
            source: tls.source,
            alpn: Mutex::new(HashMap::new()),
            http: Mutex::new(HashMap::new()),
            export_dir: tls.export_dir.clone(),
            metrics,
        });
        store.after_install(&first);
        Ok(store)
    }

    pub fn source(&self) -> TlsSource {
        self.source
    }

    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }

    pub fn info(&self) -> Option<CertInfo> {
        self.current()
            .cert
            .first()
            .and_then(|c| CertInfo::from_der(c.as_ref()))
    }

    /// Atomically replaces the certificate for all new handshakes.
    pub fn install(&self, m: Material) {
        self.current.store(Arc::new(m.key.clone()));
        self.after_install(&m);
    }

    fn after_install(&self, m: &Material) {
        let info = self.info();
        if let Some(i) = &info {
            let expiry = i
                .not_after
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            self.metrics.set_certificate_expiry(expiry as i64);
            info!(serial = %i.serial_hex, subject = %i.subject, not_after = %rfc3339(i.not_after), "certificate installed");
        }
        if let Some(dir) = &self.export_dir {
            if let Err(e) = files::export(dir, m) {
                warn!(error = %e, "cannot export hostcert.pem/hostkey.pem");
            }
        }
    }

    /// Publishes (or with `None` withdraws) a tls-alpn-01 challenge certificate.
    pub fn set_alpn_challenge(&self, domain: &str, cert: Option<CertifiedKey>) {
        if let Ok(mut map) = self.alpn.lock() {
            match cert {
                Some(c) => map.insert(domain.to_ascii_lowercase(), Arc::new(c)),
                None => map.remove(&domain.to_ascii_lowercase()),
            };
        }
    }

    /// Publishes (or withdraws) an http-01 key authorization for `token`.
    pub fn set_http_challenge(&self, token: &str, key_authorization: Option<String>) {
        if let Ok(mut map) = self.http.lock() {
            match key_authorization {
                Some(k) => map.insert(token.to_string(), k),
                None => map.remove(token),
            };
        }
    }

    pub fn clear_http_challenges(&self) {
        if let Ok(mut map) = self.http.lock() {
            map.clear();
        }
    }

    /// The key authorization for `/.well-known/acme-challenge/<token>`.
    pub fn http_challenge(&self, token: &str) -> Option<String> {
        self.http.lock().ok()?.get(token).cloned()
    }

    /// Starts reloading on file changes (files source); `None` for other sources.
    pub fn watch(self: &Arc<Self>, cfg: &Config) -> Result<Option<files::CertWatcher>, TlsError> {
        match (self.source, &cfg.tls.cert_file, &cfg.tls.key_file) {
            (TlsSource::Files, Some(c), Some(k)) => {
                files::watch(Arc::clone(self), c.clone(), k.clone()).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The leaf certificate's serial number in hex, for logs and tests.
    pub fn serial_hex(&self) -> String {
        self.info().map_or_else(|| "?".into(), |i| i.serial_hex)
    }

    fn challenge_for(&self, hello: &ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut alpn = hello.alpn()?;
        if !alpn.any(|p| p == ACME_TLS_ALPN) {
            return None;
        }
        let name = hello.server_name()?.to_ascii_lowercase();
        self.alpn.lock().ok()?.get(&name).cloned()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(challenge) = self.challenge_for(&hello) {
            return Some(challenge);
        }
        Some(self.current())
    }
}

/// rustls server configuration for FTPS/HTTPS: TLS 1.2 and 1.3, certificate from the
/// store, a session cache so data connections can resume the control session.
pub fn server_config(store: Arc<CertStore>) -> Arc<ServerConfig> {
    Arc::new(base_config(store))
}

/// The WebDAV (HTTPS) listener's configuration: also offers `acme-tls/1` for
/// tls-alpn-01, and asks for a client certificate when `client_certs` is given (an
/// optional one: clients without still connect).
pub fn webdav_config(
    store: Arc<CertStore>,
    client_certs: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
) -> Arc<ServerConfig> {
    let mut cfg = config_with(store, client_certs);
    cfg.alpn_protocols = vec![ACME_TLS_ALPN.to_vec(), b"http/1.1".to_vec()];
    Arc::new(cfg)
}

fn base_config(store: Arc<CertStore>) -> ServerConfig {
    config_with(store, None)
}

fn config_with(
    store: Arc<CertStore>,
    client_certs: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
) -> ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("ring supports TLS 1.2 and 1.3");
    let builder = match client_certs {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder.with_cert_resolver(store);
    cfg.session_storage = rustls::server::ServerSessionMemoryCache::new(4096);
    cfg
}
