//! One control connection from greeting to QUIT (RFC 959 §5.4 command/reply sequencing),
//! with explicit states (`Connected → AwaitPass → LoggedIn`; GSI adds `AwaitAdat` later),
//! pipelined commands queued while a transfer runs, and idle/login timeouts.

mod control;
mod transfer;

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::{debug, info, warn};

pub use control::Control;
pub use transfer::Running;

use super::control::{parse, Command, Frame, Reply};
use super::data::DataSetup;
use super::error::FtpError;
use super::server::Endpoint;
use crate::auth::Principal;
use crate::storage::{DataRoot, VPath};

/// Commands queued behind a running transfer, at most; a client that pipelines more is
/// disconnected (bounded memory per session).
const MAX_PENDING: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Connected,
    AwaitPass { user: String },
    LoggedIn,
}

/// What the session loop does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Close,
}

pub struct Session {
    pub(crate) ep: Arc<Endpoint>,
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) ctrl: Control,
    pub(crate) state: State,
    pub(crate) user: Option<Principal>,
    pub(crate) root: Option<DataRoot>,
    pub(crate) cwd: VPath,
    pub(crate) data: DataSetup,
    /// MODE E data connections kept from the last transfer (GFD.20 data-channel caching).
    pub(crate) cached: Option<super::data::Cached>,
    /// GSI: the security exchange in progress (between AUTH GSSAPI and the last ADAT).
    pub(crate) gsi_exchange: Option<Box<crate::gsi::GsiContext>>,
    /// GSI: who authenticated (the end-entity DN), once the exchange is complete.
    pub(crate) gsi_identity: Option<crate::gsi::Identity>,
    /// GSI data-channel authentication (DCAU) and protection (PROT P) in force.
    pub(crate) dcau: crate::gsi::datachan::Dcau,
    pub(crate) gsi_private: bool,
    /// Built from the delegated credential when DCAU is on; dropped when DCAU/PROT change.
    pub(crate) data_sec: Option<std::sync::Arc<crate::gsi::datachan::DataSecurity>>,
    pub(crate) epsv_all: bool,
    pub(crate) rest: Option<u64>,
    /// `REST s-e,…` (MODE E): ranges the receiver already has.
    pub(crate) rest_ranges: Option<crate::gridftp::ranges::RangeSet>,
    pub(crate) rnfr: Option<VPath>,
    pub(crate) ascii: bool,
    pub(crate) pbsz: bool,
    pub(crate) prot_private: bool,
    /// GridFTP: MODE E and the parallelism for MODE E sends.
    pub(crate) mode_e: bool,
    pub(crate) parallelism: u32,
    /// MODE E block size for sends (OPTS RETR BlockSize).
    pub(crate) block_size: u64,
    pub(crate) mlst_facts: super::commands::listing::Facts,
    pub(crate) failures: u32,
    pub(crate) transfer: Option<Running>,
    /// When the passive listener in `data` was opened: it is closed if unused after the
    /// data timeout, so a client cannot hoard passive ports by never connecting.
    pub(crate) passive_since: Option<Instant>,
    pending: VecDeque<Command>,
    connected_at: Instant,
    last_activity: Instant,
}

impl Session {
    pub fn new(ep: Arc<Endpoint>, stream: TcpStream, peer: SocketAddr) -> io::Result<Self> {
        let local = stream.local_addr()?;
        Ok(Self {
            ep,
            peer,
            local,
            ctrl: Control::new(stream),
            state: State::Connected,
            user: None,
            root: None,
            cwd: VPath::root(),
            data: DataSetup::None,
            cached: None,
            gsi_exchange: None,
            gsi_identity: None,
            dcau: crate::gsi::datachan::Dcau::None,
            gsi_private: false,
            data_sec: None,
            epsv_all: false,
            rest: None,
            rest_ranges: None,
            rnfr: None,
            ascii: false,
            pbsz: false,
            prot_private: false,
            mode_e: false,
            parallelism: 1,
            block_size: crate::ftp::data::mode_e::DEFAULT_BLOCK,
            mlst_facts: Default::default(),
            failures: 0,
            transfer: None,
            passive_since: None,
            pending: VecDeque::new(),
            connected_at: Instant::now(),
            last_activity: Instant::now(),
        })
    }

    pub async fn run(mut self) {
        // Dropped on every exit, unwinding included: the gauge never leaks.
        let _open = self.ep.metrics.session_opened(self.ep.label);
        info!("session opened");
        let banner = Reply::new(220, self.ep.settings.banner.clone());
        if self.ctrl.send(&banner).await.is_ok() {
            if let Err(e) = self.serve().await {
                debug!(error = %e, "control connection ended");
            }
        }
        self.abandon_transfer().await;
        self.ctrl.close().await;
        info!("session closed");
    }

    async fn serve(&mut self) -> io::Result<()> {
        loop {
            if self.transfer.is_none() && self.ep.shutdown.is_cancelled() {
                // Draining: the running transfer (if any) has finished; nothing new starts.
                self.reply(421, "Server shutting down, closing control connection.")
                    .await?;
                return Ok(());
            }
            if self.transfer.is_none() {
                if let Some(cmd) = self.pending.pop_front() {
                    if self.run_command(cmd).await? == Flow::Close {
                        return Ok(());
                    }
                    continue;
                }
            }
            let idle = self.transfer.is_none();
            let deadline = self.deadline();
            let passive_expiry = self.passive_expiry();
            let cuttable = self.transfer.as_ref().is_some_and(|r| !r.ctl.is_aborted());
            let marker_at = self.transfer.as_ref().and_then(|r| r.next_marker());
            tokio::select! {
                biased;
                outcome = transfer::wait(&mut self.transfer) => self.finish_transfer(outcome).await?,
                _ = transfer::marker_due(marker_at) => self.send_markers().await?,
                _ = self.ep.cut.cancelled(), if cuttable => {
                    // The shutdown grace is over: abort; the outcome (with its transfer-log
                    // line and 426) arrives through `transfer::wait` above.
                    if let Some(running) = &self.transfer {
                        running.ctl.abort();
                    }
                }
                _ = self.ep.shutdown.cancelled(), if idle => {
                    self.reply(421, "Server shutting down, closing control connection.").await?;
                    return Ok(());
                }
                _ = tokio::time::sleep_until(deadline), if idle => {
                    self.reply(421, "Timeout, closing control connection.").await?;
                    return Ok(());
                }
                _ = sleep_until_some(passive_expiry), if idle => {
                    debug!("passive listener unused within the data timeout: closed");
                    self.data = DataSetup::None;
                    self.passive_since = None;
                }
                frame = self.ctrl.next_frame() => {
                    let Some(frame) = frame? else { return Ok(()) };
                    self.last_activity = Instant::now();
                    if self.on_frame(frame).await? == Flow::Close {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// When an unused passive listener is closed (`data_timeout` after PASV/EPSV).
    fn passive_expiry(&self) -> Option<Instant> {
        match self.data {
            DataSetup::Passive(_) => self
                .passive_since
                .map(|t| t + self.ep.settings.limits.data_timeout),
            _ => None,
        }
    }

    /// Idle sessions time out after `idle_timeout` without a command; sessions that have
    /// not logged in are closed `login_timeout` after connecting, whatever they send.
    fn deadline(&self) -> Instant {
        let limits = &self.ep.settings.limits;
        match self.state {
            State::LoggedIn => self.last_activity + limits.idle_timeout,
            _ => self.connected_at + limits.login_timeout,
        }
    }

    async fn on_frame(&mut self, frame: Frame) -> io::Result<Flow> {
        let line = match frame {
            Frame::TooLong => {
                self.reply(500, "Command line too long.").await?;
                return Ok(Flow::Continue);
            }
            Frame::Line(line) => line,
        };
        if self.ctrl.is_protected() {
            return self.on_protected(&line).await;
        }
        self.on_line(&line).await
    }

    /// RFC 2228 §3 after a GSI login: only `ENC` commands, each carrying one or more lines.
    async fn on_protected(&mut self, line: &[u8]) -> io::Result<Flow> {
        use base64::Engine;
        let line = String::from_utf8_lossy(line);
        let (verb, arg) = line.split_once(' ').unwrap_or((&line, ""));
        match verb.to_ascii_uppercase().as_str() {
            "ENC" => {}
            "MIC" | "CONF" => {
                self.reply(537, "Command protection level not supported; use ENC.")
                    .await?;
                return Ok(Flow::Continue);
            }
            _ => {
                // SECURITY: after the security exchange nothing runs unprotected.
                self.reply(533, "Command protection level denied for policy reasons.")
                    .await?;
                return Ok(Flow::Continue);
            }
        }
        let plain = base64::engine::general_purpose::STANDARD
            .decode(arg.trim())
            .map_err(|_| crate::gsi::GsiError::BadToken)
            .and_then(|t| self.ctrl.unwrap_command(&t));
        let plain = match plain {
            Ok(p) => p,
            Err(e) => {
                // SECURITY: a token that fails to decrypt poisons the TLS state: end the
                // session rather than guess.
                warn!(error = %e, "ENC token refused; closing");
                self.reply(535, "Failed security check.").await?;
                return Ok(Flow::Close);
            }
        };
        for inner in plain.split(|&b| b == b'\n') {
            let inner = inner.strip_suffix(b"\r").unwrap_or(inner);
            if inner.is_empty() {
                continue;
            }
            if self.on_line(inner).await? == Flow::Close {
                return Ok(Flow::Close);
            }
        }
        Ok(Flow::Continue)
    }

    async fn on_line(&mut self, line: &[u8]) -> io::Result<Flow> {
        let cmd = match parse(line) {
            Ok(cmd) => cmd,
            Err(e) => return self.refuse(FtpError::Parse(e)).await,
        };
        if self.transfer.is_some() && !cmd.spec().during_transfer {
            if self.pending.len() >= MAX_PENDING {
                self.reply(421, "Too many pipelined commands.").await?;
                return Ok(Flow::Close);
            }
            self.pending.push_back(cmd);
            return Ok(Flow::Continue);
        }
        self.run_command(cmd).await
    }

    /// The policy layer around every handler: login and permission checks, logging and
    /// the one error → reply mapping.
    async fn run_command(&mut self, cmd: Command) -> io::Result<Flow> {
        debug!(command = %cmd, "command");
        if let Some(refusal) = self.policy(&cmd) {
            return self.refuse(refusal).await;
        }
        match self.dispatch(cmd).await {
            Ok(flow) => Ok(flow),
            Err(FtpError::Control(e)) => Err(e),
            Err(e) => self.refuse(e).await,
        }
    }

    fn policy(&self, cmd: &Command) -> Option<FtpError> {
        let spec = cmd.spec();
        if !spec.anonymous && self.state != State::LoggedIn {
            return Some(FtpError::reply(530, "Please login with USER and PASS."));
        }
        // SECURITY: read-only principals never reach a write handler.
        if spec.writes && !self.user.as_ref().is_some_and(|u| u.can_write) {
            return Some(FtpError::reply(550, "Permission denied."));
        }
        if spec.gridftp_only && !self.is_gridftp() {
            return Some(FtpError::reply(500, "Command not understood."));
        }
        None
    }

    async fn refuse(&mut self, err: FtpError) -> io::Result<Flow> {
        match err.to_reply() {
            Some(reply) => {
                debug!(reply = %reply, "refused");
                self.ctrl.send(&reply).await?;
                Ok(Flow::Continue)
            }
            None => Ok(Flow::Close),
        }
    }

    /// Sends a single-line reply.
    pub(crate) async fn reply(&mut self, code: u16, text: impl Into<String>) -> io::Result<()> {
        self.ctrl.send(&Reply::new(code, text)).await
    }

    pub(crate) async fn send(&mut self, reply: &Reply) -> Result<(), FtpError> {
        self.ctrl.send(reply).await.map_err(FtpError::Control)
    }

    pub(crate) fn logged_in_as(&mut self, principal: Principal, root: DataRoot) {
        tracing::Span::current().record("user", principal.name.as_str());
        self.state = State::LoggedIn;
        self.user = Some(principal);
        self.root = Some(root);
        self.cwd = VPath::root();
    }

    pub(crate) fn user_name(&self) -> &str {
        self.user.as_ref().map_or("-", |u| u.name.as_str())
    }
}

/// Sleeps until `at`, forever when there is no such time.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
