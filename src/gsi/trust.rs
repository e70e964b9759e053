//! The trust directory (`x509_cert_dir`, IGTF layout as in /etc/grid-security/certificates:
//! `<hash>.0` CA certificates, `<hash>.r0` CRLs), loaded at start and reloaded when the
//! directory changes or every few minutes (fetch-crl rewrites CRLs in place).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tracing::{info, warn};
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::chain::{Anchor, Anchors};
use super::dn::openssl_dn;

const MAX_AGE: Duration = Duration::from_secs(300);

pub struct TrustDir {
    path: PathBuf,
    state: Mutex<Loaded>,
}

struct Loaded {
    anchors: Arc<Anchors>,
    dir_mtime: Option<SystemTime>,
    at: Instant,
}

impl TrustDir {
    pub fn open(path: &Path) -> TrustDir {
        let loaded = load(path);
        TrustDir {
            path: path.to_path_buf(),
            state: Mutex::new(loaded),
        }
    }

    /// The current anchors, reloaded first when the directory changed or they are old.
    pub fn anchors(&self) -> Arc<Anchors> {
        let Ok(mut state) = self.state.lock() else {
            return Arc::new(Anchors::default());
        };
        let mtime = dir_mtime(&self.path);
        if mtime != state.dir_mtime || state.at.elapsed() > MAX_AGE {
            *state = load(&self.path);
        }
        Arc::clone(&state.anchors)
    }
}

fn dir_mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn load(path: &Path) -> Loaded {
    let mut certs = Vec::new();
    let mut crls = Vec::new();
    match std::fs::read_dir(path) {
        Ok(entries) => {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let Some((_, ext)) = name.rsplit_once('.') else {
                    continue;
                };
                let is_digit = |s: &str| s.len() == 1 && s.as_bytes()[0].is_ascii_digit();
                if is_digit(ext) {
                    certs.extend(read_pem_or_der(&e.path(), "CERTIFICATE"));
                } else if ext.len() == 2 && ext.starts_with('r') && is_digit(&ext[1..]) {
                    crls.extend(read_pem_or_der(&e.path(), "X509 CRL"));
                }
            }
        }
        Err(e) => warn!(path = %path.display(), error = %e, "x509_cert_dir unreadable"),
    }
    let anchors = assemble(certs, crls);
    info!(path = %path.display(), cas = anchors.len(), "trust anchors loaded");
    Loaded {
        anchors: Arc::new(anchors),
        dir_mtime: dir_mtime(path),
        at: Instant::now(),
    }
}

/// Pairs each CA with the CRL it issued (by issuer name).
fn assemble(certs: Vec<Vec<u8>>, crls: Vec<Vec<u8>>) -> Anchors {
    let crl_issuer = |der: &[u8]| {
        CertificateRevocationList::from_der(der)
            .ok()
            .map(|(_, c)| openssl_dn(c.issuer()))
    };
    let mut anchors = Anchors::default();
    for cert in certs {
        let subject = x509_parser::certificate::X509Certificate::from_der(&cert)
            .ok()
            .map(|(_, c)| openssl_dn(c.subject()));
        let crl = crls
            .iter()
            .find(|c| subject.is_some() && crl_issuer(c) == subject)
            .cloned();
        anchors.add(Anchor { cert, crl });
    }
    anchors
}

/// Every PEM block labelled `label` in the file, or the file itself when it is DER.
fn read_pem_or_der(path: &Path, label: &str) -> Vec<Vec<u8>> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    if !bytes.starts_with(b"-----") && !bytes.windows(5).any(|w| w == b"-----") {
        return vec![bytes];
    }
    x509_parser::pem::Pem::iter_from_buffer(&bytes)
        .filter_map(Result::ok)
        .filter(|p| p.label == label)
        .map(|p| p.contents)
        .collect()
}
