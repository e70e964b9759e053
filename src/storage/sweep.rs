//! Removal of stale upload files (`[storage] stale_upload_age`, default 24 h): temporary
//! files `.griddock-tmp.<rand>.<name>` that a crash (`kill -9`, power loss) left behind,
//! and resumable part files `.griddock-part.<name>` nobody resumed within that age.
//!
//! Both are hidden from clients and refused as paths (`INTERNAL_PREFIX`), so only this
//! sweep can reclaim their space. It walks the data directory (never following symlinks),
//! and removes such a file when
//! - it is a regular file whose mtime is older than the age — a live upload writes, and so
//!   touches, its file (every write(2), pwrite and copy_file_range moves mtime; a peer that
//!   stops sending is cut after `limits.data_timeout`, and a claimed part file is touched
//!   before it is renamed, `resume.rs`); this is all that protects another replica's live
//!   upload on a shared volume, so keep the age far above `data_timeout` — and
//! - no upload of *this* process holds it: [`Upload`](super::Upload) registers its file's
//!   (device, inode) in a process-wide registry for its whole life (a client that stalls
//!   for longer than the age keeps its file).
//!
//! A part file being resumed is renamed to a temporary name and registered while
//! [`begin_upload`](super::DataRoot::begin_upload) holds the registry's gate for reading;
//! the sweep takes the gate for writing (without waiting) around each check-and-remove,
//! so it never sees a claimed file between the rename and the registration.

use std::collections::HashSet;
use std::io;
use std::sync::{Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, SystemTime};

use cap_fs_ext::DirExt;
use cap_std::fs::{Dir, MetadataExt as _};
use tracing::{debug, info, warn};

use super::{DataRoot, INTERNAL_PREFIX};

/// (device, inode) of every upload file this process has open.
static LIVE: Mutex<Option<HashSet<(u64, u64)>>> = Mutex::new(None);
/// Held for reading while an upload prepares and registers its file.
static GATE: RwLock<()> = RwLock::new(());

/// How often the sweep runs for a given age: a quarter of it, between 100 ms and 1 h.
pub fn period(age: Duration) -> Duration {
    (age / 4).clamp(Duration::from_millis(100), Duration::from_secs(3600))
}

/// Held by `begin_upload` from creating/claiming the file until it is registered.
pub(super) fn preparing() -> RwLockReadGuard<'static, ()> {
    GATE.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Marks an upload's file live until dropped.
#[derive(Debug)]
pub(super) struct Live(Option<(u64, u64)>);

impl Live {
    pub(super) fn register(file: &std::fs::File) -> Live {
        use std::os::unix::fs::MetadataExt;
        let Ok(m) = file.metadata() else {
            return Live(None);
        };
        let key = (m.dev(), m.ino());
        with_live(|set| set.insert(key));
        Live(Some(key))
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(key) = self.0 {
            with_live(|set| set.remove(&key));
        }
    }
}

fn with_live<T>(f: impl FnOnce(&mut HashSet<(u64, u64)>) -> T) -> T {
    let mut guard = LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    f(guard.get_or_insert_with(HashSet::new))
}

fn is_live(key: (u64, u64)) -> bool {
    with_live(|set| set.contains(&key))
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub removed: u64,
    pub bytes: u64,
    /// Old enough, but held by a live upload (or the gate was busy): kept.
    pub kept_live: u64,
}

/// Removes stale upload files anywhere below `root` (see the module documentation).
pub fn sweep(root: &DataRoot, age: Duration, now: SystemTime) -> Swept {
    sweep_with(root, age, now, is_live)
}

/// [`sweep`] with the liveness check given: another replica's sweep is `|_| false`.
fn sweep_with(
    root: &DataRoot,
    age: Duration,
    now: SystemTime,
    live: fn((u64, u64)) -> bool,
) -> Swept {
    let mut swept = Swept::default();
    let Some(cutoff) = now.checked_sub(age) else {
        return swept;
    };
    let mut stack = match root.dir.try_clone() {
        Ok(dir) => vec![(dir, String::from("/"))],
        Err(e) => {
            warn!(error = %e, "upload sweep: cannot open the data directory");
            return swept;
        }
    };
    while let Some((dir, at)) = stack.pop() {
        let mut walk = Walk {
            cutoff,
            live,
            stack: &mut stack,
            swept: &mut swept,
        };
        if let Err(e) = walk.dir(&dir, &at) {
            debug!(dir = %at, error = %e, "upload sweep: directory skipped");
        }
    }
    swept
}

/// One sweep's walk: directories still to visit and what was done.
struct Walk<'a> {
    cutoff: SystemTime,
    live: fn((u64, u64)) -> bool,
    stack: &'a mut Vec<(Dir, String)>,
    swept: &'a mut Swept,
}

impl Walk<'_> {
    fn dir(&mut self, dir: &Dir, at: &str) -> io::Result<()> {
        for entry in dir.entries()? {
            let Ok(entry) = entry else { continue };
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                // SECURITY: never through a symlink; a directory swapped for one meanwhile
                // fails to open rather than leading elsewhere.
                if let Ok(sub) = dir.open_dir_nofollow(&name) {
                    self.stack.push((sub, format!("{}{name}/", at)));
                }
            } else if is_upload_file(&name) {
                remove_if_stale(dir, &name, at, self.cutoff, self.live, self.swept);
            }
        }
        Ok(())
    }
}

fn is_upload_file(name: &str) -> bool {
    name.strip_prefix(INTERNAL_PREFIX)
        .is_some_and(|rest| rest.starts_with("tmp.") || rest.starts_with("part."))
}

/// The gate for writing, tried for up to ~100 ms without queueing behind uploads (a
/// waiting writer would hold up every new upload behind a long APPE copy).
fn gate_for_sweep() -> Option<std::sync::RwLockWriteGuard<'static, ()>> {
    for _ in 0..100 {
        match GATE.try_write() {
            Ok(gate) => return Some(gate),
            Err(std::sync::TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => {
                std::thread::sleep(Duration::from_millis(1))
            }
        }
    }
    None
}

/// Checks and removes one candidate under the gate (never queueing for it).
fn remove_if_stale(
    dir: &Dir,
    name: &str,
    at: &str,
    cutoff: SystemTime,
    live: fn((u64, u64)) -> bool,
    swept: &mut Swept,
) {
    let Some(_gate) = gate_for_sweep() else {
        swept.kept_live += 1;
        return;
    };
    let Ok(m) = dir.symlink_metadata(name) else {
        return;
    };
    if !m.is_file() {
        return;
    }
    let modified = m
        .modified()
        .map(|t| t.into_std())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    if modified >= cutoff {
        return;
    }
    if live((m.dev(), m.ino())) {
        swept.kept_live += 1;
        return;
    }
    match dir.remove_file(name) {
        Ok(()) => {
            swept.removed += 1;
            swept.bytes += m.len();
            info!(file = %format!("{at}{name}"), bytes = m.len(), "stale upload file removed");
        }
        Err(e) => warn!(file = %format!("{at}{name}"), error = %e, "stale upload file not removed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{UploadMode, VPath};
    use std::io::Write;
    use std::path::Path;

    const HOUR: Duration = Duration::from_secs(3600);

    fn aged(path: &Path, by: Duration) {
        let f = std::fs::File::open(path).unwrap();
        f.set_modified(SystemTime::now() - by).unwrap();
    }

    fn file(path: &Path, age: Duration) {
        std::fs::write(path, b"partial").unwrap();
        aged(path, age);
    }

    #[test]
    fn removes_old_upload_files_only() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("sub/deeper")).unwrap();
        file(&d.join(".griddock-tmp.00000000000000aa.x"), 25 * HOUR);
        file(
            &d.join("sub/deeper/.griddock-tmp.00000000000000bb.y"),
            25 * HOUR,
        );
        file(&d.join("sub/.griddock-part.z"), 25 * HOUR);
        file(&d.join(".griddock-tmp.00000000000000cc.fresh"), HOUR);
        file(&d.join(".griddock-part.fresh"), HOUR);
        file(&d.join("user-file"), 1000 * HOUR);
        file(&d.join(".griddock-other"), 1000 * HOUR);
        file(&d.join("outside-target"), 1000 * HOUR);
        std::os::unix::fs::symlink("outside-target", d.join(".griddock-tmp.link")).unwrap();
        let root = DataRoot::open(d).unwrap();
        let swept = sweep(&root, 24 * HOUR, SystemTime::now());
        assert_eq!((swept.removed, swept.bytes), (3, 21), "{swept:?}");
        let mut left: Vec<String> = walk(d);
        left.sort();
        assert_eq!(
            left,
            [
                ".griddock-other",
                ".griddock-part.fresh",
                ".griddock-tmp.00000000000000cc.fresh",
                ".griddock-tmp.link",
                "outside-target",
                "sub",
                "sub/deeper",
                "user-file",
            ]
        );
    }

    fn walk(d: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![d.to_path_buf()];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).unwrap() {
                let e = e.unwrap();
                let rel = e.path().strip_prefix(d).unwrap().display().to_string();
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                }
                out.push(rel);
            }
        }
        out
    }

    #[test]
    fn a_live_upload_survives_however_old_its_file_looks() {
        let tmp = tempfile::tempdir().unwrap();
        let root = DataRoot::open(tmp.path()).unwrap();
        let target = VPath::root().resolve("big").unwrap();
        let upload = root.begin_upload(&target, UploadMode::Replace).unwrap();
        upload.file().write_all(b"first half").unwrap();
        let tmp_file = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().contains(".griddock-tmp."))
            .unwrap();
        aged(&tmp_file, 48 * HOUR);
        let swept = sweep(&root, 24 * HOUR, SystemTime::now());
        assert_eq!((swept.removed, swept.kept_live), (0, 1));
        upload.file().write_all(b", second half").unwrap();
        upload.commit().unwrap();
        assert_eq!(
            std::fs::read(tmp.path().join("big")).unwrap(),
            b"first half, second half"
        );
        // Once the upload is gone its (kept) part file is an ordinary candidate.
        let again = root.begin_upload(&target, UploadMode::Replace).unwrap();
        again.file().write_all(b"partial").unwrap();
        drop(again);
        let part = tmp.path().join(".griddock-part.big");
        aged(&part, 48 * HOUR);
        assert_eq!(sweep(&root, 24 * HOUR, SystemTime::now()).removed, 1);
        assert!(!part.exists());
    }

    /// What another replica's sweep does: it cannot see this process's registry.
    fn other_replica(root: &DataRoot, age: Duration) -> Swept {
        sweep_with(root, age, SystemTime::now(), |_| false)
    }

    fn only_file(dir: &Path, prefix: &str) -> std::path::PathBuf {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .unwrap()
    }

    #[test]
    fn a_live_upload_is_safe_from_another_replicas_sweep_because_writes_touch_it() {
        let tmp = tempfile::tempdir().unwrap();
        let root = DataRoot::open(tmp.path()).unwrap();
        let target = VPath::root().resolve("big").unwrap();
        let upload = root.begin_upload(&target, UploadMode::Replace).unwrap();
        upload.file().write_all(b"first half").unwrap();
        let tmp_file = only_file(tmp.path(), ".griddock-tmp.");
        aged(&tmp_file, 48 * HOUR);
        // Between writes the file looks abandoned to a replica that cannot see us ...
        assert_eq!(other_replica(&root, 24 * HOUR).removed, 1);
        // ... which is why data_timeout must stay far below the age: the next write
        // makes it fresh again.
        drop(upload);
        let upload = root.begin_upload(&target, UploadMode::Replace).unwrap();
        let tmp_file = only_file(tmp.path(), ".griddock-tmp.");
        aged(&tmp_file, 48 * HOUR);
        upload.file().write_all(b"more").unwrap();
        assert_eq!(other_replica(&root, 24 * HOUR).removed, 0);
        upload.commit().unwrap();
        assert_eq!(std::fs::read(tmp.path().join("big")).unwrap(), b"more");
    }

    /// A claimed part file is fresh (touched before the rename, cut by ftruncate after it),
    /// whatever its age: another replica's sweep leaves it alone.
    #[test]
    fn an_old_part_file_being_resumed_is_safe_from_another_replicas_sweep() {
        let tmp = tempfile::tempdir().unwrap();
        let root = DataRoot::open(tmp.path()).unwrap();
        let part = tmp.path().join(".griddock-part.big");
        std::fs::write(&part, b"0123456789").unwrap();
        aged(&part, 23 * HOUR);
        let target = VPath::root().resolve("big").unwrap();
        // Claimed at its end (the usual restart), then the client is slow to send its
        // first byte.
        let upload = root.begin_upload(&target, UploadMode::Resume(10)).unwrap();
        assert_eq!(upload.offset(), 10);
        let swept = other_replica(&root, 22 * HOUR);
        assert_eq!(
            swept.removed, 0,
            "a claimed part file was swept: not touched on claim"
        );
        upload.file().write_all(b"ABCD").unwrap();
        upload.commit().unwrap();
        assert_eq!(
            std::fs::read(tmp.path().join("big")).unwrap(),
            b"0123456789ABCD"
        );
    }

    #[test]
    fn period_is_a_quarter_of_the_age_within_bounds() {
        assert_eq!(period(24 * HOUR), HOUR);
        assert_eq!(period(2 * HOUR), HOUR / 2);
        assert_eq!(
            period(Duration::from_millis(10)),
            Duration::from_millis(100)
        );
    }
}
