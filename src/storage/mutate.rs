//! The write side of [`DataRoot`] (RFC 959 MKD RMD DELE RNFR/RNTO STOR/APPE, RFC 3659
//! MFMT-style mtime, SITE CHMOD). Every method refuses on a read-only root first, then
//! lets cap-std resolve the path beneath the root.

use std::time::SystemTime;

use cap_std::fs::{Permissions, PermissionsExt};

use super::root::{DataRoot, Result};
use super::upload::{Upload, UploadMode};
use super::{StorageError, VPath};

impl DataRoot {
    fn check_writable(&self) -> Result<()> {
        // SECURITY: defence in depth behind the session's permission check: a read-only
        // principal's root refuses every mutation even if a verb forgets to ask.
        if self.writable {
            Ok(())
        } else {
            Err(StorageError::ReadOnly)
        }
    }

    pub fn create_dir(&self, p: &VPath) -> Result<()> {
        self.check_writable()?;
        Ok(self.dir.create_dir(p.relative())?)
    }

    /// Removes an empty directory; never the root itself.
    pub fn remove_dir(&self, p: &VPath) -> Result<()> {
        self.check_writable()?;
        if p.is_root() {
            return Err(StorageError::PermissionDenied);
        }
        Ok(self.dir.remove_dir(p.relative())?)
    }

    /// Removes a file or a symlink (the link itself, never its target), and with it the
    /// resumable part file of a failed upload of that name; a name that only has a part
    /// file left removes the part (the user's way to give its space back).
    pub fn remove_file(&self, p: &VPath) -> Result<()> {
        self.check_writable()?;
        let removed_part = self.remove_part(p)?;
        match self.dir.symlink_metadata(p.relative()) {
            Ok(m) if m.is_dir() => return Err(StorageError::IsADirectory),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && removed_part => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        Ok(self.dir.remove_file(p.relative())?)
    }

    /// Removes `.griddock-part.<name>` beside `p`; true when there was one.
    fn remove_part(&self, p: &VPath) -> Result<bool> {
        let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else {
            return Ok(false);
        };
        let Some(part) = super::names::part_name(name) else {
            return Ok(false);
        };
        // Not through `VPath::join`: that refuses griddock's own (reserved) names.
        let rel = match parent.relative() {
            "" | "." => part,
            dir => format!("{dir}/{part}"),
        };
        match self.dir.remove_file(&rel) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a directory and everything below it (RFC 4918 §9.6.1 DELETE of a
    /// collection); never the root. Symlinks inside are removed, never followed.
    pub fn remove_tree(&self, p: &VPath) -> Result<()> {
        self.check_writable()?;
        if p.is_root() {
            return Err(StorageError::PermissionDenied);
        }
        // SECURITY: only a real directory is descended into; a symlink to one is removed
        // as a link (cap-std's remove_dir_all does not follow links below either).
        let meta = self.dir.symlink_metadata(p.relative())?;
        if !meta.is_dir() {
            return Err(StorageError::NotADirectory);
        }
        Ok(self.dir.remove_dir_all(p.relative())?)
    }

    /// Renames within the root (renameat: a symlink is moved, not followed).
    pub fn rename(&self, from: &VPath, to: &VPath) -> Result<()> {
        self.check_writable()?;
        if from.is_root() || to.is_root() {
            return Err(StorageError::PermissionDenied);
        }
        if to.starts_with(from) && to != from {
            return Err(StorageError::InvalidPath(
                "cannot move a directory into itself",
            ));
        }
        Ok(self.dir.rename(from.relative(), &self.dir, to.relative())?)
    }

    /// Sets the modification time, before 1970 too (symlinks inside the root are
    /// followed; see `times.rs`).
    pub fn set_mtime(&self, p: &VPath, t: SystemTime) -> Result<()> {
        self.check_writable()?;
        Ok(super::times::set_mtime(&self.dir, p.relative(), t)?)
    }

    /// Sets permission bits, masked to 0o777.
    pub fn chmod(&self, p: &VPath, mode: u32) -> Result<()> {
        self.check_writable()?;
        // SECURITY: only rwx bits; a client can never create setuid/setgid/sticky files.
        let perm = Permissions::from_mode(mode & 0o777);
        Ok(self.dir.set_permissions(p.relative(), perm)?)
    }

    /// Starts an atomic upload to `p` (see [`Upload`]).
    pub fn begin_upload(&self, p: &VPath, mode: UploadMode) -> Result<Upload> {
        self.check_writable()?;
        let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else {
            return Err(StorageError::IsADirectory);
        };
        let dir = self.dir.open_dir(parent.relative())?;
        Upload::begin(dir, name, mode)
    }
}
