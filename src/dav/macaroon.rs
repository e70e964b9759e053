//! Macaroon issuance (dCache's and XRootD's WebDAV doors, what gfal2's
//! `MacaroonRetriever` and FTS ask for): `POST <path>` with `Content-Type:
//! application/macaroon-request` and `{"caveats": ["activity:DOWNLOAD,LIST"], "validity":
//! "PT130M"}` from an authenticated caller (Basic, X.509 proxy or a bearer credential)
//! answers `200` with `{"macaroon": …, "expires_in": s, "uri": {"target",
//! "targetWithMacaroon", "base", "baseWithMacaroon"}}`. The macaroon is for the request's
//! server path and never carries more than the caller holds there
//! ([`Minter::mint`](crate::auth::macaroon::Minter::mint)); anonymous callers get 401.

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Request, Response};
use time::OffsetDateTime;
use tracing::{info, warn};

use super::body::{full, Body};
use super::error::DavError;
use super::request::Ctx;
use crate::auth::macaroon::request::{self, MacaroonRequest};
use crate::auth::macaroon::MacaroonError;

/// Whether `req` is a macaroon request (by its `Content-Type`).
pub fn is_request(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with(request::CONTENT_TYPE)
        })
}

pub async fn issue(ctx: &Ctx<'_>, req: Request<Incoming>) -> Result<Response<Body>, DavError> {
    // SECURITY: only an authenticated caller gets a macaroon; it delegates the caller's
    // own rights, and anonymous access is not something to hand on.
    if ctx.access.anonymous {
        return Err(DavError::Unauthenticated(
            "a macaroon request needs credentials",
        ));
    }
    let host = req
        .headers()
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("localhost")
        .to_string();
    let url_path = req.uri().path().to_string();
    // A bounded body (16 KiB), read only after the caller was authenticated.
    let body = Limited::new(req.into_body(), request::MAX_BODY)
        .collect()
        .await
        .map_err(|_| DavError::BadRequest("macaroon request body unreadable or too large"))?
        .to_bytes();
    let server_path = ctx.access.server_path(&ctx.path);
    let wanted = MacaroonRequest::parse(&server_path, &body).map_err(|e| {
        tracing::debug!(error = %e, "macaroon request refused");
        DavError::BadRequest("not a valid macaroon request")
    })?;
    let minter = &ctx.dav.authn.bearer.minter;
    let now = OffsetDateTime::now_utc();
    let macaroon = minter
        .mint_rooted(
            &ctx.access.grant,
            &ctx.access.root_path,
            &wanted.path,
            &wanted.activities,
            wanted.validity,
            now,
        )
        .map_err(|e| {
            warn!(user = %ctx.access.user, path = %wanted.path, error = %e, "webdav: macaroon refused");
            match e {
                MacaroonError::NotAllowed(_) => {
                    DavError::Forbidden("the caller holds none of those activities there")
                }
                other => DavError::Internal(other.to_string()),
            }
        })?;
    // What was actually granted (activities the caller lacks are dropped by the minter).
    let granted = minter
        .verify(&macaroon, now)
        .map_err(|e| DavError::Internal(e.to_string()))?;
    let expires_in = (granted.expires - now).whole_seconds().max(0) as u64;
    let activities: Vec<String> = granted
        .rights
        .iter()
        .map(|r| r.activity.to_string())
        .collect();
    info!(
        peer = %ctx.peer,
        user = %ctx.access.user,
        method = ?ctx.access.method,
        path = %wanted.path,
        id = %granted.id,
        activities = %activities.join(","),
        expires_in,
        "webdav: macaroon issued"
    );
    let target = format!("https://{host}{url_path}");
    let base = format!("https://{host}/");
    let text = request::response_json(&macaroon, &target, &base, expires_in);
    let mut resp = Response::new(full(text.into()));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}
