//! The page's read and namespace API: listing (size, date, kind; RFC 3659 §7.5 facts),
//! ADLER32 on demand (RFC 1950 §9, from the checksum cache), downloads through the
//! WebDAV GET handler (RFC 9110 §14 ranges, so browsers resume) as attachments
//! (RFC 6266 `Content-Disposition`), and create-folder, delete and rename. Each call
//! asks [`Access::require`](crate::dav::Access::require) exactly as the WebDAV verb
//! would.

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY};
use hyper::{Request, Response, StatusCode};
use std::time::UNIX_EPOCH;

use super::input::attachment;
use super::session::caller;
use super::{data_path, json, WebError};
use crate::auth::rights::Activity;
use crate::dav::body::Body;
use crate::dav::error::DavError;
use crate::dav::request::{Conn, Ctx};
use crate::dav::{blocking, get, Dav};
use crate::storage::checksum::Algorithm;
use crate::storage::{FileKind, StorageError};

/// `GET /.griddock-web/list/<dir>`: the entries, and what the caller may do there.
pub(super) async fn list(
    dav: &Dav,
    conn: &Conn,
    req: &Request<Incoming>,
    tail: &str,
) -> Result<Response<Body>, WebError> {
    let c = caller(dav, conn, req.headers(), false).await?;
    let p = data_path(tail)?;
    c.access.require(Activity::List, &p)?;
    let (root, p2) = (c.access.root.clone(), p.clone());
    let entries = blocking(move || Ok(root.list(&p2)?)).await?;
    let items: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            let kind = match e.facts.kind {
                FileKind::Dir => "dir",
                FileKind::File => "file",
                _ => "other",
            };
            let mtime = e
                .facts
                .mtime
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            serde_json::json!({ "name": e.name, "kind": kind, "size": e.facts.size, "mtime": mtime })
        })
        .collect();
    // What the page offers (the server checks each action again): only with a session.
    let here = c.access.server_path(&p);
    let may = |a| c.session.is_some() && c.access.grant.allows(a, &here);
    let body = serde_json::json!({
        "path": p.as_str(),
        "entries": items,
        "may": {
            "upload": may(Activity::Create),
            "mkdir": may(Activity::MakeDir),
            "delete": may(Activity::Delete),
            "rename": may(Activity::Rename),
        },
    });
    Ok(json(StatusCode::OK, &body))
}

/// `GET /.griddock-web/sum/<file>`: its ADLER32.
pub(super) async fn checksum(
    dav: &Dav,
    conn: &Conn,
    req: &Request<Incoming>,
    tail: &str,
) -> Result<Response<Body>, WebError> {
    let c = caller(dav, conn, req.headers(), false).await?;
    let p = data_path(tail)?;
    c.access.require(Activity::Read, &p)?;
    let (root, cache) = (c.access.root.clone(), dav.checksums.clone());
    let sum = blocking(move || {
        let mut f = root.open_read(&p)?;
        cache
            .whole_file(&mut f, Algorithm::Adler32)
            .map_err(|e| DavError::Storage(StorageError::from(e)))
    })
    .await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "adler32": sum })))
}

/// `GET /.griddock-web/dl/<file>`: the WebDAV GET (ranges, ETag, conditionals) as an
/// attachment.
pub(super) async fn download(
    dav: &Dav,
    conn: &Conn,
    req: &Request<Incoming>,
    tail: &str,
) -> Result<Response<Body>, WebError> {
    let c = caller(dav, conn, req.headers(), false).await?;
    let path = data_path(tail)?;
    let name = path.file_name().unwrap_or("download").to_string();
    let ctx = Ctx {
        dav,
        access: c.access,
        path,
        peer: conn.peer,
    };
    let head = req.method() == hyper::Method::HEAD;
    let mut resp = get::handle(&ctx, req, head).await?;
    let h = resp.headers_mut();
    // SECURITY: never rendered in our origin: an uploaded HTML file is saved, not run
    // (and, should a browser render it anyway, the sandbox CSP gives it no origin).
    if let Ok(v) = HeaderValue::from_str(&attachment(&name)) {
        h.insert(CONTENT_DISPOSITION, v);
    }
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    Ok(resp)
}

/// `POST /.griddock-web/mkdir/<dir>`.
pub(super) async fn mkdir(
    dav: &Dav,
    conn: &Conn,
    req: &Request<Incoming>,
    tail: &str,
) -> Result<Response<Body>, WebError> {
    let c = caller(dav, conn, req.headers(), true).await?;
    let p = data_path(tail)?;
    c.access.require(Activity::MakeDir, &p)?;
    let root = c.access.root.clone();
    blocking(move || {
        root.create_dir(&p).map_err(|e| match e {
            StorageError::NotFound | StorageError::NotADirectory => DavError::ParentMissing,
            other => DavError::Storage(other),
        })
    })
    .await?;
    Ok(json(
        StatusCode::CREATED,
        &serde_json::json!({ "ok": true }),
    ))
}

/// `POST /.griddock-web/delete/<path>`: a file, or a folder with everything in it.
pub(super) async fn delete(
    dav: &Dav,
    conn: &Conn,
    req: &Request<Incoming>,
    tail: &str,
) -> Result<Response<Body>, WebError> {
    let c = caller(dav, conn, req.headers(), true).await?;
    let p = data_path(tail)?;
    c.access.require(Activity::Delete, &p)?;
    if p.is_root() {
        return Err(WebError::Bad("the root folder cannot be deleted"));
    }
    let root = c.access.root.clone();
    blocking(move || match root.remove_file(&p) {
        Err(StorageError::IsADirectory) => Ok(root.remove_tree(&p)?),
        other => Ok(other?),
    })
    .await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "ok": true })))
}

/// `POST /.griddock-web/rename/<path>` with the new path (percent-encoded, as in URLs)
/// in `X-Destination`. Never replaces anything (409 when the name is taken).
pub(super) async fn rename(
    dav: &Dav,
    conn: &Conn,
    req: &Request<Incoming>,
    tail: &str,
) -> Result<Response<Body>, WebError> {
    let c = caller(dav, conn, req.headers(), true).await?;
    let from = data_path(tail)?;
    let to_raw = req
        .headers()
        .get("x-destination")
        .and_then(|v| v.to_str().ok())
        .ok_or(WebError::Bad("rename needs X-Destination"))?;
    let to = crate::dav::href::decode_path(to_raw)?;
    // The same rights as MOVE: rename the source, create at the destination.
    c.access.require(Activity::Rename, &from)?;
    c.access.require(Activity::Create, &to)?;
    let root = c.access.root.clone();
    blocking(move || {
        root.stat(&from)?;
        match root.stat(&to) {
            Ok(_) => return Err(DavError::PreconditionFailed),
            Err(StorageError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        root.rename(&from, &to).map_err(|e| match e {
            StorageError::NotFound | StorageError::NotADirectory => DavError::ParentMissing,
            other => DavError::Storage(other),
        })
    })
    .await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "ok": true })))
}
