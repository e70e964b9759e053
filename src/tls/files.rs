//! Certificates from PEM (RFC 7468): a chain plus a PKCS#8, PKCS#1 or SEC1 key, checked to
//! match. The `files` source is reloaded when the files change: the parent directories
//! are watched (editors and Kubernetes secret mounts replace files by rename or by swapping
//! a `..data` symlink); a broken new pair is rejected and the old one stays.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use tracing::warn;

use super::{CertStore, Material, TlsError};
use crate::watch::{parent_dir, Spec, Watch};

/// Keeps the file watcher alive; dropping it stops reloading.
pub struct CertWatcher {
    _watch: Watch,
}

pub fn read_material(cert: &Path, key: &Path) -> Result<Material, TlsError> {
    let chain_pem = std::fs::read(cert).map_err(|e| TlsError::file(cert, e))?;
    let key_pem = std::fs::read(key).map_err(|e| TlsError::file(key, e))?;
    parse_material(chain_pem, key_pem).map_err(|e| match e {
        TlsError::Config(reason) => TlsError::file(cert, reason),
        other => other,
    })
}

/// Builds the rustls key from PEM and checks that key and leaf certificate match.
pub fn parse_material(chain_pem: Vec<u8>, key_pem: Vec<u8>) -> Result<Material, TlsError> {
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &chain_pem[..])
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Config(format!("bad certificate PEM: {e}")))?;
    if chain.is_empty() {
        return Err(TlsError::Config("no certificate in PEM".into()));
    }
    let key_der: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| TlsError::Config(format!("bad key PEM: {e}")))?
        .ok_or_else(|| TlsError::Config("no private key in PEM".into()))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| TlsError::Config(format!("unusable key: {e}")))?;
    let key = CertifiedKey::new(chain, signing);
    match key.keys_match() {
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch),
        // Ok, or a key type that cannot expose its public key: accept.
        _ => Ok(Material {
            key,
            chain_pem,
            key_pem,
        }),
    }
}

/// Writes `hostcert.pem` (0644) and `hostkey.pem` (0400, as Globus tools require).
pub fn export(dir: &Path, m: &Material) -> Result<(), TlsError> {
    std::fs::create_dir_all(dir).map_err(|e| TlsError::file(dir, e))?;
    write_atomic(&dir.join("hostcert.pem"), &m.chain_pem, 0o644)?;
    write_atomic(&dir.join("hostkey.pem"), &m.key_pem, 0o400)
}

/// Writes via a temp file and rename, creating the file with `mode` (keys never appear
/// world-readable, not even briefly).
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), TlsError> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| TlsError::file(&tmp, e))?;
    f.write_all(data).map_err(|e| TlsError::file(&tmp, e))?;
    f.sync_all().map_err(|e| TlsError::file(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| TlsError::file(path, e))
}

pub fn watch(store: Arc<CertStore>, cert: PathBuf, key: PathBuf) -> Result<CertWatcher, TlsError> {
    let mut dirs = vec![parent_dir(&cert), parent_dir(&key)];
    dirs.dedup();
    let spec = Spec {
        name: "cert-reload",
        dirs,
        // A rename produces several events: one reload.
        settle: Duration::from_millis(300),
        poll: None,
    };
    let watch = crate::watch::spawn(spec, move || reload(&store, &cert, &key))
        .map_err(|e| TlsError::Watch(e.to_string()))?;
    Ok(CertWatcher { _watch: watch })
}

/// Installs the pair on disk when it is new and sound; a broken one keeps the current.
fn reload(store: &CertStore, cert: &Path, key: &Path) {
    match read_material(cert, key) {
        Ok(new) if new.key.cert.first() == store.current().cert.first() => {}
        Ok(new) => store.install(new),
        Err(e) => warn!(error = %e, "new certificate rejected, keeping the current one"),
    }
}
