//! What listings and MLST report about a file (RFC 3659 §7.5 facts; `unix.*` facts and
//! `LIST`'s `ls -l` columns), taken from cap-std metadata (which carries the full `stat`).

use std::time::SystemTime;

use cap_std::fs::{Metadata, MetadataExt};

/// What kind of object a path names (symlinks only where not resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// `stat` facts about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFacts {
    pub kind: FileKind,
    pub size: u64,
    pub mtime: SystemTime,
    /// Permission bits (0o7777).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
}

/// One listing entry: a UTF-8 name and its facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub facts: FileFacts,
}

impl FileFacts {
    pub(crate) fn from_metadata(m: &Metadata) -> FileFacts {
        let ft = m.file_type();
        let kind = if ft.is_dir() {
            FileKind::Dir
        } else if ft.is_file() {
            FileKind::File
        } else if ft.is_symlink() {
            FileKind::Symlink
        } else {
            FileKind::Other
        };
        FileFacts {
            kind,
            size: m.len(),
            mtime: m
                .modified()
                .map(|t| t.into_std())
                .unwrap_or(SystemTime::UNIX_EPOCH),
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            dev: m.dev(),
            ino: m.ino(),
            nlink: m.nlink(),
        }
    }
}
