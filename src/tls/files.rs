//! Certificates from PEM (RFC 7468): a chain plus a PKCS#8, PKCS#1 or SEC1 key, checked to
//! match. The `files` source is reloaded when the files change: the parent directories
//! are watched (editors and Kubernetes secret mounts replace files by rename or by swapping
//! a `..data` symlink); a broken new pair is rejected and the old one stays.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use tracing::warn;

use super::{CertStore, Material, TlsError};

/// Keeps the file watcher alive; dropping it stops reloading.
pub struct CertWatcher {
    _watcher: RecommendedWatcher,
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
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        // inotify reports opens: without this filter our own reads of the files would
        // restart the reload loop every 300 ms, forever.
        if ev.is_ok_and(|ev| !crate::auth::is_read_only_access(&ev.kind)) {
            let _ = tx.send(());
        }
    })
    .map_err(|e| TlsError::Watch(e.to_string()))?;
    for dir in parent_dirs(&cert, &key) {
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|e| TlsError::Watch(e.to_string()))?;
    }
    std::thread::Builder::new()
        .name("cert-reload".into())
        .spawn(move || reload_loop(&store, &cert, &key, &rx))
        .map_err(|e| TlsError::Watch(e.to_string()))?;
    Ok(CertWatcher { _watcher: watcher })
}

fn parent_dirs(cert: &Path, key: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = [cert, key]
        .iter()
        .map(|p| {
            p.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf()
        })
        .collect();
    dirs.dedup();
    dirs
}

/// Debounces bursts of events (a rename produces several), then reloads once.
fn reload_loop(store: &CertStore, cert: &Path, key: &Path, rx: &std::sync::mpsc::Receiver<()>) {
    while rx.recv().is_ok() {
        std::thread::sleep(Duration::from_millis(300));
        while rx.try_recv().is_ok() {}
        match read_material(cert, key) {
            Ok(new) if new.key.cert.first() == store.current().cert.first() => {}
            Ok(new) => store.install(new),
            Err(e) => warn!(error = %e, "new certificate rejected, keeping the current one"),
        }
    }
}
