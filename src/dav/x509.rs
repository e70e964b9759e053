//! Optional TLS client authentication on the WebDAV listener (RFC 8446 §4.3.2 /
//! RFC 5246 §7.4.4 CertificateRequest): clients may present an X.509 certificate or an
//! RFC 3820 proxy chain; the GSI verifier (`ProxyVerifier::optional`: trust directory,
//! CRLs, proxy rules) validates it in the handshake, and the identity that validation
//! found (end-entity DN, limited flag) is taken after it here. A client without a
//! certificate still connects and authenticates another way.

use tracing::debug;

use crate::gsi::verifier::ProxyVerifier;
use crate::gsi::Identity;

/// The identity of the client's certificate chain on an established connection, if it
/// presented one: the handshake's own validation result (validated afresh for a resumed
/// session, whose chain rustls restores without a verification).
pub fn peer_identity(
    verifier: &ProxyVerifier,
    conn: &rustls::ServerConnection,
) -> Option<Result<Identity, crate::gsi::ChainError>> {
    let chain = conn.peer_certificates()?;
    let id = verifier.peer_identity(chain);
    if let Err(e) = &id {
        debug!(error = %e, "client certificate no longer validates");
    }
    Some(id)
}
