//! Namespace operations (RFC 4918): MKCOL (§9.3: 201, 405 when something exists, 409
//! without a parent, 415 with a body), DELETE (§9.6: files, and collections with all
//! they contain; 204), MOVE (§9.9: an absolute `Destination` on this endpoint,
//! `Overwrite` §10.6; 201 new, 204 replaced, 412 when `Overwrite: F` meets a resource,
//! 502 for another server).

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};

use super::body::{empty, Body};
use super::error::DavError;
use super::request::Ctx;
use super::{blocking, href};
use crate::auth::rights::Activity;
use crate::storage::{DataRoot, StorageError, VPath};

fn status(code: StatusCode) -> Response<Body> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = code;
    resp
}

pub async fn mkcol(ctx: &Ctx<'_>, req: &Request<Incoming>) -> Result<Response<Body>, DavError> {
    if super::request::announces_body(req) {
        return Err(DavError::UnsupportedMediaType("MKCOL with a body"));
    }
    ctx.access.require(Activity::MakeDir, &ctx.path)?;
    if ctx.path.is_root() {
        return Err(DavError::MethodNotAllowed("the root collection exists"));
    }
    let (root, p) = (ctx.access.root.clone(), ctx.path.clone());
    blocking(move || {
        root.create_dir(&p).map_err(|e| match e {
            StorageError::NotFound | StorageError::NotADirectory => DavError::ParentMissing,
            StorageError::AlreadyExists => DavError::MethodNotAllowed("the resource exists"),
            other => DavError::Storage(other),
        })
    })
    .await?;
    Ok(status(StatusCode::CREATED))
}

pub async fn delete(ctx: &Ctx<'_>, req: &Request<Incoming>) -> Result<Response<Body>, DavError> {
    if let Some(depth) = req.headers().get("depth") {
        if !depth.as_bytes().eq_ignore_ascii_case(b"infinity") {
            return Err(DavError::BadRequest("DELETE takes Depth: infinity only"));
        }
    }
    ctx.access.require(Activity::Delete, &ctx.path)?;
    if ctx.path.is_root() {
        return Err(DavError::Forbidden("the root collection cannot be deleted"));
    }
    let (root, p) = (ctx.access.root.clone(), ctx.path.clone());
    blocking(move || remove_any(&root, &p)).await?;
    Ok(status(StatusCode::NO_CONTENT))
}

/// Removes a file or symlink, or a whole directory tree.
fn remove_any(root: &DataRoot, p: &VPath) -> Result<(), DavError> {
    match root.remove_file(p) {
        Err(StorageError::IsADirectory) => Ok(root.remove_tree(p)?),
        other => Ok(other?),
    }
}

pub async fn mv(ctx: &Ctx<'_>, req: &Request<Incoming>) -> Result<Response<Body>, DavError> {
    let h = req.headers();
    let dest_raw = h
        .get("destination")
        .and_then(|v| v.to_str().ok())
        .ok_or(DavError::BadRequest("MOVE needs a Destination header"))?;
    let host = h.get(hyper::header::HOST).and_then(|v| v.to_str().ok());
    let host = host.or_else(|| req.uri().authority().map(|a| a.as_str()));
    let dest = href::destination(dest_raw, host)?;
    let overwrite = overwrite(h.get("overwrite"))?;
    // SECURITY: the source needs the rename right, the destination create (free name) or
    // overwrite (taken), both checked before anything moves.
    ctx.access.require(Activity::Rename, &ctx.path)?;
    if ctx.path.is_root() || dest.is_root() {
        return Err(DavError::Forbidden("the root collection cannot be moved"));
    }
    if dest == ctx.path {
        return Err(DavError::Forbidden("source and destination are the same"));
    }
    let (root, from) = (ctx.access.root.clone(), ctx.path.clone());
    let (r2, d2) = (root.clone(), dest.clone());
    let dest_exists = blocking(move || exists(&r2, &d2)).await?;
    let act = if dest_exists {
        Activity::Overwrite
    } else {
        Activity::Create
    };
    ctx.access.require(act, &dest)?;
    if dest_exists && !overwrite {
        return Err(DavError::PreconditionFailed);
    }
    blocking(move || {
        // The source must exist before anything at the destination is removed.
        root.stat(&from)?;
        if dest_exists {
            remove_any(&root, &dest)?;
        }
        root.rename(&from, &dest).map_err(|e| match e {
            StorageError::NotFound | StorageError::NotADirectory => DavError::ParentMissing,
            other => DavError::Storage(other),
        })
    })
    .await?;
    Ok(status(if dest_exists {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    }))
}

/// `Overwrite: T | F` (absent = T).
fn overwrite(v: Option<&HeaderValue>) -> Result<bool, DavError> {
    match v.map(|v| v.as_bytes()) {
        None => Ok(true),
        Some(b) if b.eq_ignore_ascii_case(b"t") => Ok(true),
        Some(b) if b.eq_ignore_ascii_case(b"f") => Ok(false),
        Some(_) => Err(DavError::BadRequest("Overwrite must be T or F")),
    }
}

/// Whether something (file, collection, symlink) is at `p`.
fn exists(root: &DataRoot, p: &VPath) -> Result<bool, DavError> {
    match root.stat(p) {
        Ok(_) => Ok(true),
        Err(StorageError::NotFound) => Ok(false),
        Err(StorageError::NotADirectory) => Err(DavError::ParentMissing),
        Err(e) => Err(e.into()),
    }
}
