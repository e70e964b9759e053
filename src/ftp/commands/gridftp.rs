//! GridFTP verbs (GFD.20) other than the transfers: OPTS RETR Parallelism, DCAU, SBUF,
//! MODE E range REST, single-stripe SPAS/SPOR, and the SITE buffer/client-info commands
//! clients send. Offered where the endpoint's `Features` say so; the session's policy layer
//! refuses them elsewhere, so these handlers never ask which endpoint they are on.

use std::net::{IpAddr, SocketAddr};

use crate::ftp::control::{Reply, RetrOpts};
use crate::ftp::error::FtpError;
use crate::ftp::session::{Answer, SessionState};
use crate::gridftp::ranges::RangeSet;

impl SessionState {
    pub(crate) async fn opts_retr(&mut self, o: RetrOpts) -> Result<Answer, FtpError> {
        self.params.apply_retr_opts(o);
        Ok(Answer::reply(200, "OPTS Command Successful."))
    }
}

impl SessionState {
    /// `REST s-e,…`: MODE E only (stream mode restarts with `REST n`).
    pub(crate) async fn cmd_rest_ranges(&mut self, have: RangeSet) -> Result<Answer, FtpError> {
        if !self.params.mode_e {
            return Ok(Answer::reply(501, "Range restart needs MODE E."));
        }
        self.params.restart_ranges(have);
        Ok(Answer::reply(
            350,
            "Restart Marker OK. Send STORE or RETRIEVE to initiate transfer.",
        ))
    }

    /// `SPAS`: one passive address in the striped form clients parse (GFD.20 §"SPAS").
    pub(crate) async fn cmd_spas(&mut self) -> Result<Answer, FtpError> {
        let IpAddr::V4(announce) = self.announced_ip() else {
            return Ok(Answer::reply(425, "SPAS needs IPv4."));
        };
        let port = self.listen_passive()?;
        let [h1, h2, h3, h4] = announce.octets();
        let reply = Reply::multi(
            229,
            "Entering Striped Passive Mode.",
            vec![format!(
                " {h1},{h2},{h3},{h4},{},{}",
                port >> 8,
                port & 0xff
            )],
            "End",
        );
        Ok(reply.into())
    }

    /// `SPOR addr`: one stripe, so the same as PORT (FXP policy included).
    pub(crate) async fn cmd_spor(&mut self, target: SocketAddr) -> Result<Answer, FtpError> {
        self.cmd_port(target).await
    }
}
