//! Hot reload of the users file: notify watches the file's directory (editors and
//! Kubernetes replace files by rename, which a watch on the file itself would lose), and
//! the file is reloaded — and logged — once per real change of the file itself.
//!
//! What counts as a change: the *resolved* file's identity and stamp (device, inode, size,
//! mtime, ctime; symlinks followed, so a Kubernetes `..data` symlink swap is seen) and then
//! its content (SHA-256), so neither another file in the same directory (a log file, the
//! Secret's timestamped directories) nor griddock's own reads (inotify reports opens) nor
//! a `touch` starts a reload. Events arriving within [`SETTLE`] are handled as one.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use sha2::{Digest, Sha256};
use tracing::{debug, info, warn};

use super::{AuthError, UsersDb};

/// Quiet time after an event before the file is examined (a burst is one change).
const SETTLE: Duration = Duration::from_millis(200);

/// Keeps the users-file watcher alive; dropping it stops reloading.
pub struct UsersWatcher {
    _watcher: Option<RecommendedWatcher>,
    reloads: Arc<AtomicU64>,
}

impl UsersWatcher {
    pub fn none() -> Self {
        UsersWatcher {
            _watcher: None,
            reloads: Arc::default(),
        }
    }

    /// How many content changes were acted on (loaded or rejected) since the start.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }
}

/// Identity and stamp of the resolved file: equal stamps mean nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// `None` when the file (or a symlink on the way) is missing or unreadable.
    fn of(path: &Path) -> Option<Stamp> {
        let m = std::fs::metadata(path).ok()?;
        Some(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// What the reload thread last saw of the file.
struct Seen {
    path: PathBuf,
    stamp: Option<Stamp>,
    digest: Option<[u8; 32]>,
}

impl Seen {
    /// The file as it is now (what `Authenticator::new` has just loaded).
    fn now(path: PathBuf) -> Seen {
        let stamp = Stamp::of(&path);
        let digest = std::fs::read(&path).ok().map(|b| digest(&b));
        Seen {
            path,
            stamp,
            digest,
        }
    }

    /// The new table when the file's content changed and parses; logs once per change.
    fn changed(&mut self, reloads: &AtomicU64) -> Option<UsersDb> {
        let stamp = Stamp::of(&self.path);
        if stamp == self.stamp {
            return None;
        }
        self.stamp = stamp;
        let text = match self.read() {
            Ok(text) => text,
            Err(e) => {
                self.digest = None;
                warn!(path = %self.path.display(), error = %e, "users file unreadable, keeping the previous users");
                return None;
            }
        };
        let new = digest(text.as_bytes());
        if self.digest == Some(new) {
            debug!(path = %self.path.display(), "users file touched, content unchanged");
            return None;
        }
        self.digest = Some(new);
        reloads.fetch_add(1, Ordering::Relaxed);
        match UsersDb::parse(&text) {
            Ok(db) => {
                info!(path = %self.path.display(), users = db.len(), "users file reloaded");
                Some(db)
            }
            Err(reason) => {
                warn!(path = %self.path.display(), error = %reason, "users file rejected, keeping the previous users");
                None
            }
        }
    }

    fn read(&self) -> io::Result<String> {
        if self.stamp.is_none() {
            return Err(io::ErrorKind::NotFound.into());
        }
        std::fs::read_to_string(&self.path)
    }
}

/// An event that cannot have changed a file: an open, a read, a close after reading
/// (inotify reports all of them, our own reads included). A close after writing counts.
pub fn is_read_only_access(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => false,
        EventKind::Access(_) => true,
        _ => false,
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub fn watch(path: PathBuf, users: Arc<ArcSwap<UsersDb>>) -> Result<UsersWatcher, AuthError> {
    let werr = |e: String| AuthError::UsersFile {
        path: path.display().to_string(),
        reason: e,
    };
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        // Opens and reads (our own included) change nothing.
        if ev.is_ok_and(|ev| !is_read_only_access(&ev.kind)) {
            let _ = tx.send(());
        }
    })
    .map_err(|e| werr(e.to_string()))?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| werr(e.to_string()))?;
    let reloads = Arc::new(AtomicU64::new(0));
    let seen = Seen::now(path.clone());
    let counter = Arc::clone(&reloads);
    std::thread::Builder::new()
        .name("users-reload".into())
        .spawn(move || reload_loop(seen, &users, &rx, &counter))
        .map_err(|e| werr(e.to_string()))?;
    Ok(UsersWatcher {
        _watcher: Some(watcher),
        reloads,
    })
}

/// Runs until the watcher (and with it the sender) is dropped.
fn reload_loop(mut seen: Seen, users: &ArcSwap<UsersDb>, rx: &Receiver<()>, reloads: &AtomicU64) {
    while rx.recv().is_ok() {
        std::thread::sleep(SETTLE);
        while rx.try_recv().is_ok() {}
        if let Some(db) = seen.changed(reloads) {
            users.store(Arc::new(db));
        }
    }
}
