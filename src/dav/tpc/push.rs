//! Push (`COPY` + `Destination:`): PUT (RFC 9110 §9.3.4) of the request path's file to
//! the remote with `Content-Length` and `Expect: 100-continue` (§10.1.1), the body read
//! from disk as for a GET. With `Overwrite: F` a HEAD first refuses an existing remote
//! file; with `RequireChecksumVerification` a HEAD + `Want-Digest` afterwards compares
//! the remote's adler32 with the local one.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH, EXPECT};
use hyper::Method;

use super::digest::{check_digest, WANT_ADLER32};
use super::{remote, CopyRequest, Env, Progress, TpcError};
use crate::auth::rights::Activity;
use crate::dav::blocking;
use crate::dav::body::{self, Body};
use crate::dav::error::DavError;
use crate::dav::request::Ctx;
use crate::storage::checksum::Algorithm;
use crate::storage::{FileKind, StorageError};

pub(crate) struct Job {
    file: Arc<std::fs::File>,
    size: u64,
}

/// The caller may read the path, and it is a file (404 / 405 before the 202).
pub(crate) async fn prepare(ctx: &Ctx<'_>, _copy: &CopyRequest) -> Result<Job, DavError> {
    // SECURITY: pushing a file sends it to a third party: it needs the read right.
    ctx.access.require(Activity::Read, &ctx.path)?;
    let (root, p) = (ctx.access.root.clone(), ctx.path.clone());
    let (file, size) = blocking(move || {
        let facts = root.stat(&p)?;
        if facts.kind == FileKind::Dir {
            return Err(DavError::MethodNotAllowed(
                "COPY of a collection to a remote",
            ));
        }
        let file = root.open_read(&p)?;
        let size = file
            .metadata()
            .map_err(|e| DavError::Storage(StorageError::from(e)))?
            .len();
        Ok((file, size))
    })
    .await?;
    Ok(Job {
        file: Arc::new(file),
        size,
    })
}

pub(crate) async fn run(
    env: Env,
    copy: CopyRequest,
    job: Job,
    progress: Arc<Progress>,
) -> Result<u64, TpcError> {
    let out = &env.tpc.out;
    if !copy.overwrite {
        refuse_existing(&env, &copy).await?;
    }
    let mut headers = copy.forward.clone();
    headers.push((CONTENT_LENGTH, HeaderValue::from(job.size)));
    headers.push((EXPECT, HeaderValue::from_static("100-continue")));
    let make_body = || -> Result<Body, TpcError> {
        let file = job
            .file
            .try_clone()
            .map_err(|e| TpcError::Local(e.to_string()))?;
        // A redirected PUT starts over.
        progress.bytes.store(0, Ordering::Relaxed);
        Ok(counting(
            body::stream_file(file, 0, job.size, env.stall, |_| {}),
            Arc::clone(&progress),
        ))
    };
    let slot = env.tpc.slot().await?;
    let (resp, target, conn) = out
        .follow(
            &Method::PUT,
            &copy.remote,
            &headers,
            &make_body,
            Some(&progress.bytes),
        )
        .await?;
    progress.connected(conn.peer);
    if !resp.status().is_success() {
        return Err(remote::status_error(resp).await);
    }
    drop((conn, slot));
    let sent = progress.bytes.load(Ordering::Relaxed);
    if sent != job.size {
        return Err(TpcError::Short {
            got: sent,
            want: job.size,
        });
    }
    if copy.verify {
        verify(&env, &copy, &target, &job).await?;
    }
    Ok(sent)
}

/// `Overwrite: F`: a remote that answers HEAD with a success already has the file.
async fn refuse_existing(env: &Env, copy: &CopyRequest) -> Result<(), TpcError> {
    let (resp, _, _) = env
        .tpc
        .out
        .follow(
            &Method::HEAD,
            &copy.remote,
            &copy.forward,
            &|| Ok(body::empty()),
            None,
        )
        .await?;
    if resp.status().is_success() {
        return Err(TpcError::Exists);
    }
    Ok(())
}

/// HEAD + `Want-Digest: adler32` on the written file against the local adler32.
async fn verify(
    env: &Env,
    copy: &CopyRequest,
    target: &hyper::Uri,
    job: &Job,
) -> Result<(), TpcError> {
    let mut headers = copy.forward.clone();
    headers.push((HeaderName::from_static("want-digest"), WANT_ADLER32));
    let theirs = env.tpc.out.head_adler32(target, &headers).await?;
    let (cache, file) = (env.checksums.clone(), Arc::clone(&job.file));
    let ours = tokio::task::spawn_blocking(move || {
        let mut f = file.try_clone()?;
        cache.whole_file(&mut f, Algorithm::Adler32)
    })
    .await
    .map_err(|e| TpcError::Local(e.to_string()))?
    .map_err(|e| TpcError::Local(e.to_string()))?;
    check_digest(&ours, theirs.as_deref())
}

/// `body`, counting its data bytes into `progress` as the connection takes them.
fn counting(body: Body, progress: Arc<Progress>) -> Body {
    body.map_frame(move |f| {
        if let Some(d) = f.data_ref() {
            progress.bytes.fetch_add(d.len() as u64, Ordering::Relaxed);
        }
        f
    })
    .boxed()
}
