//! Fuzz the users file parser (`[[user]]` tables with argon2id hashes): an operator file,
//! but reloaded on every change, so a half-written or garbled file must give an error,
//! never a panic; a parsed table answers lookups.
#![no_main]

use griddock::auth::UsersDb;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(db) = UsersDb::parse(&String::from_utf8_lossy(data)) {
        let _ = db.get("alice");
        let _ = db.len();
    }
});
