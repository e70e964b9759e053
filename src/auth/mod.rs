//! Authentication for clear-text logins (RFC 959 §4.1.1 USER/PASS, RFC 1635 anonymous
//! FTP): anonymous access per `[auth] anonymous`, and a users file with argon2id hashes
//! (RFC 9106) that is reloaded when it changes (`reload.rs`); bearer credentials for the
//! HTTPS data endpoint ([`bearer`]: WLCG JWTs in [`token`], griddock's own macaroons in
//! [`macaroon`], both expressed as path-scoped [`rights`]).

pub mod bearer;
pub mod macaroon;
mod reload;
pub mod rights;
pub mod token;
mod users;

use std::sync::Arc;

use arc_swap::ArcSwap;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

use crate::config::{AnonymousMode, AuthConfig};
pub use bearer::{BearerAuthority, BearerError, BearerGrant, BearerSetupError};
pub use reload::UsersWatcher;
pub use rights::{Activity, Grant, Right};
pub use users::UsersDb;

/// Who a session runs as after login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    /// Root directory relative to data_dir ("" = all of it).
    pub root: String,
    pub can_write: bool,
    pub anonymous: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong user or password; deliberately does not say which.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("anonymous login is disabled")]
    AnonymousDisabled,
    #[error("users file {path}: {reason}")]
    UsersFile { path: String, reason: String },
    #[error("password hashing failed: {0}")]
    Hash(String),
}

#[derive(Clone)]
pub struct Authenticator {
    anonymous: AnonymousMode,
    users: Arc<ArcSwap<UsersDb>>,
    users_file: Option<std::path::PathBuf>,
    dummy_hash: Arc<String>,
}

impl Authenticator {
    pub fn new(cfg: &AuthConfig) -> Result<Authenticator, AuthError> {
        let db = match &cfg.users_file {
            Some(path) => UsersDb::load(path)?,
            None => UsersDb::default(),
        };
        Ok(Authenticator {
            anonymous: cfg.anonymous,
            users: Arc::new(ArcSwap::from_pointee(db)),
            users_file: cfg.users_file.clone(),
            dummy_hash: Arc::new(hash_password("griddock-timing-equaliser")?),
        })
    }

    /// Reloads the users file when it changes; no-op guard without one.
    pub fn watch(&self) -> Result<UsersWatcher, AuthError> {
        match &self.users_file {
            Some(path) => reload::watch(path.clone(), Arc::clone(&self.users)),
            None => Ok(UsersWatcher::none()),
        }
    }

    pub fn is_anonymous_user(name: &str) -> bool {
        name.eq_ignore_ascii_case("anonymous") || name.eq_ignore_ascii_case("ftp")
    }

    pub async fn login(&self, user: &str, password: &str) -> Result<Principal, AuthError> {
        if Self::is_anonymous_user(user) {
            return self.anonymous_login();
        }
        let db = self.users.load_full();
        let entry = db.get(user).cloned();
        let hash = entry.as_ref().map_or_else(
            || self.dummy_hash.as_str().to_string(),
            |u| u.password_hash.clone(),
        );
        let password = password.to_string();
        // SECURITY: unknown users cost one argon2 verification too, so timing does not
        // reveal which names exist.
        let ok = tokio::task::spawn_blocking(move || verify(&hash, &password))
            .await
            .unwrap_or(false);
        match entry {
            Some(u) if ok => Ok(Principal {
                name: u.name,
                root: u.root,
                can_write: u.can_write,
                anonymous: false,
            }),
            _ => Err(AuthError::InvalidCredentials),
        }
    }

    /// Root and write permission of an account a GSI login maps to: its users-file entry
    /// when there is one, else the whole data directory, writable (the grid-mapfile is
    /// the authorisation).
    pub fn account(&self, name: &str) -> (String, bool) {
        match self.users.load().get(name) {
            Some(u) => (u.root.clone(), u.can_write),
            None => (String::new(), true),
        }
    }

    /// The stored password hash, root and write permission of `name` as they are now: a
    /// protocol that caches a verified password reuses it only while they are unchanged.
    pub fn user_stamp(&self, name: &str) -> Option<(String, String, bool)> {
        self.users
            .load()
            .get(name)
            .map(|u| (u.password_hash.clone(), u.root.clone(), u.can_write))
    }

    fn anonymous_login(&self) -> Result<Principal, AuthError> {
        let can_write = match self.anonymous {
            AnonymousMode::Off => return Err(AuthError::AnonymousDisabled),
            AnonymousMode::Read => false,
            AnonymousMode::Write => true,
        };
        Ok(Principal {
            name: "anonymous".into(),
            root: String::new(),
            can_write,
            anonymous: true,
        })
    }
}

fn verify(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// An argon2id PHC string for the users file.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests;
