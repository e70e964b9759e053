//! Optional TLS client authentication on the WebDAV listener (RFC 8446 §4.3.2 /
//! RFC 5246 §7.4.4 CertificateRequest): clients may present an X.509 certificate or an
//! RFC 3820 proxy chain; it is validated by the GSI chain code (trust directory, CRLs,
//! proxy rules) and its end-entity DN read after the handshake. A client without a
//! certificate still connects and authenticates another way.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use tracing::debug;

use crate::gsi::verifier::ProxyVerifier;
use crate::gsi::Identity;

/// The GSI proxy verifier with client authentication made optional.
#[derive(Debug)]
pub struct OptionalClientCert(pub Arc<ProxyVerifier>);

impl ClientCertVerifier for OptionalClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        // SECURITY: a presented chain must validate (trust dir, CRLs, proxy rules) or the
        // handshake fails; it is never accepted and ignored.
        self.0.verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_handshake_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_handshake_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.schemes()
    }
}

/// The identity of the client's certificate chain on an established connection, if it
/// presented one (validated again to read the DN and the limited-proxy flag; also right
/// for resumed sessions, whose chain rustls restores).
pub fn peer_identity(
    verifier: &ProxyVerifier,
    conn: &rustls::ServerConnection,
) -> Option<Result<Identity, crate::gsi::ChainError>> {
    let chain = conn.peer_certificates()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let id = verifier.identity(chain, now);
    if let Err(e) = &id {
        debug!(error = %e, "client certificate no longer validates");
    }
    Some(id)
}
