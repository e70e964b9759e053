//! Listings, facts and the ordinary file operations inside the root.

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime};

use super::fixture::{fixture, vp};
use crate::storage::{DataRoot, FileKind, StorageError};

fn err_name(e: StorageError) -> String {
    format!("{e:?}")
}

#[test]
fn listing_is_sorted_and_hides_what_clients_cannot_address() {
    let fx = fixture();
    std::fs::write(fx.path(".griddock-part.x"), b"p").unwrap();
    std::fs::write(fx.path("back\\slash"), b"").unwrap();
    std::fs::write(fx.path("line\nbreak"), b"").unwrap();
    let bad = std::ffi::OsStr::from_bytes(b"latin1-\xe9");
    std::fs::write(fx.path("pub").join(bad), b"").unwrap();
    let names: Vec<String> = fx
        .root
        .list(&vp("/"))
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    let want = [
        "abs",
        "absfile",
        "broken",
        "chain",
        "chain2",
        "chainfile",
        "dotdot",
        "loop1",
        "loop2",
        "pub",
        "rel",
        "relfile",
        "rootlink",
    ];
    assert_eq!(names, want);
    let pub_names: Vec<String> = fx
        .root
        .list(&vp("pub"))
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(pub_names, ["deep", "file.txt", "inside", "sidedoor", "up2"]);
}

#[test]
fn listing_reports_symlinks_without_failing() {
    let fx = fixture();
    let entries = fx.root.list(&vp("/")).unwrap();
    let kind = |n: &str| entries.iter().find(|e| e.name == n).unwrap().facts.kind;
    // Escaping, broken and looping links: the link itself.
    for n in [
        "abs", "rel", "chain", "absfile", "relfile", "rootlink", "dotdot", "broken", "loop1",
    ] {
        assert_eq!(kind(n), FileKind::Symlink, "{n}");
    }
    assert_eq!(kind("pub"), FileKind::Dir);
    let pub_entries = fx.root.list(&vp("pub")).unwrap();
    let inside = pub_entries.iter().find(|e| e.name == "inside").unwrap();
    // A link inside the root reports its target.
    assert_eq!(inside.facts.kind, FileKind::File);
    assert_eq!(inside.facts.size, 6);
    let abs = entries.iter().find(|e| e.name == "abs").unwrap();
    let lstat = std::fs::symlink_metadata(fx.path("abs")).unwrap();
    assert_eq!(abs.facts.ino, lstat.ino());
}

#[test]
fn facts_match_stat() {
    let fx = fixture();
    let f = fx.root.stat(&vp("pub/file.txt")).unwrap();
    let m = std::fs::metadata(fx.path("pub/file.txt")).unwrap();
    assert_eq!(f.kind, FileKind::File);
    assert_eq!(f.size, 6);
    assert_eq!(
        (f.uid, f.gid, f.dev, f.ino, f.nlink),
        (m.uid(), m.gid(), m.dev(), m.ino(), m.nlink())
    );
    assert_eq!(f.mode, m.mode() & 0o7777);
    assert_eq!(f.mtime, m.modified().unwrap());
    assert_eq!(fx.root.stat(&vp("/")).unwrap().kind, FileKind::Dir);
    // stat follows links that stay inside.
    assert_eq!(fx.root.stat(&vp("pub/inside")).unwrap().ino, m.ino());
    assert!(matches!(
        fx.root.stat(&vp("broken")),
        Err(StorageError::NotFound)
    ));
    assert!(matches!(
        fx.root.stat(&vp("loop1")),
        Err(StorageError::PermissionDenied)
    ));
}

#[test]
fn open_read_only_opens_regular_files() {
    let fx = fixture();
    let mut s = String::new();
    fx.root
        .open_read(&vp("pub/inside"))
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "public");
    assert!(matches!(
        fx.root.open_read(&vp("pub")),
        Err(StorageError::IsADirectory)
    ));
    assert!(matches!(
        fx.root.open_read(&vp("/")),
        Err(StorageError::IsADirectory)
    ));
    assert!(matches!(
        fx.root.open_read(&vp("nope")),
        Err(StorageError::NotFound)
    ));
    // A FIFO must be refused, not block the thread in open(2).
    rustix::fs::mknodat(
        rustix::fs::CWD,
        fx.path("pub/fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    assert!(matches!(
        fx.root.open_read(&vp("pub/fifo")),
        Err(StorageError::PermissionDenied)
    ));
    let fifo = fx
        .root
        .list(&vp("pub"))
        .unwrap()
        .into_iter()
        .find(|e| e.name == "fifo")
        .unwrap();
    assert_eq!(fifo.facts.kind, FileKind::Other);
    // Neither may Append/Resume block on it.
    let r = fx
        .root
        .begin_upload(&vp("pub/fifo"), crate::storage::UploadMode::Resume(1));
    assert!(matches!(r, Err(StorageError::InvalidRestart)), "{r:?}");
}

#[test]
fn directory_operations() {
    let fx = fixture();
    fx.root.create_dir(&vp("pub/new")).unwrap();
    assert!(fx.path("pub/new").is_dir());
    assert!(matches!(
        fx.root.create_dir(&vp("pub/new")),
        Err(StorageError::AlreadyExists)
    ));
    assert!(matches!(
        fx.root.create_dir(&vp("x/y")),
        Err(StorageError::NotFound)
    ));
    assert!(matches!(
        fx.root.create_dir(&vp("/")),
        Err(StorageError::AlreadyExists)
    ));
    std::fs::write(fx.path("pub/new/f"), b"").unwrap();
    assert!(matches!(
        fx.root.remove_dir(&vp("pub/new")),
        Err(StorageError::DirectoryNotEmpty)
    ));
    assert!(matches!(
        fx.root.remove_dir(&vp("pub/file.txt")),
        Err(StorageError::NotADirectory)
    ));
    assert!(matches!(
        fx.root.remove_dir(&vp("/")),
        Err(StorageError::PermissionDenied)
    ));
    fx.root.remove_file(&vp("pub/new/f")).unwrap();
    fx.root.remove_dir(&vp("pub/new")).unwrap();
    assert!(!fx.path("pub/new").exists());
    assert!(matches!(
        fx.root.list(&vp("pub/file.txt")),
        Err(StorageError::NotADirectory)
    ));
    assert!(matches!(
        fx.root.list(&vp("none")),
        Err(StorageError::NotFound)
    ));
}

#[test]
fn file_operations() {
    let fx = fixture();
    assert!(matches!(
        fx.root.remove_file(&vp("pub")),
        Err(StorageError::IsADirectory)
    ));
    assert!(matches!(
        fx.root.remove_file(&vp("pub/none")),
        Err(StorageError::NotFound)
    ));
    // Removing a link removes the link, not its target.
    fx.root.remove_file(&vp("pub/inside")).unwrap();
    assert_eq!(fx.read("pub/file.txt").unwrap(), b"public");
    fx.root
        .rename(&vp("pub/file.txt"), &vp("pub/deep/moved"))
        .unwrap();
    assert_eq!(fx.read("pub/deep/moved").unwrap(), b"public");
    let e = fx.root.rename(&vp("pub"), &vp("pub/deep/pub")).unwrap_err();
    assert!(matches!(e, StorageError::InvalidPath(_)), "{}", err_name(e));
    assert!(matches!(
        fx.root.rename(&vp("/"), &vp("x")),
        Err(StorageError::PermissionDenied)
    ));
    assert!(matches!(
        fx.root.rename(&vp("pub"), &vp("/")),
        Err(StorageError::PermissionDenied)
    ));
    assert!(matches!(
        fx.root.rename(&vp("none"), &vp("x")),
        Err(StorageError::NotFound)
    ));
    fx.root.rename(&vp("pub/deep"), &vp("deep2")).unwrap();
    assert!(fx.path("deep2/moved").is_file());
}

#[test]
fn mtime_and_chmod() {
    let fx = fixture();
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    fx.root.set_mtime(&vp("pub/file.txt"), t).unwrap();
    assert_eq!(fx.root.stat(&vp("pub/file.txt")).unwrap().mtime, t);
    fx.root.chmod(&vp("pub/file.txt"), 0o4777).unwrap();
    assert_eq!(fx.root.stat(&vp("pub/file.txt")).unwrap().mode, 0o777);
    fx.root.chmod(&vp("pub/inside"), 0o640).unwrap();
    assert_eq!(
        std::fs::metadata(fx.path("pub/file.txt")).unwrap().mode() & 0o7777,
        0o640
    );
    assert!(matches!(
        fx.root.chmod(&vp("none"), 0o600),
        Err(StorageError::NotFound)
    ));
    assert!(matches!(
        fx.root.set_mtime(&vp("none"), t),
        Err(StorageError::NotFound)
    ));
}

#[test]
fn open_creates_the_base_and_sub_roots_are_created() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("a/b/data");
    let root = DataRoot::open(&base).unwrap();
    assert!(base.is_dir() && root.writable());
    let alice = root.sub_root("/home/../home/alice/", true).unwrap();
    assert!(base.join("home/alice").is_dir());
    alice.create_dir(&vp("x")).unwrap();
    assert!(base.join("home/alice/x").is_dir());
    assert!(matches!(
        alice.stat(&vp("../../home")),
        Err(StorageError::NotFound)
    ));
    let same = root.sub_root("", false).unwrap();
    assert!(!same.writable());
    assert!(same.stat(&vp("home/alice/x")).is_ok());
    std::fs::write(base.join("file"), b"").unwrap();
    assert!(matches!(
        root.sub_root("file", true),
        Err(StorageError::AlreadyExists | StorageError::NotADirectory)
    ));
    let file_base = tmp.path().join("plain");
    std::fs::write(&file_base, b"").unwrap();
    assert!(DataRoot::open(&file_base).is_err());
}

#[test]
fn data_root_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<DataRoot>();
    fn assert_send<T: Send>() {}
    assert_send::<crate::storage::Upload>();
}

#[test]
fn remove_tree_removes_a_directory_but_never_follows_a_link_to_one() {
    let fx = fixture();
    std::fs::create_dir_all(fx.path("pub/deep/more")).unwrap();
    std::fs::write(fx.path("pub/deep/more/f"), b"x").unwrap();
    std::os::unix::fs::symlink("deep", fx.path("pub/linkdir")).unwrap();
    // A symlink to a directory is not a tree to descend into.
    assert!(matches!(
        fx.root.remove_tree(&vp("/pub/linkdir")),
        Err(StorageError::NotADirectory)
    ));
    assert!(fx.path("pub/deep/more/f").exists());
    assert!(matches!(
        fx.root.remove_tree(&vp("/")),
        Err(StorageError::PermissionDenied)
    ));
    fx.root.remove_tree(&vp("/pub/deep")).unwrap();
    assert!(!fx.path("pub/deep").exists());
    let (used, avail) = fx.root.space().unwrap();
    assert!(used > 0 && avail > 0);
}
