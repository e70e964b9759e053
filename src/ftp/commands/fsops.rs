//! File-system verbs: SIZE, MDTM (RFC 3659 §3–4), MFMT (draft-somers-ftp-mfxx), MKD, RMD,
//! DELE, RNFR, RNTO (RFC 959 §4.1.3).

use crate::ftp::control::reply::quote_path;
use crate::ftp::error::FtpError;
use crate::ftp::session::{Flow, Session};
use crate::storage::FileKind;

use super::listing::timeval;

impl Session {
    pub(crate) async fn cmd_size(&mut self, arg: &str) -> Result<Flow, FtpError> {
        let p = self.resolve(arg)?;
        let facts = self.fs(move |root| root.stat(&p)).await?;
        if facts.kind != FileKind::File {
            return self.done(550, "Not a regular file.").await;
        }
        self.done(213, facts.size.to_string()).await
    }

    pub(crate) async fn cmd_mdtm(&mut self, arg: &str) -> Result<Flow, FtpError> {
        let p = self.resolve(arg)?;
        let facts = self.fs(move |root| root.stat(&p)).await?;
        self.done(213, timeval(facts.mtime)).await
    }

    pub(crate) async fn cmd_mfmt(&mut self, secs: i64, arg: &str) -> Result<Flow, FtpError> {
        let p = self.resolve(arg)?;
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
        self.done(213, format!("Modify={}; {}", timeval(facts.mtime), p))
            .await
    }

    pub(crate) async fn cmd_mkd(&mut self, arg: &str) -> Result<Flow, FtpError> {
        let p = self.resolve(arg)?;
        let q = p.clone();
        self.fs(move |root| root.create_dir(&q)).await?;
        self.done(257, format!("{} created.", quote_path(p.as_str())))
            .await
    }

    pub(crate) async fn cmd_rmd(&mut self, arg: &str) -> Result<Flow, FtpError> {
        let p = self.resolve(arg)?;
        self.fs(move |root| root.remove_dir(&p)).await?;
        self.done(250, "Directory removed.").await
    }

    pub(crate) async fn cmd_dele(&mut self, arg: &str) -> Result<Flow, FtpError> {
        let p = self.resolve(arg)?;
        self.fs(move |root| root.remove_file(&p)).await?;
        self.done(250, "File deleted.").await
    }

    pub(crate) async fn cmd_rnfr(&mut self, arg: &str) -> Result<Flow, FtpError> {
        self.rnfr = None;
        let p = self.resolve(arg)?;
        let q = p.clone();
        self.fs(move |root| root.stat(&q)).await?;
        self.rnfr = Some(p);
        self.done(350, "Ready for RNTO.").await
    }

    pub(crate) async fn cmd_rnto(&mut self, arg: &str) -> Result<Flow, FtpError> {
        let Some(from) = self.rnfr.take() else {
            return self.done(503, "RNFR required first.").await;
        };
        let to = self.resolve(arg)?;
        self.fs(move |root| root.rename(&from, &to)).await?;
        self.done(250, "Rename successful.").await
    }
}
