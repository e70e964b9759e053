//! A read-only root refuses every mutation (`ReadOnly`) and changes nothing on disk.

use std::time::SystemTime;

use super::fixture::{fixture, snapshot, vp};
use crate::storage::{StorageError, UploadMode};

#[test]
fn read_only_root_refuses_every_write() {
    let fx = fixture();
    let ro = fx.root.sub_root("", false).unwrap();
    assert!(!ro.writable());
    std::fs::write(fx.path("pub/.griddock-part.file.txt"), b"partial").unwrap();
    let before = snapshot(&fx.base, None);
    let f = vp("pub/file.txt");
    let results = [
        ro.create_dir(&vp("d")),
        ro.create_dir(&vp("pub")),
        ro.remove_file(&f),
        ro.remove_file(&vp("absent")),
        ro.remove_dir(&vp("pub/deep")),
        ro.remove_dir(&vp("/")),
        ro.rename(&f, &vp("x")),
        ro.rename(&vp("absent"), &vp("x")),
        ro.set_mtime(&f, SystemTime::now()),
        ro.chmod(&f, 0o600),
        ro.chmod(&vp("abs/passwd"), 0o600),
    ];
    for (i, r) in results.into_iter().enumerate() {
        assert!(matches!(r, Err(StorageError::ReadOnly)), "#{i}: {r:?}");
    }
    let modes = [
        UploadMode::Replace,
        UploadMode::Append,
        UploadMode::Resume(0),
        UploadMode::Resume(3),
    ];
    for mode in modes {
        for p in ["n", "pub/file.txt", "pub"] {
            let r = ro.begin_upload(&vp(p), mode);
            assert!(matches!(r, Err(StorageError::ReadOnly)), "{p} {mode:?}");
        }
    }
    assert_eq!(
        before,
        snapshot(&fx.base, None),
        "read-only root changed the disk"
    );
    // Reading still works.
    assert!(ro.stat(&f).is_ok() && ro.list(&vp("pub")).is_ok() && ro.open_read(&f).is_ok());
}

#[test]
fn read_only_is_inherited_and_creates_nothing() {
    let fx = fixture();
    let ro = fx.root.sub_root("", false).unwrap();
    let before = snapshot(&fx.base, None);
    assert!(matches!(
        ro.sub_root("home/carol", true),
        Err(StorageError::NotFound)
    ));
    assert_eq!(before, snapshot(&fx.base, None));
    let sub = ro.sub_root("pub", true).unwrap();
    assert!(!sub.writable());
    assert!(matches!(
        sub.create_dir(&vp("x")),
        Err(StorageError::ReadOnly)
    ));
    let rw = fx.root.sub_root("pub", true).unwrap();
    assert!(rw.writable());
}
