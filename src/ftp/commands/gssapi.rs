//! GSI on the GridFTP endpoint: the login, `AUTH GSSAPI`, `ADAT` (RFC 2228 §3–4 carrying
//! Globus GSI tokens), then `USER`/`PASS` mapped through the grid-mapfile
//! (`:globus-mapping:` takes the DN's first account); and `DCAU` (GFD.20 data-channel
//! authentication with the delegated proxy). Named after the mechanism so it does not
//! shadow the top-level `gsi` module it calls.

use base64::Engine;
use tracing::{info, warn};

use crate::ftp::control::ProtLevel;
use crate::ftp::error::FtpError;
use crate::ftp::features::DcauOffer;
use crate::ftp::session::{Answer, Effect, Link, SessionState};
use crate::gsi::datachan::{DataSecurity, Dcau};
use crate::gsi::AdatStep;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl SessionState {
    pub(crate) async fn auth_gssapi(&mut self, link: &Link<'_>) -> Result<Answer, FtpError> {
        let Some(gsi) = self.ep.gsi.clone() else {
            return Ok(Answer::reply(504, "Unknown authentication type."));
        };
        if self.login.is_logged_in() || link.is_protected() {
            return Ok(Answer::reply(503, "Already authenticated."));
        }
        let ctx = gsi
            .context()
            .map_err(|e| FtpError::reply(431, format!("Cannot start GSSAPI: {e}.")))?;
        self.security.gsi_exchange = Some(Box::new(ctx));
        Ok(
            Answer::reply(334, "Using authentication type; ADAT must follow.")
                .then(Effect::ExpectAdat),
        )
    }

    pub(crate) async fn cmd_adat(&mut self, token: &str) -> Result<Answer, FtpError> {
        let Some(mut ctx) = self.security.gsi_exchange.take() else {
            return Ok(Answer::reply(503, "Send AUTH GSSAPI first."));
        };
        let step = B64
            .decode(token)
            .map_err(|_| crate::gsi::GsiError::BadToken)
            .and_then(|t| ctx.adat(&t));
        match step {
            Ok(AdatStep::Continue(out)) => {
                self.security.gsi_exchange = Some(ctx);
                Ok(Answer::reply(335, format!("ADAT={}", B64.encode(out))))
            }
            Ok(AdatStep::Complete) => {
                let identity = ctx.identity().cloned();
                let dn = identity.as_ref().map_or("-", |i| i.dn.as_str()).to_string();
                info!(dn = %dn, delegated = ctx.delegated().is_some(), "GSSAPI authentication");
                self.security.gsi_identity = identity;
                // GFD.20: after a GSI login data channels are authenticated by default
                // (when DCAU is advertised: clients assume it then).
                if self.features().dcau == DcauOffer::Advertised {
                    self.set_data_security(Dcau::Own, false);
                }
                // Every later command and reply is protected with this context.
                Ok(Answer::reply(235, "GSSAPI Authentication successful.")
                    .then(Effect::Protect(ctx)))
            }
            Err(e) => {
                warn!(error = %e, "GSSAPI authentication failed");
                self.ep.metrics.login_failed(self.ep.label);
                // SECURITY: a failed exchange leaves nothing behind; the client starts over.
                Ok(Answer::reply(530, format!("Authentication failed: {e}.")))
            }
        }
    }

    /// USER/PASS after a GSI exchange: the account comes from the grid-mapfile.
    pub(crate) async fn gsi_login(&mut self, requested: &str) -> Result<Answer, FtpError> {
        let (Some(identity), Some(gsi)) = (self.security.gsi_identity.clone(), self.ep.gsi.clone())
        else {
            return Ok(Answer::reply(530, "Login incorrect."));
        };
        let Some(principal) = gsi
            .principal(&identity, Some(requested), &self.ep.auth)
            .await
        else {
            warn!(dn = %identity.dn, requested, "GSI login refused: no grid-mapfile mapping");
            self.ep.metrics.login_failed(self.ep.label);
            return Ok(Answer::reply(
                530,
                format!("No local mapping for {}.", identity.dn),
            ));
        };
        self.enter(principal, crate::metrics::LoginMethod::Gsi, Some(&identity))
            .await
    }
}

impl SessionState {
    /// `DCAU N | A | S <subject>` (GFD.20): A and S need a GSI login (the delegated proxy
    /// is the data-channel credential).
    pub(crate) async fn cmd_dcau(&mut self, arg: &str) -> Result<Answer, FtpError> {
        let (mode, rest) = arg.split_once(' ').unwrap_or((arg, ""));
        let dcau = match mode.to_ascii_uppercase().as_str() {
            "N" => Dcau::None,
            "A" => Dcau::Own,
            "S" if !rest.trim().is_empty() => {
                Dcau::Subject(rest.trim().trim_matches('"').to_string())
            }
            _ => return Ok(Answer::reply(501, "DCAU N, A or S <subject>.")),
        };
        if dcau != Dcau::None && self.security.gsi_identity.is_none() {
            return Ok(Answer::reply(
                504,
                "DCAU A and S need a GSI (gsiftp) login.",
            ));
        }
        self.set_data_security(dcau.clone(), self.security.gsi_private);
        let text = match dcau {
            Dcau::None => "DCAU N.".to_string(),
            Dcau::Own => "DCAU A.".to_string(),
            Dcau::Subject(s) => format!("DCAU S {s}."),
        };
        Ok(Answer::reply(200, text))
    }

    /// PBSZ after a GSI login: any size is fine (TLS records are at most 16 KiB).
    pub(crate) async fn gsi_pbsz(&mut self, size: u64) -> Result<Answer, FtpError> {
        let size = size.clamp(1024, 1 << 20);
        Ok(Answer::reply(200, format!("PBSZ={size}")))
    }

    /// PROT after a GSI login: C (authenticated, then clear) or P (encrypted). S (integrity
    /// only) would need Globus' own MIC token format and is refused.
    pub(crate) async fn gsi_prot(&mut self, level: ProtLevel) -> Result<Answer, FtpError> {
        let private = match level {
            ProtLevel::Clear => false,
            ProtLevel::Private => true,
            _ => {
                return Ok(Answer::reply(
                    536,
                    "Requested PROT level not supported by mechanism.",
                ))
            }
        };
        self.set_data_security(self.security.dcau.clone(), private);
        let text = if private { "P" } else { "C" };
        Ok(Answer::reply(
            200,
            format!("Protection level set to {text}."),
        ))
    }

    pub(crate) fn set_data_security(&mut self, dcau: Dcau, private: bool) {
        self.security.set_data_protection(dcau, private);
        // Cached connections were secured (or not) under the old settings.
        self.data.cached = None;
    }

    /// Builds the data-channel security for the next transfer when DCAU is on, from the
    /// credential the client delegated during the GSI exchange.
    pub(crate) fn prepare_data_security(
        &mut self,
        delegated: Option<&crate::gsi::delegation::Delegated>,
    ) -> Result<(), FtpError> {
        if !self.security.needs_data_sec() {
            return Ok(());
        }
        let (Some(gsi), Some(identity)) = (self.ep.gsi.clone(), self.security.gsi_identity.clone())
        else {
            return Err(FtpError::reply(425, "DCAU needs a GSI login."));
        };
        let Some(delegated) = delegated else {
            return Err(FtpError::reply(
                425,
                "DCAU needs a delegated credential: use DCAU N or delegate.",
            ));
        };
        let expect = match &self.security.dcau {
            Dcau::Subject(s) => s.clone(),
            _ => identity.dn.clone(),
        };
        let sec = DataSecurity::new(
            &delegated.chain,
            &delegated.key_pkcs8,
            gsi.verifier.clone(),
            expect,
            self.security.gsi_private,
        )
        .map_err(|e| FtpError::reply(425, format!("Cannot secure the data channel: {e}.")))?;
        self.security.data_sec = Some(std::sync::Arc::new(sec));
        Ok(())
    }
}
