//! RETR, STOR, APPE (RFC 959 §4.1.3) with REST offsets (RFC 3659 §5), and the GridFTP
//! forms: ERET P / ESTO A (GFD.20 partial retrieve, adjusted store) and MODE E restart
//! ranges (`REST s-e,…`). ABOR is handled by the session's transfer bookkeeping.

use crate::ftp::data::{FileSpan, Job};
use crate::ftp::error::FtpError;
use crate::ftp::session::{transfer, Answer, SessionState};
use crate::gridftp::ranges::RangeSet;
use crate::metrics::Direction;
use crate::storage::{StorageError, UploadMode};

/// Which part of a file a download sends.
struct Window {
    /// First byte (REST offset or ERET offset).
    start: u64,
    /// One past the last byte (ERET length), `None` for the end of the file.
    end: Option<u64>,
    /// MODE E block offsets are relative to this (ERET), else 0.
    base: u64,
}

impl SessionState {
    pub(crate) async fn cmd_retr(&mut self, arg: String) -> Result<Answer, FtpError> {
        let start = self.params.rest.take().unwrap_or(0);
        let window = Window {
            start,
            end: None,
            base: 0,
        };
        self.download("RETR", arg, window).await
    }

    /// `ERET P offset length path`: bytes [offset, offset + length) of the file.
    pub(crate) async fn cmd_eret(
        &mut self,
        arg: String,
        offset: u64,
        length: u64,
    ) -> Result<Answer, FtpError> {
        self.params.rest = None;
        let window = Window {
            start: offset,
            end: Some(offset.saturating_add(length)),
            base: offset,
        };
        self.download("ERET", arg, window).await
    }

    async fn download(
        &mut self,
        verb: &'static str,
        arg: String,
        window: Window,
    ) -> Result<Answer, FtpError> {
        self.transfer_preconditions()?;
        let path = self.login.resolve(&arg)?;
        let holes = self.params.rest_ranges.take();
        let p = path.clone();
        let (file, size) = self
            .fs(move |root| {
                let file = root.open_read(&p)?;
                let size = file.metadata().map_err(StorageError::from_io)?.len();
                Ok((file, size))
            })
            .await?;
        if window.start > size {
            return Err(StorageError::InvalidRestart.into());
        }
        let end = window.end.unwrap_or(size).min(size);
        let segments = match &holes {
            Some(have) if self.params.mode_e => missing(have, window.base, window.start, end),
            _ => vec![(window.start, end)],
        };
        let len: u64 = segments.iter().map(|(a, b)| b - a).sum();
        let kind = self.params.type_name();
        let opening = format!("Opening {kind} mode data connection for {path} ({len} bytes).");
        let job = Job::Send(FileSpan {
            file,
            segments,
            base: window.base,
        });
        Ok(transfer(
            verb,
            path.to_string(),
            Some(Direction::Download),
            job,
            opening,
        ))
    }

    pub(crate) async fn cmd_stor(&mut self, arg: String, append: bool) -> Result<Answer, FtpError> {
        let mode = self.params.take_upload_mode(append);
        let verb = if append { "APPE" } else { "STOR" };
        self.upload(verb, arg, mode, 0).await
    }

    /// `ESTO A offset path`: the data lands at `offset` (+ the MODE E block offsets); the
    /// existing file's first `offset` bytes are kept.
    pub(crate) async fn cmd_esto(&mut self, arg: String, offset: u64) -> Result<Answer, FtpError> {
        self.params.clear_restart();
        let mode = if offset == 0 {
            UploadMode::Replace
        } else {
            UploadMode::Resume(offset)
        };
        self.upload("ESTO", arg, mode, offset).await
    }

    async fn upload(
        &mut self,
        verb: &'static str,
        arg: String,
        mode: UploadMode,
        base: u64,
    ) -> Result<Answer, FtpError> {
        self.transfer_preconditions()?;
        let path = self.login.resolve(&arg)?;
        let p = path.clone();
        let upload = self.fs(move |root| root.begin_upload(&p, mode)).await?;
        let job = Job::Receive { upload, base };
        Ok(transfer(
            verb,
            path.to_string(),
            Some(Direction::Upload),
            job,
            "Ok to send data.".into(),
        ))
    }

    /// Checked before any file is opened, so a refused transfer leaves nothing behind.
    pub(crate) fn transfer_preconditions(&self) -> Result<(), FtpError> {
        self.check_data_protection()?;
        if !self.data.is_ready(self.params.mode_e) {
            return Err(FtpError::reply(425, "Use PORT, EPRT, PASV or EPSV first."));
        }
        Ok(())
    }
}

/// The parts of `[start, end)` the receiver does not have yet; `have` is relative to
/// `base` (MODE E offsets).
fn missing(have: &RangeSet, base: u64, start: u64, end: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut pos = start;
    for &(a, b) in have.ranges() {
        let (a, b) = (
            a.saturating_add(base).clamp(start, end),
            b.saturating_add(base).clamp(start, end),
        );
        if a > pos {
            out.push((pos, a));
        }
        pos = pos.max(b);
    }
    if pos < end {
        out.push((pos, end));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_is_the_complement_within_the_window() {
        let have = RangeSet::parse("0-100,200-300").unwrap();
        assert_eq!(missing(&have, 0, 0, 400), vec![(100, 200), (300, 400)]);
        assert_eq!(missing(&have, 0, 0, 250), vec![(100, 200)]);
        assert_eq!(missing(&have, 0, 150, 400), vec![(150, 200), (300, 400)]);
        assert_eq!(missing(&RangeSet::new(), 0, 10, 20), vec![(10, 20)]);
        assert!(missing(&RangeSet::parse("0-500").unwrap(), 0, 0, 400).is_empty());
        // ERET base: ranges are relative to the ERET offset.
        assert_eq!(
            missing(&have, 1000, 1000, 1400),
            vec![(1100, 1200), (1300, 1400)]
        );
    }
}
