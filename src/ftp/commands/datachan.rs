//! Data-channel set-up verbs: PASV, PORT (RFC 959 §4.1.2), EPSV, EPRT (RFC 2428 §2–4).
//! The FXP policy itself lives in `ftp::data::policy`; here it is applied to PORT/EPRT.

use std::net::{IpAddr, SocketAddr};

use crate::ftp::control::EpsvArg;
use crate::ftp::data::setup::{open_passive, PassiveListener};
use crate::ftp::data::DataSetup;
use crate::ftp::error::FtpError;
use crate::ftp::limits::Kind;
use crate::ftp::session::{Answer, SessionState};

impl SessionState {
    pub(crate) async fn cmd_pasv(&mut self) -> Result<Answer, FtpError> {
        if self.data.epsv_all {
            return Ok(Answer::reply(503, "PASV not allowed after EPSV ALL."));
        }
        let IpAddr::V4(announce) = self.announced_ip() else {
            return Ok(Answer::reply(425, "PASV needs IPv4: use EPSV."));
        };
        let port = self.listen_passive()?;
        let [h1, h2, h3, h4] = announce.octets();
        let text = format!(
            "Entering Passive Mode ({h1},{h2},{h3},{h4},{},{}).",
            port >> 8,
            port & 0xff
        );
        Ok(Answer::reply(227, text))
    }

    pub(crate) async fn cmd_epsv(&mut self, arg: EpsvArg) -> Result<Answer, FtpError> {
        match arg {
            EpsvArg::All => {
                self.data.epsv_all = true;
                return Ok(Answer::reply(200, "EPSV ALL ok."));
            }
            EpsvArg::Proto(p) if (p == 1) != self.local.is_ipv4() => {
                return Ok(Answer::reply(
                    522,
                    "Network protocol not supported, use (1,2).",
                ));
            }
            _ => {}
        }
        let port = self.listen_passive()?;
        Ok(Answer::reply(
            229,
            format!("Entering Extended Passive Mode (|||{port}|)."),
        ))
    }

    pub(crate) async fn cmd_port(&mut self, target: SocketAddr) -> Result<Answer, FtpError> {
        if self.data.epsv_all {
            return Ok(Answer::reply(503, "PORT not allowed after EPSV ALL."));
        }
        self.data.reset();
        self.ep
            .settings
            .policy
            .check_active_target(self.peer.ip(), target)?;
        self.data.setup = DataSetup::Active(target);
        Ok(Answer::reply(200, "PORT command successful."))
    }

    /// Opens a passive listener on the control connection's local address (so it is
    /// reachable the same way) with a port from the configured range.
    pub(crate) fn listen_passive(&mut self) -> Result<u16, FtpError> {
        self.data.reset();
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
        self.data.set_passive(
            DataSetup::Passive(PassiveListener::new(listener, Some(slot))),
            tokio::time::Instant::now(),
        );
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
