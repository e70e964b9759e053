//! GET and HEAD (RFC 9110 §9.3.1–2): a single byte range (§14.2 `Range` → 206 with
//! `Content-Range`, 416 when unsatisfiable, several ranges → the whole file), `If-Range`
//! (§13.1.5), `If-None-Match` / `If-Modified-Since` (§13.1.2–3 → 304), a strong `ETag`,
//! and the RFC 3230 `Digest` / RFC 9530 `Repr-Digest` the client asks for, from the
//! checksum cache. The body streams from the blocking pool in 1 MiB reads.

use std::os::unix::fs::MetadataExt;
use std::time::{Instant, SystemTime};

use hyper::body::Incoming;
use hyper::header::{
    HeaderName, HeaderValue, ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG,
    IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, LAST_MODIFIED, RANGE,
};
use hyper::{HeaderMap, Request, Response, StatusCode};

use super::body::{empty, stream_file, Body, Sent};
use super::digest;
use super::error::DavError;
use super::request::Ctx;
use super::{blocking, Transfer};
use crate::auth::rights::Activity;
use crate::metrics::{Direction, EndpointLabel};
use crate::storage::checksum::Algorithm;

/// A satisfiable single range: first and last byte, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub first: u64,
    pub last: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// No usable range (absent, malformed, several, or another unit): send it all.
    Whole,
    Partial(ByteRange),
    Unsatisfiable,
}

/// Parses a `Range` value for a representation of `size` bytes (RFC 9110 §14.1.2).
pub fn parse_range(value: &str, size: u64) -> RangeAnswer {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Whole;
    };
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAnswer::Whole;
    };
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.trim().is_empty(), num(a), num(b)) {
        // `bytes=-n`: the last n bytes.
        (true, _, Some(n)) => {
            if n == 0 || size == 0 {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Partial(ByteRange {
                    first: size.saturating_sub(n),
                    last: size - 1,
                })
            }
        }
        (false, Some(first), last) if b.trim().is_empty() || last.is_some() => {
            if last.is_some_and(|l| l < first) {
                return RangeAnswer::Whole;
            }
            if first >= size {
                return RangeAnswer::Unsatisfiable;
            }
            let last = last.map_or(size - 1, |l| l.min(size - 1));
            RangeAnswer::Partial(ByteRange { first, last })
        }
        _ => RangeAnswer::Whole,
    }
}

/// A strong validator from inode, size and mtime (any write changes it).
pub(crate) fn etag(ino: u64, size: u64, mtime: SystemTime) -> String {
    let nanos = mtime
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("\"{ino:x}-{size:x}-{nanos:x}\"")
}

fn header(h: &HeaderMap, name: HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// RFC 9110 §13.2.2 order: If-None-Match, else If-Modified-Since.
fn not_modified(h: &HeaderMap, tag: &str, mtime: SystemTime) -> bool {
    if let Some(inm) = header(h, IF_NONE_MATCH) {
        return inm
            .split(',')
            .any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == tag);
    }
    let Some(since) = header(h, IF_MODIFIED_SINCE).and_then(|v| httpdate::parse_http_date(v).ok())
    else {
        return false;
    };
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    secs(mtime) <= secs(since)
}

/// `If-Range` holds when it names the current ETag or Last-Modified exactly.
fn if_range_holds(h: &HeaderMap, tag: &str, last_modified: &str) -> bool {
    match header(h, IF_RANGE) {
        None => true,
        Some(v) => v.trim() == tag || v.trim() == last_modified,
    }
}

pub async fn handle(
    ctx: &Ctx<'_>,
    req: &Request<Incoming>,
    head: bool,
) -> Result<Response<Body>, DavError> {
    // HEAD is a stat; GET reads the content.
    let act = if head { Activity::Stat } else { Activity::Read };
    ctx.access.require(act, &ctx.path)?;
    let (root, p) = (ctx.access.root.clone(), ctx.path.clone());
    let (file, meta) = blocking(move || {
        let f = root.open_read(&p)?;
        let m = f.metadata().map_err(crate::storage::StorageError::from)?;
        Ok((f, m))
    })
    .await?;
    let size = meta.len();
    let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let tag = etag(meta.ino(), size, mtime);
    let last_modified = httpdate::fmt_http_date(mtime);
    let h = req.headers();
    if not_modified(h, &tag, mtime) {
        let mut resp = Response::new(empty());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        put_header(&mut resp, ETAG, &tag);
        put_header(&mut resp, LAST_MODIFIED, &last_modified);
        return Ok(resp);
    }
    let range = match header(h, RANGE) {
        Some(v) if if_range_holds(h, &tag, &last_modified) => parse_range(v, size),
        _ => RangeAnswer::Whole,
    };
    let (first, len, status) = match range {
        RangeAnswer::Whole => (0, size, StatusCode::OK),
        RangeAnswer::Partial(r) => (r.first, r.last - r.first + 1, StatusCode::PARTIAL_CONTENT),
        RangeAnswer::Unsatisfiable => return Err(DavError::RangeNotSatisfiable { size }),
    };
    let digests = digests(ctx, h, &file).await?;
    let mut resp = if head {
        Response::new(empty())
    } else {
        let t = transfer(ctx);
        let metrics = std::sync::Arc::clone(&ctx.dav.metrics);
        metrics.transfer_started(EndpointLabel::Webdav, Direction::Download);
        let stall = ctx.dav.data_timeout;
        Response::new(stream_file(file, first, len, stall, move |sent| {
            finish(t, sent, &metrics)
        }))
    };
    *resp.status_mut() = status;
    put_header(&mut resp, CONTENT_LENGTH, &len.to_string());
    put_header(&mut resp, CONTENT_TYPE, "application/octet-stream");
    put_header(&mut resp, ETAG, &tag);
    put_header(&mut resp, LAST_MODIFIED, &last_modified);
    put_header(&mut resp, ACCEPT_RANGES, "bytes");
    if status == StatusCode::PARTIAL_CONTENT {
        let cr = format!("bytes {first}-{}/{size}", first + len - 1);
        put_header(&mut resp, CONTENT_RANGE, &cr);
    }
    for (name, value) in digests {
        put_header(&mut resp, HeaderName::from_static(name), &value);
    }
    Ok(resp)
}

fn transfer(ctx: &Ctx<'_>) -> Transfer {
    Transfer {
        peer: ctx.peer,
        user: ctx.access.user.clone(),
        dn: ctx.access.dn.clone(),
        verb: "GET",
        path: ctx.path.to_string(),
        bytes: 0,
        started: Instant::now(),
        result: "ok",
        direction: Direction::Download,
        remote: None,
        streams: 1,
    }
}

fn finish(mut t: Transfer, sent: Sent, metrics: &crate::metrics::Metrics) {
    (t.bytes, t.result) = match sent {
        Sent::Complete(n) => (n, "ok"),
        Sent::Aborted(n) => (n, "aborted"),
        Sent::Failed(n) => (n, "failed"),
    };
    t.record(metrics);
}

/// The `Digest` and `Repr-Digest` headers the request asks for (`Want-Digest`,
/// `Want-Repr-Digest`), each for its best known algorithm.
async fn digests(
    ctx: &Ctx<'_>,
    h: &HeaderMap,
    file: &std::fs::File,
) -> Result<Vec<(&'static str, String)>, DavError> {
    let rfc3230 =
        header(h, HeaderName::from_static("want-digest")).and_then(digest::choose_rfc3230);
    let rfc9530 =
        header(h, HeaderName::from_static("want-repr-digest")).and_then(digest::choose_rfc9530);
    let mut out = Vec::new();
    if let Some(alg) = rfc3230 {
        let hex = checksum(ctx, file, alg).await?;
        out.extend(digest::digest_value(alg, &hex).map(|v| ("digest", v)));
    }
    if let Some(alg) = rfc9530 {
        let hex = checksum(ctx, file, alg).await?;
        out.extend(digest::repr_digest_value(alg, &hex).map(|v| ("repr-digest", v)));
    }
    Ok(out)
}

/// The whole-file checksum from the cache (computed on a miss), on the blocking pool.
pub(crate) async fn checksum(
    ctx: &Ctx<'_>,
    file: &std::fs::File,
    alg: Algorithm,
) -> Result<String, DavError> {
    let cache = ctx.dav.checksums.clone();
    let mut f = file
        .try_clone()
        .map_err(|e| DavError::Internal(e.to_string()))?;
    blocking(move || {
        cache
            .whole_file(&mut f, alg)
            .map_err(|e| DavError::Internal(e.to_string()))
    })
    .await
}

fn put_header(resp: &mut Response<Body>, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(first: u64, last: u64) -> RangeAnswer {
        RangeAnswer::Partial(ByteRange { first, last })
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), part(0, 9));
        assert_eq!(parse_range("bytes=10-", 100), part(10, 99));
        assert_eq!(parse_range("bytes=-10", 100), part(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), part(0, 99));
        assert_eq!(parse_range("bytes=90-1000", 100), part(90, 99));
        assert_eq!(parse_range(" bytes= 5 - 6 ", 100), part(5, 6));
        assert_eq!(parse_range("bytes=100-", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(
            parse_range("bytes=100-200", 100),
            RangeAnswer::Unsatisfiable
        );
        assert_eq!(parse_range("bytes=-0", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), RangeAnswer::Unsatisfiable);
        assert_eq!(parse_range("bytes=9-1", 100), RangeAnswer::Whole);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeAnswer::Whole);
        assert_eq!(parse_range("items=0-1", 100), RangeAnswer::Whole);
        assert_eq!(parse_range("bytes=a-b", 100), RangeAnswer::Whole);
        assert_eq!(parse_range("bytes=+1-2", 100), RangeAnswer::Whole);
        assert_eq!(parse_range("bytes=-", 100), RangeAnswer::Whole);
        assert_eq!(
            parse_range("bytes=4294967296-", 1 << 33),
            part(1 << 32, (1 << 33) - 1)
        );
    }
}
