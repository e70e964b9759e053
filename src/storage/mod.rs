//! `DataRoot`: the only way any protocol touches the disk (RFC 959 §5.3.1 pathnames,
//! resolved beneath a root). Client paths are normalised lexically into a [`VPath`], then
//! opened through cap-std, which confines every lookup (openat2 `RESOLVE_BENEATH` where
//! available) so `..`, absolute paths and symlinks cannot leave the root. Uploads are
//! atomic: a hidden temporary file renamed into place on success.

mod facts;
mod root;
mod upload;
mod vpath;

pub use facts::{DirEntry, FileFacts, FileKind};
pub use root::DataRoot;
pub use upload::{Upload, UploadMode};
pub use vpath::VPath;

use std::io;

/// Prefix of griddock's own files in the data directory (temporary and partial uploads):
/// hidden from listings and refused as client path components.
pub const INTERNAL_PREFIX: &str = ".griddock-";

/// Storage failures; the `Display` texts are what FTP replies carry (gfal2 maps them to
/// errno, so keep the wording).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("No such file or directory")]
    NotFound,
    #[error("Permission denied")]
    PermissionDenied,
    #[error("Permission denied (read-only access)")]
    ReadOnly,
    #[error("File exists")]
    AlreadyExists,
    #[error("Not a directory")]
    NotADirectory,
    #[error("Is a directory")]
    IsADirectory,
    #[error("Directory not empty")]
    DirectoryNotEmpty,
    #[error("Invalid path: {0}")]
    InvalidPath(&'static str),
    #[error("Invalid restart offset")]
    InvalidRestart,
    #[error("No space left on device / Disk quota exceeded")]
    NoSpace,
    #[error("I/O error: {0}")]
    Io(io::Error),
}

impl StorageError {
    pub fn from_io(e: io::Error) -> StorageError {
        use rustix::io::Errno;
        if let Some(code) = e.raw_os_error() {
            let errno = Errno::from_raw_os_error(code);
            let mapped = match errno {
                Errno::NOENT => Some(StorageError::NotFound),
                Errno::ACCESS | Errno::PERM | Errno::LOOP | Errno::XDEV | Errno::ROFS => {
                    Some(StorageError::PermissionDenied)
                }
                Errno::EXIST => Some(StorageError::AlreadyExists),
                Errno::NOTDIR => Some(StorageError::NotADirectory),
                Errno::ISDIR => Some(StorageError::IsADirectory),
                Errno::NOTEMPTY => Some(StorageError::DirectoryNotEmpty),
                Errno::NOSPC | Errno::DQUOT => Some(StorageError::NoSpace),
                Errno::NAMETOOLONG => Some(StorageError::InvalidPath("name too long")),
                _ => None,
            };
            if let Some(m) = mapped {
                return m;
            }
        }
        match e.kind() {
            io::ErrorKind::NotFound => StorageError::NotFound,
            // cap-std reports escape attempts as PermissionDenied without an errno.
            io::ErrorKind::PermissionDenied => StorageError::PermissionDenied,
            io::ErrorKind::AlreadyExists => StorageError::AlreadyExists,
            _ => StorageError::Io(e),
        }
    }
}

impl From<io::Error> for StorageError {
    fn from(e: io::Error) -> Self {
        StorageError::from_io(e)
    }
}

#[cfg(test)]
mod tests;
