use std::time::{Duration, Instant};

use super::*;
use crate::config::AuthConfig;

fn users_toml(name: &str, password: &str, perms: &str) -> String {
    let hash = hash_password(password).unwrap();
    format!("[[user]]\nname = \"{name}\"\npassword_hash = \"{hash}\"\nroot = \"{name}\"\npermissions = \"{perms}\"\n")
}

fn cfg(anonymous: AnonymousMode, users_file: Option<std::path::PathBuf>) -> AuthConfig {
    AuthConfig {
        anonymous,
        users_file,
        ..AuthConfig::default()
    }
}

#[tokio::test]
async fn users_file_login() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    std::fs::write(&path, users_toml("alice", "s3cret", "read-write")).unwrap();
    let auth = Authenticator::new(&cfg(AnonymousMode::Off, Some(path))).unwrap();
    let p = auth.login("alice", "s3cret").await.unwrap();
    assert_eq!(
        (p.name.as_str(), p.root.as_str(), p.can_write, p.anonymous),
        ("alice", "alice", true, false)
    );
    assert!(matches!(
        auth.login("alice", "wrong").await,
        Err(AuthError::InvalidCredentials)
    ));
    assert!(matches!(
        auth.login("bob", "s3cret").await,
        Err(AuthError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn anonymous_modes() {
    let off = Authenticator::new(&cfg(AnonymousMode::Off, None)).unwrap();
    assert!(matches!(
        off.login("anonymous", "x").await,
        Err(AuthError::AnonymousDisabled)
    ));
    let read = Authenticator::new(&cfg(AnonymousMode::Read, None)).unwrap();
    assert!(!read.login("FTP", "x@y").await.unwrap().can_write);
    let write = Authenticator::new(&cfg(AnonymousMode::Write, None)).unwrap();
    assert!(write.login("anonymous", "").await.unwrap().can_write);
}

#[test]
fn users_file_validation() {
    let hash = hash_password("x").unwrap();
    let bad = [
        format!("[[user]]\nname = \"a\"\npassword_hash = \"{hash}\"\nroot = \"../etc\"\n"),
        format!("[[user]]\nname = \"a\"\npassword_hash = \"{hash}\"\nroot = \"/etc\"\n"),
        "[[user]]\nname = \"a\"\npassword_hash = \"plaintext\"\n".to_string(),
        format!("[[user]]\nname = \"anonymous\"\npassword_hash = \"{hash}\"\n"),
        format!("[[user]]\nname = \"a\"\npassword_hash = \"{hash}\"\n[[user]]\nname = \"a\"\npassword_hash = \"{hash}\"\n"),
        format!("[[user]]\nname = \"a\"\npassword_hash = \"{hash}\"\nshell = \"/bin/sh\"\n"),
        format!("[[user]]\nname = \"a\"\npassword_hash = \"{hash}\"\npermissions = \"admin\"\n"),
    ];
    for text in bad {
        assert!(UsersDb::parse(&text).is_err(), "accepted: {text}");
    }
}

#[tokio::test]
async fn reload_adds_users_and_ignores_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    std::fs::write(&path, users_toml("alice", "a", "read")).unwrap();
    let auth = Authenticator::new(&cfg(AnonymousMode::Off, Some(path.clone()))).unwrap();
    let _w = auth.watch().unwrap();
    let tmp = dir.path().join("users.toml.new");
    std::fs::write(
        &tmp,
        users_toml("alice", "a", "read") + &users_toml("bob", "b", "read"),
    )
    .unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while auth.login("bob", "b").await.is_err() {
        assert!(Instant::now() < deadline, "bob never appeared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::write(&path, "this is [not toml").unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        auth.login("bob", "b").await.is_ok(),
        "broken file replaced the users"
    );
}
