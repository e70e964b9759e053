//! Upload atomicity, part files, Resume/Append and their refusals.

use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};

use super::fixture::{fixture, names_on_disk, vp, Fixture};
use crate::storage::{StorageError, UploadMode, INTERNAL_PREFIX};

fn internal_files(fx: &Fixture, dir: &str) -> Vec<String> {
    names_on_disk(&fx.path(dir))
        .into_iter()
        .filter(|n| n.starts_with(INTERNAL_PREFIX))
        .collect()
}

fn part(fx: &Fixture, dir: &str, name: &str) -> Option<Vec<u8>> {
    fx.read(&format!("{dir}/.griddock-part.{name}"))
}

#[test]
fn replace_is_invisible_until_commit() {
    let fx = fixture();
    let u = fx
        .root
        .begin_upload(&vp("pub/new.bin"), UploadMode::Replace)
        .unwrap();
    assert_eq!(u.offset(), 0);
    u.file().write_all(b"hello").unwrap();
    assert_eq!(fx.read("pub/new.bin"), None);
    let tmps = internal_files(&fx, "pub");
    assert_eq!(tmps.len(), 1, "{tmps:?}");
    let tmp = &tmps[0];
    let hex = tmp
        .strip_prefix(".griddock-tmp.")
        .and_then(|r| r.strip_suffix(".new.bin"))
        .unwrap();
    assert!(
        hex.len() == 16 && hex.chars().all(|c| c.is_ascii_hexdigit()),
        "{tmp}"
    );
    let mode = std::fs::metadata(fx.path("pub").join(tmp)).unwrap().mode() & 0o777;
    assert_eq!(mode & !0o644, 0, "temp mode {mode:o}");
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
    assert!(matches!(
        fx.root.stat(&vp("pub/new.bin")),
        Err(StorageError::NotFound)
    ));
    u.commit().unwrap();
    assert_eq!(fx.read("pub/new.bin").unwrap(), b"hello");
    assert!(internal_files(&fx, "pub").is_empty());
}

#[test]
fn replace_keeps_old_content_visible_until_commit() {
    let fx = fixture();
    let ino = std::fs::metadata(fx.path("pub/file.txt")).unwrap().ino();
    let u = fx
        .root
        .begin_upload(&vp("pub/file.txt"), UploadMode::Replace)
        .unwrap();
    u.file().write_all(b"brand new").unwrap();
    assert_eq!(fx.read("pub/file.txt").unwrap(), b"public");
    u.commit().unwrap();
    assert_eq!(fx.read("pub/file.txt").unwrap(), b"brand new");
    assert_ne!(
        std::fs::metadata(fx.path("pub/file.txt")).unwrap().ino(),
        ino
    );
}

#[test]
fn drop_and_abort_keep_a_part_file_never_the_final_name() {
    let fx = fixture();
    let u = fx
        .root
        .begin_upload(&vp("pub/big"), UploadMode::Replace)
        .unwrap();
    u.file().write_all(b"01234").unwrap();
    drop(u);
    assert_eq!(fx.read("pub/big"), None);
    assert_eq!(part(&fx, "pub", "big").unwrap(), b"01234");
    assert_eq!(internal_files(&fx, "pub"), [".griddock-part.big"]);
    // A later failed attempt replaces the older part file.
    let u = fx
        .root
        .begin_upload(&vp("pub/big"), UploadMode::Replace)
        .unwrap();
    u.file().write_all(b"abc").unwrap();
    u.abort();
    assert_eq!(part(&fx, "pub", "big").unwrap(), b"abc");
    assert_eq!(fx.read("pub/big"), None);
    assert_eq!(internal_files(&fx, "pub"), [".griddock-part.big"]);
}

#[test]
fn empty_abort_leaves_nothing_and_keeps_an_older_part() {
    let fx = fixture();
    fx.root
        .begin_upload(&vp("pub/e"), UploadMode::Replace)
        .unwrap()
        .abort();
    assert!(internal_files(&fx, "pub").is_empty());
    std::fs::write(fx.path("pub/.griddock-part.e"), b"old").unwrap();
    fx.root
        .begin_upload(&vp("pub/e"), UploadMode::Replace)
        .unwrap()
        .abort();
    assert_eq!(part(&fx, "pub", "e").unwrap(), b"old");
}

#[test]
fn resume_from_the_part_file() {
    let fx = fixture();
    let u = fx
        .root
        .begin_upload(&vp("pub/big"), UploadMode::Replace)
        .unwrap();
    u.file().write_all(b"01234xx").unwrap();
    drop(u);
    let u = fx
        .root
        .begin_upload(&vp("pub/big"), UploadMode::Resume(5))
        .unwrap();
    assert_eq!(u.offset(), 5);
    assert_eq!(part(&fx, "pub", "big"), None, "part claimed");
    // Positioned at the offset: plain writes continue there.
    u.file().write_all(b"56789").unwrap();
    assert_eq!(fx.read("pub/big"), None);
    u.commit().unwrap();
    assert_eq!(fx.read("pub/big").unwrap(), b"0123456789");
    assert!(internal_files(&fx, "pub").is_empty());
}

#[test]
fn resume_prefers_the_part_file_then_the_final_file() {
    let fx = fixture();
    // Part too short for the offset: the final file (long enough) is used instead.
    std::fs::write(fx.path("pub/.griddock-part.file.txt"), b"PU").unwrap();
    let u = fx
        .root
        .begin_upload(&vp("pub/file.txt"), UploadMode::Resume(3))
        .unwrap();
    u.file().write_all(b"LIC!").unwrap();
    u.commit().unwrap();
    assert_eq!(fx.read("pub/file.txt").unwrap(), b"pubLIC!");
    assert_eq!(
        part(&fx, "pub", "file.txt"),
        None,
        "stale part removed on commit"
    );
    // Part long enough: it wins over the final file.
    std::fs::write(fx.path("pub/.griddock-part.file.txt"), b"PARTIAL").unwrap();
    let u = fx
        .root
        .begin_upload(&vp("pub/file.txt"), UploadMode::Resume(4))
        .unwrap();
    u.file().write_at(b"Y", 4).unwrap();
    u.commit().unwrap();
    assert_eq!(fx.read("pub/file.txt").unwrap(), b"PARTY");
}

#[test]
fn resume_from_the_final_file_keeps_its_mode() {
    let fx = fixture();
    let f = fx.path("pub/file.txt");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    let u = fx
        .root
        .begin_upload(&vp("pub/file.txt"), UploadMode::Resume(2))
        .unwrap();
    assert_eq!(u.offset(), 2);
    u.file().write_all(b"X").unwrap();
    assert_eq!(
        fx.read("pub/file.txt").unwrap(),
        b"public",
        "old file intact meanwhile"
    );
    u.commit().unwrap();
    assert_eq!(fx.read("pub/file.txt").unwrap(), b"puX");
    assert_eq!(std::fs::metadata(&f).unwrap().mode() & 0o777, 0o600);
}

#[test]
fn resume_zero_with_nothing_is_replace() {
    let fx = fixture();
    let u = fx
        .root
        .begin_upload(&vp("pub/z"), UploadMode::Resume(0))
        .unwrap();
    assert_eq!(u.offset(), 0);
    u.file().write_all(b"zz").unwrap();
    u.commit().unwrap();
    assert_eq!(fx.read("pub/z").unwrap(), b"zz");
}

#[test]
fn invalid_restarts_leave_nothing_behind() {
    let fx = fixture();
    let cases = [
        ("pub/absent", 1),
        ("pub/file.txt", 7),
        ("pub/file.txt", u64::MAX),
    ];
    for (p, n) in cases {
        assert!(
            matches!(
                fx.root.begin_upload(&vp(p), UploadMode::Resume(n)),
                Err(StorageError::InvalidRestart)
            ),
            "{p} {n}"
        );
    }
    std::fs::write(fx.path("pub/.griddock-part.q"), b"abc").unwrap();
    assert!(matches!(
        fx.root.begin_upload(&vp("pub/q"), UploadMode::Resume(4)),
        Err(StorageError::InvalidRestart)
    ));
    assert_eq!(part(&fx, "pub", "q").unwrap(), b"abc", "part untouched");
    assert_eq!(internal_files(&fx, "pub"), [".griddock-part.q"]);
    assert_eq!(fx.read("pub/file.txt").unwrap(), b"public");
}

#[test]
fn append_extends_the_final_file_not_the_part() {
    let fx = fixture();
    std::fs::write(fx.path("pub/.griddock-part.file.txt"), b"IGNORED-PART").unwrap();
    let u = fx
        .root
        .begin_upload(&vp("pub/file.txt"), UploadMode::Append)
        .unwrap();
    assert_eq!(u.offset(), 6);
    u.file().write_all(b"+more").unwrap();
    u.commit().unwrap();
    assert_eq!(fx.read("pub/file.txt").unwrap(), b"public+more");
    let u = fx
        .root
        .begin_upload(&vp("pub/fresh"), UploadMode::Append)
        .unwrap();
    assert_eq!(u.offset(), 0);
    u.file().write_all(b"new").unwrap();
    u.commit().unwrap();
    assert_eq!(fx.read("pub/fresh").unwrap(), b"new");
}

#[test]
fn append_abort_keeps_old_content_and_data_as_part() {
    let fx = fixture();
    let u = fx
        .root
        .begin_upload(&vp("pub/file.txt"), UploadMode::Append)
        .unwrap();
    u.file().write_all(b"++").unwrap();
    drop(u);
    assert_eq!(fx.read("pub/file.txt").unwrap(), b"public");
    assert_eq!(part(&fx, "pub", "file.txt").unwrap(), b"public++");
    // ... which a REST 8 + STOR can continue.
    let u = fx
        .root
        .begin_upload(&vp("pub/file.txt"), UploadMode::Resume(8))
        .unwrap();
    u.file().write_all(b"!").unwrap();
    u.commit().unwrap();
    assert_eq!(fx.read("pub/file.txt").unwrap(), b"public++!");
}

#[test]
fn planted_part_symlinks_and_hard_links_are_not_followed() {
    let fx = fixture();
    std::os::unix::fs::symlink("file.txt", fx.path("pub/.griddock-part.s")).unwrap();
    assert!(matches!(
        fx.root.begin_upload(&vp("pub/s"), UploadMode::Resume(3)),
        Err(StorageError::InvalidRestart)
    ));
    std::fs::hard_link(fx.path("pub/file.txt"), fx.path("pub/.griddock-part.h")).unwrap();
    assert!(matches!(
        fx.root.begin_upload(&vp("pub/h"), UploadMode::Resume(3)),
        Err(StorageError::InvalidRestart)
    ));
    assert_eq!(fx.read("pub/file.txt").unwrap(), b"public");
}

#[test]
fn failed_commit_keeps_the_data_as_part() {
    let fx = fixture();
    let u = fx
        .root
        .begin_upload(&vp("pub/d"), UploadMode::Replace)
        .unwrap();
    u.file().write_all(b"data").unwrap();
    std::fs::create_dir(fx.path("pub/d")).unwrap();
    std::fs::write(fx.path("pub/d/x"), b"").unwrap();
    assert!(u.commit().is_err());
    assert!(fx.path("pub/d").is_dir());
    assert_eq!(part(&fx, "pub", "d").unwrap(), b"data");
    assert_eq!(internal_files(&fx, "pub"), [".griddock-part.d"]);
}

#[test]
fn upload_target_errors() {
    let fx = fixture();
    let cases = [
        ("pub", StorageError::IsADirectory),
        ("/", StorageError::IsADirectory),
        ("pub/inside/x", StorageError::NotADirectory),
        ("nodir/x", StorageError::NotFound),
        ("pub/file.txt/x", StorageError::NotADirectory),
    ];
    for (p, want) in cases {
        for mode in [
            UploadMode::Replace,
            UploadMode::Append,
            UploadMode::Resume(0),
        ] {
            let got = fx.root.begin_upload(&vp(p), mode).err();
            assert_eq!(
                std::mem::discriminant(got.as_ref().unwrap()),
                std::mem::discriminant(&want),
                "{p} {mode:?}: {got:?}"
            );
        }
    }
    assert!(internal_files(&fx, "pub").is_empty() && internal_files(&fx, ".").is_empty());
}

#[test]
fn uploading_onto_a_symlink_inside_replaces_the_link() {
    let fx = fixture();
    let u = fx
        .root
        .begin_upload(&vp("pub/inside"), UploadMode::Replace)
        .unwrap();
    u.file().write_all(b"own").unwrap();
    u.commit().unwrap();
    assert!(!std::fs::symlink_metadata(fx.path("pub/inside"))
        .unwrap()
        .is_symlink());
    assert_eq!(fx.read("pub/file.txt").unwrap(), b"public");
    // A broken link is replaced just the same.
    let u = fx
        .root
        .begin_upload(&vp("broken"), UploadMode::Replace)
        .unwrap();
    u.commit().unwrap();
    assert!(fx.path("broken").is_file());
}

#[test]
fn long_names_upload_but_are_not_kept_as_parts() {
    let fx = fixture();
    let name = "L".repeat(250);
    let p = vp(&format!("pub/{name}"));
    let u = fx.root.begin_upload(&p, UploadMode::Replace).unwrap();
    u.file().write_all(b"long").unwrap();
    u.commit().unwrap();
    assert_eq!(fx.read(&format!("pub/{name}")).unwrap(), b"long");
    let u = fx.root.begin_upload(&p, UploadMode::Replace).unwrap();
    u.file().write_all(b"lost").unwrap();
    drop(u);
    assert!(internal_files(&fx, "pub").is_empty());
    assert_eq!(fx.read(&format!("pub/{name}")).unwrap(), b"long");
}

#[test]
fn concurrent_uploads_to_one_name_do_not_collide() {
    let fx = fixture();
    let a = fx
        .root
        .begin_upload(&vp("pub/c"), UploadMode::Replace)
        .unwrap();
    let b = fx
        .root
        .begin_upload(&vp("pub/c"), UploadMode::Replace)
        .unwrap();
    a.file().write_all(b"AAAA").unwrap();
    b.file().write_all(b"BB").unwrap();
    assert_eq!(internal_files(&fx, "pub").len(), 2);
    b.commit().unwrap();
    a.commit().unwrap();
    assert_eq!(fx.read("pub/c").unwrap(), b"AAAA");
    assert!(internal_files(&fx, "pub").is_empty());
}

#[test]
fn large_resume_copy_is_exact() {
    let fx = fixture();
    let data: Vec<u8> = (0..(5 << 20) + 11).map(|i: u32| (i % 253) as u8).collect();
    std::fs::write(fx.path("pub/large"), &data).unwrap();
    let n = (4 << 20) + 3;
    let u = fx
        .root
        .begin_upload(&vp("pub/large"), UploadMode::Resume(n))
        .unwrap();
    u.file().write_all(b"tail").unwrap();
    u.commit().unwrap();
    let got = fx.read("pub/large").unwrap();
    assert_eq!(got.len(), n as usize + 4);
    assert_eq!(&got[..n as usize], &data[..n as usize]);
    assert_eq!(&got[n as usize..], b"tail");
}

#[test]
fn discard_leaves_neither_the_name_nor_a_part_file() {
    let fx = fixture();
    std::fs::write(fx.path("pub/kept.bin"), b"old").unwrap();
    let u = fx
        .root
        .begin_upload(&vp("pub/kept.bin"), UploadMode::Replace)
        .unwrap();
    u.file().write_all(b"partial new data").unwrap();
    u.discard();
    assert_eq!(fx.read("pub/kept.bin").as_deref(), Some(&b"old"[..]));
    assert_eq!(part(&fx, "pub", "kept.bin"), None);
    assert!(internal_files(&fx, "pub").is_empty());
}
