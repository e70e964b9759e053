//! Virtual paths as the client sees them (RFC 959 §5.3.1 pathnames, RFC 3659 §6 TVFS):
//! always absolute, `/`-separated, normalised, UTF-8. `..` at the root stays at the root.
//!
//! This is only the client's view and the place where names griddock will never serve are
//! refused. Confinement on disk is cap-std's job in `DataRoot`; nothing here is relied on
//! to keep a path inside the root.

use std::fmt;

use super::names::NAME_MAX;
use super::{StorageError, INTERNAL_PREFIX};

/// Longest accepted virtual path (bytes), under PATH_MAX with room for the root's own path.
const MAX_PATH: usize = 4000;

/// A normalised absolute virtual path: `/` or `/a/b`; never `""`, `.` or `..` components.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VPath(String);

impl VPath {
    pub fn root() -> VPath {
        VPath("/".into())
    }

    /// Resolves a client argument against `self` (the working directory): absolute
    /// arguments start again from `/`, `.` and empty components vanish, `..` pops one
    /// component (and is a no-op at `/`).
    pub fn resolve(&self, arg: &str) -> Result<VPath, StorageError> {
        if arg.contains('\0') {
            return Err(StorageError::InvalidPath("NUL byte"));
        }
        let mut parts: Vec<&str> = if arg.starts_with('/') {
            Vec::new()
        } else {
            self.components().collect()
        };
        for comp in arg.split('/') {
            match comp {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                name => {
                    check_name(name)?;
                    parts.push(name);
                }
            }
        }
        let path = format!("/{}", parts.join("/"));
        if path.len() > MAX_PATH {
            return Err(StorageError::InvalidPath("path too long"));
        }
        Ok(VPath(path))
    }

    /// `self/name` for a single file name (no `/`, not `.` or `..`).
    pub fn join(&self, name: &str) -> Result<VPath, StorageError> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(StorageError::InvalidPath("not a file name"));
        }
        self.resolve(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    pub fn parent(&self) -> Option<VPath> {
        if self.is_root() {
            return None;
        }
        match self.0.rfind('/') {
            Some(0) | None => Some(VPath::root()),
            Some(cut) => Some(VPath(self.0[..cut].to_string())),
        }
    }

    pub fn file_name(&self) -> Option<&str> {
        self.components().last()
    }

    /// True when `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &VPath) -> bool {
        other.is_root()
            || self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }

    fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// The path relative to the root, as cap-std wants it (`.` for the root).
    pub(crate) fn relative(&self) -> &str {
        if self.is_root() {
            "."
        } else {
            &self.0[1..]
        }
    }
}

/// Refuses names griddock never serves (one path component, already split on `/`).
pub(crate) fn check_name(name: &str) -> Result<(), StorageError> {
    // SECURITY: griddock's temporary and partial upload files are not addressable by
    // clients, as any component: they could otherwise read, replace or plant another
    // session's half-written upload.
    if name.starts_with(INTERNAL_PREFIX) {
        return Err(StorageError::InvalidPath("reserved name"));
    }
    // SECURITY: a backslash is a separator to Windows clients; a name like `..\x` would
    // make them write outside their target directory when they mirror us.
    if name.contains('\\') {
        return Err(StorageError::InvalidPath("backslash in name"));
    }
    // SECURITY: line breaks in names would forge lines in listings and multi-line replies.
    if name.contains(['\r', '\n']) {
        return Err(StorageError::InvalidPath("line break in name"));
    }
    if name.len() > NAME_MAX {
        return Err(StorageError::InvalidPath("name too long"));
    }
    Ok(())
}

impl fmt::Display for VPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
