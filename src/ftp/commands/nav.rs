//! PWD, CWD, CDUP (RFC 959 §4.1.1, §4.1.3).

use crate::ftp::control::reply::quote_path;
use crate::ftp::error::FtpError;
use crate::ftp::session::{Flow, Session};
use crate::storage::{FileKind, StorageError};

impl Session {
    pub(crate) async fn cmd_pwd(&mut self) -> Result<Flow, FtpError> {
        let text = format!(
            "{} is the current directory.",
            quote_path(self.cwd.as_str())
        );
        self.done(257, text).await
    }

    pub(crate) async fn cmd_cwd(&mut self, arg: &str) -> Result<Flow, FtpError> {
        let target = self.resolve(arg)?;
        let probe = target.clone();
        let facts = self.fs(move |root| root.stat(&probe)).await?;
        if facts.kind != FileKind::Dir {
            return Err(StorageError::NotADirectory.into());
        }
        self.cwd = target;
        self.done(250, "Directory successfully changed.").await
    }
}
