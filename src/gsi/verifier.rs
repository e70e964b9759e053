//! The rustls client-certificate verifier for GSI: accepts X.509 proxy chains (which
//! webpki refuses: proxies are signed by end-entity certificates and carry a critical
//! proxyCertInfo) by validating them with [`super::chain`] against the trust directory,
//! and checks the handshake signature against the leaf's key directly.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use tracing::warn;
use x509_parser::prelude::FromDer;

use super::chain::{validate, ChainError, Identity};
use super::trust::TrustDir;

pub struct ProxyVerifier {
    trust: Arc<TrustDir>,
    algs: WebPkiSupportedAlgorithms,
    /// GSI (ADAT, DCAU) insists on a client chain; the WebDAV listener asks for one but
    /// lets clients without one authenticate another way.
    mandatory: bool,
}

impl std::fmt::Debug for ProxyVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxyVerifier")
    }
}

impl ProxyVerifier {
    pub fn new(trust: Arc<TrustDir>) -> ProxyVerifier {
        let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        ProxyVerifier {
            trust,
            algs,
            mandatory: true,
        }
    }

    /// The same verifier with client authentication optional (RFC 8446 §4.3.2: a client
    /// may send no certificate). A chain that is presented must still validate.
    pub fn optional(&self) -> ProxyVerifier {
        ProxyVerifier {
            trust: Arc::clone(&self.trust),
            algs: self.algs,
            mandatory: false,
        }
    }

    /// Validates a chain as the handshake does (also used after it, to read the identity).
    pub fn identity(&self, chain: &[CertificateDer<'_>], now: i64) -> Result<Identity, ChainError> {
        let ders: Vec<&[u8]> = chain.iter().map(|c| c.as_ref()).collect();
        validate(&ders, &self.trust.anchors(), now)
    }

    /// Checks a handshake signature against the certificate's key.
    pub fn verify_handshake_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let (_, parsed) = x509_parser::certificate::X509Certificate::from_der(cert)
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let key = parsed.public_key().subject_public_key.data.as_ref();
        let candidates = self
            .algs
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == dss.scheme)
            .map_or(&[][..], |(_, algs)| *algs);
        // SECURITY: the peer proves possession of the leaf's key; a wrong key type simply
        // fails to verify.
        if candidates
            .iter()
            .any(|alg| alg.verify_signature(key, message, dss.signature()).is_ok())
        {
            Ok(HandshakeSignatureValid::assertion())
        } else {
            Err(Error::InvalidCertificate(CertificateError::BadSignature))
        }
    }
}

impl ProxyVerifier {
    pub fn schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

impl ClientCertVerifier for ProxyVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // Grid clients present their proxy whatever CA names are offered.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let mut chain = vec![end_entity.clone()];
        chain.extend(intermediates.iter().cloned());
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        match self.identity(&chain, now) {
            Ok(_) => Ok(ClientCertVerified::assertion()),
            Err(e) => {
                warn!(error = %e, "GSI client certificate refused");
                Err(Error::InvalidCertificate(match e {
                    ChainError::Expired(_) => CertificateError::Expired,
                    ChainError::Revoked(_) => CertificateError::Revoked,
                    ChainError::BadSignature(_) => CertificateError::BadSignature,
                    ChainError::UnknownIssuer(_) => CertificateError::UnknownIssuer,
                    other => CertificateError::Other(rustls::OtherError(Arc::new(other))),
                }))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.verify_handshake_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.verify_handshake_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}
