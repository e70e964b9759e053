//! The GSI security context of one control connection (RFC 2228 §3 ADAT exchange carrying
//! Globus GSI): TLS records travel in ADAT tokens through an in-memory rustls server
//! connection, then the delegation sub-protocol (the client's flag byte, our PKCS#10
//! request, its signed proxy), then ENC-wrapped commands and 632-wrapped reply lines.
//! Sans-I/O: bytes in, bytes out; the session does the base64 and the FTP replies.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::{ServerConfig, ServerConnection};

use super::chain::Identity;
use super::delegation::{self, Delegated};
use super::verifier::ProxyVerifier;
use super::GsiError;

/// Longest ADAT/ENC token accepted (decoded): a handshake flight with a long chain.
pub const MAX_TOKEN: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshake,
    /// Waiting for the client's delegation flag ('D' or '0').
    Flags,
    /// Waiting for the signed proxy certificate and its chain.
    Cert,
    Done,
}

/// What to answer an ADAT.
#[derive(Debug, PartialEq, Eq)]
pub enum AdatStep {
    /// `335 ADAT=<token>`: more to come.
    Continue(Vec<u8>),
    /// `235 …`: authenticated.
    Complete,
}

pub struct GsiContext {
    conn: ServerConnection,
    verifier: Arc<ProxyVerifier>,
    phase: Phase,
    identity: Option<Identity>,
    key: Option<rcgen::KeyPair>,
    delegated: Option<Delegated>,
}

impl GsiContext {
    pub fn new(config: Arc<ServerConfig>, verifier: Arc<ProxyVerifier>) -> Result<Self, GsiError> {
        Ok(GsiContext {
            conn: ServerConnection::new(config).map_err(GsiError::Tls)?,
            verifier,
            phase: Phase::Handshake,
            identity: None,
            key: None,
            delegated: None,
        })
    }

    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    pub fn delegated(&self) -> Option<&Delegated> {
        self.delegated.as_ref()
    }

    pub fn is_established(&self) -> bool {
        self.phase == Phase::Done
    }

    /// One ADAT token from the client.
    pub fn adat(&mut self, token: &[u8]) -> Result<AdatStep, GsiError> {
        if token.is_empty() || token.len() > MAX_TOKEN {
            return Err(GsiError::BadToken);
        }
        self.feed(token)?;
        match self.phase {
            Phase::Handshake => self.after_handshake_bytes(),
            Phase::Flags => self.on_flags(),
            Phase::Cert => self.on_cert(),
            Phase::Done => Err(GsiError::Protocol("ADAT after the security exchange")),
        }
    }

    fn after_handshake_bytes(&mut self) -> Result<AdatStep, GsiError> {
        if self.conn.is_handshaking() {
            let out = self.drain()?;
            // Every client flight of a TLS 1.2 handshake gets an answer: silence means
            // the token was cut short.
            if out.is_empty() {
                return Err(GsiError::Protocol("truncated handshake token"));
            }
            return Ok(AdatStep::Continue(out));
        }
        let chain: Vec<CertificateDer<'static>> = self
            .conn
            .peer_certificates()
            .ok_or(GsiError::Protocol("no client certificate"))?
            .to_vec();
        // The identity the handshake's validation found: the chain is not validated twice.
        self.identity = Some(
            self.verifier
                .peer_identity(&chain)
                .map_err(GsiError::Chain)?,
        );
        self.phase = Phase::Flags;
        // GSI: when the handshake leaves nothing to send, one 0x00 byte keeps the token
        // non-empty (globus accept_sec_context does the same).
        if !self.conn.wants_write() {
            self.conn.writer().write_all(&[0]).map_err(GsiError::Io)?;
        }
        // A client may already have sent its flag with its last handshake flight.
        if self.pending_plaintext()? > 0 {
            let mut out = self.drain()?;
            if let AdatStep::Continue(more) = self.on_flags()? {
                out.extend(more);
            }
            return Ok(AdatStep::Continue(out));
        }
        Ok(AdatStep::Continue(self.drain()?))
    }

    fn on_flags(&mut self) -> Result<AdatStep, GsiError> {
        let mut flag = [0u8; 1];
        if self.read_plain(&mut flag)? == 0 {
            return Ok(AdatStep::Continue(self.drain()?));
        }
        match flag[0] {
            b'0' => {
                self.phase = Phase::Done;
                Ok(AdatStep::Complete)
            }
            b'D' => {
                let (key, csr) = delegation::request()?;
                self.key = Some(key);
                self.conn.writer().write_all(&csr).map_err(GsiError::Io)?;
                self.phase = Phase::Cert;
                Ok(AdatStep::Continue(self.drain()?))
            }
            _ => Err(GsiError::Protocol("bad delegation flag")),
        }
    }

    fn on_cert(&mut self) -> Result<AdatStep, GsiError> {
        let der = self.read_available()?;
        let key = self
            .key
            .take()
            .ok_or(GsiError::Protocol("no delegation key"))?;
        let signed = delegation::accept(&der, &key)?;
        // As Globus does: the delegated credential is the new proxy on top of the chain the
        // client authenticated with (whatever else the message carried).
        let mut chain = vec![signed];
        if let Some(peer) = self.conn.peer_certificates() {
            chain.extend(peer.iter().map(|c| c.as_ref().to_vec()));
        }
        self.delegated = Some(Delegated {
            chain,
            key_pkcs8: key.serialize_der(),
        });
        self.phase = Phase::Done;
        Ok(AdatStep::Complete)
    }

    /// `ENC <token>`: the protected command line(s).
    pub fn unwrap(&mut self, token: &[u8]) -> Result<Vec<u8>, GsiError> {
        if self.phase != Phase::Done {
            return Err(GsiError::Protocol("ENC before the security exchange"));
        }
        if token.len() > MAX_TOKEN {
            return Err(GsiError::BadToken);
        }
        self.feed(token)?;
        self.read_available()
    }

    /// All the plaintext the fed records carried (never more than a token's worth).
    fn read_available(&mut self) -> Result<Vec<u8>, GsiError> {
        let mut plain = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.read_plain(&mut buf)? {
                0 => return Ok(plain),
                n => plain.extend_from_slice(&buf[..n]),
            }
            if plain.len() > MAX_TOKEN {
                return Err(GsiError::BadToken);
            }
        }
    }

    /// One reply line (with its CRLF) as a token for `632 <token>`.
    pub fn wrap(&mut self, line: &[u8]) -> Result<Vec<u8>, GsiError> {
        self.conn.writer().write_all(line).map_err(GsiError::Io)?;
        self.drain()
    }

    fn feed(&mut self, mut token: &[u8]) -> Result<(), GsiError> {
        while !token.is_empty() {
            let n = self.conn.read_tls(&mut token).map_err(GsiError::Io)?;
            if n == 0 {
                break;
            }
            self.conn.process_new_packets().map_err(GsiError::Tls)?;
        }
        Ok(())
    }

    fn drain(&mut self) -> Result<Vec<u8>, GsiError> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            self.conn.write_tls(&mut out).map_err(GsiError::Io)?;
        }
        Ok(out)
    }

    fn pending_plaintext(&mut self) -> Result<usize, GsiError> {
        let state = self.conn.process_new_packets().map_err(GsiError::Tls)?;
        Ok(state.plaintext_bytes_to_read())
    }

    fn read_plain(&mut self, buf: &mut [u8]) -> Result<usize, GsiError> {
        match self.conn.reader().read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(GsiError::Io(e)),
        }
    }
}
