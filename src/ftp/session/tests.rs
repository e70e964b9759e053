//! The policy layer by table: one refusal for what an endpoint does not offer, whatever
//! the verb, the login state or the arguments (sans-I/O: parse, then `policy`).

use super::*;
use crate::config::{FtpConfig, GridftpConfig};
use crate::ftp::control::parse;

fn ftp() -> Features {
    Features::ftp(&FtpConfig::default())
}

fn gridftp(gsi: bool) -> Features {
    Features::gridftp(&GridftpConfig::default(), gsi)
}

/// The reply code the policy layer gives `line` before any handler runs (`None`: the
/// handler runs).
fn refusal(features: &Features, logged_in: bool, can_write: bool, line: &str) -> Option<u16> {
    let refused = match parse(line.as_bytes()) {
        Ok(cmd) => policy(features, logged_in, can_write, &cmd)?,
        Err(e) => unparsed(features, e),
    };
    Some(refused.to_reply().expect("a reply").code)
}

/// Every GridFTP verb, well-formed and malformed.
const GRIDFTP_VERBS: &[&str] = &[
    "ERET P 0 1 f",
    "ERET Q 0 1 f",
    "ESTO A 0 f",
    "ESTO",
    "SPAS",
    "SPAS x",
    "SPOR 127,0,0,1,1,1",
    "SPOR nonsense",
    "DCAU N",
    "DCAU A",
    "DCAU",
    "SBUF 65536",
    "SBUF x",
    "ADAT AAAA",
];

#[test]
fn gridftp_verbs_on_the_ftp_endpoint_get_502_in_every_state() {
    for line in GRIDFTP_VERBS {
        for (logged_in, can_write) in [(false, false), (true, false), (true, true)] {
            assert_eq!(
                refusal(&ftp(), logged_in, can_write, line),
                Some(502),
                "{line} logged_in={logged_in} can_write={can_write}"
            );
        }
    }
}

/// Parameters of verbs every endpoint has: 504, "not implemented for that parameter".
const GRIDFTP_PARAMETERS: &[&str] = &[
    "MODE E",
    "OPTS RETR Parallelism=4,4,4;",
    "REST 0-100",
    "SITE CLIENTINFO appname=\"globus-url-copy\"",
    "SITE RETRBUFSIZE 1048576",
    "SITE STORBUFSIZE 1048576",
    "SITE BUFSIZE 1048576",
    "AUTH GSSAPI",
];

#[test]
fn gridftp_parameters_on_the_ftp_endpoint_get_504() {
    for line in GRIDFTP_PARAMETERS {
        assert_eq!(refusal(&ftp(), true, true, line), Some(504), "{line}");
    }
}

#[test]
fn the_gridftp_endpoint_offers_them() {
    let with_gsi = gridftp(true);
    for line in GRIDFTP_VERBS.iter().chain(GRIDFTP_PARAMETERS) {
        let want = match parse(line.as_bytes()) {
            Ok(_) => None,
            // Malformed: bad syntax, as on any endpoint that has the verb.
            Err(_) => Some(501),
        };
        assert_eq!(refusal(&with_gsi, true, true, line), want, "{line}");
    }
    // Without GSI there is no security exchange to continue.
    let no_gsi = gridftp(false);
    assert_eq!(refusal(&no_gsi, true, true, "ADAT AAAA"), Some(502));
    assert_eq!(refusal(&no_gsi, true, true, "AUTH GSSAPI"), Some(504));
    assert_eq!(refusal(&no_gsi, true, true, "DCAU N"), None);
}

#[test]
fn ftps_is_a_parameter_of_auth_offered_per_endpoint() {
    let off = Features::ftp(&FtpConfig {
        tls: crate::config::FtpTlsMode::Off,
        ..FtpConfig::default()
    });
    for line in ["AUTH TLS", "AUTH TLS-C", "AUTH SSL"] {
        assert_eq!(refusal(&ftp(), false, false, line), None, "{line}");
        assert_eq!(refusal(&off, false, false, line), Some(504), "{line}");
        assert_eq!(
            refusal(&gridftp(true), false, false, line),
            Some(504),
            "{line}"
        );
    }
}

/// What every endpoint offers still meets login and permission checks, unchanged.
#[test]
fn login_and_permission_checks_follow() {
    for f in [ftp(), gridftp(false), gridftp(true)] {
        assert_eq!(refusal(&f, false, false, "RETR f"), Some(530));
        assert_eq!(refusal(&f, true, false, "STOR f"), Some(550));
        assert_eq!(refusal(&f, true, true, "STOR f"), None);
        assert_eq!(refusal(&f, false, false, "FEAT"), None);
        assert_eq!(refusal(&f, true, true, "MODE S"), None);
        assert_eq!(refusal(&f, true, true, "SITE CHMOD 644 f"), None);
        assert_eq!(refusal(&f, true, true, "BOGUS"), Some(500));
        assert_eq!(refusal(&f, true, true, "RETR"), Some(501));
    }
    assert_eq!(
        refusal(&gridftp(false), true, false, "ESTO A 0 f"),
        Some(550)
    );
    assert_eq!(
        refusal(&gridftp(false), false, false, "ERET P 0 1 f"),
        Some(530)
    );
}
