//! USER, PASS, QUIT (RFC 959 §4.1.1) with the failed-login delay and limit.

use tracing::{info, warn};

use crate::auth::{Authenticator, Principal};
use crate::config::FtpTlsMode;
use crate::ftp::control::Secret;
use crate::ftp::error::FtpError;
use crate::ftp::session::{Flow, Session, State};
use crate::metrics::LoginMethod;

impl Session {
    pub(crate) async fn cmd_user(&mut self, user: String) -> Result<Flow, FtpError> {
        if self.state == State::LoggedIn {
            return self.done(503, "Already logged in.").await;
        }
        // SECURITY: with tls = "required", credentials never travel in clear text.
        if self.ep.settings.tls_mode == FtpTlsMode::Required
            && !self.ctrl.is_tls()
            && !self.ctrl.is_protected()
        {
            return self.done(530, "TLS required: send AUTH TLS first.").await;
        }
        let text = if self.gsi_identity.is_some() {
            "GSSAPI user authenticated; send PASS to log in."
        } else if Authenticator::is_anonymous_user(&user) {
            "Anonymous login ok, send your e-mail address as password."
        } else {
            "Password required."
        };
        self.state = State::AwaitPass { user };
        self.done(331, text).await
    }

    pub(crate) async fn cmd_pass(&mut self, pass: Secret) -> Result<Flow, FtpError> {
        let State::AwaitPass { user } = std::mem::replace(&mut self.state, State::Connected) else {
            return self.done(503, "Login with USER first.").await;
        };
        if self.gsi_identity.is_some() {
            return self.gsi_login(&user).await;
        }
        match self.ep.auth.login(&user, &pass.0).await {
            Ok(principal) => {
                let method = if principal.anonymous {
                    LoginMethod::Anonymous
                } else {
                    LoginMethod::Password
                };
                self.enter(principal, method, None).await
            }
            Err(e) => self.login_failed(&user, e).await,
        }
    }

    /// The end of every successful login: the principal's confined root, the log line
    /// (with the certificate identity for GSI), the metric, the session state and the 230.
    pub(crate) async fn enter(
        &mut self,
        principal: Principal,
        method: LoginMethod,
        identity: Option<&crate::gsi::Identity>,
    ) -> Result<Flow, FtpError> {
        let (rel, write) = (principal.root.clone(), principal.can_write);
        let root = self.ep.root.root();
        let sub = tokio::task::spawn_blocking(move || root.sub_root(&rel, write))
            .await
            .map_err(super::local_error)??;
        info!(
            user = %principal.name,
            dn = identity.map(|i| i.dn.as_str()),
            limited = identity.map(|i| i.limited),
            "login"
        );
        self.ep.metrics.logged_in(self.ep.label, method);
        let text = format!("User {} logged in.", principal.name);
        self.logged_in_as(principal, sub);
        self.done(230, text).await
    }

    async fn login_failed(
        &mut self,
        user: &str,
        err: crate::auth::AuthError,
    ) -> Result<Flow, FtpError> {
        warn!(user, error = %err, "login failed");
        self.ep.metrics.login_failed(self.ep.label);
        self.failures += 1;
        // SECURITY: slow down password guessing; the delay is the same for every cause.
        tokio::time::sleep(self.ep.settings.failed_login_delay).await;
        if self.failures >= self.ep.settings.max_login_failures {
            self.reply(421, "Too many failed logins.")
                .await
                .map_err(FtpError::Control)?;
            return Ok(Flow::Close);
        }
        self.done(530, "Login incorrect.").await
    }

    pub(crate) async fn cmd_quit(&mut self) -> Result<Flow, FtpError> {
        self.reply(221, "Goodbye.")
            .await
            .map_err(FtpError::Control)?;
        Ok(Flow::Close)
    }
}
