//! Certificates from PEM files (chain + PKCS#8/PKCS#1/SEC1 key), reloaded when they change.
//! The parent directories are watched (editors and Kubernetes secret mounts replace files
//! by rename or by swapping a `..data` symlink); a broken new pair keeps the old one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use tracing::warn;

use super::{CertStore, TlsError};

/// Keeps the file watcher alive; dropping it stops reloading.
pub struct CertWatcher {
    _watcher: RecommendedWatcher,
}

pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = read_chain(cert)?;
    let key_der = read_key(key)?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| TlsError::file(key, e))?;
    let ck = CertifiedKey::new(chain, signing);
    match ck.keys_match() {
        Ok(()) => Ok(ck),
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch),
        // Unknown: the key type cannot expose its public key; accept.
        Err(_) => Ok(ck),
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let data = std::fs::read(path).map_err(|e| TlsError::file(path, e))?;
    let chain: Vec<_> = rustls_pemfile::certs(&mut &data[..])
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::file(path, e))?;
    if chain.is_empty() {
        return Err(TlsError::file(path, "no certificate in PEM file"));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let data = std::fs::read(path).map_err(|e| TlsError::file(path, e))?;
    rustls_pemfile::private_key(&mut &data[..])
        .map_err(|e| TlsError::file(path, e))?
        .ok_or_else(|| TlsError::file(path, "no private key in PEM file"))
}

pub fn watch(store: Arc<CertStore>, cert: PathBuf, key: PathBuf) -> Result<CertWatcher, TlsError> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if ev.is_ok() {
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
        match load_certified_key(cert, key) {
            Ok(new) if same_leaf(&new, &store.current()) => {}
            Ok(new) => store.swap(new),
            Err(e) => warn!(error = %e, "new certificate rejected, keeping the current one"),
        }
    }
}

fn same_leaf(a: &CertifiedKey, b: &CertifiedKey) -> bool {
    a.cert.first() == b.cert.first()
}
