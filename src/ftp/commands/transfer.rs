//! RETR, STOR, APPE (RFC 959 §4.1.3) with REST offsets (RFC 3659 §5); ABOR is handled
//! by the session's transfer bookkeeping.

use crate::ftp::data::Job;
use crate::ftp::error::FtpError;
use crate::ftp::session::{Flow, Session};
use crate::metrics::Direction;
use crate::storage::{StorageError, UploadMode};

impl Session {
    pub(crate) async fn cmd_retr(&mut self, arg: String) -> Result<Flow, FtpError> {
        self.transfer_preconditions()?;
        let path = self.resolve(&arg)?;
        let offset = self.rest.take().unwrap_or(0);
        let p = path.clone();
        let (file, size) = self
            .fs(move |root| {
                let file = root.open_read(&p)?;
                let size = file.metadata().map_err(StorageError::from_io)?.len();
                Ok((file, size))
            })
            .await?;
        if offset > size {
            return Err(StorageError::InvalidRestart.into());
        }
        let len = size - offset;
        let kind = if self.ascii { "ASCII" } else { "BINARY" };
        let opening = format!("Opening {kind} mode data connection for {path} ({len} bytes).");
        let job = Job::Send { file, offset, len };
        self.start_transfer(
            "RETR",
            path.to_string(),
            Some(Direction::Download),
            job,
            opening,
        )
        .await?;
        Ok(Flow::Continue)
    }

    pub(crate) async fn cmd_stor(&mut self, arg: String, append: bool) -> Result<Flow, FtpError> {
        self.transfer_preconditions()?;
        let path = self.resolve(&arg)?;
        let mode = match (append, self.rest.take()) {
            (true, _) => UploadMode::Append,
            (false, Some(n)) if n > 0 => UploadMode::Resume(n),
            (false, _) => UploadMode::Replace,
        };
        let p = path.clone();
        let upload = self.fs(move |root| root.begin_upload(&p, mode)).await?;
        let verb = if append { "APPE" } else { "STOR" };
        let job = Job::Receive { upload };
        self.start_transfer(
            verb,
            path.to_string(),
            Some(Direction::Upload),
            job,
            "Ok to send data.".into(),
        )
        .await?;
        Ok(Flow::Continue)
    }

    /// Checked before any file is opened, so a refused transfer leaves nothing behind.
    pub(crate) fn transfer_preconditions(&self) -> Result<(), FtpError> {
        self.check_data_protection()?;
        if self.data.is_none() {
            return Err(FtpError::reply(425, "Use PORT, EPRT, PASV or EPSV first."));
        }
        Ok(())
    }
}
