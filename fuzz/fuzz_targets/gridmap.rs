//! Fuzz the grid-mapfile parser (`"DN" account[,account…]` lines, quoting and escapes):
//! malformed lines are skipped and reported, never a panic; lookups are
//! case-insensitive on the DN.
#![no_main]

use griddock::gsi::gridmap::MapTable;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (table, bad) = MapTable::parse(&text);
    assert!(bad.iter().all(|&n| n >= 1 && n <= text.lines().count()));
    if let Some(line) = text.lines().next() {
        if let Some(rest) = line.trim().strip_prefix('"') {
            if let Some((dn, _)) = rest.split_once('"') {
                assert_eq!(table.accounts(dn), table.accounts(&dn.to_ascii_uppercase()));
            }
        }
    }
});
