//! The page itself: plain HTML, CSS and JavaScript embedded in the binary (no CDN, no
//! build step), served with a strict Content-Security-Policy (no inline code: the HTML
//! only links `app.css` and `app.js`). The HTML is the same for every collection and
//! every visitor; all data comes from the JSON API and is inserted as text.

use bytes::Bytes;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::Response;

use crate::dav::body::{full, Body};

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

fn text(body: &'static str, kind: &'static str) -> Response<Body> {
    let mut resp = Response::new(full(Bytes::from_static(body.as_bytes())));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The page, for a browser navigating to a collection.
pub(super) fn page() -> Response<Body> {
    text(INDEX, "text/html; charset=utf-8")
}

/// `app.js` or `app.css`.
pub(super) fn asset(name: &str) -> Option<Response<Body>> {
    match name {
        "app.js" => Some(text(APP_JS, "text/javascript; charset=utf-8")),
        "app.css" => Some(text(APP_CSS, "text/css; charset=utf-8")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_inline_code_in_the_page() {
        let lower = INDEX.to_ascii_lowercase();
        assert!(
            !lower.contains("<script>") && !lower.contains("style="),
            "inline code"
        );
        assert!(
            !lower.contains(" on") || !lower.contains("onclick"),
            "inline handlers"
        );
        assert!(lower.contains("src=\"/.griddock-web/app.js\""));
        assert!(
            !APP_JS.contains("innerHTML"),
            "app.js must insert text only"
        );
    }
}
