//! USER, PASS, QUIT (RFC 959 §4.1.1) with the failed-login delay and limit.

use tracing::{info, warn};

use crate::auth::{Authenticator, Principal};
use crate::config::FtpTlsMode;
use crate::ftp::control::Secret;
use crate::ftp::error::FtpError;
use crate::ftp::session::{Answer, Effect, Link, SessionState, State};
use crate::metrics::LoginMethod;

impl SessionState {
    pub(crate) async fn cmd_user(
        &mut self,
        link: &Link<'_>,
        user: String,
    ) -> Result<Answer, FtpError> {
        if self.login.is_logged_in() {
            return Ok(Answer::reply(503, "Already logged in."));
        }
        // SECURITY: with tls = "required", credentials never travel in clear text.
        if self.ep.settings.tls_mode == FtpTlsMode::Required
            && !link.is_tls()
            && !link.is_protected()
        {
            return Ok(Answer::reply(530, "TLS required: send AUTH TLS first."));
        }
        let text = if self.security.gsi_identity.is_some() {
            "GSSAPI user authenticated; send PASS to log in."
        } else if Authenticator::is_anonymous_user(&user) {
            "Anonymous login ok, send your e-mail address as password."
        } else {
            "Password required."
        };
        self.login.state = State::AwaitPass { user };
        Ok(Answer::reply(331, text))
    }

    pub(crate) async fn cmd_pass(&mut self, pass: Secret) -> Result<Answer, FtpError> {
        let State::AwaitPass { user } = std::mem::replace(&mut self.login.state, State::Connected)
        else {
            return Ok(Answer::reply(503, "Login with USER first."));
        };
        if self.security.gsi_identity.is_some() {
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
    ) -> Result<Answer, FtpError> {
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
        Ok(Answer::reply(230, text))
    }

    async fn login_failed(
        &mut self,
        user: &str,
        err: crate::auth::AuthError,
    ) -> Result<Answer, FtpError> {
        warn!(user, error = %err, "login failed");
        self.ep.metrics.login_failed(self.ep.label);
        let failures = self.login.failed();
        // SECURITY: slow down password guessing; the delay is the same for every cause.
        tokio::time::sleep(self.ep.settings.failed_login_delay).await;
        if failures >= self.ep.settings.max_login_failures {
            return Ok(Answer::reply(421, "Too many failed logins.").then(Effect::Close));
        }
        Ok(Answer::reply(530, "Login incorrect."))
    }

    pub(crate) async fn cmd_quit(&mut self) -> Result<Answer, FtpError> {
        Ok(Answer::reply(221, "Goodbye.").then(Effect::Close))
    }
}
