//! The HTTP-TPC headers of a `COPY` (draft-http-tpc-01 §2; the header set XRootD, dCache
//! and StoRM read and gfal2/davix send): `Source` (pull) or `Destination` (push) with an
//! `http(s)`/`dav(s)` URL, `TransferHeader<Name>` forwarding, `Credential`,
//! `X-Number-Of-Streams`, `Overwrite` (RFC 4918 §10.6) and `RequireChecksumVerification`.
//! Pure: headers in, a [`CopyRequest`] or a 400 reason out.

use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::Uri;

/// Which way the bytes go, seen from griddock (the active party).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `Source:`: griddock GETs the remote file into the request path.
    Pull,
    /// `Destination:`: griddock PUTs the request path's file to the remote.
    Push,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Pull => "pull",
            Mode::Push => "push",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CopyRequest {
    pub mode: Mode,
    /// The remote URL, scheme normalised to `http` or `https`.
    pub remote: Uri,
    /// Headers for the remote request (from `TransferHeader<Name>`).
    pub forward: Vec<(HeaderName, HeaderValue)>,
    /// Parallel streams asked for (at least 1, capped by the server).
    pub streams: usize,
    pub overwrite: bool,
    /// Compare the remote's adler32 with the local one and fail on a mismatch.
    pub verify: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    Direction,
    Url,
    Credential,
    Streams,
    Overwrite,
    Verify,
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text())
    }
}

impl std::error::Error for RequestError {}

impl RequestError {
    /// The 400 text.
    pub fn text(&self) -> &'static str {
        match self {
            RequestError::Direction => {
                "COPY needs exactly one of Source (pull) or Destination (push)"
            }
            RequestError::Url => {
                "the remote URL is not an absolute http, https, dav or davs URL with a host"
            }
            RequestError::Credential => {
                "only Credential: none is supported (X.509 delegation is not offered): pass a \
                 token or macaroon for the remote as TransferHeaderAuthorization"
            }
            RequestError::Streams => "X-Number-Of-Streams must be a number",
            RequestError::Overwrite => "Overwrite must be T or F",
            RequestError::Verify => "RequireChecksumVerification must be true or false",
        }
    }
}

const PREFIX: &str = "transferheader";

/// Headers griddock sets itself on the remote request: a forwarded copy is dropped, so
/// a client cannot break the framing or the target of griddock's request.
const OWN_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "range",
    "proxy-authorization",
    "proxy-connection",
];

pub fn parse(h: &HeaderMap, max_streams: usize) -> Result<CopyRequest, RequestError> {
    let (mode, url) = match (text(h, "source"), text(h, "destination")) {
        (Some(s), None) => (Mode::Pull, s),
        (None, Some(d)) => (Mode::Push, d),
        _ => return Err(RequestError::Direction),
    };
    let remote = remote_url(url.trim()).ok_or(RequestError::Url)?;
    match text(h, "credential").map(str::trim) {
        None => {}
        Some(c) if c.eq_ignore_ascii_case("none") => {}
        Some(_) => return Err(RequestError::Credential),
    }
    let streams = match text(h, "x-number-of-streams") {
        None => 1,
        Some(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| RequestError::Streams)?
            .clamp(1, max_streams.max(1) as u64) as usize,
    };
    Ok(CopyRequest {
        mode,
        remote,
        forward: forwarded(h),
        streams,
        overwrite: flag(h, "overwrite", "t", "f").map_err(|()| RequestError::Overwrite)?,
        verify: !flag(h, "requirechecksumverification", "false", "true")
            .map_err(|()| RequestError::Verify)?,
    })
}

/// A header as text (absent or not visible ASCII → `None`).
fn text<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// `true` when absent or `yes` (case-insensitive), `false` for `no`, otherwise an error.
fn flag(h: &HeaderMap, name: &str, yes: &str, no: &str) -> Result<bool, ()> {
    match text(h, name).map(str::trim) {
        None => Ok(true),
        Some(v) if v.eq_ignore_ascii_case(yes) => Ok(true),
        Some(v) if v.eq_ignore_ascii_case(no) => Ok(false),
        Some(_) => Err(()),
    }
}

/// `davs://` and `dav://` are WebDAV spellings of `https://` and `http://` (XRootD,
/// StoRM and gfal2 accept both).
fn remote_url(s: &str) -> Option<Uri> {
    let (scheme, rest) = s.split_once("://")?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "https" | "davs" => "https",
        "http" | "dav" => "http",
        _ => return None,
    };
    let uri: Uri = format!("{scheme}://{rest}").parse().ok()?;
    let host = uri.host()?;
    // No userinfo: credentials belong in TransferHeaderAuthorization.
    if host.is_empty() || uri.authority()?.as_str().contains('@') {
        return None;
    }
    Some(uri)
}

fn forwarded(h: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    h.iter()
        .filter_map(|(name, value)| {
            let n = name.as_str();
            // Header names are lower case in a HeaderMap: the prefix match is
            // case-insensitive, as in XRootD ≥ 5.6, dCache and StoRM.
            let rest = n.strip_prefix(PREFIX)?;
            // SECURITY: a client cannot set the framing, Host or proxy credentials of
            // griddock's own request to the remote.
            if rest.is_empty() || OWN_HEADERS.contains(&rest) {
                return None;
            }
            Some((HeaderName::from_bytes(rest.as_bytes()).ok()?, value.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn gfal2_pull() {
        let h = headers(&[
            ("Source", "https://src.example:1094/store/f?copy_mode=pull"),
            ("X-Number-Of-Streams", "0"),
            ("Secure-Redirection", "1"),
            ("TransferHeaderAuthorization", "Bearer SRC"),
            ("Credential", "none"),
            ("Authorization", "Bearer DST"),
            ("RequireChecksumVerification", "false"),
        ]);
        let c = parse(&h, 16).unwrap();
        assert_eq!(c.mode, Mode::Pull);
        assert_eq!(
            c.remote.to_string(),
            "https://src.example:1094/store/f?copy_mode=pull"
        );
        assert_eq!(c.streams, 1);
        assert!(c.overwrite && !c.verify);
        assert_eq!(c.forward.len(), 1);
        assert_eq!(c.forward[0].0, "authorization");
        assert_eq!(c.forward[0].1, "Bearer SRC");
    }

    #[test]
    fn push_with_options() {
        let h = headers(&[
            ("destination", "davs://dst.example/d/f"),
            ("x-number-of-streams", "200"),
            ("Overwrite", "f"),
            ("RequireChecksumVerification", "TRUE"),
            ("transferheaderx-test", "hello"),
            ("TransferHeaderContent-Length", "1"),
            ("TransferHeaderHost", "evil.example"),
        ]);
        let c = parse(&h, 16).unwrap();
        assert_eq!(c.mode, Mode::Push);
        assert_eq!(c.remote.scheme_str(), Some("https"));
        assert_eq!(c.streams, 16, "capped");
        assert!(!c.overwrite && c.verify);
        let names: Vec<_> = c.forward.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x-test"], "framing and Host are never forwarded");
    }

    #[test]
    fn refusals() {
        let cases: &[(&[(&str, &str)], RequestError)] = &[
            (&[], RequestError::Direction),
            (
                &[("Source", "https://a/x"), ("Destination", "https://b/y")],
                RequestError::Direction,
            ),
            (&[("Source", "ftp://a/x")], RequestError::Url),
            (&[("Source", "/relative")], RequestError::Url),
            (&[("Source", "https:///nohost")], RequestError::Url),
            (&[("Source", "https://user:pw@a/x")], RequestError::Url),
            (
                &[("Source", "https://a/x"), ("Credential", "gridsite")],
                RequestError::Credential,
            ),
            (
                &[("Source", "https://a/x"), ("X-Number-Of-Streams", "many")],
                RequestError::Streams,
            ),
            (
                &[("Source", "https://a/x"), ("Overwrite", "maybe")],
                RequestError::Overwrite,
            ),
            (
                &[
                    ("Source", "https://a/x"),
                    ("RequireChecksumVerification", "1"),
                ],
                RequestError::Verify,
            ),
        ];
        for (pairs, want) in cases {
            assert_eq!(parse(&headers(pairs), 16).unwrap_err(), *want, "{pairs:?}");
            assert!(!want.text().is_empty());
        }
    }

    #[test]
    fn schemes() {
        assert_eq!(
            remote_url("dav://h:8080/p").unwrap().to_string(),
            "http://h:8080/p"
        );
        assert_eq!(
            remote_url("HTTPS://[::1]:8443/p").unwrap().host(),
            Some("[::1]")
        );
    }
}
