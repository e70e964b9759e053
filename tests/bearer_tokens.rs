//! WLCG tokens from an independent implementation (PyJWT + python3-cryptography) and keys
//! fetched over real HTTPS: tests/fixtures/token_issuer.py serves the OpenID discovery
//! document and JWK Set on loopback with a certificate from a test CA made here (rcgen),
//! and griddock's HttpsKeySource must trust it only through `ca_file`.

mod common;

use std::process::Command;
use std::sync::Arc;

use griddock::auth::token::{HttpsKeySource, TokenError, TokenValidator};
use griddock::auth::Activity;
use griddock::config::TokenIssuerConfig;

use common::tokens::{python_has, python_jwt_available, start_issuer, Issuer};

fn validator(issuer: &Issuer, ca_file: Option<std::path::PathBuf>) -> TokenValidator {
    let cfg = TokenIssuerConfig {
        issuer: issuer.url.clone(),
        base_path: "/atlas".into(),
        audience: vec!["https://griddock.test".into()],
        ca_file,
    };
    let source = HttpsKeySource::new(std::slice::from_ref(&cfg)).unwrap();
    TokenValidator::new(&[cfg], Arc::new(source))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn pyjwt_tokens_with_keys_over_https() {
    if !python_jwt_available() {
        return;
    }
    let issuer = start_issuer(&[]);
    let v = validator(&issuer, Some(issuer.ca_file.clone()));
    let token = |name: &str| issuer.tokens[name].as_str().unwrap().to_string();
    for name in ["rs256", "es256", "any_audience"] {
        let g = v
            .validate(&token(name), now())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(g.subject, "alice");
        assert_eq!(g.groups, ["/atlas"]);
        assert!(g.allows(Activity::Read, "/atlas/data/f"), "{name}");
        assert!(!g.allows(Activity::Read, "/atlas/database"), "{name}");
        assert!(
            g.allows(Activity::Create, "/atlas/data/incoming/new"),
            "{name}"
        );
        assert!(
            !g.allows(Activity::Overwrite, "/atlas/data/incoming/new"),
            "{name}"
        );
        assert!(!g.allows(Activity::Create, "/atlas/data/other"), "{name}");
    }
    let refused = [
        ("expired", TokenError::Expired),
        ("wrong_audience", TokenError::Audience),
        ("unknown_kid", TokenError::UnknownKey),
        ("hs256_public_key", TokenError::Algorithm),
    ];
    for (name, want) in refused {
        assert_eq!(v.validate(&token(name), now()).await, Err(want), "{name}");
    }
}

#[tokio::test]
async fn issuer_https_is_verified() {
    if !python_jwt_available() {
        return;
    }
    let issuer = start_issuer(&[]);
    // Without the test CA the issuer's certificate is not trusted: no keys, no token.
    let v = validator(&issuer, None);
    let token = issuer.tokens["rs256"].as_str().unwrap();
    match v.validate(token, now()).await {
        Err(TokenError::KeysUnavailable(why)) => assert!(!why.contains(token), "{why}"),
        other => panic!("accepted without trusting the issuer: {other:?}"),
    }
}

/// pymacaroons for /usr/bin/python3; missing under CI=true is a failure.
fn pymacaroons_available() -> bool {
    python_has("import pymacaroons", "python3-pymacaroons")
}

/// griddock's macaroons are libmacaroons V2: an independent implementation verifies them,
/// extends them, and mints ones griddock accepts.
#[test]
fn macaroons_interoperate_with_pymacaroons() {
    use griddock::auth::macaroon::{MacaroonActivity, Minter};
    use griddock::auth::Grant;
    use std::time::Duration;
    if !pymacaroons_available() {
        return;
    }
    let key = [0x5au8; 32];
    let minter = Minter::from_key(&key, Duration::from_secs(86400), "griddock.test");
    let now = time::OffsetDateTime::now_utc();
    let alice = Grant::account("alice", "/home/alice", true);
    let text = minter
        .mint(
            &alice,
            "/home/alice/data",
            &[MacaroonActivity::Download],
            Duration::from_secs(600),
            now,
        )
        .unwrap();
    let before = (now + Duration::from_secs(300))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/macaroon_peer.py"
    );
    let out = Command::new("/usr/bin/python3")
        .args([script, &hex, &text, &before])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["verified"], true,
        "pymacaroons rejects griddock's signature"
    );
    let caveats: Vec<&str> = v["caveats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        caveats[..3],
        ["name:alice", "path:/home/alice/data", "activity:DOWNLOAD"]
    );
    assert!(caveats[3].starts_with("before:"));

    let narrowed = minter.verify(v["narrowed"].as_str().unwrap(), now).unwrap();
    assert!(narrowed.allows(Activity::Read, "/home/alice/data/sub/f"));
    assert!(!narrowed.allows(Activity::Read, "/home/alice/data/f"));

    let minted = minter.verify(v["minted"].as_str().unwrap(), now).unwrap();
    assert_eq!(minted.identity, "carol");
    assert!(minted.allows(Activity::Read, "/home/alice/data/f"));
    let stranger = Minter::from_key(&[1u8; 32], Duration::from_secs(86400), "x");
    assert!(stranger.verify(v["minted"].as_str().unwrap(), now).is_err());
}
