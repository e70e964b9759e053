//! File-system verbs: SIZE, MDTM (RFC 3659 §3–4), MFMT (draft-somers-ftp-mfxx), MKD, RMD,
//! DELE, RNFR, RNTO (RFC 959 §4.1.3).

use crate::ftp::control::reply::quote_path;
use crate::ftp::error::FtpError;
use crate::ftp::session::{Answer, SessionState};
use crate::storage::FileKind;

use super::listing::timeval;

impl SessionState {
    pub(crate) async fn cmd_size(&mut self, arg: &str) -> Result<Answer, FtpError> {
        let p = self.login.resolve(arg)?;
        let facts = self.fs(move |root| root.stat(&p)).await?;
        if facts.kind != FileKind::File {
            return Ok(Answer::reply(550, "Not a regular file."));
        }
        Ok(Answer::reply(213, facts.size.to_string()))
    }

    pub(crate) async fn cmd_mdtm(&mut self, arg: &str) -> Result<Answer, FtpError> {
        let p = self.login.resolve(arg)?;
        let facts = self.fs(move |root| root.stat(&p)).await?;
        Ok(Answer::reply(213, timeval(facts.mtime)))
    }

    pub(crate) async fn cmd_mfmt(&mut self, secs: i64, arg: &str) -> Result<Answer, FtpError> {
        let p = self.login.resolve(arg)?;
        let t = crate::utc::from_unix(secs)
            .ok_or_else(|| FtpError::reply(501, "MFMT: time out of range."))?;
        let q = p.clone();
        // Report what the file system kept: ext4, for one, clamps to 1901..2446.
        let facts = self
            .fs(move |root| {
                root.set_mtime(&q, t)?;
                root.stat(&q)
            })
            .await?;
        Ok(Answer::reply(
            213,
            format!("Modify={}; {}", timeval(facts.mtime), p),
        ))
    }

    pub(crate) async fn cmd_mkd(&mut self, arg: &str) -> Result<Answer, FtpError> {
        let p = self.login.resolve(arg)?;
        let q = p.clone();
        self.fs(move |root| root.create_dir(&q)).await?;
        Ok(Answer::reply(
            257,
            format!("{} created.", quote_path(p.as_str())),
        ))
    }

    pub(crate) async fn cmd_rmd(&mut self, arg: &str) -> Result<Answer, FtpError> {
        let p = self.login.resolve(arg)?;
        self.fs(move |root| root.remove_dir(&p)).await?;
        Ok(Answer::reply(250, "Directory removed."))
    }

    pub(crate) async fn cmd_dele(&mut self, arg: &str) -> Result<Answer, FtpError> {
        let p = self.login.resolve(arg)?;
        self.fs(move |root| root.remove_file(&p)).await?;
        Ok(Answer::reply(250, "File deleted."))
    }

    pub(crate) async fn cmd_rnfr(&mut self, arg: &str) -> Result<Answer, FtpError> {
        self.login.rnfr = None;
        let p = self.login.resolve(arg)?;
        let q = p.clone();
        self.fs(move |root| root.stat(&q)).await?;
        self.login.rnfr = Some(p);
        Ok(Answer::reply(350, "Ready for RNTO."))
    }

    pub(crate) async fn cmd_rnto(&mut self, arg: &str) -> Result<Answer, FtpError> {
        let Some(from) = self.login.rnfr.take() else {
            return Ok(Answer::reply(503, "RNFR required first."));
        };
        let to = self.login.resolve(arg)?;
        self.fs(move |root| root.rename(&from, &to)).await?;
        Ok(Answer::reply(250, "Rename successful."))
    }
}
