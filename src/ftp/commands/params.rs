//! Transfer parameters: TYPE, MODE, STRU (RFC 959 §4.1.2) and REST (RFC 3659 §5).

use crate::ftp::control::DataType;
use crate::ftp::error::FtpError;
use crate::ftp::session::{Answer, SessionState};

impl SessionState {
    pub(crate) async fn cmd_type(&mut self, t: DataType) -> Result<Answer, FtpError> {
        self.params.ascii = t == DataType::Ascii;
        let text = if self.params.ascii {
            "Switching to ASCII mode."
        } else {
            "Switching to Binary mode."
        };
        Ok(Answer::reply(200, text))
    }

    pub(crate) async fn cmd_mode(&mut self, mode: char) -> Result<Answer, FtpError> {
        // Cached MODE E connections never carry a transfer in another mode.
        self.data.cached = None;
        match mode {
            'S' => {
                self.params.mode_e = false;
                Ok(Answer::reply(200, "Mode set to S."))
            }
            // Offered on this endpoint: the policy layer refused MODE E otherwise.
            'E' => {
                self.params.mode_e = true;
                Ok(Answer::reply(200, "Mode set to E."))
            }
            _ => Ok(Answer::reply(
                504,
                "Only stream mode (MODE S) is supported.",
            )),
        }
    }

    pub(crate) async fn cmd_stru(&mut self, stru: char) -> Result<Answer, FtpError> {
        match stru {
            'F' => Ok(Answer::reply(200, "Structure set to F.")),
            _ => Ok(Answer::reply(
                504,
                "Only file structure (STRU F) is supported.",
            )),
        }
    }

    pub(crate) async fn cmd_rest(&mut self, offset: u64) -> Result<Answer, FtpError> {
        self.params.restart_at(offset);
        let text = format!("Restarting at {offset}. Send STORE or RETRIEVE to initiate transfer.");
        Ok(Answer::reply(350, text))
    }
}
