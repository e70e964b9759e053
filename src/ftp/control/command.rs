//! The typed FTP command set (RFC 959 §4.1, RFC 2228 AUTH/PBSZ/PROT, RFC 2389 FEAT/OPTS,
//! RFC 2428 EPRT/EPSV, RFC 3659 SIZE/MDTM/REST STREAM/MLST/MLSD, draft-somers-ftp-mfxx MFMT).

use std::fmt;
use std::net::SocketAddr;

use crate::gridftp::ranges::RangeSet;

/// A password: kept out of `Debug` output and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    Ascii,
    Image,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtLevel {
    Clear,
    Safe,
    Confidential,
    Private,
}

/// `EPSV` argument (RFC 2428 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpsvArg {
    /// No argument: the control connection's protocol.
    Default,
    /// `EPSV 1` / `EPSV 2`.
    Proto(u8),
    /// `EPSV ALL`: from now on only EPSV is accepted.
    All,
}

/// `OPTS` subcommands we understand (RFC 2389 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opts {
    Utf8(bool),
    /// `OPTS MLST fact;fact;…` (RFC 3659 §7.9): the fact names as sent.
    Mlst(Vec<String>),
    /// `OPTS RETR [BlockSize=n;]Parallelism=n,n,n;` (GFD.20): MODE E sends.
    Retr(RetrOpts),
    /// Anything else: name and raw arguments, answered with 501.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    User(String),
    Pass(Secret),
    Acct,
    Quit,
    Syst,
    Feat,
    Opts(Opts),
    Help,
    Noop,
    Stat(Option<String>),
    Site(String),
    Pwd,
    Cwd(String),
    Cdup,
    Type(DataType),
    Mode(char),
    Stru(char),
    Allo,
    Rest(u64),
    Pasv,
    Epsv(EpsvArg),
    Port(SocketAddr),
    Eprt(SocketAddr),
    Retr(String),
    Stor(String),
    Appe(String),
    Abor,
    List(Option<String>),
    Nlst(Option<String>),
    Mlsd(Option<String>),
    Mlst(Option<String>),
    Size(String),
    Mdtm(String),
    /// `MFMT YYYYMMDDHHMMSS path`: seconds since the Unix epoch, path.
    Mfmt(i64, String),
    Mkd(String),
    Rmd(String),
    Dele(String),
    Rnfr(String),
    Rnto(String),
    Auth(String),
    Pbsz(u64),
    Prot(ProtLevel),
    /// `CKSM alg offset length|-1 path` (GFD.47).
    Cksm {
        alg: String,
        offset: u64,
        length: Option<u64>,
        path: String,
    },
    /// `SBUF n` (GFD.20): TCP buffer size hint.
    Sbuf(u64),
    /// `DCAU N|A|S …` (GFD.20 data-channel authentication).
    Dcau(String),
    /// `REST s-e,s-e` (GFD.20 MODE E restart): byte ranges the receiver already holds.
    RestRanges(RangeSet),
    /// `ERET P offset length path` (GFD.20 partial retrieve).
    Eret {
        offset: u64,
        length: u64,
        path: String,
    },
    /// `ESTO A offset path` (GFD.20 adjusted store: data lands at offset + block offset).
    Esto {
        offset: u64,
        path: String,
    },
    /// `ADAT <base64>` (RFC 2228 §3: a security-exchange token).
    Adat(String),
    /// `SPAS` (GFD.20 striped passive; one stripe here).
    Spas,
    /// `SPOR h1,h2,h3,h4,p1,p2` (GFD.20 striped port; one address here).
    Spor(SocketAddr),
}

/// What `OPTS RETR` may set; at least one of them is present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrOpts {
    /// Parallel streams (the starting value of `n,n,n`), 1..=64.
    pub parallelism: Option<u32>,
    /// MODE E block size in bytes, 64 KiB..=64 MiB.
    pub block_size: Option<u64>,
}

/// What the policy layer checks before any handler runs, from the verb table (what an
/// endpoint offers is `ftp::features`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Allowed before login.
    pub anonymous: bool,
    /// Modifies the data directory.
    pub writes: bool,
    /// Allowed (answered at once) while a transfer runs; everything else is queued.
    pub during_transfer: bool,
}

impl fmt::Display for Command {
    /// Log form: the verb and its argument, with the password redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Pass(_) => f.write_str("PASS <redacted>"),
            other => write!(f, "{other:?}"),
        }
    }
}
