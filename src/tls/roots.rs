//! Trust anchors for griddock's outbound HTTPS (WLCG token issuers, HTTP third-party
//! copies): the system roots (rustls-native-certs), optionally the IGTF directory
//! (`x509_cert_dir`, `<hash>.0` PEM files as in /etc/grid-security/certificates) and an
//! extra PEM CA file. Server names are verified as RFC 6125 / RFC 9525 require (webpki).

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use tracing::warn;

/// The system roots plus every certificate in `ca_file` (errors name the file).
pub fn client_roots(ca_file: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    if !native.errors.is_empty() {
        warn!(errors = ?native.errors, "some system CA certificates could not be read");
    }
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(roots)
}

/// Adds the CA certificates of an IGTF-style directory (files named `<hash>.<digit>`);
/// unreadable or unparsable files are skipped. Returns how many were added.
pub fn add_cert_dir(roots: &mut RootCertStore, dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut added = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let is_ca = name
            .to_str()
            .and_then(|n| n.rsplit_once('.'))
            .is_some_and(|(_, ext)| ext.len() == 1 && ext.as_bytes()[0].is_ascii_digit());
        if !is_ca {
            continue;
        }
        let Ok(pem) = std::fs::read(e.path()) else {
            continue;
        };
        for cert in rustls_pemfile::certs(&mut pem.as_slice()).flatten() {
            if roots.add(cert).is_ok() {
                added += 1;
            }
        }
    }
    added
}

/// A client configuration (ring, TLS 1.2 and 1.3, no client certificate) over `roots`,
/// offering HTTP/1.1 by ALPN.
pub fn client_config(roots: RootCertStore) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(tls))
}
