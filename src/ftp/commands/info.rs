//! Informational verbs: FEAT, OPTS (RFC 2389), HELP, STAT (RFC 959 §4.1.3), SITE (SITE
//! HELP, SITE CHMOD as vsftpd and globus-gridftp-server offer it).

use crate::ftp::control::{Opts, Reply};
use crate::ftp::error::FtpError;
use crate::ftp::session::{Flow, Session};

use super::listing::{long_line, Facts};

const HELP_VERBS: &str = "ABOR ACCT ALLO APPE AUTH CDUP CKSM CWD DELE EPRT EPSV FEAT HELP LIST MDTM MFMT MKD MLSD MLST MODE NLST NOOP OPTS PASS PASV PBSZ PORT PROT PWD QUIT REST RETR RMD RNFR RNTO SITE SIZE STAT STOR STRU SYST TYPE USER";

impl Session {
    /// FEAT (RFC 2389 §3): exactly what works on this endpoint.
    pub(crate) async fn cmd_feat(&mut self) -> Result<Flow, FtpError> {
        let mut lines: Vec<String> = Vec::new();
        if self.ep.tls.is_some() {
            lines.extend([" AUTH TLS".into(), " PBSZ".into(), " PROT".into()]);
        }
        lines.push(" CKSM ADLER32;MD5;SHA1;SHA256;SHA512;CRC32C;".into());
        lines.extend([" EPRT", " EPSV"].map(String::from));
        // DCAU only on request ([gridftp] advertise_dcau): Globus clients that connect to
        // us send the certificate CN as TLS SNI ("Test User"), which rustls 0.23 refuses.
        if self.ep.gsi.is_some() && self.ep.settings.advertise_dcau {
            lines.push(" DCAU".into());
        }
        if self.is_gridftp() {
            lines.extend([" ERET", " ESTO"].map(String::from));
        }
        lines.extend([" MDTM", " MFMT"].map(String::from));
        lines.push(format!(" MLST {}", self.mlst_facts.feat_line()));
        lines.push(" PASV".into());
        if self.is_gridftp() {
            lines.push(" PARALLEL".into());
        }
        lines.extend([" REST STREAM", " SIZE"].map(String::from));
        if self.is_gridftp() {
            lines.extend([" SPAS", " SPOR"].map(String::from));
        }
        lines.extend([" TVFS", " UTF8"].map(String::from));
        self.send(&Reply::multi(211, "Features:", lines, "End"))
            .await?;
        Ok(Flow::Continue)
    }

    pub(crate) async fn cmd_opts(&mut self, opts: Opts) -> Result<Flow, FtpError> {
        match opts {
            Opts::Utf8(true) => self.done(200, "Always in UTF8 mode.").await,
            Opts::Utf8(false) => self.done(504, "UTF8 cannot be turned off.").await,
            Opts::Mlst(names) => {
                self.mlst_facts = Facts::select(&names);
                let text = format!("MLST OPTS {}", self.mlst_facts.selected());
                self.done(200, text).await
            }
            Opts::Retr(o) => self.opts_retr(o).await,
            Opts::Other(name) => {
                self.done(501, format!("Option {name} not understood."))
                    .await
            }
        }
    }

    pub(crate) async fn cmd_help(&mut self) -> Result<Flow, FtpError> {
        let mut body = vec![format!(" {HELP_VERBS}")];
        if self.is_gridftp() {
            body.push(" DCAU ERET ESTO SBUF SPAS SPOR".into());
        }
        self.send(&Reply::multi(
            214,
            "The following commands are recognized:",
            body,
            "Help OK.",
        ))
        .await?;
        Ok(Flow::Continue)
    }

    pub(crate) async fn cmd_stat(&mut self, arg: Option<String>) -> Result<Flow, FtpError> {
        if let Some(status) = self.transfer_status() {
            return self.done(213, format!("Status: {status}.")).await;
        }
        match arg {
            None => self.stat_session().await,
            Some(path) => self.stat_path(&path).await,
        }
    }

    async fn stat_session(&mut self) -> Result<Flow, FtpError> {
        let body = vec![
            format!(" Connected from {}", self.peer),
            format!(" Logged in as {}", self.user_name()),
            format!(" TYPE: {}", if self.ascii { "ASCII" } else { "BINARY" }),
            format!(
                " Control connection: {}",
                if self.ctrl.is_tls() {
                    "TLS"
                } else {
                    "clear text"
                }
            ),
            format!(
                " Data connections: {}",
                if self.prot_private {
                    "TLS"
                } else {
                    "clear text"
                }
            ),
        ];
        self.send(&Reply::multi(
            211,
            "griddock status:",
            body,
            "End of status.",
        ))
        .await?;
        Ok(Flow::Continue)
    }

    /// `STAT path`: the LIST output over the control connection.
    async fn stat_path(&mut self, arg: &str) -> Result<Flow, FtpError> {
        let p = self.resolve(arg)?;
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
        self.send(&Reply::multi(
            213,
            format!("Status of {p}:"),
            body,
            "End of status.",
        ))
        .await?;
        Ok(Flow::Continue)
    }

    pub(crate) async fn cmd_site(&mut self, args: String) -> Result<Flow, FtpError> {
        let (sub, rest) = args.split_once(' ').unwrap_or((&args, ""));
        match sub.to_ascii_uppercase().as_str() {
            "HELP" => {
                self.done(
                    214,
                    "SITE commands: HELP CHMOD CLIENTINFO RETRBUFSIZE STORBUFSIZE",
                )
                .await
            }
            "CHMOD" => self.site_chmod(rest).await,
            "CLIENTINFO" | "RETRBUFSIZE" | "STORBUFSIZE" | "BUFSIZE" => {
                self.gridftp_only(200, "SITE command successful.").await
            }
            _ => self.done(500, "Unknown SITE command.").await,
        }
    }

    /// `SITE CHMOD 0644 path` (permission bits only).
    async fn site_chmod(&mut self, args: &str) -> Result<Flow, FtpError> {
        let Some((mode, path)) = args.split_once(' ').filter(|(_, p)| !p.is_empty()) else {
            return self.done(501, "SITE CHMOD: expected mode and path.").await;
        };
        let Ok(mode) = u32::from_str_radix(mode, 8) else {
            return self.done(501, "SITE CHMOD: mode must be octal.").await;
        };
        // SECURITY: SITE is not a write verb for the policy layer, so check here.
        if !self.can_write() {
            return self.done(550, "Permission denied.").await;
        }
        let p = self.resolve(path)?;
        self.fs(move |root| root.chmod(&p, mode & 0o777)).await?;
        self.done(200, "SITE CHMOD command ok.").await
    }
}
