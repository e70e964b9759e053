//! What one endpoint of the FTP engine offers, built once at start from that endpoint's own
//! config section: the GridFTP extensions of GFD.20 (MODE E, restart/performance markers,
//! ERET/ESTO, SPAS/SPOR, DCAU, SBUF) and GFD.47 (CKSM), GSI (RFC 2228 with Globus tokens)
//! and explicit FTPS (RFC 4217). FEAT (RFC 2389 §3) and HELP are derived from it and the
//! verb table (`control::verbs`), and the session's policy layer refuses a verb the
//! endpoint does not offer from it, in one place.
//!
//! Sans-I/O: plain values and pure functions, tested by table below.

use std::time::Duration;

use crate::config::{FtpConfig, FtpTlsMode, GridftpConfig};
use crate::ftp::control::verbs::{self, Need, VERBS};
use crate::ftp::control::{Command, Opts, ParseError};

/// Something this endpoint does not offer: the one refusal the session's policy layer
/// gives, whatever the verb (mapped to a reply in `ftp::error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotOffered {
    /// A verb this endpoint does not have (RFC 959 502 "Command not implemented").
    #[error("{0} not implemented on this endpoint")]
    Verb(&'static str),
    /// A parameter this endpoint does not have, of a verb it has (RFC 959 504 "Command not
    /// implemented for that parameter"): `MODE E` on the plain FTP endpoint.
    #[error("{verb} {param} not implemented on this endpoint")]
    Parameter {
        verb: &'static str,
        param: &'static str,
    },
}

/// How an endpoint offers DCAU (GFD.20 data-channel authentication).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DcauOffer {
    /// No DCAU verb (the plain FTP endpoint).
    Off,
    /// `DCAU N|A|S` accepted but not in FEAT, and sessions start with `DCAU N` (GridFTP
    /// without GSI, or `advertise_dcau = false`).
    Accepted,
    /// In FEAT, and a GSI login starts with `DCAU A`, as globus-gridftp-server does.
    Advertised,
}

/// The features of one endpoint. Every test of "which endpoint is this" asks one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// RFC 4217 explicit FTPS: `AUTH TLS`, `PBSZ`, `PROT` on a clear control connection.
    pub ftps: bool,
    /// GSI logins: `AUTH GSSAPI` and `ADAT` (RFC 2228 §3 with Globus GSI tokens).
    pub gsi: bool,
    pub dcau: DcauOffer,
    /// GFD.20 extended block mode: `MODE E`, `OPTS RETR Parallelism/BlockSize`, range
    /// `REST s-e,…` (FEAT `PARALLEL`).
    pub mode_e: bool,
    /// GFD.20 `111` restart and `112` performance markers from the receiving side, at this
    /// interval.
    pub markers: Option<Duration>,
    /// GFD.20 `ERET P` / `ESTO A` partial retrieve and adjusted store.
    pub eret_esto: bool,
    /// GFD.20 single-stripe `SPAS` / `SPOR`.
    pub spas_spor: bool,
    /// GFD.20 `SBUF` and `SITE RETRBUFSIZE|STORBUFSIZE|BUFSIZE` (accepted as hints).
    pub buffer_hints: bool,
    /// `SITE CLIENTINFO` (Globus clients announce themselves; accepted).
    pub client_info: bool,
}

/// FEAT lines that belong to no verb, after the verbs' own: every path is a TVFS path
/// (RFC 3659 §6) and the control connection is always UTF-8 (RFC 2640 §3.3).
const SERVER_FEAT: [&str; 2] = [" TVFS", " UTF8"];

impl Features {
    /// The plain FTP endpoint, from `[ftp]`: FTPS unless `tls = "off"`, no GridFTP verbs.
    pub fn ftp(section: &FtpConfig) -> Self {
        Self {
            ftps: section.tls != FtpTlsMode::Off,
            gsi: false,
            dcau: DcauOffer::Off,
            mode_e: false,
            markers: None,
            eret_esto: false,
            spas_spor: false,
            buffer_hints: false,
            client_info: false,
        }
    }

    /// The GridFTP endpoint, from `[gridftp]`; `gsi` when GSI is configured
    /// (`auth.gridmap_file`). Like globus-gridftp-server it offers no AUTH TLS.
    pub fn gridftp(section: &GridftpConfig, gsi: bool) -> Self {
        let dcau = if gsi && section.advertise_dcau {
            DcauOffer::Advertised
        } else {
            DcauOffer::Accepted
        };
        Self {
            ftps: false,
            gsi,
            dcau,
            mode_e: true,
            markers: Some(section.marker_interval),
            eret_esto: true,
            spas_spor: true,
            buffer_hints: true,
            client_info: true,
        }
    }

    /// Whether this endpoint offers what `need` names.
    pub fn has(&self, need: Need) -> bool {
        match need {
            Need::Nothing => true,
            Need::Ftps => self.ftps,
            Need::Gsi => self.gsi,
            Need::Dcau => self.dcau != DcauOffer::Off,
            Need::DcauAdvertised => self.dcau == DcauOffer::Advertised,
            Need::ModeE => self.mode_e,
            Need::EretEsto => self.eret_esto,
            Need::SpasSpor => self.spas_spor,
            Need::BufferHints => self.buffer_hints,
            Need::ClientInfo => self.client_info,
        }
    }

    /// Whether this endpoint offers `verb` (a name or alias in the verb table; unknown
    /// verbs are the parser's to refuse). Verbs whose parameters differ per endpoint
    /// (MODE, AUTH, OPTS, REST, SITE) are offered everywhere; [`Features::refusal`]
    /// refuses the parameter with [`NotOffered::Parameter`].
    pub fn offers(&self, verb: &str) -> bool {
        verbs::lookup(verb).is_none_or(|(row, _)| self.has(row.offered))
    }

    /// The refusal for `cmd` when this endpoint does not offer its verb or parameter;
    /// `None` when the handler may run.
    pub fn refusal(&self, cmd: &Command) -> Option<NotOffered> {
        let row = verbs::of(cmd);
        let verb = row.name;
        if !self.has(row.offered) {
            return Some(NotOffered::Verb(verb));
        }
        let (param, offered) = match cmd {
            Command::Mode('E') => ("E", self.mode_e),
            Command::Opts(Opts::Retr(_)) => ("RETR", self.mode_e),
            Command::RestRanges(_) => ("ranges", self.mode_e),
            Command::Auth(m) if m == "GSSAPI" => ("GSSAPI", self.gsi),
            Command::Auth(m) if matches!(m.as_str(), "TLS" | "TLS-C" | "SSL") => ("TLS", self.ftps),
            Command::Site(args) => return self.site_refusal(args),
            _ => return None,
        };
        (!offered).then_some(NotOffered::Parameter { verb, param })
    }

    /// The refusal for a line that names a verb but did not parse (`ERET Q …` on the
    /// plain FTP endpoint is refused as ERET, not as bad syntax).
    pub fn refusal_unparsed(&self, e: &ParseError) -> Option<NotOffered> {
        let verb = e.verb()?;
        (!self.offers(verb)).then_some(NotOffered::Verb(verb))
    }

    /// `SITE sub …`: the GridFTP subcommands are parameters of SITE.
    fn site_refusal(&self, args: &str) -> Option<NotOffered> {
        let sub = args.split(' ').next().unwrap_or("");
        let row = SITE.iter().find(|r| r.name.eq_ignore_ascii_case(sub))?;
        (!self.has(row.offered)).then_some(NotOffered::Parameter {
            verb: "SITE",
            param: row.name,
        })
    }

    /// The FEAT body (RFC 2389 §3): one line per feature, each with its leading space: the
    /// verb table's lines this endpoint offers, in table order, then the server's own;
    /// `mlst` is the session's `MLST` fact list.
    pub fn feat_lines(&self, mlst: &str) -> Vec<String> {
        VERBS
            .iter()
            .filter_map(|v| v.feat)
            .filter(|f| self.has(f.when))
            .map(|f| f.line.replace("{facts}", mlst))
            .chain(SERVER_FEAT.map(String::from))
            .collect()
    }

    /// The HELP body (RFC 959 §4.1.3): the verbs every endpoint has, then this endpoint's
    /// extensions, each line sorted by name; aliases and unlisted verbs are left out.
    pub fn help_lines(&self) -> Vec<String> {
        let listed = |everywhere: bool| {
            let mut names: Vec<&str> = VERBS
                .iter()
                .filter(|v| v.help && (v.offered == Need::Nothing) == everywhere)
                .filter(|v| self.has(v.offered))
                .map(|v| v.name)
                .collect();
            names.sort_unstable();
            names
        };
        [listed(true), listed(false)]
            .into_iter()
            .filter(|names| !names.is_empty())
            .map(|names| format!(" {}", names.join(" ")))
            .collect()
    }

    /// The SITE HELP text: the subcommands this endpoint offers.
    pub fn site_help(&self) -> String {
        let subs: Vec<&str> = SITE
            .iter()
            .filter(|r| r.help && self.has(r.offered))
            .map(|r| r.name)
            .collect();
        format!("SITE commands: {}", subs.join(" "))
    }
}

/// A SITE subcommand: what an endpoint must offer for it, and whether SITE HELP lists it.
struct SiteSub {
    name: &'static str,
    offered: Need,
    help: bool,
}

/// The SITE subcommands, in SITE HELP order (their handlers: `commands/info.rs`).
const SITE: &[SiteSub] = &[
    SiteSub {
        name: "HELP",
        offered: Need::Nothing,
        help: true,
    },
    SiteSub {
        name: "CHMOD",
        offered: Need::Nothing,
        help: true,
    },
    SiteSub {
        name: "CLIENTINFO",
        offered: Need::ClientInfo,
        help: true,
    },
    SiteSub {
        name: "RETRBUFSIZE",
        offered: Need::BufferHints,
        help: true,
    },
    SiteSub {
        name: "STORBUFSIZE",
        offered: Need::BufferHints,
        help: true,
    },
    SiteSub {
        name: "BUFSIZE",
        offered: Need::BufferHints,
        help: false,
    },
];

#[cfg(test)]
mod tests;
