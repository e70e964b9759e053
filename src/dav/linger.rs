//! Staged connection close, RFC 9112 §9.6 ("Tear-down"): a server that closes a
//! connection while the client may still be sending (an early refusal of an upload that
//! did not ask for `100-continue`) half-closes its write side first and keeps reading
//! until the client closes, a byte budget is spent, or a short time has passed.
//!
//! Without this, the kernel answers the unread request bytes with a TCP reset, and a
//! reset that reaches the client before it has read the response throws the response
//! away: curl reports no status at all instead of the 400/403/413 the server sent.
//!
//! Only a connection that the router *armed* (an error answer to a request whose body
//! may be unread) lingers; every other close (an idle keep-alive connection at shutdown,
//! a client that left) is immediate, so graceful shutdown and connection slots are not
//! held up.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// How long a closing connection keeps reading (Apache httpd lingers 2 s too).
pub(crate) const LINGER_TIME: Duration = Duration::from_secs(2);
/// How much a closing connection reads and discards at most.
pub(crate) const LINGER_BYTES: u64 = 64 << 20;

/// An I/O stream whose shutdown lingers: see the module documentation.
pub(crate) struct Linger<T> {
    inner: T,
    time: Duration,
    budget: u64,
    state: State,
    /// Set by the router when this connection closes with a request body unread.
    armed: Arc<AtomicBool>,
}

enum State {
    Open,
    /// Write side shut; discarding what the peer still sends until `deadline`.
    Draining(Pin<Box<Sleep>>),
    Closed,
}

impl<T> Linger<T> {
    pub(crate) fn new(inner: T) -> Self {
        Self::with_limits(inner, LINGER_TIME, LINGER_BYTES)
    }

    pub(crate) fn with_limits(inner: T, time: Duration, budget: u64) -> Self {
        Self {
            inner,
            time,
            budget,
            state: State::Open,
            armed: Arc::default(),
        }
    }

    /// The switch that makes the next shutdown linger (off until set).
    pub(crate) fn arm_handle(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.armed)
    }
}

impl<T: AsyncRead + Unpin> Linger<T> {
    /// Reads and discards until end of stream, an error, the budget or the deadline.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut scratch = [0u8; 16 << 10];
        loop {
            let State::Draining(deadline) = &mut self.state else {
                return Poll::Ready(());
            };
            if self.budget == 0 || deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match ready!(Pin::new(&mut self.inner).poll_read(cx, &mut buf)) {
                Ok(()) if !buf.filled().is_empty() => {
                    let n = buf.filled().len() as u64;
                    self.budget = self.budget.saturating_sub(n);
                }
                // End of stream or an error: the peer is gone, nothing left to protect.
                _ => return Poll::Ready(()),
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Linger<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Linger<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let State::Open = this.state {
            let shut = ready!(Pin::new(&mut this.inner).poll_shutdown(cx));
            if shut.is_err() || !this.armed.load(Ordering::Relaxed) {
                this.state = State::Closed;
                return Poll::Ready(shut);
            }
            this.state = State::Draining(Box::pin(tokio::time::sleep(this.time)));
        }
        ready!(this.poll_drain(cx));
        this.state = State::Closed;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::Shutdown;
    use std::time::Instant;

    use tokio::io::AsyncWriteExt;

    use super::*;

    /// A client that sends a whole upload before it reads the answer, as curl does
    /// without `Expect: 100-continue`; the server answers without reading any of it.
    fn early_refusal(linger: bool) -> io::Result<Vec<u8>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            rt.block_on(async move {
                let (s, _) = listener.accept().await.unwrap();
                let mut s = Linger::with_limits(s, Duration::from_secs(5), 256 << 20);
                s.arm_handle().store(true, Ordering::Relaxed);
                s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                    .await
                    .unwrap();
                if linger {
                    let _ = s.shutdown().await;
                }
            })
        });
        let mut c = std::net::TcpStream::connect(addr)?;
        let upload = vec![7u8; 32 << 20];
        let sent = c.write_all(&upload);
        let mut answer = Vec::new();
        let read = c.read_to_end(&mut answer);
        let _ = c.shutdown(Shutdown::Both);
        server.join().unwrap();
        sent?;
        read?;
        Ok(answer)
    }

    #[test]
    fn an_early_answer_survives_the_unread_upload() {
        let answer = early_refusal(true).expect("the client saw no reset");
        assert_eq!(answer, b"HTTP/1.1 400 Bad Request\r\n\r\n");
    }

    #[test]
    fn without_lingering_the_kernel_resets_the_answer_away() {
        // The guard's reason: dropping a socket with unread bytes sends a reset.
        let r = early_refusal(false);
        assert!(r.is_err(), "{r:?}");
    }

    /// A loopback pair: the server side wrapped (armed or not), and the client.
    async fn pair(
        time: Duration,
        budget: u64,
        armed: bool,
    ) -> (Linger<tokio::net::TcpStream>, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (s, _) = listener.accept().await.unwrap();
        let s = Linger::with_limits(s, time, budget);
        s.arm_handle().store(armed, Ordering::Relaxed);
        (s, client)
    }

    #[tokio::test]
    async fn draining_ends_at_the_deadline_when_the_peer_neither_sends_nor_closes() {
        let (mut s, _client) = pair(Duration::from_millis(200), 1 << 20, true).await;
        let t0 = Instant::now();
        s.shutdown().await.unwrap();
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }

    #[tokio::test]
    async fn an_unarmed_connection_closes_at_once() {
        // An idle keep-alive connection closed at shutdown: nothing to protect.
        let (mut s, _client) = pair(Duration::from_secs(30), 1 << 20, false).await;
        let t0 = Instant::now();
        s.shutdown().await.unwrap();
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    }

    #[tokio::test]
    async fn draining_ends_when_the_budget_is_spent() {
        let (mut s, mut client) = pair(Duration::from_secs(30), 64 << 10, true).await;
        let writer = tokio::spawn(async move {
            let chunk = vec![0u8; 16 << 10];
            while client.write_all(&chunk).await.is_ok() {}
        });
        let t0 = Instant::now();
        s.shutdown().await.unwrap();
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        drop(s);
        writer.await.unwrap();
    }
}
