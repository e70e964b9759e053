//! The certificate store shared by every TLS listener (RFC 8446/5246 via rustls): one
//! current certificate behind an atomic swap, from a self-signed certificate kept in
//! state_dir, from PEM files reloaded when they change, or from ACME (RFC 8555).

pub mod acme;
mod files;
pub mod roots;
mod selfsigned;
mod store;
pub mod x509;

use rustls::sign::CertifiedKey;

pub use files::{read_material, CertWatcher};
pub use store::{server_config, webdav_config, CertStore, ACME_TLS_ALPN};

/// A certificate chain and key as installed: the rustls form plus the PEM it came from
/// (for hostcert.pem/hostkey.pem exports).
#[derive(Clone)]
pub struct Material {
    pub key: CertifiedKey,
    pub chain_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

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
    #[error("{0}")]
    Config(String),
}

impl TlsError {
    fn file(path: &std::path::Path, reason: impl std::fmt::Display) -> Self {
        TlsError::File {
            path: path.display().to_string(),
            reason: reason.to_string(),
        }
    }
}

/// The text of `griddock cert status`: source, subject, names, issuer, validity and the
/// next renewal of the certificate this configuration serves (read from disk).
pub fn status_report(cfg: &crate::config::Config) -> String {
    use crate::config::TlsSource;
    let (label, path) = match cfg.tls.source {
        TlsSource::SelfSigned => (
            "self-signed",
            Some(cfg.state_dir.join("tls").join(selfsigned::CERT_NAME)),
        ),
        TlsSource::Files => ("files", cfg.tls.cert_file.clone()),
        TlsSource::Acme => ("acme", Some(acme::state_path(cfg).join("cert.pem"))),
    };
    let mut out = format!("source:       {label}\n");
    if cfg.tls.source == TlsSource::Acme {
        out.push_str(&format!("directory:    {}\n", cfg.acme.directory_url()));
        out.push_str(&format!(
            "domains:      {}\n",
            cfg.acme_domains().join(", ")
        ));
    }
    let info = path
        .as_ref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|pem| {
            let der = rustls_pemfile::certs(&mut &pem[..]).next()?.ok()?;
            x509::CertInfo::from_der(der.as_ref())
        });
    let Some(i) = info else {
        let shown = path.map_or_else(|| "-".into(), |p| p.display().to_string());
        out.push_str(&format!("certificate:  none yet at {shown}"));
        if cfg.tls.source == TlsSource::Acme {
            out.push_str(" (a self-signed fallback is served until issuance succeeds)");
        }
        out.push('\n');
        return out;
    };
    out.push_str(&format!("subject:      {}\n", i.subject));
    out.push_str(&format!("names:        {}\n", i.names.join(", ")));
    out.push_str(&format!("issuer:       {}\n", i.issuer));
    out.push_str(&format!("serial:       {}\n", i.serial_hex));
    out.push_str(&format!("not before:   {}\n", x509::rfc3339(i.not_before)));
    out.push_str(&format!("not after:    {}\n", x509::rfc3339(i.not_after)));
    let renewal = match cfg.tls.source {
        TlsSource::Acme => format!(
            "{} ({})",
            x509::rfc3339(i.renewal_due(cfg.acme.renew_before)),
            if cfg.acme.renew_before.is_some() {
                "renew_before"
            } else {
                "2/3 of the lifetime; ARI is asked at run time"
            }
        ),
        TlsSource::Files => "when the files change (watched)".into(),
        TlsSource::SelfSigned => "regenerated when expired".into(),
    };
    out.push_str(&format!("next renewal: {renewal}\n"));
    out
}
