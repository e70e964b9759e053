//! [`DataRoot`]: a directory capability (cap-std `Dir`) every client operation goes
//! through (RFC 959 §5.3.1 pathnames are always taken relative to it). No method takes a
//! host path; all take a [`VPath`], and cap-std resolves it beneath the root (openat2
//! `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS` where available), so neither `..` nor a
//! symlink (absolute, relative, chained, or a symlinked directory) can reach outside.
//!
//! This file holds construction and the read side; `mutate.rs` the write side.

use std::path::Path;
use std::sync::Arc;

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};
use rustix::fs::OFlags;

use super::facts::{DirEntry, FileFacts, FileKind};
use super::vpath::check_name;
use super::{StorageError, VPath};

pub(super) type Result<T> = std::result::Result<T, StorageError>;

/// The served directory (or a user's part of it). Cheap to clone; `Send + Sync`. All
/// methods are blocking syscalls: async callers use `spawn_blocking`.
#[derive(Clone, Debug)]
pub struct DataRoot {
    pub(super) dir: Arc<Dir>,
    pub(super) writable: bool,
}

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

    /// A per-user root at `rel` below this one, created if absent (and this root is
    /// writable). `rel` is confined like any client path; the result is never more
    /// writable than `self`.
    pub fn sub_root(&self, rel: &str, writable: bool) -> Result<DataRoot> {
        let p = VPath::root().resolve(rel)?;
        let writable = self.writable && writable;
        if p.is_root() {
            return Ok(DataRoot {
                dir: Arc::clone(&self.dir),
                writable,
            });
        }
        let dir = match self.dir.open_dir(p.relative()) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.writable => {
                self.dir.create_dir_all(p.relative())?;
                self.dir.open_dir(p.relative())?
            }
            opened => opened?,
        };
        Ok(DataRoot {
            dir: Arc::new(dir),
            writable,
        })
    }

    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Facts about `p`, following symlinks that stay inside the root.
    pub fn stat(&self, p: &VPath) -> Result<FileFacts> {
        Ok(FileFacts::from_metadata(&self.dir.metadata(p.relative())?))
    }

    /// The entries of directory `p`, sorted by name. Internal files, non-UTF-8 names and
    /// names a client could not address are left out; an entry that cannot be examined
    /// (vanished meanwhile) is skipped rather than failing the listing.
    pub fn list(&self, p: &VPath) -> Result<Vec<DirEntry>> {
        let dir = self.dir.open_dir(p.relative())?;
        let mut out = Vec::new();
        for entry in dir.entries()? {
            match entry {
                Ok(entry) => out.extend(listed(&dir, &entry)),
                Err(e) => tracing::warn!(path = %p, error = %e, "directory entry skipped"),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// (used, available) bytes of the file system holding the root (statvfs), as
    /// RFC 4331 quota properties report them.
    pub fn space(&self) -> Result<(u64, u64)> {
        let st = rustix::fs::fstatvfs(&*self.dir).map_err(std::io::Error::from)?;
        let frsize = st.f_frsize;
        let used = st
            .f_blocks
            .saturating_sub(st.f_bfree)
            .saturating_mul(frsize);
        Ok((used, st.f_bavail.saturating_mul(frsize)))
    }

    /// Opens a regular file for reading (directories: `IsADirectory`; anything else that
    /// is not a regular file: `PermissionDenied`).
    pub fn open_read(&self, p: &VPath) -> Result<std::fs::File> {
        open_regular(&self.dir, p.relative())
    }

    /// Bytes in the resumable part file of an upload of `p` (`.griddock-part.<name>`, as
    /// `REST n` + STOR or the browser page's chunked upload resume from), `None` without
    /// one. Only a plain, singly linked regular file counts, as `resume.rs` claims it.
    pub fn part_len(&self, p: &VPath) -> Result<Option<u64>> {
        use cap_std::fs::MetadataExt as _;
        let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else {
            return Ok(None);
        };
        let Some(part) = super::names::part_name(name) else {
            return Ok(None);
        };
        // Not through `VPath::join`: that refuses griddock's own (reserved) names.
        let rel = match parent.relative() {
            "." => part,
            dir => format!("{dir}/{part}"),
        };
        match self.dir.symlink_metadata(&rel) {
            Ok(m) if m.is_file() && m.nlink() == 1 => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Opens `rel` read-only if it is a regular file.
pub(super) fn open_regular(dir: &Dir, rel: &str) -> Result<std::fs::File> {
    let mut opts = OpenOptions::new();
    // SECURITY: O_NONBLOCK so a FIFO planted in the data directory cannot park a worker
    // thread in open(2); cleared again below once we know it is a regular file.
    opts.read(true).custom_flags(OFlags::NONBLOCK.bits() as i32);
    let file = dir.open_with(rel, &opts)?.into_std();
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(StorageError::IsADirectory);
    }
    if !meta.is_file() {
        return Err(StorageError::PermissionDenied);
    }
    clear_nonblock(&file)?;
    Ok(file)
}

/// Back to blocking mode once a file is known to be regular (where O_NONBLOCK is moot,
/// but callers should not have to know).
pub(super) fn clear_nonblock(file: &std::fs::File) -> std::io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(file)?;
    Ok(rustix::fs::fcntl_setfl(file, flags - OFlags::NONBLOCK)?)
}

/// One listing entry, or `None` when it is not to be shown.
fn listed(dir: &Dir, entry: &cap_std::fs::DirEntry) -> Option<DirEntry> {
    let name = entry.file_name().into_string().ok()?;
    // SECURITY: internal files (and names `VPath` would refuse) are never shown.
    check_name(&name).ok()?;
    let facts = entry_facts(dir, entry, &name)?;
    Some(DirEntry { name, facts })
}

/// Facts for one listing entry: symlinks that resolve inside the root report their
/// target; broken, looping or escaping symlinks report themselves (lstat).
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
