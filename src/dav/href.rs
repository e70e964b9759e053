//! Request targets and hrefs (RFC 3986 §2.1 percent-encoding, §3.3 path; RFC 4918 §8.3
//! URL handling, §10.3 `Destination`): the raw path of a request becomes a [`VPath`]
//! segment by segment, and a [`VPath`] becomes an href again. Sans-I/O.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

use super::error::DavError;
use crate::storage::VPath;

/// What stays unescaped in hrefs we write: RFC 3986 pchar minus the characters that are
/// safer escaped (`%`, space, `"`, `<`, `>`, `?`, `#`, `[`, `]`, `\`, `^`, `` ` ``, `{`,
/// `|`, `}`).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'/');

/// The virtual path a raw request path (`/a%20b/c`) names.
pub fn decode_path(raw: &str) -> Result<VPath, DavError> {
    if !raw.starts_with('/') {
        return Err(DavError::BadRequest("request path must be absolute"));
    }
    let mut out = String::with_capacity(raw.len());
    for seg in raw.split('/').filter(|s| !s.is_empty()) {
        let decoded = percent_decode_str(seg)
            .decode_utf8()
            .map_err(|_| DavError::BadRequest("path is not UTF-8"))?;
        // SECURITY: dot segments (raw or encoded, `%2e%2e`) are refused rather than
        // resolved: clients normalise before sending, so one here is an escape attempt
        // or a confused client; cap-std confinement stays the real barrier behind this.
        if decoded == "." || decoded == ".." {
            return Err(DavError::BadRequest("dot segment in path"));
        }
        // SECURITY: an encoded `/` (`%2F`) or NUL would change the segment structure
        // after the checks above; refuse them outright.
        if decoded.contains('/') || decoded.contains('\0') {
            return Err(DavError::BadRequest("encoded slash or NUL in path"));
        }
        out.push('/');
        out.push_str(&decoded);
    }
    if out.is_empty() {
        return Ok(VPath::root());
    }
    // `resolve` refuses backslashes, internal names and line breaks.
    Ok(VPath::root().resolve(&out)?)
}

/// The href of `p` (percent-encoded; collections end in `/`).
pub fn encode_href(p: &VPath, collection: bool) -> String {
    let mut out = String::new();
    for seg in p.as_str().split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        out.extend(utf8_percent_encode(seg, SEGMENT));
    }
    if out.is_empty() || collection {
        out.push('/');
    }
    out
}

/// The path a `Destination` header names, which must be this endpoint: an absolute URL
/// (`https://host:port/p`, also `davs://`) whose authority is `host` (the request's own
/// `Host`), or an absolute path.
pub fn destination(value: &str, host: Option<&str>) -> Result<VPath, DavError> {
    let value = value.trim();
    if value.starts_with('/') {
        return decode_path(strip_query(value));
    }
    let (scheme, rest) = value
        .split_once("://")
        .ok_or(DavError::BadRequest("Destination must be an absolute URL"))?;
    if !["https", "davs", "http", "dav"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
    {
        return Err(DavError::BadGateway);
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    // SECURITY: a MOVE may only land on this endpoint; userinfo in the authority is
    // refused so `host@evil` tricks cannot pass the comparison.
    if authority.contains('@') {
        return Err(DavError::BadRequest("userinfo in Destination"));
    }
    let same = host.is_some_and(|h| same_authority(h, authority, scheme));
    if !same {
        return Err(DavError::BadGateway);
    }
    decode_path(strip_query(path))
}

fn strip_query(p: &str) -> &str {
    p.split(['?', '#']).next().unwrap_or(p)
}

/// `Host` vs a URL authority, case-insensitively, with the default port filled in.
fn same_authority(host: &str, authority: &str, scheme: &str) -> bool {
    let default = if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("dav") {
        "80"
    } else {
        "443"
    };
    let norm = |a: &str| {
        let a = a.to_ascii_lowercase();
        let has_port = match a.rfind(':') {
            Some(i) => !a[i..].contains(']'),
            None => false,
        };
        if has_port {
            a
        } else {
            format!("{a}:{default}")
        }
    };
    norm(host) == norm(authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        decode_path(raw).unwrap().to_string()
    }

    #[test]
    fn decodes_segments() {
        assert_eq!(ok("/"), "/");
        assert_eq!(ok("/a%20b/c"), "/a b/c");
        assert_eq!(ok("/dir/"), "/dir");
        assert_eq!(ok("//a///b"), "/a/b");
        // Double encoding decodes once: a literal file called `%2e%2e`.
        assert_eq!(ok("/%252e%252e/x"), "/%2e%2e/x");
        assert_eq!(ok("/caf%C3%A9"), "/café");
    }

    #[test]
    fn refuses_escapes() {
        for raw in [
            "/..",
            "/a/../..",
            "/%2e%2e/etc/passwd",
            "/%2E%2E/x",
            "/a/%2e",
            "/a%2f..%2f..",
            "/a%2Fb",
            "/a%00b",
            "/a%5c..%5cb",
            "/a\\b",
            "/%ff",
            "/.griddock-tmp.x",
            "relative",
        ] {
            assert!(decode_path(raw).is_err(), "{raw} accepted");
        }
    }

    #[test]
    fn hrefs_round_trip() {
        let p = VPath::root().resolve("/a b/ü#?%").unwrap();
        let href = encode_href(&p, false);
        assert_eq!(href, "/a%20b/%C3%BC%23%3F%25");
        assert_eq!(decode_path(&href).unwrap(), p);
        assert_eq!(encode_href(&VPath::root(), true), "/");
        assert_eq!(
            encode_href(&VPath::root().resolve("/d").unwrap(), true),
            "/d/"
        );
    }

    #[test]
    fn destinations() {
        let h = Some("localhost:8443");
        assert_eq!(
            destination("https://localhost:8443/x/y", h)
                .unwrap()
                .to_string(),
            "/x/y"
        );
        assert_eq!(
            destination("davs://LOCALHOST:8443/x", h)
                .unwrap()
                .to_string(),
            "/x"
        );
        assert_eq!(destination("/x?q=1", h).unwrap().to_string(), "/x");
        assert!(matches!(
            destination("https://other:8443/x", h),
            Err(DavError::BadGateway)
        ));
        assert!(matches!(
            destination("https://localhost:8443@evil/x", h),
            Err(DavError::BadRequest(_))
        ));
        assert!(matches!(
            destination("ftp://localhost:8443/x", h),
            Err(DavError::BadGateway)
        ));
        assert!(destination("https://localhost:8443/../x", h).is_err());
        assert!(destination("https://localhost/x", Some("localhost:443")).is_ok());
        assert!(destination("https://localhost:8443/x", None).is_err());
    }
}
