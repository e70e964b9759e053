//! Readiness-driven transfers on clear-text data sockets (RFC 959 §3.4.1 stream mode,
//! GFD.20 MODE E): no thread waits on a slow peer.
//!
//! A transfer is a [`Task`], a resumable state machine whose `step` makes one
//! non-blocking move (a sendfile(2), a read, a positional write) and answers
//! `WouldBlock` when the socket is not ready. [`Driver::drive`] runs steps on the blocking
//! pool only while the socket is ready (file I/O may still block on the disk, never on
//! the peer); when the socket stops being ready the thread spins on poll(2) for at most
//! `SPIN` and is then given back, and the task waits for readiness on the runtime.
//! A peer that makes no progress for the data timeout fails the transfer; a peer that
//! trickles costs one task and no thread. (Sockets under TLS or GSI protection still run
//! their copy loops on a thread, bounded by their socket timeouts.)

use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use tokio::io::Interest;

use super::TransferCtl;

/// How long a blocking-pool thread waits for the socket to become ready again before it
/// hands the transfer back to the runtime: long enough that a fast peer never costs a
/// round trip through the runtime, short enough that a stalled one never holds a thread.
const SPIN: Duration = Duration::from_millis(10);

/// One resumable transfer over a non-blocking socket.
pub trait Task: Send + 'static {
    type Output: Send + 'static;
    /// What the task waits for between steps.
    const INTEREST: Interest;
    /// One non-blocking move: `Ok(Some(out))` when the task is done, `Ok(None)` to go on,
    /// `Err(WouldBlock)` when the socket is not ready.
    fn step(&mut self, sock: &TcpStream, ctl: &TransferCtl) -> io::Result<Option<Self::Output>>;
    /// While waiting for readiness, how often to ask [`Task::idle`].
    fn idle_poll(&self) -> Option<Duration> {
        None
    }
    /// `Some(out)` ends the task while it waits (a MODE E connection that is not needed).
    fn idle(&mut self) -> Option<Self::Output> {
        None
    }
}

/// A clear data socket in non-blocking mode, registered with the runtime for the
/// duration of the transfer.
pub struct Driver {
    stream: tokio::net::TcpStream,
    /// A duplicate of the socket for the blocking side.
    dup: Arc<TcpStream>,
    timeout: Duration,
}

impl Driver {
    /// Takes over a (blocking) data socket; `timeout` is the most the peer may go
    /// without letting the transfer progress.
    pub fn new(sock: TcpStream, timeout: Duration) -> io::Result<Driver> {
        sock.set_nonblocking(true)?;
        let dup = Arc::new(sock.try_clone()?);
        Ok(Driver {
            stream: tokio::net::TcpStream::from_std(sock)?,
            dup,
            timeout,
        })
    }

    /// Gives the socket back in blocking mode (for caching or a blocking caller).
    pub fn into_inner(self) -> io::Result<TcpStream> {
        let sock = self.stream.into_std()?;
        sock.set_nonblocking(false)?;
        Ok(sock)
    }

    pub fn socket(&self) -> &TcpStream {
        &self.dup
    }

    /// Runs `task` to completion (see the module docs).
    pub async fn drive<T: Task>(&self, task: T, ctl: &Arc<TransferCtl>) -> io::Result<T::Output> {
        let mut task = Some(task);
        let mut ready_now = false;
        loop {
            if !ready_now {
                if let Some(out) = self.wait(&mut task, ctl).await? {
                    return Ok(out);
                }
            }
            let mut t = task.take().ok_or_else(|| io::Error::other("task lost"))?;
            let (sock, worker) = (Arc::clone(&self.dup), Arc::clone(ctl));
            let (t, res) = tokio::task::spawn_blocking(move || {
                let res = burst(&mut t, &sock, &worker);
                (t, res)
            })
            .await
            .map_err(|e| io::Error::other(format!("transfer worker failed: {e}")))?;
            if let Some(out) = res? {
                return Ok(out);
            }
            // Not ready any more: forget the readiness the runtime saw, then look at the
            // socket's level once, so a wake-up that came in between is never lost.
            let _ = self.stream.try_io(T::INTEREST, || {
                Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
            });
            ready_now = ready_within(&self.dup, T::INTEREST, Duration::ZERO)?;
            task = Some(t);
        }
    }

    /// Waits until the socket is ready for the task (`None`), the task gives up while
    /// idle (`Some(out)`), the transfer is aborted, or the peer has made no progress for
    /// the timeout.
    async fn wait<T: Task>(
        &self,
        task: &mut Option<T>,
        ctl: &TransferCtl,
    ) -> io::Result<Option<T::Output>> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let tick = task
                .as_ref()
                .and_then(Task::idle_poll)
                .map_or(deadline, |p| deadline.min(tokio::time::Instant::now() + p));
            tokio::select! {
                biased;
                _ = ctl.cancelled() => return Err(aborted()),
                ready = self.stream.ready(T::INTEREST) => {
                    ready?;
                    return Ok(None);
                }
                _ = tokio::time::sleep_until(tick) => {}
            }
            if let Some(out) = task.as_mut().and_then(Task::idle) {
                return Ok(Some(out));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "data connection made no progress within the data timeout",
                ));
            }
        }
    }
}

/// Steps while the socket stays ready (or becomes ready again within [`SPIN`]).
fn burst<T: Task>(
    task: &mut T,
    sock: &TcpStream,
    ctl: &TransferCtl,
) -> io::Result<Option<T::Output>> {
    loop {
        ctl.check_abort()?;
        match task.step(sock, ctl) {
            Ok(Some(out)) => return Ok(Some(out)),
            Ok(None) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted && !ctl.is_aborted() => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !ready_within(sock, T::INTEREST, SPIN)? {
                    return Ok(None);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether the socket is (or becomes, within `within`) ready for `interest`.
fn ready_within(sock: &TcpStream, interest: Interest, within: Duration) -> io::Result<bool> {
    let flags = if interest.is_writable() {
        PollFlags::OUT
    } else {
        PollFlags::IN
    };
    let spin = Timespec {
        tv_sec: 0,
        tv_nsec: i64::from(within.subsec_nanos()),
    };
    let mut fds = [PollFd::new(sock, flags)];
    match poll(&mut fds, Some(&spin)) {
        Ok(n) => Ok(n > 0),
        Err(rustix::io::Errno::INTR) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

pub fn aborted() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "transfer aborted")
}
