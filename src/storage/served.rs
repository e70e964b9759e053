//! The served data directory as a whole (`data_dir`): the root every login starts from,
//! and its health for `/readyz`.
//!
//! A [`DataRoot`] is a directory *descriptor*: if an operator deletes `data_dir`, the
//! descriptor keeps naming the deleted directory (every operation fails with ENOENT) and
//! a directory created again at the path is a different one. [`Served::check`] (run on
//! every `/readyz` and by the periodic sweep: one fstat and one stat) notices both:
//!
//! - the opened directory still has its name → ready;
//! - it was deleted (link count 0) → not ready, and once a directory exists at the path
//!   again it is opened and new logins get it (existing sessions keep the old one);
//! - it still exists but the path names another directory (renamed away and replaced, or
//!   the volume unmounted under griddock) → not ready, and **not** switched: serving the
//!   directory under an unmounted volume would be wrong. A restart picks it up.
//!
//! griddock never creates `data_dir` again by itself (it does at start): a vanished mount
//! must not be replaced by an empty directory on the root file system.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use cap_std::ambient_authority;
use cap_std::fs::{Dir, MetadataExt as _};
use tracing::{info, warn};

use super::root::Result;
use super::DataRoot;

pub struct Served {
    path: PathBuf,
    current: ArcSwap<DataRoot>,
}

impl Served {
    /// Opens (creating if needed) the data directory, as at start.
    pub fn open(path: &Path) -> Result<Served> {
        Ok(Served {
            path: path.to_path_buf(),
            current: ArcSwap::from_pointee(DataRoot::open(path)?),
        })
    }

    /// The root a new login starts from (writable; sessions narrow it).
    pub fn root(&self) -> DataRoot {
        DataRoot::clone(&self.current.load())
    }

    /// `Ok` when the served directory is the one at `data_dir`; re-opens a directory
    /// created again after the served one was deleted. The error is the readiness note.
    pub fn check(&self) -> std::result::Result<(), String> {
        let root = self.current.load_full();
        let shown = self.path.display();
        let open = root
            .dir
            .dir_metadata()
            .map_err(|e| format!("data_dir {shown}: {e}"))?;
        if open.nlink() == 0 {
            return self.reopen();
        }
        match std::fs::metadata(&self.path) {
            Ok(m) if (m.dev(), m.ino()) == (open.dev(), open.ino()) => Ok(()),
            Ok(_) => Err(format!(
                "data_dir {shown} now names another directory than the served one \
                 (replaced or unmounted); restart to serve it"
            )),
            Err(e) => Err(format!("data_dir {shown}: {e}")),
        }
    }

    /// The served directory was deleted: open the one at the path now, if any.
    fn reopen(&self) -> std::result::Result<(), String> {
        let shown = self.path.display();
        match Dir::open_ambient_dir(&self.path, ambient_authority()) {
            Ok(dir) => {
                self.current.store(Arc::new(DataRoot {
                    dir: Arc::new(dir),
                    writable: true,
                }));
                info!(path = %shown, "data_dir was deleted and exists again: serving the new one");
                Ok(())
            }
            Err(e) => {
                warn!(path = %shown, error = %e, "data_dir was deleted");
                Err(format!("data_dir {shown} was deleted ({e})"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::VPath;

    #[test]
    fn a_deleted_data_dir_is_not_ready_until_it_exists_again() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("data");
        let served = Served::open(&path).unwrap();
        assert_eq!(served.check(), Ok(()));
        std::fs::remove_dir(&path).unwrap();
        let e = served.check().unwrap_err();
        assert!(e.contains("was deleted"), "{e}");
        std::fs::create_dir(&path).unwrap();
        assert_eq!(served.check(), Ok(()));
        std::fs::write(path.join("f"), b"x").unwrap();
        let f = VPath::root().resolve("f").unwrap();
        assert_eq!(
            served.root().stat(&f).unwrap().size,
            1,
            "the new one is served"
        );
    }

    #[test]
    fn a_replaced_data_dir_is_reported_not_switched() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("data");
        let served = Served::open(&path).unwrap();
        std::fs::rename(&path, tmp.path().join("old")).unwrap();
        assert!(served.check().unwrap_err().contains("No such file"));
        std::fs::create_dir(&path).unwrap();
        let e = served.check().unwrap_err();
        assert!(e.contains("another directory"), "{e}");
    }
}
