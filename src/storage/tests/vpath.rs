//! `VPath` resolution table, refusals, parent/name/join.

use crate::storage::{StorageError, VPath};

fn at(cwd: &str) -> VPath {
    VPath::root().resolve(cwd).unwrap()
}

#[test]
fn resolution_table() {
    let long_ok = format!("/{}", "n".repeat(255));
    let cases: Vec<(&str, &str, &str)> = vec![
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
        ("/a", "%2e%2e/%2f", "/a/%2e%2e/%2f"),
        ("/a/b/c", "../../d", "/a/d"),
        ("/", "a b/c d", "/a b/c d"),
        ("/", " ..", "/ .."),
        ("/", ".. ", "/.. "),
        ("/", "ünï/ß", "/ünï/ß"),
        ("/", "\u{ff0e}\u{ff0e}", "/\u{ff0e}\u{ff0e}"),
        ("/", ".hidden", "/.hidden"),
        ("/", "x/..", "/"),
        ("/", "x/../..", "/"),
        ("/", "////", "/"),
        ("/a", "./", "/a"),
        ("/", ".griddock", "/.griddock"),
        ("/", "griddock-part.x", "/griddock-part.x"),
        ("/", "a/.griddock", "/a/.griddock"),
        ("/a/b", "../../../../c/./d/..", "/c"),
        ("/a", "//b", "/b"),
        ("/", "~", "/~"),
        ("/", "a\tb", "/a\tb"),
        ("/", &long_ok, &long_ok),
    ];
    assert!(cases.len() >= 25);
    for (cwd, arg, want) in cases {
        let got = at(cwd).resolve(arg).unwrap();
        assert_eq!(got.as_str(), want, "{cwd} + {arg}");
        assert_eq!(got.to_string(), want);
        // Normal form: resolving the result again is the identity.
        assert_eq!(VPath::root().resolve(got.as_str()).unwrap(), got);
    }
}

#[test]
fn refusals() {
    let cases: Vec<String> = vec![
        "a\0b".into(),
        "\0".into(),
        ".griddock-part.x".into(),
        ".griddock-".into(),
        "d/.griddock-tmp.1/x".into(),
        "d/.griddock-tmp.1/../x".into(),
        "a\\b".into(),
        "..\\..\\x".into(),
        "a\nb".into(),
        "a\rb".into(),
        "a/".repeat(3000),
        "n".repeat(256),
    ];
    for arg in cases {
        assert!(
            matches!(
                VPath::root().resolve(&arg),
                Err(StorageError::InvalidPath(_))
            ),
            "{arg:?}"
        );
    }
    // Refused even when `..` would cancel the component.
    assert!(at("/a").resolve(".griddock-x/..").is_err());
}

#[test]
fn parent_name_join() {
    assert_eq!(at("/a/b").parent().unwrap().as_str(), "/a");
    assert_eq!(at("/a").parent().unwrap().as_str(), "/");
    assert!(VPath::root().parent().is_none());
    assert_eq!(at("/a/b").file_name(), Some("b"));
    assert_eq!(VPath::root().file_name(), None);
    assert_eq!(at("/a/b").relative(), "a/b");
    assert_eq!(VPath::root().relative(), ".");
    assert!(VPath::root().is_root() && !at("/a").is_root());
    assert_eq!(at("/a").join("b c").unwrap().as_str(), "/a/b c");
    for bad in ["a/b", "..", ".", "", "/", ".griddock-part.b", "x\\y", "a\0"] {
        assert!(
            matches!(at("/a").join(bad), Err(StorageError::InvalidPath(_))),
            "join({bad:?})"
        );
    }
}

#[test]
fn starts_with_is_by_component() {
    assert!(at("/a/b").starts_with(&at("/a")));
    assert!(at("/a").starts_with(&at("/a")));
    assert!(at("/a").starts_with(&VPath::root()));
    assert!(!at("/ab").starts_with(&at("/a")));
    assert!(!at("/a").starts_with(&at("/a/b")));
}
