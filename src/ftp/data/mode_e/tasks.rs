//! MODE E (GFD.20 "Extended Block Mode") senders and receivers for clear data sockets, as
//! readiness-driven [`Task`]s (`ftp::data::ready`): a stalled or trickling peer costs a
//! task, never a blocking-pool thread. The blocking loops in `mode_e` serve connections
//! under GSI protection; both follow the same wire rules.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::Interest;

use super::{Rx, Source, Work, IDLE_POLL};
use crate::ftp::data::ready::Task;
use crate::ftp::data::TransferCtl;
use crate::ftp::zerocopy;
use crate::gridftp::mode_e::{Header, Step, CLOSE, EOD, HEADER_LEN};

/// One block being sent: its header, then its payload `[pos, end)` of the source.
struct Block {
    header: [u8; HEADER_LEN],
    written: usize,
    pos: u64,
    end: u64,
}

/// Sends blocks taken from the shared [`Work`] until none is left, then EOD (or EOF with
/// the connection count on the `last` connection).
pub struct SendTask {
    work: Arc<Work>,
    block: Option<Block>,
    trailer: Option<([u8; HEADER_LEN], usize)>,
    last: bool,
    conns: u64,
}

impl SendTask {
    pub fn new(work: Arc<Work>, last: bool, conns: u64) -> SendTask {
        SendTask {
            work,
            block: None,
            trailer: None,
            last,
            conns,
        }
    }
}

impl Task for SendTask {
    type Output = ();
    const INTEREST: Interest = Interest::WRITABLE;

    fn step(&mut self, sock: &TcpStream, ctl: &TransferCtl) -> io::Result<Option<()>> {
        if let Some(b) = &mut self.block {
            if b.written < HEADER_LEN {
                b.written += (&*sock).write(&b.header[b.written..])?;
            } else if b.pos < b.end {
                send_payload(&self.work.source, b, sock, ctl)?;
            } else {
                self.block = None;
            }
            return Ok(None);
        }
        if let Some((t, written)) = &mut self.trailer {
            if *written == HEADER_LEN {
                return Ok(Some(()));
            }
            *written += (&*sock).write(&t[*written..])?;
            return Ok(None);
        }
        match self.work.take() {
            Some((start, n)) => {
                self.block = Some(Block {
                    header: Header::data(start - self.work.base, n).encode(),
                    written: 0,
                    pos: start,
                    end: start + n,
                });
            }
            None => {
                let t = if self.last {
                    Header::eof(self.conns)
                } else {
                    Header::eod()
                };
                self.trailer = Some((t.encode(), 0));
            }
        }
        Ok(None)
    }
}

/// Sends what fits of the block's payload: sendfile(2) from a file, a write from memory.
fn send_payload(
    source: &Source,
    b: &mut Block,
    sock: &TcpStream,
    ctl: &TransferCtl,
) -> io::Result<()> {
    let left = b.end - b.pos;
    let n = match source {
        Source::File(f) => zerocopy::sendfile_some(sock, f, &mut b.pos, left)?,
        Source::Bytes(v) => {
            let from = usize::try_from(b.pos).unwrap_or(usize::MAX);
            let to = usize::try_from(b.end).unwrap_or(usize::MAX);
            let n = (&*sock).write(v.get(from..to).unwrap_or_default())? as u64;
            b.pos += n;
            n
        }
    };
    ctl.add_progress(n);
    Ok(())
}

/// How a receiving connection ended.
pub enum End {
    /// EOD without CLOSE: keep the connection for the next transfer.
    Keep,
    /// The sender announced CLOSE or closed the connection.
    Close,
    /// The transfer completed on the other connections while this one was idle.
    Idle,
}

/// Reads blocks until this connection's EOD, writing them positionally.
pub struct ReceiveTask {
    rx: Arc<Rx>,
    header: [u8; HEADER_LEN],
    got: usize,
    /// The block being read: file position, length, bytes done.
    block: Option<(u64, u64, u64)>,
    /// Set when the block being read is the connection's last: whether to keep it.
    end_after: Option<bool>,
    /// Socket → file (splice(2)); allocates nothing until the first block.
    sink: zerocopy::SocketToFile,
    /// Whether this connection carried a header in this transfer.
    pub used: bool,
}

impl ReceiveTask {
    pub fn new(rx: Arc<Rx>) -> ReceiveTask {
        ReceiveTask {
            rx,
            header: [0; HEADER_LEN],
            got: 0,
            block: None,
            end_after: None,
            sink: zerocopy::SocketToFile::new(),
            used: false,
        }
    }

    fn read_block(&mut self, sock: &TcpStream, ctl: &TransferCtl) -> io::Result<Option<End>> {
        let Some((at, count, done)) = self.block else {
            return Ok(None);
        };
        if done == count {
            ctl.record_range(at, at + count);
            self.block = None;
            return Ok(self.end_after.take().map(keep_or_close));
        }
        let mut pos = at + done;
        let n = self
            .sink
            .recv_some(sock, &self.rx.file, &mut pos, count - done)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        ctl.add_progress(n);
        self.block = Some((at, count, done + n));
        Ok(None)
    }

    fn read_header(&mut self, sock: &TcpStream) -> io::Result<Option<End>> {
        let n = (&*sock).read(&mut self.header[self.got..])?;
        if n == 0 {
            return match self.got {
                0 => Ok(Some(End::Close)),
                _ => Err(io::ErrorKind::UnexpectedEof.into()),
            };
        }
        self.got += n;
        if self.got < HEADER_LEN {
            return Ok(None);
        }
        self.got = 0;
        self.used = true;
        let h = Header::decode(&self.header);
        let step = self.rx.on_header(&h)?;
        let ends = h.has(EOD) || step == Step::ConnectionDone;
        if let Step::Data { offset, count } = step {
            let at = self.rx.position(offset, count)?;
            self.block = Some((at, count, 0));
            self.end_after = ends.then_some(!h.has(CLOSE));
            return Ok(None);
        }
        Ok(ends.then(|| keep_or_close(!h.has(CLOSE))))
    }
}

fn keep_or_close(keep: bool) -> End {
    if keep {
        End::Keep
    } else {
        End::Close
    }
}

impl Task for ReceiveTask {
    type Output = (End, bool);
    const INTEREST: Interest = Interest::READABLE;

    fn step(&mut self, sock: &TcpStream, ctl: &TransferCtl) -> io::Result<Option<(End, bool)>> {
        let end = if self.block.is_some() {
            self.read_block(sock, ctl)?
        } else {
            self.read_header(sock)?
        };
        Ok(end.map(|e| (e, self.used)))
    }

    fn idle_poll(&self) -> Option<Duration> {
        Some(IDLE_POLL)
    }

    fn idle(&mut self) -> Option<(End, bool)> {
        let between_blocks = self.got == 0 && self.block.is_none();
        (between_blocks && self.rx.complete()).then_some((End::Idle, self.used))
    }
}
