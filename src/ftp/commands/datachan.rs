//! Data-channel set-up verbs: PASV, PORT (RFC 959 §4.1.2), EPSV, EPRT (RFC 2428 §2–4).
//! The FXP policy itself lives in `ftp::data::policy`; here it is applied to PORT/EPRT.

use std::net::{IpAddr, SocketAddr};

use crate::ftp::control::EpsvArg;
use crate::ftp::data::setup::{open_passive, PassiveListener};
use crate::ftp::data::DataSetup;
use crate::ftp::error::FtpError;
use crate::ftp::limits::Kind;
use crate::ftp::session::{Flow, Session};

impl Session {
    pub(crate) async fn cmd_pasv(&mut self) -> Result<Flow, FtpError> {
        if self.epsv_all {
            return self.done(503, "PASV not allowed after EPSV ALL.").await;
        }
        let IpAddr::V4(announce) = self.announced_ip() else {
            return self.done(425, "PASV needs IPv4: use EPSV.").await;
        };
        let port = self.listen_passive()?;
        let [h1, h2, h3, h4] = announce.octets();
        let text = format!(
            "Entering Passive Mode ({h1},{h2},{h3},{h4},{},{}).",
            port >> 8,
            port & 0xff
        );
        self.done(227, text).await
    }

    pub(crate) async fn cmd_epsv(&mut self, arg: EpsvArg) -> Result<Flow, FtpError> {
        match arg {
            EpsvArg::All => {
                self.epsv_all = true;
                return self.done(200, "EPSV ALL ok.").await;
            }
            EpsvArg::Proto(p) if (p == 1) != self.local.is_ipv4() => {
                return self
                    .done(522, "Network protocol not supported, use (1,2).")
                    .await;
            }
            _ => {}
        }
        let port = self.listen_passive()?;
        self.done(229, format!("Entering Extended Passive Mode (|||{port}|)."))
            .await
    }

    pub(crate) async fn cmd_port(&mut self, target: SocketAddr) -> Result<Flow, FtpError> {
        if self.epsv_all {
            return self.done(503, "PORT not allowed after EPSV ALL.").await;
        }
        self.reset_data_channel();
        self.ep
            .settings
            .policy
            .check_active_target(self.peer.ip(), target)?;
        self.data = DataSetup::Active(target);
        self.done(200, "PORT command successful.").await
    }

    /// Opens a passive listener on the control connection's local address (so it is
    /// reachable the same way) with a port from the configured range.
    pub(crate) fn listen_passive(&mut self) -> Result<u16, FtpError> {
        self.reset_data_channel();
        let slot = self
            .ep
            .clients
            .acquire(self.peer.ip(), Kind::Passive)
            .ok_or_else(|| {
                FtpError::reply(
                    425,
                    "Too many passive connections held by your address; use or close them first.",
                )
            })?;
        let listener = open_passive(self.local.ip(), self.ep.settings.passive_ports)
            .map_err(|e| FtpError::reply(425, format!("Can't open passive connection: {e}.")))?;
        let port = listener
            .local_addr()
            .map_err(|e| FtpError::reply(425, format!("Can't open passive connection: {e}.")))?
            .port();
        self.data = DataSetup::Passive(PassiveListener::new(listener, Some(slot)));
        self.passive_since = Some(tokio::time::Instant::now());
        Ok(port)
    }

    /// The address PASV announces: `public_host` (the NAT case: the address clients
    /// use), else the address the client reached us on.
    pub(crate) fn announced_ip(&self) -> IpAddr {
        self.ep
            .settings
            .public_ip
            .unwrap_or_else(|| self.local.ip().to_canonical())
    }
}
