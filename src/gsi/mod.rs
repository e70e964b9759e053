//! GSI (Grid Security Infrastructure) for `gsiftp://`: RFC 2228 AUTH GSSAPI / ADAT with
//! Globus GSI tokens (TLS records), RFC 3820 proxy certificate validation against an IGTF
//! trust directory, the grid-mapfile, and delegation.

pub mod chain;
pub mod context;
pub mod datachan;
pub mod delegation;
pub mod dn;
pub mod gridmap;
pub mod trust;
pub mod verifier;

use std::sync::Arc;

use rustls::ServerConfig;

pub use chain::{ChainError, Identity};
pub use context::{AdatStep, GsiContext};

#[derive(Debug, thiserror::Error)]
pub enum GsiError {
    #[error("TLS: {0}")]
    Tls(rustls::Error),
    #[error("I/O: {0}")]
    Io(std::io::Error),
    #[error("certificate: {0}")]
    Chain(ChainError),
    #[error("malformed or oversized token")]
    BadToken,
    #[error("protocol: {0}")]
    Protocol(&'static str),
}

/// What the GridFTP endpoint needs to run GSI logins.
pub struct Gsi {
    pub config: Arc<ServerConfig>,
    pub verifier: Arc<verifier::ProxyVerifier>,
    pub gridmap: gridmap::GridMap,
    pub limited_proxy_write: bool,
}

impl Gsi {
    /// TLS 1.2 only (TLS 1.3 broke GSI between some Globus clients and servers), no
    /// session resumption, the host certificate from the shared store.
    pub fn new(
        certs: Arc<crate::tls::CertStore>,
        trust: Arc<trust::TrustDir>,
        gridmap: gridmap::GridMap,
        limited_proxy_write: bool,
    ) -> Result<Gsi, rustls::Error> {
        let verifier = Arc::new(verifier::ProxyVerifier::new(trust));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12])?
            .with_client_cert_verifier(verifier.clone())
            .with_cert_resolver(certs);
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        Ok(Gsi {
            config: Arc::new(config),
            verifier,
            gridmap,
            limited_proxy_write,
        })
    }

    pub fn context(&self) -> Result<GsiContext, GsiError> {
        GsiContext::new(Arc::clone(&self.config), Arc::clone(&self.verifier))
    }
}

#[cfg(test)]
mod tests;
