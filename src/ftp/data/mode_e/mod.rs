//! MODE E transfers (GFD.20 "Extended Block Mode") on the engine's data connections,
//! with data-channel caching (GFD.20 §"Data channel caching": connections stay open after
//! EOD and carry the next transfer in the same direction).
//!
//! Sending (RETR, ERET, listings): reuse the cached connections, open more up to
//! `parallelism` to the PORT address (the sender always connects), let each connection pull
//! the next block from a shared list and send a 17-byte header plus the block with
//! sendfile(2). Every connection ends with EOD and exactly one with EOF carrying the number
//! of connections used; none is closed, so the next transfer can reuse them. Receiving
//! (STOR, ESTO): read the cached connections and keep accepting new ones on the passive
//! listener until the EOF's EOD count is reached; blocks are written positionally (they
//! arrive in any order) and recorded for 111 restart markers.

mod tasks;

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::conn::DataConn;
use super::outcome::{give_up, Cached, Outcome, TransferError};
use super::params::{establish, no_setup, DataParams};
use super::ready::{Driver, Task};
use super::setup::{accept_allowed, connect_active, DataSetup};
use super::{FileSpan, TransferCtl};
use crate::gridftp::mode_e::{blocks, Header, Receiver, Step, CLOSE, EOD, HEADER_LEN};
use crate::storage::Upload;

/// Default block size for sending: large blocks keep sendfile efficient.
pub const DEFAULT_BLOCK: u64 = 4 * 1024 * 1024;
/// Unsent bytes a clear sending connection may queue in the kernel (TCP_NOTSENT_LOWAT).
/// Without a limit, sendfile fills the whole autotuned send buffer (up to
/// net.ipv4.tcp_wmem's maximum) at once, and the ACKs the receiver sends then transmit
/// that backlog from the receiver's own context: on loopback globus-url-copy -p 4 spent
/// about twice the system time per GiB and ran 1.3-2x slower than against the reference
/// server. In-flight (unacknowledged) data is not limited, so send-buffer autotuning for
/// long paths stays on.
const SEND_NOTSENT_LOWAT: u32 = 128 * 1024;
/// How often an idle receiving connection looks whether the transfer is complete.
pub(super) const IDLE_POLL: Duration = Duration::from_millis(100);

/// What a MODE E sender sends.
pub enum Payload {
    /// A span of a file; header offsets are relative to its `base`.
    File(FileSpan),
    Bytes(Vec<u8>),
}

pub(super) enum Source {
    File(File),
    Bytes(Vec<u8>),
}

/// The blocks of one send, handed out to the connections in order.
pub(super) struct Work {
    pub(super) source: Source,
    blocks: Vec<(u64, u64)>,
    pub(super) base: u64,
    next: AtomicUsize,
}

impl Work {
    fn new(payload: Payload, block: u64) -> Work {
        let (source, segments, base) = match payload {
            Payload::File(FileSpan {
                file,
                segments,
                base,
            }) => (Source::File(file), segments, base),
            Payload::Bytes(b) => {
                let len = b.len() as u64;
                (Source::Bytes(b), vec![(0, len)], 0)
            }
        };
        let blocks = segments
            .iter()
            .flat_map(|&(s, e)| blocks(s, e.saturating_sub(s), block))
            .collect();
        Work {
            source,
            blocks,
            base,
            next: AtomicUsize::new(0),
        }
    }

    pub(super) fn take(&self) -> Option<(u64, u64)> {
        self.blocks
            .get(self.next.fetch_add(1, Ordering::SeqCst))
            .copied()
    }
}

pub async fn send(
    p: DataParams,
    cached: Vec<DataConn>,
    payload: Payload,
    ctl: Arc<TransferCtl>,
) -> Outcome {
    let conns = match open_senders(&p, cached, &ctl).await {
        Ok(c) => c,
        Err(e) => return Outcome::failed(e),
    };
    let data_peer = conns.first().and_then(|c| c.tcp().peer_addr().ok());
    let n = conns.len() as u64;
    let work = Arc::new(Work::new(payload, p.block_size));
    let mut set = JoinSet::new();
    for (i, conn) in conns.into_iter().enumerate() {
        let (work, ctl) = (Arc::clone(&work), Arc::clone(&ctl));
        match conn {
            DataConn::Plain(sock) => {
                // Best effort: an older kernel without the option only loses speed.
                let _ = socket2::SockRef::from(&sock).set_tcp_notsent_lowat(SEND_NOTSENT_LOWAT);
                let task = tasks::SendTask::new(work, i == 0, n);
                set.spawn(async move {
                    drive_clear(sock, task, p.timeout, &ctl)
                        .await
                        .map(|(c, ())| c)
                });
            }
            conn => {
                set.spawn_blocking(move || send_worker(conn, &work, i == 0, n, &ctl));
            }
        }
    }
    let mut result = Ok(());
    let mut kept = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined.unwrap_or_else(|e| Err(io::Error::other(e.to_string()))) {
            Ok(conn) => kept.push(conn),
            Err(e) => {
                ctl.abort();
                result = Err(TransferError::from_io(e));
            }
        }
    }
    finish(p.setup, kept, true, result, data_peer, n as usize, &ctl)
}

/// The outcome; on success the connections and set-up are handed back for reuse.
fn finish(
    setup: DataSetup,
    conns: Vec<DataConn>,
    sending: bool,
    result: Result<(), TransferError>,
    data_peer: Option<std::net::SocketAddr>,
    streams: usize,
    ctl: &TransferCtl,
) -> Outcome {
    let result = match result {
        Ok(()) if ctl.is_aborted() => Err(TransferError::Aborted),
        r => r,
    };
    let cache = result.is_ok().then_some(Cached {
        setup,
        conns,
        sending,
    });
    Outcome {
        bytes: ctl.progress(),
        data_peer,
        result,
        cache,
        streams,
    }
}

/// The connections to send on: the live cached ones, then new ones up to `parallelism`
/// (active) or the one the peer opens (passive).
async fn open_senders(
    p: &DataParams,
    cached: Vec<DataConn>,
    ctl: &TransferCtl,
) -> Result<Vec<DataConn>, TransferError> {
    let mut conns: Vec<DataConn> = cached.into_iter().filter(is_alive).collect();
    let wanted = p.parallelism.max(1) as usize;
    match &p.setup {
        DataSetup::Active(target) => {
            while conns.len() < wanted {
                let tcp = tokio::select! {
                    _ = ctl.cancelled() => return Err(TransferError::Aborted),
                    c = connect_active(p.local_ip, *target, p.timeout) => c.map_err(TransferError::Connect)?,
                };
                conns.push(establish(tcp, p, true).await?);
            }
        }
        DataSetup::Passive(listener) if conns.is_empty() => {
            let tcp = tokio::select! {
                _ = ctl.cancelled() => return Err(TransferError::Aborted),
                c = accept_allowed(listener, &p.policy, p.control_peer, p.timeout) => c.map_err(TransferError::Connect)?,
            };
            conns.push(establish(tcp, p, false).await?);
        }
        DataSetup::Passive(_) => {}
        DataSetup::None => return Err(no_setup()),
    }
    for c in &conns {
        ctl.register_socket(c.tcp());
    }
    Ok(conns)
}

/// A cached connection the peer has not closed (nothing readable, or data waiting).
fn is_alive(conn: &DataConn) -> bool {
    let mut byte = [0u8; 1];
    match rustix::net::recv(
        conn.tcp(),
        &mut byte[..],
        rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT,
    ) {
        Ok((0, _)) => false,
        Ok(_) => true,
        Err(e) => e == rustix::io::Errno::AGAIN,
    }
}

fn send_worker(
    mut conn: DataConn,
    work: &Work,
    last: bool,
    conns: u64,
    ctl: &TransferCtl,
) -> io::Result<DataConn> {
    while let Some((start, n)) = work.take() {
        ctl.check_abort()?;
        conn.write_all(&Header::data(start - work.base, n).encode())?;
        // Clear connections never get here (`tasks` sends them with sendfile).
        match &work.source {
            Source::File(f) => {
                super::stream::copy_file(&mut conn, f, start, n, false, ctl)?;
            }
            Source::Bytes(b) => {
                let range = usize::try_from(start).unwrap_or(usize::MAX)
                    ..usize::try_from(start + n).unwrap_or(usize::MAX);
                conn.write_all(b.get(range).unwrap_or_default())?;
                ctl.add_progress(n);
            }
        }
    }
    let trailer = if last {
        Header::eof(conns)
    } else {
        Header::eod()
    };
    conn.write_all(&trailer.encode())?;
    conn.flush()?;
    Ok(conn)
}

/// Receives a MODE E upload into `upload` (block offsets plus `base`), committing it once
/// complete.
pub async fn receive(
    p: DataParams,
    cached: Vec<DataConn>,
    upload: Upload,
    base: u64,
    ctl: Arc<TransferCtl>,
) -> Outcome {
    let DataSetup::Passive(listener) = &p.setup else {
        let e = io::Error::new(
            io::ErrorKind::Unsupported,
            "MODE E uploads need PASV (the sender connects)",
        );
        return Outcome::failed(TransferError::Connect(e));
    };
    let file = match upload.file().try_clone() {
        Ok(f) => Arc::new(f),
        Err(e) => return Outcome::failed(TransferError::Data(e)),
    };
    let limit = p.max_file_size.unwrap_or_else(|| fs_size(&file));
    let rx = Arc::new(Rx {
        state: Mutex::new(Receiver::new()),
        file,
        base,
        limit,
        timeout: p.timeout,
    });
    // Each connection is secured (GSI) and read in its own task: the accept loop below
    // only accepts, so a handshake in progress is never lost to a select that completes
    // another branch first.
    let mut set: JoinSet<io::Result<Received>> = JoinSet::new();
    let mut data_peer = None;
    let mut streams = 0;
    for conn in cached {
        data_peer = data_peer.or_else(|| conn.tcp().peer_addr().ok());
        let (rx, ctl) = (Arc::clone(&rx), Arc::clone(&ctl));
        set.spawn(async move { read_conn(conn, rx, ctl).await });
    }
    let mut kept = Vec::new();
    let mut failure = None;
    loop {
        let complete = rx.complete();
        if (complete && set.is_empty()) || failure.is_some() {
            break;
        }
        let busy = !set.is_empty();
        let wait = if busy {
            Duration::from_secs(24 * 3600)
        } else {
            p.timeout
        };
        tokio::select! {
            _ = ctl.cancelled() => { failure = Some(TransferError::Aborted); }
            joined = set.join_next(), if busy => {
                match joined.map(|j| j.unwrap_or_else(|e| Err(io::Error::other(e.to_string())))) {
                    Some(Ok((conn, used))) => {
                        streams += usize::from(used);
                        kept.extend(conn);
                    }
                    None => {}
                    Some(Err(e)) => failure = Some(TransferError::from_io(e)),
                }
            }
            accepted = accept_allowed(listener, &p.policy, p.control_peer, wait), if !complete => {
                match accepted {
                    Ok(tcp) => {
                        data_peer = data_peer.or_else(|| tcp.peer_addr().ok());
                        let (rx, ctl) = (Arc::clone(&rx), Arc::clone(&ctl));
                        let (tls, sec, timeout) = (p.tls.clone(), p.gsi.clone(), p.timeout);
                        set.spawn(async move {
                            let conn = DataConn::secure(tcp, tls, sec, false, timeout).await?;
                            read_conn(conn, rx, ctl).await
                        });
                    }
                    Err(e) => failure = Some(TransferError::Connect(e)),
                }
            }
        }
    }
    if let Some(e) = failure {
        ctl.abort();
        while set.join_next().await.is_some() {}
        let result = Err(e);
        give_up(upload, &result);
        return Outcome {
            bytes: ctl.progress(),
            data_peer,
            result,
            cache: None,
            streams,
        };
    }
    let result = upload.commit().map_err(TransferError::Storage);
    finish(p.setup, kept, false, result, data_peer, streams, &ctl)
}

/// Shared by the receiving connections of one transfer.
pub(super) struct Rx {
    state: Mutex<Receiver>,
    pub(super) file: Arc<File>,
    base: u64,
    /// No block may end beyond this file position.
    limit: u64,
    timeout: Duration,
}

impl Rx {
    pub(super) fn complete(&self) -> bool {
        self.state.lock().map(|s| s.is_complete()).unwrap_or(true)
    }

    /// Accounts for one header (EOD/EOF bookkeeping, GFD.20); a protocol error fails
    /// the connection.
    pub(super) fn on_header(&self, h: &Header) -> io::Result<Step> {
        self.state
            .lock()
            .map_err(|_| io::Error::other("receiver state poisoned"))?
            .on_header(h)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
    }

    /// The file position of a block of `count` bytes at `offset` (relative to ESTO's
    /// base). SECURITY: a block may not end beyond the size limit, so a client cannot
    /// make a 4 EiB sparse file (or a CKSM of one pin the CPU).
    pub(super) fn position(&self, offset: u64, count: u64) -> io::Result<u64> {
        let at = self.base.checked_add(offset);
        match at.and_then(|at| at.checked_add(count)) {
            Some(end) if end <= self.limit => Ok(at.unwrap_or_default()),
            _ => Err(io::Error::from_raw_os_error(
                rustix::io::Errno::FBIG.raw_os_error(),
            )),
        }
    }
}

/// Runs a clear connection's task readiness-driven and hands the connection back.
async fn drive_clear<T: Task>(
    sock: std::net::TcpStream,
    task: T,
    timeout: Duration,
    ctl: &Arc<TransferCtl>,
) -> io::Result<(DataConn, T::Output)> {
    let driver = Driver::new(sock, timeout)?;
    let out = driver.drive(task, ctl).await?;
    Ok((DataConn::Plain(driver.into_inner()?), out))
}

/// Reads one connection's blocks on the blocking pool (see [`receive_worker`]).
/// A connection handed back for reuse (if still usable) and whether it carried anything
/// in this transfer.
type Received = (Option<DataConn>, bool);

async fn read_conn(conn: DataConn, rx: Arc<Rx>, ctl: Arc<TransferCtl>) -> io::Result<Received> {
    ctl.register_socket(conn.tcp());
    if let DataConn::Plain(sock) = conn {
        let timeout = rx.timeout;
        let (conn, (end, used)) =
            drive_clear(sock, tasks::ReceiveTask::new(rx), timeout, &ctl).await?;
        return Ok(match end {
            tasks::End::Keep | tasks::End::Idle => (Some(conn), used),
            tasks::End::Close => (None, used),
        });
    }
    tokio::task::spawn_blocking(move || receive_worker(conn, &rx, &ctl))
        .await
        .map_err(|e| io::Error::other(e.to_string()))?
}

/// Reads blocks until this connection's EOD. Returns the connection for reuse unless the
/// sender closed it (or announced CLOSE); an idle cached connection is handed back unused
/// once the transfer completes on the others.
fn receive_worker(mut conn: DataConn, rx: &Rx, ctl: &TransferCtl) -> io::Result<Received> {
    let mut header = [0u8; HEADER_LEN];
    // Allocated at the first block: idle cached connections cost no buffer.
    let mut buf = Vec::new();
    let mut used = false;
    loop {
        if !wait_readable(&mut conn, rx, ctl)? {
            return Ok((Some(conn), used));
        }
        if !read_header(&mut conn, &mut header)? {
            return Ok((None, used));
        }
        used = true;
        let h = Header::decode(&header);
        let step = rx.on_header(&h)?;
        if let Step::Data { offset, count } = step {
            let at = rx.position(offset, count)?;
            if buf.is_empty() {
                buf = vec![0u8; 1024 * 1024];
            }
            copy_block(&mut conn, &rx.file, at, count, &mut buf, ctl)?;
            ctl.record_range(at, at + count);
        }
        if h.has(EOD) || step == Step::ConnectionDone {
            return Ok(((!h.has(CLOSE)).then_some(conn), used));
        }
    }
}

/// Waits until the connection has bytes (true) or the transfer completed without it
/// (false). Fails after the data timeout.
fn wait_readable(conn: &mut DataConn, rx: &Rx, ctl: &TransferCtl) -> io::Result<bool> {
    if let DataConn::Gsi(s) = conn {
        if s.has_buffered() {
            return Ok(true);
        }
    }
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let deadline = Instant::now() + rx.timeout;
    let tick = Timespec {
        tv_sec: 0,
        tv_nsec: i64::from(IDLE_POLL.subsec_nanos()),
    };
    loop {
        ctl.check_abort()?;
        let mut fds = [PollFd::new(conn.tcp(), PollFlags::IN)];
        match poll(&mut fds, Some(&tick)) {
            Ok(n) if n > 0 => return Ok(true),
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        if rx.complete() {
            return Ok(false);
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no MODE E data within the data timeout",
            ));
        }
    }
}

/// Reads one header; false when the peer closed the connection cleanly before it.
fn read_header(conn: &mut DataConn, header: &mut [u8; HEADER_LEN]) -> io::Result<bool> {
    let mut got = 0;
    while got < HEADER_LEN {
        match conn.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// A block through a buffer (PROT P: the bytes are encrypted in user space anyway).
fn copy_block(
    conn: &mut DataConn,
    file: &File,
    at: u64,
    count: u64,
    buf: &mut [u8],
    ctl: &TransferCtl,
) -> io::Result<()> {
    let mut done = 0u64;
    while done < count {
        let want = usize::try_from(count - done)
            .unwrap_or(buf.len())
            .min(buf.len());
        conn.read_exact(&mut buf[..want])?;
        file.write_all_at(&buf[..want], at + done)?;
        done += want as u64;
        ctl.add_progress(want as u64);
    }
    Ok(())
}

/// The size of the file system `file` is on (statvfs), the natural bound of one file.
fn fs_size(file: &File) -> u64 {
    rustix::fs::fstatvfs(file)
        .map(|s| s.f_blocks.saturating_mul(s.f_frsize))
        .unwrap_or(u64::MAX)
}
