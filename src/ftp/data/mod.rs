//! Data connections (RFC 959 §3.2–3.3 and §5.2, RFC 2428 EPRT/EPSV, RFC 4217 §8–9 for
//! TLS-protected data): set-up in both directions under the FXP policy, the TLS layer, the
//! blocking MODE S stream transfers, and the per-transfer control block shared with the
//! control loop (abort, progress).

pub mod conn;
pub mod job;
pub mod mode_e;
pub mod outcome;
pub mod params;
pub mod policy;
pub mod ready;
pub mod setup;
pub mod stream;

use std::fs::File;
use std::io;
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use tokio_util::sync::CancellationToken;

use crate::gridftp::ranges::RangeSet;

pub use conn::DataConn;
pub use job::Job;
pub use outcome::{Cached, Outcome, TransferError};
pub use params::DataParams;
pub use policy::{FxpPolicy, PolicyError};
pub use setup::DataSetup;

/// The byte ranges `segments` (absolute, ascending; stream mode sends the one span from
/// the first start to the last end) of `file`; MODE E block offsets are relative to
/// `base` (ERET's offset, else 0).
pub struct FileSpan {
    pub file: File,
    pub segments: Vec<(u64, u64)>,
    pub base: u64,
}

impl FileSpan {
    /// Stream mode's one span: (first offset, length).
    pub fn extent(&self) -> (u64, u64) {
        let start = self.segments.first().map_or(0, |s| s.0);
        let end = self.segments.last().map_or(0, |s| s.1);
        (start, end.saturating_sub(start))
    }
}

/// Shared between the control loop and one running transfer: the control side aborts and
/// reads progress; the transfer side checks for abort and counts bytes.
#[derive(Debug, Default)]
pub struct TransferCtl {
    aborted: AtomicBool,
    bytes: AtomicU64,
    cancel: CancellationToken,
    /// Duplicates of the data sockets, so an abort can `shutdown(2)` them and wake
    /// transfer threads blocked in sendfile/read/write.
    sockets: Mutex<Vec<OwnedFd>>,
    /// Byte ranges written so far by a MODE E receiver (for 111 restart markers).
    written: Mutex<RangeSet>,
}

impl TransferCtl {
    pub fn abort(&self) {
        self.aborted.store(true, Ordering::SeqCst);
        self.cancel.cancel();
        if let Ok(guard) = self.sockets.lock() {
            for fd in guard.iter() {
                // Best effort: the peer may already be gone.
                let _ = rustix::net::shutdown(fd, rustix::net::Shutdown::Both);
            }
        }
    }

    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    pub fn check_abort(&self) -> io::Result<()> {
        if self.is_aborted() {
            Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "transfer aborted",
            ))
        } else {
            Ok(())
        }
    }

    pub fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    pub fn add_progress(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub fn progress(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Remembers the data socket so `abort` can shut it down; if the abort already
    /// happened, shuts it down at once.
    pub fn register_socket(&self, sock: &TcpStream) {
        let Ok(fd) = sock.try_clone().map(OwnedFd::from) else {
            return;
        };
        if let Ok(mut guard) = self.sockets.lock() {
            guard.push(fd);
        }
        if self.is_aborted() {
            self.abort();
        }
    }

    /// Notes that `[start, end)` has been written (MODE E receivers).
    pub fn record_range(&self, start: u64, end: u64) {
        if let Ok(mut w) = self.written.lock() {
            w.insert(start, end);
        }
    }

    /// The ranges written so far, `None` when none were recorded (stream mode).
    pub fn written(&self) -> Option<RangeSet> {
        self.written
            .lock()
            .ok()
            .filter(|w| !w.is_empty())
            .map(|w| w.clone())
    }
}
