//! The zero-config certificate: self-signed (rcgen, ECDSA P-256), generated at first start
//! and kept in `<state_dir>/tls/` so clients can pin or trust it.

use std::fs;
use std::net::IpAddr;
use std::path::Path;

use rcgen::{CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, SanType};
use tracing::{info, warn};

use super::{files, Material, TlsError};

pub const CERT_NAME: &str = "selfsigned.crt";
pub const KEY_NAME: &str = "selfsigned.key";

pub fn load_or_create(state_dir: &Path, public_host: &str) -> Result<Material, TlsError> {
    let dir = state_dir.join("tls");
    let (cert, key) = (dir.join(CERT_NAME), dir.join(KEY_NAME));
    if cert.exists() && key.exists() {
        match files::read_material(&cert, &key) {
            Ok(m) if still_valid(&m) => return Ok(m),
            Ok(_) => warn!("stored self-signed certificate expired, generating a new one"),
            Err(e) => {
                warn!(error = %e, "stored self-signed certificate unusable, generating a new one")
            }
        }
    }
    let (cert_pem, key_pem) = generate(public_host)?;
    fs::create_dir_all(&dir).map_err(|e| TlsError::file(&dir, e))?;
    files::write_atomic(&key, key_pem.as_bytes(), 0o600)?;
    files::write_atomic(&cert, cert_pem.as_bytes(), 0o644)?;
    info!(path = %cert.display(), "generated a self-signed certificate");
    files::read_material(&cert, &key)
}

fn still_valid(m: &Material) -> bool {
    m.key
        .cert
        .first()
        .and_then(|c| super::x509::CertInfo::from_der(c.as_ref()))
        .is_some_and(|i| i.not_after > std::time::SystemTime::now())
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
