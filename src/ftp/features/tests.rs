//! Per-endpoint FEAT, HELP and SITE HELP, by table: one row per endpoint configuration.

use super::*;

/// The HELP line of the verbs every endpoint has, exactly as clients have always seen it.
const HELP_VERBS: &str = "ABOR ACCT ALLO APPE AUTH CDUP CKSM CWD DELE EPRT EPSV FEAT HELP LIST \
     MDTM MFMT MKD MLSD MLST MODE NLST NOOP OPTS PASS PASV PBSZ PORT PROT PWD QUIT REST RETR RMD \
     RNFR RNTO SITE SIZE STAT STOR STRU SYST TYPE USER";

/// The MLST line as a fresh session advertises it (all facts selected).
const MLST: &str = "type*;size*;modify*;perm*;unique*;unix.mode*;unix.owner*;unix.group*;";

fn ftp(tls: FtpTlsMode) -> Features {
    Features::ftp(&FtpConfig {
        tls,
        ..FtpConfig::default()
    })
}

fn gridftp(gsi: bool, advertise_dcau: bool) -> Features {
    let section = GridftpConfig {
        advertise_dcau,
        ..GridftpConfig::default()
    };
    Features::gridftp(&section, gsi)
}

/// What every endpoint lists, with the endpoint's own lines spliced in where RFC 2389
/// clients have always seen them.
fn feat(ftps: bool, dcau: bool, gridftp: bool) -> Vec<String> {
    let mut v: Vec<&str> = Vec::new();
    if ftps {
        v.extend([" AUTH TLS", " PBSZ", " PROT"]);
    }
    v.extend([
        " CKSM ADLER32;MD5;SHA1;SHA256;SHA512;CRC32C;",
        " EPRT",
        " EPSV",
    ]);
    if dcau {
        v.push(" DCAU");
    }
    if gridftp {
        v.extend([" ERET", " ESTO"]);
    }
    let mlst = format!(" MLST {MLST}");
    v.extend([" MDTM", " MFMT", mlst.as_str(), " PASV"]);
    if gridftp {
        v.push(" PARALLEL");
    }
    v.extend([" REST STREAM", " SIZE"]);
    if gridftp {
        v.extend([" SPAS", " SPOR"]);
    }
    v.extend([" TVFS", " UTF8"]);
    v.into_iter().map(String::from).collect()
}

#[test]
fn feat_lines_per_endpoint_configuration() {
    let rows: [(&str, Features, Vec<String>); 7] = [
        (
            "ftp, tls off",
            ftp(FtpTlsMode::Off),
            feat(false, false, false),
        ),
        (
            "ftp, tls optional",
            ftp(FtpTlsMode::Optional),
            feat(true, false, false),
        ),
        (
            "ftp, tls required",
            ftp(FtpTlsMode::Required),
            feat(true, false, false),
        ),
        (
            "gridftp, no gsi",
            gridftp(false, true),
            feat(false, false, true),
        ),
        (
            "gridftp, no gsi, dcau hidden",
            gridftp(false, false),
            feat(false, false, true),
        ),
        (
            "gridftp, gsi, dcau advertised",
            gridftp(true, true),
            feat(false, true, true),
        ),
        (
            "gridftp, gsi, dcau hidden",
            gridftp(true, false),
            feat(false, false, true),
        ),
    ];
    for (name, features, want) in rows {
        assert_eq!(features.feat_lines(MLST), want, "{name}");
    }
}

/// The exact bytes of the two default endpoints, spelled out once (what clients parse).
#[test]
fn feat_bytes_of_the_default_endpoints() {
    let ftp = ftp(FtpTlsMode::Optional).feat_lines("type*;").join("\n");
    assert_eq!(
        ftp,
        " AUTH TLS\n PBSZ\n PROT\n CKSM ADLER32;MD5;SHA1;SHA256;SHA512;CRC32C;\n EPRT\n EPSV\n \
         MDTM\n MFMT\n MLST type*;\n PASV\n REST STREAM\n SIZE\n TVFS\n UTF8"
    );
    let grid = gridftp(true, true).feat_lines("type*;").join("\n");
    assert_eq!(
        grid,
        " CKSM ADLER32;MD5;SHA1;SHA256;SHA512;CRC32C;\n EPRT\n EPSV\n DCAU\n ERET\n ESTO\n \
         MDTM\n MFMT\n MLST type*;\n PASV\n PARALLEL\n REST STREAM\n SIZE\n SPAS\n SPOR\n TVFS\n UTF8"
    );
}

#[test]
fn features_per_endpoint_configuration() {
    let f = ftp(FtpTlsMode::Optional);
    assert!(f.ftps && !f.gsi && !f.mode_e && !f.eret_esto && !f.spas_spor);
    assert_eq!((f.dcau, f.markers), (DcauOffer::Off, None));
    assert!(!ftp(FtpTlsMode::Off).ftps);
    let g = gridftp(false, true);
    assert!(!g.ftps && !g.gsi && g.mode_e && g.eret_esto && g.spas_spor && g.buffer_hints);
    assert_eq!(
        g.dcau,
        DcauOffer::Accepted,
        "DCAU N works, nothing advertised"
    );
    assert_eq!(g.markers, Some(GridftpConfig::default().marker_interval));
    assert_eq!(gridftp(true, true).dcau, DcauOffer::Advertised);
    assert_eq!(gridftp(true, false).dcau, DcauOffer::Accepted);
    assert!(gridftp(true, false).gsi);
}

#[test]
fn help_and_site_help_per_endpoint() {
    let f = ftp(FtpTlsMode::Optional);
    assert_eq!(f.help_lines(), vec![format!(" {HELP_VERBS}")]);
    assert_eq!(f.site_help(), "SITE commands: HELP CHMOD");
    let g = gridftp(false, true);
    assert_eq!(
        g.help_lines(),
        vec![
            format!(" {HELP_VERBS}"),
            " DCAU ERET ESTO SBUF SPAS SPOR".to_string()
        ]
    );
    assert_eq!(
        g.site_help(),
        "SITE commands: HELP CHMOD CLIENTINFO RETRBUFSIZE STORBUFSIZE"
    );
}

/// HELP lists exactly the verbs an endpoint offers (each by its name, aliases left out),
/// the unlisted rows (ADAT) aside, and every word of it parses as that verb.
#[test]
fn help_lists_exactly_the_verbs_offered() {
    let endpoints = [
        ftp(FtpTlsMode::Off),
        ftp(FtpTlsMode::Optional),
        gridftp(false, false),
        gridftp(true, true),
    ];
    for features in endpoints {
        let mut listed: Vec<String> = features
            .help_lines()
            .iter()
            .flat_map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
            .collect();
        listed.sort_unstable();
        let mut offered: Vec<String> = VERBS
            .iter()
            .filter(|v| v.help && features.offers(v.name))
            .map(|v| v.name.to_string())
            .collect();
        offered.sort_unstable();
        assert_eq!(listed, offered, "{features:?}");
        for name in &listed {
            let cmd = crate::ftp::control::parse(name.as_bytes());
            assert!(
                !matches!(cmd, Err(ParseError::Unknown(_))),
                "{name} in HELP does not parse"
            );
        }
    }
}
