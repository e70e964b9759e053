//! The certificate store shared by every TLS listener (RFC 8446/5246 via rustls): one
//! current certificate behind an atomic swap, from a self-signed certificate kept in
//! state_dir or from PEM files that are reloaded when they change.

mod files;
mod selfsigned;
mod store;

pub use files::{load_certified_key, CertWatcher};
pub use store::{server_config, CertStore};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("certificate generation failed: {0}")]
    Generate(String),
    #[error("key does not match the certificate")]
    KeyMismatch,
    #[error("watching certificate files: {0}")]
    Watch(String),
}

impl TlsError {
    fn file(path: &std::path::Path, reason: impl std::fmt::Display) -> Self {
        TlsError::File {
            path: path.display().to_string(),
            reason: reason.to_string(),
        }
    }
}
