//! Atomic uploads (RFC 959 §4.1.3 STOR/APPE, RFC 3659 §5 REST STREAM restarts).
//!
//! Data goes to a hidden temporary file `.griddock-tmp.<random hex>.<name>` in the target's
//! directory and is renamed onto the final name only by [`Upload::commit`]. An upload that
//! fails, is aborted or dropped keeps what it received as `.griddock-part.<name>`, which a
//! later `REST n` + `STOR` resumes (`resume.rs`). Nothing ever appears under the final name
//! half-written, and readers of the old file see it whole until the rename.

use std::io::{Seek, SeekFrom};

use cap_std::fs::{Dir, Metadata};
use tracing::{debug, warn};

use super::names::part_name;
use super::resume::{self, Prepared};
use super::root::Result;
use super::sweep;
use super::StorageError;

/// How an upload relates to what is already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMode {
    /// STOR: a new file replaces any old one on commit.
    Replace,
    /// REST n + STOR: continue at byte n of the part file left by a failed upload, or of
    /// the existing file; `Resume(0)` with neither is a plain `Replace`.
    Resume(u64),
    /// APPE: the existing file's content (if any) followed by the new data.
    Append,
}

/// An upload in progress. Write through [`Upload::file`] starting at [`Upload::offset`]
/// (the file is positioned there; positional writes work too), then [`Upload::commit`].
/// Dropping it without commit is [`Upload::abort`].
#[derive(Debug)]
pub struct Upload {
    dir: Dir,
    file: std::fs::File,
    tmp: String,
    name: String,
    offset: u64,
    committed: bool,
    /// Unregistered after `Drop` has renamed or removed the file (fields drop last).
    _live: sweep::Live,
}

impl Upload {
    /// Prepares the temporary file for `name` in `dir` (the target's directory).
    pub(super) fn begin(dir: Dir, name: &str, mode: UploadMode) -> Result<Upload> {
        let final_len = final_len(&dir, name)?;
        // The stale-upload sweep must not see the file between creation (or claiming a
        // part file) and registration.
        let preparing = sweep::preparing();
        let Prepared { tmp, file, offset } = match mode {
            UploadMode::Replace => resume::fresh(&dir, name)?,
            UploadMode::Resume(n) => resume::resume(&dir, name, n, final_len)?,
            UploadMode::Append => resume::append(&dir, name, final_len)?,
        };
        let live = sweep::Live::register(&file);
        drop(preparing);
        let upload = Upload {
            dir,
            file,
            tmp,
            name: name.to_string(),
            offset,
            committed: false,
            _live: live,
        };
        (&upload.file).seek(SeekFrom::Start(offset))?;
        Ok(upload)
    }

    pub fn file(&self) -> &std::fs::File {
        &self.file
    }

    /// Where the first received byte goes.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Renames the finished file onto the final name (atomically replacing an older
    /// file or symlink there). On failure the data is kept as the part file.
    pub fn commit(mut self) -> Result<()> {
        self.dir.rename(&self.tmp, &self.dir, &self.name)?;
        self.committed = true;
        // A part file from an earlier failed upload is stale now.
        if let Some(part) = part_name(&self.name) {
            if let Err(e) = self.dir.remove_file(&part) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    debug!(name = %self.name, error = %e, "stale part file not removed");
                }
            }
        }
        Ok(())
    }

    /// Gives up; what was received so far stays resumable as the part file.
    pub fn abort(self) {}

    /// Gives up and removes what was received: a partial that cannot be resumed (after
    /// ENOSPC keeping it would keep the disk full; WebDAV PUT has no restarts).
    pub fn discard(mut self) {
        self.remove_tmp();
        // Nothing left to keep: Drop must not look for the temporary file again.
        self.committed = true;
    }

    /// Renames the temporary file onto the part file (replacing an older one); an empty
    /// or unnameable one is just removed.
    fn keep_partial(&self) {
        let len = self.file.metadata().map(|m| m.len()).unwrap_or(0);
        if len > 0 && self.rename_to_part(len) {
            return;
        }
        self.remove_tmp();
    }

    /// True when the temporary file now is the part file.
    fn rename_to_part(&self, len: u64) -> bool {
        let Some(part) = part_name(&self.name) else {
            debug!(name = %self.name, "name too long for a part file; partial upload discarded");
            return false;
        };
        match self.dir.rename(&self.tmp, &self.dir, &part) {
            Ok(()) => {
                debug!(name = %self.name, bytes = len, "partial upload kept for resume");
                true
            }
            Err(e) => {
                warn!(name = %self.name, error = %e, "partial upload discarded");
                false
            }
        }
    }

    fn remove_tmp(&self) {
        if let Err(e) = self.dir.remove_file(&self.tmp) {
            warn!(tmp = %self.tmp, error = %e, "temporary upload file not removed");
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.committed {
            self.keep_partial();
        }
    }
}

/// Length of the regular file already under the final name, `None` if there is none.
/// A directory there is refused (`IsADirectory`); an escaping symlink fails the lookup.
fn final_len(dir: &Dir, name: &str) -> Result<Option<u64>> {
    match dir.metadata(name) {
        Ok(m) => regular_len(&m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn regular_len(m: &Metadata) -> Result<Option<u64>> {
    if m.is_dir() {
        Err(StorageError::IsADirectory)
    } else {
        Ok(m.is_file().then(|| m.len()))
    }
}
