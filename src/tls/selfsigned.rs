//! The zero-config certificate: self-signed (rcgen, ECDSA P-256), generated at first start
//! and kept in `<state_dir>/tls/` so clients can pin or trust it.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rcgen::{CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, SanType};
use rustls::sign::CertifiedKey;
use tracing::{info, warn};

use super::{files, TlsError};

pub const CERT_NAME: &str = "selfsigned.crt";
pub const KEY_NAME: &str = "selfsigned.key";

pub fn load_or_create(state_dir: &Path, public_host: &str) -> Result<CertifiedKey, TlsError> {
    let dir = state_dir.join("tls");
    let (cert, key) = (dir.join(CERT_NAME), dir.join(KEY_NAME));
    if cert.exists() && key.exists() {
        match files::load_certified_key(&cert, &key) {
            Ok(k) => return Ok(k),
            Err(e) => {
                warn!(error = %e, "stored self-signed certificate unusable, generating a new one")
            }
        }
    }
    let (cert_pem, key_pem) = generate(public_host)?;
    fs::create_dir_all(&dir).map_err(|e| TlsError::file(&dir, e))?;
    write_file(&key, key_pem.as_bytes(), 0o600)?;
    write_file(&cert, cert_pem.as_bytes(), 0o644)?;
    info!(path = %cert.display(), "generated a self-signed certificate");
    files::load_certified_key(&cert, &key)
}

fn generate(public_host: &str) -> Result<(String, String), TlsError> {
    let gen = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let mut names = vec![
        public_host.to_string(),
        "localhost".into(),
        "127.0.0.1".into(),
        "::1".into(),
    ];
    names.dedup();
    let mut params = CertificateParams::default();
    params.subject_alt_names = names.iter().filter_map(|n| san(n)).collect();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, public_host);
    dn.push(DnType::OrganizationName, "griddock self-signed");
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(gen)?;
    let cert = params.self_signed(&key).map_err(gen)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn san(name: &str) -> Option<SanType> {
    match name.parse::<IpAddr>() {
        Ok(ip) => Some(SanType::IpAddress(ip)),
        Err(_) => name.to_string().try_into().ok().map(SanType::DnsName),
    }
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), TlsError> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| TlsError::file(&tmp, e))?;
    f.write_all(data).map_err(|e| TlsError::file(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| TlsError::file(path, e))
}
