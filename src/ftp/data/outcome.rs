//! How a data transfer ends (RFC 959 §4.2 replies 226/425/426/45x, GFD.20 for MODE E
//! channel caching): the error kinds, each with one reply in `ftp::error`, and the
//! outcome the session reports. Below both `job` and `mode_e`.

use std::io;
use std::net::SocketAddr;

use super::conn::DataConn;
use super::setup::DataSetup;
use crate::storage::{StorageError, Upload};

/// Connections kept open between MODE E transfers, with the set-up that made them (the
/// passive listener keeps accepting extra connections; the PORT target gets more).
pub struct Cached {
    pub setup: DataSetup,
    pub conns: Vec<DataConn>,
    /// True when the cached connections carried data from us (RETR), false for STOR.
    pub sending: bool,
}

impl std::fmt::Debug for Cached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("setup", &self.setup)
            .field("conns", &self.conns.len())
            .field("sending", &self.sending)
            .finish()
    }
}

/// Why a transfer failed; `ftp::error::transfer_reply` gives each its one reply.
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
    pub cache: Option<Cached>,
    /// Data connections the transfer used.
    pub streams: usize,
}

impl Outcome {
    /// A transfer that ended before any data connection was used.
    pub fn failed(e: TransferError) -> Outcome {
        Outcome {
            bytes: 0,
            data_peer: None,
            result: Err(e),
            cache: None,
            streams: 0,
        }
    }
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
