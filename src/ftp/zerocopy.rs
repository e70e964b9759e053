//! Zero-copy transfers between files and sockets (Linux; see sendfile(2), splice(2) and
//! Documentation/filesystems/splice.rst): file → socket with sendfile(2), socket → file
//! with splice(2) through a pipe. The one module that talks to these syscalls; it goes
//! through rustix's safe wrappers, so even here there is no `unsafe`.
//!
//! Calls run on tokio's blocking pool (never on a runtime worker): a cold file read from
//! disk stalls only this transfer's thread, never other sessions. [`sendfile_some`] and
//! [`SocketToFile::recv_some`] make one move on a non-blocking socket;
//! `ftp::data::ready` drives them by readiness.

use std::fs::File;
use std::io::{self, Read};
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;

use rustix::io::Errno;
use rustix::pipe::{PipeFlags, SpliceFlags};

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

/// Pipe capacity asked for a [`SocketToFile`]: one splice(2) moves up to this much. Each
/// pipe's pages count against the user's `fs.pipe-user-pages-soft` (64 MiB by default);
/// past it the kernel refuses the size (the pipe keeps its 64 KiB) and, further on, gives
/// new pipes two pages.
const PIPE_SIZE: usize = 256 * 1024;

/// A pipe smaller than this (the user's pipe budget is spent) is not used: read(2) +
/// pwrite(2) with a 1 MiB buffer move more per call than 8 KiB splices.
const MIN_PIPE: usize = 64 * 1024;

/// Buffer of the read(2) + pwrite(2) fallback.
const FALLBACK_BUF: usize = 1024 * 1024;

/// Socket → file at a position without passing the bytes through user space: splice(2)
/// from the socket into a pipe (the socket buffer's pages are moved, not copied), then
/// from the pipe into the file, so each byte is copied once, into the page cache, where
/// read(2) + pwrite(2) copy it twice. Falls back to read(2) + pwrite(2) when no pipe can
/// be had (fd limit) or the file system cannot splice (`EINVAL`, some FUSE mounts).
/// Nothing is allocated until the first byte moves, so an idle connection costs nothing.
#[derive(Default)]
pub struct SocketToFile {
    pipe: Option<Pipe>,
    /// Cleared for good once the pipe or the file system refused.
    no_splice: bool,
    buf: Vec<u8>,
    /// A socket error met after bytes had moved in the same call, for the next call: the
    /// kernel reports a socket error once (splice(2) clears it as it returns it), so
    /// dropping it would let a reset look like an end of file (a truncated upload
    /// committed as complete).
    deferred: Option<io::Error>,
}

struct Pipe {
    r: OwnedFd,
    w: OwnedFd,
    cap: usize,
}

impl SocketToFile {
    pub fn new() -> SocketToFile {
        SocketToFile::default()
    }

    /// Moves up to `want` bytes from the socket into `file` at `*pos`, advancing `*pos`.
    /// `Ok(0)` when the peer closed the connection (or `want` is 0); `WouldBlock` on a
    /// non-blocking socket with nothing to read. Every byte taken from the socket is in
    /// the file when this returns `Ok`.
    pub fn recv_some(
        &mut self,
        sock: &TcpStream,
        file: &File,
        pos: &mut u64,
        want: u64,
    ) -> io::Result<u64> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        if want == 0 {
            return Ok(0);
        }
        if !self.no_splice && self.pipe.is_none() {
            self.pipe = Pipe::new().ok();
            self.no_splice = self.pipe.is_none();
        }
        let Some(pipe) = &self.pipe else {
            return self.read_write(sock, file, pos, want);
        };
        let want = usize::try_from(want).unwrap_or(usize::MAX).min(pipe.cap);
        // Fill the pipe while the socket has bytes, so the file gets fewer, larger writes.
        let mut n = 0;
        while n < want {
            match rustix::pipe::splice(sock, None, &pipe.w, None, want - n, SpliceFlags::MOVE) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) if n > 0 => break,
                // A socket type or kernel that cannot splice: nothing was taken from it.
                Err(Errno::INVAL | Errno::NOSYS) if n == 0 => {
                    self.no_splice = true;
                    self.pipe = None;
                    return self.read_write(sock, file, pos, want as u64);
                }
                Err(e) if n == 0 => return Err(e.into()),
                // What the pipe holds goes to the file; the error is the next call's.
                Err(e) => {
                    self.deferred = Some(e.into());
                    break;
                }
            }
        }
        self.drain(file, pos, n)?;
        Ok(n as u64)
    }

    /// Writes the `n` bytes now in the pipe to `file` at `*pos`.
    fn drain(&mut self, file: &File, pos: &mut u64, mut n: usize) -> io::Result<()> {
        while n > 0 {
            let Some(pipe) = &self.pipe else {
                return Err(io::Error::other("splice pipe lost"));
            };
            match rustix::pipe::splice(&pipe.r, None, file, Some(pos), n, SpliceFlags::MOVE) {
                Ok(0) => return Err(io::Error::other("splice pipe drained early")),
                Ok(k) => n -= k,
                Err(Errno::INTR) => {}
                // The file system cannot splice: copy what the pipe holds, then stop
                // splicing for this transfer.
                Err(Errno::INVAL) => return self.drain_by_copy(file, pos, n),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn drain_by_copy(&mut self, file: &File, pos: &mut u64, mut n: usize) -> io::Result<()> {
        self.no_splice = true;
        let pipe = self
            .pipe
            .take()
            .ok_or_else(|| io::Error::other("no pipe"))?;
        let mut r = File::from(pipe.r);
        while n > 0 {
            let buf = self.buffer(n);
            let k = r.read(buf)?;
            if k == 0 {
                return Err(io::Error::other("splice pipe drained early"));
            }
            file.write_all_at(&buf[..k], *pos)?;
            *pos += k as u64;
            n -= k;
        }
        Ok(())
    }

    fn read_write(
        &mut self,
        mut sock: &TcpStream,
        file: &File,
        pos: &mut u64,
        want: u64,
    ) -> io::Result<u64> {
        let buf = self.buffer(usize::try_from(want).unwrap_or(usize::MAX));
        let n = sock.read(buf)?;
        file.write_all_at(&buf[..n], *pos)?;
        *pos += n as u64;
        Ok(n as u64)
    }

    fn buffer(&mut self, want: usize) -> &mut [u8] {
        if self.buf.is_empty() {
            self.buf = vec![0u8; FALLBACK_BUF];
        }
        let n = want.min(self.buf.len());
        &mut self.buf[..n]
    }
}

impl Pipe {
    fn new() -> io::Result<Pipe> {
        let (r, w) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        // Refused past the user's pipe budget: the pipe keeps the size it has.
        let cap = rustix::pipe::fcntl_setpipe_size(&w, PIPE_SIZE)
            .or_else(|_| rustix::pipe::fcntl_getpipe_size(&w))?;
        if cap < MIN_PIPE {
            return Err(io::Error::other("pipe budget spent"));
        }
        Ok(Pipe { r, w, cap })
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

    /// A connected pair: the accepted side (griddock's) and the peer's.
    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        (l.accept().unwrap().0, peer)
    }

    fn pattern(n: u32) -> Vec<u8> {
        (0..n).map(|i| (i * 13 % 251) as u8).collect()
    }

    /// Receives everything the peer sends into `file` from `start`; bytes moved.
    fn receive_all(zc: &mut SocketToFile, sock: &TcpStream, file: &File, start: u64) -> u64 {
        let mut pos = start;
        loop {
            match zc.recv_some(sock, file, &mut pos, 1 << 30).unwrap() {
                0 => return pos - start,
                _ => continue,
            }
        }
    }

    #[test]
    fn splices_a_stream_into_a_file_at_an_offset_byte_identical() {
        let (sock, mut peer) = pair();
        let data = pattern(3_000_000);
        let sent = data.clone();
        let writer = std::thread::spawn(move || peer.write_all(&sent).unwrap());
        let file = tempfile::tempfile().unwrap();
        let mut zc = SocketToFile::new();
        assert_eq!(receive_all(&mut zc, &sock, &file, 1000), 3_000_000);
        writer.join().unwrap();
        assert!(
            zc.pipe.is_some() && !zc.no_splice,
            "the splice path was used"
        );
        let mut got = Vec::new();
        (&file).read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), 3_001_000);
        assert!(got[..1000].iter().all(|&b| b == 0));
        assert_eq!(&got[1000..], &data[..]);
    }

    #[test]
    fn never_takes_more_than_asked_so_the_next_header_stays_on_the_socket() {
        let (mut sock, mut peer) = pair();
        peer.write_all(&pattern(100)).unwrap();
        drop(peer);
        let file = tempfile::tempfile().unwrap();
        let mut zc = SocketToFile::new();
        let mut pos = 0;
        let mut moved = 0;
        while moved < 60 {
            moved += zc.recv_some(&sock, &file, &mut pos, 60 - moved).unwrap();
        }
        assert_eq!((moved, pos), (60, 60));
        let mut rest = Vec::new();
        sock.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, &pattern(100)[60..]);
    }

    #[test]
    fn an_empty_non_blocking_socket_would_block_and_a_closed_one_ends() {
        let (sock, peer) = pair();
        sock.set_nonblocking(true).unwrap();
        let file = tempfile::tempfile().unwrap();
        let mut zc = SocketToFile::new();
        let mut pos = 0;
        let err = zc.recv_some(&sock, &file, &mut pos, 4096).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        drop(peer);
        let mut polls = 0;
        while zc.recv_some(&sock, &file, &mut pos, 4096).is_err() {
            polls += 1;
            assert!(polls < 1000, "EOF never seen");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(pos, 0);
    }

    #[test]
    fn a_file_that_cannot_splice_falls_back_to_copies() {
        // splice(2) into a file opened for appending is EINVAL (a FUSE mount without
        // splice_write answers the same); the bytes already in the pipe must still land.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let (sock, mut peer) = pair();
        let data = pattern(700_000);
        let sent = data.clone();
        let writer = std::thread::spawn(move || peer.write_all(&sent).unwrap());
        let mut zc = SocketToFile::new();
        assert_eq!(receive_all(&mut zc, &sock, &file, 0), 700_000);
        writer.join().unwrap();
        assert!(zc.no_splice && zc.pipe.is_none(), "fell back");
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }

    #[test]
    fn a_reset_after_data_is_an_error_never_an_end_of_file() {
        // The peer sends, then resets (SO_LINGER 0). The kernel reports ECONNRESET once
        // and clears it; a splice loop that drops it after moving bytes would see only
        // the shutdown next and take a truncated upload for a complete one.
        let (sock, peer) = pair();
        (&peer).write_all(&pattern(100_000)).unwrap();
        socket2::SockRef::from(&peer)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
        drop(peer);
        std::thread::sleep(std::time::Duration::from_millis(200));
        let file = tempfile::tempfile().unwrap();
        let mut zc = SocketToFile::new();
        let mut pos = 0;
        let err = loop {
            match zc.recv_some(&sock, &file, &mut pos, 1 << 20) {
                Ok(0) => panic!("a reset connection ended like a clean one after {pos} bytes"),
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    }
}
