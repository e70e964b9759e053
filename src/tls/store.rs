//! [`CertStore`]: the current certificate behind `ArcSwap`, served to every handshake
//! through rustls' `ResolvesServerCert`. Swapping never disturbs established sessions.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tracing::info;

use super::{files, selfsigned, TlsError};
use crate::config::{TlsConfig, TlsSource};

pub struct CertStore {
    current: ArcSwap<CertifiedKey>,
    source: TlsConfig,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("source", &self.source.source)
            .finish()
    }
}

impl CertStore {
    pub fn from_config(
        cfg: &TlsConfig,
        state_dir: &Path,
        public_host: &str,
    ) -> Result<Arc<CertStore>, TlsError> {
        let key = match (cfg.source, &cfg.cert_file, &cfg.key_file) {
            (TlsSource::Files, Some(cert), Some(key)) => load_key(cert, key)?,
            (TlsSource::Files, _, _) => {
                return Err(TlsError::file(
                    Path::new("tls"),
                    "cert_file and key_file required",
                ))
            }
            (TlsSource::SelfSigned, _, _) => selfsigned::load_or_create(state_dir, public_host)?,
        };
        let store = Arc::new(CertStore {
            current: ArcSwap::from_pointee(key),
            source: cfg.clone(),
        });
        info!(source = ?cfg.source, serial = %store.serial_hex(), "certificate loaded");
        Ok(store)
    }

    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }

    pub fn swap(&self, new: CertifiedKey) {
        self.current.store(Arc::new(new));
        info!(serial = %self.serial_hex(), "certificate swapped");
    }

    /// Starts reloading on file changes (files source); `None` for other sources.
    pub fn watch(self: &Arc<Self>) -> Result<Option<files::CertWatcher>, TlsError> {
        match (
            self.source.source,
            &self.source.cert_file,
            &self.source.key_file,
        ) {
            (TlsSource::Files, Some(c), Some(k)) => {
                files::watch(Arc::clone(self), c.clone(), k.clone()).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The leaf certificate's serial number in hex, for logs.
    pub fn serial_hex(&self) -> String {
        let cur = self.current();
        cur.cert
            .first()
            .and_then(|c| x509_serial(c.as_ref()))
            .unwrap_or_else(|| "?".into())
    }
}

fn load_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    files::load_certified_key(cert, key)
}

/// Extracts the serial from a DER certificate without a full X.509 parser: the serial
/// is the first INTEGER of TBSCertificate after the optional [0] version.
fn x509_serial(der: &[u8]) -> Option<String> {
    fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = b.split_first()?;
        let (&l0, rest) = rest.split_first()?;
        let (len, rest) = if l0 < 0x80 {
            (usize::from(l0), rest)
        } else {
            let n = usize::from(l0 & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |a, &x| (a << 8) | usize::from(x));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        Some((tag, &rest[..len], &rest[len..]))
    }
    let (_, cert, _) = tlv(der)?;
    let (_, tbs, _) = tlv(cert)?;
    let (tag, body, rest) = tlv(tbs)?;
    let serial = if tag == 0xa0 { tlv(rest)?.1 } else { body };
    Some(serial.iter().map(|b| format!("{b:02x}")).collect())
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// rustls server configuration for FTPS/HTTPS: TLS 1.2 and 1.3, certificate from the
/// store, a session cache so data connections can resume the control session.
pub fn server_config(store: Arc<CertStore>) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("ring supports TLS 1.2 and 1.3");
    let mut cfg = builder.with_no_client_auth().with_cert_resolver(store);
    cfg.session_storage = rustls::server::ServerSessionMemoryCache::new(4096);
    Arc::new(cfg)
}
