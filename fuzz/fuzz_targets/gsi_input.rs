//! Fuzz what a GSI client controls before it is trusted: the certificate chain it presents
//! (up to four DER blobs), the proxyCertInfo extension body, and grid-mapfile lines (an
//! operator file, but parsed defensively all the same). Nothing may panic; an arbitrary
//! chain never validates against an empty trust store.
//!
//! Input framing (so real chains survive: DER is full of 0xff bytes): up to four parts,
//! each a 2-byte big-endian length and that many bytes; whatever follows the last part is
//! also fed to the proxyCertInfo parser and the grid-mapfile parser. Seeds made from the
//! test fixtures' proxies are in fuzz/seeds/gsi_input (fuzz/seeds/make-gsi-seeds.sh).
#![no_main]

use griddock::gsi::chain::{parse_proxy_cert_info_for_fuzz, validate, Anchors};
use griddock::gsi::gridmap::MapTable;
use libfuzzer_sys::fuzz_target;

fn frames(mut data: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut parts = Vec::new();
    while parts.len() < 4 && data.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([data[0], data[1]])).min(data.len() - 2);
        parts.push(&data[2..2 + len]);
        data = &data[2 + len..];
    }
    (parts, data)
}

fuzz_target!(|data: &[u8]| {
    let (parts, rest) = frames(data);
    assert!(validate(&parts, &Anchors::default(), 1_800_000_000).is_err());
    for p in parts.iter().copied().chain([rest]) {
        let _ = parse_proxy_cert_info_for_fuzz(p);
    }
    let (table, _) = MapTable::parse(&String::from_utf8_lossy(rest));
    let _ = table.accounts("/O=Test/CN=x");
});
