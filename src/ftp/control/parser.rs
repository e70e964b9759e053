//! Pure command-line parser: bytes of one line in, a typed [`Command`] or a [`ParseError`]
//! out (RFC 959 §5.3: a verb, then everything after the first space as its argument).
//!
//! Verbs are case-insensitive and looked up in the verb table ([`super::verbs::VERBS`]),
//! whose row parses the argument (`args.rs`), kept verbatim (paths may contain spaces).
//! No I/O, no allocation beyond the result: this is the fuzz target
//! `fuzz_targets/parse_command.rs`.

use super::args::{Arg, ParseError};
use super::command::Command;
use super::verbs;

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
    let (entry, name) = verbs::lookup(verb).ok_or_else(|| ParseError::Unknown(truncate(verb)))?;
    (entry.parse)(Arg {
        verb: name,
        raw: arg,
    })
}

fn truncate(s: &str) -> String {
    s.chars().take(16).collect()
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::super::command::{DataType, EpsvArg, Opts, ProtLevel, RetrOpts, Secret};
    use super::*;
    use crate::gridftp::ranges::RangeSet;
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
            (b"SPOR 127,0,0,1", Box::new(syntax("SPOR"))),
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
