//! The macaroon request as dCache's and XRootD's WebDAV doors answer it (gfal2
//! `MacaroonRetriever`): `POST <file URL>` with `Content-Type: application/macaroon-request`
//! and a JSON body `{"caveats": ["activity:DOWNLOAD,LIST"], "validity": "PT130M"}`; the
//! answer is `200` with `{"macaroon": …, "uri": {…}, "expires_in": seconds}` (dCache's
//! `uri` object, XRootD's `expires_in`; clients read only `macaroon`).
//!
//! Request caveats understood: `activity:` (repeated ones intersect) and `path:` (absolute;
//! must lie within the request URL's path, which the macaroon is then limited to). Any other
//! caveat is refused, so a client never believes a restriction was applied when it was not.
//! Without `validity` the macaroon lives one hour (then capped as [`crate::auth::macaroon::Minter::mint`] says).

use std::time::Duration;

use serde::Deserialize;

use super::{parse_activities, parse_validity, MacaroonActivity};
use crate::auth::rights::{is_within, normalise_grant_path, normalise_request_path};

/// The `Content-Type` of a macaroon request.
pub const CONTENT_TYPE: &str = "application/macaroon-request";
/// Largest request body looked at.
pub const MAX_BODY: usize = 16 * 1024;
const DEFAULT_VALIDITY: Duration = Duration::from_secs(3600);

/// A parsed macaroon request for one URL path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacaroonRequest {
    /// The (normalised) server path the macaroon will be for.
    pub path: String,
    pub activities: Vec<MacaroonActivity>,
    pub validity: Duration,
}

/// A malformed request (→ HTTP 400); the message is safe to send back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad macaroon request: {0}")]
pub struct RequestError(pub &'static str);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    caveats: Vec<String>,
    #[serde(default)]
    validity: Option<String>,
}

impl MacaroonRequest {
    /// Parses `body` sent to the URL path `url_path` (already percent-decoded).
    pub fn parse(url_path: &str, body: &[u8]) -> Result<MacaroonRequest, RequestError> {
        if body.len() > MAX_BODY {
            return Err(RequestError("body too large"));
        }
        let body: Body =
            serde_json::from_slice(body).map_err(|_| RequestError("not the expected JSON"))?;
        let mut path = normalise_request_path(url_path).ok_or(RequestError("bad URL path"))?;
        let mut activities: Option<Vec<MacaroonActivity>> = None;
        for caveat in &body.caveats {
            match caveat.split_once(':') {
                Some(("activity", list)) => {
                    let these = parse_activities(list).ok_or(RequestError("unknown activity"))?;
                    activities = Some(match activities {
                        None => these,
                        Some(prev) => prev.into_iter().filter(|a| these.contains(a)).collect(),
                    });
                }
                Some(("path", p)) => {
                    let p = normalise_grant_path(p).ok_or(RequestError("bad path caveat"))?;
                    if !is_within(&p, &path) {
                        return Err(RequestError("path caveat outside the URL"));
                    }
                    path = p;
                }
                _ => return Err(RequestError("unsupported caveat")),
            }
        }
        let validity = match body.validity.as_deref() {
            None => DEFAULT_VALIDITY,
            Some(v) => {
                parse_validity(v).ok_or(RequestError("validity is not an ISO 8601 duration"))?
            }
        };
        let mut activities = activities.ok_or(RequestError("no activity caveat"))?;
        activities.sort();
        activities.dedup();
        Ok(MacaroonRequest {
            path,
            activities,
            validity,
        })
    }
}

/// The JSON answer for `macaroon`, issued for `target` (the absolute URL requested) on
/// the endpoint `base` (`https://host:port/`), valid for `expires_in` seconds.
pub fn response_json(macaroon: &str, target: &str, base: &str, expires_in: u64) -> String {
    let with = |url: &str| {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}authz={macaroon}")
    };
    serde_json::json!({
        "macaroon": macaroon,
        "expires_in": expires_in,
        "uri": {
            "target": target,
            "targetWithMacaroon": with(target),
            "base": base,
            "baseWithMacaroon": with(base),
        },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use MacaroonActivity::*;

    #[test]
    fn what_gfal2_sends() {
        let r = MacaroonRequest::parse(
            "/data/f",
            br#"{"caveats": ["activity:LIST,DOWNLOAD"], "validity": "PT130M"}"#,
        )
        .unwrap();
        assert_eq!(r.path, "/data/f");
        assert_eq!(r.activities, [Download, List]);
        assert_eq!(r.validity, Duration::from_secs(130 * 60));
        let w = MacaroonRequest::parse(
            "/data//dir/",
            br#"{"caveats": ["activity:LIST,DOWNLOAD,MANAGE,UPLOAD,DELETE"], "validity": "PT60M"}"#,
        )
        .unwrap();
        assert_eq!(w.path, "/data/dir");
        assert_eq!(w.activities, [Download, Upload, Delete, Manage, List]);
    }

    #[test]
    fn caveats_narrow_or_are_refused() {
        let r = MacaroonRequest::parse(
            "/data",
            br#"{"caveats": ["activity:DOWNLOAD,LIST", "activity:DOWNLOAD", "path:/data/sub"]}"#,
        )
        .unwrap();
        assert_eq!(
            (r.path.as_str(), r.activities.as_slice()),
            ("/data/sub", &[Download][..])
        );
        assert_eq!(r.validity, Duration::from_secs(3600));
        let bad: &[&[u8]] = &[
            br#"{"caveats": ["activity:DOWNLOAD", "path:/other"]}"#,
            br#"{"caveats": ["activity:DOWNLOAD", "path:/data/../x"]}"#,
            br#"{"caveats": ["activity:DOWNLOAD", "ip:10.0.0.0/8"]}"#,
            br#"{"caveats": ["activity:FLY"]}"#,
            br#"{"caveats": []}"#,
            br#"{"caveats": ["activity:DOWNLOAD"], "validity": "60"}"#,
            br#"{"caveats": ["activity:DOWNLOAD"], "extra": 1}"#,
            b"caveats=activity:DOWNLOAD",
        ];
        for body in bad {
            assert!(
                MacaroonRequest::parse("/data", body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(MacaroonRequest::parse("data", br#"{"caveats": ["activity:LIST"]}"#).is_err());
    }

    #[test]
    fn answer_has_the_dcache_and_xrootd_fields() {
        let j: serde_json::Value = serde_json::from_str(&response_json(
            "MDAx",
            "https://se:8443/data/f",
            "https://se:8443/",
            600,
        ))
        .unwrap();
        assert_eq!(j["macaroon"], "MDAx");
        assert_eq!(j["expires_in"], 600);
        assert_eq!(
            j["uri"]["targetWithMacaroon"],
            "https://se:8443/data/f?authz=MDAx"
        );
        assert_eq!(j["uri"]["base"], "https://se:8443/");
    }
}
