//! Fuzz what an HTTP client controls in `Authorization: Bearer`: `authorise_bearer` on the
//! raw input (macaroon or JWT by shape), on the input dressed as a JWS compact token with
//! a valid-looking ES256 header (to reach issuer selection, key lookup and the signature
//! check), and on the input as V2 macaroon bytes; also macaroon-request bodies, ISO 8601
//! validity parsing and path normalisation. Nothing may panic; nothing made without the
//! keys may be accepted.
#![no_main]

use std::sync::{Arc, OnceLock};

use base64::Engine;
use griddock::auth::bearer::BearerAuthority;
use griddock::auth::macaroon::request::MacaroonRequest;
use griddock::auth::macaroon::{parse_validity, Minter};
use griddock::auth::rights::{normalise_grant_path, normalise_request_path};
use griddock::auth::token::jwks::{parse_jwks, KeysFuture};
use griddock::auth::token::{KeySource, TokenValidator};
use griddock::config::TokenIssuerConfig;
use libfuzzer_sys::fuzz_target;

const ISS: &str = "https://issuer.fuzz";
/// The P-256 example key of RFC 7515 A.3 (its private half is public, but the fuzzer
/// never signs, so nothing it makes may verify).
const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

struct Fixed;

impl KeySource for Fixed {
    fn fetch<'a>(&'a self, _issuer: &'a str) -> KeysFuture<'a> {
        Box::pin(async { Ok(parse_jwks(JWKS.as_bytes()).expect("fixed JWKS")) })
    }
}

fn authority() -> &'static (tokio::runtime::Runtime, BearerAuthority) {
    static A: OnceLock<(tokio::runtime::Runtime, BearerAuthority)> = OnceLock::new();
    A.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let issuer = TokenIssuerConfig {
            issuer: ISS.into(),
            base_path: "/".into(),
            audience: vec!["https://griddock.fuzz".into()],
            ca_file: None,
        };
        let auth = BearerAuthority {
            minter: Minter::from_key(&[42u8; 32], std::time::Duration::from_secs(86400), "fuzz"),
            tokens: TokenValidator::new(&[issuer], Arc::new(Fixed)),
        };
        (rt, auth)
    })
}

fuzz_target!(|data: &[u8]| {
    let (rt, auth) = authority();
    let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let text = String::from_utf8_lossy(data);
    let header = b64(br#"{"alg":"ES256","kid":"k1"}"#);
    let dressed = format!("{header}.{}.{}", b64(data), b64(data));
    for token in [text.to_string(), dressed, b64(data)] {
        let r = rt.block_on(auth.authorise_bearer_at(&token, now));
        assert!(r.is_err(), "forged credential accepted");
    }
    let _ = parse_validity(&text);
    if let Ok(r) = MacaroonRequest::parse("/data", data) {
        assert!(r.path == "/data" || r.path.starts_with("/data/"));
    }
    if let Some(p) = normalise_request_path(&text) {
        assert!(p.starts_with('/') && !p.split('/').any(|c| c == ".." || c == "."));
    }
    if let Some(p) = normalise_grant_path(&text) {
        assert!(!p.split('/').any(|c| c == ".."));
    }
});
