//! Fuzz what a browser controls in the page's requests (`griddock::dav::web_input`): the
//! `Cookie` and `Accept` headers, a part's `Content-Range`, and a file name turned into a
//! `Content-Disposition`. Nothing may panic; an accepted range lies inside its file and
//! prints back to itself; a session cookie value never carries a `;`; the attachment
//! header is one valid header value whose `filename*` decodes to the exact name and
//! whose fallback is one quoted ASCII token.
#![no_main]

use griddock::dav::web_input::{accepts_html, attachment, content_range, session_cookie};
use hyper::header::{HeaderMap, HeaderValue, ACCEPT, COOKIE};
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(r) = content_range(&text) {
        assert!(r.first <= r.last && r.last < r.total, "{r:?}");
        assert!(r.length() >= 1 && r.length() <= r.total, "{r:?}");
        let printed = format!("bytes {}-{}/{}", r.first, r.last, r.total);
        assert_eq!(content_range(&printed), Some(r));
    }
    if let Ok(v) = HeaderValue::from_bytes(data) {
        let mut h = HeaderMap::new();
        h.append(COOKIE, v.clone());
        h.append(ACCEPT, v);
        if let Some(c) = session_cookie(&h) {
            assert!(!c.contains(';') && c.trim() == c, "{c:?}");
        }
        let _ = accepts_html(&h);
    }
    let a = attachment(&text);
    let v = HeaderValue::from_str(&a).expect("a valid header value");
    assert!(v.to_str().is_ok() && a.is_ascii());
    let (fallback, exact) = a
        .strip_prefix("attachment; filename=\"")
        .and_then(|r| r.split_once("\"; filename*=UTF-8''"))
        .expect("the two parameters");
    assert!(!fallback.contains('"') && !exact.contains('"'), "{a}");
    assert!(!exact.contains(';') && !exact.contains(' '), "{a}");
    let decoded = percent_decode_str(exact).decode_utf8().expect("UTF-8");
    assert_eq!(decoded, text);
});
