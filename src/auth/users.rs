//! The users file: TOML `[[user]]` tables with argon2id PHC hashes (RFC 9106), validated
//! into a [`UsersDb`]. Its hot reload is `reload.rs`.

use std::collections::HashMap;
use std::path::{Component, Path};

use serde::Deserialize;

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
