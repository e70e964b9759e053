//! The control connection's byte stream: clear text, or TLS after `AUTH TLS` (RFC 4217
//! §4–5), framed into lines by [`LineDecoder`] and written as encoded [`Reply`]s.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::ftp::control::{Frame, LineDecoder, Reply};

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Transient state during the TLS upgrade (or after it failed).
    Gone,
}

/// Read buffer size: control traffic is small; the decoder caps lines anyway.
const READ_CHUNK: usize = 4096;

pub struct Control {
    stream: Stream,
    buf: BytesMut,
    decoder: LineDecoder,
    out: Vec<u8>,
}

impl Control {
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream: Stream::Plain(stream),
            buf: BytesMut::new(),
            decoder: LineDecoder::new(),
            out: Vec::new(),
        }
    }

    /// A duplicate of the underlying TCP socket (for liveness checks off the runtime).
    pub fn dup_socket(&self) -> Option<std::os::fd::OwnedFd> {
        let tcp = match &self.stream {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
            Stream::Gone => return None,
        };
        socket2::SockRef::from(tcp)
            .try_clone()
            .ok()
            .map(std::os::fd::OwnedFd::from)
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// The next frame, or `None` at end of stream. Cancel-safe: bytes already read stay
    /// buffered for the next call.
    pub async fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf) {
                return Ok(Some(frame));
            }
            self.buf.reserve(READ_CHUNK);
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Ok(None);
            }
        }
    }

    pub async fn send(&mut self, reply: &Reply) -> io::Result<()> {
        self.out.clear();
        reply.encode_into(&mut self.out);
        self.stream.write_all(&self.out).await?;
        self.stream.flush().await?;
        // Keep the buffer small between replies (a long listing over STAT can be big).
        if self.out.capacity() > 64 * 1024 {
            self.out = Vec::new();
        }
        Ok(())
    }

    /// Runs the server side of the TLS handshake on the control connection.
    pub async fn upgrade(&mut self, cfg: Arc<ServerConfig>, timeout: Duration) -> io::Result<()> {
        // SECURITY: anything the client sent after `AUTH TLS` in clear text must not be
        // executed as if it had come over TLS (command injection, CVE-2011-0411 class).
        self.buf.clear();
        self.decoder = LineDecoder::new();
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(io::Error::other("control connection is already TLS"));
        };
        let accept = TlsAcceptor::from(cfg).accept(tcp);
        let tls = tokio::time::timeout(timeout, accept)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        self.stream = Stream::Tls(Box::new(tls));
        Ok(())
    }

    /// Best-effort orderly close (TLS close_notify, TCP FIN).
    pub async fn close(&mut self) {
        let _ = self.stream.shutdown().await;
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "control connection closed")
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Gone => Poll::Ready(Err(gone())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
}
