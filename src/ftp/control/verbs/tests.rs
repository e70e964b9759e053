//! Table tests for the verb table: each row against the parser, `Command` and the policy.

use std::collections::HashSet;

use super::*;
use crate::ftp::control::parse;

/// One valid line per `Command` variant (REST twice: stream offset and MODE E ranges).
const SAMPLES: &[&str] = &[
    "USER a",
    "PASS x",
    "ACCT a",
    "QUIT",
    "SYST",
    "FEAT",
    "OPTS UTF8 ON",
    "HELP",
    "NOOP",
    "STAT",
    "SITE HELP",
    "PWD",
    "CWD d",
    "CDUP",
    "TYPE I",
    "MODE S",
    "STRU F",
    "ALLO 1",
    "REST 5",
    "PASV",
    "EPSV",
    "PORT 127,0,0,1,4,1",
    "EPRT |1|127.0.0.1|1025|",
    "RETR f",
    "STOR f",
    "APPE f",
    "ABOR",
    "LIST",
    "NLST",
    "MLSD",
    "MLST",
    "SIZE f",
    "MDTM f",
    "MFMT 20240102030405 f",
    "MKD d",
    "RMD d",
    "DELE f",
    "RNFR a",
    "RNTO b",
    "AUTH TLS",
    "PBSZ 0",
    "PROT P",
    "CKSM MD5 0 -1 f",
    "SBUF 1",
    "DCAU N",
    "REST 0-10",
    "ERET P 0 1 f",
    "ESTO A 0 f",
    "ADAT AAAA",
    "SPAS",
    "SPOR 127,0,0,1,4,1",
];

/// The variant's position in `Command`: exhaustive, so a new variant does not compile
/// here until it is given a number, and `every_variant_has_exactly_one_row` then asks
/// for a sample of it.
fn variant(c: &Command) -> usize {
    match c {
        C::User(_) => 0,
        C::Pass(_) => 1,
        C::Acct => 2,
        C::Quit => 3,
        C::Syst => 4,
        C::Feat => 5,
        C::Opts(_) => 6,
        C::Help => 7,
        C::Noop => 8,
        C::Stat(_) => 9,
        C::Site(_) => 10,
        C::Pwd => 11,
        C::Cwd(_) => 12,
        C::Cdup => 13,
        C::Type(_) => 14,
        C::Mode(_) => 15,
        C::Stru(_) => 16,
        C::Allo => 17,
        C::Rest(_) => 18,
        C::Pasv => 19,
        C::Epsv(_) => 20,
        C::Port(_) => 21,
        C::Eprt(_) => 22,
        C::Retr(_) => 23,
        C::Stor(_) => 24,
        C::Appe(_) => 25,
        C::Abor => 26,
        C::List(_) => 27,
        C::Nlst(_) => 28,
        C::Mlsd(_) => 29,
        C::Mlst(_) => 30,
        C::Size(_) => 31,
        C::Mdtm(_) => 32,
        C::Mfmt(..) => 33,
        C::Mkd(_) => 34,
        C::Rmd(_) => 35,
        C::Dele(_) => 36,
        C::Rnfr(_) => 37,
        C::Rnto(_) => 38,
        C::Auth(_) => 39,
        C::Pbsz(_) => 40,
        C::Prot(_) => 41,
        C::Cksm { .. } => 42,
        C::Sbuf(_) => 43,
        C::Dcau(_) => 44,
        C::RestRanges(_) => 45,
        C::Eret { .. } => 46,
        C::Esto { .. } => 47,
        C::Adat(_) => 48,
        C::Spas => 49,
        C::Spor(_) => 50,
    }
}

const VARIANTS: usize = 51;

fn sample(line: &str) -> Command {
    parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

/// The line with its verb spelled `name` instead.
fn respelled(line: &str, name: &str) -> String {
    match line.split_once(' ') {
        Some((_, arg)) => format!("{name} {arg}"),
        None => name.to_string(),
    }
}

fn mixed_case(name: &str) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| match i % 2 {
            0 => c.to_ascii_lowercase(),
            _ => c,
        })
        .collect()
}

#[test]
fn every_variant_has_exactly_one_row() {
    let mut seen = HashSet::new();
    for line in SAMPLES {
        let cmd = sample(line);
        seen.insert(variant(&cmd));
        let rows: Vec<&str> = VERBS
            .iter()
            .filter(|v| (v.is)(&cmd))
            .map(|v| v.name)
            .collect();
        let sent = line.split(' ').next().unwrap();
        assert_eq!(rows, [sent], "{line}: rows claiming {cmd:?}");
        assert_eq!(cmd.verb(), sent, "{line}");
    }
    assert_eq!(seen.len(), VARIANTS, "a sample per Command variant");
}

#[test]
fn every_row_parses_its_name_and_aliases_in_any_case() {
    for row in VERBS {
        let line = SAMPLES
            .iter()
            .find(|l| l.split(' ').next() == Some(row.name))
            .unwrap_or_else(|| panic!("{}: no sample line", row.name));
        for name in row.names() {
            for spelling in [
                name.to_string(),
                name.to_ascii_lowercase(),
                mixed_case(name),
            ] {
                let cmd = sample(&respelled(line, &spelling));
                assert!((row.is)(&cmd), "{spelling}: {cmd:?}");
                assert_eq!(cmd.verb(), row.name, "{spelling}");
            }
            // A bad argument is refused as this verb, spelled as sent.
            if let Err(e) =
                parse(format!("{} \u{1}\u{1} \u{1}", name.to_ascii_lowercase()).as_bytes())
            {
                assert_eq!(e.verb(), Some(name), "{name}: {e}");
            }
        }
    }
}

#[test]
fn names_and_aliases_are_unique_upper_case_words() {
    let mut seen = HashSet::new();
    for name in VERBS.iter().flat_map(Verb::names) {
        assert!(
            (3..=4).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_uppercase()),
            "{name}"
        );
        assert!(seen.insert(name), "{name} is in the table twice");
    }
    assert_eq!(
        lookup("xpwd").map(|(v, n)| (v.name, n)),
        Some(("PWD", "XPWD"))
    );
    assert!(lookup("FOO").is_none());
}

/// The policy by name: the security-relevant part of the table, spelled out.
#[test]
fn policy_of_every_row() {
    let named = |f: fn(&Verb) -> bool| -> Vec<&str> {
        let mut v: Vec<&str> = VERBS.iter().filter(|r| f(r)).map(|r| r.name).collect();
        v.sort_unstable();
        v
    };
    assert_eq!(
        named(|r| r.policy.anonymous),
        [
            "ADAT", "AUTH", "FEAT", "HELP", "NOOP", "OPTS", "PASS", "PBSZ", "PROT", "QUIT", "SYST",
            "USER"
        ]
    );
    assert_eq!(
        named(|r| r.policy.writes),
        ["APPE", "DELE", "ESTO", "MFMT", "MKD", "RMD", "RNFR", "RNTO", "STOR"]
    );
    assert_eq!(
        named(|r| !matches!(r.policy.busy, Busy::Queued)),
        ["ABOR", "STAT"]
    );
    assert!(sample("STAT").spec().during_transfer);
    assert!(!sample("STAT /d").spec().during_transfer);
    assert!(sample("ABOR").spec().during_transfer);
    assert_eq!(
        named(|r| r.offered != Need::Nothing),
        ["ADAT", "DCAU", "ERET", "ESTO", "SBUF", "SPAS", "SPOR"]
    );
    assert_eq!(named(|r| !r.help), ["ADAT"]);
}
