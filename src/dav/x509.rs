//! Optional TLS client authentication on the WebDAV listener (RFC 8446 §4.3.2 /
//! RFC 5246 §7.4.4 CertificateRequest): clients may present an X.509 certificate or an
//! RFC 3820 proxy chain; the GSI verifier (`ProxyVerifier::optional`: trust directory,
//! CRLs, proxy rules) validates it in the handshake, and its end-entity DN is read
//! after it here. A client without a certificate still connects and authenticates
//! another way.

use tracing::debug;

use crate::gsi::verifier::ProxyVerifier;
use crate::gsi::Identity;

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
