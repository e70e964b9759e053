//! GSI data-channel security (GFD.20 §3.2 "DCAU", RFC 2228 §3 PROT): every data
//! connection runs its own TLS 1.2 handshake with the session's delegated proxy, the
//! connecting side as TLS client; then, with PROT C, the initiator's delegation flag byte
//! ('0') and the data in clear; with PROT P the data as TLS records straight away (what
//! Globus peers do). The peer is authorised by DN: DCAU A wants our own identity, DCAU S a
//! given subject. Blocking, on the transfer thread; handshake records are read one at a
//! time so that no clear-text data after them is swallowed. When we connect, rustls 0.23
//! runs the handshake here; when we accept, [`super::accept`] does (Globus initiators send
//! a certificate CN as SNI, which only the newer rustls can ignore).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, ClientConnection, ConnectionCommon, DigitallySignedStruct, SignatureScheme,
    StreamOwned,
};

use super::accept::{denied, Acceptor};
use super::verifier::ProxyVerifier;

/// Largest TLS record accepted (2^14 plaintext + expansion).
const MAX_RECORD: usize = 18_432;

/// Which identity the peer of a data connection must prove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dcau {
    /// No data-channel authentication.
    None,
    /// The peer's identity must be ours (GFD.20 `DCAU A`).
    Own,
    /// The peer's identity must be this DN (`DCAU S <subject>`).
    Subject(String),
}

/// The per-session material for secured data connections.
pub struct DataSecurity {
    server: Arc<rustls_dc::ServerConfig>,
    client: Arc<ClientConfig>,
    verifier: Arc<ProxyVerifier>,
    /// The DN the peer must have.
    expect: String,
    /// PROT P: data in TLS records; else clear after the handshake (PROT C).
    pub private: bool,
}

impl std::fmt::Debug for DataSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataSecurity")
            .field("expect", &self.expect)
            .field("private", &self.private)
            .finish()
    }
}

/// A credential presented as is (rustls' own builders run the leaf through webpki, which
/// refuses proxy certificates).
#[derive(Debug)]
struct Credential(Arc<CertifiedKey>);

impl ResolvesClientCert for Credential {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Verifies the accepting peer's proxy chain when we connect (no host name: GSI data
/// channels authorise by DN, checked after the handshake).
#[derive(Debug)]
struct PeerVerifier(Arc<ProxyVerifier>);

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.clone()];
        chain.extend(intermediates.iter().cloned());
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        self.0
            .validate(&chain, now)
            .map(|_| ServerCertVerified::assertion())
            .map_err(|e| rustls::Error::General(e.to_string()))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_handshake_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_handshake_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.schemes()
    }
}

impl DataSecurity {
    /// Configurations for credential `chain` + `key_pkcs8` (the delegated proxy).
    pub fn new(
        chain: &[Vec<u8>],
        key_pkcs8: &[u8],
        verifier: Arc<ProxyVerifier>,
        expect: String,
        private: bool,
    ) -> Result<DataSecurity, DataSecurityError> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8.to_vec()));
        let signer = rustls::crypto::ring::sign::any_supported_type(&key)?;
        let certs = chain
            .iter()
            .map(|c| CertificateDer::from(c.clone()))
            .collect();
        let cred = Arc::new(Credential(Arc::new(CertifiedKey::new(certs, signer))));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = super::accept::server_config(chain, key_pkcs8, verifier.clone())
            .map_err(DataSecurityError::Acceptor)?;
        let mut client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PeerVerifier(verifier.clone())))
            .with_client_cert_resolver(cred);
        client.resumption = rustls::client::Resumption::disabled();
        client.enable_sni = false;
        Ok(DataSecurity {
            server,
            client: Arc::new(client),
            verifier,
            expect,
            private,
        })
    }

    /// Secures one data connection; `initiator` is true when we connected.
    pub fn establish(&self, mut sock: TcpStream, initiator: bool) -> io::Result<Secured> {
        // The handshake and the flag byte are small request/response records: without
        // NODELAY, Nagle plus delayed ACKs add ~40 ms to every secured data channel.
        sock.set_nodelay(true)?;
        if initiator {
            let name = ServerName::try_from("gsi-data-channel").map_err(io::Error::other)?;
            let mut conn =
                ClientConnection::new(Arc::clone(&self.client), name).map_err(io::Error::other)?;
            handshake(&mut conn, &mut sock)?;
            self.authorise(conn.peer_certificates(), "connected")?;
            // GSI: the initiator's delegation flag, '0' = no delegation. Globus peers
            // expect it on PROT C channels only: with PROT P it would be read as data
            // (seen with globus-gridftp-server and globus-url-copy).
            if !self.private {
                conn.writer().write_all(b"0")?;
                flush(&mut conn, &mut sock)?;
            }
            Ok(self.finish(Side::Client(Box::new(StreamOwned::new(conn, sock)))))
        } else {
            let mut acc = Acceptor::handshake(Arc::clone(&self.server), sock)?;
            self.authorise(acc.peer_chain().as_deref(), "accepted")?;
            if !self.private {
                acc.read_flag()?;
            }
            Ok(self.finish(Side::Server(Box::new(acc))))
        }
    }

    fn finish(&self, side: Side) -> Secured {
        if self.private {
            return Secured::Private(Box::new(PrivateStream(side)));
        }
        Secured::Clear(match side {
            Side::Client(s) => s.sock,
            Side::Server(s) => s.into_tcp(),
        })
    }

    /// SECURITY: the peer of a data connection must be who DCAU says, not just anyone the
    /// trust store knows.
    fn authorise(&self, chain: Option<&[CertificateDer<'static>]>, side: &str) -> io::Result<()> {
        let chain = chain.ok_or_else(|| denied("no peer certificate"))?;
        // The handshake's own validation result (it validated this very chain).
        let id = self
            .verifier
            .peer_identity(chain)
            .map_err(|e| denied(&e.to_string()))?;
        if !id.dn.eq_ignore_ascii_case(&self.expect) {
            return Err(denied(&format!(
                "data channel peer is {}, expected {}",
                id.dn, self.expect
            )));
        }
        tracing::debug!(peer = %id.dn, side = %side, "GSI data channel authenticated");
        Ok(())
    }
}

/// Why the data-channel configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DataSecurityError {
    #[error("TLS: {0}")]
    Initiator(#[from] rustls::Error),
    #[error("TLS (acceptor): {0}")]
    Acceptor(rustls_dc::Error),
}

enum Side {
    Client(Box<StreamOwned<ClientConnection, TcpStream>>),
    Server(Box<Acceptor>),
}

/// A secured data connection.
pub enum Secured {
    /// PROT C: authenticated, then clear text on the socket (sendfile still applies).
    Clear(TcpStream),
    /// PROT P: every byte in TLS records.
    Private(Box<PrivateStream>),
}

/// The TLS stream of a PROT P data connection.
pub struct PrivateStream(Side);

impl PrivateStream {
    pub fn tcp(&self) -> &TcpStream {
        match &self.0 {
            Side::Client(s) => &s.sock,
            Side::Server(s) => s.tcp(),
        }
    }

    /// True when decrypted bytes are waiting (the socket may then look idle).
    pub fn has_buffered(&mut self) -> bool {
        match &mut self.0 {
            Side::Client(s) => s
                .conn
                .process_new_packets()
                .map_or(true, |st| st.plaintext_bytes_to_read() > 0),
            Side::Server(s) => s.has_buffered(),
        }
    }

    /// close_notify, then the TCP half-close.
    pub fn finish(&mut self) -> io::Result<()> {
        match &mut self.0 {
            Side::Client(s) => {
                s.conn.send_close_notify();
                s.flush()?;
            }
            Side::Server(s) => return s.finish(),
        }
        self.tcp().shutdown(std::net::Shutdown::Write)
    }
}

impl Read for PrivateStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.0 {
            Side::Client(s) => s.read(buf),
            Side::Server(s) => s.read(buf),
        }
    }
}

impl Write for PrivateStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.0 {
            Side::Client(s) => s.write(buf),
            Side::Server(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.0 {
            Side::Client(s) => s.flush(),
            Side::Server(s) => s.flush(),
        }
    }
}

/// Drives a handshake to completion, reading whole records only.
fn handshake<D>(conn: &mut ConnectionCommon<D>, sock: &mut TcpStream) -> io::Result<()> {
    loop {
        flush(conn, sock)?;
        if !conn.is_handshaking() {
            return Ok(());
        }
        feed_record(conn, sock)?;
    }
}

fn flush<D>(conn: &mut ConnectionCommon<D>, sock: &mut TcpStream) -> io::Result<()> {
    while conn.wants_write() {
        conn.write_tls(sock)?;
    }
    Ok(())
}

/// Reads exactly one TLS record from the socket into the connection.
fn feed_record<D>(conn: &mut ConnectionCommon<D>, sock: &mut TcpStream) -> io::Result<()> {
    let mut record = vec![0u8; 5];
    sock.read_exact(&mut record)?;
    let len = usize::from(u16::from_be_bytes([record[3], record[4]]));
    if !(20..=23).contains(&record[0]) || len > MAX_RECORD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a TLS record",
        ));
    }
    record.resize(5 + len, 0);
    sock.read_exact(&mut record[5..])?;
    conn.read_tls(&mut &record[..])?;
    conn.process_new_packets()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(())
}
