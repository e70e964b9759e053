//! COPY within this endpoint (RFC 4918 §9.8 for a file): a `Destination` — or, from
//! HTTP-TPC clients, a `Source` — naming this very endpoint is copied on the file system,
//! never through the network (so no policy applies), with the same rights as two
//! requests would need: read on the source, create or overwrite on the destination.
//! gfal2 and davix (`davs://` → `davs://` on one server) get the marker stream; plain
//! WebDAV clients get 201/204.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use hyper::header::AUTHORIZATION;
use hyper::HeaderMap;

use super::{CopyRequest, Mode, Progress, TpcError};
use crate::auth::rights::Activity;
use crate::dav::auth::Access;
use crate::dav::blocking;
use crate::dav::error::DavError;
use crate::dav::href;
use crate::dav::put::{self, Pending};
use crate::dav::request::Ctx;
use crate::storage::{FileKind, UploadMode, VPath};

pub(crate) struct Job {
    src: std::fs::File,
    upload: Pending,
    /// Whether the destination existed (204 rather than 201).
    pub replaced: bool,
}

/// The other path of the copy when the remote URL is this endpoint (its authority is
/// the request's `Host`).
pub(crate) fn target(copy: &CopyRequest, host: Option<&str>) -> Option<VPath> {
    href::destination(&copy.remote.to_string(), host).ok()
}

/// Whether the client speaks HTTP-TPC (and so reads a marker stream) rather than plain
/// WebDAV: it sent `Source` or one of the TPC headers gfal2 and davix send.
pub(crate) fn tpc_client(h: &HeaderMap, copy: &CopyRequest) -> bool {
    copy.mode == Mode::Pull
        || [
            "credential",
            "x-number-of-streams",
            "requirechecksumverification",
        ]
        .iter()
        .any(|n| h.contains_key(*n))
        || h.keys().any(|k| k.as_str().starts_with("transferheader"))
}

pub(crate) async fn prepare(
    ctx: &Ctx<'_>,
    copy: &CopyRequest,
    other: VPath,
) -> Result<Job, DavError> {
    // The other end is checked with the credential the client meant for it
    // (`TransferHeaderAuthorization`), as that server would; without one, with the
    // caller's own.
    let passive = passive_access(ctx, copy).await?;
    let (src, dst) = match copy.mode {
        Mode::Pull => ((passive, other), (ctx.access.clone(), ctx.path.clone())),
        Mode::Push => ((ctx.access.clone(), ctx.path.clone()), (passive, other)),
    };
    if src.0.server_path(&src.1) == dst.0.server_path(&dst.1) {
        return Err(DavError::Forbidden("source and destination are the same"));
    }
    if dst.1.is_root() {
        return Err(DavError::MethodNotAllowed("COPY onto the root collection"));
    }
    // SECURITY: read on the source and create/overwrite on the destination, each with
    // its own end's credential, as a GET plus a PUT would need.
    src.0.require(Activity::Read, &src.1)?;
    let dest = Ctx {
        dav: ctx.dav,
        access: dst.0,
        path: dst.1,
        peer: ctx.peer,
    };
    let replaced = put::authorize_write(&dest).await?;
    if replaced && !copy.overwrite {
        return Err(DavError::PreconditionFailed);
    }
    let ((src_access, from), (root, to)) = (src, (dest.access.root.clone(), dest.path));
    let (file, upload) = blocking(move || {
        if src_access.root.stat(&from)?.kind == FileKind::Dir {
            return Err(DavError::NotImplemented("COPY of a collection"));
        }
        let file = src_access.root.open_read(&from)?;
        let upload = root
            .begin_upload(&to, UploadMode::Replace)
            .map_err(put::parent_missing)?;
        Ok((file, upload))
    })
    .await?;
    Ok(Job {
        src: file,
        upload: Pending(Some(upload)),
        replaced,
    })
}

async fn passive_access(ctx: &Ctx<'_>, copy: &CopyRequest) -> Result<Access, DavError> {
    let Some((_, value)) = copy.forward.iter().find(|(n, _)| *n == AUTHORIZATION) else {
        return Ok(ctx.access.clone());
    };
    let mut h = HeaderMap::new();
    h.insert(AUTHORIZATION, value.clone());
    ctx.dav.authn.resolve(&h, None).await
}

/// Copies on the blocking pool (copy_file_range where the file system has it), then
/// renames into place.
pub(crate) async fn run(job: Job, progress: Arc<Progress>) -> Result<u64, TpcError> {
    let Job {
        mut src, upload, ..
    } = job;
    let mut dst = upload
        .0
        .as_ref()
        .map(|u| u.file().try_clone())
        .transpose()
        .map_err(|e| TpcError::Local(e.to_string()))?
        .ok_or_else(|| TpcError::Local("upload already finished".into()))?;
    let n = tokio::task::spawn_blocking(move || std::io::copy(&mut src, &mut dst))
        .await
        .map_err(|e| TpcError::Local(e.to_string()))?
        .map_err(|e| TpcError::Local(e.to_string()))?;
    progress.bytes.store(n, Ordering::Relaxed);
    blocking(move || upload.commit())
        .await
        .map_err(|e| TpcError::Local(e.to_string()))?;
    Ok(n)
}
