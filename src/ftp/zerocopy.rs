//! Zero-copy file → socket transfer with sendfile(2) (Linux; see sendfile(2) and
//! Documentation/filesystems/splice.rst). The one module that talks to these syscalls; it
//! goes through rustix's safe wrappers, so even here there is no `unsafe`.
//!
//! Calls run on tokio's blocking pool (never on a runtime worker): a cold file read from
//! disk stalls only this transfer's thread, never other sessions. [`sendfile_some`] makes
//! one call on a non-blocking socket; `ftp::data::ready` drives it by readiness.

use std::fs::File;
use std::io;
use std::net::TcpStream;

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
        let (mut pos, end) = (1000u64, 2_001_000u64);
        while pos < end {
            let left = end - pos;
            sendfile_some(&sock, &f, &mut pos, left).unwrap();
        }
        drop(sock);
        assert_eq!(reader.join().unwrap(), &data[1000..2_001_000]);
    }

    #[test]
    fn short_file_is_an_error() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"abc").unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let sock = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let mut pos = 0;
        assert_eq!(sendfile_some(&sock, &f, &mut pos, 10).unwrap(), 3);
        let err = sendfile_some(&sock, &f, &mut pos, 7).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn a_full_non_blocking_socket_would_block() {
        let f = tempfile::tempfile().unwrap();
        f.set_len(64 << 20).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let sock = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let _peer = l.accept().unwrap();
        sock.set_nonblocking(true).unwrap();
        let mut pos = 0;
        let err = loop {
            let left = (64 << 20) - pos;
            match sendfile_some(&sock, &f, &mut pos, left) {
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(pos > 0 && pos < 64 << 20, "{pos}");
    }
}
