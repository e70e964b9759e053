//! Fuzz what a WebDAV client controls before any file is touched: the request path, the
//! `Destination`, `Range`, `Want-Digest` / `Want-Repr-Digest` values and the PROPFIND body.
//! Nothing may panic; an accepted path never carries a dot segment, backslash or NUL and
//! survives the href round trip; a range always lies inside the file.
#![no_main]

use griddock::dav::xml::{multistatus, parse_propfind, Resource};
use griddock::dav::{
    choose_rfc3230, choose_rfc9530, decode_path, destination, encode_href, parse_range,
    RangeAnswer,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = decode_path(&text) {
        let s = p.as_str();
        assert!(s.starts_with('/'));
        assert!(!s.split('/').any(|c| c == ".." || c == "."), "{s}");
        assert!(!s.contains('\\') && !s.contains('\0'), "{s}");
        assert_eq!(decode_path(&encode_href(&p, false)).ok().as_ref(), Some(&p));
    }
    let _ = destination(&text, Some("localhost:8443"));
    let size = u64::from(data.first().copied().unwrap_or(0)) << (data.len() % 40);
    if let RangeAnswer::Partial(r) = parse_range(&text, size) {
        assert!(r.first <= r.last && r.last < size, "{r:?} for {size}");
    }
    let _ = choose_rfc3230(&text);
    let _ = choose_rfc9530(&text);
    if let Ok(req) = parse_propfind(data) {
        let r = Resource {
            href: "/f".into(),
            name: text.chars().take(20).collect(),
            collection: data.len() % 2 == 0,
            size: 1,
            mtime: std::time::UNIX_EPOCH,
            mode: 0o644,
            etag: "\"e\"".into(),
            quota: Some((1, 2)),
        };
        let _ = multistatus(&[r], &req);
    }
});
