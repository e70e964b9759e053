//! Reloading from files in the background, the one way the users file (`auth::reload`),
//! the certificate files (`tls::files`) and the trust directory (`gsi::trust`) do it:
//! notify (inotify) watches *directories*, not files, because editors and Kubernetes
//! replace files by rename or by swapping a `..data` symlink; inotify's reports of opens
//! and reads (our own loads included) are dropped; one named thread per source runs the
//! reload once per burst of events, after a quiet time, and on a timer when the source
//! also wants polling (a file system whose changes notify cannot see, or a watched
//! directory replaced as a whole). The thread ends when the [`Watch`] is dropped.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tracing::warn;

/// A source could not be watched.
#[derive(Debug, thiserror::Error)]
#[error("watching {path}: {reason}")]
pub struct WatchError {
    pub path: String,
    pub reason: String,
}

/// Why a reload runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Something changed in a watched directory.
    Changed,
    /// The poll interval passed without an event.
    Poll,
}

/// How one source is watched.
pub struct Spec {
    /// The reload thread's name.
    pub name: &'static str,
    /// The directories to watch (non-recursively).
    pub dirs: Vec<PathBuf>,
    /// Quiet time after an event before the reload (a burst of events is one change).
    pub settle: Duration,
    /// Also wake this often without an event; a directory that cannot be watched is then
    /// polled only (with a warning) instead of failing.
    pub poll: Option<Duration>,
}

/// A running watch: dropping it stops the reloads.
pub struct Watch {
    _watcher: Option<RecommendedWatcher>,
    /// Keeps the reload thread's channel open (it ends when this and the watcher go).
    _alive: Sender<()>,
}

/// Watching has started, no reload thread yet: a caller loads its source *after*
/// [`Pending::start`] and *before* [`Pending::run`], so a change in between is queued, not
/// lost.
pub struct Pending {
    spec: Spec,
    watcher: Option<RecommendedWatcher>,
    tx: Sender<()>,
    rx: Receiver<()>,
}

impl Pending {
    /// Starts watching `spec.dirs`; `noticed` runs on notify's thread for every event that
    /// may have changed a file (before the reload thread is woken).
    pub fn start(spec: Spec, noticed: impl Fn() + Send + 'static) -> Result<Pending, WatchError> {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let watcher = match watch_dirs(&spec.dirs, tx.clone(), noticed) {
            Ok(w) => Some(w),
            Err(e) if spec.poll.is_some() => {
                warn!(error = %e, poll = ?spec.poll, "not watched, only polled");
                None
            }
            Err(e) => return Err(e),
        };
        Ok(Pending {
            spec,
            watcher,
            tx,
            rx,
        })
    }

    /// Starts the reload thread: `reload` runs for every settled burst of events and at
    /// every poll.
    pub fn run(self, mut reload: impl FnMut(Wake) + Send + 'static) -> Result<Watch, WatchError> {
        let Pending {
            spec,
            watcher,
            tx,
            rx,
        } = self;
        let (settle, poll) = (spec.settle, spec.poll);
        std::thread::Builder::new()
            .name(spec.name.into())
            .spawn(move || reload_loop(&rx, settle, poll, &mut reload))
            .map_err(|e| WatchError {
                path: display(&spec.dirs),
                reason: format!("no reload thread: {e}"),
            })?;
        Ok(Watch {
            _watcher: watcher,
            _alive: tx,
        })
    }
}

/// Watches `dirs` at once and reloads on every settled change (no polling).
pub fn spawn(spec: Spec, mut reload: impl FnMut() + Send + 'static) -> Result<Watch, WatchError> {
    Pending::start(spec, || {})?.run(move |_| reload())
}

/// The parent directory of `file` (`.` for a bare name): what to watch for it.
pub fn parent_dir(file: &Path) -> PathBuf {
    file.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
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

fn watch_dirs(
    dirs: &[PathBuf],
    tx: Sender<()>,
    noticed: impl Fn() + Send + 'static,
) -> Result<RecommendedWatcher, WatchError> {
    let err = |e: notify::Error| WatchError {
        path: display(dirs),
        reason: e.to_string(),
    };
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if ev.is_ok_and(|ev| !is_read_only_access(&ev.kind)) {
            noticed();
            let _ = tx.send(());
        }
    })
    .map_err(err)?;
    for dir in dirs {
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(err)?;
    }
    Ok(watcher)
}

/// Runs until the [`Watch`] is dropped.
fn reload_loop(
    rx: &Receiver<()>,
    settle: Duration,
    poll: Option<Duration>,
    reload: &mut impl FnMut(Wake),
) {
    loop {
        let woken = match poll {
            Some(every) => rx.recv_timeout(every),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match woken {
            Ok(()) => {
                std::thread::sleep(settle);
                while rx.try_recv().is_ok() {}
                reload(Wake::Changed);
            }
            Err(RecvTimeoutError::Timeout) => reload(Wake::Poll),
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn display(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;

    fn wait_for(what: &str, cond: impl Fn() -> bool) {
        let t0 = Instant::now();
        while !cond() {
            assert!(t0.elapsed() < Duration::from_secs(10), "{what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_burst_of_changes_is_one_reload_and_reads_are_none() {
        let dir = tempfile::tempdir().unwrap();
        let count = Arc::new(AtomicU32::new(0));
        let c = Arc::clone(&count);
        let spec = Spec {
            name: "test-reload",
            dirs: vec![dir.path().to_path_buf()],
            settle: Duration::from_millis(300),
            poll: None,
        };
        let _watch = spawn(spec, move || {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        for i in 0..5 {
            std::fs::write(dir.path().join("f"), i.to_string()).unwrap();
        }
        wait_for("one reload", || count.load(Ordering::SeqCst) == 1);
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(count.load(Ordering::SeqCst), 1, "the burst was one change");
        // Reading the file (as a reload does) is no change.
        let _ = std::fs::read(dir.path().join("f")).unwrap();
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(count.load(Ordering::SeqCst), 1, "a read started a reload");
    }

    #[test]
    fn a_directory_that_cannot_be_watched_is_polled_or_refused() {
        let gone = PathBuf::from("/nonexistent/griddock-watch-test");
        let spec = |poll| Spec {
            name: "test-reload",
            dirs: vec![gone.clone()],
            settle: Duration::ZERO,
            poll,
        };
        assert!(spawn(spec(None), || {}).is_err());
        let polls = Arc::new(AtomicU32::new(0));
        let p = Arc::clone(&polls);
        let _watch = Pending::start(spec(Some(Duration::from_millis(50))), || {})
            .unwrap()
            .run(move |wake| {
                assert_eq!(wake, Wake::Poll);
                p.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        wait_for("polls", || polls.load(Ordering::SeqCst) >= 2);
    }

    #[test]
    fn the_thread_ends_when_the_watch_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let alive = Arc::new(());
        let held = Arc::clone(&alive);
        let spec = Spec {
            name: "test-reload",
            dirs: vec![dir.path().to_path_buf()],
            settle: Duration::ZERO,
            poll: Some(Duration::from_millis(20)),
        };
        let watch = Pending::start(spec, || {})
            .unwrap()
            .run(move |_| {
                let _ = &held;
            })
            .unwrap();
        drop(watch);
        wait_for("the reload closure dropped", || {
            Arc::strong_count(&alive) == 1
        });
    }
}
