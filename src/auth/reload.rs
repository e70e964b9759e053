//! Hot reload of the users file: `crate::watch` watches the file's directory (editors and
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
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use tracing::{debug, info, warn};

use super::{AuthError, UsersDb};
use crate::watch::{parent_dir, Pending, Spec, Watch, WatchError};

/// Quiet time after an event before the file is examined (a burst is one change).
const SETTLE: Duration = Duration::from_millis(200);

/// Keeps the users-file watcher alive; dropping it stops reloading.
pub struct UsersWatcher {
    _watch: Option<Watch>,
    reloads: Arc<AtomicU64>,
}

impl UsersWatcher {
    pub fn none() -> Self {
        UsersWatcher {
            _watch: None,
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

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub fn watch(path: PathBuf, users: Arc<ArcSwap<UsersDb>>) -> Result<UsersWatcher, AuthError> {
    let werr = |e: WatchError| AuthError::UsersFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let spec = Spec {
        name: "users-reload",
        dirs: vec![parent_dir(&path)],
        settle: SETTLE,
        poll: None,
    };
    let pending = Pending::start(spec, || {}).map_err(werr)?;
    let reloads = Arc::new(AtomicU64::new(0));
    let mut seen = Seen::now(path.clone());
    let counter = Arc::clone(&reloads);
    let watch = pending
        .run(move |_| {
            if let Some(db) = seen.changed(&counter) {
                users.store(Arc::new(db));
            }
        })
        .map_err(werr)?;
    Ok(UsersWatcher {
        _watch: Some(watch),
        reloads,
    })
}
