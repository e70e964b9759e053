//! MODE E transfers (GFD.20 "Extended Block Mode") on the engine's data connections.
//!
//! Sending (RETR, listings): open `parallelism` connections to the PORT address (the
//! sender always connects), let each connection pull the next block from a shared cursor
//! and send a 17-byte header plus the block with sendfile(2); every connection ends with
//! EOD|CLOSE, and exactly one with EOF carrying the connection count. Receiving (STOR): keep
//! accepting connections on the passive listener until the EOF's EOD count is reached, each
//! connection's blocks written positionally (blocks arrive in any order).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::task::JoinSet;

use super::conn::DataConn;
use super::job::{DataParams, Outcome, TransferError};
use super::setup::{accept_allowed, connect_active, DataSetup};
use super::TransferCtl;
use crate::ftp::zerocopy;
use crate::gridftp::mode_e::{Header, Receiver, Step, CLOSE, EOD, EOF, HEADER_LEN};
use crate::storage::Upload;

/// Block size for sending: large blocks keep sendfile efficient.
const SEND_BLOCK: u64 = 4 * 1024 * 1024;

/// What a MODE E sender sends.
pub enum Payload {
    File { file: File, offset: u64, len: u64 },
    Bytes(Vec<u8>),
}

pub async fn send(p: DataParams, payload: Payload, ctl: Arc<TransferCtl>) -> Outcome {
    let conns = match open_senders(&p, &ctl).await {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                bytes: 0,
                data_peer: None,
                result: Err(e),
            }
        }
    };
    let data_peer = conns.first().and_then(|c| c.tcp().peer_addr().ok());
    let n = conns.len() as u64;
    let (source, start, end) = match payload {
        Payload::File { file, offset, len } => (Arc::new(Source::File(file)), offset, offset + len),
        Payload::Bytes(b) => {
            let len = b.len() as u64;
            (Arc::new(Source::Bytes(b)), 0, len)
        }
    };
    let cursor = Arc::new(AtomicU64::new(start));
    let mut set = JoinSet::new();
    for (i, conn) in conns.into_iter().enumerate() {
        let (source, cursor, ctl) = (Arc::clone(&source), Arc::clone(&cursor), Arc::clone(&ctl));
        set.spawn_blocking(move || send_worker(conn, &source, &cursor, end, i == 0, n, &ctl));
    }
    let mut result = Ok(());
    while let Some(joined) = set.join_next().await {
        let r = joined.unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
        if let Err(e) = r {
            ctl.abort();
            result = Err(TransferError::Data(e));
        }
    }
    let result = if ctl.is_aborted() && result.is_ok() {
        Err(TransferError::Aborted)
    } else {
        result
    };
    Outcome {
        bytes: ctl.progress(),
        data_peer,
        result,
    }
}

enum Source {
    File(File),
    Bytes(Vec<u8>),
}

async fn open_senders(p: &DataParams, ctl: &TransferCtl) -> Result<Vec<DataConn>, TransferError> {
    let mut conns = Vec::new();
    match &p.setup {
        DataSetup::Active(target) => {
            for _ in 0..p.parallelism.max(1) {
                let tcp = tokio::select! {
                    _ = ctl.cancelled() => return Err(TransferError::Aborted),
                    c = connect_active(p.local_ip, *target, p.timeout) => c.map_err(TransferError::Connect)?,
                };
                conns.push(
                    DataConn::establish(tcp, None, p.timeout)
                        .await
                        .map_err(TransferError::Connect)?,
                );
            }
        }
        DataSetup::Passive(listener) => {
            let tcp = tokio::select! {
                _ = ctl.cancelled() => return Err(TransferError::Aborted),
                c = accept_allowed(listener, &p.policy, p.control_peer, p.timeout) => c.map_err(TransferError::Connect)?,
            };
            conns.push(
                DataConn::establish(tcp, None, p.timeout)
                    .await
                    .map_err(TransferError::Connect)?,
            );
        }
        DataSetup::None => {
            return Err(TransferError::Connect(io::Error::new(
                io::ErrorKind::NotConnected,
                "no PORT or PASV",
            )))
        }
    }
    if let Some(c) = conns.first() {
        ctl.register_socket(c.tcp());
    }
    Ok(conns)
}

fn send_worker(
    mut conn: DataConn,
    source: &Source,
    cursor: &AtomicU64,
    end: u64,
    last: bool,
    conns: u64,
    ctl: &TransferCtl,
) -> io::Result<()> {
    loop {
        ctl.check_abort()?;
        let start = cursor.fetch_add(SEND_BLOCK, Ordering::SeqCst);
        if start >= end {
            break;
        }
        let n = SEND_BLOCK.min(end - start);
        conn.write_all(&Header::data(start, n).encode())?;
        match (source, &conn) {
            (Source::File(f), DataConn::Plain(sock)) => {
                zerocopy::sendfile_range(sock, f, start, n, ctl)?;
            }
            (Source::Bytes(b), _) => {
                let (a, z) = (
                    usize::try_from(start).unwrap_or(usize::MAX),
                    usize::try_from(start + n).unwrap_or(usize::MAX),
                );
                conn.write_all(&b[a..z])?;
                ctl.add_progress(n);
            }
            (Source::File(_), DataConn::Tls(_)) => {
                return Err(io::Error::other(
                    "MODE E over TLS data channels is not supported yet",
                ));
            }
        }
    }
    let trailer = if last {
        Header {
            descriptor: EOF | EOD | CLOSE,
            count: 0,
            offset: conns,
        }
    } else {
        Header {
            descriptor: EOD | CLOSE,
            count: 0,
            offset: 0,
        }
    };
    conn.write_all(&trailer.encode())?;
    conn.finish()
}

/// Receives a MODE E upload into `upload`, committing it once complete.
pub async fn receive(p: DataParams, upload: Upload, ctl: Arc<TransferCtl>) -> Outcome {
    let DataSetup::Passive(listener) = &p.setup else {
        let e = io::Error::new(
            io::ErrorKind::Unsupported,
            "MODE E uploads need PASV (the sender connects)",
        );
        return Outcome {
            bytes: 0,
            data_peer: None,
            result: Err(TransferError::Connect(e)),
        };
    };
    let state = Arc::new(Mutex::new(Receiver::new()));
    let file = match upload.file().try_clone() {
        Ok(f) => Arc::new(f),
        Err(e) => {
            return Outcome {
                bytes: 0,
                data_peer: None,
                result: Err(TransferError::Data(e)),
            }
        }
    };
    let base = upload.offset();
    let mut set = JoinSet::new();
    let mut data_peer = None;
    let mut failure = None;
    loop {
        let complete = state.lock().map(|s| s.is_complete()).unwrap_or(true);
        if (complete && set.is_empty()) || failure.is_some() {
            break;
        }
        let (busy, first) = (!set.is_empty(), set.is_empty() && data_peer.is_none());
        tokio::select! {
            _ = ctl.cancelled() => { failure = Some(TransferError::Aborted); }
            joined = set.join_next(), if busy => {
                if let Some(Err(e) | Ok(Err(e))) = joined.map(|j| j.map_err(|e| io::Error::other(e.to_string()))) {
                    failure = Some(TransferError::Data(e));
                }
            }
            accepted = accept_one(listener, &p, first), if !complete => {
                match accepted {
                    Ok(conn) => {
                        data_peer = data_peer.or_else(|| conn.tcp().peer_addr().ok());
                        ctl.register_socket(conn.tcp());
                        let (state, file, ctl) = (Arc::clone(&state), Arc::clone(&file), Arc::clone(&ctl));
                        set.spawn_blocking(move || receive_worker(conn, &state, &file, base, &ctl));
                    }
                    Err(e) => failure = Some(e),
                }
            }
        }
    }
    if let Some(e) = failure {
        ctl.abort();
        while set.join_next().await.is_some() {}
        return Outcome {
            bytes: ctl.progress(),
            data_peer,
            result: Err(e),
        };
    }
    let result = upload.commit().map_err(TransferError::Storage);
    Outcome {
        bytes: ctl.progress(),
        data_peer,
        result,
    }
}

/// The first connection must come within the data timeout; later ones may come any time
/// before the transfer completes.
async fn accept_one(
    listener: &tokio::net::TcpListener,
    p: &DataParams,
    first: bool,
) -> Result<DataConn, TransferError> {
    let wait = if first {
        p.timeout
    } else {
        std::time::Duration::from_secs(24 * 3600)
    };
    let tcp = accept_allowed(listener, &p.policy, p.control_peer, wait)
        .await
        .map_err(TransferError::Connect)?;
    DataConn::establish(tcp, None, p.timeout)
        .await
        .map_err(TransferError::Connect)
}

fn receive_worker(
    mut conn: DataConn,
    state: &Mutex<Receiver>,
    file: &File,
    base: u64,
    ctl: &TransferCtl,
) -> io::Result<()> {
    let mut header = [0u8; HEADER_LEN];
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        ctl.check_abort()?;
        conn.read_exact(&mut header)?;
        let h = Header::decode(&header);
        let step = state
            .lock()
            .map_err(|_| io::Error::other("receiver state poisoned"))?
            .on_header(&h)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        match step {
            Step::Data { offset, count } => {
                copy_block(&mut conn, file, base + offset, count, &mut buf, ctl)?;
                if h.has(EOD) {
                    return Ok(());
                }
            }
            Step::ConnectionDone => return Ok(()),
            Step::Skip => {}
        }
    }
}

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
