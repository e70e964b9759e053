//! Fuzz what a GSI client returns for delegation: `delegation::accept` (and through it
//! `split_ders`) gets arbitrary bytes for a key griddock just made. Nothing may panic, and
//! no input may be accepted for that key: a fuzzer cannot forge a certificate for it.
#![no_main]

use griddock::gsi::delegation;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A fresh ECDSA P-256 key per input (microseconds; rcgen's type is not named here).
    let (key, _csr) = delegation::request().unwrap();
    assert!(delegation::accept(data, &key).is_err());
});
