use std::time::Duration;

use time::macros::datetime;

use super::*;
use crate::auth::rights::{Activity, Grant};

const NOW: OffsetDateTime = datetime!(2027-01-01 12:00 UTC);
const HOUR: Duration = Duration::from_secs(3600);
use MacaroonActivity::*;

fn minter() -> Minter {
    Minter::from_key(&[7u8; 32], Duration::from_secs(24 * 3600), "griddock.test")
}

fn writer() -> Grant {
    Grant::account("alice", "/home/alice", true)
}

fn reader() -> Grant {
    Grant::account("bob", "/home/bob", false)
}

#[test]
fn mint_verify_round_trip() {
    let m = minter();
    let text = m
        .mint(&writer(), "/home/alice/data", &[Download, List], HOUR, NOW)
        .unwrap();
    assert!(
        !text.contains('.') && !text.contains('='),
        "base64url, no JWT dots"
    );
    let g = m.verify(&text, NOW).unwrap();
    assert_eq!(g.identity, "alice");
    assert_eq!(g.expires, NOW + HOUR);
    assert!(g.allows(Activity::Read, "/home/alice/data/f"));
    assert!(g.allows(Activity::List, "/home/alice/data"));
    assert!(g.allows(Activity::Stat, "/home/alice/data/f"));
    // Not granted: another activity, another path, a sibling prefix.
    assert!(!g.allows(Activity::Create, "/home/alice/data/f"));
    assert!(!g.allows(Activity::Delete, "/home/alice/data/f"));
    assert!(!g.allows(Activity::Read, "/home/alice/other"));
    assert!(!g.allows(Activity::Read, "/home/alice/database"));
    assert!(!g.allows(Activity::Read, "/home/alice/data/../other"));
}

#[test]
fn write_activities_map_as_documented() {
    let m = minter();
    let text = m
        .mint(
            &writer(),
            "/home/alice/sub",
            &[Upload, Delete, Manage],
            HOUR,
            NOW,
        )
        .unwrap();
    let g = m.verify(&text, NOW).unwrap();
    for a in [
        Activity::Create,
        Activity::Delete,
        Activity::Overwrite,
        Activity::MakeDir,
        Activity::Rename,
    ] {
        assert!(g.allows(a, "/home/alice/sub/x"), "{a}");
    }
    assert!(!g.allows(Activity::Read, "/home/alice/sub/x"));
    // MANAGE also makes (and stats) the parent collection, one level only, as gfal2's
    // mkdir needs (`<dir>/gfal2_mkdir.reserved`, then MKCOL `<dir>`).
    assert!(g.allows(Activity::MakeDir, "/home/alice"));
    assert!(g.allows(Activity::Stat, "/home/alice"));
    assert!(!g.allows(Activity::MakeDir, "/home"));
    assert!(!g.allows(Activity::Delete, "/home/alice"));
    assert!(!g.allows(Activity::MakeDir, "/home/alice/other"));
    // So MANAGE is only minted where the caller may make the parent itself: not at the
    // top of its own rights.
    let text = m
        .mint(&writer(), "/home/alice", &[Upload, Manage], HOUR, NOW)
        .unwrap();
    let g = m.verify(&text, NOW).unwrap();
    assert!(g.allows(Activity::Create, "/home/alice/x"));
    assert!(!g.allows(Activity::MakeDir, "/home/alice/x"));
    assert!(!g.allows(Activity::MakeDir, "/home"));
}

#[test]
fn tampering_is_detected() {
    let m = minter();
    let text = m
        .mint(&writer(), "/home/alice", &[Download], HOUR, NOW)
        .unwrap();
    let mut raw = v2::decode(&text).unwrap();
    raw.caveats[1] = b"path:/".to_vec();
    assert!(matches!(
        m.verify(&v2::encode(&raw), NOW),
        Err(MacaroonError::Invalid("bad signature"))
    ));
    let mut raw = v2::decode(&text).unwrap();
    raw.signature[0] ^= 1;
    assert!(matches!(
        m.verify(&v2::encode(&raw), NOW),
        Err(MacaroonError::Invalid(_))
    ));
    let mut raw = v2::decode(&text).unwrap();
    raw.caveats.pop(); // drop `before:`: the chain no longer ends at the signature
    assert!(m.verify(&v2::encode(&raw), NOW).is_err());
    let other = Minter::from_key(&[8u8; 32], HOUR, "griddock.test");
    assert!(matches!(
        other.verify(&text, NOW),
        Err(MacaroonError::Invalid("bad signature"))
    ));
    for junk in [
        "",
        "AgA",
        "eyJhbGciOiJSUzI1NiJ9",
        "!!!!",
        &"A".repeat(10_000),
    ] {
        assert!(m.verify(junk, NOW).is_err());
    }
}

#[test]
fn holder_caveats_only_narrow() {
    let m = minter();
    let text = m
        .mint(&writer(), "/home/alice", &[Download, Upload], HOUR, NOW)
        .unwrap();
    let mut raw = v2::decode(&text).unwrap();
    v2::add_caveat(&mut raw, b"path:/home/alice/sub");
    v2::add_caveat(&mut raw, b"activity:DOWNLOAD");
    let g = m.verify(&v2::encode(&raw), NOW).unwrap();
    assert!(g.allows(Activity::Read, "/home/alice/sub/f"));
    assert!(!g.allows(Activity::Read, "/home/alice/f"), "path narrowed");
    assert!(
        !g.allows(Activity::Create, "/home/alice/sub/f"),
        "activity narrowed"
    );
    // Widening attempts: a path outside, an activity not granted, a later expiry.
    let mut raw = v2::decode(&text).unwrap();
    v2::add_caveat(&mut raw, b"path:/");
    v2::add_caveat(&mut raw, b"activity:DELETE,DOWNLOAD");
    v2::add_caveat(&mut raw, b"before:2099-01-01T00:00:00Z");
    let g = m.verify(&v2::encode(&raw), NOW).unwrap();
    assert!(!g.allows(Activity::Read, "/etc/passwd"));
    assert!(g.allows(Activity::Read, "/home/alice/f"));
    assert!(!g.allows(Activity::Delete, "/home/alice/f"));
    assert_eq!(g.expires, NOW + HOUR);
    // Disjoint paths grant nothing.
    let mut raw = v2::decode(&text).unwrap();
    v2::add_caveat(&mut raw, b"path:/home/bob");
    let g = m.verify(&v2::encode(&raw), NOW).unwrap();
    assert!(!g.allows(Activity::Read, "/home/bob/f"));
    assert!(!g.allows(Activity::Read, "/home/alice/f"));
}

#[test]
fn unknown_or_duplicate_caveats_are_refused() {
    let m = minter();
    let text = m
        .mint(&writer(), "/home/alice", &[Download], HOUR, NOW)
        .unwrap();
    for extra in [
        &b"ip:127.0.0.1"[..],
        b"name:mallory",
        b"nonsense",
        b"path:../x",
        b"activity:FLY",
        b"before:soon",
    ] {
        let mut raw = v2::decode(&text).unwrap();
        v2::add_caveat(&mut raw, extra);
        assert!(
            matches!(
                m.verify(&v2::encode(&raw), NOW),
                Err(MacaroonError::Invalid(_))
            ),
            "{}",
            String::from_utf8_lossy(extra)
        );
    }
}

#[test]
fn expiry_is_capped_and_enforced() {
    let m = minter();
    let text = m
        .mint(&writer(), "/home/alice", &[Download], HOUR, NOW)
        .unwrap();
    assert!(m.verify(&text, NOW + HOUR - Duration::from_secs(1)).is_ok());
    assert!(matches!(
        m.verify(&text, NOW + HOUR),
        Err(MacaroonError::Invalid("expired"))
    ));
    let long = m
        .mint(&writer(), "/home/alice", &[Download], 100 * 24 * HOUR, NOW)
        .unwrap();
    assert_eq!(
        m.verify(&long, NOW).unwrap().expires,
        NOW + 24 * HOUR,
        "configured maximum"
    );
    let mut proxy = writer();
    proxy.expires = Some(NOW + Duration::from_secs(600));
    let short = m
        .mint(&proxy, "/home/alice", &[Download], HOUR, NOW)
        .unwrap();
    assert_eq!(
        m.verify(&short, NOW).unwrap().expires,
        NOW + Duration::from_secs(600),
        "caller's expiry"
    );
    proxy.expires = Some(NOW);
    assert!(matches!(
        m.mint(&proxy, "/home/alice", &[Download], HOUR, NOW),
        Err(MacaroonError::NotAllowed(_))
    ));
}

#[test]
fn never_more_than_the_caller_has() {
    let m = minter();
    assert!(matches!(
        m.mint(&reader(), "/home/bob", &[Upload], HOUR, NOW),
        Err(MacaroonError::NotAllowed(_))
    ));
    let text = m
        .mint(
            &reader(),
            "/home/bob",
            &[Download, Upload, Delete],
            HOUR,
            NOW,
        )
        .unwrap();
    let g = m.verify(&text, NOW).unwrap();
    assert!(g.allows(Activity::Read, "/home/bob/f"));
    assert!(!g.allows(Activity::Create, "/home/bob/f"), "UPLOAD dropped");
    for outside in ["/home", "/", "/home/bobby", "/home/bob/../alice", "/etc"] {
        let r = m.mint(&reader(), outside, &[Download], HOUR, NOW);
        assert!(
            r.is_err()
                || !m
                    .verify(&r.unwrap(), NOW)
                    .unwrap()
                    .allows(Activity::Read, "/home/alice/x"),
            "{outside}"
        );
    }
    assert!(m
        .mint(&reader(), "/home/bobby", &[Download], HOUR, NOW)
        .is_err());
    assert!(m.mint(&reader(), "/home", &[Download], HOUR, NOW).is_err());
    assert!(m
        .mint(&reader(), "/home/bob/../alice", &[Download], HOUR, NOW)
        .is_err());
    // A token holder delegates at most its token's scope.
    let token_caller = Grant {
        identity: "alice@https://issuer.test".into(),
        rights: crate::auth::token::scope::parse_scopes("storage.read:/data", "/atlas"),
        expires: Some(NOW + HOUR),
    };
    assert!(m
        .mint(&token_caller, "/atlas/data/f", &[Download], HOUR, NOW)
        .is_ok());
    assert!(m
        .mint(&token_caller, "/atlas", &[Download], HOUR, NOW)
        .is_err());
    assert!(m
        .mint(&token_caller, "/atlas/data/f", &[Upload], HOUR, NOW)
        .is_err());
}

#[test]
fn key_is_created_once_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let a = Minter::load_or_create(&state, HOUR, "x").unwrap();
    let path = state.join(KEY_FILE);
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 32);
    let text = a
        .mint(&writer(), "/home/alice", &[Download], HOUR, NOW)
        .unwrap();
    let b = Minter::load_or_create(&state, HOUR, "x").unwrap();
    assert!(b.verify(&text, NOW).is_ok(), "same key after a restart");
    let other = tempfile::tempdir().unwrap();
    let c = Minter::load_or_create(other.path(), HOUR, "x").unwrap();
    assert!(c.verify(&text, NOW).is_err(), "another server's key");
    std::fs::write(&path, b"short").unwrap();
    assert!(Minter::load_or_create(&state, HOUR, "x").is_err());
}

#[test]
fn iso8601_validity() {
    let cases = [
        ("PT60M", Some(3600)),
        ("PT130M", Some(7800)),
        ("PT1H30M", Some(5400)),
        ("P1D", Some(86400)),
        ("P1DT1S", Some(86401)),
        ("PT90S", Some(90)),
        ("PT", None),
        ("P", None),
        ("60", None),
        ("PT1M1H", None),
        ("P1Y", None),
        ("PT-5M", None),
        ("PT99999999999999999999H", None),
    ];
    for (text, secs) in cases {
        assert_eq!(parse_validity(text).map(|d| d.as_secs()), secs, "{text}");
    }
}

#[test]
fn a_root_is_kept_and_cannot_be_remapped() {
    let m = minter();
    let text = m
        .mint_rooted(
            &writer(),
            "/home/alice",
            "/home/alice/data",
            &[Download],
            HOUR,
            NOW,
        )
        .unwrap();
    let g = m.verify(&text, NOW).unwrap();
    assert_eq!(g.root.as_deref(), Some("/home/alice"));
    assert!(g.allows(Activity::Read, "/home/alice/data/f"));
    // The whole data directory as root: no caveat.
    let text0 = m
        .mint(&writer(), "/home/alice", &[Download], HOUR, NOW)
        .unwrap();
    assert_eq!(m.verify(&text0, NOW).unwrap().root, None);
    // SECURITY: a holder cannot add a second root (re-mapping the URLs).
    for extra in [&b"root:/"[..], b"root:/home/bob", b"root:/home/alice/../x"] {
        let mut raw = v2::decode(&text).unwrap();
        v2::add_caveat(&mut raw, extra);
        assert!(
            matches!(
                m.verify(&v2::encode(&raw), NOW),
                Err(MacaroonError::Invalid(_))
            ),
            "{}",
            String::from_utf8_lossy(extra)
        );
    }
}
