//! Distinguished names in the OpenSSL one-line "compat" form grid software uses
//! (`/DC=ch/DC=cern/OU=Users/CN=Jane Doe`): RDNs in certificate order, OpenSSL's short
//! attribute names, dotted OIDs for the rest.

use x509_parser::x509::X509Name;

/// OpenSSL's short name for an attribute type, by dotted OID.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.4" => "SN",
        "2.5.4.42" => "GN",
        "2.5.4.12" => "title",
        "2.5.4.5" => "serialNumber",
        "2.5.4.17" => "postalCode",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        "1.2.840.113549.1.9.1" => "emailAddress",
        _ => return None,
    })
}

/// `/K=V/K=V…`; multi-valued RDNs are joined with `+` as OpenSSL does.
pub fn openssl_dn(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    for rdn in name.iter() {
        out.push('/');
        for (i, atv) in rdn.iter().enumerate() {
            if i > 0 {
                out.push('+');
            }
            let oid = atv.attr_type().to_id_string();
            out.push_str(short_name(&oid).unwrap_or(&oid));
            out.push('=');
            match atv.as_str() {
                Ok(v) => out.push_str(v),
                Err(_) => out.push_str(&hex(atv.as_slice())),
            }
        }
    }
    out
}

fn hex(b: &[u8]) -> String {
    let mut s = String::from("#");
    for x in b {
        s.push_str(&format!("{x:02X}"));
    }
    s
}
