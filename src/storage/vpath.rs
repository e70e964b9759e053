//! Virtual paths as the client sees them (RFC 959 §5.3.1, RFC 3659 §6 TVFS): always
//! absolute, `/`-separated, normalised. `..` at the root stays at the root. This is only
//! the client's view; confinement on disk is cap-std's job in `DataRoot`.

use std::fmt;

use super::{StorageError, INTERNAL_PREFIX};

/// Longest accepted virtual path (bytes), well under PATH_MAX.
const MAX_PATH: usize = 4000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VPath(String);

impl VPath {
    pub fn root() -> VPath {
        VPath("/".into())
    }

    /// Resolves a client argument against `self` (the working directory).
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
                    // SECURITY: griddock's temporary and partial upload files are not
                    // addressable by clients.
                    if name.starts_with(INTERNAL_PREFIX) {
                        return Err(StorageError::InvalidPath("reserved name"));
                    }
                    // SECURITY: a backslash is a separator to Windows clients; a name
                    // like `..\x` would make them write outside their target directory.
                    if name.contains('\\') {
                        return Err(StorageError::InvalidPath("backslash in name"));
                    }
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
        let cut = self.0.rfind('/').unwrap_or(0);
        Some(if cut == 0 {
            VPath::root()
        } else {
            VPath(self.0[..cut].to_string())
        })
    }

    pub fn file_name(&self) -> Option<&str> {
        self.components().last()
    }

    fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// The path relative to the root, as cap-std wants it ("." for the root).
    pub(crate) fn relative(&self) -> &str {
        if self.is_root() {
            "."
        } else {
            &self.0[1..]
        }
    }
}

impl fmt::Display for VPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(cwd: &str) -> VPath {
        VPath::root().resolve(cwd).unwrap()
    }

    #[test]
    fn resolution_table() {
        let cases = [
            ("/", "a", "/a"),
            ("/", "/a/b", "/a/b"),
            ("/a", "b", "/a/b"),
            ("/a", "./b/./c", "/a/b/c"),
            ("/a", "..", "/"),
            ("/a", "../..", "/"),
            ("/", "..", "/"),
            ("/", "../../../etc/passwd", "/etc/passwd"),
            ("/a/b", "/../x", "/x"),
            ("/a", "b//c/", "/a/b/c"),
            ("/a", "", "/a"),
            ("/a", ".", "/a"),
            ("/a", "/", "/"),
            ("/a", "...", "/a/..."),
            ("/a", "%2e%2e", "/a/%2e%2e"),
            ("/a/b/c", "../../d", "/a/d"),
            ("/", "a b/c d", "/a b/c d"),
            ("/", "ünï/ß", "/ünï/ß"),
            ("/", ".hidden", "/.hidden"),
            ("/", "x/..", "/"),
            ("/", "x/../..", "/"),
            ("/", "////", "/"),
            ("/a", "./", "/a"),
            ("/", ".griddock", "/.griddock"),
        ];
        for (cwd, arg, want) in cases {
            assert_eq!(
                at(cwd).resolve(arg).unwrap().as_str(),
                want,
                "{cwd} + {arg}"
            );
        }
    }

    #[test]
    fn refusals() {
        let root = VPath::root();
        assert!(matches!(
            root.resolve("a\0b"),
            Err(StorageError::InvalidPath(_))
        ));
        assert!(matches!(
            root.resolve(".griddock-part.x"),
            Err(StorageError::InvalidPath(_))
        ));
        assert!(matches!(
            root.resolve("d/.griddock-tmp.1/x"),
            Err(StorageError::InvalidPath(_))
        ));
        assert!(matches!(
            root.resolve(&"a/".repeat(3000)),
            Err(StorageError::InvalidPath(_))
        ));
        assert!(root.join("a/b").is_err() && root.join("..").is_err() && root.join("").is_err());
    }

    #[test]
    fn parent_and_name() {
        assert_eq!(at("/a/b").parent().unwrap().as_str(), "/a");
        assert_eq!(at("/a").parent().unwrap().as_str(), "/");
        assert!(VPath::root().parent().is_none());
        assert_eq!(at("/a/b").file_name(), Some("b"));
        assert_eq!(VPath::root().file_name(), None);
        assert_eq!(at("/a/b").relative(), "a/b");
        assert_eq!(VPath::root().relative(), ".");
    }
}
