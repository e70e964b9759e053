//! A short-lived cache of verified HTTP Basic credentials (RFC 7617): every WebDAV request
//! carries the password again, and an argon2id verification costs ~20 ms of CPU, so a
//! listing or sync of many files would spend most of its time hashing. An entry is keyed
//! by SHA-256 of user and password (no plaintext kept), lives at most [`TTL`], and is used
//! only while the user's users-file entry (hash, root, permission) is unchanged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::auth::Principal;

/// Longest reuse of one verification.
pub const TTL: Duration = Duration::from_secs(60);
/// Most entries kept; the table is emptied when full.
const MAX: usize = 1024;

/// What a user's entry looked like when the password was verified.
pub type Stamp = (String, String, bool);

struct Entry {
    principal: Principal,
    stamp: Stamp,
    at: Instant,
}

#[derive(Default)]
pub struct CredCache {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

fn key(user: &str, password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(user.as_bytes());
    h.update([0u8]);
    h.update(password.as_bytes());
    h.finalize().into()
}

impl CredCache {
    /// The principal of an earlier successful verification of exactly this user and
    /// password, if it is recent and `current` (the entry now) equals its stamp.
    pub fn get(&self, user: &str, password: &str, current: Option<&Stamp>) -> Option<Principal> {
        let k = key(user, password);
        let mut map = self.entries.lock().ok()?;
        let e = map.get(&k)?;
        // SECURITY: a changed password, root or permission (or a removed user) and age
        // both end the reuse at once.
        if e.at.elapsed() > TTL || current != Some(&e.stamp) {
            map.remove(&k);
            return None;
        }
        Some(e.principal.clone())
    }

    pub fn put(&self, user: &str, password: &str, principal: Principal, stamp: Stamp) {
        let Ok(mut map) = self.entries.lock() else {
            return;
        };
        if map.len() >= MAX {
            map.clear();
        }
        map.insert(
            key(user, password),
            Entry {
                principal,
                stamp,
                at: Instant::now(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Principal {
        Principal {
            name: "alice".into(),
            root: String::new(),
            can_write: true,
            anonymous: false,
        }
    }

    fn stamp(hash: &str) -> Stamp {
        (hash.into(), String::new(), true)
    }

    #[test]
    fn reuse_needs_the_same_password_and_an_unchanged_entry() {
        let c = CredCache::default();
        c.put("alice", "pw", p(), stamp("h1"));
        assert_eq!(c.get("alice", "pw", Some(&stamp("h1"))), Some(p()));
        assert_eq!(c.get("alice", "wrong", Some(&stamp("h1"))), None);
        assert_eq!(c.get("alic", "epw", Some(&stamp("h1"))), None);
        // The password (hash) changed: the entry is gone for good.
        assert_eq!(c.get("alice", "pw", Some(&stamp("h2"))), None);
        assert_eq!(c.get("alice", "pw", Some(&stamp("h1"))), None);
        c.put("alice", "pw", p(), stamp("h1"));
        assert_eq!(c.get("alice", "pw", None), None, "user removed");
        c.put("alice", "pw", p(), stamp("h1"));
        let mut ro = stamp("h1");
        ro.2 = false;
        assert_eq!(c.get("alice", "pw", Some(&ro)), None, "permission changed");
    }
}
