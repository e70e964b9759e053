//! Command handlers, one file per verb family (RFC 959 §4.1 and the extensions named in
//! each file). [`Session::dispatch`] routes a parsed command to its handler; the policy
//! layer in `session` has already checked login and write permission.

pub mod checksum;
pub mod datachan;
pub mod fsops;
pub mod gridftp;
pub mod gsi;
pub mod info;
pub mod listing;
pub mod login;
pub mod nav;
pub mod params;
pub mod tls;
pub mod transfer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::control::Command;
use super::error::FtpError;
use super::session::{Flow, Session};
use crate::storage::{DataRoot, StorageError, VPath};

impl Session {
    pub(crate) async fn dispatch(&mut self, cmd: Command) -> Result<Flow, FtpError> {
        use Command as C;
        match cmd {
            C::User(u) => self.cmd_user(u).await,
            C::Pass(p) => self.cmd_pass(p).await,
            C::Quit => self.cmd_quit().await,
            C::Acct => self.done(202, "ACCT not needed.").await,
            C::Syst => self.done(215, "UNIX Type: L8").await,
            C::Feat => self.cmd_feat().await,
            C::Opts(o) => self.cmd_opts(o).await,
            C::Help => self.cmd_help().await,
            C::Noop => self.done(200, "NOOP ok.").await,
            C::Stat(p) => self.cmd_stat(p).await,
            C::Site(s) => self.cmd_site(s).await,
            C::Pwd => self.cmd_pwd().await,
            C::Cwd(p) => self.cmd_cwd(&p).await,
            C::Cdup => self.cmd_cwd("..").await,
            C::Type(t) => self.cmd_type(t).await,
            C::Mode(m) => self.cmd_mode(m).await,
            C::Stru(s) => self.cmd_stru(s).await,
            C::Allo => self.done(202, "ALLO command ignored.").await,
            C::Rest(n) => self.cmd_rest(n).await,
            C::Pasv => self.cmd_pasv().await,
            C::Epsv(a) => self.cmd_epsv(a).await,
            C::Port(a) | C::Eprt(a) => self.cmd_port(a).await,
            C::Retr(p) => self.cmd_retr(p).await,
            C::Stor(p) => self.cmd_stor(p, false).await,
            C::Appe(p) => self.cmd_stor(p, true).await,
            C::Abor => self.abort_transfer().await.map(|()| Flow::Continue),
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
            C::Auth(m) => self.cmd_auth(&m).await,
            C::Pbsz(n) => self.cmd_pbsz(n).await,
            C::Prot(l) => self.cmd_prot(l).await,
            C::Cksm {
                alg,
                offset,
                length,
                path,
            } => self.cmd_cksm(&alg, offset, length, &path).await,
            // A hint only: the kernel's autotuning sizes the buffers.
            C::Sbuf(_) => self.done(200, "SBUF command successful.").await,
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

    /// Sends a single-line reply and continues.
    pub(crate) async fn done(
        &mut self,
        code: u16,
        text: impl Into<String>,
    ) -> Result<Flow, FtpError> {
        self.reply(code, text).await.map_err(FtpError::Control)?;
        Ok(Flow::Continue)
    }

    /// A client path resolved against the working directory (lexically; confinement is
    /// the `DataRoot`'s job).
    pub(crate) fn resolve(&self, arg: &str) -> Result<VPath, FtpError> {
        Ok(self.cwd.resolve(arg)?)
    }

    /// Runs a blocking filesystem operation on the session's root off the runtime.
    pub(crate) async fn fs<T, F>(&self, op: F) -> Result<T, FtpError>
    where
        T: Send + 'static,
        F: FnOnce(&DataRoot) -> Result<T, StorageError> + Send + 'static,
    {
        let root = self
            .root
            .clone()
            .ok_or_else(|| FtpError::reply(530, "Please login with USER and PASS."))?;
        tokio::task::spawn_blocking(move || op(&root))
            .await
            .map_err(local_error)?
            .map_err(FtpError::from)
    }
}

impl Session {
    /// [`Session::fs`] for long work (checksums of huge files): `op` gets a flag that is
    /// set, and the wait ends, when the client closes the control connection or the
    /// server shuts down, so no abandoned computation keeps a thread or delays shutdown.
    pub(crate) async fn fs_long<T, F>(&self, op: F) -> Result<T, FtpError>
    where
        T: Send + 'static,
        F: FnOnce(&DataRoot, &AtomicBool) -> Result<T, StorageError> + Send + 'static,
    {
        let root = self
            .root
            .clone()
            .ok_or_else(|| FtpError::reply(530, "Please login with USER and PASS."))?;
        let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
        let flag = Arc::clone(&cancel.0);
        let mut task = tokio::task::spawn_blocking(move || op(&root, &flag));
        let control = self.ctrl.dup_socket();
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

/// Sets the flag when dropped: every way out of [`Session::fs_long`] cancels the work.
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
