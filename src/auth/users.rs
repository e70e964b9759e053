//! The users file (TOML `[[user]]` tables) and its hot reload with notify.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use serde::Deserialize;
use tracing::{info, warn};

use super::AuthError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    user: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    password_hash: String,
    #[serde(default)]
    root: Option<String>,
    #[serde(default)]
    permissions: Permissions,
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum Permissions {
    #[default]
    Read,
    ReadWrite,
}

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub password_hash: String,
    pub root: String,
    pub can_write: bool,
}

/// The validated user table.
#[derive(Debug, Default)]
pub struct UsersDb {
    users: HashMap<String, User>,
}

impl UsersDb {
    pub fn load(path: &Path) -> Result<UsersDb, AuthError> {
        let err = |reason: String| AuthError::UsersFile {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Self::parse(&text).map_err(err)
    }

    pub fn parse(text: &str) -> Result<UsersDb, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut users = HashMap::new();
        for e in file.user {
            let user = validate(e)?;
            if users.insert(user.name.clone(), user.clone()).is_some() {
                return Err(format!("user {:?} defined twice", user.name));
            }
        }
        Ok(UsersDb { users })
    }

    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

fn validate(e: Entry) -> Result<User, String> {
    let who = format!("user {:?}", e.name);
    if e.name.is_empty() || e.name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{who}: invalid name"));
    }
    if super::Authenticator::is_anonymous_user(&e.name) {
        return Err(format!("{who}: reserved for anonymous access"));
    }
    argon2::password_hash::PasswordHash::new(&e.password_hash)
        .map_err(|err| format!("{who}: password_hash is not a PHC string ({err})"))?;
    let root = e.root.unwrap_or_default();
    // SECURITY: a user's root stays inside data_dir.
    let confined = Path::new(&root)
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !confined {
        return Err(format!(
            "{who}: root must be a relative path without \"..\""
        ));
    }
    Ok(User {
        name: e.name,
        password_hash: e.password_hash,
        root,
        can_write: e.permissions == Permissions::ReadWrite,
    })
}

/// Keeps the users-file watcher alive; dropping it stops reloading.
pub struct UsersWatcher {
    _watcher: Option<RecommendedWatcher>,
}

impl UsersWatcher {
    pub fn none() -> Self {
        UsersWatcher { _watcher: None }
    }
}

pub fn watch(path: PathBuf, users: Arc<ArcSwap<UsersDb>>) -> Result<UsersWatcher, AuthError> {
    let werr = |e: notify::Error| AuthError::UsersFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if ev.is_ok() {
            let _ = tx.send(());
        }
    })
    .map_err(werr)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(werr)?;
    let thread_path = path.clone();
    std::thread::Builder::new()
        .name("users-reload".into())
        .spawn(move || reload_loop(&thread_path, &users, &rx))
        .map_err(|e| AuthError::UsersFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    Ok(UsersWatcher {
        _watcher: Some(watcher),
    })
}

fn reload_loop(path: &Path, users: &ArcSwap<UsersDb>, rx: &std::sync::mpsc::Receiver<()>) {
    while rx.recv().is_ok() {
        std::thread::sleep(Duration::from_millis(200));
        while rx.try_recv().is_ok() {}
        match UsersDb::load(path) {
            Ok(db) => {
                info!(path = %path.display(), users = db.len(), "users file reloaded");
                users.store(Arc::new(db));
            }
            Err(e) => warn!(error = %e, "users file rejected, keeping the previous users"),
        }
    }
}
