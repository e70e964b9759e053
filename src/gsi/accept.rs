//! The accepting side of GSI data channels (GFD.20 §3.2 "DCAU", RFC 2228 §3 PROT C/P),
//! on the rustls pre-release that has `ServerConfig::invalid_sni_policy` (imported as
//! `rustls_dc`, used by this module only): Globus initiators put the expected peer's
//! certificate CN in TLS SNI ("Test User"), which rustls 0.23 refuses as a fatal
//! `ServerNameMustContainOneHostName` (docs/decisions/0006-dcau-sni.md). The SNI is
//! ignored: GSI data channels authorise the peer by DN, after the handshake.
//!
//! There is one chain check and one handshake-signature check, both in
//! [`ProxyVerifier`]; `DcVerifier` only adapts them to this rustls' traits. Records are
//! fed one at a time until the PROT C flag byte, so clear-text data after it stays on the
//! socket; with PROT P, [`Acceptor`] is the TLS stream.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rustls_dc::client::danger::HandshakeSignatureValid;
use rustls_dc::crypto::{
    Credentials, Identity, SignatureScheme, SingleCredential, VerifiedIdentity,
};
use rustls_dc::error::{CertificateError, OtherError};
use rustls_dc::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls_dc::server::danger::{ClientIdentity, ClientVerifier, SignatureVerificationInput};
use rustls_dc::server::{InvalidSniPolicy, NoServerSessionStorage};
use rustls_dc::{
    Connection, DistinguishedName, Error, ServerConfig, ServerSide, SignerPublicKey, Tcp,
    TlsInputBuffer,
};

use super::chain::ChainError;
use super::verifier::ProxyVerifier;

/// Largest TLS record accepted (2^14 plaintext + expansion).
const MAX_RECORD: usize = 18_432;

/// How much ciphertext one PROT P read takes from the socket.
const READ_CHUNK: usize = 64 * 1024;

/// The acceptor configuration for one session's data channels: TLS 1.2 only (as on the
/// control channel), no resumption, the delegated proxy as credential, any SNI ignored.
pub fn server_config(
    chain: &[Vec<u8>],
    key_pkcs8: &[u8],
    verifier: Arc<ProxyVerifier>,
) -> Result<Arc<ServerConfig>, Error> {
    let provider = Arc::new(rustls_ring::DEFAULT_TLS12_PROVIDER);
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8.to_vec()));
    let key = provider.key_provider.load_private_key(key)?;
    let certs = chain
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    // Unchecked: the consistency check parses the leaf with webpki, which refuses proxies;
    // the key is the one the delegation produced for this very certificate.
    let credential = Credentials::new_unchecked(Arc::new(Identity::from_cert_chain(certs)?), key);
    let mut config = ServerConfig::builder(provider)
        .with_client_cert_verifier(Arc::new(DcVerifier(verifier)))
        .with_server_credential_resolver(Arc::new(SingleCredential::from(credential)))?;
    config.session_storage = Arc::new(NoServerSessionStorage {});
    // Globus initiators send the CN they expect as SNI; it selects nothing here (one
    // credential), and the peer's DN is checked after the handshake.
    config.invalid_sni_policy = InvalidSniPolicy::IgnoreAll;
    Ok(Arc::new(config))
}

/// [`ProxyVerifier`] behind this rustls' client-verifier trait.
#[derive(Debug)]
struct DcVerifier(Arc<ProxyVerifier>);

impl ClientVerifier for DcVerifier {
    fn verify_identity<'a>(
        &self,
        identity: &ClientIdentity<'a, '_>,
    ) -> Result<VerifiedIdentity<'a>, Error> {
        let Identity::X509(id) = identity.identity else {
            return Err(Error::InvalidCertificate(CertificateError::BadEncoding));
        };
        let mut chain = vec![id.end_entity.clone()];
        chain.extend(id.intermediates.iter().cloned());
        let now = i64::try_from(identity.now.as_secs()).unwrap_or(i64::MAX);
        match self.0.validate(&chain, now) {
            Ok(_) => Ok(VerifiedIdentity::assertion(identity.identity.clone())),
            Err(e) => {
                tracing::warn!(error = %e, "GSI data channel peer refused");
                Err(Error::InvalidCertificate(certificate_error(e)))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        input: &SignatureVerificationInput<'_>,
    ) -> Result<HandshakeSignatureValid, Error> {
        let SignerPublicKey::X509(cert) = input.signer else {
            return Err(Error::InvalidCertificate(CertificateError::BadEncoding));
        };
        let scheme = u16::from(input.signature.scheme);
        self.0
            .check_signature(scheme, input.message, cert, input.signature.signature())
            .map(|()| HandshakeSignatureValid::assertion())
            .map_err(|e| {
                Error::InvalidCertificate(match e {
                    super::verifier::SignatureError::BadEncoding => CertificateError::BadEncoding,
                    super::verifier::SignatureError::BadSignature => CertificateError::BadSignature,
                })
            })
    }

    fn verify_tls13_signature(
        &self,
        input: &SignatureVerificationInput<'_>,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.verify_tls12_signature(input)
    }

    fn root_hint_subjects(&self) -> Arc<[DistinguishedName]> {
        // Grid peers present their proxy whatever CA names are offered.
        Arc::from(Vec::new())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0
            .scheme_codes()
            .into_iter()
            .map(SignatureScheme::from)
            .collect()
    }
}

fn certificate_error(e: ChainError) -> CertificateError {
    match e {
        ChainError::Expired(_) => CertificateError::Expired,
        ChainError::Revoked(_) => CertificateError::Revoked,
        ChainError::BadSignature(_) => CertificateError::BadSignature,
        ChainError::UnknownIssuer(_) => CertificateError::UnknownIssuer,
        other => CertificateError::Other(OtherError::new(other)),
    }
}

/// Received TLS bytes not yet consumed by rustls; filled one record at a time while
/// clear-text data may follow, in larger chunks once every byte is TLS (PROT P).
#[derive(Default)]
struct Inbox {
    buf: Vec<u8>,
    eof: bool,
    closed: bool,
}

impl TlsInputBuffer for Inbox {
    fn slice_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    fn discard(&mut self, n: usize) {
        self.buf.drain(..n.min(self.buf.len()));
    }

    fn received_close_notify(&mut self) {
        self.closed = true;
    }

    fn has_seen_eof(&self) -> bool {
        self.eof
    }
}

/// A refused data-channel peer (the caller answers it with a clear transfer error).
pub(super) fn denied(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, what.to_string())
}

/// One accepted data connection.
pub struct Acceptor {
    conn: Connection<ServerSide, Tcp>,
    sock: TcpStream,
    inbox: Inbox,
    /// Decrypted bytes not yet read, from `plain_at`.
    plain: Vec<u8>,
    plain_at: usize,
    out: Vec<u8>,
}

impl Acceptor {
    /// Runs the handshake on `sock`; the peer's chain has been validated when this returns.
    pub fn handshake(config: Arc<ServerConfig>, sock: TcpStream) -> io::Result<Acceptor> {
        let conn = Connection::<ServerSide, Tcp>::new(config).map_err(tls_error)?;
        let mut a = Acceptor {
            conn,
            sock,
            inbox: Inbox::default(),
            plain: Vec::new(),
            plain_at: 0,
            out: Vec::new(),
        };
        while a.conn.is_handshaking() {
            a.feed_record()?;
        }
        a.send()?;
        Ok(a)
    }

    /// The peer's verified chain (leaf first).
    pub fn peer_chain(&self) -> Option<Vec<CertificateDer<'static>>> {
        match self.conn.peer_identity()?.identity() {
            Identity::X509(id) => {
                let mut chain = vec![id.end_entity.clone()];
                chain.extend(id.intermediates.iter().cloned());
                Some(chain)
            }
            _ => None,
        }
    }

    /// The initiator's GSI flag byte on a PROT C channel: '0' (no delegation) is all a
    /// data channel may carry. Nothing after it is read from the socket.
    pub fn read_flag(&mut self) -> io::Result<()> {
        for _ in 0..4 {
            if self.plain_at < self.plain.len() {
                return match self.plain[self.plain_at] {
                    b'0' => Ok(()),
                    _ => Err(denied("delegation on a data channel")),
                };
            }
            self.feed_record()?;
        }
        Err(denied("no GSI flag from the initiator"))
    }

    pub fn into_tcp(self) -> TcpStream {
        self.sock
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.sock
    }

    /// True when decrypted bytes are waiting (the socket may then look idle). Every
    /// complete record received has been decrypted: what is left in the inbox is the
    /// start of a record whose rest the socket will deliver.
    pub fn has_buffered(&self) -> bool {
        self.plain_at < self.plain.len()
    }

    /// close_notify, then the TCP half-close.
    pub fn finish(&mut self) -> io::Result<()> {
        self.conn
            .send_close_notify(&mut self.out)
            .map_err(tls_error)?;
        self.send()?;
        self.sock.shutdown(std::net::Shutdown::Write)
    }

    /// Reads exactly one TLS record from the socket and processes it.
    fn feed_record(&mut self) -> io::Result<()> {
        let mut header = [0u8; 5];
        self.sock.read_exact(&mut header)?;
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if !(20..=23).contains(&header[0]) || len > MAX_RECORD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a TLS record",
            ));
        }
        let at = self.inbox.buf.len();
        self.inbox.buf.extend_from_slice(&header);
        self.inbox.buf.resize(at + 5 + len, 0);
        self.sock.read_exact(&mut self.inbox.buf[at + 5..])?;
        self.process()
    }

    /// Lets rustls consume the inbox; sends whatever it answers (an alert, too).
    fn process(&mut self) -> io::Result<()> {
        if self.plain_at == self.plain.len() {
            self.plain.clear();
            self.plain_at = 0;
        }
        let result = self
            .conn
            .read_tls(&mut self.inbox, &mut self.out)
            .handle_all(&mut self.plain);
        self.send()?;
        result.map(|_| ()).map_err(tls_error)
    }

    fn send(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.sock.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }
}

fn tls_error(e: Error) -> io::Error {
    let kind = match e {
        Error::InvalidCertificate(_) => io::ErrorKind::PermissionDenied,
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, format!("GSI data channel: {e}"))
}

impl Read for Acceptor {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.plain_at == self.plain.len() {
            if self.inbox.closed {
                return Ok(0);
            }
            let at = self.inbox.buf.len();
            self.inbox.buf.resize(at + READ_CHUNK, 0);
            let n = self.sock.read(&mut self.inbox.buf[at..]);
            let got = n.as_ref().map_or(0, |n| *n);
            self.inbox.buf.truncate(at + got);
            match n? {
                0 => {
                    self.inbox.eof = true;
                    // Globus initiators end a PROT P stream with a TCP FIN and no
                    // close_notify (seen with globus-url-copy), so a clean end of file
                    // between records is the end of the data, as for globus-gridftp-server.
                    // SECURITY: end of file inside a record is a truncation, not an end.
                    if !self.inbox.buf.is_empty() {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "GSI data channel: truncated TLS record at end of stream",
                        ));
                    }
                    return Ok(0);
                }
                _ => self.process()?,
            }
        }
        let n = buf.len().min(self.plain.len() - self.plain_at);
        buf[..n].copy_from_slice(&self.plain[self.plain_at..self.plain_at + n]);
        self.plain_at += n;
        Ok(n)
    }
}

impl Write for Acceptor {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.conn
            .write(buf.into(), &mut self.out)
            .map_err(tls_error)?;
        self.send()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}
