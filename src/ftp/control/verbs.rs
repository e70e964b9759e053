//! The verb table: every FTP verb griddock knows, listed once, with its name and aliases,
//! the policy the session checks before any handler runs, what an endpoint must offer for
//! it, its argument grammar, and its HELP and FEAT lines.
//!
//! Derived from it: the parser (`parser::parse` looks the verb up here), `Command::verb` and
//! `Command::spec` (`command.rs`), and `Features::{offers, refusal, feat_lines, help_lines}`
//! (`ftp::features`, which adds what one endpoint offers). Dispatch (`commands/mod.rs`)
//! stays an exhaustive `match` on `Command`, so the compiler checks that every command has
//! a handler; it names no verb and no policy.
//!
//! Sources: RFC 959 §4.1 (commands) and §5.3 (syntax), with the RFC 775 `X` aliases
//! RFC 1123 §4.1.3.1 asks servers to accept; RFC 2228 (AUTH, ADAT, PBSZ, PROT); RFC 2389
//! (FEAT, OPTS); RFC 2428 (EPRT, EPSV); RFC 3659 (SIZE, MDTM, REST STREAM, MLST, MLSD);
//! RFC 4217 (explicit FTPS: AUTH TLS, PBSZ, PROT); draft-somers-ftp-mfxx (MFMT); GFD.20
//! (GridFTP: MODE E, OPTS RETR, ERET, ESTO, SPAS, SPOR, SBUF, DCAU); GFD.47 (CKSM).
//!
//! Adding a verb: a `Command` variant, one row here, its arm in `SessionState::dispatch` and
//! its handler. The table tests below check the row against the rest.

use super::args::{self as p, Arg, ParseError};
use super::command::{Command, Spec};
use Command as C;

/// What an endpoint must offer for a verb (or a SITE subcommand) to run, or for a FEAT
/// line to be shown (answered by `ftp::features::Features::has`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Every endpoint.
    Nothing,
    /// RFC 4217 explicit FTPS.
    Ftps,
    /// GSI logins (RFC 2228 with Globus tokens).
    Gsi,
    /// GFD.20 DCAU, accepted or advertised.
    Dcau,
    /// GFD.20 DCAU, advertised in FEAT.
    DcauAdvertised,
    /// GFD.20 MODE E.
    ModeE,
    /// GFD.20 ERET/ESTO.
    EretEsto,
    /// GFD.20 single-stripe SPAS/SPOR.
    SpasSpor,
    /// GFD.20 SBUF and the SITE buffer hints.
    BufferHints,
    /// `SITE CLIENTINFO` (the client's name and version, as globus-url-copy sends it).
    ClientInfo,
}

/// Whether a verb is answered at once while a transfer runs; otherwise it is queued
/// behind the transfer (RFC 959 §4.1.3 lets ABOR and STAT in).
#[derive(Debug, Clone, Copy)]
pub enum Busy {
    Queued,
    Answered,
    /// Answered when the command matches (`STAT` without a path), queued otherwise.
    AnsweredIf(fn(&Command) -> bool),
}

/// What the session's policy layer checks for a verb before its handler runs.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Allowed before login.
    pub anonymous: bool,
    /// Modifies the data directory.
    pub writes: bool,
    pub busy: Busy,
}

/// Before login: the login and security-exchange verbs and the harmless ones.
const ANONYMOUS: Policy = Policy {
    anonymous: true,
    writes: false,
    busy: Busy::Queued,
};
/// After login, reading only.
const LOGIN: Policy = Policy {
    anonymous: false,
    writes: false,
    busy: Busy::Queued,
};
/// After login, by a principal that may write.
const WRITE: Policy = Policy {
    anonymous: false,
    writes: true,
    busy: Busy::Queued,
};

/// One FEAT line (RFC 2389 §3), leading space included; `{facts}` is replaced by the
/// session's MLST fact list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feat {
    pub line: &'static str,
    pub when: Need,
}

/// A row's argument parser.
pub type ParseFn = for<'a> fn(Arg<'a>) -> Result<Command, ParseError>;

/// One verb.
#[derive(Debug, Clone, Copy)]
pub struct Verb {
    /// Upper case, as sent and as `Command::verb` names it.
    pub name: &'static str,
    /// Other spellings parsed as this verb (`XPWD`); never listed in HELP.
    pub aliases: &'static [&'static str],
    pub policy: Policy,
    /// What the endpoint must offer; otherwise 502 (`ftp::features::NotOffered::Verb`).
    pub offered: Need,
    pub parse: ParseFn,
    /// Whether a command is this verb's (the reverse of `parse`).
    pub is: fn(&Command) -> bool,
    /// Listed in HELP where offered.
    pub help: bool,
    pub feat: Option<Feat>,
}

impl Verb {
    /// The name, then the aliases.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.name).chain(self.aliases.iter().copied())
    }

    const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    const fn offered(mut self, need: Need) -> Self {
        self.offered = need;
        self
    }

    const fn feat(mut self, line: &'static str, when: Need) -> Self {
        self.feat = Some(Feat { line, when });
        self
    }

    /// Not listed in HELP (ADAT: only ever sent by a GSI client's security exchange).
    const fn unlisted(mut self) -> Self {
        self.help = false;
        self
    }

    const fn busy(mut self, busy: Busy) -> Self {
        self.policy.busy = busy;
        self
    }
}

/// A row with the defaults: no aliases, on every endpoint, in HELP, no FEAT line.
const fn verb(
    name: &'static str,
    policy: Policy,
    parse: ParseFn,
    is: fn(&Command) -> bool,
) -> Verb {
    Verb {
        name,
        aliases: &[],
        policy,
        offered: Need::Nothing,
        parse,
        is,
        help: true,
        feat: None,
    }
}

/// The verb of `name` (name or alias, any case) and the spelling that matched.
pub fn lookup(name: &str) -> Option<(&'static Verb, &'static str)> {
    VERBS.iter().find_map(|v| {
        v.names()
            .find(|n| n.eq_ignore_ascii_case(name))
            .map(|n| (v, n))
    })
}

/// The row of a parsed command.
pub fn of(cmd: &Command) -> &'static Verb {
    VERBS
        .iter()
        .find(|v| (v.is)(cmd))
        // The table tests check that every `Command` variant has exactly one row.
        .expect("every Command variant has a row in VERBS")
}

/// Every verb. Rows with a FEAT line come first, in the order FEAT has always listed
/// them (RFC 2389 fixes none); HELP sorts by name.
pub const VERBS: &[Verb] = &[
    verb(
        "AUTH",
        ANONYMOUS,
        |a| a.required().map(|s| C::Auth(s.trim().to_ascii_uppercase())),
        |c| matches!(c, C::Auth(_)),
    )
    .feat(" AUTH TLS", Need::Ftps),
    verb(
        "PBSZ",
        ANONYMOUS,
        |a| a.required().and_then(|s| a.number(s)).map(C::Pbsz),
        |c| matches!(c, C::Pbsz(_)),
    )
    .feat(" PBSZ", Need::Ftps),
    verb("PROT", ANONYMOUS, p::parse_prot, |c| {
        matches!(c, C::Prot(_))
    })
    .feat(" PROT", Need::Ftps),
    verb("CKSM", LOGIN, p::parse_cksm, |c| {
        matches!(c, C::Cksm { .. })
    })
    .feat(
        " CKSM ADLER32;MD5;SHA1;SHA256;SHA512;CRC32C;",
        Need::Nothing,
    ),
    verb("EPRT", LOGIN, p::parse_eprt, |c| matches!(c, C::Eprt(_))).feat(" EPRT", Need::Nothing),
    verb("EPSV", LOGIN, p::parse_epsv, |c| matches!(c, C::Epsv(_))).feat(" EPSV", Need::Nothing),
    // GFD.20: a client that sees DCAU in FEAT assumes DCAU A after a GSI login.
    verb(
        "DCAU",
        LOGIN,
        |a| a.required().map(|s| C::Dcau(s.trim().to_string())),
        |c| matches!(c, C::Dcau(_)),
    )
    .offered(Need::Dcau)
    .feat(" DCAU", Need::DcauAdvertised),
    verb("ERET", LOGIN, p::parse_eret, |c| {
        matches!(c, C::Eret { .. })
    })
    .offered(Need::EretEsto)
    .feat(" ERET", Need::EretEsto),
    verb("ESTO", WRITE, p::parse_esto, |c| {
        matches!(c, C::Esto { .. })
    })
    .offered(Need::EretEsto)
    .feat(" ESTO", Need::EretEsto),
    verb(
        "MDTM",
        LOGIN,
        |a| a.required().map(|s| C::Mdtm(s.to_string())),
        |c| matches!(c, C::Mdtm(_)),
    )
    .feat(" MDTM", Need::Nothing),
    verb("MFMT", WRITE, p::parse_mfmt, |c| matches!(c, C::Mfmt(..))).feat(" MFMT", Need::Nothing),
    verb(
        "MLST",
        LOGIN,
        |a| Ok(C::Mlst(a.optional().map(str::to_string))),
        |c| matches!(c, C::Mlst(_)),
    )
    .feat(" MLST {facts}", Need::Nothing),
    verb("PASV", LOGIN, |a| a.none(C::Pasv), |c| matches!(c, C::Pasv)).feat(" PASV", Need::Nothing),
    // GFD.20 PARALLEL: MODE E with OPTS RETR Parallelism.
    verb(
        "MODE",
        LOGIN,
        |a| a.required().and_then(|s| a.single_char(s)).map(C::Mode),
        |c| matches!(c, C::Mode(_)),
    )
    .feat(" PARALLEL", Need::ModeE),
    verb("REST", LOGIN, p::parse_rest, |c| {
        matches!(c, C::Rest(_) | C::RestRanges(_))
    })
    .feat(" REST STREAM", Need::Nothing),
    verb(
        "SIZE",
        LOGIN,
        |a| a.required().map(|s| C::Size(s.to_string())),
        |c| matches!(c, C::Size(_)),
    )
    .feat(" SIZE", Need::Nothing),
    verb("SPAS", LOGIN, |a| a.none(C::Spas), |c| matches!(c, C::Spas))
        .offered(Need::SpasSpor)
        .feat(" SPAS", Need::SpasSpor),
    verb("SPOR", LOGIN, p::parse_spor, |c| matches!(c, C::Spor(_)))
        .offered(Need::SpasSpor)
        .feat(" SPOR", Need::SpasSpor),
    // RFC 959 §4.1.1: access control.
    verb(
        "USER",
        ANONYMOUS,
        |a| a.required().map(|s| C::User(s.to_string())),
        |c| matches!(c, C::User(_)),
    ),
    verb("PASS", ANONYMOUS, p::parse_pass, |c| {
        matches!(c, C::Pass(_))
    }),
    verb(
        "ACCT",
        LOGIN,
        |a| a.required().map(|_| C::Acct),
        |c| matches!(c, C::Acct),
    ),
    verb(
        "CWD",
        LOGIN,
        |a| a.required().map(|s| C::Cwd(s.to_string())),
        |c| matches!(c, C::Cwd(_)),
    )
    .aliases(&["XCWD"]),
    verb("CDUP", LOGIN, |a| a.none(C::Cdup), |c| matches!(c, C::Cdup)).aliases(&["XCUP"]),
    verb(
        "QUIT",
        ANONYMOUS,
        |a| a.none(C::Quit),
        |c| matches!(c, C::Quit),
    ),
    // RFC 959 §4.1.2: transfer parameters.
    verb("PORT", LOGIN, p::parse_port, |c| matches!(c, C::Port(_))),
    verb("TYPE", LOGIN, p::parse_type, |c| matches!(c, C::Type(_))),
    verb(
        "STRU",
        LOGIN,
        |a| a.required().and_then(|s| a.single_char(s)).map(C::Stru),
        |c| matches!(c, C::Stru(_)),
    ),
    // RFC 959 §4.1.3: service commands.
    verb(
        "RETR",
        LOGIN,
        |a| a.required().map(|s| C::Retr(s.to_string())),
        |c| matches!(c, C::Retr(_)),
    ),
    verb(
        "STOR",
        WRITE,
        |a| a.required().map(|s| C::Stor(s.to_string())),
        |c| matches!(c, C::Stor(_)),
    ),
    verb(
        "APPE",
        WRITE,
        |a| a.required().map(|s| C::Appe(s.to_string())),
        |c| matches!(c, C::Appe(_)),
    ),
    verb("ALLO", LOGIN, |_| Ok(C::Allo), |c| matches!(c, C::Allo)),
    verb(
        "RNFR",
        WRITE,
        |a| a.required().map(|s| C::Rnfr(s.to_string())),
        |c| matches!(c, C::Rnfr(_)),
    ),
    verb(
        "RNTO",
        WRITE,
        |a| a.required().map(|s| C::Rnto(s.to_string())),
        |c| matches!(c, C::Rnto(_)),
    ),
    verb("ABOR", LOGIN, |a| a.none(C::Abor), |c| matches!(c, C::Abor)).busy(Busy::Answered),
    verb(
        "DELE",
        WRITE,
        |a| a.required().map(|s| C::Dele(s.to_string())),
        |c| matches!(c, C::Dele(_)),
    ),
    verb(
        "RMD",
        WRITE,
        |a| a.required().map(|s| C::Rmd(s.to_string())),
        |c| matches!(c, C::Rmd(_)),
    )
    .aliases(&["XRMD"]),
    verb(
        "MKD",
        WRITE,
        |a| a.required().map(|s| C::Mkd(s.to_string())),
        |c| matches!(c, C::Mkd(_)),
    )
    .aliases(&["XMKD"]),
    verb("PWD", LOGIN, |a| a.none(C::Pwd), |c| matches!(c, C::Pwd)).aliases(&["XPWD"]),
    verb(
        "LIST",
        LOGIN,
        |a| Ok(C::List(p::listing_path(&a))),
        |c| matches!(c, C::List(_)),
    ),
    verb(
        "NLST",
        LOGIN,
        |a| Ok(C::Nlst(p::listing_path(&a))),
        |c| matches!(c, C::Nlst(_)),
    ),
    verb(
        "SITE",
        LOGIN,
        |a| a.required().map(|s| C::Site(s.to_string())),
        |c| matches!(c, C::Site(_)),
    ),
    verb(
        "SYST",
        ANONYMOUS,
        |a| a.none(C::Syst),
        |c| matches!(c, C::Syst),
    ),
    // `STAT` alone reports on the running transfer; `STAT path` waits for it.
    verb(
        "STAT",
        LOGIN,
        |a| Ok(C::Stat(p::listing_path(&a))),
        |c| matches!(c, C::Stat(_)),
    )
    .busy(Busy::AnsweredIf(|c| matches!(c, C::Stat(None)))),
    verb("HELP", ANONYMOUS, |_| Ok(C::Help), |c| matches!(c, C::Help)),
    verb(
        "NOOP",
        ANONYMOUS,
        |a| a.none(C::Noop),
        |c| matches!(c, C::Noop),
    ),
    // RFC 2389.
    verb(
        "FEAT",
        ANONYMOUS,
        |a| a.none(C::Feat),
        |c| matches!(c, C::Feat),
    ),
    verb("OPTS", ANONYMOUS, p::parse_opts, |c| {
        matches!(c, C::Opts(_))
    }),
    // RFC 3659.
    verb(
        "MLSD",
        LOGIN,
        |a| Ok(C::Mlsd(a.optional().map(str::to_string))),
        |c| matches!(c, C::Mlsd(_)),
    ),
    // RFC 2228 §3: the GSI security exchange.
    verb(
        "ADAT",
        ANONYMOUS,
        |a| a.required().map(|s| C::Adat(s.trim().to_string())),
        |c| matches!(c, C::Adat(_)),
    )
    .offered(Need::Gsi)
    .unlisted(),
    // GFD.20: a hint only.
    verb(
        "SBUF",
        LOGIN,
        |a| a.required().and_then(|s| a.number(s)).map(C::Sbuf),
        |c| matches!(c, C::Sbuf(_)),
    )
    .offered(Need::BufferHints),
];

impl Command {
    /// The verb as sent on the wire (upper case; an alias's canonical name), for logs.
    pub fn verb(&self) -> &'static str {
        of(self).name
    }

    /// The policy of this command's verb (its row in the verb table).
    pub fn spec(&self) -> Spec {
        let policy = of(self).policy;
        Spec {
            anonymous: policy.anonymous,
            writes: policy.writes,
            during_transfer: match policy.busy {
                Busy::Queued => false,
                Busy::Answered => true,
                Busy::AnsweredIf(answered) => answered(self),
            },
        }
    }
}

#[cfg(test)]
mod tests;
