//! Fuzz what a GSI client controls before it is trusted: the certificate chain it presents
//! (split into up to four DER blobs), the proxyCertInfo extension body, and grid-mapfile
//! lines (an operator file, but parsed defensively all the same). Nothing may panic; an
//! arbitrary chain never validates against an empty trust store.
#![no_main]

use griddock::gsi::chain::{parse_proxy_cert_info_for_fuzz, validate, Anchors};
use griddock::gsi::gridmap::MapTable;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parts: Vec<&[u8]> = data.splitn(4, |&b| b == 0xff).collect();
    assert!(validate(&parts, &Anchors::default(), 1_800_000_000).is_err());
    let _ = parse_proxy_cert_info_for_fuzz(data);
    let (table, _) = MapTable::parse(&String::from_utf8_lossy(data));
    let _ = table.accounts("/O=Test/CN=x");
});
