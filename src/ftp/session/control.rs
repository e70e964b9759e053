//! The control connection's byte stream: clear text, or TLS after `AUTH TLS` (RFC 4217
//! §4–5), framed into lines by [`LineDecoder`] and written as encoded [`Reply`]s.
//!
//! It runs over a [`Transport`]: the accepted TCP socket in the server, or any other
//! `AsyncRead + AsyncWrite` byte stream (`tokio::io::duplex` in the in-process tests). Only
//! the liveness checks need a socket; over any other stream the client counts as present.

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

/// A byte stream a control channel can run over besides a TCP socket.
pub trait ControlIo: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static> ControlIo for T {}

/// What the control channel runs over.
pub enum Transport {
    /// An accepted connection: its socket also serves the liveness checks
    /// ([`Control::dup_socket`]).
    Tcp(TcpStream),
    /// Any other byte stream: no socket to duplicate, so the client always counts as
    /// present.
    Stream(Box<dyn ControlIo>),
}

impl Transport {
    /// Any byte stream (a `tokio::io::duplex` end in tests).
    pub fn stream(io: impl ControlIo) -> Self {
        Self::Stream(Box::new(io))
    }

    fn dup_socket(&self) -> Option<std::os::fd::OwnedFd> {
        let Transport::Tcp(tcp) = self else {
            return None;
        };
        socket2::SockRef::from(tcp)
            .try_clone()
            .ok()
            .map(std::os::fd::OwnedFd::from)
    }
}

enum Stream {
    Plain(Transport),
    Tls(Box<TlsStream<Transport>>),
    /// Transient state during the TLS upgrade (or after it failed).
    Gone,
}

/// Read buffer size: control traffic is small; the decoder caps lines anyway.
const READ_CHUNK: usize = 4096;

pub struct Control {
    stream: Stream,
    /// After a GSI login (RFC 2228): commands arrive as `ENC`, replies go out as `632`.
    gsi: Option<Box<crate::gsi::GsiContext>>,
    buf: BytesMut,
    decoder: LineDecoder,
    out: Vec<u8>,
}

impl Control {
    pub fn new(transport: Transport) -> Self {
        Self {
            stream: Stream::Plain(transport),
            gsi: None,
            buf: BytesMut::new(),
            decoder: LineDecoder::new(),
            out: Vec::new(),
        }
    }

    /// A duplicate of the underlying TCP socket (for liveness checks off the runtime);
    /// `None` when the transport is no socket.
    pub fn dup_socket(&self) -> Option<std::os::fd::OwnedFd> {
        match &self.stream {
            Stream::Plain(t) => t.dup_socket(),
            Stream::Tls(s) => s.get_ref().0.dup_socket(),
            Stream::Gone => None,
        }
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

    /// From now on every command must be `ENC`-wrapped and every reply is protected.
    pub fn protect(&mut self, ctx: Box<crate::gsi::GsiContext>) {
        self.gsi = Some(ctx);
    }

    /// The credential the client delegated during the GSI exchange.
    pub fn delegated(&self) -> Option<&crate::gsi::delegation::Delegated> {
        self.gsi.as_ref().and_then(|g| g.delegated())
    }

    /// Accepts the long `ADAT`/`ENC` lines of a GSI session.
    pub fn allow_protected_lines(&mut self) {
        self.decoder
            .set_max_line(crate::ftp::control::codec::MAX_PROTECTED_LINE);
    }

    pub fn is_protected(&self) -> bool {
        self.gsi.is_some()
    }

    /// The plaintext of an `ENC` command's token (RFC 2228 §3).
    pub fn unwrap_command(&mut self, token: &[u8]) -> Result<Vec<u8>, crate::gsi::GsiError> {
        match self.gsi.as_mut() {
            Some(ctx) => ctx.unwrap(token),
            None => Err(crate::gsi::GsiError::Protocol("no security context")),
        }
    }

    pub async fn send(&mut self, reply: &Reply) -> io::Result<()> {
        self.out.clear();
        reply.encode_into(&mut self.out);
        if let Some(ctx) = self.gsi.as_mut() {
            self.out = protect_reply(ctx, &self.out)?;
        }
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
        let Stream::Plain(transport) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(io::Error::other("control connection is already TLS"));
        };
        let accept = TlsAcceptor::from(cfg).accept(transport);
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

/// RFC 2228 §4: each reply line (with its CRLF) wrapped on its own; `632-` on every line
/// but the last, as Globus clients expect.
fn protect_reply(ctx: &mut crate::gsi::GsiContext, clear: &[u8]) -> io::Result<Vec<u8>> {
    use base64::Engine;
    let lines: Vec<&[u8]> = clear
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let token = ctx.wrap(line).map_err(io::Error::other)?;
        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
        out.extend_from_slice(format!("632{sep}").as_bytes());
        out.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(token)
                .as_bytes(),
        );
        out.extend_from_slice(b"\r\n");
    }
    Ok(out)
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "control connection closed")
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Stream(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Stream(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    // Forwarded so TLS records reach a socket with one writev, as without the wrapper.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Transport::Stream(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Tcp(s) => s.is_write_vectored(),
            Transport::Stream(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_flush(cx),
            Transport::Stream(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Stream(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
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
