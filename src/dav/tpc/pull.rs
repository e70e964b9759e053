//! Pull (`COPY` + `Source:`): GET (RFC 9110 §9.3.1) of the remote file into the request
//! path through storage's atomic upload, so nothing appears under the name before the
//! last byte is in (and, with `RequireChecksumVerification`, checked). With
//! `X-Number-Of-Streams` > 1 the file is fetched as parallel `Range` GETs (RFC 9110
//! §14.2) of [`BLOCK`] bytes, each written at its offset, after a HEAD for the size.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use hyper::{Method, StatusCode, Uri};
use tokio::task::JoinSet;

use super::digest::{check_digest, remote_adler32, WANT_ADLER32};
use super::{remote, CopyRequest, Env, Progress, TpcError};
use crate::dav::blocking;
use crate::dav::body;
use crate::dav::error::DavError;
use crate::dav::put::{self, Pending};
use crate::dav::request::Ctx;
use crate::dav::sink;
use crate::storage::checksum::Algorithm;
use crate::storage::UploadMode;

/// Bytes per `Range` GET of a multi-stream pull (XRootD uses the same 16 MiB).
pub const BLOCK: u64 = 16 << 20;

pub(crate) struct Job {
    upload: Pending,
    file: Arc<std::fs::File>,
}

/// Authorization and local checks, before the 202: the caller may write the path
/// (create, or overwrite when it exists), `Overwrite: F` on an existing file is 412, a
/// missing parent 409.
pub(crate) async fn prepare(ctx: &Ctx<'_>, copy: &CopyRequest) -> Result<Job, DavError> {
    if ctx.path.is_root() {
        return Err(DavError::MethodNotAllowed("COPY onto the root collection"));
    }
    let exists = put::authorize_write(ctx).await?;
    if exists && !copy.overwrite {
        return Err(DavError::PreconditionFailed);
    }
    let (root, p) = (ctx.access.root.clone(), ctx.path.clone());
    let upload = blocking(move || {
        root.begin_upload(&p, UploadMode::Replace)
            .map_err(put::parent_missing)
    })
    .await?;
    let file = upload
        .file()
        .try_clone()
        .map_err(|e| DavError::Internal(e.to_string()))?;
    Ok(Job {
        upload: Pending(Some(upload)),
        file: Arc::new(file),
    })
}

pub(crate) async fn run(
    env: Env,
    copy: CopyRequest,
    job: Job,
    progress: Arc<Progress>,
) -> Result<u64, TpcError> {
    let mut headers = copy.forward.clone();
    if copy.verify {
        headers.push((HeaderName::from_static("want-digest"), WANT_ADLER32));
    }
    let (n, digest) = if copy.streams > 1 {
        multi(
            &env,
            &copy.remote,
            &headers,
            copy.streams,
            &job.file,
            &progress,
        )
        .await?
    } else {
        single(&env, &copy.remote, &headers, &job.file, &progress).await?
    };
    if copy.verify {
        let file = Arc::clone(&job.file);
        let local = tokio::task::spawn_blocking(move || {
            let mut f = file.try_clone()?;
            crate::storage::checksum::compute(&mut f, Algorithm::Adler32, 0, None)
        })
        .await
        .map_err(|e| TpcError::Local(e.to_string()))?
        .map_err(|e| TpcError::Local(e.to_string()))?;
        let digest = match digest {
            Some(d) => Some(d),
            // XRootD answers Want-Digest on HEAD only.
            None => env.tpc.out.head_adler32(&copy.remote, &headers).await?,
        };
        check_digest(&local, digest.as_deref())?;
    }
    let upload = job.upload;
    blocking(move || upload.commit())
        .await
        .map_err(|e| TpcError::Local(e.to_string()))?;
    Ok(n)
}

/// One GET of the whole file: the byte count and the remote's adler32, if it sent one.
async fn single(
    env: &Env,
    uri: &Uri,
    headers: &[(HeaderName, HeaderValue)],
    file: &Arc<std::fs::File>,
    progress: &Progress,
) -> Result<(u64, Option<String>), TpcError> {
    let out = &env.tpc.out;
    let _slot = env.tpc.slot().await?;
    let (resp, _, conn) = out
        .follow(&Method::GET, uri, headers, &|| Ok(body::empty()), None)
        .await?;
    progress.connected(conn.peer);
    if resp.status() != StatusCode::OK {
        return Err(remote::status_error(resp).await);
    }
    let want = content_length(resp.headers());
    let digest = remote_adler32(resp.headers());
    let n = sink::receive(
        resp.into_body(),
        Arc::clone(file),
        0,
        env.stall,
        Some(&progress.bytes),
        want,
    )
    .await
    .map_err(|(_, e)| sink_error(e))?;
    drop(conn);
    match want {
        Some(want) if want != n => Err(TpcError::Short { got: n, want }),
        _ => Ok((n, digest)),
    }
}

/// HEAD for the size, then `streams` connections fetching [`BLOCK`]-sized ranges.
async fn multi(
    env: &Env,
    uri: &Uri,
    headers: &[(HeaderName, HeaderValue)],
    streams: usize,
    file: &Arc<std::fs::File>,
    progress: &Arc<Progress>,
) -> Result<(u64, Option<String>), TpcError> {
    let out = &env.tpc.out;
    let (head, target, _) = out
        .follow(&Method::HEAD, uri, headers, &|| Ok(body::empty()), None)
        .await?;
    if !head.status().is_success() {
        return Err(remote::status_error(head).await);
    }
    let digest = remote_adler32(head.headers());
    let Some(size) = content_length(head.headers()).filter(|&s| s >= 2 * BLOCK) else {
        // Unknown or small: one stream (on the URL the redirects led to).
        return single(env, &target, headers, file, progress).await;
    };
    let next = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for _ in 0..(streams as u64).min(size.div_ceil(BLOCK)) {
        set.spawn(stream(
            env.clone(),
            target.clone(),
            headers.to_vec(),
            Arc::clone(file),
            Arc::clone(&next),
            size,
            Arc::clone(progress),
        ));
    }
    let mut total = 0;
    // The first failure returns, and dropping the set aborts the other streams.
    while let Some(r) = set.join_next().await {
        total += r.map_err(|e| TpcError::Local(e.to_string()))??;
    }
    if total != size {
        return Err(TpcError::Short {
            got: total,
            want: size,
        });
    }
    Ok((total, digest))
}

/// One stream of a multi-stream pull: claims the next block until none is left.
async fn stream(
    env: Env,
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    file: Arc<std::fs::File>,
    next: Arc<AtomicU64>,
    size: u64,
    progress: Arc<Progress>,
) -> Result<u64, TpcError> {
    let out = &env.tpc.out;
    let _slot = env.tpc.slot().await?;
    let mut conn = out.connect(&uri).await?;
    progress.connected(conn.peer);
    let mut moved = 0;
    loop {
        let from = next.fetch_add(BLOCK, Ordering::Relaxed);
        if from >= size {
            return Ok(moved);
        }
        let to = (from + BLOCK).min(size) - 1;
        if conn.is_closed() {
            // The remote closed the connection after the last range: a new one, through
            // the policy again.
            conn = out.connect(&uri).await?;
            progress.connected(conn.peer);
        }
        let mut h = headers.clone();
        h.push((RANGE, range_value(from, to)));
        let resp = out
            .request(&mut conn, &Method::GET, &uri, &h, body::empty(), None)
            .await?;
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {}
            StatusCode::OK => return Err(TpcError::NoRanges),
            _ => return Err(remote::status_error(resp).await),
        }
        if !range_matches(resp.headers(), from, to) {
            return Err(TpcError::NoRanges);
        }
        let n = sink::receive(
            resp.into_body(),
            Arc::clone(&file),
            from,
            env.stall,
            Some(&progress.bytes),
            // A remote sending more than the range would write into the next block.
            Some(to - from + 1),
        )
        .await
        .map_err(|(_, e)| sink_error(e))?;
        if n != to - from + 1 {
            return Err(TpcError::Short {
                got: n,
                want: to - from + 1,
            });
        }
        moved += n;
    }
}

fn range_value(from: u64, to: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("bytes={from}-{to}"))
        .unwrap_or_else(|_| HeaderValue::from_static("bytes=0-0"))
}

/// `Content-Range: bytes from-to/…` exactly as asked.
fn range_matches(h: &hyper::HeaderMap, from: u64, to: u64) -> bool {
    h.get(CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes "))
        .and_then(|v| v.split_once('/'))
        .is_some_and(|(r, _)| r == format!("{from}-{to}"))
}

pub(super) fn content_length(h: &hyper::HeaderMap) -> Option<u64> {
    h.get(CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

fn sink_error(e: sink::SinkError) -> TpcError {
    match e {
        sink::SinkError::Stalled => TpcError::Stalled,
        sink::SinkError::Body(b) => TpcError::Http(b),
        sink::SinkError::TooLong => TpcError::Http("the body is longer than announced".into()),
        sink::SinkError::Storage(s) => TpcError::Local(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let mut h = hyper::HeaderMap::new();
        h.insert(
            CONTENT_RANGE,
            HeaderValue::from_static("bytes 0-16777215/40000000"),
        );
        assert!(range_matches(&h, 0, 16777215));
        assert!(!range_matches(&h, 0, 100));
        h.insert(CONTENT_RANGE, HeaderValue::from_static("bytes */40000000"));
        assert!(!range_matches(&h, 0, 16777215));
        assert_eq!(range_value(5, 9), "bytes=5-9");
    }
}
