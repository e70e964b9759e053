//! Escape attempts through every `DataRoot` method, each (attempt, method) pair on a fresh
//! fixture: nothing outside the root may be read, created, modified or deleted.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::time::SystemTime;

use super::fixture::{fixture, leaked_inside, outside, snapshot, vp, Fixture, SECRET};
use crate::storage::{DataRoot, StorageError, UploadMode, VPath};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Stat,
    List,
    OpenRead,
    CreateDir,
    RemoveDir,
    RemoveFile,
    RenameFrom,
    RenameTo,
    SetMtime,
    Chmod,
    UploadReplace,
    UploadResume,
    UploadAppend,
    SubRoot,
}

const METHODS: [Method; 14] = [
    Method::Stat,
    Method::List,
    Method::OpenRead,
    Method::CreateDir,
    Method::RemoveDir,
    Method::RemoveFile,
    Method::RenameFrom,
    Method::RenameTo,
    Method::SetMtime,
    Method::Chmod,
    Method::UploadReplace,
    Method::UploadResume,
    Method::UploadAppend,
    Method::SubRoot,
];

/// Inodes and bytes a method handed back to the caller.
#[derive(Default)]
struct Seen {
    inos: Vec<u64>,
    bytes: Vec<u8>,
}

fn upload(root: &DataRoot, p: &VPath, mode: UploadMode) -> Result<Seen, StorageError> {
    let u = root.begin_upload(p, mode)?;
    u.file().write_all(b"x").map_err(StorageError::from)?;
    u.commit()?;
    Ok(Seen::default())
}

fn listing(root: &DataRoot, p: &VPath) -> Result<Seen, StorageError> {
    let inos = root.list(p)?.into_iter().map(|e| e.facts.ino).collect();
    Ok(Seen {
        inos,
        bytes: Vec::new(),
    })
}

fn read_all(root: &DataRoot, p: &VPath) -> Result<Seen, StorageError> {
    use std::os::unix::fs::MetadataExt;
    let mut f = root.open_read(p)?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(StorageError::from)?;
    let ino = f.metadata().map_err(StorageError::from)?.ino();
    Ok(Seen {
        inos: vec![ino],
        bytes,
    })
}

fn sub_root(root: &DataRoot, arg: &str) -> Result<Seen, StorageError> {
    let sub = root.sub_root(arg, true)?;
    let mut seen = listing(&sub, &VPath::root())?;
    seen.inos.push(sub.stat(&VPath::root())?.ino);
    Ok(seen)
}

fn run(m: Method, root: &DataRoot, arg: &str, p: &VPath) -> Result<Seen, StorageError> {
    let none = |r: Result<(), StorageError>| r.map(|()| Seen::default());
    let moved = vp("moved");
    match m {
        Method::Stat => root.stat(p).map(|f| Seen {
            inos: vec![f.ino],
            bytes: Vec::new(),
        }),
        Method::List => listing(root, p),
        Method::OpenRead => read_all(root, p),
        Method::CreateDir => none(root.create_dir(p)),
        Method::RemoveDir => none(root.remove_dir(p)),
        Method::RemoveFile => none(root.remove_file(p)),
        Method::RenameFrom => none(root.rename(p, &moved)),
        Method::RenameTo => none(root.rename(&vp("pub/file.txt"), p)),
        Method::SetMtime => none(root.set_mtime(p, SystemTime::UNIX_EPOCH)),
        Method::Chmod => none(root.chmod(p, 0o777)),
        Method::UploadReplace => upload(root, p, UploadMode::Replace),
        Method::UploadResume => upload(root, p, UploadMode::Resume(4)),
        Method::UploadAppend => upload(root, p, UploadMode::Append),
        Method::SubRoot => sub_root(root, arg),
    }
}

/// Paths that traverse (or are) symlinks leading outside the root.
fn through_symlinks(fx: &Fixture) -> Vec<String> {
    let base = fx.base.display();
    let mut v: Vec<String> = [
        "abs",
        "abs/passwd",
        "abs/sub",
        "abs/sub/inner",
        "abs/new",
        "abs/sub/new",
        "rel",
        "rel/passwd",
        "rel/new",
        "rel/sub/inner",
        "chain",
        "chain/passwd",
        "chain2/passwd",
        "chain2/new",
        "absfile",
        "relfile",
        "chainfile",
        "pub/up2",
        "pub/up2/passwd",
        "pub/up2/sub/inner",
        "pub/up2/new",
        "pub/sidedoor/passwd",
        "pub/sidedoor/new",
        "rootlink",
        "dotdot",
        "dotdot/secret/passwd",
        "dotdot/newfile",
        "/abs/passwd",
        "pub/../rel/passwd",
        "pub/deep/../../abs/passwd",
        "abs/sub/../passwd",
        "rel/./passwd",
        "./chain/sub",
        "loop1",
        "loop1/x",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("rootlink{base}/secret/passwd"));
    v.push(format!("rootlink{base}/secret/new"));
    v.push(format!("abs/{}y", "x/".repeat(100)));
    v
}

/// Paths that look like escapes but normalise to somewhere inside the root.
fn lexical(fx: &Fixture) -> Vec<String> {
    let mut v: Vec<String> = [
        "..",
        "../secret/passwd",
        "/../secret/passwd",
        "pub/../../secret/passwd",
        "%2e%2e/secret/passwd",
        "%2e%2e%2fsecret%2fpasswd",
        "....//secret/passwd",
        "/./../secret",
        "a/b/../../../secret/new",
        "\u{2025}/secret/passwd",
        "\u{ff0e}\u{ff0e}/secret/passwd",
        "~/../secret",
        "//secret//passwd",
        ".. /secret/passwd",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("{}secret/passwd", "../".repeat(500)));
    v.push(format!("{}/secret/passwd", fx.base.display()));
    v
}

/// Client arguments `VPath` refuses outright.
fn invalid() -> Vec<String> {
    let mut v: Vec<String> = [
        "secret\0",
        "../secret/passwd\0.txt",
        "..\\secret\\passwd",
        "pub\\..\\..\\secret",
        ".griddock-part.x",
        "pub/.griddock-tmp.0123456789abcdef.file.txt",
        ".griddock-x/../../secret",
        "pub/.griddock-part.file.txt/../file.txt",
        "a\nb",
        "x\r\nDELE pub/file.txt",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("a/".repeat(3000));
    v.push("x".repeat(300));
    v
}

fn is_link_itself(fx: &Fixture, arg: &str) -> bool {
    std::fs::symlink_metadata(fx.path(arg)).is_ok_and(|m| m.is_symlink())
}

/// Runs `m` on `arg` against a fresh fixture and checks that the outside is untouched and
/// nothing from it was handed back or copied in. Returns the method's result.
fn attempt(arg: &str, m: Method) -> Result<(), StorageError> {
    let fx = fixture();
    let before = outside(&fx);
    let outside_inos: BTreeSet<u64> = before.values().map(|n| n.ino).collect();
    let p = VPath::root().resolve(arg).unwrap();
    let result = run(m, &fx.root, arg, &p);
    if let Ok(seen) = &result {
        assert!(
            seen.inos.iter().all(|i| !outside_inos.contains(i)),
            "{m:?}({arg:?}) reported an inode outside the root"
        );
        assert_ne!(seen.bytes, SECRET, "{m:?}({arg:?}) read the secret");
    }
    assert_eq!(before, outside(&fx), "{m:?}({arg:?}) changed the outside");
    assert!(
        leaked_inside(&fx).is_empty(),
        "{m:?}({arg:?}) copied secret bytes inside: {:?}",
        leaked_inside(&fx)
    );
    result.map(|_| ())
}

/// Methods that act on a symlink itself (inside the root), never on its target.
fn acts_on_link(m: Method) -> bool {
    matches!(
        m,
        Method::RemoveFile | Method::RenameFrom | Method::RenameTo
    )
}

#[test]
fn symlink_escapes_fail_in_every_method() {
    let args = through_symlinks(&fixture());
    assert!(args.len() >= 35);
    let mut pairs = 0;
    for arg in &args {
        let link_itself = is_link_itself(&fixture(), arg);
        for m in METHODS {
            pairs += 1;
            let result = attempt(arg, m);
            match (&result, link_itself) {
                (Ok(()), true) if acts_on_link(m) => {}
                (Err(StorageError::PermissionDenied | StorageError::NotFound), _) => {}
                // The name itself exists (a link) or is not a directory: refused, and
                // without looking at the target.
                (Err(StorageError::AlreadyExists), true) if m == Method::CreateDir => {}
                (Err(StorageError::NotADirectory), true) if m == Method::RemoveDir => {}
                _ => panic!("{m:?}({arg:?}) through an escaping symlink gave {result:?}"),
            }
        }
    }
    assert!(pairs >= 500, "{pairs}");
}

#[test]
fn lexical_escapes_stay_inside() {
    let fx = fixture();
    let args = lexical(&fx);
    for arg in &args {
        let p = VPath::root().resolve(arg).unwrap();
        assert!(!p.as_str().contains("/../") && !p.as_str().ends_with("/.."));
        for m in METHODS {
            // Results vary (most are NotFound; creating `/secret` inside is fine); the
            // outside checks in `attempt` are the point.
            let _ = attempt(arg, m);
        }
    }
    // And the secret is simply not there from the client's point of view.
    assert!(matches!(
        fx.root.stat(&vp("../secret/passwd")),
        Err(StorageError::NotFound)
    ));
}

#[test]
fn invalid_names_are_refused_before_any_method() {
    let fx = fixture();
    let before = snapshot(&fx.base, None);
    for arg in invalid() {
        assert!(
            matches!(
                VPath::root().resolve(&arg),
                Err(StorageError::InvalidPath(_))
            ),
            "resolve({arg:?})"
        );
        assert!(
            matches!(vp("pub").resolve(&arg), Err(StorageError::InvalidPath(_))),
            "pub + {arg:?}"
        );
        // `VPath` is the only way into every other method; `sub_root` takes a string.
        assert!(
            matches!(
                fx.root.sub_root(&arg, true),
                Err(StorageError::InvalidPath(_))
            ),
            "sub_root({arg:?})"
        );
    }
    assert_eq!(before, snapshot(&fx.base, None));
}

/// A user's sub-root: the sibling user's directory and the rest of the data root are
/// outside it, whether reached by `..` or by symlinks planted in the user's directory.
#[test]
fn sub_roots_confine_to_the_users_directory() {
    let fx = fixture();
    let home = fx.path("home");
    std::fs::create_dir_all(home.join("alice")).unwrap();
    std::fs::create_dir_all(home.join("bob")).unwrap();
    std::fs::write(home.join("bob/notes"), b"bob's").unwrap();
    std::os::unix::fs::symlink("../bob", home.join("alice/tobob")).unwrap();
    std::os::unix::fs::symlink("../..", home.join("alice/toroot")).unwrap();
    let alice = fx.root.sub_root("home/alice", true).unwrap();
    let r = alice.stat(&vp("tobob/notes"));
    assert!(matches!(r, Err(StorageError::PermissionDenied)), "{r:?}");
    let r = alice.open_read(&vp("toroot/pub/file.txt"));
    assert!(matches!(r, Err(StorageError::PermissionDenied)), "{r:?}");
    let before = snapshot(&fx.base, Some(&home.join("alice")));
    let bob_ino =
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(home.join("bob")).unwrap());
    let args = [
        "../bob/notes",
        "/../../pub/file.txt",
        "tobob/notes",
        "tobob/new",
        "tobob",
        "toroot/pub/file.txt",
        "toroot/pub/new",
        "toroot/abs/passwd",
    ];
    for arg in args {
        let p = VPath::root().resolve(arg).unwrap();
        for m in METHODS {
            if let Ok(seen) = run(m, &alice, arg, &p) {
                assert!(!seen.inos.contains(&bob_ino), "{m:?}({arg})");
                assert_ne!(seen.bytes, b"bob's", "{m:?}({arg})");
            }
        }
        // Put alice's links back if a method moved or removed them.
        let _ = std::os::unix::fs::symlink("../bob", home.join("alice/tobob"));
        let _ = std::os::unix::fs::symlink("../..", home.join("alice/toroot"));
    }
    assert_eq!(before, snapshot(&fx.base, Some(&home.join("alice"))));
}
