//! X.509 proxy certificate path validation (RFC 3820 §4 and the legacy Globus GT2 form):
//! proxy → … → end-entity certificate (EEC) → CA from the trust directory, with
//! signatures, validity periods, CA flags, proxy naming rules, proxy path length and CRLs.
//! Pure: the caller passes the DER chain as the peer sent it and the trust anchors.

use std::collections::HashMap;

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use super::dn::openssl_dn;

/// RFC 3820 proxyCertInfo.
const OID_PROXY_CERT_INFO: &str = "1.3.6.1.5.5.7.1.14";
/// The pre-RFC (GT3) proxyCertInfo.
const OID_PROXY_CERT_INFO_GT3: &str = "1.3.6.1.4.1.3536.1.222";
/// Globus limited-proxy policy language.
const OID_LIMITED: &str = "1.3.6.1.4.1.3536.1.1.1.9";
/// Longest chain accepted from a client (proxies + EEC).
const MAX_CHAIN: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("no client certificate")]
    Empty,
    #[error("certificate {0} cannot be parsed")]
    Malformed(usize),
    #[error("certificate chain longer than {MAX_CHAIN}")]
    TooLong,
    #[error("certificate {0} is not valid now (expired or not yet valid)")]
    Expired(String),
    #[error("bad signature on {0}")]
    BadSignature(String),
    #[error("issuer of {0} not found among the peer's certificates or trusted CAs")]
    UnknownIssuer(String),
    #[error("{0} is not a valid proxy of its issuer")]
    BadProxy(String),
    #[error("proxy path length exceeded at {0}")]
    PathLength(String),
    #[error("{0} is revoked")]
    Revoked(String),
    #[error("CRL for {0} is invalid or expired")]
    BadCrl(String),
    #[error("{0} is a CA certificate, not an end-entity certificate")]
    CaAsEndEntity(String),
    #[error("issuer {0} is not a CA")]
    NotCa(String),
}

/// A trusted CA and, when present, its CRL (both DER).
#[derive(Debug, Clone)]
pub struct Anchor {
    pub cert: Vec<u8>,
    pub crl: Option<Vec<u8>>,
}

/// Trust anchors keyed by their subject in OpenSSL form.
#[derive(Debug, Clone, Default)]
pub struct Anchors {
    by_subject: HashMap<String, Vec<Anchor>>,
}

impl Anchors {
    pub fn add(&mut self, anchor: Anchor) -> bool {
        let Ok((_, cert)) = X509Certificate::from_der(&anchor.cert) else {
            return false;
        };
        let subject = openssl_dn(cert.subject());
        self.by_subject.entry(subject).or_default().push(anchor);
        true
    }

    pub fn len(&self) -> usize {
        self.by_subject.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_subject.is_empty()
    }

    fn find(&self, name: &X509Name<'_>) -> &[Anchor] {
        self.by_subject
            .get(&openssl_dn(name))
            .map_or(&[], Vec::as_slice)
    }
}

/// Who authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The end-entity subject, `/O=…/CN=…` (what grid-mapfiles list).
    pub dn: String,
    /// A limited proxy is somewhere in the chain.
    pub limited: bool,
}

/// Validates `chain` (leaf first, as sent in the TLS Certificate message) at Unix time
/// `now` against `anchors`.
pub fn validate(chain: &[&[u8]], anchors: &Anchors, now: i64) -> Result<Identity, ChainError> {
    if chain.is_empty() {
        return Err(ChainError::Empty);
    }
    if chain.len() > MAX_CHAIN {
        return Err(ChainError::TooLong);
    }
    let certs = chain
        .iter()
        .enumerate()
        .map(|(i, der)| {
            X509Certificate::from_der(der)
                .map(|(_, c)| c)
                .map_err(|_| ChainError::Malformed(i))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for c in &certs {
        check_time(c, now)?;
    }
    // Walk from the leaf up through the proxies to the EEC.
    let mut limited = false;
    let mut proxies: Vec<(usize, Option<u32>)> = Vec::new();
    let mut i = 0;
    loop {
        let cert = &certs[i];
        let Some(kind) = proxy_kind(cert) else { break };
        limited |= kind.limited;
        let issuer_idx = find_issuer(&certs, i)
            .ok_or_else(|| ChainError::UnknownIssuer(openssl_dn(cert.subject())))?;
        let issuer = &certs[issuer_idx];
        check_proxy_name(cert, issuer)?;
        verify_signature(cert, issuer)?;
        proxies.push((i, kind.path_len));
        if proxies.len() >= MAX_CHAIN {
            return Err(ChainError::TooLong);
        }
        i = issuer_idx;
    }
    check_path_lengths(&certs, &proxies)?;
    let eec = &certs[i];
    let dn = openssl_dn(eec.subject());
    if is_ca(eec) {
        return Err(ChainError::CaAsEndEntity(dn));
    }
    validate_to_anchor(eec, anchors, now)?;
    Ok(Identity { dn, limited })
}

/// From the EEC up to a self-signed CA, every CA taken from the trust directory (never
/// from the peer): each issuer must be a CA and current, each CRL is checked.
fn validate_to_anchor(
    eec: &X509Certificate<'_>,
    anchors: &Anchors,
    now: i64,
) -> Result<(), ChainError> {
    let mut current = eec.clone();
    for _ in 0..MAX_CHAIN {
        let name = openssl_dn(current.subject());
        let candidates = anchors.find(current.issuer());
        let trusted = candidates.iter().find_map(|a| {
            let (_, ca) = X509Certificate::from_der(&a.cert).ok()?;
            verify_signature(&current, &ca).ok()?;
            Some((ca, a))
        });
        let Some((ca, anchor)) = trusted else {
            return Err(ChainError::UnknownIssuer(name));
        };
        if !is_ca(&ca) {
            return Err(ChainError::NotCa(openssl_dn(ca.subject())));
        }
        check_time(&ca, now)?;
        if let Some(crl) = &anchor.crl {
            check_crl(&current, &ca, crl, now)?;
        }
        if ca.subject() == ca.issuer() {
            return Ok(());
        }
        current = ca;
    }
    Err(ChainError::TooLong)
}

fn check_time(c: &X509Certificate<'_>, now: i64) -> Result<(), ChainError> {
    let v = c.validity();
    if now < v.not_before.timestamp() || now > v.not_after.timestamp() {
        return Err(ChainError::Expired(openssl_dn(c.subject())));
    }
    Ok(())
}

fn verify_signature(
    c: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
) -> Result<(), ChainError> {
    // SECURITY: every link of the chain is signed by the next; nothing is taken on trust.
    c.verify_signature(Some(issuer.public_key()))
        .map_err(|_| ChainError::BadSignature(openssl_dn(c.subject())))
}

fn is_ca(c: &X509Certificate<'_>) -> bool {
    matches!(c.basic_constraints(), Ok(Some(bc)) if bc.value.ca)
}

struct ProxyKind {
    limited: bool,
    path_len: Option<u32>,
}

/// RFC 3820 (or GT3) proxyCertInfo, else the legacy form (subject = issuer + `CN=proxy`
/// or `CN=limited proxy`); `None` for an ordinary certificate.
fn proxy_kind(c: &X509Certificate<'_>) -> Option<ProxyKind> {
    for ext in c.extensions() {
        let oid = ext.oid.to_id_string();
        if oid == OID_PROXY_CERT_INFO || oid == OID_PROXY_CERT_INFO_GT3 {
            return Some(parse_proxy_cert_info(ext.value));
        }
    }
    let last_cn = last_cn(c.subject())?;
    let legacy = last_cn == "proxy" || last_cn == "limited proxy";
    let one_more = c.subject().iter().count() == c.issuer().iter().count() + 1;
    (legacy && one_more).then_some(ProxyKind {
        limited: last_cn == "limited proxy",
        path_len: None,
    })
}

/// `ProxyCertInfo ::= SEQUENCE { pCPathLenConstraint INTEGER OPTIONAL, proxyPolicy
/// SEQUENCE { policyLanguage OID, policy OCTET STRING OPTIONAL } }`, read defensively: a
/// malformed value yields "unlimited, not limited" only where that is the stricter reading
/// for the limited flag (anything unparsable is treated as limited).
fn parse_proxy_cert_info(value: &[u8]) -> ProxyKind {
    use der_walk::*;
    let fallback = ProxyKind {
        limited: true,
        path_len: Some(0),
    };
    let Some((seq, _)) = tlv(value, 0x30) else {
        return fallback;
    };
    let (path_len, rest) = match tlv(seq, 0x02) {
        Some((int, rest)) => (Some(uint(int).unwrap_or(0)), rest),
        None => (None, seq),
    };
    let Some((policy, _)) = tlv(rest, 0x30) else {
        return fallback;
    };
    let Some((oid, _)) = tlv(policy, 0x06) else {
        return fallback;
    };
    let limited = oid_string(oid).is_none_or(|o| o == OID_LIMITED);
    ProxyKind { limited, path_len }
}

/// Minimal DER reading for proxyCertInfo (x509-parser does not decode this extension).
mod der_walk {
    /// The content of a definite-length TLV with `tag` at the start of `b`, and the rest.
    pub fn tlv(b: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        if *b.first()? != tag {
            return None;
        }
        let first = *b.get(1)?;
        let (len, hdr) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return None;
            }
            let mut len = 0usize;
            for i in 0..n {
                len = (len << 8) | usize::from(*b.get(2 + i)?);
            }
            (len, 2 + n)
        };
        let end = hdr.checked_add(len)?;
        Some((b.get(hdr..end)?, b.get(end..)?))
    }

    pub fn uint(b: &[u8]) -> Option<u32> {
        if b.is_empty() || b.len() > 5 || b[0] & 0x80 != 0 {
            return None;
        }
        b.iter()
            .try_fold(0u64, |acc, &x| Some((acc << 8) | u64::from(x)))
            .and_then(|v| u32::try_from(v).ok())
    }

    /// Dotted form of an OID's content octets.
    pub fn oid_string(b: &[u8]) -> Option<String> {
        let (&first, rest) = b.split_first()?;
        let mut parts = vec![u64::from(first / 40).min(2), 0];
        parts[1] = u64::from(first) - parts[0] * 40;
        let mut acc: u64 = 0;
        for &x in rest {
            acc = acc.checked_mul(128)? | u64::from(x & 0x7f);
            if x & 0x80 == 0 {
                parts.push(acc);
                acc = 0;
            }
        }
        Some(
            parts
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join("."),
        )
    }
}

fn last_cn(name: &X509Name<'_>) -> Option<String> {
    let rdn = name.iter().last()?;
    let atv = rdn.iter().next()?;
    (atv.attr_type().to_id_string() == "2.5.4.3")
        .then(|| atv.as_str().ok().map(str::to_string))
        .flatten()
}

/// A proxy's subject is its issuer's subject plus exactly one CN (RFC 3820 §3.4), and its
/// issuer is never a CA.
fn check_proxy_name(
    proxy: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
) -> Result<(), ChainError> {
    let bad = || ChainError::BadProxy(openssl_dn(proxy.subject()));
    if is_ca(issuer) || proxy.issuer() != issuer.subject() {
        return Err(bad());
    }
    let subject: Vec<_> = proxy.subject().iter().collect();
    let issuer_rdns: Vec<_> = issuer.subject().iter().collect();
    if subject.len() != issuer_rdns.len() + 1
        || subject[..issuer_rdns.len()]
            .iter()
            .zip(&issuer_rdns)
            .any(|(a, b)| a != b)
        || last_cn(proxy.subject()).is_none()
    {
        return Err(bad());
    }
    Ok(())
}

/// Each proxy's pCPathLenConstraint bounds the number of proxies below it.
fn check_path_lengths(
    certs: &[X509Certificate<'_>],
    proxies: &[(usize, Option<u32>)],
) -> Result<(), ChainError> {
    let limits: Vec<Option<u32>> = proxies.iter().map(|p| p.1).collect();
    match path_len_violation(&limits) {
        Some(i) => Err(ChainError::PathLength(openssl_dn(
            certs[proxies[i].0].subject(),
        ))),
        None => Ok(()),
    }
}

/// `limits[i]` is the path length of the i-th proxy counted from the leaf (0 = the leaf):
/// it has `i` proxies below it. The index of the first violated limit.
pub(crate) fn path_len_violation(limits: &[Option<u32>]) -> Option<usize> {
    limits
        .iter()
        .enumerate()
        .find(|(below, limit)| limit.is_some_and(|l| *below > l as usize))
        .map(|(i, _)| i)
}

/// The CRL must be signed by the CA and current; `cert` must not be on it.
fn check_crl(
    cert: &X509Certificate<'_>,
    ca: &X509Certificate<'_>,
    crl: &[u8],
    now: i64,
) -> Result<(), ChainError> {
    use x509_parser::revocation_list::CertificateRevocationList;
    let ca_name = openssl_dn(ca.subject());
    let Ok((_, crl)) = CertificateRevocationList::from_der(crl) else {
        return Err(ChainError::BadCrl(ca_name));
    };
    // SECURITY: a forged or stale CRL must not hide a revocation.
    if crl.verify_signature(ca.public_key()).is_err()
        || crl.next_update().is_some_and(|t| t.timestamp() < now)
    {
        return Err(ChainError::BadCrl(ca_name));
    }
    if crl
        .iter_revoked_certificates()
        .any(|r| r.raw_serial() == cert.raw_serial())
    {
        return Err(ChainError::Revoked(openssl_dn(cert.subject())));
    }
    Ok(())
}

fn find_issuer(certs: &[X509Certificate<'_>], child: usize) -> Option<usize> {
    let issuer = certs[child].issuer();
    certs
        .iter()
        .enumerate()
        .find(|(i, c)| *i != child && c.subject() == issuer)
        .map(|(i, _)| i)
}

/// Parsed checks exercised by the fuzz target: never panics on any input.
pub fn parse_proxy_cert_info_for_fuzz(value: &[u8]) -> (bool, Option<u32>) {
    let k = parse_proxy_cert_info(value);
    (k.limited, k.path_len)
}
