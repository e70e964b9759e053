//! PWD, CWD, CDUP (RFC 959 §4.1.1, §4.1.3).

use crate::ftp::control::reply::quote_path;
use crate::ftp::error::FtpError;
use crate::ftp::session::{Answer, SessionState};
use crate::storage::{FileKind, StorageError};

impl SessionState {
    pub(crate) async fn cmd_pwd(&mut self) -> Result<Answer, FtpError> {
        let text = format!(
            "{} is the current directory.",
            quote_path(self.login.cwd.as_str())
        );
        Ok(Answer::reply(257, text))
    }

    pub(crate) async fn cmd_cwd(&mut self, arg: &str) -> Result<Answer, FtpError> {
        let target = self.login.resolve(arg)?;
        let probe = target.clone();
        let facts = self.fs(move |root| root.stat(&probe)).await?;
        if facts.kind != FileKind::Dir {
            return Err(StorageError::NotADirectory.into());
        }
        self.login.cwd = target;
        Ok(Answer::reply(250, "Directory successfully changed."))
    }
}
