//! What a browser controls in the page's requests, parsed without I/O (and fuzzed by the
//! `web_input` target): the session cookie (RFC 6265 §5.4 `Cookie` pairs), whether a
//! navigation asks for HTML (RFC 9110 §12.5.1 `Accept`), a part's `Content-Range`
//! (RFC 9110 §14.4) — and, going out, the `Content-Disposition` that names a downloaded
//! file (RFC 6266 §4.3 with an RFC 8187 `filename*`), built from a file name a client chose.

use hyper::header::{ACCEPT, COOKIE};
use hyper::HeaderMap;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

/// The session cookie's name; `__Host-` forbids `Domain` and requires `Secure` and `Path=/`.
pub const COOKIE_NAME: &str = "__Host-griddock";

/// The session cookie's value, if the request carries one (first match over all `Cookie`
/// headers; a name must match exactly, so `griddock=` or `x__Host-griddock=` do not count).
pub fn session_cookie(h: &HeaderMap) -> Option<String> {
    h.get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == COOKIE_NAME)
        .map(|(_, v)| v.trim().to_string())
}

/// Whether any `Accept` header lists `text/html` (parameters such as `;q=0.9` ignored).
pub fn accepts_html(h: &HeaderMap) -> bool {
    h.get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.split(';').next().unwrap_or("").trim() == "text/html")
}

/// A part's place in its file, from `Content-Range: bytes first-last/total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartRange {
    pub first: u64,
    pub last: u64,
    pub total: u64,
}

impl PartRange {
    /// The part's length in bytes (never zero: `first <= last`).
    pub fn length(&self) -> u64 {
        self.last - self.first + 1
    }
}

/// `bytes a-b/total` with `a <= b < total`; everything else (`*`, an unknown total, a
/// range past the end, other units) is `None`.
pub fn content_range(v: &str) -> Option<PartRange> {
    let spec = v.trim().strip_prefix("bytes ")?;
    let (range, total) = spec.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let num = |s: &str| s.trim().parse::<u64>().ok();
    let (first, last, total) = (num(a)?, num(b)?, num(total)?);
    (first <= last && last < total).then_some(PartRange { first, last, total })
}

/// RFC 6266 §4.3: an ASCII fallback (anything but letters, digits and `._-` becomes `_`)
/// and the exact name in RFC 8187 `filename*`, percent-encoded, so no name a client chose
/// can end the parameter, add one, or carry a control character into the header.
pub fn attachment(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact = utf8_percent_encode(name, NON_ALPHANUMERIC);
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn content_ranges() {
        let r = |first, last, total| Some(PartRange { first, last, total });
        assert_eq!(content_range("bytes 0-9/10"), r(0, 9, 10));
        assert_eq!(content_range("bytes 5-5/6"), r(5, 5, 6));
        assert_eq!(content_range(" bytes 1 - 2 / 3 "), r(1, 2, 3));
        assert_eq!(content_range("bytes 5-5/6").map(|p| p.length()), Some(1));
        for bad in [
            "bytes 9-0/10",
            "bytes 0-10/10",
            "bytes */10",
            "bytes 0-1/*",
            "items 0-1/2",
            "bytes 0-1",
            "bytes -1-2/3",
            "bytes 0-18446744073709551616/18446744073709551617",
            "",
        ] {
            assert_eq!(content_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1"));
        h.append(
            COOKIE,
            HeaderValue::from_static("b=2; __Host-griddock=xyz ; c=3"),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("xyz"));
        for other in [
            "griddock=xyz",
            "x__Host-griddock=xyz",
            "__host-griddock=xyz",
        ] {
            let mut h = HeaderMap::new();
            h.append(COOKIE, HeaderValue::from_static(other));
            assert_eq!(session_cookie(&h), None, "{other}");
        }
    }

    #[test]
    fn html_is_asked_for_by_browsers_only() {
        let accept = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.append(ACCEPT, HeaderValue::from_static(v));
            accepts_html(&h)
        };
        assert!(accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(accept("application/json, text/html;q=0.1"));
        assert!(!accept("*/*"));
        assert!(!accept("text/htmlx, application/xml"));
        assert!(!accepts_html(&HeaderMap::new()));
    }

    #[test]
    fn attachment_names_are_quoted_safely() {
        let a = attachment("<img src=x onerror=alert(1)>.txt");
        assert!(a.starts_with("attachment; filename=\"_img_src_x_onerror_alert_1__.txt\""));
        assert!(!a[a.find("filename*").unwrap()..].contains('<'));
        let a = attachment("a\"b;c é.html");
        assert_eq!(a.matches('"').count(), 2, "{a}");
        assert!(
            a.ends_with("filename*=UTF-8''a%22b%3Bc%20%C3%A9%2Ehtml"),
            "{a}"
        );
        let a = attachment("line\r\nSet-Cookie: x=1");
        assert!(HeaderValue::from_str(&a).is_ok(), "{a}");
        assert!(
            !a.contains('\r') && !a.contains('\n') && !a.contains(" x=1"),
            "{a}"
        );
    }
}
