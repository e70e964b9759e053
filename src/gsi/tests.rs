//! Table tests for proxy chain validation (RFC 3820 §4) with certificates made by rcgen,
//! and an in-memory GSI exchange: a rustls client with a proxy credential talks ADAT to a
//! [`GsiContext`] through byte buffers only, delegation included.

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CustomExtension,
    DistinguishedName, DnType, IsCa, KeyIdMethod, KeyPair, RevokedCertParams, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::chain::{validate, Anchor, Anchors, ChainError};

const PROXY_CERT_INFO: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 14];

struct Issued {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Issued {
    fn der(&self) -> Vec<u8> {
        self.cert.der().to_vec()
    }
}

fn dn(rdns: &[(&str, &str)]) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    for (i, (k, v)) in rdns.iter().enumerate() {
        let ty = match *k {
            "O" => DnType::OrganizationName,
            // A second CN needs its own key in rcgen's map: the same OID, spelt out.
            "CN" if i + 1 == rdns.len() && rdns.iter().filter(|r| r.0 == "CN").count() > 1 => {
                DnType::CustomDnType(vec![2, 5, 4, 3])
            }
            _ => DnType::CommonName,
        };
        d.push(ty, *v);
    }
    d
}

fn params(rdns: &[(&str, &str)], ca: bool, serial: u64) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = dn(rdns);
    p.is_ca = if ca {
        IsCa::Ca(BasicConstraints::Unconstrained)
    } else {
        IsCa::ExplicitNoCa
    };
    p.serial_number = Some(SerialNumber::from(serial));
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::days(1);
    p.not_after = now + Duration::days(30);
    p
}

fn ca(name: &str) -> Issued {
    let key = KeyPair::generate().unwrap();
    let cert = params(&[("O", "Test"), ("CN", name)], true, 1)
        .self_signed(&key)
        .unwrap();
    Issued { cert, key }
}

fn issue(p: CertificateParams, by: &Issued) -> Issued {
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &by.cert, &by.key).unwrap();
    Issued { cert, key }
}

/// `proxyCertInfo` content: optional path length and a policy language OID.
fn pci(path_len: Option<u8>, policy: &[u8]) -> Vec<u8> {
    let mut oid = vec![0x06, policy.len() as u8];
    oid.extend(policy);
    let mut pol = vec![0x30, oid.len() as u8];
    pol.extend(oid);
    let mut body = Vec::new();
    if let Some(n) = path_len {
        body.extend([0x02, 0x01, n]);
    }
    body.extend(pol);
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

const INHERIT_ALL: &[u8] = &[0x2b, 6, 1, 5, 5, 7, 0x15, 1];
const LIMITED: &[u8] = &[0x2b, 6, 1, 4, 1, 0x9b, 0x50, 1, 1, 1, 9];

fn proxy_of(
    issuer: &Issued,
    issuer_rdns: &[(&str, &str)],
    cn: &str,
    info: Option<Vec<u8>>,
) -> Issued {
    let mut rdns = issuer_rdns.to_vec();
    rdns.push(("CN", cn));
    let mut p = params(&rdns, false, 99);
    if let Some(content) = info {
        let mut ext = CustomExtension::from_oid_content(PROXY_CERT_INFO, content);
        ext.set_criticality(true);
        p.custom_extensions.push(ext);
    }
    issue(p, issuer)
}

const USER: &[(&str, &str)] = &[("O", "Test"), ("CN", "User")];

struct World {
    ca: Issued,
    eec: Issued,
    anchors: Anchors,
}

fn world(crl_revokes: Option<u64>, crl_stale: bool) -> World {
    let ca = ca("CA");
    let eec = issue(params(USER, false, 7), &ca);
    let mut anchors = Anchors::default();
    let crl = crl_revokes.map(|serial| crl(&ca, serial, crl_stale));
    anchors.add(Anchor {
        cert: ca.der(),
        crl,
    });
    World { ca, eec, anchors }
}

fn crl(ca: &Issued, serial: u64, stale: bool) -> Vec<u8> {
    let now = OffsetDateTime::now_utc();
    let next = if stale {
        now - Duration::days(1)
    } else {
        now + Duration::days(7)
    };
    CertificateRevocationListParams {
        this_update: now - Duration::days(2),
        next_update: next,
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![RevokedCertParams {
            serial_number: SerialNumber::from(serial),
            revocation_time: now - Duration::days(2),
            reason_code: None,
            invalidity_date: None,
        }],
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&ca.cert, &ca.key)
    .unwrap()
    .der()
    .to_vec()
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn check(chain: &[Vec<u8>], anchors: &Anchors) -> Result<super::Identity, ChainError> {
    let refs: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
    validate(&refs, anchors, now())
}

#[test]
fn rfc3820_proxy_validates_to_the_eec_dn() {
    let w = world(None, false);
    let p = proxy_of(&w.eec, USER, "1234", Some(pci(None, INHERIT_ALL)));
    let id = check(&[p.der(), w.eec.der()], &w.anchors).unwrap();
    assert_eq!(id.dn, "/O=Test/CN=User");
    assert!(!id.limited);
    // The EEC alone is fine too.
    assert_eq!(
        check(&[w.eec.der()], &w.anchors).unwrap().dn,
        "/O=Test/CN=User"
    );
}

#[test]
fn limited_legacy_and_chained_proxies() {
    let w = world(None, false);
    let limited = proxy_of(&w.eec, USER, "55", Some(pci(None, LIMITED)));
    assert!(
        check(&[limited.der(), w.eec.der()], &w.anchors)
            .unwrap()
            .limited
    );
    let legacy = proxy_of(&w.eec, USER, "proxy", None);
    assert!(
        !check(&[legacy.der(), w.eec.der()], &w.anchors)
            .unwrap()
            .limited
    );
    let legacy_limited = proxy_of(&w.eec, USER, "limited proxy", None);
    assert!(
        check(&[legacy_limited.der(), w.eec.der()], &w.anchors)
            .unwrap()
            .limited
    );
    // A path length of 0 on a leaf proxy is fine.
    let p0 = proxy_of(&w.eec, USER, "1", Some(pci(Some(0), INHERIT_ALL)));
    assert!(check(&[p0.der(), w.eec.der()], &w.anchors).is_ok());
}

/// rcgen cannot name a proxy of a proxy (three CNs), so the path-length rule is tested on
/// its own; chains of proxies are covered by the grid-proxy-init tests.
#[test]
fn proxy_path_lengths() {
    use super::chain::path_len_violation as v;
    // limits from the leaf up: the i-th proxy has i proxies below it.
    assert_eq!(v(&[None, None, None]), None);
    assert_eq!(v(&[Some(0)]), None);
    assert_eq!(v(&[None, Some(0)]), Some(1));
    assert_eq!(v(&[None, Some(1)]), None);
    assert_eq!(v(&[None, None, Some(1)]), Some(2));
    assert_eq!(v(&[Some(5), None, Some(2)]), None);
}

#[test]
fn refusals() {
    let w = world(None, false);
    let good = proxy_of(&w.eec, USER, "1", Some(pci(None, INHERIT_ALL)));
    // Tampered signature: flip a bit in the last byte (inside the signature).
    let mut tampered = good.der();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(matches!(
        check(&[tampered, w.eec.der()], &w.anchors),
        Err(ChainError::BadSignature(_))
    ));
    // A proxy that does not extend its issuer's name.
    let renamed = proxy_of(
        &w.eec,
        &[("O", "Other"), ("CN", "User")],
        "1",
        Some(pci(None, INHERIT_ALL)),
    );
    assert!(check(&[renamed.der(), w.eec.der()], &w.anchors).is_err());
    // Unknown CA.
    let rogue = ca("Rogue");
    let rogue_eec = issue(params(USER, false, 8), &rogue);
    assert!(matches!(
        check(&[rogue_eec.der()], &w.anchors),
        Err(ChainError::UnknownIssuer(_))
    ));
    // Expired EEC.
    let mut p = params(USER, false, 9);
    p.not_before = OffsetDateTime::now_utc() - Duration::days(30);
    p.not_after = OffsetDateTime::now_utc() - Duration::days(1);
    let expired = issue(p, &w.ca);
    assert!(matches!(
        check(&[expired.der()], &w.anchors),
        Err(ChainError::Expired(_))
    ));
    // A CA certificate presented as the user.
    let sub_ca = issue(params(&[("O", "Test"), ("CN", "Sub")], true, 10), &w.ca);
    assert!(matches!(
        check(&[sub_ca.der()], &w.anchors),
        Err(ChainError::CaAsEndEntity(_))
    ));
    // Garbage and emptiness.
    assert!(matches!(
        check(&[vec![0x30, 0x03, 1, 2, 3]], &w.anchors),
        Err(ChainError::Malformed(0))
    ));
    assert!(matches!(check(&[], &w.anchors), Err(ChainError::Empty)));
}

#[test]
fn crls_revoke_and_must_be_current() {
    let revoked = world(Some(7), false);
    assert!(matches!(
        check(&[revoked.eec.der()], &revoked.anchors),
        Err(ChainError::Revoked(_))
    ));
    let other = world(Some(12345), false);
    assert!(check(&[other.eec.der()], &other.anchors).is_ok());
    let stale = world(Some(12345), true);
    assert!(matches!(
        check(&[stale.eec.der()], &stale.anchors),
        Err(ChainError::BadCrl(_))
    ));
}

/// The CSR's public key, for rcgen to certify (the client's half of delegation).
struct RequestedKey(Vec<u8>);

impl rcgen::PublicKeyData for RequestedKey {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }
    fn algorithm(&self) -> &rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

/// The client's proxy credential, handed to rustls as is (its config builder would run
/// the leaf through webpki, which rejects proxyCertInfo as an unknown critical extension).
#[derive(Debug)]
struct ProxyCredential(std::sync::Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for ProxyCredential {
    fn resolve(
        &self,
        _hints: &[&[u8]],
        _schemes: &[rustls::SignatureScheme],
    ) -> Option<std::sync::Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A rustls client holding a proxy credential runs the whole GSI exchange against a
/// [`GsiContext`] through byte buffers: handshake, 'D', our CSR, its signed proxy; then
/// ENC/632 wrapping both ways.
#[test]
fn in_memory_gsi_exchange_with_delegation() {
    use std::io::{Read, Write};
    use std::sync::Arc;

    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use x509_parser::prelude::FromDer;

    use super::context::{AdatStep, GsiContext};

    let w = world(None, false);
    let proxy = proxy_of(&w.eec, USER, "4242", Some(pci(None, INHERIT_ALL)));
    let mut host_params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    host_params.distinguished_name = dn(&[("O", "Test"), ("CN", "localhost")]);
    let host = issue(host_params, &w.ca);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("0badcafe.0"), w.ca.cert.pem()).unwrap();
    let trust = Arc::new(super::trust::TrustDir::open(dir.path()));
    let verifier = Arc::new(super::verifier::ProxyVerifier::new(trust));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_client_cert_verifier(verifier.clone())
        .with_single_cert(
            vec![host.cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(host.key.serialize_der())),
        )
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(w.ca.cert.der().clone()).unwrap();
    let client_cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(ProxyCredential(Arc::new(
            rustls::sign::CertifiedKey::new(
                vec![
                    CertificateDer::from(proxy.der()),
                    CertificateDer::from(w.eec.der()),
                ],
                rustls::crypto::ring::sign::any_supported_type(&PrivateKeyDer::Pkcs8(
                    PrivatePkcs8KeyDer::from(proxy.key.serialize_der()),
                ))
                .unwrap(),
            ),
        ))));
    let mut client =
        rustls::ClientConnection::new(Arc::new(client_cfg), "localhost".try_into().unwrap())
            .unwrap();
    let mut ctx = GsiContext::new(Arc::new(server), verifier.clone()).unwrap();

    let mut steps = 0;
    let mut flag_sent = false;
    loop {
        steps += 1;
        assert!(steps < 10, "exchange does not converge");
        let mut token = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut token).unwrap();
        }
        match ctx.adat(&token).unwrap() {
            AdatStep::Complete => break,
            AdatStep::Continue(out) => {
                client.read_tls(&mut &out[..]).unwrap();
                client.process_new_packets().unwrap();
            }
        }
        if client.is_handshaking() {
            continue;
        }
        if !flag_sent {
            client.writer().write_all(b"D").unwrap();
            flag_sent = true;
            continue;
        }
        // The server's PKCS#10 request: certify its key with our proxy key.
        let mut csr = Vec::new();
        let _ = client.reader().read_to_end(&mut csr);
        let (_, req) =
            x509_parser::certification_request::X509CertificationRequest::from_der(&csr).unwrap();
        let key = RequestedKey(
            req.certification_request_info
                .subject_pki
                .subject_public_key
                .data
                .to_vec(),
        );
        let mut p = params(&[("O", "Test"), ("CN", "User"), ("CN", "4242")], false, 5);
        p.distinguished_name = dn(USER);
        let delegated = p.signed_by(&key, &proxy.cert, &proxy.key).unwrap();
        let mut reply = delegated.der().to_vec();
        reply.extend(proxy.der());
        reply.extend(w.eec.der());
        client.writer().write_all(&reply).unwrap();
    }
    assert!(ctx.is_established());
    assert_eq!(ctx.identity().unwrap().dn, "/O=Test/CN=User");
    assert_eq!(
        verifier.validations(),
        1,
        "one chain validation per handshake"
    );
    assert_eq!(ctx.delegated().unwrap().chain.len(), 3);

    // ENC: a protected command; 632: a protected reply line.
    client.writer().write_all(b"PWD\r\n").unwrap();
    let mut token = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut token).unwrap();
    }
    assert_eq!(ctx.unwrap(&token).unwrap(), b"PWD\r\n");
    let wrapped = ctx.wrap(b"257 \"/\"\r\n").unwrap();
    client.read_tls(&mut &wrapped[..]).unwrap();
    client.process_new_packets().unwrap();
    let mut line = Vec::new();
    let _ = client.reader().read_to_end(&mut line);
    assert_eq!(line, b"257 \"/\"\r\n");
    // Tampered ciphertext is refused, never unwrapped.
    client.writer().write_all(b"DELE x\r\n").unwrap();
    let mut token = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut token).unwrap();
    }
    let last = token.len() - 1;
    token[last] ^= 0x55;
    assert!(ctx.unwrap(&token).is_err());
}

#[test]
fn adat_garbage_and_truncation_are_errors() {
    use std::sync::Arc;
    let w = world(None, false);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("0badcafe.0"), w.ca.cert.pem()).unwrap();
    let verifier = Arc::new(super::verifier::ProxyVerifier::new(Arc::new(
        super::trust::TrustDir::open(dir.path()),
    )));
    let host = issue(
        params(&[("O", "Test"), ("CN", "localhost")], false, 3),
        &w.ca,
    );
    let server = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_client_cert_verifier(verifier.clone())
        .with_single_cert(
            vec![host.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(host.key.serialize_der().into()),
        )
        .unwrap(),
    );
    for token in [&b""[..], b"garbage garbage", &[0x16, 3, 1, 0, 0x50, 1][..]] {
        let mut ctx = super::context::GsiContext::new(server.clone(), verifier.clone()).unwrap();
        assert!(ctx.adat(token).is_err(), "{token:?}");
    }
    let mut ctx = super::context::GsiContext::new(server, verifier).unwrap();
    assert!(
        ctx.unwrap(b"\x17\x03\x03\x00\x01x").is_err(),
        "ENC before the exchange"
    );
}

/// A trust directory holding the world's CA, and its verifier.
fn data_verifier(
    w: &World,
) -> (
    tempfile::TempDir,
    std::sync::Arc<super::verifier::ProxyVerifier>,
) {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("0badcafe.0"), w.ca.cert.pem()).unwrap();
    let trust = Arc::new(super::trust::TrustDir::open(dir.path()));
    (dir, Arc::new(super::verifier::ProxyVerifier::new(trust)))
}

/// Data-channel security for credential `chain` + `key`, expecting peer `expect`.
fn data_sec(
    verifier: &std::sync::Arc<super::verifier::ProxyVerifier>,
    chain: &[Vec<u8>],
    key: &KeyPair,
    expect: &str,
    private: bool,
) -> std::sync::Arc<super::datachan::DataSecurity> {
    std::sync::Arc::new(
        super::datachan::DataSecurity::new(
            chain,
            &key.serialize_der(),
            verifier.clone(),
            expect.to_string(),
            private,
        )
        .unwrap(),
    )
}

/// One data connection over loopback: `acc` accepts (then `serve`), `ini` connects (then
/// `drive`); returns both results.
fn data_channel<A: Send + 'static, I>(
    acc: std::sync::Arc<super::datachan::DataSecurity>,
    ini: std::sync::Arc<super::datachan::DataSecurity>,
    serve: impl FnOnce(super::datachan::Secured) -> std::io::Result<A> + Send + 'static,
    drive: impl FnOnce(super::datachan::Secured) -> std::io::Result<I>,
) -> (std::io::Result<A>, std::io::Result<I>) {
    use std::net::{TcpListener, TcpStream};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        acc.establish(s, false).and_then(serve)
    });
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let ini = ini.establish(s, true).and_then(drive);
    (t.join().unwrap(), ini)
}

/// DCAU from the wrong side: a data-channel peer holding a valid proxy of ANOTHER user,
/// signed by a trusted CA, is refused by the end that checks it (acceptor and initiator
/// alike); the same user's proxy passes. Without the DN comparison in `authorise` every
/// trusted peer would pass.
#[test]
fn data_channel_refuses_a_trusted_peer_with_another_dn() {
    const OTHER: &[(&str, &str)] = &[("O", "Test"), ("CN", "Other")];
    let w = world(None, false);
    let other = issue(params(OTHER, false, 8), &w.ca);
    let p_user = proxy_of(&w.eec, USER, "1", Some(pci(None, INHERIT_ALL)));
    let p_other = proxy_of(&other, OTHER, "2", Some(pci(None, INHERIT_ALL)));
    let (_dir, verifier) = data_verifier(&w);
    let sec = |proxy: &Issued, eec: &Issued, expect: &str| {
        data_sec(
            &verifier,
            &[proxy.der(), eec.der()],
            &proxy.key,
            expect,
            false,
        )
    };
    // (acceptor, initiator) → (acceptor's result, initiator's result)
    let channel = |acc, ini| data_channel(acc, ini, |_| Ok(()), |_| Ok(()));
    let (user, oth) = ("/O=Test/CN=User", "/O=Test/CN=Other");

    // The right peer: both ends hold the user's proxy and expect the user.
    let before = verifier.validations();
    let (a, i) = channel(sec(&p_user, &w.eec, user), sec(&p_user, &w.eec, user));
    assert!(a.is_ok() && i.is_ok(), "same user: {a:?} {i:?}");
    // Each end validates its peer's chain once, in its handshake; `authorise` reuses it.
    assert_eq!(verifier.validations() - before, 2);

    let refused = |r: std::io::Result<()>, peer: &str, expected: &str| {
        let e = r.expect_err("a trusted peer with another DN was accepted");
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}");
        assert_eq!(
            e.to_string(),
            format!("data channel peer is {peer}, expected {expected}")
        );
    };
    // The acceptor checks: it expects the user, the other user connects.
    let (a, _) = channel(sec(&p_user, &w.eec, user), sec(&p_other, &other, user));
    refused(a, oth, user);
    // The initiator checks: it expects the user, the other user accepted.
    let (_, i) = channel(sec(&p_other, &other, user), sec(&p_user, &w.eec, user));
    refused(i, oth, user);
}

/// A data-channel peer that presents the user's (valid, public) proxy chain but signs
/// the handshake with another key is refused by the acceptor (the rustls pre-release
/// behind `accept.rs`) and by the initiator (rustls 0.23): both run the one signature
/// check in `ProxyVerifier::check_signature`, against the leaf's key.
#[test]
fn data_channel_refuses_a_stolen_chain_without_its_key() {
    let w = world(None, false);
    let p_user = proxy_of(&w.eec, USER, "1", Some(pci(None, INHERIT_ALL)));
    let thief = KeyPair::generate().unwrap();
    let (_dir, verifier) = data_verifier(&w);
    let chain = [p_user.der(), w.eec.der()];
    let user = "/O=Test/CN=User";
    let honest = data_sec(&verifier, &chain, &p_user.key, user, false);
    let stolen = data_sec(&verifier, &chain, &thief, user, false);
    let check = |r: std::io::Result<()>, side: &str| {
        let e = r.expect_err("a handshake signed with another key was accepted");
        assert!(e.to_string().contains("BadSignature"), "{side}: {e}");
    };
    let (a, _) = data_channel(honest.clone(), stolen.clone(), |_| Ok(()), |_| Ok(()));
    check(a, "acceptor");
    let (_, i) = data_channel(stolen, honest, |_| Ok(()), |_| Ok(()));
    check(i, "initiator");
}

/// PROT P from a Globus initiator ends with a TCP FIN and no close_notify: a clean end
/// between records is the end of the data, but an end inside a record is a truncation
/// and fails the read.
#[test]
fn private_data_channel_end_of_stream() {
    use std::io::{Read, Write};

    use super::datachan::Secured;

    let w = world(None, false);
    let p_user = proxy_of(&w.eec, USER, "1", Some(pci(None, INHERIT_ALL)));
    let (_dir, verifier) = data_verifier(&w);
    let sec = data_sec(
        &verifier,
        &[p_user.der(), w.eec.der()],
        &p_user.key,
        "/O=Test/CN=User",
        true,
    );
    let read_all = |s: Secured| {
        let Secured::Private(mut s) = s else {
            panic!("PROT P gives a TLS stream")
        };
        let mut got = Vec::new();
        s.read_to_end(&mut got).map(|_| got)
    };
    for partial in [&[][..], &[0x17, 3, 3, 0x40, 0, 1, 2, 3][..]] {
        let (got, sent) = data_channel(sec.clone(), sec.clone(), read_all, |s| {
            let Secured::Private(mut s) = s else {
                panic!("PROT P gives a TLS stream")
            };
            s.write_all(b"hello")?;
            s.flush()?;
            // No close_notify, as Globus: maybe the start of a record, then FIN.
            let mut tcp = s.tcp();
            tcp.write_all(partial)?;
            tcp.shutdown(std::net::Shutdown::Write)
        });
        sent.unwrap();
        if partial.is_empty() {
            assert_eq!(got.unwrap(), b"hello");
        } else {
            let e = got.expect_err("a truncated record was taken for the end");
            assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
        }
    }
}

/// Polls `cond` for up to five seconds (the background reload settles in milliseconds).
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

/// Writes `data` as `name` the way fetch-crl does: a temporary file renamed over it.
fn rename_in(dir: &std::path::Path, name: &str, data: &[u8]) {
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, data).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

/// A CRL renamed into the trust directory is picked up by the background reload and
/// published as a new snapshot (the old one is left as it was); a broken CRL renamed over
/// it keeps the revocations; a good replacement applies again.
#[test]
fn trust_snapshots_are_swapped_by_the_background_reload() {
    use std::sync::Arc;

    let w = world(None, false);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("0badcafe.0"), w.ca.cert.pem()).unwrap();
    let trust = super::trust::TrustDir::open(dir.path());
    let first = trust.anchors();
    assert_eq!(first.len(), 1);
    // Our own reads of the directory do not count as changes (no reload storm).
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(Arc::ptr_eq(&first, &trust.anchors()));
    assert!(check(&[w.eec.der()], &first).is_ok());

    rename_in(dir.path(), "0badcafe.r0", &crl(&w.ca, 7, false));
    let revoked = || {
        matches!(
            check(&[w.eec.der()], &trust.anchors()),
            Err(ChainError::Revoked(_))
        )
    };
    assert!(eventually(revoked), "the new CRL was not loaded");
    assert!(!Arc::ptr_eq(&first, &trust.anchors()));
    assert!(
        check(&[w.eec.der()], &first).is_ok(),
        "a snapshot never changes"
    );

    let before = trust.anchors();
    rename_in(
        dir.path(),
        "0badcafe.r0",
        b"-----BEGIN X509 CRL-----\nMIIB\n",
    );
    assert!(eventually(|| !Arc::ptr_eq(&before, &trust.anchors())));
    assert!(revoked(), "a broken CRL must not drop the revocations");

    rename_in(dir.path(), "0badcafe.r0", &crl(&w.ca, 12345, false));
    assert!(eventually(
        || check(&[w.eec.der()], &trust.anchors()).is_ok()
    ));
}

/// After the handshake, `peer_identity` takes the handshake's result once; a second
/// look, or one after a trust reload (here: a new CRL), validates afresh.
#[test]
fn peer_identity_reuses_the_handshake_validation_only_under_the_same_anchors() {
    use std::sync::Arc;

    use rustls::pki_types::CertificateDer;

    let w = world(None, false);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("0badcafe.0"), w.ca.cert.pem()).unwrap();
    let trust = Arc::new(super::trust::TrustDir::open(dir.path()));
    let verifier = super::verifier::ProxyVerifier::new(Arc::clone(&trust));
    let chain = [CertificateDer::from(w.eec.der())];
    verifier.validate(&chain, now()).unwrap();
    assert_eq!(verifier.validations(), 1);
    assert_eq!(
        verifier.peer_identity(&chain).unwrap().dn,
        "/O=Test/CN=User"
    );
    assert_eq!(
        verifier.validations(),
        1,
        "the handshake's result was reused"
    );
    verifier.peer_identity(&chain).unwrap();
    assert_eq!(verifier.validations(), 2, "a result is taken once");

    verifier.validate(&chain, now()).unwrap();
    rename_in(dir.path(), "0badcafe.r0", &crl(&w.ca, 7, false));
    assert!(eventually(|| matches!(
        check(&[w.eec.der()], &trust.anchors()),
        Err(ChainError::Revoked(_))
    )));
    assert!(
        matches!(verifier.peer_identity(&chain), Err(ChainError::Revoked(_))),
        "a result from before the reload was used"
    );
}

/// The grid-mapfile → account mapping FTP and WebDAV logins share: first account by
/// default, a requested one only if mapped, and a limited proxy never writes unless the
/// site allows it (the SECURITY rule goes red here if removed).
#[test]
fn identities_map_to_accounts_and_limited_proxies_do_not_write() {
    let (table, bad) = super::gridmap::MapTable::parse(
        "\"/O=Grid/CN=Alice\" alice,atlas001\n\"/O=Grid/CN=Bob\" bob\n",
    );
    assert!(bad.is_empty());
    let rights = |a: &str| (format!("/{a}"), a != "bob");
    let who = |dn: &str, limited| super::Identity {
        dn: dn.into(),
        limited,
    };
    let alice = who("/O=Grid/CN=Alice", false);
    let map = |id: &super::Identity, req, limited_write| {
        super::map_principal(&table, id, req, rights, limited_write)
    };
    for default in [None, Some(""), Some(":globus-mapping:")] {
        let p = map(&alice, default, false).expect("mapped");
        assert_eq!((p.name.as_str(), p.root.as_str()), ("alice", "/alice"));
        assert!(p.can_write && !p.anonymous);
    }
    assert_eq!(
        map(&alice, Some("atlas001"), false).unwrap().name,
        "atlas001"
    );
    assert!(
        map(&alice, Some("bob"), false).is_none(),
        "not Alice's account"
    );
    assert!(map(&who("/O=Grid/CN=Eve", false), None, false).is_none());
    // The account's own rights stay: bob is read-only whatever the proxy.
    assert!(
        !map(&who("/O=Grid/CN=Bob", false), None, true)
            .unwrap()
            .can_write
    );
    let limited = who("/O=Grid/CN=Alice", true);
    assert!(!map(&limited, None, false).unwrap().can_write);
    assert!(map(&limited, None, true).unwrap().can_write);
}
