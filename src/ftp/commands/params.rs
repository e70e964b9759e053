//! Transfer parameters: TYPE, MODE, STRU (RFC 959 §4.1.2) and REST (RFC 3659 §5).

use crate::ftp::control::DataType;
use crate::ftp::error::FtpError;
use crate::ftp::session::{Flow, Session};

impl Session {
    pub(crate) async fn cmd_type(&mut self, t: DataType) -> Result<Flow, FtpError> {
        self.ascii = t == DataType::Ascii;
        let text = if self.ascii {
            "Switching to ASCII mode."
        } else {
            "Switching to Binary mode."
        };
        self.done(200, text).await
    }

    pub(crate) async fn cmd_mode(&mut self, mode: char) -> Result<Flow, FtpError> {
        // Cached MODE E connections never carry a transfer in another mode.
        self.cached = None;
        match mode {
            'S' => {
                self.mode_e = false;
                self.done(200, "Mode set to S.").await
            }
            'E' if self.is_gridftp() => {
                self.mode_e = true;
                self.done(200, "Mode set to E.").await
            }
            _ => {
                self.done(504, "Only stream mode (MODE S) is supported.")
                    .await
            }
        }
    }

    pub(crate) async fn cmd_stru(&mut self, stru: char) -> Result<Flow, FtpError> {
        match stru {
            'F' => self.done(200, "Structure set to F.").await,
            _ => {
                self.done(504, "Only file structure (STRU F) is supported.")
                    .await
            }
        }
    }

    pub(crate) async fn cmd_rest(&mut self, offset: u64) -> Result<Flow, FtpError> {
        self.rest = Some(offset);
        self.rest_ranges = None;
        let text = format!("Restarting at {offset}. Send STORE or RETRIEVE to initiate transfer.");
        self.done(350, text).await
    }
}
