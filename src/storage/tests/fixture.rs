//! A served root next to a "secret" directory outside it, with symlinks planted inside
//! that lead out, plus helpers to snapshot a tree and compare it before/after.

use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::storage::{DataRoot, VPath};

/// Content of the file outside the root; no file inside may ever contain `MARK`.
pub const SECRET: &[u8] = b"S3CR3T-0123456789";
pub const MARK: &[u8] = b"S3CR";

pub struct Fixture {
    _tmp: tempfile::TempDir,
    /// Holds `secret/` (outside) and `root/` (served).
    pub base: PathBuf,
    pub root_path: PathBuf,
    pub root: DataRoot,
}

impl Fixture {
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root_path.join(rel)
    }

    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(rel)).ok()
    }
}

/// ```text
/// base/secret/{passwd, sub/inner}                     outside
/// base/root/pub/{file.txt, deep/, inside -> file.txt} served
/// base/root/abs -> base/secret        rel -> ../secret     chain -> rel   chain2 -> chain
/// base/root/absfile -> base/secret/passwd   relfile -> ../secret/passwd   chainfile -> relfile
/// base/root/pub/up2 -> ../../secret   pub/sidedoor -> ../rel
/// base/root/rootlink -> /   dotdot -> ..   loop1 -> loop2 -> loop1
/// ```
pub fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().to_path_buf();
    std::fs::create_dir_all(base.join("secret/sub")).unwrap();
    std::fs::write(base.join("secret/passwd"), SECRET).unwrap();
    std::fs::write(base.join("secret/sub/inner"), SECRET).unwrap();
    let r = base.join("root");
    std::fs::create_dir_all(r.join("pub/deep")).unwrap();
    std::fs::write(r.join("pub/file.txt"), b"public").unwrap();
    let links: [(PathBuf, &str); 15] = [
        (base.join("secret"), "abs"),
        ("../secret".into(), "rel"),
        ("rel".into(), "chain"),
        ("chain".into(), "chain2"),
        (base.join("secret/passwd"), "absfile"),
        ("../secret/passwd".into(), "relfile"),
        ("relfile".into(), "chainfile"),
        ("../../secret".into(), "pub/up2"),
        ("../rel".into(), "pub/sidedoor"),
        ("file.txt".into(), "pub/inside"),
        ("/".into(), "rootlink"),
        ("..".into(), "dotdot"),
        ("loop2".into(), "loop1"),
        ("loop1".into(), "loop2"),
        ("nowhere".into(), "broken"),
    ];
    for (target, link) in links {
        symlink(target, r.join(link)).unwrap();
    }
    let root = DataRoot::open(&r).unwrap();
    Fixture {
        _tmp: tmp,
        base,
        root_path: r,
        root,
    }
}

pub fn vp(s: &str) -> VPath {
    VPath::root().resolve(s).unwrap()
}

/// What a snapshot records per path (never following symlinks; atime excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: &'static str,
    pub len: u64,
    pub mtime: SystemTime,
    pub mode: u32,
    pub ino: u64,
    pub nlink: u64,
    pub content: Vec<u8>,
}

/// Every path under `top` (and `top` itself), skipping the subtree at `skip`.
pub fn snapshot(top: &Path, skip: Option<&Path>) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![top.to_path_buf()];
    while let Some(p) = stack.pop() {
        if Some(p.as_path()) == skip {
            continue;
        }
        let m = std::fs::symlink_metadata(&p).unwrap();
        let (kind, content) = if m.is_symlink() {
            let t = std::fs::read_link(&p).unwrap();
            ("link", t.into_os_string().into_encoded_bytes())
        } else if m.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
            ("dir", Vec::new())
        } else {
            ("file", std::fs::read(&p).unwrap())
        };
        let node = Node {
            kind,
            len: m.len(),
            mtime: m.modified().unwrap(),
            mode: m.mode(),
            ino: m.ino(),
            nlink: m.nlink(),
            content,
        };
        out.insert(p, node);
    }
    out
}

/// Everything outside the served root.
pub fn outside(fx: &Fixture) -> BTreeMap<PathBuf, Node> {
    snapshot(&fx.base, Some(&fx.root_path))
}

/// Paths of regular files inside the root whose content contains `MARK`.
pub fn leaked_inside(fx: &Fixture) -> Vec<PathBuf> {
    snapshot(&fx.root_path, None)
        .into_iter()
        .filter(|(_, n)| n.kind == "file" && n.content.windows(MARK.len()).any(|w| w == MARK))
        .map(|(p, _)| p)
        .collect()
}

/// Names in a directory on disk (including hidden internal files).
pub fn names_on_disk(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}
