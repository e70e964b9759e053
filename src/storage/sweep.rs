//! Removal of stale upload files (`[storage] stale_upload_age`, default 24 h): temporary
//! files `.griddock-tmp.<rand>.<name>` that a crash (`kill -9`, power loss) left behind,
//! and resumable part files `.griddock-part.<name>` nobody resumed within that age.
//!
//! Both are hidden from clients and refused as paths (`INTERNAL_PREFIX`), so only this
//! sweep can reclaim their space. It walks the data directory (never following symlinks),
//! and removes such a file when
//! - it is a regular file whose mtime is older than the age — a live upload writes, and so
//!   touches, its file; this is what makes several replicas on one volume safe — and
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
        if let Err(e) = sweep_dir(&dir, &at, cutoff, &mut stack, &mut swept) {
            debug!(dir = %at, error = %e, "upload sweep: directory skipped");
        }
    }
    swept
}

fn sweep_dir(
    dir: &Dir,
    at: &str,
    cutoff: SystemTime,
    stack: &mut Vec<(Dir, String)>,
    swept: &mut Swept,
) -> io::Result<()> {
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
                stack.push((sub, format!("{}{name}/", at)));
            }
        } else if is_upload_file(&name) {
            remove_if_stale(dir, &name, at, cutoff, swept);
        }
    }
    Ok(())
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
fn remove_if_stale(dir: &Dir, name: &str, at: &str, cutoff: SystemTime, swept: &mut Swept) {
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
    if is_live((m.dev(), m.ino())) {
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
