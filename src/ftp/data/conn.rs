//! An established data connection, clear or TLS-protected (RFC 4217 §9: on FTPS data
//! connections the FTP server is always the TLS server). The TLS handshake runs async; the
//! connection is then handed to a blocking transfer thread as a std socket.

use std::io::{self, Read, Write};
use std::net::TcpStream as StdTcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::{ServerConfig, ServerConnection, StreamOwned};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

pub enum DataConn {
    Plain(StdTcpStream),
    Tls(Box<StreamOwned<ServerConnection, StdTcpStream>>),
    /// GSI PROT P (GridFTP data-channel security).
    Gsi(Box<crate::gsi::datachan::PrivateStream>),
}

impl DataConn {
    /// Completes the data connection: optional TLS handshake (bounded by `timeout`), then
    /// conversion to a blocking socket whose reads and writes time out after `timeout`.
    pub async fn establish(
        stream: TcpStream,
        tls: Option<Arc<ServerConfig>>,
        timeout: Duration,
    ) -> io::Result<DataConn> {
        let conn = match tls {
            None => DataConn::Plain(into_blocking(stream, timeout)?),
            Some(cfg) => {
                // No TLS 1.3 session tickets on data connections: an uploading client
                // never reads them, and closing a socket with unread data sends a RST
                // that can cut the upload's tail (seen with curl: 426 at random).
                let mut cfg = (*cfg).clone();
                cfg.send_tls13_tickets = 0;
                let accept = TlsAcceptor::from(Arc::new(cfg)).accept(stream);
                let tls = tokio::time::timeout(timeout, accept).await.map_err(|_| {
                    io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")
                })??;
                let (tcp, session) = tls.into_inner();
                DataConn::Tls(Box::new(StreamOwned::new(
                    session,
                    into_blocking(tcp, timeout)?,
                )))
            }
        };
        Ok(conn)
    }

    /// The one way a new data connection is completed: GSI (DCAU) when the session has
    /// data-channel security, else FTPS when PROT P is in force, else clear text.
    pub async fn secure(
        stream: TcpStream,
        tls: Option<Arc<ServerConfig>>,
        gsi: Option<Arc<crate::gsi::datachan::DataSecurity>>,
        initiator: bool,
        timeout: Duration,
    ) -> io::Result<DataConn> {
        match gsi {
            Some(sec) => Self::establish_gsi(stream, sec, initiator, timeout).await,
            None => Self::establish(stream, tls, timeout).await,
        }
    }

    /// Secures the connection with GSI (DCAU): handshake with the delegated credential on
    /// the blocking pool, bounded by the socket timeouts; `initiator` when we connected.
    pub async fn establish_gsi(
        stream: TcpStream,
        sec: Arc<crate::gsi::datachan::DataSecurity>,
        initiator: bool,
        timeout: Duration,
    ) -> io::Result<DataConn> {
        let sock = into_blocking(stream, timeout)?;
        let secured = tokio::task::spawn_blocking(move || sec.establish(sock, initiator))
            .await
            .map_err(io::Error::other)??;
        Ok(match secured {
            crate::gsi::datachan::Secured::Clear(s) => DataConn::Plain(s),
            crate::gsi::datachan::Secured::Private(s) => DataConn::Gsi(s),
        })
    }

    pub fn tcp(&self) -> &StdTcpStream {
        match self {
            DataConn::Plain(s) => s,
            DataConn::Tls(s) => &s.sock,
            DataConn::Gsi(s) => s.tcp(),
        }
    }

    /// Ends the stream cleanly: TLS close_notify, then a TCP half-close so the peer reads
    /// end-of-file (RFC 959 §3.3: in stream mode, closing marks the end of the file).
    pub fn finish(&mut self) -> io::Result<()> {
        if let DataConn::Gsi(s) = self {
            return s.finish();
        }
        if let DataConn::Tls(s) = self {
            s.conn.send_close_notify();
            s.flush()?;
        }
        self.tcp().shutdown(std::net::Shutdown::Write)
    }
}

fn into_blocking(stream: TcpStream, timeout: Duration) -> io::Result<StdTcpStream> {
    let std = stream.into_std()?;
    std.set_nonblocking(false)?;
    std.set_read_timeout(Some(timeout))?;
    std.set_write_timeout(Some(timeout))?;
    Ok(std)
}

impl Read for DataConn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            DataConn::Plain(s) => s.read(buf),
            DataConn::Tls(s) => s.read(buf),
            DataConn::Gsi(s) => s.read(buf),
        }
    }
}

impl Write for DataConn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            DataConn::Plain(s) => s.write(buf),
            DataConn::Tls(s) => s.write(buf),
            DataConn::Gsi(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            DataConn::Plain(s) => s.flush(),
            DataConn::Tls(s) => s.flush(),
            DataConn::Gsi(s) => s.flush(),
        }
    }
}
