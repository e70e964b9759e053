//! GSI login on the GridFTP endpoint: `AUTH GSSAPI`, `ADAT` (RFC 2228 §3–4 carrying Globus
//! GSI tokens), then `USER`/`PASS` mapped through the grid-mapfile (`:globus-mapping:`
//! takes the DN's first account).

use base64::Engine;
use tracing::{info, warn};

use crate::auth::Principal;
use crate::ftp::error::FtpError;
use crate::ftp::session::{Flow, Session, State};
use crate::gsi::AdatStep;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl Session {
    pub(crate) async fn auth_gssapi(&mut self) -> Result<Flow, FtpError> {
        let Some(gsi) = self.ep.gsi.clone() else {
            return self.done(504, "Unknown authentication type.").await;
        };
        if self.state == State::LoggedIn || self.ctrl.is_protected() {
            return self.done(503, "Already authenticated.").await;
        }
        let ctx = gsi
            .context()
            .map_err(|e| FtpError::reply(431, format!("Cannot start GSSAPI: {e}.")))?;
        self.gsi_exchange = Some(Box::new(ctx));
        self.done(334, "Using authentication type; ADAT must follow.")
            .await
    }

    pub(crate) async fn cmd_adat(&mut self, token: &str) -> Result<Flow, FtpError> {
        let Some(mut ctx) = self.gsi_exchange.take() else {
            return self.done(503, "Send AUTH GSSAPI first.").await;
        };
        let step = B64
            .decode(token)
            .map_err(|_| crate::gsi::GsiError::BadToken)
            .and_then(|t| ctx.adat(&t));
        match step {
            Ok(AdatStep::Continue(out)) => {
                self.gsi_exchange = Some(ctx);
                self.done(335, format!("ADAT={}", B64.encode(out))).await
            }
            Ok(AdatStep::Complete) => {
                let identity = ctx.identity().cloned();
                let dn = identity.as_ref().map_or("-", |i| i.dn.as_str()).to_string();
                info!(dn = %dn, delegated = ctx.delegated().is_some(), "GSSAPI authentication");
                self.done(235, "GSSAPI Authentication successful.").await?;
                // Every later command and reply is protected with this context.
                self.ctrl.protect(ctx);
                self.gsi_identity = identity;
                Ok(Flow::Continue)
            }
            Err(e) => {
                warn!(error = %e, "GSSAPI authentication failed");
                self.ep.metrics.login_failed(self.ep.label);
                // SECURITY: a failed exchange leaves nothing behind; the client starts over.
                self.done(530, format!("Authentication failed: {e}.")).await
            }
        }
    }

    /// USER/PASS after a GSI exchange: the account comes from the grid-mapfile.
    pub(crate) async fn gsi_login(&mut self, requested: &str) -> Result<Flow, FtpError> {
        let (Some(identity), Some(gsi)) = (self.gsi_identity.clone(), self.ep.gsi.clone()) else {
            return self.done(530, "Login incorrect.").await;
        };
        let table = gsi.gridmap.table();
        let accounts = table.accounts(&identity.dn);
        let chosen = if requested.is_empty() || requested == ":globus-mapping:" {
            accounts.first()
        } else {
            accounts.iter().find(|a| *a == requested)
        };
        let Some(account) = chosen.cloned() else {
            warn!(dn = %identity.dn, requested, "GSI login refused: no grid-mapfile mapping");
            self.ep.metrics.login_failed(self.ep.label);
            return self
                .done(530, format!("No local mapping for {}.", identity.dn))
                .await;
        };
        let (root, can_write) = self.ep.auth.account(&account);
        // SECURITY: a limited proxy reads but does not write unless the site allows it.
        let can_write = can_write && (!identity.limited || gsi.limited_proxy_write);
        let principal = Principal {
            name: account.clone(),
            root,
            can_write,
            anonymous: false,
        };
        let (rel, write) = (principal.root.clone(), principal.can_write);
        let base = self.ep.root.clone();
        let sub = tokio::task::spawn_blocking(move || base.sub_root(&rel, write))
            .await
            .map_err(|e| FtpError::reply(451, format!("Local error: {e}.")))??;
        info!(user = %account, dn = %identity.dn, limited = identity.limited, "login");
        self.logged_in_as(principal, sub);
        self.done(230, format!("User {account} logged in.")).await
    }
}
