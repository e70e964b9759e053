//! GSI login on the GridFTP endpoint: `AUTH GSSAPI`, `ADAT` (RFC 2228 §3–4 carrying Globus
//! GSI tokens), then `USER`/`PASS` mapped through the grid-mapfile (`:globus-mapping:`
//! takes the DN's first account).

use base64::Engine;
use tracing::{info, warn};

use crate::auth::Principal;
use crate::ftp::control::ProtLevel;
use crate::ftp::error::FtpError;
use crate::ftp::session::{Flow, Session, State};
use crate::gsi::datachan::{DataSecurity, Dcau};
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
        self.ctrl.allow_protected_lines();
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
                // GFD.20: after a GSI login data channels are authenticated by default
                // (when DCAU is advertised: clients assume it then).
                if self.ep.settings.advertise_dcau {
                    self.set_data_security(Dcau::Own, false);
                }
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
            name: account,
            root,
            can_write,
            anonymous: false,
        };
        self.enter(principal, crate::metrics::LoginMethod::Gsi, Some(&identity))
            .await
    }
}

impl Session {
    /// `DCAU N | A | S <subject>` (GFD.20): A and S need a GSI login (the delegated proxy
    /// is the data-channel credential).
    pub(crate) async fn cmd_dcau(&mut self, arg: &str) -> Result<Flow, FtpError> {
        let (mode, rest) = arg.split_once(' ').unwrap_or((arg, ""));
        let dcau = match mode.to_ascii_uppercase().as_str() {
            "N" => Dcau::None,
            "A" => Dcau::Own,
            "S" if !rest.trim().is_empty() => {
                Dcau::Subject(rest.trim().trim_matches('"').to_string())
            }
            _ => return self.done(501, "DCAU N, A or S <subject>.").await,
        };
        if dcau != Dcau::None && self.gsi_identity.is_none() {
            return self
                .done(504, "DCAU A and S need a GSI (gsiftp) login.")
                .await;
        }
        self.set_data_security(dcau.clone(), self.gsi_private);
        let text = match dcau {
            Dcau::None => "DCAU N.".to_string(),
            Dcau::Own => "DCAU A.".to_string(),
            Dcau::Subject(s) => format!("DCAU S {s}."),
        };
        self.done(200, text).await
    }

    /// PBSZ after a GSI login: any size is fine (TLS records are at most 16 KiB).
    pub(crate) async fn gsi_pbsz(&mut self, size: u64) -> Result<Flow, FtpError> {
        let size = size.clamp(1024, 1 << 20);
        self.done(200, format!("PBSZ={size}")).await
    }

    /// PROT after a GSI login: C (authenticated, then clear) or P (encrypted). S (integrity
    /// only) would need Globus' own MIC token format and is refused.
    pub(crate) async fn gsi_prot(&mut self, level: ProtLevel) -> Result<Flow, FtpError> {
        let private = match level {
            ProtLevel::Clear => false,
            ProtLevel::Private => true,
            _ => {
                return self
                    .done(536, "Requested PROT level not supported by mechanism.")
                    .await
            }
        };
        self.set_data_security(self.dcau.clone(), private);
        let text = if private { "P" } else { "C" };
        self.done(200, format!("Protection level set to {text}."))
            .await
    }

    pub(crate) fn set_data_security(&mut self, dcau: Dcau, private: bool) {
        self.dcau = dcau;
        self.gsi_private = private;
        self.data_sec = None;
        // Cached connections were secured (or not) under the old settings.
        self.cached = None;
    }

    /// Builds the data-channel security for the next transfer when DCAU is on.
    pub(crate) fn prepare_data_security(&mut self) -> Result<(), FtpError> {
        if self.dcau == Dcau::None || self.data_sec.is_some() {
            return Ok(());
        }
        let (Some(gsi), Some(identity)) = (self.ep.gsi.clone(), self.gsi_identity.clone()) else {
            return Err(FtpError::reply(425, "DCAU needs a GSI login."));
        };
        let Some(delegated) = self.ctrl.delegated() else {
            return Err(FtpError::reply(
                425,
                "DCAU needs a delegated credential: use DCAU N or delegate.",
            ));
        };
        let expect = match &self.dcau {
            Dcau::Subject(s) => s.clone(),
            _ => identity.dn.clone(),
        };
        let sec = DataSecurity::new(
            &delegated.chain,
            &delegated.key_pkcs8,
            gsi.verifier.clone(),
            expect,
            self.gsi_private,
        )
        .map_err(|e| FtpError::reply(425, format!("Cannot secure the data channel: {e}.")))?;
        self.data_sec = Some(std::sync::Arc::new(sec));
        Ok(())
    }
}
