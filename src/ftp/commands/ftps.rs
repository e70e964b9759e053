//! FTPS: AUTH TLS, PBSZ, PROT (RFC 4217 §4–9, RFC 2228 §3).

use crate::config::FtpTlsMode;
use crate::ftp::control::ProtLevel;
use crate::ftp::error::FtpError;
use crate::ftp::session::{Answer, Effect, Link, SessionState, State};

impl SessionState {
    pub(crate) async fn cmd_auth(
        &mut self,
        link: &Link<'_>,
        mechanism: &str,
    ) -> Result<Answer, FtpError> {
        if mechanism == "GSSAPI" {
            return self.auth_gssapi(link).await;
        }
        let Some(cfg) = self.ep.tls.clone() else {
            return Ok(Answer::reply(504, "AUTH not available: TLS is off."));
        };
        if !matches!(mechanism, "TLS" | "TLS-C" | "SSL") {
            return Ok(Answer::reply(504, "Unknown security mechanism."));
        }
        if link.is_tls() {
            return Ok(Answer::reply(503, "Already using TLS."));
        }
        if self.login.is_logged_in() {
            return Ok(Answer::reply(503, "AUTH must come before login."));
        }
        // RFC 4217 §6: a new security context resets the login state.
        self.login.state = State::Connected;
        Ok(Answer::reply(234, format!("AUTH {mechanism} successful.")).then(Effect::StartTls(cfg)))
    }

    /// RFC 4217 §8: TLS protects records of its own size, so the buffer size is 0.
    pub(crate) async fn cmd_pbsz(
        &mut self,
        link: &Link<'_>,
        size: u64,
    ) -> Result<Answer, FtpError> {
        if link.is_protected() {
            return self.gsi_pbsz(size).await;
        }
        if !link.is_tls() {
            return Ok(Answer::reply(503, "PBSZ requires AUTH TLS first."));
        }
        Ok(Answer::reply(200, "PBSZ=0"))
    }

    pub(crate) async fn cmd_prot(
        &mut self,
        link: &Link<'_>,
        level: ProtLevel,
    ) -> Result<Answer, FtpError> {
        if link.is_protected() {
            return self.gsi_prot(level).await;
        }
        if !link.is_tls() {
            return Ok(Answer::reply(503, "PROT requires AUTH TLS first."));
        }
        self.data.cached = None;
        match level {
            ProtLevel::Private => {
                self.security.prot_private = true;
                Ok(Answer::reply(200, "Protection level set to P."))
            }
            ProtLevel::Clear if self.ep.settings.tls_mode == FtpTlsMode::Required => {
                // SECURITY: with tls = "required" data never flows in clear text.
                Ok(Answer::reply(
                    534,
                    "Data connections must be protected (PROT P).",
                ))
            }
            ProtLevel::Clear => {
                self.security.prot_private = false;
                Ok(Answer::reply(200, "Protection level set to C."))
            }
            _ => Ok(Answer::reply(536, "Protection level not supported.")),
        }
    }

    /// Refusal for transfers that would send data in clear text under tls = "required".
    pub(crate) fn check_data_protection(&self) -> Result<(), FtpError> {
        if self.ep.settings.tls_mode == FtpTlsMode::Required && !self.security.prot_private {
            return Err(FtpError::reply(
                521,
                "Data connections must be protected (PROT P).",
            ));
        }
        Ok(())
    }
}
