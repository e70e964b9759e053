//! The trust directory (`x509_cert_dir`, IGTF layout as in /etc/grid-security/certificates:
//! `<hash>.0` CA certificates, `<hash>.r0` CRLs), the anchors RFC 3820 §4 path validation
//! ends in. Loaded once at start, then reloaded on a background thread when the directory
//! changes (`crate::watch` watches the directory itself: fetch-crl renames new CRLs over
//! old ones, Kubernetes swaps a `..data` symlink), when its mtime changes and every few
//! minutes.
//! Each load is published as one immutable snapshot in an [`ArcSwap`], so a handshake
//! only loads a pointer and never touches the file system; it only waits, briefly, for a
//! reload that a change noticed before it started has set off (a CRL dropped in applies
//! to the very next login). A file that cannot be read or parsed keeps what the previous
//! snapshot had from it (with a warning), and an unreadable directory keeps the whole
//! previous snapshot: a broken update never drops an anchor or a CRL (removing a file
//! does).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use tracing::{debug, info, warn};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::chain::{Anchor, Anchors};
use super::dn::openssl_dn;
use crate::watch::{Pending, Spec, Wake, Watch};

/// Longest a handshake waits for a reload already set off to publish its snapshot.
const CATCH_UP: Duration = Duration::from_secs(1);
/// Reloaded at least this often (a file system whose changes notify cannot see).
const MAX_AGE: Duration = Duration::from_secs(300);
/// How often the directory's mtime is compared anyway (no watcher, or the directory
/// itself replaced, which leaves the watch on the old one).
const POLL: Duration = Duration::from_secs(2);

/// The current trust anchors, kept up to date in the background; dropping it stops the
/// reloading.
pub struct TrustDir {
    current: Arc<ArcSwap<Anchors>>,
    progress: Arc<Progress>,
    _watch: Option<Watch>,
}

impl TrustDir {
    /// Loads the directory and starts the background reload.
    pub fn open(path: &Path) -> TrustDir {
        let progress = Arc::new(Progress::default());
        let noticed = Arc::clone(&progress);
        let spec = Spec {
            name: "trust-reload",
            dirs: vec![path.to_path_buf()],
            settle: Duration::ZERO,
            poll: Some(POLL),
        };
        // Watching starts before the first load: a change in between is not lost.
        let pending = Pending::start(spec, move || noticed.notice());
        let mut files = Files::new(path);
        let first = files.load().unwrap_or_default();
        let current = Arc::new(ArcSwap::from_pointee(first));
        let (shared, reloaded) = (Arc::clone(&current), Arc::clone(&progress));
        let watch =
            pending.and_then(|p| p.run(move |wake| reload(&mut files, wake, &shared, &reloaded)));
        let watch = match watch {
            Ok(w) => Some(w),
            Err(e) => {
                warn!(error = %e, "x509_cert_dir not reloaded: its changes need a restart");
                None
            }
        };
        TrustDir {
            current,
            progress,
            _watch: watch,
        }
    }

    /// The current snapshot: a pointer load, no file-system access.
    pub fn anchors(&self) -> Arc<Anchors> {
        self.progress.catch_up();
        self.current.load_full()
    }
}

/// Directory changes noticed by the watcher against those a published snapshot includes.
#[derive(Default)]
struct Progress {
    noticed: AtomicU64,
    applied: AtomicU64,
    lock: Mutex<()>,
    published: Condvar,
}

impl Progress {
    /// Called by the watcher before it wakes the reload thread.
    fn notice(&self) {
        self.noticed.fetch_add(1, Ordering::SeqCst);
    }

    /// Called by the reload thread before it reads the directory: what that read covers.
    fn covering(&self) -> u64 {
        self.noticed.load(Ordering::SeqCst)
    }

    fn publish(&self, covered: u64) {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.applied.fetch_max(covered, Ordering::SeqCst);
        self.published.notify_all();
    }

    /// Waits (at most [`CATCH_UP`]) until every change noticed so far is published; free
    /// when nothing is pending, which is every handshake but those right after a change.
    fn catch_up(&self) {
        let want = self.noticed.load(Ordering::SeqCst);
        if self.applied.load(Ordering::SeqCst) >= want {
            return;
        }
        let deadline = Instant::now() + CATCH_UP;
        let mut guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        while self.applied.load(Ordering::SeqCst) < want {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                debug!("trust reload still running, using the current anchors");
                return;
            }
            guard = match self.published.wait_timeout(guard, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

/// One reload on the background thread: for every burst of events (a burst while a load
/// runs is one more load), and at every [`POLL`] when the directory's mtime changed or the
/// snapshot is [`MAX_AGE`] old.
fn reload(files: &mut Files, wake: Wake, current: &ArcSwap<Anchors>, progress: &Progress) {
    if wake == Wake::Poll && !files.stale() {
        return;
    }
    let covered = progress.covering();
    if let Some(anchors) = files.load() {
        current.store(Arc::new(anchors));
    }
    progress.publish(covered);
}

/// What a file in the trust directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ca,
    Crl,
}

impl Kind {
    /// `<hash>.N` is a CA, `<hash>.rN` a CRL; anything else is not ours.
    fn of(name: &str) -> Option<Kind> {
        let (_, ext) = name.rsplit_once('.')?;
        let is_digit = |s: &str| s.len() == 1 && s.as_bytes()[0].is_ascii_digit();
        if is_digit(ext) {
            Some(Kind::Ca)
        } else if ext.len() == 2 && ext.starts_with('r') && is_digit(&ext[1..]) {
            Some(Kind::Crl)
        } else {
            None
        }
    }

    fn pem_label(self) -> &'static str {
        match self {
            Kind::Ca => "CERTIFICATE",
            Kind::Crl => "X509 CRL",
        }
    }

    fn parses(self, der: &[u8]) -> bool {
        match self {
            Kind::Ca => X509Certificate::from_der(der).is_ok(),
            Kind::Crl => CertificateRevocationList::from_der(der).is_ok(),
        }
    }
}

/// The reload thread's view of the directory: the last good content of every file.
struct Files {
    path: PathBuf,
    good: BTreeMap<OsString, (Kind, Vec<Vec<u8>>)>,
    dir_mtime: Option<SystemTime>,
    at: Instant,
}

impl Files {
    fn new(path: &Path) -> Files {
        Files {
            path: path.to_path_buf(),
            good: BTreeMap::new(),
            dir_mtime: None,
            at: Instant::now(),
        }
    }

    /// The directory changed (a file added, removed or renamed over; the directory
    /// replaced) or the snapshot is old (a CRL rewritten in place leaves the directory's
    /// mtime alone).
    fn stale(&self) -> bool {
        dir_mtime(&self.path) != self.dir_mtime || self.at.elapsed() > MAX_AGE
    }

    /// Reads the directory; `None` (keep the current snapshot) when it cannot be listed.
    fn load(&mut self) -> Option<Anchors> {
        self.dir_mtime = dir_mtime(&self.path);
        self.at = Instant::now();
        let entries = match std::fs::read_dir(&self.path) {
            Ok(entries) => entries,
            Err(e) => {
                warn!(path = %self.path.display(), error = %e, "x509_cert_dir unreadable, keeping the current trust anchors");
                return None;
            }
        };
        let mut good = BTreeMap::new();
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(kind) = Kind::of(&name.to_string_lossy()) else {
                continue;
            };
            match read_objects(&e.path(), kind) {
                Ok(ders) => {
                    good.insert(name, (kind, ders));
                }
                Err(reason) => {
                    // SECURITY: a CRL caught half-written (or broken) must not drop the
                    // revocations the previous one listed; the file's last good content
                    // stays until a good one replaces it.
                    warn!(file = %e.path().display(), error = %reason, "trust file rejected, keeping its previous content");
                    if let Some(previous) = self.good.remove(&name) {
                        good.insert(name, previous);
                    }
                }
            }
        }
        self.good = good;
        Some(self.assemble())
    }

    fn assemble(&self) -> Anchors {
        let of_kind = |k: Kind| {
            self.good
                .values()
                .filter(move |(kind, _)| *kind == k)
                .flat_map(|(_, ders)| ders.iter().cloned())
        };
        let crls: Vec<Vec<u8>> = of_kind(Kind::Crl).collect();
        let anchors = pair(of_kind(Kind::Ca), &crls);
        info!(path = %self.path.display(), cas = anchors.len(), crls = crls.len(), "trust anchors loaded");
        anchors
    }
}

fn dir_mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Pairs each CA with the CRL it issued (by issuer name).
fn pair(certs: impl Iterator<Item = Vec<u8>>, crls: &[Vec<u8>]) -> Anchors {
    let crl_issuer = |der: &[u8]| {
        CertificateRevocationList::from_der(der)
            .ok()
            .map(|(_, c)| openssl_dn(c.issuer()))
    };
    let mut anchors = Anchors::default();
    for cert in certs {
        let subject = X509Certificate::from_der(&cert)
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

/// Every PEM block of the kind's label in the file, or the file itself when it is DER;
/// an error when the file cannot be read or holds nothing of its kind that parses.
fn read_objects(path: &Path, kind: Kind) -> Result<Vec<Vec<u8>>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let ders = if !bytes.starts_with(b"-----") && !bytes.windows(5).any(|w| w == b"-----") {
        vec![bytes]
    } else {
        let blocks = x509_parser::pem::Pem::iter_from_buffer(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("bad PEM: {e}"))?;
        blocks
            .into_iter()
            .filter(|p| p.label == kind.pem_label())
            .map(|p| p.contents)
            .collect()
    };
    if ders.is_empty() {
        return Err(format!("no {} in the file", kind.pem_label()));
    }
    if !ders.iter().all(|d| kind.parses(d)) {
        return Err(format!("a {} does not parse", kind.pem_label()));
    }
    Ok(ders)
}
