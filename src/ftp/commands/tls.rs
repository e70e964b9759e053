//! FTPS: AUTH TLS, PBSZ, PROT (RFC 4217 §4–9, RFC 2228 §3).

use crate::config::FtpTlsMode;
use crate::ftp::control::ProtLevel;
use crate::ftp::error::FtpError;
use crate::ftp::session::{Flow, Session, State};
use tracing::warn;

impl Session {
    pub(crate) async fn cmd_auth(&mut self, mechanism: &str) -> Result<Flow, FtpError> {
        if mechanism == "GSSAPI" {
            return self.auth_gssapi().await;
        }
        let Some(cfg) = self.ep.tls.clone() else {
            return self.done(504, "AUTH not available: TLS is off.").await;
        };
        if !matches!(mechanism, "TLS" | "TLS-C" | "SSL") {
            return self.done(504, "Unknown security mechanism.").await;
        }
        if self.ctrl.is_tls() {
            return self.done(503, "Already using TLS.").await;
        }
        if self.state == State::LoggedIn {
            return self.done(503, "AUTH must come before login.").await;
        }
        self.reply(234, format!("AUTH {mechanism} successful."))
            .await
            .map_err(FtpError::Control)?;
        let timeout = self.ep.settings.limits.login_timeout;
        if let Err(e) = self.ctrl.upgrade(cfg, timeout).await {
            // A failed handshake is a clean close, never a panic.
            warn!(error = %e, "TLS handshake on the control connection failed");
            return Ok(Flow::Close);
        }
        // RFC 4217 §6: a new security context resets the login state.
        self.state = State::Connected;
        Ok(Flow::Continue)
    }

    pub(crate) async fn cmd_pbsz(&mut self, _size: u64) -> Result<Flow, FtpError> {
        if self.ctrl.is_protected() {
            return self.gsi_pbsz(_size).await;
        }
        if !self.ctrl.is_tls() {
            return self.done(503, "PBSZ requires AUTH TLS first.").await;
        }
        self.pbsz = true;
        self.done(200, "PBSZ=0").await
    }

    pub(crate) async fn cmd_prot(&mut self, level: ProtLevel) -> Result<Flow, FtpError> {
        if self.ctrl.is_protected() {
            return self.gsi_prot(level).await;
        }
        if !self.ctrl.is_tls() {
            return self.done(503, "PROT requires AUTH TLS first.").await;
        }
        self.cached = None;
        match level {
            ProtLevel::Private => {
                self.prot_private = true;
                self.done(200, "Protection level set to P.").await
            }
            ProtLevel::Clear if self.ep.settings.tls_mode == FtpTlsMode::Required => {
                // SECURITY: with tls = "required" data never flows in clear text.
                self.done(534, "Data connections must be protected (PROT P).")
                    .await
            }
            ProtLevel::Clear => {
                self.prot_private = false;
                self.done(200, "Protection level set to C.").await
            }
            _ => self.done(536, "Protection level not supported.").await,
        }
    }

    /// Refusal for transfers that would send data in clear text under tls = "required".
    pub(crate) fn check_data_protection(&self) -> Result<(), FtpError> {
        if self.ep.settings.tls_mode == FtpTlsMode::Required && !self.prot_private {
            return Err(FtpError::reply(
                521,
                "Data connections must be protected (PROT P).",
            ));
        }
        Ok(())
    }
}
