//! GSI delegation, acceptor side (the Globus delegation protocol on top of RFC 3820): a
//! fresh key and its PKCS#10 request go to the client, which returns a proxy certificate
//! (RFC 3820 §3 profile) for that key followed by its own chain; the result is a
//! [`Delegated`] credential. ECDSA P-256 keys: generation takes microseconds, so no key
//! pool is needed. Knows nothing of the security context that carries the messages.

use rcgen::{CertificateParams, KeyPair};
use x509_parser::prelude::FromDer;

use super::GsiError;

/// A delegated credential: the proxy the client signed for our key, its chain, our key.
pub struct Delegated {
    pub chain: Vec<Vec<u8>>,
    pub key_pkcs8: Vec<u8>,
}

/// A new key and the DER certificate request for it.
pub fn request() -> Result<(KeyPair, Vec<u8>), GsiError> {
    let key = KeyPair::generate().map_err(|_| GsiError::Protocol("key generation failed"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "proxy");
    let csr = params
        .serialize_request(&key)
        .map_err(|_| GsiError::Protocol("certificate request failed"))?;
    Ok((key, csr.der().to_vec()))
}

/// Checks that the first certificate certifies `key` and returns it.
pub fn accept(der: &[u8], key: &KeyPair) -> Result<Vec<u8>, GsiError> {
    let chain = split_ders(der)?;
    let leaf = chain
        .first()
        .ok_or(GsiError::Protocol("no delegated certificate"))?;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(leaf)
        .map_err(|_| GsiError::Protocol("delegated certificate unparsable"))?;
    // SECURITY: a delegated proxy is only useful (and only kept) for the key we made.
    if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        return Err(GsiError::Protocol(
            "delegated certificate is for another key",
        ));
    }
    Ok(leaf.clone())
}

/// The DER certificates of a delegation reply, in order (the leaf first).
fn split_ders(mut bytes: &[u8]) -> Result<Vec<Vec<u8>>, GsiError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (rest, _) = x509_parser::certificate::X509Certificate::from_der(bytes)
            .map_err(|_| GsiError::Protocol("delegated certificate unparsable"))?;
        let used = bytes.len() - rest.len();
        out.push(bytes[..used].to_vec());
        bytes = rest;
        if out.len() > 16 {
            return Err(GsiError::BadToken);
        }
    }
    Ok(out)
}
