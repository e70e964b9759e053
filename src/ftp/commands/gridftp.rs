//! GridFTP parameter verbs (GFD.20): OPTS RETR Parallelism, DCAU, SBUF and the SITE
//! buffer/client-info commands clients send. Accepted on the GridFTP endpoint only.

use crate::ftp::error::FtpError;
use crate::ftp::session::{Flow, Session};
use crate::metrics::Endpoint;

impl Session {
    pub(crate) fn is_gridftp(&self) -> bool {
        self.ep.label == Endpoint::Gridftp
    }

    /// A fixed positive reply on the GridFTP endpoint, 500 on the FTP endpoint.
    pub(crate) async fn gridftp_only(&mut self, code: u16, text: &str) -> Result<Flow, FtpError> {
        if !self.is_gridftp() {
            return self.done(500, "Command not understood.").await;
        }
        self.done(code, text.to_string()).await
    }

    pub(crate) async fn opts_retr(&mut self, parallelism: u32) -> Result<Flow, FtpError> {
        if !self.is_gridftp() {
            return self.done(501, "Option RETR not understood.").await;
        }
        self.parallelism = parallelism;
        self.done(200, "OPTS Command Successful.").await
    }

    /// Only `DCAU N` until data-channel security exists (FEAT does not list DCAU).
    pub(crate) async fn cmd_dcau(&mut self, mode: &str) -> Result<Flow, FtpError> {
        if !self.is_gridftp() {
            return self.done(500, "Command not understood.").await;
        }
        if mode.eq_ignore_ascii_case("N") {
            return self.done(200, "DCAU N.").await;
        }
        self.done(504, "Only DCAU N is supported.").await
    }
}
