//! PUT (RFC 9110 §9.3.4): atomic uploads through storage's temporary file + rename, the
//! body read only after the request is accepted (so `Expect: 100-continue`, RFC 9110
//! §10.1.1, is answered with 100 only then — hyper sends it when the body is first
//! polled), Content-Length or chunked bodies with the size checked at the end, 201 for a
//! new resource and 204 for a replaced one, 409 without a parent collection (RFC 4918
//! §9.7.1) and 507 when the disk or quota is full (RFC 4918 §11.5).

use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_RANGE};
use hyper::{Request, Response, StatusCode};

use super::body::{empty, Body};
use super::error::DavError;
use super::request::Ctx;
use super::sink::{self, SinkError};
use super::{blocking, Transfer};
use crate::auth::rights::Activity;
use crate::metrics::{Direction, EndpointLabel};
use crate::storage::{FileKind, StorageError, UploadMode};

/// An upload that is discarded unless committed — also when the request future is
/// dropped because the client went away (WebDAV has no restarts to keep a part file for).
pub(super) struct Pending(pub(super) Option<crate::storage::Upload>);

impl Pending {
    pub(super) fn commit(mut self) -> Result<(), DavError> {
        match self.0.take() {
            Some(u) => Ok(u.commit()?),
            None => Err(DavError::Internal("upload already finished".into())),
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(u) = self.0.take() {
            u.discard();
        }
    }
}

pub async fn handle(ctx: &Ctx<'_>, req: Request<Incoming>) -> Result<Response<Body>, DavError> {
    if ctx.path.is_root() {
        return Err(DavError::MethodNotAllowed("PUT on the root collection"));
    }
    // RFC 9110 §14.5: a partial PUT is refused rather than written whole.
    if req.headers().contains_key(CONTENT_RANGE) {
        return Err(DavError::BadRequest(
            "Content-Range on PUT is not supported",
        ));
    }
    let announced = content_length(&req)?;
    let exists = authorize_write(ctx).await?;
    let (root, p) = (ctx.access.root.clone(), ctx.path.clone());
    let upload = blocking(move || {
        root.begin_upload(&p, UploadMode::Replace)
            .map_err(parent_missing)
    })
    .await?;
    let file = Arc::new(
        upload
            .file()
            .try_clone()
            .map_err(|e| DavError::Internal(e.to_string()))?,
    );
    let upload = Pending(Some(upload));
    let metrics = &ctx.dav.metrics;
    metrics.transfer_started(EndpointLabel::Webdav, Direction::Upload);
    let started = Instant::now();
    let received = sink::receive(req.into_body(), file, 0, ctx.dav.data_timeout, None, None)
        .await
        .map_err(|(n, e)| (n, sink_error(e)));
    let outcome = match (received, announced) {
        (Ok(n), Some(want)) if n != want => Err((
            n,
            DavError::Body(format!("received {n} bytes, Content-Length said {want}")),
        )),
        (Ok(n), _) => blocking(move || upload.commit())
            .await
            .map(|()| n)
            .map_err(|e| (n, e)),
        // Dropping `upload` removes the temporary file; nothing appears under the name.
        (Err(e), _) => Err(e),
    };
    let (bytes, result) = match &outcome {
        Ok(n) => (*n, "ok"),
        Err((n, _)) => (*n, "failed"),
    };
    Transfer {
        peer: ctx.peer,
        user: ctx.access.user.clone(),
        dn: ctx.access.dn.clone(),
        verb: "PUT",
        path: ctx.path.to_string(),
        bytes,
        started,
        result,
        direction: Direction::Upload,
        remote: None,
        streams: 1,
    }
    .record(metrics);
    outcome.map_err(|(_, e)| e)?;
    let mut resp = Response::new(empty());
    *resp.status_mut() = if exists {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    };
    Ok(resp)
}

fn content_length(req: &Request<Incoming>) -> Result<Option<u64>, DavError> {
    req.headers()
        .get(CONTENT_LENGTH)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or(DavError::BadRequest("malformed Content-Length"))
        })
        .transpose()
}

/// Checks the caller may write the request path: create for a new file, overwrite
/// for an existing one. Returns whether the file exists.
pub(super) async fn authorize_write(ctx: &Ctx<'_>) -> Result<bool, DavError> {
    // SECURITY: a caller with no write right here learns nothing (not even whether the
    // file exists) before the refusal.
    if ctx.access.require(Activity::Create, &ctx.path).is_err() {
        ctx.access.require(Activity::Overwrite, &ctx.path)?;
    }
    let exists = target_exists(ctx).await?;
    // SECURITY: replacing a file needs the overwrite right (storage.modify, a DELETE
    // macaroon); create alone only makes new files.
    let act = if exists {
        Activity::Overwrite
    } else {
        Activity::Create
    };
    ctx.access.require(act, &ctx.path)?;
    Ok(exists)
}

/// Whether a file is already there (a collection there is refused: 405).
async fn target_exists(ctx: &Ctx<'_>) -> Result<bool, DavError> {
    let (root, p) = (ctx.access.root.clone(), ctx.path.clone());
    blocking(move || match root.stat(&p) {
        Ok(f) if f.kind == FileKind::Dir => Err(DavError::MethodNotAllowed("PUT on a collection")),
        Ok(_) => Ok(true),
        Err(StorageError::NotFound) => Ok(false),
        Err(e) => Err(parent_missing(e)),
    })
    .await
}

/// A missing parent (or a parent that is a file) is a 409 for a new resource.
pub(super) fn parent_missing(e: StorageError) -> DavError {
    match e {
        StorageError::NotFound | StorageError::NotADirectory => DavError::ParentMissing,
        other => DavError::Storage(other),
    }
}

pub(super) fn sink_error(e: SinkError) -> DavError {
    match e {
        SinkError::Storage(s) => DavError::Storage(s),
        other => DavError::Body(other.to_string()),
    }
}
