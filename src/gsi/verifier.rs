//! The rustls client-certificate verifier for GSI: accepts X.509 proxy chains (which
//! webpki refuses: proxies are signed by end-entity certificates and carry a critical
//! proxyCertInfo) by validating them with [`super::chain`] against the trust directory,
//! and checks the handshake signature against the leaf's key directly. Each chain is
//! validated once per handshake: the code after it takes the identity the verifier
//! found ([`super::verified`]).

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use tracing::warn;
use x509_parser::prelude::FromDer;

use super::chain::{Anchors, ChainError, Identity};
use super::trust::TrustDir;
use super::verified::{ChainKey, Verified};

pub struct ProxyVerifier {
    trust: Arc<TrustDir>,
    /// Shared by [`Self::optional`] copies: a chain accepted by one is found by the other.
    verified: Arc<Verified>,
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
            verified: Arc::default(),
            algs,
            mandatory: true,
        }
    }

    /// The same verifier with client authentication optional (RFC 8446 §4.3.2: a client
    /// may send no certificate). A chain that is presented must still validate.
    pub fn optional(&self) -> ProxyVerifier {
        ProxyVerifier {
            trust: Arc::clone(&self.trust),
            verified: Arc::clone(&self.verified),
            algs: self.algs,
            mandatory: false,
        }
    }

    /// Validates a chain in the handshake (every rustls verifier calls this) and remembers
    /// the identity for [`Self::peer_identity`].
    pub fn validate(&self, chain: &[CertificateDer<'_>], now: i64) -> Result<Identity, ChainError> {
        let anchors = self.trust.anchors();
        let id = self.validate_against(chain, &anchors, now)?;
        self.verified
            .remember(ChainKey::of(chain), id.clone(), &anchors);
        Ok(id)
    }

    /// The identity of the peer chain of a handshake this verifier has just completed:
    /// what the handshake's validation found, without validating the chain again. When
    /// there is none (a resumed session, a trust reload in between, a result left too
    /// long), the chain is validated now.
    pub fn peer_identity(&self, chain: &[CertificateDer<'_>]) -> Result<Identity, ChainError> {
        let anchors = self.trust.anchors();
        // SECURITY: a result is only found for this exact chain, validated under the
        // current trust snapshot moments ago; anything else is validated in full.
        if let Some(id) = self.verified.take(ChainKey::of(chain), &anchors) {
            return Ok(id);
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.validate_against(chain, &anchors, now)
    }

    fn validate_against(
        &self,
        chain: &[CertificateDer<'_>],
        anchors: &Anchors,
        now: i64,
    ) -> Result<Identity, ChainError> {
        let ders: Vec<&[u8]> = chain.iter().map(|c| c.as_ref()).collect();
        self.verified.counted();
        super::chain::validate(&ders, anchors, now)
    }

    /// Full chain validations made so far (each handshake makes one).
    pub fn validations(&self) -> u64 {
        self.verified.validations()
    }

    /// Checks a handshake signature against the certificate's key.
    pub fn verify_handshake_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let scheme = u16::from_be_bytes(dss.scheme.to_array());
        self.check_signature(scheme, message, cert, dss.signature())
            .map(|()| HandshakeSignatureValid::assertion())
            .map_err(|e| Error::InvalidCertificate(e.into()))
    }

    /// The one handshake signature check, for either rustls (`scheme` is the TLS
    /// SignatureScheme code point): the signature must verify with the leaf's own key.
    pub fn check_signature(
        &self,
        scheme: u16,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        let (_, parsed) = x509_parser::certificate::X509Certificate::from_der(cert)
            .map_err(|_| SignatureError::BadEncoding)?;
        let key = parsed.public_key().subject_public_key.data.as_ref();
        let scheme = SignatureScheme::from(scheme);
        let candidates = self
            .algs
            .mapping
            .iter()
            .find(|(s, _)| *s == scheme)
            .map_or(&[][..], |(_, algs)| *algs);
        // SECURITY: the peer proves possession of the leaf's key; a wrong key type simply
        // fails to verify.
        if candidates
            .iter()
            .any(|alg| alg.verify_signature(key, message, signature).is_ok())
        {
            Ok(())
        } else {
            Err(SignatureError::BadSignature)
        }
    }

    /// The signature schemes [`Self::check_signature`] handles, as TLS code points.
    pub fn scheme_codes(&self) -> Vec<u16> {
        self.schemes()
            .into_iter()
            .map(|s| u16::from_be_bytes(s.to_array()))
            .collect()
    }
}

/// Why a handshake signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the peer certificate is not valid DER")]
    BadEncoding,
    #[error("the handshake signature does not verify with the peer certificate's key")]
    BadSignature,
}

impl From<SignatureError> for CertificateError {
    fn from(e: SignatureError) -> CertificateError {
        match e {
            SignatureError::BadEncoding => CertificateError::BadEncoding,
            SignatureError::BadSignature => CertificateError::BadSignature,
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
        match self.validate(&chain, now) {
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
