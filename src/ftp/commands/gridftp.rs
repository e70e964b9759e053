//! GridFTP verbs (GFD.20) other than the transfers: OPTS RETR Parallelism, DCAU, SBUF,
//! MODE E range REST, single-stripe SPAS/SPOR, and the SITE buffer/client-info commands
//! clients send. Accepted on the GridFTP endpoint only.

use std::net::{IpAddr, SocketAddr};

use crate::ftp::control::{Reply, RetrOpts};
use crate::ftp::error::FtpError;
use crate::ftp::session::{Flow, Session};
use crate::gridftp::ranges::RangeSet;
use crate::metrics::Endpoint;

impl Session {
    pub(crate) fn is_gridftp(&self) -> bool {
        self.ep.label == Endpoint::Gridftp
    }

    /// A fixed positive reply on the GridFTP endpoint, 500 on the FTP endpoint (for SITE
    /// subcommands; GridFTP verbs are checked once, in the session's policy).
    pub(crate) async fn gridftp_only(&mut self, code: u16, text: &str) -> Result<Flow, FtpError> {
        if !self.is_gridftp() {
            return self.done(500, "Command not understood.").await;
        }
        self.done(code, text.to_string()).await
    }

    pub(crate) async fn opts_retr(&mut self, o: RetrOpts) -> Result<Flow, FtpError> {
        if !self.is_gridftp() {
            return self.done(501, "Option RETR not understood.").await;
        }
        if let Some(n) = o.parallelism {
            self.parallelism = n;
        }
        if let Some(b) = o.block_size {
            self.block_size = b;
        }
        self.done(200, "OPTS Command Successful.").await
    }
}

impl Session {
    /// `REST s-e,…`: MODE E only (stream mode restarts with `REST n`).
    pub(crate) async fn cmd_rest_ranges(&mut self, have: RangeSet) -> Result<Flow, FtpError> {
        if !self.is_gridftp() || !self.mode_e {
            return self.done(501, "Range restart needs MODE E.").await;
        }
        self.rest = None;
        self.rest_ranges = Some(have);
        self.done(
            350,
            "Restart Marker OK. Send STORE or RETRIEVE to initiate transfer.",
        )
        .await
    }

    /// `SPAS`: one passive address in the striped form clients parse (GFD.20 §"SPAS").
    pub(crate) async fn cmd_spas(&mut self) -> Result<Flow, FtpError> {
        let IpAddr::V4(announce) = self.announced_ip() else {
            return self.done(425, "SPAS needs IPv4.").await;
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
        self.send(&reply).await?;
        Ok(Flow::Continue)
    }

    /// `SPOR addr`: one stripe, so the same as PORT (FXP policy included).
    pub(crate) async fn cmd_spor(&mut self, target: SocketAddr) -> Result<Flow, FtpError> {
        self.cmd_port(target).await
    }
}
