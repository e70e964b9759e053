//! RFC 7515 JWS signature checks for `jsonwebtoken`, done by ring (already griddock's TLS
//! crypto): RS256 (RFC 7518 §3.3, RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys or more)
//! and ES256 (§3.4, ECDSA P-256 with SHA-256, fixed-size r||s) only. Nothing is signed here.

use std::sync::Once;

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature::{self, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::signature::{RsaPublicKeyComponents, UnparsedPublicKey};

static RING: CryptoProvider = CryptoProvider {
    signer_factory: no_signer,
    verifier_factory: verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes the ring provider jsonwebtoken's process default (once; harmless to repeat).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if RING.install_default().is_err() {
            tracing::warn!("jsonwebtoken already had a crypto provider; keeping it");
        }
    });
}

fn no_signer(_: &Algorithm, _: &EncodingKey) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    Err(Error::from(ErrorKind::InvalidAlgorithm))
}

fn verifier(
    alg: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    // SECURITY: the algorithm must be RS256 or ES256 and match the key's type (no HMAC
    // with a public key as the secret, no "none").
    let key = match (alg, key.family(), key.kind()) {
        (Algorithm::RS256, AlgorithmFamily::Rsa, DecodingKeyKind::RsaModulusExponent { n, e }) => {
            RingKey::Rsa {
                n: n.clone(),
                e: e.clone(),
            }
        }
        (Algorithm::ES256, AlgorithmFamily::Ec, DecodingKeyKind::SecretOrDer(point)) => {
            RingKey::P256(point.clone())
        }
        _ => return Err(Error::from(ErrorKind::InvalidAlgorithm)),
    };
    Ok(Box::new(RingVerifier { alg: *alg, key }))
}

enum RingKey {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// Uncompressed SEC1 point `04 || x || y`.
    P256(Vec<u8>),
}

struct RingVerifier {
    alg: Algorithm,
    key: RingKey,
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        let ok = match &self.key {
            RingKey::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, msg, sig)
                .is_ok(),
            RingKey::P256(point) => {
                UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(msg, sig)
                    .is_ok()
            }
        };
        if ok {
            Ok(())
        } else {
            Err(signature::Error::new())
        }
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rs256_on_rsa_and_es256_on_ec() {
        let rsa = DecodingKey::from_rsa_raw_components(&[0xc5; 256], &[1, 0, 1]);
        let ec = DecodingKey::from_ec_der(&[4; 65]);
        let hmac = DecodingKey::from_secret(b"public key text").unwrap();
        assert!(verifier(&Algorithm::RS256, &rsa).is_ok());
        assert!(verifier(&Algorithm::ES256, &ec).is_ok());
        let refused = [
            (Algorithm::HS256, &rsa),
            (Algorithm::HS256, &hmac),
            (Algorithm::RS256, &hmac),
            (Algorithm::ES256, &hmac),
            (Algorithm::ES256, &rsa),
            (Algorithm::RS256, &ec),
            (Algorithm::PS256, &rsa),
            (Algorithm::RS512, &rsa),
            (Algorithm::ES384, &ec),
            (Algorithm::EdDSA, &ec),
        ];
        for (alg, key) in refused {
            assert!(
                verifier(&alg, key).is_err(),
                "{alg:?} on {:?}",
                key.family()
            );
        }
    }
}
