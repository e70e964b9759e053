use std::io::Write;

use super::*;

fn file(contents: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(contents.as_bytes()).unwrap();
    f
}

fn load_err(contents: &str) -> String {
    let f = file(contents);
    Config::load(Some(f.path())).unwrap_err().to_string()
}

#[test]
fn defaults_are_the_documented_ones() {
    let c = Config::default();
    assert_eq!(c.ftp.listen.to_string(), "0.0.0.0:2121");
    assert_eq!(
        c.ftp.passive_ports,
        PortRange {
            start: 50000,
            end: 50200
        }
    );
    assert_eq!(c.ftp.fxp, FxpMode::AllowList);
    assert_eq!(c.auth.anonymous, AnonymousMode::Read);
    assert_eq!(c.shutdown_grace, Duration::from_secs(30));
    let text = c.to_redacted_toml();
    assert!(text.contains("passive_ports = \"50000-50200\""), "{text}");
    assert!(text.contains("fxp = \"allow-list\""), "{text}");
}

#[test]
fn file_values_apply() {
    let f = file("public_host = \"ftp.example.org\"\n[ftp]\nlisten = \"127.0.0.1:21\"\nfxp_allow = [\"10.0.0.0/8\"]\n");
    let c = Config::load(Some(f.path())).unwrap();
    assert_eq!(c.public_host, "ftp.example.org");
    assert_eq!(c.ftp.listen.to_string(), "127.0.0.1:21");
    assert_eq!(
        c.ftp.fxp_allow,
        vec!["10.0.0.0/8".parse::<ipnet::IpNet>().unwrap()]
    );
}

#[test]
fn unknown_keys_are_named() {
    assert!(load_err("[ftp]\nlisen = \"1.2.3.4:21\"\n").contains("ftp.lisen"));
    assert!(load_err("bogus = 1\n").contains("bogus"));
}

#[test]
fn bad_values_name_their_key() {
    let e = load_err("[ftp]\npassive_ports = \"60000-50000\"\n");
    assert!(
        e.contains("ftp.passive_ports") && e.contains("60000-50000"),
        "{e}"
    );
    assert!(load_err("[ftp]\npassive_ports = \"abc\"\n").contains("ftp.passive_ports"));
    assert!(load_err("[ftp]\nfxp = \"sometimes\"\n").contains("ftp.fxp"));
    assert!(load_err("[ftp]\nfxp_allow = [\"10.0.0.0/33\"]\n").contains("ftp.fxp_allow"));
    assert!(load_err("shutdown_grace = \"soon\"\n").contains("shutdown_grace"));
    assert!(load_err("[tls]\nsource = \"files\"\n").contains("tls.cert_file"));
}

#[test]
fn missing_explicit_file_is_an_error() {
    assert!(Config::load(Some(Path::new("/nonexistent/griddock.toml"))).is_err());
}

#[test]
fn port_range_parsing() {
    assert_eq!(
        "2121-2121".parse::<PortRange>().unwrap(),
        PortRange {
            start: 2121,
            end: 2121
        }
    );
    assert!("0-10".parse::<PortRange>().is_err());
    assert!("10-70000".parse::<PortRange>().is_err());
}

#[test]
fn redaction_hides_secret_keys() {
    let mut v: toml::Value =
        toml::from_str("[acme]\neab_hmac_key = \"abc\"\nemail = \"a@b\"\n").unwrap();
    redact(&mut v);
    let s = v.to_string();
    assert!(
        s.contains("<redacted>") && !s.contains("abc") && s.contains("a@b"),
        "{s}"
    );
}

const ISSUER: &str = "[[auth.token_issuers]]\nissuer = \"https://iam.example.org/\"\n";

#[test]
fn token_issuers_parse_with_defaults() {
    let f = file(&format!(
        "{ISSUER}audience = [\"https://se.example.org\"]\n"
    ));
    let c = Config::load(Some(f.path())).unwrap();
    assert_eq!(
        c.auth.token_issuers,
        vec![TokenIssuerConfig {
            issuer: "https://iam.example.org/".into(),
            base_path: "/".into(),
            audience: vec!["https://se.example.org".into()],
            ca_file: None,
        }]
    );
    assert_eq!(c.auth.macaroon_max_validity, Duration::from_secs(86400));
    let text = c.to_redacted_toml();
    assert!(
        text.contains("https://iam.example.org/"),
        "issuers are not secrets: {text}"
    );
}

#[test]
fn token_issuers_are_validated() {
    let aud = "audience = [\"https://se\"]\n";
    let bad = [
        (
            format!("{ISSUER}{aud}colour = \"red\"\n"),
            "auth.token_issuers",
        ),
        (format!("{ISSUER}audience = []\n"), "audience"),
        (ISSUER.to_string(), "audience"),
        (
            format!("[[auth.token_issuers]]\nissuer = \"http://iam.example.org\"\n{aud}"),
            "https",
        ),
        (
            format!("[[auth.token_issuers]]\nissuer = \"iam.example.org\"\n{aud}"),
            "issuer",
        ),
        (
            format!("[[auth.token_issuers]]\nissuer = \"https://x/?a=b\"\n{aud}"),
            "query",
        ),
        (format!("{ISSUER}{aud}base_path = \"atlas\"\n"), "base_path"),
        (
            format!("{ISSUER}{aud}base_path = \"/atlas/../etc\"\n"),
            "base_path",
        ),
        (
            format!("{ISSUER}{aud}base_path = \"/atlas/\"\n"),
            "base_path",
        ),
        (
            format!("{ISSUER}{aud}ca_file = \"/nonexistent.pem\"\n"),
            "ca_file",
        ),
        (format!("{ISSUER}{aud}{ISSUER}{aud}"), "twice"),
        (
            "[auth]\nmacaroon_max_validity = \"0s\"\n".to_string(),
            "macaroon_max_validity",
        ),
    ];
    for (text, want) in bad {
        let e = load_err(&text);
        assert!(e.contains(want), "{text}\n→ {e}");
    }
}

#[test]
fn shipped_config_and_its_issuer_sample_load() {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/griddock.toml"))
            .unwrap();
    Config::load(Some(file(&shipped).path())).unwrap();
    let sample: String = shipped
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest)
                if (rest.starts_with("[[auth.token")
                    || rest.starts_with("issuer")
                    || rest.starts_with("base_path")
                    || rest.starts_with("audience")) =>
            {
                rest
            }
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let c = Config::load(Some(file(&sample).path())).unwrap();
    assert_eq!(c.auth.token_issuers.len(), 1, "{sample}");
    assert_eq!(c.auth.token_issuers[0].base_path, "/atlas");
}

#[test]
fn webdav_is_on_by_default_and_validated() {
    let c = Config::default();
    assert!(c.webdav.enabled);
    assert_eq!(c.webdav.listen.to_string(), "0.0.0.0:8443");
    let text = c.to_redacted_toml();
    assert!(
        text.contains("[webdav]") && !text.contains("[https]"),
        "{text}"
    );
    let e = load_err(
        "[tls]\nsource = \"acme\"\n[acme]\nchallenge = \"tls-alpn-01\"\ndomains = [\"x.example\"]\n\
         [webdav]\nenabled = false\n",
    );
    assert!(e.starts_with("webdav.enabled:"), "{e}");
    let e = load_err("[webdav]\nlisten = \"127.0.0.1:0\"\n");
    assert!(e.starts_with("webdav.listen:"), "{e}");
    let e =
        load_err("[http]\nlisten = \"127.0.0.1:9000\"\n[webdav]\nlisten = \"127.0.0.1:9000\"\n");
    assert!(e.starts_with("webdav.listen:"), "{e}");
}

#[test]
fn the_retired_https_listen_is_read_as_webdav_listen() {
    let f = file("[https]\nenabled = false\nlisten = \"127.0.0.1:9443\"\n");
    let c = Config::load(Some(f.path())).unwrap();
    assert_eq!(c.webdav.listen.to_string(), "127.0.0.1:9443");
    assert!(
        c.webdav.enabled,
        "enabled = false no longer turns the data endpoint off"
    );
    let notes = c.deprecations();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].contains("webdav.listen"), "{notes:?}");
    // An explicit webdav.listen wins.
    let f = file("[https]\nlisten = \"127.0.0.1:9443\"\n[webdav]\nlisten = \"127.0.0.1:7443\"\n");
    let c = Config::load(Some(f.path())).unwrap();
    assert_eq!(c.webdav.listen.to_string(), "127.0.0.1:7443");
    assert!(Config::default().deprecations().is_empty());
}
