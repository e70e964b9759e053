//! Facts about a certificate for logs, metrics, renewal timing and `griddock cert status`
//! (RFC 5280 §4.1), read with x509-parser.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub serial_hex: String,
    pub subject: String,
    pub issuer: String,
    pub names: Vec<String>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// DER of the serial and of the authority key identifier (ACME Renewal Info).
    pub serial_der: Vec<u8>,
    pub aki: Option<Vec<u8>>,
}

impl CertInfo {
    pub fn from_der(der: &[u8]) -> Option<CertInfo> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let mut names = Vec::new();
        let mut aki = None;
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for n in &san.general_names {
                        match n {
                            GeneralName::DNSName(d) => names.push((*d).to_string()),
                            GeneralName::IPAddress(ip) => names.push(ip_string(ip)),
                            _ => {}
                        }
                    }
                }
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    aki = a.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                _ => {}
            }
        }
        Some(CertInfo {
            serial_hex: cert
                .raw_serial()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            names,
            not_before: to_system(cert.validity().not_before.timestamp()),
            not_after: to_system(cert.validity().not_after.timestamp()),
            serial_der: cert.raw_serial().to_vec(),
            aki,
        })
    }

    /// When to renew: `renew_before` ahead of expiry, else once 2/3 of the lifetime passed.
    pub fn renewal_due(&self, renew_before: Option<Duration>) -> SystemTime {
        match renew_before {
            Some(d) => self
                .not_after
                .checked_sub(d)
                .map_or(self.not_before, |t| t.max(self.not_before)),
            None => {
                let life = self
                    .not_after
                    .duration_since(self.not_before)
                    .unwrap_or_default();
                self.not_before + life * 2 / 3
            }
        }
    }

    pub fn covers(&self, domains: &[String]) -> bool {
        domains
            .iter()
            .all(|d| self.names.iter().any(|n| n.eq_ignore_ascii_case(d)))
    }
}

fn ip_string(raw: &[u8]) -> String {
    match raw.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(raw).unwrap_or_default()).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(raw).unwrap_or_default()).to_string(),
        _ => String::from("?"),
    }
}

fn to_system(ts: i64) -> SystemTime {
    if ts >= 0 {
        UNIX_EPOCH + Duration::from_secs(ts.unsigned_abs())
    } else {
        UNIX_EPOCH
    }
}

/// RFC 3339 rendering for humans (to the second, clamped to years 0000..=9999).
pub fn rfc3339(t: SystemTime) -> String {
    crate::utc::datetime(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(not_before: u64, not_after: u64) -> CertInfo {
        CertInfo {
            serial_hex: "01".into(),
            subject: "CN=x".into(),
            issuer: "CN=ca".into(),
            names: vec!["a.example".into(), "B.example".into()],
            not_before: UNIX_EPOCH + Duration::from_secs(not_before),
            not_after: UNIX_EPOCH + Duration::from_secs(not_after),
            serial_der: vec![1],
            aki: None,
        }
    }

    #[test]
    fn renewal_times() {
        let i = info(900, 1800);
        assert_eq!(
            i.renewal_due(None),
            UNIX_EPOCH + Duration::from_secs(1500),
            "2/3 of the lifetime"
        );
        assert_eq!(
            i.renewal_due(Some(Duration::from_secs(100))),
            UNIX_EPOCH + Duration::from_secs(1700)
        );
        assert_eq!(
            i.renewal_due(Some(Duration::from_secs(5000))),
            UNIX_EPOCH + Duration::from_secs(900)
        );
    }

    #[test]
    fn coverage_is_case_insensitive() {
        let i = info(0, 1);
        assert!(i.covers(&["b.example".into(), "a.example".into()]));
        assert!(!i.covers(&["c.example".into()]));
    }

    #[test]
    fn parses_a_generated_certificate() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["host.example".into(), "127.0.0.1".into()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let i = CertInfo::from_der(cert.der()).unwrap();
        assert!(
            i.names.contains(&"host.example".to_string()),
            "{:?}",
            i.names
        );
        assert!(i.not_after > i.not_before);
        assert!(!i.serial_hex.is_empty());
    }
}
