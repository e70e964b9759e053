//! MODE S (stream mode, RFC 959 §3.4.1) transfers on an established data connection, with
//! TYPE A line-ending conversion (RFC 959 §3.1.1.1).
//!
//! Clear connections run as readiness-driven [`Task`]s (`ftp::data::ready`: no thread
//! waits on the peer), binary downloads through sendfile(2) (`ftp::zerocopy`). TLS and
//! GSI-protected connections run the blocking loops below on the blocking pool.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;

use std::net::TcpStream;

use tokio::io::Interest;

use super::conn::DataConn;
use super::ready::Task;
use super::TransferCtl;
use crate::ftp::zerocopy;

/// Buffer for transfers that cannot be zero-copy (TLS, ASCII, uploads).
const BUF: usize = 1024 * 1024;

/// Sends `len` bytes of `file` from `offset`.
pub fn send_file(
    conn: &mut DataConn,
    file: &File,
    offset: u64,
    len: u64,
    ascii: bool,
    ctl: &TransferCtl,
) -> io::Result<u64> {
    let sent = match (&*conn, ascii) {
        (DataConn::Plain(sock), false) => zerocopy::sendfile_range(sock, file, offset, len, ctl)?,
        _ => copy_file(conn, file, offset, len, ascii, ctl)?,
    };
    conn.finish()?;
    Ok(sent)
}

/// Sends an in-memory payload (directory listings).
pub fn send_bytes(conn: &mut DataConn, data: &[u8], ctl: &TransferCtl) -> io::Result<u64> {
    for chunk in data.chunks(BUF) {
        ctl.check_abort()?;
        conn.write_all(chunk)?;
        ctl.add_progress(chunk.len() as u64);
    }
    conn.finish()?;
    Ok(data.len() as u64)
}

fn copy_file(
    conn: &mut DataConn,
    file: &File,
    offset: u64,
    len: u64,
    ascii: bool,
    ctl: &TransferCtl,
) -> io::Result<u64> {
    let mut buf = vec![0u8; BUF];
    let mut out = Vec::new();
    let mut pos = offset;
    let end = offset.saturating_add(len);
    while pos < end {
        ctl.check_abort()?;
        let want = usize::try_from(end - pos).unwrap_or(BUF).min(BUF);
        let n = file.read_at(&mut buf[..want], pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank during transfer",
            ));
        }
        pos += n as u64;
        let data = if ascii {
            to_crlf(&buf[..n], &mut out);
            &out[..]
        } else {
            &buf[..n]
        };
        conn.write_all(data)?;
        ctl.add_progress(data.len() as u64);
    }
    Ok(pos - offset)
}

/// Receives until end of stream, writing at `offset` onwards; returns bytes written.
pub fn receive(
    conn: &mut DataConn,
    file: &File,
    offset: u64,
    ascii: bool,
    ctl: &TransferCtl,
) -> io::Result<u64> {
    let mut buf = vec![0u8; BUF];
    let mut out = Vec::new();
    let mut pending_cr = false;
    let mut pos = offset;
    loop {
        ctl.check_abort()?;
        let n = match read_some(conn, &mut buf)? {
            0 => break,
            n => n,
        };
        let data = if ascii {
            from_crlf(&buf[..n], &mut out, &mut pending_cr);
            &out[..]
        } else {
            &buf[..n]
        };
        file.write_all_at(data, pos)?;
        pos += data.len() as u64;
        ctl.add_progress(n as u64);
    }
    if pending_cr {
        file.write_all_at(b"\r", pos)?;
        pos += 1;
    }
    Ok(pos - offset)
}

/// One read; a TLS peer that closes TCP without close_notify is taken as end of data, as
/// most FTPS clients do exactly that after an upload.
fn read_some(conn: &mut DataConn, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match conn.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if e.kind() == io::ErrorKind::UnexpectedEof && matches!(conn, DataConn::Tls(_)) =>
            {
                return Ok(0)
            }
            other => return other,
        }
    }
}

/// A download on a clear socket: sendfile(2) for binary, a converting copy for ASCII.
pub struct SendTask {
    file: File,
    start: u64,
    pos: u64,
    end: u64,
    /// TYPE A: converted bytes not yet written (`out[out_pos..]`).
    ascii: Option<Pending>,
}

#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
}

impl SendTask {
    pub fn new(file: File, offset: u64, len: u64, ascii: bool) -> SendTask {
        SendTask {
            file,
            start: offset,
            pos: offset,
            end: offset.saturating_add(len),
            ascii: ascii.then(Pending::default),
        }
    }
}

impl Task for SendTask {
    type Output = u64;
    const INTEREST: Interest = Interest::WRITABLE;

    fn step(&mut self, sock: &TcpStream, ctl: &TransferCtl) -> io::Result<Option<u64>> {
        let Some(p) = &mut self.ascii else {
            if self.pos >= self.end {
                return Ok(Some(self.pos - self.start));
            }
            let want = self.end - self.pos;
            let n = zerocopy::sendfile_some(sock, &self.file, &mut self.pos, want)?;
            ctl.add_progress(n);
            return Ok(None);
        };
        if p.out_pos < p.out.len() {
            let n = (&*sock).write(&p.out[p.out_pos..])?;
            p.out_pos += n;
            ctl.add_progress(n as u64);
            return Ok(None);
        }
        if self.pos >= self.end {
            return Ok(Some(self.pos - self.start));
        }
        if p.buf.is_empty() {
            p.buf = vec![0u8; BUF];
        }
        let want = usize::try_from(self.end - self.pos).unwrap_or(BUF).min(BUF);
        let n = self.file.read_at(&mut p.buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank during transfer",
            ));
        }
        self.pos += n as u64;
        to_crlf(&p.buf[..n], &mut p.out);
        p.out_pos = 0;
        Ok(None)
    }
}

/// An in-memory payload (a listing) on a clear socket.
pub struct SendBytesTask {
    data: Vec<u8>,
    pos: usize,
}

impl SendBytesTask {
    pub fn new(data: Vec<u8>) -> SendBytesTask {
        SendBytesTask { data, pos: 0 }
    }
}

impl Task for SendBytesTask {
    type Output = u64;
    const INTEREST: Interest = Interest::WRITABLE;

    fn step(&mut self, sock: &TcpStream, ctl: &TransferCtl) -> io::Result<Option<u64>> {
        if self.pos >= self.data.len() {
            return Ok(Some(self.data.len() as u64));
        }
        let end = self.data.len().min(self.pos + BUF);
        let n = (&*sock).write(&self.data[self.pos..end])?;
        self.pos += n;
        ctl.add_progress(n as u64);
        Ok(None)
    }
}

/// An upload on a clear socket, until the peer closes; positional writes from `offset`.
pub struct ReceiveTask {
    file: File,
    start: u64,
    pos: u64,
    ascii: bool,
    pending_cr: bool,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl ReceiveTask {
    pub fn new(file: File, offset: u64, ascii: bool) -> ReceiveTask {
        ReceiveTask {
            file,
            start: offset,
            pos: offset,
            ascii,
            pending_cr: false,
            buf: vec![0u8; BUF],
            out: Vec::new(),
        }
    }
}

impl Task for ReceiveTask {
    type Output = u64;
    const INTEREST: Interest = Interest::READABLE;

    fn step(&mut self, sock: &TcpStream, ctl: &TransferCtl) -> io::Result<Option<u64>> {
        let n = (&*sock).read(&mut self.buf)?;
        if n == 0 {
            if std::mem::take(&mut self.pending_cr) {
                self.file.write_all_at(b"\r", self.pos)?;
                self.pos += 1;
            }
            return Ok(Some(self.pos - self.start));
        }
        let data = if self.ascii {
            from_crlf(&self.buf[..n], &mut self.out, &mut self.pending_cr);
            &self.out[..]
        } else {
            &self.buf[..n]
        };
        self.file.write_all_at(data, self.pos)?;
        self.pos += data.len() as u64;
        ctl.add_progress(n as u64);
        Ok(None)
    }
}

/// LF → CRLF (a CR already before an LF is kept as is).
fn to_crlf(input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut prev = 0u8;
    for &b in input {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
}

/// CRLF → LF; a CR at the end of a buffer is held back until the next byte is known.
fn from_crlf(input: &[u8], out: &mut Vec<u8>, pending_cr: &mut bool) {
    out.clear();
    for &b in input {
        if std::mem::take(pending_cr) && b != b'\n' {
            out.push(b'\r');
        }
        if b == b'\r' {
            *pending_cr = true;
        } else {
            out.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_conversions() {
        let mut out = Vec::new();
        to_crlf(b"a\nb\r\nc", &mut out);
        assert_eq!(out, b"a\r\nb\r\nc");
        let mut cr = false;
        from_crlf(b"a\r\nb\r", &mut out, &mut cr);
        assert_eq!(out, b"a\nb");
        assert!(cr);
        from_crlf(b"\nc\rd", &mut out, &mut cr);
        assert_eq!(out, b"\nc\rd");
        assert!(!cr);
    }
}
