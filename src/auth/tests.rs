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

/// Polls until `bob` is in the table (the users file was reloaded with him).
async fn until_known(auth: &Authenticator, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while auth.account(name).0 != name {
        assert!(Instant::now() < deadline, "{name} never appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reloads that happen with nothing left to trigger them (a watcher reacting to its own
/// reads would show up here): three settle periods with no change must add none.
async fn assert_no_more_reloads(w: &UsersWatcher, expected: u64) {
    assert_eq!(w.reloads(), expected);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(w.reloads(), expected, "reloads without a change");
}

fn replace(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp-new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test]
async fn other_files_in_the_directory_and_our_own_reads_start_no_reload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    std::fs::write(&path, users_toml("alice", "a", "read")).unwrap();
    let auth = Authenticator::new(&cfg(AnonymousMode::Off, Some(path.clone()))).unwrap();
    let w = auth.watch().unwrap();
    let log = dir.path().join("griddock.log");
    for i in 0..15 {
        std::fs::write(&log, format!("line {i}\n").repeat(i + 1)).unwrap();
        std::fs::read(&path).unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    // The noise is queued before this edit, so once bob is there it has been handled.
    replace(
        &path,
        &(users_toml("alice", "a", "read") + &users_toml("bob", "b", "read")),
    );
    until_known(&auth, "bob").await;
    assert_no_more_reloads(&w, 1).await;
}

#[tokio::test]
async fn a_kubernetes_data_symlink_swap_reloads_exactly_once() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The layout of a mounted Secret: users.toml → ..data/users.toml, ..data → ..<stamp>.
    std::fs::create_dir(d.join("..2026_12_01_a")).unwrap();
    std::fs::write(
        d.join("..2026_12_01_a/users.toml"),
        users_toml("alice", "a", "read"),
    )
    .unwrap();
    symlink("..2026_12_01_a", d.join("..data")).unwrap();
    symlink("..data/users.toml", d.join("users.toml")).unwrap();
    let path = d.join("users.toml");
    let auth = Authenticator::new(&cfg(AnonymousMode::Off, Some(path))).unwrap();
    let w = auth.watch().unwrap();
    // What the kubelet does: a new timestamped directory, a new symlink renamed over
    // ..data, the old directory removed.
    std::fs::create_dir(d.join("..2026_12_01_b")).unwrap();
    std::fs::write(
        d.join("..2026_12_01_b/users.toml"),
        users_toml("alice", "a", "read") + &users_toml("bob", "b", "read"),
    )
    .unwrap();
    symlink("..2026_12_01_b", d.join("..data_tmp")).unwrap();
    std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();
    std::fs::remove_dir_all(d.join("..2026_12_01_a")).unwrap();
    until_known(&auth, "bob").await;
    assert_no_more_reloads(&w, 1).await;
}

#[tokio::test]
async fn an_edit_reloads_once_and_a_touch_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    std::fs::write(&path, users_toml("alice", "a", "read")).unwrap();
    let auth = Authenticator::new(&cfg(AnonymousMode::Off, Some(path.clone()))).unwrap();
    let w = auth.watch().unwrap();
    let both = users_toml("alice", "a", "read") + &users_toml("bob", "b", "read");
    std::fs::write(&path, &both).unwrap();
    until_known(&auth, "bob").await;
    assert_eq!(w.reloads(), 1);
    // Same content, new mtime and ctime: examined, not reloaded.
    let f = std::fs::File::open(&path).unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    std::fs::write(&path, &both).unwrap();
    replace(&path, &(both + &users_toml("carol", "c", "read")));
    until_known(&auth, "carol").await;
    assert_no_more_reloads(&w, 2).await;
}
