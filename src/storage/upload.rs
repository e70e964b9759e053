//! Atomic uploads (RFC 959 STOR/APPE, RFC 3659 §5 REST STREAM): data goes to a hidden
//! temporary file in the target's directory and is renamed onto the final name only when
//! the transfer completes. A failed upload is kept as `.griddock-part.<name>` so a later
//! `REST n` + `STOR` can resume it; nothing ever appears under the final name half-written.

use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};
use tracing::debug;

use super::{StorageError, INTERNAL_PREFIX};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMode {
    /// STOR: a new file replaces any old one on success.
    Replace,
    /// REST n + STOR: continue from byte n of a partial upload or of the existing file.
    Resume(u64),
    /// APPE: the existing file's content followed by the new data.
    Append,
}

/// Longest file name most file systems accept.
const NAME_MAX: usize = 255;

#[derive(Debug)]
pub struct Upload {
    dir: Dir,
    file: std::fs::File,
    tmp: String,
    name: String,
    offset: u64,
    committed: bool,
}

impl Upload {
    pub(super) fn begin(dir: Dir, name: &str, mode: UploadMode) -> Result<Upload, StorageError> {
        match dir.metadata(name) {
            Ok(m) if m.is_dir() => return Err(StorageError::IsADirectory),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let offset = match mode {
            UploadMode::Replace => 0,
            UploadMode::Resume(n) => n,
            UploadMode::Append => dir.metadata(name).map(|m| m.len()).unwrap_or(0),
        };
        let tmp = temp_name();
        let file = if offset == 0 {
            create(&dir, &tmp)?
        } else {
            resume(&dir, name, &tmp, offset, mode == UploadMode::Append)?
        };
        Ok(Upload {
            dir,
            file,
            tmp,
            name: name.to_string(),
            offset,
            committed: false,
        })
    }

    pub fn file(&self) -> &std::fs::File {
        &self.file
    }

    /// Where the first received byte goes.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Renames the finished file into place (atomically replacing an older one).
    pub fn commit(mut self) -> Result<(), StorageError> {
        self.dir.rename(&self.tmp, &self.dir, &self.name)?;
        self.committed = true;
        let _ = self.dir.remove_file(part_name(&self.name));
        Ok(())
    }

    pub fn abort(self) {}

    fn keep_partial(&self) {
        let part = part_name(&self.name);
        let empty = self.file.metadata().map(|m| m.len() == 0).unwrap_or(true);
        if empty || part.len() > NAME_MAX || self.dir.rename(&self.tmp, &self.dir, &part).is_err() {
            let _ = self.dir.remove_file(&self.tmp);
        } else {
            debug!(name = %self.name, "partial upload kept for resume");
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

fn temp_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{INTERNAL_PREFIX}tmp.{:016x}{:08x}",
        rand::random::<u64>(),
        nanos as u32
    )
}

fn part_name(name: &str) -> String {
    format!("{INTERNAL_PREFIX}part.{name}")
}

fn create(dir: &Dir, tmp: &str) -> Result<std::fs::File, StorageError> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true).mode(0o644);
    Ok(dir.open_with(tmp, &opts)?.into_std())
}

/// Prepares a temp file holding exactly `offset` bytes: a claimed partial upload, or a
/// copy of the existing file's first `offset` bytes.
fn resume(
    dir: &Dir,
    name: &str,
    tmp: &str,
    offset: u64,
    append: bool,
) -> Result<std::fs::File, StorageError> {
    let part = part_name(name);
    let part_len = dir.metadata(&part).map(|m| m.len()).ok();
    if let Some(len) = part_len.filter(|l| !append && *l >= offset) {
        dir.rename(&part, dir, tmp)?;
        let mut opts = OpenOptions::new();
        opts.write(true);
        let file = dir.open_with(tmp, &opts)?.into_std();
        if len > offset {
            file.set_len(offset)?;
        }
        return Ok(file);
    }
    let existing = dir.metadata(name).map(|m| m.len()).ok();
    if existing.is_none_or(|len| len < offset) {
        return Err(StorageError::InvalidRestart);
    }
    let mut src = io::Read::take(dir.open(name)?.into_std(), offset);
    let mut dst = create(dir, tmp)?;
    let copied = io::copy(&mut src, &mut dst);
    if copied.as_ref().map_or(true, |n| *n != offset) {
        let _ = dir.remove_file(tmp);
        return Err(copied
            .err()
            .map_or(StorageError::InvalidRestart, StorageError::from));
    }
    Ok(dst)
}
