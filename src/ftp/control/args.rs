//! Argument parsers of the verb table's rows (RFC 959 §5.3 syntax, RFC 2428 §2–3
//! EPRT/EPSV, RFC 3659 §5–7, RFC 2228 §3, GFD.20 and GFD.47 arguments): one function
//! per argument shape, an [`Arg`] (the verb and everything after the first space,
//! verbatim) in, a typed [`Command`] or a [`ParseError`] out. Pure; reached from the
//! fuzz target `fuzz_targets/parse_command.rs` through `parser::parse`.

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

impl ParseError {
    /// The known verb of a line whose arguments did not parse.
    pub fn verb(&self) -> Option<&'static str> {
        match self {
            ParseError::Syntax { verb, .. } | ParseError::Unsupported { verb, .. } => Some(verb),
            _ => None,
        }
    }
}

/// The argument of one command, with the checks most verbs share: what a row of the verb
/// table ([`crate::ftp::control::verbs::VERBS`]) parses.
pub struct Arg<'a> {
    /// The verb as the client spelled it, upper case (`XPWD`, not `PWD`), for errors.
    pub verb: &'static str,
    /// Everything after the first space, verbatim; `None` without a space.
    pub raw: Option<&'a str>,
}

impl<'a> Arg<'a> {
    pub fn syntax(&self, reason: &'static str) -> ParseError {
        ParseError::Syntax {
            verb: self.verb,
            reason,
        }
    }

    pub fn unsupported(&self, reason: &'static str) -> ParseError {
        ParseError::Unsupported {
            verb: self.verb,
            reason,
        }
    }

    pub fn required(&self) -> Result<&'a str, ParseError> {
        match self.raw {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(self.syntax("argument required")),
        }
    }

    pub fn optional(&self) -> Option<&'a str> {
        self.raw.filter(|s| !s.trim().is_empty())
    }

    pub fn none(&self, cmd: Command) -> Result<Command, ParseError> {
        match self.raw.map(str::trim) {
            None | Some("") => Ok(cmd),
            Some(_) => Err(self.syntax("takes no argument")),
        }
    }

    pub fn number(&self, s: &str) -> Result<u64, ParseError> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.syntax("a decimal number is required"));
        }
        s.parse().map_err(|_| self.syntax("number out of range"))
    }

    pub fn single_char(&self, s: &str) -> Result<char, ParseError> {
        let mut chars = s.trim().chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(c.to_ascii_uppercase()),
            _ => Err(self.syntax("a single-letter code is required")),
        }
    }
}

/// `PASS [password]`: the whole rest of the line, spaces included; empty is allowed.
pub(super) fn parse_pass(a: Arg<'_>) -> Result<Command, ParseError> {
    Ok(Command::Pass(Secret(a.raw.unwrap_or("").to_string())))
}

/// `LIST|NLST|STAT [-options] [path]`: `None` without a path.
pub(super) fn listing_path(a: &Arg<'_>) -> Option<String> {
    a.optional().map(strip_ls_options).filter(|s| !s.is_empty())
}

/// `REST n` (RFC 3659 §5 stream restart) or `REST s-e,…` (GFD.20 MODE E ranges, exclusive
/// ends).
pub(super) fn parse_rest(a: Arg<'_>) -> Result<Command, ParseError> {
    let s = a.required()?;
    match s.contains('-') {
        false => a.number(s).map(Command::Rest),
        true => RangeSet::parse(s)
            .map(Command::RestRanges)
            .ok_or(a.syntax("expected an offset or start-end ranges")),
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

/// `TYPE A [N]|I|L 8` (RFC 959 §4.1.2; image for everything binary).
pub(super) fn parse_type(a: Arg<'_>) -> Result<Command, ParseError> {
    let words: Vec<String> = a
        .required()?
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let t = match words.as_slice() {
        ["A"] | ["A", "N"] => DataType::Ascii,
        ["I"] | ["L", "8"] => DataType::Image,
        ["A", _] | ["E"] | ["E", _] | ["L", _] => return Err(a.unsupported("type not supported")),
        _ => return Err(a.syntax("unknown type")),
    };
    Ok(Command::Type(t))
}

/// `PROT C|S|E|P` (RFC 2228 §3).
pub(super) fn parse_prot(a: Arg<'_>) -> Result<Command, ParseError> {
    let level = match a.required()?.trim().to_ascii_uppercase().as_str() {
        "C" => ProtLevel::Clear,
        "S" => ProtLevel::Safe,
        "E" => ProtLevel::Confidential,
        "P" => ProtLevel::Private,
        _ => return Err(a.syntax("level must be C, S, E or P")),
    };
    Ok(Command::Prot(level))
}

/// `OPTS UTF8 [ON|OFF]`, `OPTS MLST facts`, `OPTS RETR …` (RFC 2389 §4, RFC 3659 §7.9,
/// GFD.20); anything else is kept by name and answered 501.
pub(super) fn parse_opts(a: Arg<'_>) -> Result<Command, ParseError> {
    let s = a.required()?;
    let (name, rest) = s.split_once(' ').unwrap_or((s, ""));
    let opts = match name.to_ascii_uppercase().as_str() {
        "UTF8" | "UTF-8" => match rest.trim().to_ascii_uppercase().as_str() {
            "ON" | "" => Opts::Utf8(true),
            "OFF" => Opts::Utf8(false),
            _ => return Err(a.syntax("UTF8 takes ON or OFF")),
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
            None => return Err(a.syntax("expected RETR [BlockSize=n;]Parallelism=n,n,n;")),
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

/// `EPSV [1|2|ALL]` (RFC 2428 §3).
pub(super) fn parse_epsv(a: Arg<'_>) -> Result<Command, ParseError> {
    let arg = match a.optional().map(|s| s.trim().to_ascii_uppercase()) {
        None => EpsvArg::Default,
        Some(s) if s == "ALL" => EpsvArg::All,
        Some(s) if s == "1" || s == "2" => EpsvArg::Proto(if s == "1" { 1 } else { 2 }),
        Some(_) => return Err(a.syntax("argument must be 1, 2 or ALL")),
    };
    Ok(Command::Epsv(arg))
}

/// `PORT h1,h2,h3,h4,p1,p2` (RFC 959 §4.1.2).
pub(super) fn parse_port(a: Arg<'_>) -> Result<Command, ParseError> {
    port_addr(&a, a.required()?).map(Command::Port)
}

/// `h1,h2,h3,h4,p1,p2`, refused as the verb that sent it (PORT or SPOR).
fn port_addr(a: &Arg<'_>, s: &str) -> Result<SocketAddr, ParseError> {
    let err = a.syntax("expected h1,h2,h3,h4,p1,p2");
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
pub(super) fn parse_eprt(a: Arg<'_>) -> Result<Command, ParseError> {
    let err = a.syntax("expected |proto|address|port|");
    let s = a.required()?.trim();
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
        return Err(a.unsupported("network protocol not supported, use (1,2)"));
    }
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err);
    }
    let port: u16 = port.parse().map_err(|_| err.clone())?;
    Ok(Command::Eprt(SocketAddr::new(ip, port)))
}

/// `CKSM alg offset length path` with length -1 for "to the end" (GFD.47).
pub(super) fn parse_cksm(a: Arg<'_>) -> Result<Command, ParseError> {
    let err = a.syntax("expected algorithm offset length path");
    let mut it = a.required()?.splitn(4, ' ');
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

/// `ERET P offset length path`: the only ERET module clients use is P (partial).
pub(super) fn parse_eret(a: Arg<'_>) -> Result<Command, ParseError> {
    let err = a.syntax("expected P offset length path");
    let mut it = a.required()?.splitn(4, ' ');
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
pub(super) fn parse_esto(a: Arg<'_>) -> Result<Command, ParseError> {
    let err = a.syntax("expected A offset path");
    let mut it = a.required()?.splitn(3, ' ');
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
pub(super) fn parse_spor(a: Arg<'_>) -> Result<Command, ParseError> {
    let mut addrs = a.required()?.split_whitespace();
    match (addrs.next(), addrs.next()) {
        (Some(one), None) => port_addr(&a, one).map(Command::Spor),
        _ => Err(a.syntax("exactly one address (no striping)")),
    }
}

/// `MFMT YYYYMMDDHHMMSS[.sss] path` → (Unix seconds, path).
pub(super) fn parse_mfmt(a: Arg<'_>) -> Result<Command, ParseError> {
    let err = a.syntax("expected YYYYMMDDHHMMSS path");
    let (stamp, path) = a.required()?.split_once(' ').ok_or(err.clone())?;
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
