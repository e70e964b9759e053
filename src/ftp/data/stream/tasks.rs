//! MODE S (RFC 959 §3.4.1) transfers as readiness-driven [`Task`]s (`ftp::data::ready`), on
//! clear sockets and under FTPS (RFC 4217 §9: rustls' connection state machine driven over
//! the non-blocking socket with `read_tls`/`write_tls`). TYPE A conversion (RFC 959
//! §3.1.1.1) is applied to the plaintext. A peer that stops reading or writing holds no
//! thread.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::FileExt;

use rustls::ServerConnection;
use tokio::io::Interest;

use super::{from_crlf, to_crlf};
use crate::ftp::data::ready::Task;
use crate::ftp::data::TransferCtl;
use crate::ftp::zerocopy;

/// Plaintext chunk size for copies that cannot be zero-copy (TLS, ASCII, listings).
const CHUNK: usize = 256 * 1024;

/// What a download sends, chunk by chunk (everything but clear binary file sends, which
/// go through sendfile).
pub enum Chunks {
    File {
        file: File,
        pos: u64,
        end: u64,
        ascii: bool,
        buf: Vec<u8>,
    },
    Bytes {
        data: Vec<u8>,
        pos: usize,
    },
}

impl Chunks {
    pub fn file(file: File, offset: u64, len: u64, ascii: bool) -> Chunks {
        Chunks::File {
            file,
            pos: offset,
            end: offset.saturating_add(len),
            ascii,
            buf: Vec::new(),
        }
    }

    /// The next chunk into `out` (replacing its content); false at the end.
    fn next(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        out.clear();
        match self {
            Chunks::Bytes { data, pos } => {
                let end = data.len().min(*pos + CHUNK);
                out.extend_from_slice(&data[*pos..end]);
                *pos = end;
            }
            Chunks::File {
                file,
                pos,
                end,
                ascii,
                buf,
            } => {
                if *pos >= *end {
                    return Ok(false);
                }
                buf.resize(CHUNK, 0);
                let want = usize::try_from(*end - *pos).unwrap_or(CHUNK).min(CHUNK);
                let n = file.read_at(&mut buf[..want], *pos)?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shrank during transfer",
                    ));
                }
                *pos += n as u64;
                if *ascii {
                    to_crlf(&buf[..n], out);
                } else {
                    out.extend_from_slice(&buf[..n]);
                }
            }
        }
        Ok(!out.is_empty())
    }
}

/// A download: sendfile(2) for a clear binary file, chunks otherwise, through TLS when
/// the connection has it.
pub struct SendTask {
    how: Send,
    /// Plaintext taken from the source but not yet written (`out[written..]`).
    out: Vec<u8>,
    written: usize,
    sent: u64,
}

enum Send {
    Zerocopy { file: File, pos: u64, end: u64 },
    Clear(Chunks),
    Tls(Box<ServerConnection>, Chunks, bool),
}

impl SendTask {
    /// A clear binary file: zero-copy.
    pub fn sendfile(file: File, offset: u64, len: u64) -> SendTask {
        Self::with(Send::Zerocopy {
            file,
            pos: offset,
            end: offset.saturating_add(len),
        })
    }

    /// Chunks on a clear socket, or through `tls`.
    pub fn chunks(chunks: Chunks, tls: Option<Box<ServerConnection>>) -> SendTask {
        Self::with(match tls {
            None => Send::Clear(chunks),
            Some(mut conn) => {
                // We hand rustls one chunk at a time, and only once it has written out
                // the previous one: its own buffer limit would only split chunks.
                conn.set_buffer_limit(None);
                Send::Tls(conn, chunks, false)
            }
        })
    }

    fn with(how: Send) -> SendTask {
        SendTask {
            how,
            out: Vec::new(),
            written: 0,
            sent: 0,
        }
    }
}

impl Task for SendTask {
    type Output = u64;
    const INTEREST: Interest = Interest::WRITABLE;

    fn step(&mut self, sock: &TcpStream, ctl: &TransferCtl) -> io::Result<Option<u64>> {
        match &mut self.how {
            Send::Zerocopy { file, pos, end } => {
                if *pos >= *end {
                    return Ok(Some(self.sent));
                }
                let n = zerocopy::sendfile_some(sock, file, pos, *end - *pos)?;
                self.sent += n;
                ctl.add_progress(n);
                Ok(None)
            }
            Send::Clear(chunks) => {
                if self.written < self.out.len() {
                    let n = (&*sock).write(&self.out[self.written..])?;
                    self.written += n;
                    self.sent += n as u64;
                    ctl.add_progress(n as u64);
                    return Ok(None);
                }
                self.written = 0;
                Ok((!chunks.next(&mut self.out)?).then_some(self.sent))
            }
            Send::Tls(conn, chunks, closing) => {
                // Encrypted records first; only then more plaintext (bounded buffering).
                if conn.wants_write() {
                    conn.write_tls(&mut &*sock)?;
                    return Ok(None);
                }
                if *closing {
                    return Ok(Some(self.sent));
                }
                if !chunks.next(&mut self.out)? {
                    conn.send_close_notify();
                    *closing = true;
                    return Ok(None);
                }
                conn.writer().write_all(&self.out)?;
                self.sent += self.out.len() as u64;
                ctl.add_progress(self.out.len() as u64);
                Ok(None)
            }
        }
    }
}

/// Where an upload's plaintext goes: positional writes from the restart offset, CRLF →
/// LF for TYPE A (a CR at a chunk end held back until the next byte is known).
pub struct FileSink {
    file: File,
    start: u64,
    pos: u64,
    ascii: bool,
    pending_cr: bool,
    out: Vec<u8>,
}

impl FileSink {
    pub fn new(file: File, offset: u64, ascii: bool) -> FileSink {
        FileSink {
            file,
            start: offset,
            pos: offset,
            ascii,
            pending_cr: false,
            out: Vec::new(),
        }
    }

    fn put(&mut self, data: &[u8], ctl: &TransferCtl) -> io::Result<()> {
        let bytes = if self.ascii {
            from_crlf(data, &mut self.out, &mut self.pending_cr);
            &self.out[..]
        } else {
            data
        };
        self.file.write_all_at(bytes, self.pos)?;
        self.pos += bytes.len() as u64;
        ctl.add_progress(data.len() as u64);
        Ok(())
    }

    /// A binary upload on a clear socket: straight from the socket into the file
    /// (splice(2)); `Ok(0)` at the end of the stream.
    fn put_from(
        &mut self,
        zc: &mut zerocopy::SocketToFile,
        sock: &TcpStream,
        ctl: &TransferCtl,
    ) -> io::Result<u64> {
        let n = zc.recv_some(sock, &self.file, &mut self.pos, CHUNK as u64)?;
        ctl.add_progress(n);
        Ok(n)
    }

    /// End of data: bytes written.
    fn finish(&mut self) -> io::Result<u64> {
        if std::mem::take(&mut self.pending_cr) {
            self.file.write_all_at(b"\r", self.pos)?;
            self.pos += 1;
        }
        Ok(self.pos - self.start)
    }
}

/// An upload until the peer ends the stream (TCP end of file; under TLS close_notify, or
/// a TCP close without it, as most FTPS clients do after an upload).
pub struct ReceiveTask {
    sink: FileSink,
    tls: Option<Box<ServerConnection>>,
    /// Clear binary uploads: socket → file without a user-space copy.
    zc: zerocopy::SocketToFile,
    /// Plaintext from TLS, or bytes to convert for TYPE A; allocated when first needed.
    buf: Vec<u8>,
    /// TLS: the TCP stream has ended; what rustls still holds is the rest.
    eof: bool,
}

impl ReceiveTask {
    pub fn new(sink: FileSink, tls: Option<Box<ServerConnection>>) -> ReceiveTask {
        ReceiveTask {
            sink,
            tls,
            zc: zerocopy::SocketToFile::new(),
            buf: Vec::new(),
            eof: false,
        }
    }

    fn step_tls(&mut self, sock: &TcpStream, ctl: &TransferCtl) -> io::Result<Option<u64>> {
        let Some(conn) = self.tls.as_mut() else {
            return Ok(None);
        };
        self.buf.resize(CHUNK, 0);
        match conn.reader().read(&mut self.buf) {
            Ok(0) => return self.sink.finish().map(Some),
            Ok(n) => {
                self.sink.put(&self.buf[..n], ctl)?;
                return Ok(None);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && !self.eof => {}
            // No close_notify before the TCP end: taken as the end of the data.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::UnexpectedEof
                ) =>
            {
                return self.sink.finish().map(Some)
            }
            Err(e) => return Err(e),
        }
        if conn.wants_write() {
            // Alerts or post-handshake messages; never worth blocking an upload for.
            match conn.write_tls(&mut &*sock) {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
        }
        if conn.read_tls(&mut &*sock)? == 0 {
            self.eof = true;
        }
        conn.process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(None)
    }
}

impl Task for ReceiveTask {
    type Output = u64;
    const INTEREST: Interest = Interest::READABLE;

    fn step(&mut self, sock: &TcpStream, ctl: &TransferCtl) -> io::Result<Option<u64>> {
        if self.tls.is_some() {
            return self.step_tls(sock, ctl);
        }
        if !self.sink.ascii {
            return match self.sink.put_from(&mut self.zc, sock, ctl)? {
                0 => self.sink.finish().map(Some),
                _ => Ok(None),
            };
        }
        self.buf.resize(CHUNK, 0);
        match (&*sock).read(&mut self.buf)? {
            0 => self.sink.finish().map(Some),
            n => {
                self.sink.put(&self.buf[..n], ctl)?;
                Ok(None)
            }
        }
    }
}
