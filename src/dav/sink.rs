//! Request and response bodies written to a file (RFC 9112 §6 framing is hyper's): the
//! data of a PUT, and of the GET of a third-party pull. Frames are gathered into 1 MiB
//! positional writes on the blocking pool; a body that stalls for the data timeout ends
//! the transfer.

use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

use crate::storage::StorageError;

/// Bytes gathered before one positional write (and the most a body buffers).
pub const WRITE_CHUNK: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("no data within the data timeout")]
    Stalled,
    #[error("the body is longer than announced")]
    TooLong,
    #[error("{0}")]
    Body(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Copies `body` into `file` from offset `start`; returns the byte count, or the count
/// written with the error. What arrived before a body broke off is written too (a
/// resumable upload keeps it). `progress` (when given) grows as bytes reach the file; a
/// body longer than `limit` is refused before its excess is written.
pub async fn receive<B>(
    mut body: B,
    file: Arc<std::fs::File>,
    start: u64,
    stall: Duration,
    progress: Option<&AtomicU64>,
    limit: Option<u64>,
) -> Result<u64, (u64, SinkError)>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut buf = BytesMut::with_capacity(WRITE_CHUNK);
    let mut written = 0u64;
    let broken = loop {
        // SECURITY: a peer that stops sending mid-body does not hold the upload (and
        // its disk space) forever.
        let frame = match tokio::time::timeout(stall, body.frame()).await {
            Err(_) => break Some(SinkError::Stalled),
            Ok(None) => break None,
            Ok(Some(Ok(f))) => f,
            Ok(Some(Err(e))) => break Some(SinkError::Body(e.to_string())),
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        if limit.is_some_and(|l| written + (buf.len() + data.len()) as u64 > l) {
            return Err((written, SinkError::TooLong));
        }
        buf.extend_from_slice(&data);
        if buf.len() >= WRITE_CHUNK {
            let chunk = std::mem::replace(&mut buf, BytesMut::with_capacity(WRITE_CHUNK));
            written = write_at(&file, chunk.freeze(), start, written, progress).await?;
        }
    };
    if !buf.is_empty() {
        written = write_at(&file, buf.freeze(), start, written, progress).await?;
    }
    match broken {
        Some(e) => Err((written, e)),
        None => Ok(written),
    }
}

async fn write_at(
    file: &Arc<std::fs::File>,
    data: Bytes,
    start: u64,
    done: u64,
    progress: Option<&AtomicU64>,
) -> Result<u64, (u64, SinkError)> {
    let f = Arc::clone(file);
    let n = data.len() as u64;
    let wrote = tokio::task::spawn_blocking(move || f.write_all_at(&data, start + done))
        .await
        .map_err(|e| (done, SinkError::Body(e.to_string())))?;
    wrote.map_err(|e| (done, SinkError::Storage(StorageError::from(e))))?;
    if let Some(p) = progress {
        p.fetch_add(n, Ordering::Relaxed);
    }
    Ok(done + n)
}
