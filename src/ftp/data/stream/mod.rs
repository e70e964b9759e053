//! MODE S (stream mode, RFC 959 §3.4.1) transfers on an established data connection, with
//! TYPE A line-ending conversion (RFC 959 §3.1.1.1).
//!
//! Clear and FTPS connections run as readiness-driven tasks (`tasks`, no thread
//! waits on the peer), clear binary downloads through sendfile(2) (`ftp::zerocopy`).
//! GSI-protected connections run the blocking loops below on the blocking pool.

pub(super) mod tasks;

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;

use super::conn::DataConn;
use super::TransferCtl;

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
    // Clear connections never get here (`tasks` sends them with sendfile).
    let sent = copy_file(conn, file, offset, len, ascii, ctl)?;
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

/// Copies `len` bytes of `file` from `offset` to a blocking (GSI-protected) connection,
/// CRLF-converted for TYPE A; the one file → connection copy loop (MODE E blocks too).
pub(super) fn copy_file(
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

/// LF → CRLF (a CR already before an LF is kept as is).
pub(super) fn to_crlf(input: &[u8], out: &mut Vec<u8>) {
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
pub(super) fn from_crlf(input: &[u8], out: &mut Vec<u8>, pending_cr: &mut bool) {
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
