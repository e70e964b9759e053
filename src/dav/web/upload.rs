//! Chunked, resumable uploads for the page. `POST /.griddock-web/upload/<path>` with
//! `X-Upload-Length` opens an upload object in the caller's session; each
//! `PUT /.griddock-web/up/<id>` carries one part with `Content-Range: bytes a-b/total`
//! (RFC 9110 §14.4) and continues the storage layer's resumable part file
//! `.griddock-part.<name>` (the one `REST n` + STOR resumes, `storage/resume.rs`) at `a`;
//! the part that brings the last byte commits it — renamed onto the final name, so
//! nothing is visible there before — and answers the server's ADLER32.
//! `GET /.griddock-web/up/<id>` tells how many bytes the server holds (after a reload or a
//! dropped connection the page continues from there); `DELETE` gives the upload up.
//!
//! Limits: `[webdav.browser] max_uploads_per_session` objects per session, objects idle
//! for `storage.stale_upload_age` are forgotten (the upload sweep removes their part file
//! after the same age), a part is at most `chunk_size` bytes.

use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_RANGE};
use hyper::{Request, Response, StatusCode};

use super::input::content_range;
use super::session::{caller, Caller, UploadObject};
use super::{data_path, json, WebError};
use crate::auth::rights::Activity;
use crate::dav::body::Body;
use crate::dav::error::DavError;
use crate::dav::request::Conn;
use crate::dav::sink::{self, SinkError};
use crate::dav::{blocking, Dav, Transfer};
use crate::metrics::{Direction, EndpointLabel};
use crate::storage::checksum::Algorithm;
use crate::storage::{DataRoot, FileKind, StorageError, UploadMode, VPath};

/// `POST /.griddock-web/upload/<path>` (`X-Upload-Length: n`): a new upload object.
pub(super) async fn create(
    dav: &Dav,
    conn: &Conn,
    req: &Request<Incoming>,
    tail: &str,
) -> Result<Response<Body>, WebError> {
    let c = caller(dav, conn, req.headers(), true).await?;
    let path = data_path(tail)?;
    let size = req
        .headers()
        .get("x-upload-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or(WebError::Bad("X-Upload-Length missing or malformed"))?;
    if path.is_root() {
        return Err(WebError::Bad("no file name"));
    }
    allowed(&c, &path).await?;
    let key = session_key(&c)?;
    let id = {
        let bytes: [u8; 16] = rand::random();
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let (max, stale) = (dav.web.max_uploads, dav.web.stale_upload_age);
    let object = UploadObject {
        path: path.clone(),
        size,
        touched: Instant::now(),
        busy: false,
    };
    dav.web
        .sessions
        .with(&key, |ups| {
            ups.retain(|_, o| o.busy || o.touched.elapsed() < stale);
            // SECURITY: a session holds a bounded number of upload objects.
            if ups.len() >= max {
                return Err(WebError::TooManyUploads);
            }
            ups.insert(id.clone(), object);
            Ok(())
        })
        .ok_or(WebError::NoSession)??;
    let body = serde_json::json!({ "id": id, "offset": 0, "chunk_size": dav.web.chunk_size });
    Ok(json(StatusCode::CREATED, &body))
}

/// The caller may write `path`: create it, or overwrite what is there (as PUT), in an
/// existing folder.
async fn allowed(c: &Caller, path: &VPath) -> Result<(), WebError> {
    let (root, p) = (c.access.root.clone(), path.clone());
    let exists = blocking(move || match root.stat(&p) {
        Ok(f) if f.kind == FileKind::Dir => Err(DavError::MethodNotAllowed("a folder is there")),
        Ok(_) => Ok(true),
        Err(StorageError::NotFound) => Ok(false),
        Err(StorageError::NotADirectory) => Err(DavError::ParentMissing),
        Err(e) => Err(e.into()),
    })
    .await?;
    let act = if exists {
        Activity::Overwrite
    } else {
        Activity::Create
    };
    c.access.require(act, path)?;
    Ok(())
}

fn session_key(c: &Caller) -> Result<[u8; 32], WebError> {
    c.session.ok_or(WebError::NoSession)
}

/// (path, size) of the session's upload `id`.
fn object(dav: &Dav, key: &[u8; 32], id: &str) -> Result<(VPath, u64), WebError> {
    dav.web
        .sessions
        .with(key, |ups| ups.get(id).map(|o| (o.path.clone(), o.size)))
        .ok_or(WebError::NoSession)?
        .ok_or(WebError::UnknownUpload)
}

/// Bytes the server holds of the upload of `path` (its part file).
async fn held(root: &DataRoot, path: &VPath) -> Result<u64, WebError> {
    let (root, p) = (root.clone(), path.clone());
    Ok(blocking(move || Ok(root.part_len(&p)?.unwrap_or(0))).await?)
}

/// `GET /.griddock-web/up/<id>`: how far the upload is.
pub(super) async fn status(
    dav: &Dav,
    conn: &Conn,
    req: &Request<Incoming>,
    id: &str,
) -> Result<Response<Body>, WebError> {
    let c = caller(dav, conn, req.headers(), false).await?;
    let key = session_key(&c)?;
    let (path, size) = object(dav, &key, id)?;
    let offset = held(&c.access.root, &path).await?.min(size);
    let body = serde_json::json!({ "path": path.as_str(), "size": size, "offset": offset });
    Ok(json(StatusCode::OK, &body))
}

/// `DELETE /.griddock-web/up/<id>`: forgets the upload and removes its part file.
pub(super) async fn cancel(
    dav: &Dav,
    conn: &Conn,
    req: &Request<Incoming>,
    id: &str,
) -> Result<Response<Body>, WebError> {
    let c = caller(dav, conn, req.headers(), true).await?;
    let key = session_key(&c)?;
    let (path, _) = object(dav, &key, id)?;
    allowed(&c, &path).await?;
    dav.web.sessions.with(&key, |ups| ups.remove(id));
    let root = c.access.root.clone();
    // Claiming the part file at 0 and discarding it removes it, never the final file.
    blocking(move || {
        root.begin_upload(&path, UploadMode::Resume(0))?.discard();
        Ok(())
    })
    .await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "ok": true })))
}

/// Clears an object's busy mark when the part's request ends (also when the client
/// went away and the request future is dropped).
struct Busy<'a> {
    dav: &'a Dav,
    key: [u8; 32],
    id: String,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.dav.web.sessions.with(&self.key, |ups| {
            if let Some(o) = ups.get_mut(&self.id) {
                o.busy = false;
                o.touched = Instant::now();
            }
        });
    }
}

fn mark_busy<'a>(dav: &'a Dav, key: [u8; 32], id: &str) -> Result<Busy<'a>, WebError> {
    dav.web
        .sessions
        .with(&key, |ups| match ups.get_mut(id) {
            None => Err(WebError::UnknownUpload),
            Some(o) if o.busy => Err(WebError::PartInFlight),
            Some(o) => {
                o.busy = true;
                o.touched = Instant::now();
                Ok(())
            }
        })
        .ok_or(WebError::NoSession)??;
    Ok(Busy {
        dav,
        key,
        id: id.to_string(),
    })
}

/// `PUT /.griddock-web/up/<id>`: one part. An empty file is one PUT without
/// `Content-Range` and without a body.
pub(super) async fn chunk(
    dav: &Dav,
    conn: &Conn,
    req: Request<Incoming>,
    id: &str,
) -> Result<Response<Body>, WebError> {
    let c = caller(dav, conn, req.headers(), true).await?;
    let key = session_key(&c)?;
    let (path, size) = object(dav, &key, id)?;
    // (first byte, part length); an empty file is one empty part without Content-Range.
    let (first, want) = if size == 0 {
        (0, 0)
    } else {
        let part = req
            .headers()
            .get(CONTENT_RANGE)
            .ok_or(WebError::Bad("a part needs Content-Range"))?
            .to_str()
            .ok()
            .and_then(content_range)
            .ok_or(WebError::Bad("Content-Range must be bytes a-b/total"))?;
        if part.total != size {
            return Err(WebError::Bad(
                "Content-Range total differs from the upload's size",
            ));
        }
        (part.first, part.length())
    };
    // SECURITY: a part is bounded (the page never sends more than chunk_size).
    if want > dav.web.chunk_size {
        return Err(WebError::Bad("part larger than the chunk size"));
    }
    let announced = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    // (An empty part may come without Content-Length.)
    if announced.unwrap_or(0) != want {
        return Err(WebError::Bad("Content-Length must match the Content-Range"));
    }
    let _busy = mark_busy(dav, key, id)?;
    // Rights are asked again for every part: the account may have changed meanwhile.
    allowed(&c, &path).await?;
    let have = held(&c.access.root, &path).await?;
    // SECURITY: a part continues what the server holds (or rewinds into it); a gap
    // would need bytes nobody sent, and resuming from the final file (which `Resume`
    // falls back to) would mix in another file's content.
    if first > have {
        return Err(WebError::Offset(have));
    }
    let (root, p) = (c.access.root.clone(), path.clone());
    let upload = blocking(move || Ok(root.begin_upload(&p, UploadMode::Resume(first))?)).await?;
    let file = Arc::new(
        upload
            .file()
            .try_clone()
            .map_err(|e| DavError::Internal(e.to_string()))?,
    );
    dav.metrics
        .transfer_started(EndpointLabel::Webdav, Direction::Upload);
    let started = Instant::now();
    let received = receive(req.into_body(), &file, first, want, dav.data_timeout).await;
    let n = *received.as_ref().unwrap_or_else(|(n, _)| n);
    let end = first + n;
    let outcome = match received {
        Ok(_) if end == size => {
            let cache = dav.checksums.clone();
            blocking(move || {
                upload.commit()?;
                let mut f = (*file)
                    .try_clone()
                    .map_err(|e| DavError::Internal(e.to_string()))?;
                cache
                    .whole_file(&mut f, Algorithm::Adler32)
                    .map_err(|e| DavError::Storage(StorageError::from(e)))
            })
            .await
            .map(Some)
            .map_err(WebError::from)
        }
        // Dropping the upload keeps what it holds as the part file, for the next part.
        Ok(_) => Ok(None),
        Err((_, e)) => Err(e),
    };
    Transfer {
        peer: conn.peer,
        user: c.access.user.clone(),
        dn: c.access.dn.clone(),
        verb: "PUT",
        path: path.to_string(),
        bytes: n,
        started,
        result: if outcome.is_ok() { "ok" } else { "failed" },
        direction: Direction::Upload,
        remote: None,
        streams: 1,
    }
    .record(&dav.metrics);
    match outcome? {
        Some(adler32) => {
            dav.web.sessions.with(&key, |ups| ups.remove(id));
            let body = serde_json::json!({ "done": true, "offset": end, "adler32": adler32 });
            Ok(json(StatusCode::CREATED, &body))
        }
        None => Ok(json(
            StatusCode::OK,
            &serde_json::json!({ "done": false, "offset": end }),
        )),
    }
}

/// Copies exactly `want` body bytes into `file` from `at`; returns the count. A short,
/// long or broken body is an error (with what was written, which stays in the part file).
async fn receive(
    body: Incoming,
    file: &Arc<std::fs::File>,
    at: u64,
    want: u64,
    stall: std::time::Duration,
) -> Result<u64, (u64, WebError)> {
    let written = sink::receive(body, Arc::clone(file), at, stall, None, Some(want))
        .await
        .map_err(|(n, e)| {
            let e = match e {
                SinkError::Stalled => WebError::Bad("no data within the data timeout"),
                SinkError::TooLong => WebError::Bad("part longer than its Content-Range"),
                SinkError::Body(b) => DavError::Body(b).into(),
                SinkError::Storage(s) => DavError::Storage(s).into(),
            };
            (n, e)
        })?;
    if written != want {
        return Err((
            written,
            DavError::Body(format!("part ended after {written} of {want} bytes")).into(),
        ));
    }
    Ok(written)
}
