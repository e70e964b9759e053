//! Tokens signed in the test with ring (RS256 with a fixture key, ES256 with a fresh one);
//! keys served by a counting in-memory [`KeySource`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};

use super::*;

pub(crate) const ISS: &str = "https://issuer.test";
pub(crate) const AUD: &str = "https://griddock.test";
pub(crate) const NOW: i64 = 1_800_000_000;
/// A 2048-bit RSA key (PKCS#1 DER) made once with `openssl genpkey`: test use only.
const RSA_DER: &[u8] = include_bytes!("testdata/rs256-test-key.pkcs1.der");

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub(crate) struct Keys {
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
}

impl Keys {
    pub(crate) fn new() -> Keys {
        let rng = SystemRandom::new();
        let pk8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap();
        Keys {
            rsa: RsaKeyPair::from_der(RSA_DER).unwrap(),
            ec: EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                pk8.as_ref(),
                &rng,
            )
            .unwrap(),
        }
    }

    fn rsa_jwk(&self, kid: &str) -> Value {
        let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(self.rsa.public());
        json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(&c.n), "e": b64(&c.e)})
    }

    fn ec_jwk(&self, kid: &str) -> Value {
        let p = self.ec.public_key().as_ref();
        json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..65])})
    }

    pub(crate) fn set(&self) -> JwkSet {
        let text = json!({"keys": [self.rsa_jwk("r1"), self.ec_jwk("e1")]}).to_string();
        jwks::parse_jwks(text.as_bytes()).unwrap()
    }

    /// A compact JWS of `claims` with `header`, signed as `header.alg` says.
    pub(crate) fn sign(&self, header: &Value, claims: &Value) -> String {
        let msg = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let rng = SystemRandom::new();
        let sig = match header["alg"].as_str().unwrap() {
            "RS256" => {
                let mut sig = vec![0; self.rsa.public().modulus_len()];
                self.rsa
                    .sign(&signature::RSA_PKCS1_SHA256, &rng, msg.as_bytes(), &mut sig)
                    .unwrap();
                sig
            }
            "ES256" => self
                .ec
                .sign(&rng, msg.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            "HS256" => {
                // The classic confusion: HMAC keyed with the RSA public key's JWK text.
                let secret = self.rsa_jwk("r1").to_string();
                let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
                ring::hmac::sign(&k, msg.as_bytes()).as_ref().to_vec()
            }
            _ => Vec::new(),
        };
        format!("{msg}.{}", b64(&sig))
    }
}

pub(crate) fn claims(scope: &str) -> Value {
    json!({
        "wlcg.ver": "1.0", "iss": ISS, "sub": "alice", "aud": AUD, "jti": "j1",
        "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 600, "scope": scope,
        "wlcg.groups": ["/atlas", "/atlas/prod"],
    })
}

pub(crate) fn rs(kid: &str) -> Value {
    json!({"alg": "RS256", "typ": "JWT", "kid": kid})
}

pub(crate) struct MockSource {
    pub(crate) set: Mutex<JwkSet>,
    pub(crate) fetches: AtomicUsize,
}

impl KeySource for MockSource {
    fn fetch<'a>(&'a self, issuer: &'a str) -> jwks::KeysFuture<'a> {
        assert_eq!(issuer, ISS);
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let set = self.set.lock().unwrap().clone();
        Box::pin(async move { Ok(set) })
    }
}

pub(crate) fn issuer_cfg() -> TokenIssuerConfig {
    TokenIssuerConfig {
        issuer: ISS.into(),
        base_path: "/atlas".into(),
        audience: vec![AUD.into()],
        ca_file: None,
    }
}

fn setup(keys: &Keys) -> (TokenValidator, Arc<MockSource>) {
    let source = Arc::new(MockSource {
        set: Mutex::new(keys.set()),
        fetches: AtomicUsize::new(0),
    });
    (TokenValidator::new(&[issuer_cfg()], source.clone()), source)
}

async fn check(v: &TokenValidator, token: &str) -> Result<TokenGrant, TokenError> {
    v.validate(token, NOW).await
}

#[tokio::test]
async fn rs256_and_es256_tokens_are_accepted() {
    let keys = Keys::new();
    let (v, _) = setup(&keys);
    let g = check(&v, &keys.sign(&rs("r1"), &claims("storage.read:/data")))
        .await
        .unwrap();
    assert_eq!((g.issuer.as_str(), g.subject.as_str()), (ISS, "alice"));
    assert_eq!(g.groups, ["/atlas", "/atlas/prod"]);
    assert_eq!(g.expires.unix_timestamp(), NOW + 600);
    assert!(g.allows(Activity::Read, "/atlas/data/f"));
    assert!(
        !g.allows(Activity::Read, "/data/f"),
        "base_path not applied"
    );
    let es = json!({"alg": "ES256", "kid": "e1"});
    let g = check(&v, &keys.sign(&es, &claims("storage.modify:/")))
        .await
        .unwrap();
    assert!(g.allows(Activity::Delete, "/atlas/x"));
    assert!(
        !g.allows(Activity::Read, "/atlas/x"),
        "modify does not imply read"
    );
}

#[tokio::test]
async fn time_claims_are_enforced_with_leeway() {
    let keys = Keys::new();
    let (v, _) = setup(&keys);
    let mut c = claims("storage.read:/");
    c["exp"] = json!(NOW - LEEWAY - 1);
    assert_eq!(
        check(&v, &keys.sign(&rs("r1"), &c)).await,
        Err(TokenError::Expired)
    );
    c["exp"] = json!(NOW - LEEWAY + 5);
    assert!(check(&v, &keys.sign(&rs("r1"), &c)).await.is_ok(), "leeway");
    let mut c = claims("storage.read:/");
    c["nbf"] = json!(NOW + LEEWAY + 5);
    assert_eq!(
        check(&v, &keys.sign(&rs("r1"), &c)).await,
        Err(TokenError::NotYetValid)
    );
    let mut c = claims("storage.read:/");
    c["iat"] = json!(NOW + 3600);
    assert_eq!(
        check(&v, &keys.sign(&rs("r1"), &c)).await,
        Err(TokenError::NotYetValid)
    );
    // Type confusion (CVE-2026-25537 class): a string nbf must not be skipped.
    let mut c = claims("storage.read:/");
    c["nbf"] = json!("99999999999");
    assert_eq!(
        check(&v, &keys.sign(&rs("r1"), &c)).await,
        Err(TokenError::Claims)
    );
    let mut c = claims("storage.read:/");
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        check(&v, &keys.sign(&rs("r1"), &c)).await,
        Err(TokenError::Claims)
    );
}

#[tokio::test]
async fn issuer_and_audience_must_match() {
    let keys = Keys::new();
    let (v, _) = setup(&keys);
    for iss in [
        "https://evil.test",
        "https://issuer.test/",
        "https://ISSUER.test",
    ] {
        let mut c = claims("storage.read:/");
        c["iss"] = json!(iss);
        assert_eq!(
            check(&v, &keys.sign(&rs("r1"), &c)).await,
            Err(TokenError::UnknownIssuer),
            "{iss}"
        );
    }
    let mut c = claims("storage.read:/");
    c["aud"] = json!(["https://other.test"]);
    assert_eq!(
        check(&v, &keys.sign(&rs("r1"), &c)).await,
        Err(TokenError::Audience)
    );
    c["aud"] = json!(["https://other.test", ANY_AUDIENCE]);
    assert!(
        check(&v, &keys.sign(&rs("r1"), &c)).await.is_ok(),
        "any audience"
    );
    c["aud"] = json!(AUD);
    assert!(
        check(&v, &keys.sign(&rs("r1"), &c)).await.is_ok(),
        "string audience"
    );
}

#[tokio::test]
async fn algorithm_attacks_are_refused() {
    let keys = Keys::new();
    let (v, _) = setup(&keys);
    let c = claims("storage.modify:/");
    let hs = keys.sign(&json!({"alg": "HS256", "kid": "r1"}), &c);
    assert_eq!(check(&v, &hs).await, Err(TokenError::Algorithm));
    let none = keys.sign(&json!({"alg": "none", "kid": "r1"}), &c);
    assert_eq!(check(&v, &none).await, Err(TokenError::Algorithm));
    // An ES256 header over the RSA key id, and RS256 over the EC key: key type mismatch.
    let es_on_rsa = keys.sign(&json!({"alg": "ES256", "kid": "r1"}), &c);
    assert_eq!(check(&v, &es_on_rsa).await, Err(TokenError::KeyMismatch));
    let rs_on_ec = keys.sign(&rs("e1"), &c);
    assert_eq!(check(&v, &rs_on_ec).await, Err(TokenError::KeyMismatch));
    let crit = keys.sign(
        &json!({"alg": "RS256", "kid": "r1", "crit": ["b64"], "b64": "x"}),
        &c,
    );
    assert_eq!(check(&v, &crit).await, Err(TokenError::Critical));
    let no_kid = keys.sign(&json!({"alg": "RS256"}), &c);
    assert_eq!(check(&v, &no_kid).await, Err(TokenError::NoKeyId));
}

#[tokio::test]
async fn tampering_breaks_the_signature() {
    let keys = Keys::new();
    let (v, _) = setup(&keys);
    let token = keys.sign(&rs("r1"), &claims("storage.read:/data"));
    let parts: Vec<&str> = token.split('.').collect();
    let wider = b64(claims("storage.modify:/").to_string().as_bytes());
    let forged = format!("{}.{wider}.{}", parts[0], parts[2]);
    assert_eq!(check(&v, &forged).await, Err(TokenError::Signature));
    let mut sig = parts[2].to_string().into_bytes();
    sig[5] = if sig[5] == b'A' { b'B' } else { b'A' };
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        String::from_utf8(sig).unwrap()
    );
    assert_eq!(check(&v, &forged).await, Err(TokenError::Signature));
    for junk in [
        "",
        ".",
        "..",
        "a.b.c",
        "a.b",
        "eyJhbGciOiJSUzI1NiJ9..",
        &"x.".repeat(9000),
    ] {
        assert!(check(&v, junk).await.is_err(), "{junk:.20}");
    }
}

#[tokio::test]
async fn unknown_kid_triggers_exactly_one_refetch() {
    let keys = Keys::new();
    let (v, source) = setup(&keys);
    let token = keys.sign(&rs("r1"), &claims("storage.read:/"));
    check(&v, &token).await.unwrap();
    check(&v, &token).await.unwrap();
    assert_eq!(source.fetches.load(Ordering::SeqCst), 1, "keys are cached");
    // The issuer rotates in a key we have not seen.
    let mut rotated = keys.rsa_jwk("r2");
    rotated["kid"] = json!("r2");
    let text = json!({"keys": [rotated]}).to_string();
    *source.set.lock().unwrap() = jwks::parse_jwks(text.as_bytes()).unwrap();
    let new = keys.sign(&rs("r2"), &claims("storage.read:/"));
    let later = NOW + jwks::REFETCH_INTERVAL;
    v.validate(&new, later).await.unwrap();
    assert_eq!(
        source.fetches.load(Ordering::SeqCst),
        2,
        "one refetch for the new kid"
    );
    v.validate(&new, later + 1).await.unwrap();
    let unknown = keys.sign(&rs("nope"), &claims("storage.read:/"));
    assert_eq!(
        v.validate(&unknown, later + 2).await,
        Err(TokenError::UnknownKey)
    );
    assert_eq!(
        v.validate(&unknown, later + 3).await,
        Err(TokenError::UnknownKey)
    );
    assert_eq!(
        source.fetches.load(Ordering::SeqCst),
        2,
        "refetches are rate-limited"
    );
    // After an hour the keys are fetched again even for a known kid.
    v.validate(&new, later + jwks::KEY_CACHE_TTL)
        .await
        .unwrap_err(); // expired by then
    assert_eq!(
        source.fetches.load(Ordering::SeqCst),
        3,
        "cache expires after an hour"
    );
}

#[test]
fn scope_matcher_table() {
    use Activity::*;
    let cases: &[(&str, &str, Activity, &str, bool)] = &[
        // (scope, base, activity, request path, allowed)
        ("storage.read:/foo", "/", Read, "/foo", true),
        ("storage.read:/foo", "/", Read, "/foo/bar", true),
        ("storage.read:/foo", "/", Read, "/foobar", false),
        ("storage.read:/foo", "/", Read, "/fo", false),
        ("storage.read:/foo", "/", Read, "/", false),
        ("storage.read:/foo", "/", Read, "/foo/", true),
        ("storage.read:/foo", "/", Read, "//foo//bar/", true),
        ("storage.read:/foo", "/", Read, "/foo/../etc/passwd", false),
        ("storage.read:/foo", "/", Read, "/foo/./x/../y", true),
        (
            "storage.read:/foo",
            "/",
            Read,
            "/foo/bar/../../foobar",
            false,
        ),
        ("storage.read:/foo", "/", Read, "foo/bar", false),
        ("storage.read:/foo", "/", Read, "/foo/a\0b", false),
        ("storage.read:/foo/", "/", List, "/foo", true),
        ("storage.read:/foo/", "/", Read, "/foo", false),
        ("storage.read:/foo/", "/", Read, "/foo/x", true),
        ("storage.read://foo//", "/", Read, "/foo/x", true),
        ("storage.read:/foo/../etc", "/", Read, "/etc", false),
        ("storage.read:/foo/../etc", "/", Read, "/foo/../etc", false),
        ("storage.read:..", "/", Read, "/", false),
        ("storage.read", "/", Read, "/anything", true),
        ("storage.read:", "/", Read, "/anything", true),
        ("storage.read", "/atlas", Read, "/other", false),
        ("storage.read:/data", "/atlas", Read, "/atlas/data/f", true),
        ("storage.read:/data", "/atlas", Read, "/data/f", false),
        (
            "storage.read:/data",
            "/atlas",
            Read,
            "/atlas/database",
            false,
        ),
        ("storage.read:/", "/atlas", Read, "/atlas", true),
        ("storage.read:/", "/atlas", Read, "/atlasx", false),
        ("storage.read:/foo", "/", Create, "/foo/new", false),
        ("storage.read:/foo", "/", Stat, "/foo/x", true),
        ("storage.create:/foo", "/", Create, "/foo/new", true),
        ("storage.create:/foo", "/", MakeDir, "/foo/d", true),
        ("storage.create:/foo", "/", Overwrite, "/foo/old", false),
        ("storage.create:/foo", "/", Delete, "/foo/old", false),
        ("storage.create:/foo", "/", Rename, "/foo/old", false),
        ("storage.create:/foo", "/", Read, "/foo/old", false),
        ("storage.create:/foo/bar", "/", MakeDir, "/foo", true),
        ("storage.create:/foo/bar", "/", Stat, "/foo", true),
        ("storage.create:/foo/bar", "/", Create, "/foo", false),
        (
            "storage.create:/foo/bar",
            "/",
            MakeDir,
            "/foo/bargain",
            false,
        ),
        ("storage.create:/foo/bar", "/", MakeDir, "/other", false),
        (
            "storage.create:/data/new",
            "/atlas",
            MakeDir,
            "/atlas/data",
            true,
        ),
        ("storage.create:/data/new", "/atlas", Stat, "/atlas", true),
        ("storage.create:/data/new", "/atlas", Stat, "/", false),
        ("storage.create:/data/new", "/atlas", MakeDir, "/", false),
        (
            "storage.create:/data/new",
            "/atlas",
            Stat,
            "/atlas/other",
            false,
        ),
        ("storage.read:/data/x", "/atlas", Stat, "/atlas/data", false),
        ("storage.modify:/foo", "/", Overwrite, "/foo/old", true),
        ("storage.modify:/foo", "/", Delete, "/foo/old", true),
        ("storage.modify:/foo", "/", Rename, "/foo/old", true),
        ("storage.modify:/foo", "/", Create, "/foo/new", true),
        ("storage.modify:/foo", "/", Delete, "/foobar", false),
        ("storage.modify:/foo", "/", Read, "/foo/x", false),
        ("storage.stage:/foo", "/", Stat, "/foo/x", true),
        ("storage.stage:/foo", "/", Read, "/foo/x", false),
        ("openid offline_access", "/", Stat, "/", false),
        ("storage.write:/foo", "/", Create, "/foo/x", false),
    ];
    for &(scope_text, base, activity, path, want) in cases {
        let rights = scope::parse_scopes(scope_text, base);
        let got = any_allows(&rights, activity, path);
        assert_eq!(got, want, "{scope_text} base={base} {activity} {path:?}");
    }
}

#[test]
fn key_must_fit_the_algorithm() {
    let keys = Keys::new();
    let jwk = |v: Value| serde_json::from_value::<jsonwebtoken::jwk::Jwk>(v).unwrap();
    let rsa = keys.rsa_jwk("r1");
    let ec = keys.ec_jwk("e1");
    assert!(check_key_fits(Algorithm::RS256, &jwk(rsa.clone())).is_ok());
    assert!(check_key_fits(Algorithm::ES256, &jwk(ec.clone())).is_ok());
    assert!(check_key_fits(Algorithm::ES256, &jwk(rsa.clone())).is_err());
    assert!(check_key_fits(Algorithm::RS256, &jwk(ec.clone())).is_err());
    assert!(check_key_fits(Algorithm::HS256, &jwk(rsa.clone())).is_err());
    let mut p384 = ec.clone();
    p384["crv"] = json!("P-384");
    assert!(check_key_fits(Algorithm::ES256, &jwk(p384)).is_err());
    let mut declared = rsa.clone();
    declared["alg"] = json!("RS512");
    assert!(check_key_fits(Algorithm::RS256, &jwk(declared)).is_err());
    let mut enc = rsa;
    enc["use"] = json!("enc");
    assert!(check_key_fits(Algorithm::RS256, &jwk(enc)).is_err());
}

#[test]
fn issuer_is_chosen_by_exact_match() {
    let keys = Keys::new();
    let (v, _) = setup(&keys);
    let with_iss = |iss: &str| {
        let mut c = claims("storage.read:/");
        c["iss"] = json!(iss);
        keys.sign(&rs("r1"), &c)
    };
    assert_eq!(v.issuer_of(&with_iss(ISS)).unwrap().issuer, ISS);
    for iss in [
        "https://issuer.test/",
        "https://ISSUER.test",
        "https://issuer.test.evil",
        "https://issuer.tes",
        "",
    ] {
        assert_eq!(
            v.issuer_of(&with_iss(iss)).unwrap_err(),
            TokenError::UnknownIssuer,
            "{iss}"
        );
    }
}

/// A source that takes a while, so concurrent first requests overlap.
struct SlowSource(MockSource);

impl KeySource for SlowSource {
    fn fetch<'a>(&'a self, issuer: &'a str) -> jwks::KeysFuture<'a> {
        Box::pin(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            self.0.fetch(issuer).await
        })
    }
}

#[tokio::test]
async fn concurrent_first_requests_share_one_fetch() {
    let keys = Keys::new();
    let source = Arc::new(SlowSource(MockSource {
        set: Mutex::new(keys.set()),
        fetches: AtomicUsize::new(0),
    }));
    let v = TokenValidator::new(&[issuer_cfg()], source.clone());
    let token = keys.sign(&rs("r1"), &claims("storage.read:/"));
    let (a, b, c) = tokio::join!(check(&v, &token), check(&v, &token), check(&v, &token));
    assert!(a.is_ok() && b.is_ok() && c.is_ok(), "{a:?} {b:?} {c:?}");
    assert_eq!(source.0.fetches.load(Ordering::SeqCst), 1);
}
