//! One data transfer from set-up to completion (RFC 959 §5.2): open the data connection
//! (accept under the FXP policy or connect out), negotiate TLS when PROT P is in force,
//! then move the bytes: the top of the data layer, which flows one way,
//! `job` → {`stream`, `mode_e`, each with its readiness `tasks`} → `ready`, `zerocopy`, with
//! `params` (how to connect) and `outcome` (how a transfer ends) below them all.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use super::conn::DataConn;
use super::outcome::{give_up, worker_failed, Outcome, TransferError};
use super::params::{establish, no_setup, DataParams};
use super::ready::Driver;
use super::setup::{accept_allowed, connect_active, DataSetup};
use super::{stream, FileSpan, TransferCtl};
use crate::storage::Upload;

/// What to move once the data connection is up.
pub enum Job {
    /// Download a span of a file (stream mode sends one contiguous range).
    Send(FileSpan),
    /// Send a generated payload (LIST, NLST, MLSD).
    Listing(Vec<u8>),
    /// Upload into `upload`; committed (renamed into place) only on success. MODE E block
    /// offsets are relative to `base` (ESTO).
    Receive { upload: Upload, base: u64 },
}

pub async fn run(mut p: DataParams, job: Job, ctl: Arc<TransferCtl>) -> Outcome {
    if p.mode_e {
        use super::mode_e::{receive, send, Payload};
        let reuse = std::mem::take(&mut p.reuse);
        return match job {
            Job::Send(span) => send(p, reuse, Payload::File(span), ctl).await,
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
        Err(e) => return Outcome::failed(e),
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

fn execute(
    mut conn: DataConn,
    job: Job,
    ascii: bool,
    control: Option<OwnedFd>,
    ctl: &TransferCtl,
) -> Result<(), TransferError> {
    match job {
        Job::Send(span) => {
            let (offset, len) = span.extent();
            stream::send_file(&mut conn, &span.file, offset, len, ascii, ctl).map(drop)
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
    use super::stream::tasks::{Chunks, FileSink, ReceiveTask, SendTask};
    let driver = Driver::new(sock, timeout).map_err(TransferError::Data)?;
    let sent = match job {
        Job::Send(span) => {
            let (offset, len) = span.extent();
            let task = match (&tls, ascii) {
                (None, false) => SendTask::sendfile(span.file, offset, len),
                _ => SendTask::chunks(Chunks::file(span.file, offset, len, ascii), tls),
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
