//! Zero-copy file → socket transfer with sendfile(2) (Linux; see sendfile(2) and
//! Documentation/filesystems/splice.rst). The one module that talks to these syscalls; it
//! goes through rustix's safe wrappers, so even here there is no `unsafe`.
//!
//! Calls run on tokio's blocking pool (never on a runtime worker): a cold file read from
//! disk stalls only this transfer's thread, never other sessions. [`sendfile_some`] is the
//! one-call form for non-blocking sockets (`ftp::data::ready`), [`sendfile_range`] the
//! loop for blocking ones.

use std::fs::File;
use std::io;
use std::net::TcpStream;

use super::data::TransferCtl;

/// Largest single sendfile(2) request; the kernel caps one call at ~2 GiB anyway, and a
/// moderate size keeps abort latency and progress reporting fine-grained.
const CHUNK: u64 = 64 * 1024 * 1024;

/// One sendfile(2) of up to `want` bytes from `*pos`, advancing `*pos`; on a non-blocking
/// socket `WouldBlock` when its buffer is full. A file that ends before `want` bytes is
/// `UnexpectedEof`.
pub fn sendfile_some(sock: &TcpStream, file: &File, pos: &mut u64, want: u64) -> io::Result<u64> {
    let want = usize::try_from(want.min(CHUNK)).unwrap_or(usize::MAX);
    match rustix::fs::sendfile(sock, file, Some(pos), want) {
        Ok(0) if want > 0 => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "file shrank during transfer",
        )),
        Ok(n) => Ok(n as u64),
        Err(e) => Err(e.into()),
    }
}

/// Sends `len` bytes of `file` starting at `offset` to the (blocking) socket `sock`.
/// Returns the number of bytes sent; stops early with `Interrupted` when the transfer is
/// aborted and with `UnexpectedEof` when the file shrinks underneath.
pub fn sendfile_range(
    sock: &TcpStream,
    file: &File,
    offset: u64,
    len: u64,
    ctl: &TransferCtl,
) -> io::Result<u64> {
    let mut pos = offset;
    let end = offset.saturating_add(len);
    while pos < end {
        ctl.check_abort()?;
        let want = usize::try_from((end - pos).min(CHUNK)).unwrap_or(usize::MAX);
        let n = match rustix::fs::sendfile(sock, file, Some(&mut pos), want) {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank during transfer",
            ));
        }
        ctl.add_progress(n as u64);
    }
    Ok(pos - offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn sends_a_range_byte_identical() {
        let mut f = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        f.write_all(&data).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            got
        });
        let sock = TcpStream::connect(addr).unwrap();
        let ctl = TransferCtl::default();
        let n = sendfile_range(&sock, &f, 1000, 2_000_000, &ctl).unwrap();
        drop(sock);
        assert_eq!(n, 2_000_000);
        assert_eq!(ctl.progress(), 2_000_000);
        assert_eq!(reader.join().unwrap(), &data[1000..2_001_000]);
    }

    #[test]
    fn short_file_is_an_error() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"abc").unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let sock = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let err = sendfile_range(&sock, &f, 0, 10, &TransferCtl::default()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn abort_stops_before_sending() {
        let f = tempfile::tempfile().unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let sock = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let ctl = TransferCtl::default();
        ctl.abort();
        let err = sendfile_range(&sock, &f, 0, 10, &ctl).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
    }
}
