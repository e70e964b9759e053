//! Pure command-line parser: bytes of one line in, a typed [`Command`] or a [`ParseError`]
//! out (RFC 959 §5.3 syntax, RFC 2428 §2–3 EPRT/EPSV, RFC 3659 §5–7, RFC 2228 §3).
//!
//! Verbs are case-insensitive; the argument is everything after the first space, kept
//! verbatim (paths may contain spaces). No I/O, no allocation beyond the result: this is
//! the fuzz target `fuzz_targets/parse_command.rs`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::command::{Command, DataType, EpsvArg, Opts, ProtLevel, RetrOpts, Secret};
use crate::gridftp::ranges::RangeSet;

/// Why a line is not a command we can run; each maps to one reply in `ftp::error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty command line")]
    Empty,
    #[error("unknown command {0:?}")]
    Unknown(String),
    #[error("{verb}: {reason}")]
    Syntax {
        verb: &'static str,
        reason: &'static str,
    },
    #[error("{verb}: {reason}")]
    Unsupported {
        verb: &'static str,
        reason: &'static str,
    },
    #[error("command line is not valid UTF-8")]
    InvalidUtf8,
    #[error("command line contains a NUL byte")]
    Nul,
}

/// Parses one control line (terminator already removed).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    if line.contains(&0) {
        return Err(ParseError::Nul);
    }
    let line = std::str::from_utf8(line).map_err(|_| ParseError::InvalidUtf8)?;
    let (verb, arg) = match line.split_once(' ') {
        Some((v, a)) => (v, Some(a)),
        None => (line, None),
    };
    if verb.is_empty() {
        return Err(ParseError::Empty);
    }
    let upper = verb.to_ascii_uppercase();
    parse_verb(&upper, arg).unwrap_or_else(|| Err(ParseError::Unknown(truncate(verb))))
}

fn truncate(s: &str) -> String {
    s.chars().take(16).collect()
}

/// `None` when the verb is unknown.
fn parse_verb(verb: &str, arg: Option<&str>) -> Option<Result<Command, ParseError>> {
    use Command as C;
    let a = Arg {
        verb: static_verb(verb)?,
        raw: arg,
    };
    Some(match verb {
        "USER" => a.required().map(|s| C::User(s.to_string())),
        "PASS" => Ok(C::Pass(Secret(arg.unwrap_or("").to_string()))),
        "ACCT" => a.required().map(|_| C::Acct),
        "QUIT" => a.none(C::Quit),
        "SYST" => a.none(C::Syst),
        "FEAT" => a.none(C::Feat),
        "OPTS" => a.required().and_then(parse_opts),
        "HELP" => Ok(C::Help),
        "NOOP" => a.none(C::Noop),
        "STAT" => Ok(C::Stat(
            a.optional().map(strip_ls_options).filter(|s| !s.is_empty()),
        )),
        "SITE" => a.required().map(|s| C::Site(s.to_string())),
        "PWD" | "XPWD" => a.none(C::Pwd),
        "CWD" | "XCWD" => a.required().map(|s| C::Cwd(s.to_string())),
        "CDUP" | "XCUP" => a.none(C::Cdup),
        "TYPE" => a.required().and_then(parse_type),
        "MODE" => a.required().and_then(|s| a.single_char(s)).map(C::Mode),
        "STRU" => a.required().and_then(|s| a.single_char(s)).map(C::Stru),
        "ALLO" => Ok(C::Allo),
        "REST" => a.required().and_then(|s| match s.contains('-') {
            false => a.number(s).map(C::Rest),
            true => parse_rest_ranges(s),
        }),
        "ERET" => a.required().and_then(parse_eret),
        "ESTO" => a.required().and_then(parse_esto),
        "SPAS" => a.none(C::Spas),
        "ADAT" => a.required().map(|s| C::Adat(s.trim().to_string())),
        "SPOR" => a.required().and_then(parse_spor),
        "PASV" => a.none(C::Pasv),
        "EPSV" => parse_epsv(a),
        "PORT" => a.required().and_then(parse_port).map(C::Port),
        "EPRT" => a.required().and_then(parse_eprt).map(C::Eprt),
        "RETR" => a.required().map(|s| C::Retr(s.to_string())),
        "STOR" => a.required().map(|s| C::Stor(s.to_string())),
        "APPE" => a.required().map(|s| C::Appe(s.to_string())),
        "ABOR" => a.none(C::Abor),
        "LIST" => Ok(C::List(
            a.optional().map(strip_ls_options).filter(|s| !s.is_empty()),
        )),
        "NLST" => Ok(C::Nlst(
            a.optional().map(strip_ls_options).filter(|s| !s.is_empty()),
        )),
        "MLSD" => Ok(C::Mlsd(a.optional().map(str::to_string))),
        "MLST" => Ok(C::Mlst(a.optional().map(str::to_string))),
        "SIZE" => a.required().map(|s| C::Size(s.to_string())),
        "MDTM" => a.required().map(|s| C::Mdtm(s.to_string())),
        "MFMT" => a.required().and_then(parse_mfmt),
        "MKD" | "XMKD" => a.required().map(|s| C::Mkd(s.to_string())),
        "RMD" | "XRMD" => a.required().map(|s| C::Rmd(s.to_string())),
        "DELE" => a.required().map(|s| C::Dele(s.to_string())),
        "RNFR" => a.required().map(|s| C::Rnfr(s.to_string())),
        "RNTO" => a.required().map(|s| C::Rnto(s.to_string())),
        "AUTH" => a.required().map(|s| C::Auth(s.trim().to_ascii_uppercase())),
        "PBSZ" => a.required().and_then(|s| a.number(s)).map(C::Pbsz),
        "PROT" => a.required().and_then(parse_prot),
        "CKSM" => a.required().and_then(parse_cksm),
        "SBUF" => a.required().and_then(|s| a.number(s)).map(C::Sbuf),
        "DCAU" => a.required().map(|s| C::Dcau(s.trim().to_string())),
        _ => return None,
    })
}

/// Maps the upper-cased verb to a `'static` name for error messages.
fn static_verb(verb: &str) -> Option<&'static str> {
    const VERBS: &[&str] = &[
        "USER", "PASS", "ACCT", "QUIT", "SYST", "FEAT", "OPTS", "HELP", "NOOP", "STAT", "SITE",
        "PWD", "XPWD", "CWD", "XCWD", "CDUP", "XCUP", "TYPE", "MODE", "STRU", "ALLO", "REST",
        "PASV", "EPSV", "PORT", "EPRT", "RETR", "STOR", "APPE", "ABOR", "LIST", "NLST", "MLSD",
        "MLST", "SIZE", "MDTM", "MFMT", "MKD", "XMKD", "RMD", "XRMD", "DELE", "RNFR", "RNTO",
        "AUTH", "PBSZ", "PROT", "CKSM", "SBUF", "DCAU", "ERET", "ESTO", "SPAS", "SPOR", "ADAT",
    ];
    VERBS.iter().copied().find(|v| *v == verb)
}

/// The argument of one command, with the checks most verbs share.
struct Arg<'a> {
    verb: &'static str,
    raw: Option<&'a str>,
}

impl<'a> Arg<'a> {
    fn syntax(&self, reason: &'static str) -> ParseError {
        ParseError::Syntax {
            verb: self.verb,
            reason,
        }
    }

    fn required(&self) -> Result<&'a str, ParseError> {
        match self.raw {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(self.syntax("argument required")),
        }
    }

    fn optional(&self) -> Option<&'a str> {
        self.raw.filter(|s| !s.trim().is_empty())
    }

    fn none(&self, cmd: Command) -> Result<Command, ParseError> {
        match self.raw.map(str::trim) {
            None | Some("") => Ok(cmd),
            Some(_) => Err(self.syntax("takes no argument")),
        }
    }

    fn number(&self, s: &str) -> Result<u64, ParseError> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.syntax("a decimal number is required"));
        }
        s.parse().map_err(|_| self.syntax("number out of range"))
    }

    fn single_char(&self, s: &str) -> Result<char, ParseError> {
        let mut chars = s.trim().chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(c.to_ascii_uppercase()),
            _ => Err(self.syntax("a single-letter code is required")),
        }
    }
}

/// `LIST -la dir`: drops leading `-x` option words (clients send ls options).
fn strip_ls_options(s: &str) -> String {
    let mut rest = s.trim_start();
    while rest.starts_with('-') {
        rest = match rest.split_once(' ') {
            Some((_, tail)) => tail.trim_start(),
            None => "",
        };
    }
    rest.to_string()
}

fn parse_type(s: &str) -> Result<Command, ParseError> {
    let words: Vec<String> = s.split_whitespace().map(str::to_ascii_uppercase).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let t = match words.as_slice() {
        ["A"] | ["A", "N"] => DataType::Ascii,
        ["I"] | ["L", "8"] => DataType::Image,
        ["A", _] | ["E"] | ["E", _] | ["L", _] => {
            return Err(ParseError::Unsupported {
                verb: "TYPE",
                reason: "type not supported",
            })
        }
        _ => {
            return Err(ParseError::Syntax {
                verb: "TYPE",
                reason: "unknown type",
            })
        }
    };
    Ok(Command::Type(t))
}

fn parse_prot(s: &str) -> Result<Command, ParseError> {
    let level = match s.trim().to_ascii_uppercase().as_str() {
        "C" => ProtLevel::Clear,
        "S" => ProtLevel::Safe,
        "E" => ProtLevel::Confidential,
        "P" => ProtLevel::Private,
        _ => {
            return Err(ParseError::Syntax {
                verb: "PROT",
                reason: "level must be C, S, E or P",
            })
        }
    };
    Ok(Command::Prot(level))
}

fn parse_opts(s: &str) -> Result<Command, ParseError> {
    let (name, rest) = s.split_once(' ').unwrap_or((s, ""));
    let opts = match name.to_ascii_uppercase().as_str() {
        "UTF8" | "UTF-8" => match rest.trim().to_ascii_uppercase().as_str() {
            "ON" | "" => Opts::Utf8(true),
            "OFF" => Opts::Utf8(false),
            _ => {
                return Err(ParseError::Syntax {
                    verb: "OPTS",
                    reason: "UTF8 takes ON or OFF",
                })
            }
        },
        "MLST" => Opts::Mlst(
            rest.trim()
                .split(';')
                .filter(|f| !f.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        "RETR" => match retr_opts(rest) {
            Some(o) => Opts::Retr(o),
            None => {
                return Err(ParseError::Syntax {
                    verb: "OPTS",
                    reason: "expected RETR [BlockSize=n;]Parallelism=n,n,n;",
                })
            }
        },
        other => Opts::Other(other.chars().take(16).collect()),
    };
    Ok(Command::Opts(opts))
}

/// `[StripeLayout=…;][BlockSize=n;]Parallelism=n,n,n;`: the starting parallelism
/// (clamped to 1..=64) and the block size (clamped to 64 KiB..=64 MiB); other options
/// (StripeLayout) are accepted and ignored; a malformed value is an error.
fn retr_opts(s: &str) -> Option<RetrOpts> {
    let mut o = RetrOpts {
        parallelism: None,
        block_size: None,
    };
    for item in s.trim().split(';').filter(|i| !i.trim().is_empty()) {
        let (k, v) = item.trim().split_once('=')?;
        if k.eq_ignore_ascii_case("Parallelism") {
            let n: u32 = v.split(',').next()?.trim().parse().ok()?;
            o.parallelism = Some(n.clamp(1, 64));
        } else if k.eq_ignore_ascii_case("BlockSize") {
            let n: u64 = v.trim().parse().ok()?;
            o.block_size = Some(n.clamp(64 * 1024, 64 * 1024 * 1024));
        }
    }
    (o.parallelism.is_some() || o.block_size.is_some()).then_some(o)
}

fn parse_epsv(a: Arg<'_>) -> Result<Command, ParseError> {
    let arg = match a.optional().map(|s| s.trim().to_ascii_uppercase()) {
        None => EpsvArg::Default,
        Some(s) if s == "ALL" => EpsvArg::All,
        Some(s) if s == "1" || s == "2" => EpsvArg::Proto(if s == "1" { 1 } else { 2 }),
        Some(_) => return Err(a.syntax("argument must be 1, 2 or ALL")),
    };
    Ok(Command::Epsv(arg))
}

/// `PORT h1,h2,h3,h4,p1,p2` (RFC 959 §4.1.2).
fn parse_port(s: &str) -> Result<SocketAddr, ParseError> {
    let err = ParseError::Syntax {
        verb: "PORT",
        reason: "expected h1,h2,h3,h4,p1,p2",
    };
    let mut n = [0u8; 6];
    let mut parts = s.trim().split(',');
    for slot in &mut n {
        let p = parts.next().ok_or(err.clone())?.trim();
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err);
        }
        *slot = p.parse().map_err(|_| err.clone())?;
    }
    if parts.next().is_some() {
        return Err(err);
    }
    let ip = Ipv4Addr::new(n[0], n[1], n[2], n[3]);
    Ok(SocketAddr::new(
        IpAddr::V4(ip),
        u16::from_be_bytes([n[4], n[5]]),
    ))
}

/// `EPRT |af|addr|port|` with any printable delimiter (RFC 2428 §2).
fn parse_eprt(s: &str) -> Result<SocketAddr, ParseError> {
    let err = ParseError::Syntax {
        verb: "EPRT",
        reason: "expected |proto|address|port|",
    };
    let s = s.trim();
    let delim = s
        .chars()
        .next()
        .filter(|c| c.is_ascii_graphic())
        .ok_or(err.clone())?;
    let fields: Vec<&str> = s.split(delim).collect();
    let [empty_a, proto, addr, port, empty_b] = fields.as_slice() else {
        return Err(err);
    };
    if !empty_a.is_empty() || !empty_b.is_empty() {
        return Err(err);
    }
    let ip: IpAddr = addr.parse().map_err(|_| err.clone())?;
    let family_ok = matches!((*proto, ip), ("1", IpAddr::V4(_)) | ("2", IpAddr::V6(_)));
    if !family_ok {
        return Err(ParseError::Unsupported {
            verb: "EPRT",
            reason: "network protocol not supported, use (1,2)",
        });
    }
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err);
    }
    let port: u16 = port.parse().map_err(|_| err.clone())?;
    Ok(SocketAddr::new(ip, port))
}

/// `CKSM alg offset length path` with length -1 for "to the end" (GFD.47).
fn parse_cksm(s: &str) -> Result<Command, ParseError> {
    let err = ParseError::Syntax {
        verb: "CKSM",
        reason: "expected algorithm offset length path",
    };
    let mut it = s.splitn(4, ' ');
    let (Some(alg), Some(off), Some(len), Some(path)) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(err);
    };
    let offset: u64 = off.parse().map_err(|_| err.clone())?;
    let length = match len {
        "-1" => None,
        n => Some(n.parse::<u64>().map_err(|_| err.clone())?),
    };
    if alg.is_empty() || path.is_empty() {
        return Err(err);
    }
    Ok(Command::Cksm {
        alg: alg.to_string(),
        offset,
        length,
        path: path.to_string(),
    })
}

/// `REST s-e,s-e` (MODE E ranges, exclusive ends).
fn parse_rest_ranges(s: &str) -> Result<Command, ParseError> {
    RangeSet::parse(s)
        .map(Command::RestRanges)
        .ok_or(ParseError::Syntax {
            verb: "REST",
            reason: "expected an offset or start-end ranges",
        })
}

/// `ERET P offset length path`: the only ERET module clients use is P (partial).
fn parse_eret(s: &str) -> Result<Command, ParseError> {
    let err = ParseError::Syntax {
        verb: "ERET",
        reason: "expected P offset length path",
    };
    let mut it = s.splitn(4, ' ');
    let (Some(module), Some(off), Some(len), Some(path)) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(err);
    };
    let (Ok(offset), Ok(length)) = (off.parse(), len.parse()) else {
        return Err(err);
    };
    if !module.eq_ignore_ascii_case("P") || path.is_empty() {
        return Err(err);
    }
    Ok(Command::Eret {
        offset,
        length,
        path: path.to_string(),
    })
}

/// `ESTO A offset path`: the only ESTO module clients use is A (adjusted).
fn parse_esto(s: &str) -> Result<Command, ParseError> {
    let err = ParseError::Syntax {
        verb: "ESTO",
        reason: "expected A offset path",
    };
    let mut it = s.splitn(3, ' ');
    let (Some(module), Some(off), Some(path)) = (it.next(), it.next(), it.next()) else {
        return Err(err);
    };
    let Ok(offset) = off.parse() else {
        return Err(err);
    };
    if !module.eq_ignore_ascii_case("A") || path.is_empty() {
        return Err(err);
    }
    Ok(Command::Esto {
        offset,
        path: path.to_string(),
    })
}

/// `SPOR a1 a2 …`: one stripe only, so exactly one PORT-style address.
fn parse_spor(s: &str) -> Result<Command, ParseError> {
    let mut addrs = s.split_whitespace();
    match (addrs.next(), addrs.next()) {
        (Some(one), None) => parse_port(one).map(Command::Spor),
        _ => Err(ParseError::Syntax {
            verb: "SPOR",
            reason: "exactly one address (no striping)",
        }),
    }
}

/// `MFMT YYYYMMDDHHMMSS[.sss] path` → (Unix seconds, path).
fn parse_mfmt(s: &str) -> Result<Command, ParseError> {
    let err = ParseError::Syntax {
        verb: "MFMT",
        reason: "expected YYYYMMDDHHMMSS path",
    };
    let (stamp, path) = s.split_once(' ').ok_or(err.clone())?;
    if path.is_empty() {
        return Err(err);
    }
    let secs = parse_timeval(stamp).ok_or(err)?;
    Ok(Command::Mfmt(secs, path.to_string()))
}

/// RFC 3659 §2.3 time-val (UTC), fractional seconds ignored.
pub fn parse_timeval(stamp: &str) -> Option<i64> {
    let whole = stamp.split('.').next()?;
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| whole[r].parse::<u32>().ok();
    let month = time::Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::try_from(num(0..4)?).ok()?,
        month,
        u8::try_from(num(6..8)?).ok()?,
    )
    .ok()?;
    let t = time::Time::from_hms(
        u8::try_from(num(8..10)?).ok()?,
        u8::try_from(num(10..12)?).ok()?,
        u8::try_from(num(12..14)?).ok()?,
    )
    .ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use Command as C;

    fn ok(line: &str) -> Command {
        parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    fn err(line: &[u8]) -> ParseError {
        parse(line).expect_err(&String::from_utf8_lossy(line))
    }

    fn sock(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn table_of_valid_commands() {
        let cases: Vec<(&str, Command)> = vec![
            ("USER alice", C::User("alice".into())),
            ("user alice", C::User("alice".into())),
            ("PASS secret word", C::Pass(Secret("secret word".into()))),
            ("PASS", C::Pass(Secret(String::new()))),
            ("QUIT", C::Quit),
            ("SYST", C::Syst),
            ("FEAT", C::Feat),
            ("NOOP ", C::Noop),
            ("PWD", C::Pwd),
            ("XPWD", C::Pwd),
            ("CWD /a dir/b", C::Cwd("/a dir/b".into())),
            ("CDUP", C::Cdup),
            ("TYPE I", C::Type(DataType::Image)),
            ("TYPE A", C::Type(DataType::Ascii)),
            ("TYPE A N", C::Type(DataType::Ascii)),
            ("TYPE L 8", C::Type(DataType::Image)),
            ("MODE S", C::Mode('S')),
            ("mode e", C::Mode('E')),
            ("STRU F", C::Stru('F')),
            ("REST 1048576", C::Rest(1_048_576)),
            ("PASV", C::Pasv),
            ("EPSV", C::Epsv(EpsvArg::Default)),
            ("EPSV 2", C::Epsv(EpsvArg::Proto(2))),
            ("EPSV ALL", C::Epsv(EpsvArg::All)),
            ("PORT 127,0,0,1,195,80", C::Port(sock("127.0.0.1:50000"))),
            ("EPRT |1|127.0.0.2|2121|", C::Eprt(sock("127.0.0.2:2121"))),
            ("EPRT |2|::1|2121|", C::Eprt(sock("[::1]:2121"))),
            ("EPRT !1!10.0.0.1!80!", C::Eprt(sock("10.0.0.1:80"))),
            (
                "RETR file with spaces ",
                C::Retr("file with spaces ".into()),
            ),
            ("STOR /up/x", C::Stor("/up/x".into())),
            ("APPE x", C::Appe("x".into())),
            ("ABOR", C::Abor),
            ("LIST", C::List(None)),
            ("LIST -la", C::List(None)),
            ("LIST -l -a sub dir", C::List(Some("sub dir".into()))),
            ("NLST /x", C::Nlst(Some("/x".into()))),
            ("MLSD", C::Mlsd(None)),
            ("MLST f", C::Mlst(Some("f".into()))),
            ("SIZE f", C::Size("f".into())),
            ("MDTM f", C::Mdtm("f".into())),
            (
                "MFMT 20240102030405 f g",
                C::Mfmt(1_704_164_645, "f g".into()),
            ),
            (
                "MFMT 20240102030405.123 f",
                C::Mfmt(1_704_164_645, "f".into()),
            ),
            ("MKD d", C::Mkd("d".into())),
            ("XMKD d", C::Mkd("d".into())),
            ("RMD d", C::Rmd("d".into())),
            ("DELE f", C::Dele("f".into())),
            ("RNFR a", C::Rnfr("a".into())),
            ("RNTO b", C::Rnto("b".into())),
            ("AUTH tls", C::Auth("TLS".into())),
            ("PBSZ 0", C::Pbsz(0)),
            ("PROT P", C::Prot(ProtLevel::Private)),
            ("PROT c", C::Prot(ProtLevel::Clear)),
            ("OPTS UTF8 ON", C::Opts(Opts::Utf8(true))),
            (
                "OPTS MLST type;size;",
                C::Opts(Opts::Mlst(vec!["type".into(), "size".into()])),
            ),
            (
                "OPTS RETR Parallelism=4,4,4;",
                C::Opts(Opts::Retr(RetrOpts {
                    parallelism: Some(4),
                    block_size: None,
                })),
            ),
            (
                "OPTS RETR StripeLayout=Blocked;BlockSize=1048576;Parallelism=200,8,8;",
                C::Opts(Opts::Retr(RetrOpts {
                    parallelism: Some(64),
                    block_size: Some(1_048_576),
                })),
            ),
            (
                "OPTS RETR BlockSize=1;",
                C::Opts(Opts::Retr(RetrOpts {
                    parallelism: None,
                    block_size: Some(65_536),
                })),
            ),
            (
                "REST 0-100,200-300",
                C::RestRanges(RangeSet::parse("0-100,200-300").unwrap()),
            ),
            (
                "ERET P 10 20 /a b",
                C::Eret {
                    offset: 10,
                    length: 20,
                    path: "/a b".into(),
                },
            ),
            (
                "ESTO A 5 f",
                C::Esto {
                    offset: 5,
                    path: "f".into(),
                },
            ),
            ("SPAS", C::Spas),
            ("SPOR 127,0,0,1,4,1", C::Spor(([127, 0, 0, 1], 1025).into())),
            ("SBUF 1048576", C::Sbuf(1_048_576)),
            ("DCAU S /O=Test/CN=A B", C::Dcau("S /O=Test/CN=A B".into())),
            ("ADAT AAAA", C::Adat("AAAA".into())),
            ("STAT", C::Stat(None)),
            ("STAT -la /d", C::Stat(Some("/d".into()))),
            ("SITE HELP", C::Site("HELP".into())),
            ("HELP", C::Help),
            ("HELP RETR", C::Help),
            ("ALLO 100", C::Allo),
            (
                "CKSM ADLER32 0 -1 /a b",
                C::Cksm {
                    alg: "ADLER32".into(),
                    offset: 0,
                    length: None,
                    path: "/a b".into(),
                },
            ),
            (
                "CKSM md5 10 20 f",
                C::Cksm {
                    alg: "md5".into(),
                    offset: 10,
                    length: Some(20),
                    path: "f".into(),
                },
            ),
        ];
        for (line, want) in cases {
            assert_eq!(ok(line), want, "{line}");
        }
    }

    #[test]
    fn table_of_errors() {
        use ParseError as E;
        let syntax = |verb: &'static str| move |e: &ParseError| matches!(e, E::Syntax { verb: v, .. } if *v == verb);
        type Check = Box<dyn Fn(&ParseError) -> bool>;
        let cases: Vec<(&[u8], Check)> = vec![
            (b"", Box::new(|e| *e == E::Empty)),
            (b" USER x", Box::new(|e| *e == E::Empty)),
            (
                b"FOO",
                Box::new(|e| matches!(e, E::Unknown(v) if v == "FOO")),
            ),
            (b"RETR", Box::new(syntax("RETR"))),
            (b"RETR ", Box::new(syntax("RETR"))),
            (b"USER", Box::new(syntax("USER"))),
            (b"CWD", Box::new(syntax("CWD"))),
            (b"QUIT now", Box::new(syntax("QUIT"))),
            (b"PASV x", Box::new(syntax("PASV"))),
            (b"PWD /", Box::new(syntax("PWD"))),
            (b"REST -1", Box::new(syntax("REST"))),
            (b"REST 99999999999999999999999", Box::new(syntax("REST"))),
            (b"REST abc", Box::new(syntax("REST"))),
            (b"PORT 1,2,3,4,5", Box::new(syntax("PORT"))),
            (b"PORT 1,2,3,4,5,6,7", Box::new(syntax("PORT"))),
            (b"PORT 256,0,0,1,1,1", Box::new(syntax("PORT"))),
            (b"PORT a,b,c,d,e,f", Box::new(syntax("PORT"))),
            (b"PORT 1,2,3,4,5,-6", Box::new(syntax("PORT"))),
            (
                b"EPRT |1|::1|21|",
                Box::new(|e| matches!(e, E::Unsupported { verb: "EPRT", .. })),
            ),
            (
                b"EPRT |3|1.2.3.4|21|",
                Box::new(|e| matches!(e, E::Unsupported { verb: "EPRT", .. })),
            ),
            (b"EPRT |1|1.2.3.4|99999|", Box::new(syntax("EPRT"))),
            (b"EPRT 1|1.2.3.4|21", Box::new(syntax("EPRT"))),
            (b"EPRT ||||", Box::new(syntax("EPRT"))),
            (b"EPSV 3", Box::new(syntax("EPSV"))),
            (
                b"TYPE E",
                Box::new(|e| matches!(e, E::Unsupported { verb: "TYPE", .. })),
            ),
            (b"TYPE X", Box::new(syntax("TYPE"))),
            (b"MODE SS", Box::new(syntax("MODE"))),
            (b"PROT X", Box::new(syntax("PROT"))),
            (b"MFMT 2024 f", Box::new(syntax("MFMT"))),
            (b"MFMT 20241302030405 f", Box::new(syntax("MFMT"))),
            (b"MFMT 20240102030405", Box::new(syntax("MFMT"))),
            (b"OPTS UTF8 MAYBE", Box::new(syntax("OPTS"))),
            (b"OPTS RETR Parallelism=x;", Box::new(syntax("OPTS"))),
            (b"OPTS RETR StripeLayout=Blocked;", Box::new(syntax("OPTS"))),
            (b"REST 5-1", Box::new(syntax("REST"))),
            (b"ERET Q 0 1 f", Box::new(syntax("ERET"))),
            (b"ERET P x 1 f", Box::new(syntax("ERET"))),
            (b"ESTO A 1", Box::new(syntax("ESTO"))),
            (
                b"SPOR 127,0,0,1,4,1 127,0,0,1,4,2",
                Box::new(syntax("SPOR")),
            ),
            (b"CKSM MD5 0 -1", Box::new(syntax("CKSM"))),
            (b"CKSM MD5 x -1 f", Box::new(syntax("CKSM"))),
            (b"CKSM MD5 0 -2 f", Box::new(syntax("CKSM"))),
            (b"RETR a\0b", Box::new(|e| *e == E::Nul)),
            (b"RETR \xff\xfe", Box::new(|e| *e == E::InvalidUtf8)),
            (b"\xc3\x28", Box::new(|e| *e == E::InvalidUtf8)),
        ];
        for (line, check) in cases {
            let e = err(line);
            assert!(check(&e), "{:?} gave {e:?}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn unknown_verb_is_truncated() {
        let long = "X".repeat(100);
        assert!(matches!(err(long.as_bytes()), ParseError::Unknown(v) if v.len() == 16));
    }

    #[test]
    fn password_never_printed() {
        let c = ok("PASS hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!c.to_string().contains("hunter2"));
    }

    #[test]
    fn specs() {
        assert!(ok("USER a").spec().anonymous);
        assert!(!ok("RETR a").spec().anonymous);
        assert!(ok("STOR a").spec().writes);
        assert!(ok("RNFR a").spec().writes);
        assert!(!ok("RETR a").spec().writes);
        assert!(ok("ABOR").spec().during_transfer);
        assert!(!ok("RETR a").spec().during_transfer);
    }
}
