//! DataRoot confinement and upload atomicity, on real directories.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::*;

struct Fixture {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    root: DataRoot,
}

/// base/secret/passwd outside; base/root served, with symlinks planted that point out.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().to_path_buf();
    std::fs::create_dir_all(base.join("secret/sub")).unwrap();
    std::fs::write(base.join("secret/passwd"), b"TOPSECRET").unwrap();
    let r = base.join("root");
    std::fs::create_dir_all(r.join("pub/deep")).unwrap();
    std::fs::write(r.join("pub/file.txt"), b"public").unwrap();
    symlink(base.join("secret"), r.join("abs")).unwrap();
    symlink("../secret", r.join("rel")).unwrap();
    symlink("rel", r.join("chain")).unwrap();
    symlink(base.join("secret/passwd"), r.join("absfile")).unwrap();
    symlink("../secret/passwd", r.join("relfile")).unwrap();
    symlink("../../secret", r.join("pub/up2")).unwrap();
    symlink("file.txt", r.join("pub/inside")).unwrap();
    let root = DataRoot::open(&r).unwrap();
    Fixture {
        _tmp: tmp,
        base,
        root,
    }
}

/// Everything outside the root: path → (len, mtime, mode).
fn outside(base: &Path) -> BTreeMap<PathBuf, (u64, SystemTime, u32)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![base.join("secret")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            out.insert(e.path(), (m.len(), m.modified().unwrap(), m.mode()));
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    for e in std::fs::read_dir(base).unwrap() {
        let e = e.unwrap();
        out.insert(e.path(), (0, SystemTime::UNIX_EPOCH, 0));
    }
    out
}

const THROUGH_SYMLINKS: &[&str] = &[
    "abs/passwd",
    "rel/passwd",
    "chain/passwd",
    "absfile",
    "relfile",
    "pub/up2/passwd",
    "abs/sub",
    "rel/sub",
    "abs/new",
    "rel/new",
    "chain/new",
    "pub/up2/new",
    "/abs/passwd",
    "pub/../rel/passwd",
    "abs/sub/../passwd",
    "rel/./passwd",
    "./chain/sub",
];

const LEXICAL: &[&str] = &[
    "..",
    "../secret/passwd",
    "/../secret/passwd",
    "../../../../secret/passwd",
    "pub/../../secret/passwd",
    "%2e%2e/secret/passwd",
    "..\\secret\\passwd",
    "....//secret/passwd",
    "/./../secret",
    "a/b/../../../secret/new",
];

fn every_method(root: &DataRoot, arg: &str) -> Vec<(&'static str, bool)> {
    let Ok(p) = VPath::root().resolve(arg) else {
        return vec![("resolve", false)];
    };
    let other = VPath::root().resolve("pub/file.txt").unwrap();
    let mut read_secret = false;
    if let Ok(mut f) = root.open_read(&p) {
        let mut s = String::new();
        let _ = f.read_to_string(&mut s);
        read_secret = s.contains("TOPSECRET");
    }
    assert!(!read_secret, "{arg}: secret content read");
    let upload = root.begin_upload(&p, UploadMode::Replace).and_then(|u| {
        u.file().write_all(b"x").map_err(StorageError::from)?;
        u.commit()
    });
    vec![
        ("stat", root.stat(&p).is_ok()),
        ("list", root.list(&p).is_ok()),
        ("open_read", root.open_read(&p).is_ok()),
        ("create_dir", root.create_dir(&p).is_ok()),
        ("remove_dir", root.remove_dir(&p).is_ok()),
        (
            "set_mtime",
            root.set_mtime(&p, SystemTime::UNIX_EPOCH).is_ok(),
        ),
        ("chmod", root.chmod(&p, 0o777).is_ok()),
        (
            "rename_from",
            root.rename(&p, &VPath::root().resolve("moved").unwrap())
                .is_ok(),
        ),
        ("rename_to", root.rename(&other, &p).is_ok()),
        ("begin_upload", upload.is_ok()),
        ("remove_file", root.remove_file(&p).is_ok()),
    ]
}

#[test]
fn symlink_escapes_are_refused_by_every_method() {
    let fx = fixture();
    let before = outside(&fx.base);
    let mut attempts = 0;
    for arg in THROUGH_SYMLINKS {
        for (method, ok) in every_method(&fx.root, arg) {
            attempts += 1;
            // Removing or renaming the symlink itself is fine: it lives inside the root.
            let on_link_itself = matches!(*arg, "absfile" | "relfile")
                && matches!(method, "remove_file" | "rename_from" | "rename_to");
            assert!(
                !ok || on_link_itself,
                "{method}({arg}) succeeded through a symlink leading outside"
            );
        }
        // Put the fixture's symlinks back for the next attempt.
        let r = fx.base.join("root");
        let _ = symlink(fx.base.join("secret/passwd"), r.join("absfile"));
        let _ = symlink("../secret/passwd", r.join("relfile"));
    }
    assert!(attempts >= 150);
    assert_eq!(
        before,
        outside(&fx.base),
        "something outside the root changed"
    );
    assert_eq!(
        std::fs::read(fx.base.join("secret/passwd")).unwrap(),
        b"TOPSECRET"
    );
}

#[test]
fn dotdot_never_leaves_the_root() {
    let fx = fixture();
    let before = outside(&fx.base);
    for arg in LEXICAL {
        every_method(&fx.root, arg);
    }
    assert_eq!(
        before,
        outside(&fx.base),
        "something outside the root changed"
    );
    assert_eq!(
        std::fs::read(fx.base.join("secret/passwd")).unwrap(),
        b"TOPSECRET"
    );
}

#[test]
fn symlinks_inside_the_root_work() {
    let fx = fixture();
    let p = VPath::root().resolve("pub/inside").unwrap();
    let mut s = String::new();
    fx.root
        .open_read(&p)
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "public");
    let names: Vec<String> = fx
        .root
        .list(&VPath::root())
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(
        names.contains(&"abs".to_string()) && names.contains(&"pub".to_string()),
        "{names:?}"
    );
}

fn vp(s: &str) -> VPath {
    VPath::root().resolve(s).unwrap()
}

fn read(fx: &Fixture, name: &str) -> Option<Vec<u8>> {
    std::fs::read(fx.base.join("root").join(name)).ok()
}

#[test]
fn upload_is_invisible_until_commit() {
    let fx = fixture();
    let u = fx
        .root
        .begin_upload(&vp("pub/new.bin"), UploadMode::Replace)
        .unwrap();
    u.file().write_all(b"hello").unwrap();
    assert_eq!(read(&fx, "pub/new.bin"), None);
    let listed: Vec<String> = fx
        .root
        .list(&vp("pub"))
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(
        !listed.iter().any(|n| n.starts_with(INTERNAL_PREFIX)),
        "{listed:?}"
    );
    u.commit().unwrap();
    assert_eq!(read(&fx, "pub/new.bin").unwrap(), b"hello");
}

#[test]
fn aborted_upload_leaves_no_final_name_and_resumes() {
    let fx = fixture();
    let u = fx
        .root
        .begin_upload(&vp("pub/big"), UploadMode::Replace)
        .unwrap();
    u.file().write_all(b"01234").unwrap();
    drop(u);
    assert_eq!(read(&fx, "pub/big"), None);
    assert_eq!(read(&fx, "pub/.griddock-part.big").unwrap(), b"01234");
    let u = fx
        .root
        .begin_upload(&vp("pub/big"), UploadMode::Resume(3))
        .unwrap();
    assert_eq!(u.offset(), 3);
    use std::os::unix::fs::FileExt;
    u.file().write_all_at(b"3456789", 3).unwrap();
    u.commit().unwrap();
    assert_eq!(read(&fx, "pub/big").unwrap(), b"0123456789");
    assert_eq!(read(&fx, "pub/.griddock-part.big"), None);
}

#[test]
fn resume_from_final_file_and_append() {
    let fx = fixture();
    use std::os::unix::fs::FileExt;
    let u = fx
        .root
        .begin_upload(&vp("pub/file.txt"), UploadMode::Append)
        .unwrap();
    assert_eq!(u.offset(), 6);
    u.file().write_all_at(b"+more", 6).unwrap();
    u.commit().unwrap();
    assert_eq!(read(&fx, "pub/file.txt").unwrap(), b"public+more");
    let u = fx
        .root
        .begin_upload(&vp("pub/file.txt"), UploadMode::Resume(2))
        .unwrap();
    u.file().write_all_at(b"X", 2).unwrap();
    u.commit().unwrap();
    assert_eq!(read(&fx, "pub/file.txt").unwrap(), b"puX");
    assert!(matches!(
        fx.root
            .begin_upload(&vp("pub/file.txt"), UploadMode::Resume(100)),
        Err(StorageError::InvalidRestart)
    ));
    assert!(matches!(
        fx.root.begin_upload(&vp("pub"), UploadMode::Replace),
        Err(StorageError::IsADirectory)
    ));
    assert!(matches!(
        fx.root.begin_upload(&vp("nodir/x"), UploadMode::Replace),
        Err(StorageError::NotFound)
    ));
}

#[test]
fn read_only_root_refuses_every_write() {
    let fx = fixture();
    let ro = fx.root.sub_root("", false).unwrap();
    assert!(!ro.writable());
    let p = vp("pub/file.txt");
    assert!(matches!(
        ro.create_dir(&vp("d")),
        Err(StorageError::ReadOnly)
    ));
    assert!(matches!(ro.remove_file(&p), Err(StorageError::ReadOnly)));
    assert!(matches!(
        ro.remove_dir(&vp("pub/deep")),
        Err(StorageError::ReadOnly)
    ));
    assert!(matches!(
        ro.rename(&p, &vp("x")),
        Err(StorageError::ReadOnly)
    ));
    assert!(matches!(
        ro.set_mtime(&p, SystemTime::now()),
        Err(StorageError::ReadOnly)
    ));
    assert!(matches!(ro.chmod(&p, 0o600), Err(StorageError::ReadOnly)));
    assert!(matches!(
        ro.begin_upload(&vp("n"), UploadMode::Replace),
        Err(StorageError::ReadOnly)
    ));
    assert!(ro.stat(&p).is_ok());
}

#[test]
fn sub_roots_are_confined_and_created() {
    let fx = fixture();
    let alice = fx.root.sub_root("home/alice", true).unwrap();
    assert!(fx.base.join("root/home/alice").is_dir());
    assert!(alice.stat(&vp("../../pub/file.txt")).is_err());
    assert!(
        fx.root.sub_root("abs", true).is_err(),
        "sub_root through an escaping symlink"
    );
    let ro = fx.root.sub_root("", false).unwrap();
    assert!(!ro.sub_root("x", true).unwrap().writable());
}

#[test]
fn chmod_strips_special_bits() {
    let fx = fixture();
    fx.root.chmod(&vp("pub/file.txt"), 0o4777).unwrap();
    assert_eq!(fx.root.stat(&vp("pub/file.txt")).unwrap().mode, 0o777);
}

#[test]
fn error_texts_carry_errno_words() {
    assert_eq!(
        StorageError::NotFound.to_string(),
        "No such file or directory"
    );
    assert!(StorageError::NoSpace
        .to_string()
        .contains("isk quota exceeded"));
    let e = StorageError::from_io(std::io::Error::from_raw_os_error(20));
    assert!(matches!(e, StorageError::NotADirectory));
}
