//! The result of a handshake's chain validation (RFC 3820 §4 path validation: the EEC's
//! subject and the limited-proxy flag), carried to the code that runs after the handshake.
//! rustls' verifier traits can only answer yes or no, so the verifier remembers the
//! [`Identity`] of each chain it accepts, keyed by the chain's SHA-256, and the code after
//! the handshake takes it instead of validating the same chain a second time.
//!
//! An entry is only handed out for the very chain it was made for, under the trust
//! snapshot it was validated against (a reload in between means validating again), and
//! for a few seconds; each is taken once. Nothing here makes a chain acceptable: a
//! handshake only completes when the verifier accepted its chain.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};

use super::chain::{Anchors, Identity};

/// How long a validation result waits to be taken (a handshake finishes in milliseconds).
const TTL: Duration = Duration::from_secs(10);
/// Results kept at most (handshakes that failed after their chain was accepted leave
/// theirs behind until then).
const MAX_ENTRIES: usize = 1024;

/// The SHA-256 of a chain (leaf first), each certificate length-prefixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainKey([u8; 32]);

impl ChainKey {
    pub fn of(chain: &[CertificateDer<'_>]) -> ChainKey {
        let mut h = Sha256::new();
        for c in chain {
            h.update((c.len() as u64).to_be_bytes());
            h.update(c.as_ref());
        }
        ChainKey(h.finalize().into())
    }
}

struct Entry {
    key: ChainKey,
    identity: Identity,
    anchors: Weak<Anchors>,
    at: Instant,
}

/// Accepted chains' identities waiting for their handshake to finish, and a count of the
/// full validations made.
#[derive(Default)]
pub struct Verified {
    entries: Mutex<VecDeque<Entry>>,
    validations: AtomicU64,
}

impl Verified {
    /// Counts one full chain validation.
    pub fn counted(&self) {
        self.validations.fetch_add(1, Ordering::Relaxed);
    }

    /// Full chain validations made so far.
    pub fn validations(&self) -> u64 {
        self.validations.load(Ordering::Relaxed)
    }

    /// Remembers that `key` validated to `identity` against `anchors`.
    pub fn remember(&self, key: ChainKey, identity: Identity, anchors: &Arc<Anchors>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        prune(&mut entries);
        if entries.len() >= MAX_ENTRIES {
            entries.pop_front();
        }
        entries.push_back(Entry {
            key,
            identity,
            anchors: Arc::downgrade(anchors),
            at: Instant::now(),
        });
    }

    /// The identity `key` validated to against `anchors` (the current snapshot), once.
    pub fn take(&self, key: ChainKey, anchors: &Arc<Anchors>) -> Option<Identity> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        prune(&mut entries);
        // SECURITY: the same chain under the same trust snapshot, or it is validated again
        // (a CRL that arrived in between applies).
        let at = entries
            .iter()
            .position(|e| e.key == key && std::ptr::eq(e.anchors.as_ptr(), Arc::as_ptr(anchors)))?;
        entries.remove(at).map(|e| e.identity)
    }
}

/// Drops the results older than [`TTL`] (the oldest are at the front).
fn prune(entries: &mut VecDeque<Entry>) {
    while entries.front().is_some_and(|e| e.at.elapsed() > TTL) {
        entries.pop_front();
    }
}
