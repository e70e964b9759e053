//! [`StorageError`]: what can go wrong on disk, in errno terms. The `Display` texts are
//! carried verbatim in FTP replies (RFC 959 §4.2, 550/552/554/451), and gfal2 maps reply
//! text back to errno by these words, so keep them.

use std::io;

use rustix::io::Errno;

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
    /// ENOSPC (the text keeps "Disk quota exceeded", which gfal2 maps to an errno).
    #[error("No space left on device / Disk quota exceeded")]
    NoSpace,
    /// EDQUOT: the user's or project's quota, not the device.
    #[error("Disk quota exceeded")]
    QuotaExceeded,
    /// EFBIG: beyond the largest file the file system (or `max_file_size`) allows.
    #[error("File too large")]
    FileTooLarge,
    /// Anything else; the cause stays available through `source()` for logs, the reply
    /// text does not carry it.
    #[error("I/O error")]
    Io(#[source] io::Error),
}

impl StorageError {
    /// A full device or quota: what was written so far cannot be resumed in place and
    /// only keeps the space taken.
    pub fn is_full(&self) -> bool {
        matches!(self, StorageError::NoSpace | StorageError::QuotaExceeded)
    }

    /// Whether `e` (from a transfer, which reads sockets and files) is the file system's:
    /// a full device or quota, an I/O error, a file too large, a read-only file system.
    /// Sockets never fail with these.
    pub fn is_disk_error(e: &io::Error) -> bool {
        let Some(code) = e.raw_os_error() else {
            return false;
        };
        matches!(
            Errno::from_raw_os_error(code),
            Errno::NOSPC | Errno::DQUOT | Errno::IO | Errno::FBIG | Errno::ROFS
        )
    }

    /// Maps an I/O error to the storage error a client should see. Escape attempts that
    /// cap-std refuses arrive as `PermissionDenied` without an errno.
    pub fn from_io(e: io::Error) -> StorageError {
        if let Some(mapped) = e.raw_os_error().and_then(from_errno) {
            return mapped;
        }
        match e.kind() {
            io::ErrorKind::NotFound => StorageError::NotFound,
            io::ErrorKind::PermissionDenied => StorageError::PermissionDenied,
            io::ErrorKind::AlreadyExists => StorageError::AlreadyExists,
            io::ErrorKind::NotADirectory => StorageError::NotADirectory,
            io::ErrorKind::IsADirectory => StorageError::IsADirectory,
            io::ErrorKind::DirectoryNotEmpty => StorageError::DirectoryNotEmpty,
            io::ErrorKind::ReadOnlyFilesystem => StorageError::ReadOnly,
            io::ErrorKind::StorageFull => StorageError::NoSpace,
            io::ErrorKind::QuotaExceeded => StorageError::QuotaExceeded,
            io::ErrorKind::CrossesDevices => StorageError::PermissionDenied,
            _ => StorageError::Io(e),
        }
    }
}

/// errno → storage error, for the codes whose `ErrorKind` is missing or too coarse.
fn from_errno(code: i32) -> Option<StorageError> {
    Some(match Errno::from_raw_os_error(code) {
        Errno::NOENT => StorageError::NotFound,
        Errno::ACCESS | Errno::PERM => StorageError::PermissionDenied,
        // SECURITY: ELOOP comes from symlink loops and from O_NOFOLLOW meeting a symlink;
        // EXDEV from RESOLVE_BENEATH refusing an escape (cap-std normally rewrites that) or
        // from a rename across mounts. All are permanent refusals, never "retry later".
        Errno::LOOP | Errno::XDEV => StorageError::PermissionDenied,
        Errno::ROFS => StorageError::ReadOnly,
        Errno::EXIST => StorageError::AlreadyExists,
        Errno::NOTDIR => StorageError::NotADirectory,
        Errno::ISDIR => StorageError::IsADirectory,
        Errno::NOTEMPTY => StorageError::DirectoryNotEmpty,
        Errno::NOSPC => StorageError::NoSpace,
        Errno::DQUOT => StorageError::QuotaExceeded,
        Errno::FBIG => StorageError::FileTooLarge,
        Errno::NAMETOOLONG => StorageError::InvalidPath("name too long"),
        _ => return None,
    })
}

impl From<io::Error> for StorageError {
    fn from(e: io::Error) -> Self {
        StorageError::from_io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_texts_are_the_contract_words() {
        let cases: [(StorageError, &str); 11] = [
            (StorageError::NotFound, "No such file or directory"),
            (StorageError::PermissionDenied, "Permission denied"),
            (
                StorageError::ReadOnly,
                "Permission denied (read-only access)",
            ),
            (StorageError::AlreadyExists, "File exists"),
            (StorageError::NotADirectory, "Not a directory"),
            (StorageError::IsADirectory, "Is a directory"),
            (StorageError::DirectoryNotEmpty, "Directory not empty"),
            (
                StorageError::InvalidPath("NUL byte"),
                "Invalid path: NUL byte",
            ),
            (StorageError::InvalidRestart, "Invalid restart offset"),
            (
                StorageError::NoSpace,
                "No space left on device / Disk quota exceeded",
            ),
            (
                StorageError::Io(io::Error::other("disk on fire")),
                "I/O error",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
    }

    fn errno(e: Errno) -> StorageError {
        StorageError::from_io(io::Error::from_raw_os_error(e.raw_os_error()))
    }

    #[test]
    fn errno_mapping() {
        use StorageError as S;
        assert!(matches!(errno(Errno::NOENT), S::NotFound));
        assert!(matches!(errno(Errno::ACCESS), S::PermissionDenied));
        assert!(matches!(errno(Errno::PERM), S::PermissionDenied));
        assert!(matches!(errno(Errno::LOOP), S::PermissionDenied));
        assert!(matches!(errno(Errno::XDEV), S::PermissionDenied));
        assert!(matches!(errno(Errno::ROFS), S::ReadOnly));
        assert!(matches!(errno(Errno::EXIST), S::AlreadyExists));
        assert!(matches!(errno(Errno::NOTDIR), S::NotADirectory));
        assert!(matches!(errno(Errno::ISDIR), S::IsADirectory));
        assert!(matches!(errno(Errno::NOTEMPTY), S::DirectoryNotEmpty));
        assert!(matches!(errno(Errno::NOSPC), S::NoSpace));
        assert!(matches!(errno(Errno::DQUOT), S::QuotaExceeded));
        assert!(matches!(errno(Errno::NAMETOOLONG), S::InvalidPath(_)));
        assert!(matches!(errno(Errno::IO), S::Io(_)));
    }

    #[test]
    fn kind_mapping_without_errno() {
        use io::ErrorKind as K;
        use StorageError as S;
        let kind = |k: K| StorageError::from_io(io::Error::new(k, "x"));
        assert!(matches!(kind(K::NotFound), S::NotFound));
        // cap-std's escape refusal: PermissionDenied, no errno.
        assert!(matches!(kind(K::PermissionDenied), S::PermissionDenied));
        assert!(matches!(kind(K::AlreadyExists), S::AlreadyExists));
        assert!(matches!(kind(K::NotADirectory), S::NotADirectory));
        assert!(matches!(kind(K::IsADirectory), S::IsADirectory));
        assert!(matches!(kind(K::DirectoryNotEmpty), S::DirectoryNotEmpty));
        assert!(matches!(kind(K::StorageFull), S::NoSpace));
        assert!(matches!(kind(K::QuotaExceeded), S::QuotaExceeded));
        assert!(matches!(kind(K::ReadOnlyFilesystem), S::ReadOnly));
        assert!(matches!(kind(K::UnexpectedEof), S::Io(_)));
        let e = kind(K::Other);
        assert!(
            std::error::Error::source(&e).is_some(),
            "cause kept for logs"
        );
    }
}
