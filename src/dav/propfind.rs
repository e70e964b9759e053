//! PROPFIND (RFC 4918 §9.1): `Depth: 0` (the resource) and `Depth: 1` (a collection,
//! itself first, then its members — davix drops the first `<response>` as the parent);
//! `Depth: infinity` or no Depth is refused with 403 `propfind-finite-depth`. The body
//! is read up to 64 KiB.

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};

use super::body::{full, Body};
use super::error::DavError;
use super::request::Ctx;
use super::xml::{self, Resource};
use super::{blocking, href};
use crate::auth::rights::Activity;
use crate::storage::{DataRoot, FileFacts, FileKind, VPath};

/// Largest PROPFIND body read.
const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    Zero,
    One,
}

fn depth(req: &Request<Incoming>) -> Result<Depth, DavError> {
    match req.headers().get("depth").map(|v| v.as_bytes()) {
        Some(b"0") => Ok(Depth::Zero),
        Some(b"1") => Ok(Depth::One),
        // SECURITY: no whole-tree walks on request (RFC 4918 §9.1 allows refusing them);
        // absent Depth means infinity.
        Some(v) if v.eq_ignore_ascii_case(b"infinity") => Err(DavError::InfiniteDepth),
        None => Err(DavError::InfiniteDepth),
        Some(_) => Err(DavError::BadRequest("Depth must be 0, 1 or infinity")),
    }
}

pub async fn handle(ctx: &Ctx<'_>, req: Request<Incoming>) -> Result<Response<Body>, DavError> {
    let depth = depth(&req)?;
    // Depth 0 is a stat, Depth 1 a listing.
    let act = match depth {
        Depth::Zero => Activity::Stat,
        Depth::One => Activity::List,
    };
    ctx.access.require(act, &ctx.path)?;
    // SECURITY: a bounded body, read only after the caller was authorised.
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| DavError::BadRequest("PROPFIND body unreadable or larger than 64 KiB"))?
        .to_bytes();
    let request = xml::parse_propfind(&body).map_err(|e| {
        tracing::debug!(error = %e, "PROPFIND body refused");
        DavError::BadRequest("PROPFIND body is not a DAV:propfind document")
    })?;
    let (root, p) = (ctx.access.root.clone(), ctx.path.clone());
    let resources = blocking(move || collect(&root, &p, depth)).await?;
    let mut resp = Response::new(full(xml::multistatus(&resources, &request).into()));
    *resp.status_mut() = StatusCode::MULTI_STATUS;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    Ok(resp)
}

/// The resource and, for `Depth: 1` on a collection, its members.
fn collect(root: &DataRoot, p: &VPath, depth: Depth) -> Result<Vec<Resource>, DavError> {
    let facts = root.stat(p)?;
    let quota = root.space().ok();
    let mut out = vec![resource(p, &facts, quota)];
    if depth == Depth::One && facts.kind == FileKind::Dir {
        for entry in root.list(p)? {
            let child = p.join(&entry.name)?;
            out.push(resource(&child, &entry.facts, quota));
        }
    }
    Ok(out)
}

fn resource(p: &VPath, f: &FileFacts, quota: Option<(u64, u64)>) -> Resource {
    let collection = f.kind == FileKind::Dir;
    Resource {
        href: href::encode_href(p, collection),
        name: p.file_name().unwrap_or("").to_string(),
        collection,
        size: f.size,
        mtime: f.mtime,
        mode: f.mode,
        etag: super::get::etag(f.ino, f.size, f.mtime),
        quota: if collection { quota } else { None },
    }
}
