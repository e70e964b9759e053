//! [`DataRoot`]: a directory capability (cap-std `Dir`) every client operation goes
//! through. No method takes a host path; all take a [`VPath`], resolved beneath the root.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use cap_fs_ext::{DirExt, SystemTimeSpec};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, Permissions, PermissionsExt};

use super::facts::{DirEntry, FileFacts, FileKind};
use super::upload::{Upload, UploadMode};
use super::{StorageError, VPath, INTERNAL_PREFIX};

#[derive(Clone, Debug)]
pub struct DataRoot {
    dir: Arc<Dir>,
    writable: bool,
}

type Result<T> = std::result::Result<T, StorageError>;

impl DataRoot {
    /// Opens (creating if needed) the data directory; the result is writable.
    pub fn open(base: &Path) -> Result<DataRoot> {
        std::fs::create_dir_all(base)?;
        let dir = Dir::open_ambient_dir(base, ambient_authority())?;
        Ok(DataRoot {
            dir: Arc::new(dir),
            writable: true,
        })
    }

    /// A per-user root below this one (created if absent); never more writable than self.
    pub fn sub_root(&self, rel: &str, writable: bool) -> Result<DataRoot> {
        let p = VPath::root().resolve(rel)?;
        let writable = self.writable && writable;
        if p.is_root() {
            return Ok(DataRoot {
                dir: Arc::clone(&self.dir),
                writable,
            });
        }
        self.dir.create_dir_all(p.relative())?;
        let dir = self.dir.open_dir(p.relative())?;
        Ok(DataRoot {
            dir: Arc::new(dir),
            writable,
        })
    }

    pub fn writable(&self) -> bool {
        self.writable
    }

    fn check_writable(&self) -> Result<()> {
        // SECURITY: defence in depth behind the session's permission check.
        if self.writable {
            Ok(())
        } else {
            Err(StorageError::ReadOnly)
        }
    }

    /// Facts about `p`, following symlinks that stay inside the root.
    pub fn stat(&self, p: &VPath) -> Result<FileFacts> {
        Ok(FileFacts::from_metadata(&self.dir.metadata(p.relative())?))
    }

    /// The entries of directory `p`, sorted by name, internal files hidden.
    pub fn list(&self, p: &VPath) -> Result<Vec<DirEntry>> {
        let dir = self.dir.open_dir(p.relative())?;
        let mut out = Vec::new();
        for entry in dir.entries()? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with(INTERNAL_PREFIX) {
                continue;
            }
            if let Some(facts) = entry_facts(&dir, &entry, &name) {
                out.push(DirEntry { name, facts });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Opens a regular file for reading.
    pub fn open_read(&self, p: &VPath) -> Result<std::fs::File> {
        let file = self.dir.open(p.relative())?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(StorageError::IsADirectory);
        }
        if !meta.is_file() {
            return Err(StorageError::PermissionDenied);
        }
        Ok(file.into_std())
    }

    pub fn create_dir(&self, p: &VPath) -> Result<()> {
        self.check_writable()?;
        Ok(self.dir.create_dir(p.relative())?)
    }

    pub fn remove_dir(&self, p: &VPath) -> Result<()> {
        self.check_writable()?;
        if p.is_root() {
            return Err(StorageError::PermissionDenied);
        }
        Ok(self.dir.remove_dir(p.relative())?)
    }

    pub fn remove_file(&self, p: &VPath) -> Result<()> {
        self.check_writable()?;
        if self.dir.symlink_metadata(p.relative())?.is_dir() {
            return Err(StorageError::IsADirectory);
        }
        Ok(self.dir.remove_file(p.relative())?)
    }

    pub fn rename(&self, from: &VPath, to: &VPath) -> Result<()> {
        self.check_writable()?;
        if from.is_root() || to.is_root() {
            return Err(StorageError::PermissionDenied);
        }
        Ok(self.dir.rename(from.relative(), &self.dir, to.relative())?)
    }

    pub fn set_mtime(&self, p: &VPath, t: SystemTime) -> Result<()> {
        self.check_writable()?;
        let mtime = SystemTimeSpec::Absolute(cap_std::time::SystemTime::from_std(t));
        Ok(self.dir.set_times(p.relative(), None, Some(mtime))?)
    }

    /// Sets permission bits; setuid/setgid/sticky are never granted.
    pub fn chmod(&self, p: &VPath, mode: u32) -> Result<()> {
        self.check_writable()?;
        // SECURITY: only rwx bits; a client cannot create setuid files.
        Ok(self
            .dir
            .set_permissions(p.relative(), Permissions::from_mode(mode & 0o777))?)
    }

    pub fn begin_upload(&self, p: &VPath, mode: UploadMode) -> Result<Upload> {
        self.check_writable()?;
        let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else {
            return Err(StorageError::IsADirectory);
        };
        let dir = self.dir.open_dir(parent.relative())?;
        Upload::begin(dir, name, mode)
    }
}

/// Facts for one listing entry: symlinks inside the root report their target; broken or
/// escaping symlinks report themselves.
fn entry_facts(dir: &Dir, entry: &cap_std::fs::DirEntry, name: &str) -> Option<FileFacts> {
    let own = FileFacts::from_metadata(&entry.metadata().ok()?);
    if own.kind != FileKind::Symlink {
        return Some(own);
    }
    Some(
        dir.metadata(name)
            .map(|m| FileFacts::from_metadata(&m))
            .unwrap_or(own),
    )
}
