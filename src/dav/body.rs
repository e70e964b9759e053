//! Response bodies (RFC 9112 §6 message body): small fixed ones, and file contents streamed
//! from a producer task through a bounded channel. The producer reads with `pread` on the
//! blocking pool in large chunks and waits for the client *asynchronously* between chunks,
//! so a slow client holds no thread and never stalls other requests.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Frame, SizeHint};
use tokio::sync::mpsc;

/// Every response body of the endpoint.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// Bytes per read from disk (and per channel message) under TLS.
pub const READ_CHUNK: usize = 1 << 20;
/// Chunks buffered between the reader and the connection. Memory per GET is bounded by
/// (QUEUE + 1) chunks, so 1000 slow clients hold at most ~2 GiB; one queued chunk is
/// enough to overlap the next read with sending.
const QUEUE: usize = 1;

pub fn full(b: Bytes) -> Body {
    Full::new(b).map_err(|never| match never {}).boxed()
}

pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// A body fed by a channel; `len` is the exact length announced in Content-Length
/// (`None`: unknown, sent chunked).
struct ChannelBody {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    len: Option<u64>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|res| res.map(Frame::data)))
    }

    fn size_hint(&self) -> SizeHint {
        self.len
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

/// How a streamed download ended, for the transfer log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Every byte was queued for the connection.
    Complete(u64),
    /// The client went away (or the connection failed) after this many bytes.
    Aborted(u64),
    /// Reading the file failed after this many bytes.
    Failed(u64),
}

/// Streams `len` bytes of `file` from `offset`; `done` runs once with the outcome. A
/// client that takes nothing for `stall` loses the response.
pub fn stream_file(
    file: std::fs::File,
    offset: u64,
    len: u64,
    stall: std::time::Duration,
    done: impl FnOnce(Sent) + Send + 'static,
) -> Body {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(async move {
        let outcome = produce(Arc::new(file), offset, len, stall, tx).await;
        done(outcome);
    });
    ChannelBody { rx, len: Some(len) }.boxed()
}

/// A body of unknown length (sent chunked) fed through the returned sender, which
/// holds up to `queue` pieces; a send fails once the client is gone.
pub fn channel(queue: usize) -> (mpsc::Sender<std::io::Result<Bytes>>, Body) {
    let (tx, rx) = mpsc::channel(queue);
    (tx, ChannelBody { rx, len: None }.boxed())
}

async fn produce(
    file: Arc<std::fs::File>,
    offset: u64,
    len: u64,
    stall: std::time::Duration,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
) -> Sent {
    let mut sent = 0u64;
    while sent < len {
        let want = usize::try_from(len - sent)
            .unwrap_or(READ_CHUNK)
            .min(READ_CHUNK);
        let f = Arc::clone(&file);
        let at = offset + sent;
        let read = tokio::task::spawn_blocking(move || read_chunk(&f, at, want)).await;
        let chunk = match read {
            Ok(Ok(c)) if !c.is_empty() => c,
            // A file that shrank under us, a read error or a lost task: end the body
            // early, so the client sees a truncated (not a silently short) response.
            Ok(Ok(_)) | Ok(Err(_)) | Err(_) => {
                let _ = tx
                    .send(Err(std::io::Error::other("file read failed")))
                    .await;
                return Sent::Failed(sent);
            }
        };
        let n = chunk.len() as u64;
        // SECURITY: a client that stops reading does not hold the file and the task
        // forever; the error ends the body, and hyper closes the connection.
        match tokio::time::timeout(stall, tx.send(Ok(chunk))).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Sent::Aborted(sent),
            Err(_) => {
                drop(tx);
                return Sent::Aborted(sent);
            }
        }
        sent += n;
    }
    Sent::Complete(sent)
}

/// Up to `want` bytes at `at`, read into uninitialised capacity (no 1 MiB memset per
/// chunk: that showed up in the CPU per GiB).
fn read_chunk(file: &std::fs::File, at: u64, want: usize) -> std::io::Result<Bytes> {
    let mut buf = Vec::with_capacity(want);
    while buf.len() < want {
        let offset = at + buf.len() as u64;
        // Reads at most the spare capacity (>= want); extra bytes are cut below.
        let n = rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), offset)?;
        if n == 0 {
            break;
        }
    }
    buf.truncate(want);
    Ok(Bytes::from(buf))
}
