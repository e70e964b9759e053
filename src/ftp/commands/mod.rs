//! Command handlers, one file per verb family (RFC 959 §4.1 and the extensions named in
//! each file). `SessionState::dispatch` routes a parsed command to its handler: an
//! exhaustive `match`, so every `Command` has one; verb names and policy live in the verb
//! table (`control::verbs`), and the policy layer in `session` has already checked them.
//!
//! Handlers work on the session's plain state and return an `Answer`: the reply and what
//! the I/O shell does next (start a transfer, upgrade to TLS, protect, close). None of them
//! touches the control connection; `Link` lets them ask about it.

pub mod cksm;
pub mod datachan;
pub mod fsops;
pub mod ftps;
pub mod gridftp;
pub mod gssapi;
pub mod info;
pub mod listing;
pub mod login;
pub mod nav;
pub mod params;
pub mod transfer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::control::Command;
use super::error::FtpError;
use super::session::{Answer, Effect, Link, SessionState};
use crate::storage::{DataRoot, StorageError};

impl SessionState {
    pub(crate) async fn dispatch(
        &mut self,
        link: &Link<'_>,
        cmd: Command,
    ) -> Result<Answer, FtpError> {
        use Command as C;
        match cmd {
            C::User(u) => self.cmd_user(link, u).await,
            C::Pass(p) => self.cmd_pass(p).await,
            C::Quit => self.cmd_quit().await,
            C::Acct => Ok(Answer::reply(202, "ACCT not needed.")),
            C::Syst => Ok(Answer::reply(215, "UNIX Type: L8")),
            C::Feat => self.cmd_feat().await,
            C::Opts(o) => self.cmd_opts(o).await,
            C::Help => self.cmd_help().await,
            C::Noop => Ok(Answer::reply(200, "NOOP ok.")),
            C::Stat(p) => self.cmd_stat(link, p).await,
            C::Site(s) => self.cmd_site(s).await,
            C::Pwd => self.cmd_pwd().await,
            C::Cwd(p) => self.cmd_cwd(&p).await,
            C::Cdup => self.cmd_cwd("..").await,
            C::Type(t) => self.cmd_type(t).await,
            C::Mode(m) => self.cmd_mode(m).await,
            C::Stru(s) => self.cmd_stru(s).await,
            C::Allo => Ok(Answer::reply(202, "ALLO command ignored.")),
            C::Rest(n) => self.cmd_rest(n).await,
            C::Pasv => self.cmd_pasv().await,
            C::Epsv(a) => self.cmd_epsv(a).await,
            C::Port(a) | C::Eprt(a) => self.cmd_port(a).await,
            C::Retr(p) => self.cmd_retr(p).await,
            C::Stor(p) => self.cmd_stor(p, false).await,
            C::Appe(p) => self.cmd_stor(p, true).await,
            C::Abor => Ok(Answer::effect(Effect::Abort)),
            C::List(p) => self.cmd_list(p, listing::Format::Long).await,
            C::Nlst(p) => self.cmd_list(p, listing::Format::Names).await,
            C::Mlsd(p) => self.cmd_list(p, listing::Format::Machine).await,
            C::Mlst(p) => self.cmd_mlst(p).await,
            C::Size(p) => self.cmd_size(&p).await,
            C::Mdtm(p) => self.cmd_mdtm(&p).await,
            C::Mfmt(t, p) => self.cmd_mfmt(t, &p).await,
            C::Mkd(p) => self.cmd_mkd(&p).await,
            C::Rmd(p) => self.cmd_rmd(&p).await,
            C::Dele(p) => self.cmd_dele(&p).await,
            C::Rnfr(p) => self.cmd_rnfr(&p).await,
            C::Rnto(p) => self.cmd_rnto(&p).await,
            C::Auth(m) => self.cmd_auth(link, &m).await,
            C::Pbsz(n) => self.cmd_pbsz(link, n).await,
            C::Prot(l) => self.cmd_prot(link, l).await,
            C::Cksm {
                alg,
                offset,
                length,
                path,
            } => self.cmd_cksm(link, &alg, offset, length, &path).await,
            // A hint only: the kernel's autotuning sizes the buffers.
            C::Sbuf(_) => Ok(Answer::reply(200, "SBUF command successful.")),
            C::Dcau(mode) => self.cmd_dcau(&mode).await,
            C::RestRanges(r) => self.cmd_rest_ranges(r).await,
            C::Eret {
                offset,
                length,
                path,
            } => self.cmd_eret(path, offset, length).await,
            C::Esto { offset, path } => self.cmd_esto(path, offset).await,
            C::Spas => self.cmd_spas().await,
            C::Adat(token) => self.cmd_adat(&token).await,
            C::Spor(a) => self.cmd_spor(a).await,
        }
    }

    /// Runs a blocking filesystem operation on the session's root off the runtime.
    pub(crate) async fn fs<T, F>(&self, op: F) -> Result<T, FtpError>
    where
        T: Send + 'static,
        F: FnOnce(&DataRoot) -> Result<T, StorageError> + Send + 'static,
    {
        let root = self
            .login
            .root
            .clone()
            .ok_or_else(|| FtpError::reply(530, "Please login with USER and PASS."))?;
        tokio::task::spawn_blocking(move || op(&root))
            .await
            .map_err(local_error)?
            .map_err(FtpError::from)
    }
}

impl SessionState {
    /// [`SessionState::fs`] for long work (checksums of huge files): `op` gets a flag that is
    /// set, and the wait ends, when the client closes the control connection or the
    /// server shuts down, so no abandoned computation keeps a thread or delays shutdown.
    pub(crate) async fn fs_long<T, F>(&self, link: &Link<'_>, op: F) -> Result<T, FtpError>
    where
        T: Send + 'static,
        F: FnOnce(&DataRoot, &AtomicBool) -> Result<T, StorageError> + Send + 'static,
    {
        let root = self
            .login
            .root
            .clone()
            .ok_or_else(|| FtpError::reply(530, "Please login with USER and PASS."))?;
        let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
        let flag = Arc::clone(&cancel.0);
        let mut task = tokio::task::spawn_blocking(move || op(&root, &flag));
        let control = link.dup_socket();
        let mut tick = tokio::time::interval(LONG_OP_CHECK);
        loop {
            tokio::select! {
                joined = &mut task => return joined.map_err(local_error)?.map_err(FtpError::from),
                _ = self.ep.shutdown.cancelled() => {
                    return Err(FtpError::reply(421, "Server shutting down, operation cancelled."));
                }
                _ = tick.tick() => {
                    if !crate::ftp::data::job::client_alive(control.as_ref()) {
                        return Err(FtpError::Control(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "client left during a long operation",
                        )));
                    }
                }
            }
        }
    }
}

/// How often a long operation looks whether its client is still there.
const LONG_OP_CHECK: std::time::Duration = std::time::Duration::from_millis(250);

/// Sets the flag when dropped: every way out of [`SessionState::fs_long`] cancels the work.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A blocking task that panicked or was cancelled: logged with its cause, answered with a
/// generic 451. SECURITY: the `JoinError` text (panic message, task id) never reaches the
/// client.
pub(crate) fn local_error(e: tokio::task::JoinError) -> FtpError {
    tracing::error!(error = %e, "blocking task failed");
    FtpError::reply(451, "Local error in processing.")
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_panicking_blocking_task_answers_451_without_its_text() {
        let joined = tokio::task::spawn_blocking(|| -> u8 { panic!("SystemTimeError(42s)") })
            .await
            .expect_err("the task panicked");
        let reply = super::local_error(joined).to_reply().expect("a reply");
        assert_eq!(reply.code, 451);
        let text = reply.lines().concat();
        assert!(
            !text.contains("panicked") && !text.contains("SystemTimeError"),
            "{text}"
        );
    }
}
