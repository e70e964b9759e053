//! One data transfer from set-up to completion (RFC 959 §5.2): open the data connection
//! (accept under the FXP policy or connect out), negotiate TLS when PROT P is in force,
//! then move the bytes on the blocking pool.

use std::fs::File;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;

use super::conn::DataConn;
use super::ready::Driver;
use super::setup::{accept_allowed, connect_active, DataSetup};
use super::{stream, FxpPolicy, TransferCtl};
use crate::storage::{StorageError, Upload};

/// What to move once the data connection is up.
pub enum Job {
    /// Download the byte ranges `segments` of `file` (ascending; stream mode sends one
    /// contiguous span). MODE E block offsets are relative to `base` (ERET).
    Send {
        file: File,
        segments: Vec<(u64, u64)>,
        base: u64,
    },
    /// Send a generated payload (LIST, NLST, MLSD).
    Listing(Vec<u8>),
    /// Upload into `upload`; committed (renamed into place) only on success. MODE E block
    /// offsets are relative to `base` (ESTO).
    Receive { upload: Upload, base: u64 },
}

/// Everything needed to open the data connection.
pub struct DataParams {
    pub setup: DataSetup,
    pub policy: FxpPolicy,
    pub control_peer: IpAddr,
    pub local_ip: IpAddr,
    pub tls: Option<Arc<ServerConfig>>,
    pub timeout: Duration,
    pub ascii: bool,
    /// A duplicate of the control socket: an upload is committed only while the client
    /// is still there (a killed client closes both connections; in stream mode the data
    /// EOF alone would look like a complete file).
    pub control: Option<OwnedFd>,
    /// MODE E (GridFTP extended block mode) instead of stream mode.
    pub mode_e: bool,
    /// Connections to open when sending in MODE E (OPTS RETR Parallelism).
    pub parallelism: u32,
    /// MODE E block size when sending (OPTS RETR BlockSize).
    pub block_size: u64,
    /// MODE E uploads: blocks may not end beyond this (`None`: the file system's size).
    pub max_file_size: Option<u64>,
    /// MODE E connections cached from the previous transfer in this direction.
    pub reuse: Vec<DataConn>,
    /// GSI data-channel security (DCAU A/S) for every new data connection.
    pub gsi: Option<Arc<crate::gsi::datachan::DataSecurity>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("Can't open data connection: {0}")]
    Connect(io::Error),
    #[error("TLS negotiation on the data connection failed: {0}")]
    Tls(io::Error),
    #[error("Transfer aborted")]
    Aborted,
    #[error("Connection closed; transfer aborted: {0}")]
    Data(io::Error),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl TransferError {
    /// A transfer loop's error: the file system's (full disk, EIO, …) takes the storage
    /// error → reply mapping, anything else is the data connection's.
    pub fn from_io(e: io::Error) -> TransferError {
        if StorageError::is_disk_error(&e) {
            TransferError::Storage(StorageError::from_io(e))
        } else {
            TransferError::Data(e)
        }
    }

    fn is_full(&self) -> bool {
        matches!(self, TransferError::Storage(s) if s.is_full())
    }
}

/// Result of a transfer: bytes moved on the data connection and how it ended.
#[derive(Debug)]
pub struct Outcome {
    pub bytes: u64,
    /// The data connection's remote end (in FXP: the other server, not the client).
    pub data_peer: Option<SocketAddr>,
    pub result: Result<(), TransferError>,
    /// MODE E: the connections and set-up to keep for the next transfer.
    pub cache: Option<super::Cached>,
    /// Data connections the transfer used.
    pub streams: usize,
}

pub async fn run(mut p: DataParams, job: Job, ctl: Arc<TransferCtl>) -> Outcome {
    if p.mode_e {
        use super::mode_e::{receive, send, Payload};
        let reuse = std::mem::take(&mut p.reuse);
        return match job {
            Job::Send {
                file,
                segments,
                base,
            } => {
                let payload = Payload::File {
                    file,
                    segments,
                    base,
                };
                send(p, reuse, payload, ctl).await
            }
            Job::Listing(data) => send(p, reuse, Payload::Bytes(data), ctl).await,
            Job::Receive { upload, base } => receive(p, reuse, upload, base, ctl).await,
        };
    }
    let conn = tokio::select! {
        biased;
        _ = ctl.cancelled() => Err(TransferError::Aborted),
        conn = open(&p) => conn,
    };
    let conn = match conn {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                bytes: 0,
                data_peer: None,
                result: Err(e),
                cache: None,
                streams: 0,
            }
        }
    };
    let data_peer = conn.tcp().peer_addr().ok();
    // MODE S uses one connection: the passive listener (and its per-client slot) can go.
    p.setup = DataSetup::None;
    ctl.register_socket(conn.tcp());
    let (ascii, control) = (p.ascii, p.control);
    let result = match conn {
        DataConn::Plain(sock) => run_ready(sock, None, job, ascii, control, p.timeout, &ctl).await,
        DataConn::Tls(tls) => {
            let rustls::StreamOwned { conn, sock } = *tls;
            let tls = Some(Box::new(conn));
            run_ready(sock, tls, job, ascii, control, p.timeout, &ctl).await
        }
        conn => {
            let worker = Arc::clone(&ctl);
            let joined =
                tokio::task::spawn_blocking(move || execute(conn, job, ascii, control, &worker))
                    .await;
            joined.unwrap_or_else(|e| Err(worker_failed(e)))
        }
    };
    let result = if ctl.is_aborted() {
        Err(TransferError::Aborted)
    } else {
        result
    };
    Outcome {
        bytes: ctl.progress(),
        data_peer,
        result,
        cache: None,
        streams: 1,
    }
}

async fn open(p: &DataParams) -> Result<DataConn, TransferError> {
    let tcp = match &p.setup {
        DataSetup::Passive(l) => accept_allowed(l, &p.policy, p.control_peer, p.timeout).await,
        DataSetup::Active(target) => connect_active(p.local_ip, *target, p.timeout).await,
        DataSetup::None => return Err(no_setup()),
    }
    .map_err(TransferError::Connect)?;
    establish(tcp, p, matches!(p.setup, DataSetup::Active(_))).await
}

/// Completes a new data connection under the session's protection; a failed handshake
/// is a TLS error, anything else a connection error. `initiator`: we connected.
pub(super) async fn establish(
    tcp: tokio::net::TcpStream,
    p: &DataParams,
    initiator: bool,
) -> Result<DataConn, TransferError> {
    let secured = p.tls.is_some() || p.gsi.is_some();
    DataConn::secure(tcp, p.tls.clone(), p.gsi.clone(), initiator, p.timeout)
        .await
        .map_err(if secured {
            TransferError::Tls
        } else {
            TransferError::Connect
        })
}

pub(super) fn no_setup() -> TransferError {
    TransferError::Connect(io::Error::new(
        io::ErrorKind::NotConnected,
        "no PORT or PASV",
    ))
}

fn execute(
    mut conn: DataConn,
    job: Job,
    ascii: bool,
    control: Option<OwnedFd>,
    ctl: &TransferCtl,
) -> Result<(), TransferError> {
    match job {
        Job::Send { file, segments, .. } => {
            let offset = segments.first().map_or(0, |s| s.0);
            let end = segments.last().map_or(0, |s| s.1);
            stream::send_file(&mut conn, &file, offset, end - offset, ascii, ctl).map(drop)
        }
        Job::Listing(data) => stream::send_bytes(&mut conn, &data, ctl).map(drop),
        Job::Receive { upload, .. } => {
            let received = stream::receive(&mut conn, upload.file(), upload.offset(), ascii, ctl);
            return complete_upload(received, upload, control.as_ref(), ctl);
        }
    }
    .map_err(TransferError::from_io)
}

/// A MODE S transfer on a clear or FTPS socket, readiness-driven (`ready`): a peer that
/// stops reading or writing holds no thread and is cut after `timeout` without progress.
async fn run_ready(
    sock: std::net::TcpStream,
    tls: Option<Box<rustls::ServerConnection>>,
    job: Job,
    ascii: bool,
    control: Option<OwnedFd>,
    timeout: Duration,
    ctl: &Arc<TransferCtl>,
) -> Result<(), TransferError> {
    use super::stream_tasks::{Chunks, FileSink, ReceiveTask, SendTask};
    let driver = Driver::new(sock, timeout).map_err(TransferError::Data)?;
    let sent = match job {
        Job::Send { file, segments, .. } => {
            let offset = segments.first().map_or(0, |s| s.0);
            let len = segments.last().map_or(0, |s| s.1) - offset;
            let task = match (&tls, ascii) {
                (None, false) => SendTask::sendfile(file, offset, len),
                _ => SendTask::chunks(Chunks::file(file, offset, len, ascii), tls),
            };
            driver.drive(task, ctl).await
        }
        Job::Listing(data) => {
            let task = SendTask::chunks(Chunks::Bytes { data, pos: 0 }, tls);
            driver.drive(task, ctl).await
        }
        Job::Receive { upload, .. } => {
            let file = upload.file().try_clone().map_err(TransferError::Data)?;
            let task = ReceiveTask::new(FileSink::new(file, upload.offset(), ascii), tls);
            let received = driver.drive(task, ctl).await;
            let worker = Arc::clone(ctl);
            return tokio::task::spawn_blocking(move || {
                complete_upload(received, upload, control.as_ref(), &worker)
            })
            .await
            .unwrap_or_else(|e| Err(worker_failed(e)));
        }
    };
    // End of file in stream mode: half-close (RFC 959 §3.3), after TLS close_notify.
    sent.and_then(|_| driver.socket().shutdown(std::net::Shutdown::Write))
        .map_err(TransferError::from_io)
}

/// Commits a received upload if it ended cleanly while the client is still there; else
/// the upload is dropped uncommitted (kept as a resumable part, never under its name).
fn complete_upload(
    received: io::Result<u64>,
    upload: Upload,
    control: Option<&OwnedFd>,
    ctl: &TransferCtl,
) -> Result<(), TransferError> {
    let result = match received {
        Ok(_) if !client_alive(control) => Err(TransferError::Data(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "client closed the control connection before the upload completed",
        ))),
        Ok(_) if !ctl.is_aborted() => return upload.commit().map_err(TransferError::Storage),
        Ok(_) => Ok(()),
        Err(e) => Err(TransferError::from_io(e)),
    };
    give_up(upload, &result);
    result
}

/// An upload that did not complete: kept as a resumable part file, except after a full
/// disk or quota, where the partial is removed so the space comes back at once.
pub(super) fn give_up(upload: Upload, result: &Result<(), TransferError>) {
    match result {
        Err(e) if e.is_full() => upload.discard(),
        _ => upload.abort(),
    }
}

pub(super) fn worker_failed(e: tokio::task::JoinError) -> TransferError {
    tracing::error!(error = %e, "transfer worker failed");
    TransferError::Data(io::Error::other("transfer worker failed"))
}

/// False when the control connection has been closed by the client (a zero-byte peek).
pub(crate) fn client_alive(control: Option<&OwnedFd>) -> bool {
    use rustix::net::{recv, RecvFlags};
    let Some(fd) = control else {
        return true;
    };
    let mut byte = [0u8; 1];
    !matches!(
        recv(fd, &mut byte[..], RecvFlags::PEEK | RecvFlags::DONTWAIT),
        Ok((0, _))
    )
}
