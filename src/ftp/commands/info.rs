//! Informational verbs: FEAT, OPTS (RFC 2389), HELP, STAT (RFC 959 §4.1.3), SITE (SITE
//! HELP, SITE CHMOD as vsftpd and globus-gridftp-server offer it).

use crate::ftp::control::{Opts, Reply};
use crate::ftp::error::FtpError;
use crate::ftp::session::{Answer, Link, SessionState};

use super::listing::long_line;
use crate::ftp::mlst_facts::Facts;

impl SessionState {
    /// FEAT (RFC 2389 §3): exactly what works on this endpoint (`ftp::features`).
    pub(crate) async fn cmd_feat(&mut self) -> Result<Answer, FtpError> {
        let lines = self
            .features()
            .feat_lines(&self.params.mlst_facts.feat_line());
        Ok(Reply::multi(211, "Features:", lines, "End").into())
    }

    pub(crate) async fn cmd_opts(&mut self, opts: Opts) -> Result<Answer, FtpError> {
        match opts {
            Opts::Utf8(true) => Ok(Answer::reply(200, "Always in UTF8 mode.")),
            Opts::Utf8(false) => Ok(Answer::reply(504, "UTF8 cannot be turned off.")),
            Opts::Mlst(names) => {
                self.params.mlst_facts = Facts::select(&names);
                let text = format!("MLST OPTS {}", self.params.mlst_facts.selected());
                Ok(Answer::reply(200, text))
            }
            Opts::Retr(o) => self.opts_retr(o).await,
            Opts::Other(name) => Ok(Answer::reply(501, format!("Option {name} not understood."))),
        }
    }

    pub(crate) async fn cmd_help(&mut self) -> Result<Answer, FtpError> {
        let body = self.features().help_lines();
        Ok(Reply::multi(
            214,
            "The following commands are recognized:",
            body,
            "Help OK.",
        )
        .into())
    }

    pub(crate) async fn cmd_stat(
        &mut self,
        link: &Link<'_>,
        arg: Option<String>,
    ) -> Result<Answer, FtpError> {
        if let Some(status) = link.transfer_status() {
            return Ok(Answer::reply(213, format!("Status: {status}.")));
        }
        match arg {
            None => self.stat_session(link).await,
            Some(path) => self.stat_path(&path).await,
        }
    }

    async fn stat_session(&mut self, link: &Link<'_>) -> Result<Answer, FtpError> {
        let body = vec![
            format!(" Connected from {}", self.peer),
            format!(" Logged in as {}", self.login.user_name()),
            format!(" TYPE: {}", self.params.type_name()),
            format!(
                " Control connection: {}",
                if link.is_tls() { "TLS" } else { "clear text" }
            ),
            format!(
                " Data connections: {}",
                if self.security.prot_private {
                    "TLS"
                } else {
                    "clear text"
                }
            ),
        ];
        Ok(Reply::multi(211, "griddock status:", body, "End of status.").into())
    }

    /// `STAT path`: the LIST output over the control connection.
    async fn stat_path(&mut self, arg: &str) -> Result<Answer, FtpError> {
        let p = self.login.resolve(arg)?;
        let q = p.clone();
        let entries = self
            .fs(move |root| {
                let facts = root.stat(&q)?;
                if facts.kind == crate::storage::FileKind::Dir {
                    root.list(&q)
                } else {
                    Ok(vec![crate::storage::DirEntry {
                        name: q.file_name().unwrap_or("/").into(),
                        facts,
                    }])
                }
            })
            .await?;
        let now = std::time::SystemTime::now();
        let body = entries
            .iter()
            .map(|e| long_line(&e.name, &e.facts, now))
            .collect();
        Ok(Reply::multi(213, format!("Status of {p}:"), body, "End of status.").into())
    }

    pub(crate) async fn cmd_site(&mut self, args: String) -> Result<Answer, FtpError> {
        let (sub, rest) = args.split_once(' ').unwrap_or((&args, ""));
        match sub.to_ascii_uppercase().as_str() {
            "HELP" => {
                let text = self.features().site_help();
                Ok(Answer::reply(214, text))
            }
            "CHMOD" => self.site_chmod(rest).await,
            // Offered on this endpoint (the policy layer refused them otherwise).
            "CLIENTINFO" | "RETRBUFSIZE" | "STORBUFSIZE" | "BUFSIZE" => {
                Ok(Answer::reply(200, "SITE command successful."))
            }
            _ => Ok(Answer::reply(500, "Unknown SITE command.")),
        }
    }

    /// `SITE CHMOD 0644 path` (permission bits only).
    async fn site_chmod(&mut self, args: &str) -> Result<Answer, FtpError> {
        let Some((mode, path)) = args.split_once(' ').filter(|(_, p)| !p.is_empty()) else {
            return Ok(Answer::reply(501, "SITE CHMOD: expected mode and path."));
        };
        let Ok(mode) = u32::from_str_radix(mode, 8) else {
            return Ok(Answer::reply(501, "SITE CHMOD: mode must be octal."));
        };
        // SECURITY: SITE is not a write verb for the policy layer, so check here.
        if !self.login.can_write() {
            return Ok(Answer::reply(550, "Permission denied."));
        }
        let p = self.login.resolve(path)?;
        self.fs(move |root| root.chmod(&p, mode & 0o777)).await?;
        Ok(Answer::reply(200, "SITE CHMOD command ok."))
    }
}
