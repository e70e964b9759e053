//! One control connection from greeting to QUIT (RFC 959 §5.4 command/reply sequencing),
//! with explicit states (`Connected → AwaitPass → LoggedIn`; a GSI login runs its
//! `AUTH GSSAPI`/`ADAT` exchange while `Connected`, held in `gsi_exchange` until the
//! handshake completes, RFC 2228 §3), pipelined commands queued while a transfer runs, and
//! idle/login timeouts.
//!
//! `Session` is the I/O shell: the control channel, the running transfer, pipelined
//! commands and timers. Handlers (`ftp::commands`) work on its plain state,
//! [`SessionState`] (`state.rs`), grouped by the protocol part it belongs to: `Login`
//! (`login.rs`), `TransferParams` (`params.rs`), `DataChannel` (`datachan.rs`) and
//! `Security` (`security.rs`); they return an `Answer` (`answer.rs`), a reply plus an
//! effect, which the shell sends and applies.

mod answer;
mod control;
mod datachan;
mod login;
mod params;
mod security;
mod state;
mod transfer;

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::{debug, info, warn};

pub(crate) use answer::{Answer, Effect};
pub use control::{Control, ControlIo, Transport};
pub use login::State;
pub use state::SessionState;
pub(crate) use state::{transfer, Link};
pub use transfer::Running;

use datachan::DataChannel;
use login::Login;
use params::TransferParams;
use security::Security;

use super::control::{parse, Command, Frame, ParseError, Reply};
use super::endpoint::Endpoint;
use super::error::FtpError;
use super::features::Features;

/// Commands queued behind a running transfer, at most; a client that pipelines more is
/// disconnected (bounded memory per session).
const MAX_PENDING: usize = 128;

/// What the session loop does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Close,
}

/// One control connection: the I/O shell (control channel, the running transfer,
/// pipelined commands, timers) around the plain state the handlers work on.
pub struct Session {
    pub(crate) st: SessionState,
    pub(crate) ctrl: Control,
    pub(crate) transfer: Option<Running>,
    pending: VecDeque<Command>,
    connected_at: Instant,
    last_activity: Instant,
}

impl Session {
    /// A session on an accepted connection.
    pub fn new(ep: Arc<Endpoint>, stream: TcpStream, peer: SocketAddr) -> io::Result<Self> {
        let local = stream.local_addr()?;
        Ok(Self::over(ep, Transport::Tcp(stream), peer, local))
    }

    /// A session whose control channel runs over any byte stream (`tokio::io::duplex` in
    /// tests), as if `peer` had connected to `local`: data connections still use real
    /// sockets on `local`'s address, and with no control socket to check the client
    /// always counts as present.
    pub fn over_stream(
        ep: Arc<Endpoint>,
        io: impl ControlIo,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Self {
        Self::over(ep, Transport::stream(io), peer, local)
    }

    fn over(ep: Arc<Endpoint>, transport: Transport, peer: SocketAddr, local: SocketAddr) -> Self {
        Self {
            st: SessionState::new(ep, peer, local),
            ctrl: Control::new(transport),
            transfer: None,
            pending: VecDeque::new(),
            connected_at: Instant::now(),
            last_activity: Instant::now(),
        }
    }

    pub async fn run(mut self) {
        // Dropped on every exit, unwinding included: the gauge never leaks.
        let _open = self.st.ep.metrics.session_opened(self.st.ep.label);
        info!("session opened");
        let banner = Reply::new(220, self.st.ep.settings.banner.clone());
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
            if self.transfer.is_none() && self.st.ep.shutdown.is_cancelled() {
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
                _ = self.st.ep.cut.cancelled(), if cuttable => {
                    // The shutdown grace is over: abort; the outcome (with its transfer-log
                    // line and 426) arrives through `transfer::wait` above.
                    if let Some(running) = &self.transfer {
                        running.ctl.abort();
                    }
                }
                _ = self.st.ep.shutdown.cancelled(), if idle => {
                    self.reply(421, "Server shutting down, closing control connection.").await?;
                    return Ok(());
                }
                _ = tokio::time::sleep_until(deadline), if idle => {
                    self.reply(421, "Timeout, closing control connection.").await?;
                    return Ok(());
                }
                _ = sleep_until_some(passive_expiry), if idle => {
                    debug!("passive listener unused within the data timeout: closed");
                    self.st.data.expire_passive();
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
        self.st
            .data
            .passive_expiry(self.st.ep.settings.limits.data_timeout)
    }

    /// Idle sessions time out after `idle_timeout` without a command; sessions that have
    /// not logged in are closed `login_timeout` after connecting, whatever they send.
    fn deadline(&self) -> Instant {
        let limits = &self.st.ep.settings.limits;
        match self.st.login.state {
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
            Err(e) => return self.refuse(unparsed(self.st.features(), e)).await,
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

    /// The policy layer around every handler: what the endpoint offers, login and
    /// permission checks, logging and the one error → reply mapping.
    async fn run_command(&mut self, cmd: Command) -> io::Result<Flow> {
        debug!(command = %cmd, "command");
        if let Some(refusal) = self.policy(&cmd) {
            return self.refuse(refusal).await;
        }
        let link = Link::new(&self.ctrl, self.transfer_status());
        let answer = self.st.dispatch(&link, cmd).await;
        self.answer(answer).await
    }

    /// Sends a handler's reply and applies its effect; an error takes the one error →
    /// reply mapping.
    async fn answer(&mut self, answer: Result<Answer, FtpError>) -> io::Result<Flow> {
        let answer = match answer {
            Ok(a) => a,
            Err(FtpError::Control(e)) => return Err(e),
            Err(e) => return self.refuse(e).await,
        };
        if let Some(reply) = &answer.reply {
            self.ctrl.send(reply).await?;
        }
        match answer.effect {
            Effect::Continue => Ok(Flow::Continue),
            Effect::Close => Ok(Flow::Close),
            Effect::StartTls(cfg) => self.start_tls(cfg).await,
            Effect::ExpectAdat => {
                self.ctrl.allow_protected_lines();
                Ok(Flow::Continue)
            }
            Effect::Protect(ctx) => {
                self.ctrl.protect(ctx);
                Ok(Flow::Continue)
            }
            Effect::Transfer(start) => match self.start_transfer(*start).await {
                Ok(()) => Ok(Flow::Continue),
                Err(FtpError::Control(e)) => Err(e),
                Err(e) => self.refuse(e).await,
            },
            Effect::Abort => {
                self.abort_transfer().await?;
                Ok(Flow::Continue)
            }
        }
    }

    /// RFC 4217 §4 after the `234`: the TLS handshake; a failed one closes the connection
    /// cleanly.
    async fn start_tls(&mut self, cfg: Arc<rustls::ServerConfig>) -> io::Result<Flow> {
        let timeout = self.st.ep.settings.limits.login_timeout;
        if let Err(e) = self.ctrl.upgrade(cfg, timeout).await {
            warn!(error = %e, "TLS handshake on the control connection failed");
            return Ok(Flow::Close);
        }
        Ok(Flow::Continue)
    }

    fn policy(&self, cmd: &Command) -> Option<FtpError> {
        policy(
            self.st.features(),
            self.st.login.is_logged_in(),
            self.st.login.can_write(),
            cmd,
        )
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
}

/// The policy layer's checks, in order: what the endpoint offers (one refusal for every
/// verb or parameter it does not, before login so the answer never depends on it), login,
/// write permission.
fn policy(
    features: &Features,
    logged_in: bool,
    can_write: bool,
    cmd: &Command,
) -> Option<FtpError> {
    if let Some(refusal) = features.refusal(cmd) {
        return Some(refusal.into());
    }
    let spec = cmd.spec();
    if !spec.anonymous && !logged_in {
        return Some(FtpError::reply(530, "Please login with USER and PASS."));
    }
    // SECURITY: read-only principals never reach a write handler.
    if spec.writes && !can_write {
        return Some(FtpError::reply(550, "Permission denied."));
    }
    None
}

/// A line that did not parse: refused as its verb when the endpoint does not offer it, else
/// as bad syntax.
fn unparsed(features: &Features, e: ParseError) -> FtpError {
    match features.refusal_unparsed(&e) {
        Some(refusal) => refusal.into(),
        None => e.into(),
    }
}

/// Sleeps until `at`, forever when there is no such time.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod duplex_tests;
#[cfg(test)]
mod handler_tests;
#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;
