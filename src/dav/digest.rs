//! Checksum negotiation. RFC 3230 §4.3.1 `Want-Digest` → §4.3.2 `Digest` (algorithm names
//! from the IANA "HTTP Digest Algorithm Values" registry, case-insensitive; ADLER32 and
//! CRC32c as 8 lower-case hex digits, MD5/SHA/SHA-256/SHA-512 as base64) and RFC 9530 §4
//! `Want-Repr-Digest` → §3 `Repr-Digest` (structured-field dictionaries with byte
//! sequences). Unknown algorithms are ignored; `q=0` / preference 0 means "not this one".
//! Sans-I/O: the values come from the checksum cache as hex.

use base64::Engine;

use crate::storage::checksum::Algorithm;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// RFC 3230 registry name → algorithm.
fn rfc3230_alg(name: &str) -> Option<Algorithm> {
    let n = name.trim().to_ascii_lowercase();
    Some(match n.as_str() {
        "adler32" => Algorithm::Adler32,
        "md5" => Algorithm::Md5,
        "sha" | "sha1" | "sha-1" => Algorithm::Sha1,
        "sha-256" | "sha256" => Algorithm::Sha256,
        "sha-512" | "sha512" => Algorithm::Sha512,
        "crc32c" => Algorithm::Crc32c,
        _ => return None,
    })
}

/// RFC 9530 registry key → algorithm.
fn rfc9530_alg(key: &str) -> Option<Algorithm> {
    Some(match key.trim().to_ascii_lowercase().as_str() {
        "sha-256" => Algorithm::Sha256,
        "sha-512" => Algorithm::Sha512,
        "md5" => Algorithm::Md5,
        "sha" => Algorithm::Sha1,
        "adler" => Algorithm::Adler32,
        "crc32c" => Algorithm::Crc32c,
        _ => return None,
    })
}

/// The algorithm to answer `Want-Digest: <value>` with: the known one with the highest
/// q-value (the first listed among equals); `None` when nothing known is wanted.
pub fn choose_rfc3230(value: &str) -> Option<Algorithm> {
    let mut best: Option<(Algorithm, u32)> = None;
    for item in value.split(',') {
        let mut parts = item.split(';');
        let Some(alg) = parts.next().and_then(rfc3230_alg) else {
            continue;
        };
        let q = parts
            .find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim().eq_ignore_ascii_case("q").then(|| qvalue(v))
            })
            .unwrap_or(Some(1000));
        let Some(q) = q.filter(|q| *q > 0) else {
            continue;
        };
        if best.is_none_or(|(_, bq)| q > bq) {
            best = Some((alg, q));
        }
    }
    best.map(|(a, _)| a)
}

/// A q-value (RFC 9110 §12.4.2) in thousandths; malformed → `None` (the item is ignored).
fn qvalue(v: &str) -> Option<u32> {
    let v = v.trim();
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u32 = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let frac_val: u32 = format!("{frac:0<3}").parse().ok()?;
    let q = whole + frac_val;
    (q <= 1000).then_some(q)
}

/// The algorithm for `Want-Repr-Digest: sha-256=5, md5=1`: the highest preference
/// (1..=10; 0 means "not acceptable"), the first among equals.
pub fn choose_rfc9530(value: &str) -> Option<Algorithm> {
    let mut best: Option<(Algorithm, u8)> = None;
    for member in value.split(',') {
        let (key, pref) = member.split_once('=').unwrap_or((member, "1"));
        let Some(alg) = rfc9530_alg(key) else {
            continue;
        };
        let Ok(pref) = pref.trim().parse::<u8>() else {
            continue;
        };
        if pref == 0 || pref > 10 {
            continue;
        }
        if best.is_none_or(|(_, bp)| pref > bp) {
            best = Some((alg, pref));
        }
    }
    best.map(|(a, _)| a)
}

/// The `Digest` value for `alg` whose checksum is `hex` (as the cache stores it).
pub fn digest_value(alg: Algorithm, hex: &str) -> Option<String> {
    Some(match alg {
        Algorithm::Adler32 => format!("adler32={}", pad8(hex)?),
        Algorithm::Crc32c => format!("crc32c={}", pad8(hex)?),
        Algorithm::Md5 => format!("md5={}", B64.encode(unhex(hex)?)),
        Algorithm::Sha1 => format!("sha={}", B64.encode(unhex(hex)?)),
        Algorithm::Sha256 => format!("sha-256={}", B64.encode(unhex(hex)?)),
        Algorithm::Sha512 => format!("sha-512={}", B64.encode(unhex(hex)?)),
    })
}

/// The `Repr-Digest` value (RFC 9530 §3: `key=:base64:`).
pub fn repr_digest_value(alg: Algorithm, hex: &str) -> Option<String> {
    let key = match alg {
        Algorithm::Adler32 => "adler",
        Algorithm::Crc32c => "crc32c",
        Algorithm::Md5 => "md5",
        Algorithm::Sha1 => "sha",
        Algorithm::Sha256 => "sha-256",
        Algorithm::Sha512 => "sha-512",
    };
    let bytes = match alg {
        Algorithm::Adler32 | Algorithm::Crc32c => unhex(&pad8(hex)?)?,
        _ => unhex(hex)?,
    };
    Some(format!("{key}=:{}:", B64.encode(bytes)))
}

fn pad8(hex: &str) -> Option<String> {
    (hex.len() <= 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("{:0>8}", hex.to_ascii_lowercase()))
}

fn unhex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3230_choice() {
        assert_eq!(choose_rfc3230("ADLER32"), Some(Algorithm::Adler32));
        assert_eq!(choose_rfc3230("adler32"), Some(Algorithm::Adler32));
        assert_eq!(choose_rfc3230("MD5"), Some(Algorithm::Md5));
        assert_eq!(choose_rfc3230("unknown, md5"), Some(Algorithm::Md5));
        assert_eq!(choose_rfc3230("foo;q=1, bar"), None);
        assert_eq!(choose_rfc3230(""), None);
        // dCache's pool header: the highest q wins.
        assert_eq!(
            choose_rfc3230("sha-512,sha-256;q=0.8,sha;q=0.6,md5;q=0.4,adler32;q=0.2"),
            Some(Algorithm::Sha512)
        );
        assert_eq!(
            choose_rfc3230("md5;q=0.3, adler32;q=0.9"),
            Some(Algorithm::Adler32)
        );
        assert_eq!(choose_rfc3230("md5;q=0, crc32c"), Some(Algorithm::Crc32c));
        assert_eq!(choose_rfc3230("md5;q=0"), None);
        // A malformed q-value drops that item only.
        assert_eq!(choose_rfc3230("md5;q=2, sha-256"), Some(Algorithm::Sha256));
        assert_eq!(choose_rfc3230("SHA-256 ; Q=0.5"), Some(Algorithm::Sha256));
    }

    #[test]
    fn rfc9530_choice() {
        assert_eq!(
            choose_rfc9530("sha-256=5, sha-512=3"),
            Some(Algorithm::Sha256)
        );
        assert_eq!(
            choose_rfc9530("sha-256=1, sha-512=9"),
            Some(Algorithm::Sha512)
        );
        assert_eq!(choose_rfc9530("sha-256=0"), None);
        assert_eq!(
            choose_rfc9530("blake3=10, adler=1"),
            Some(Algorithm::Adler32)
        );
        assert_eq!(choose_rfc9530("sha-256=x"), None);
    }

    #[test]
    fn values() {
        // adler32("Wiki") = 0x03da0195 (the IANA registry example): leading zero kept.
        assert_eq!(
            digest_value(Algorithm::Adler32, "3da0195").as_deref(),
            Some("adler32=03da0195")
        );
        // md5("abc")
        assert_eq!(
            digest_value(Algorithm::Md5, "900150983cd24fb0d6963f7d28e17f72").as_deref(),
            Some("md5=kAFQmDzST7DWlj99KOF/cg==")
        );
        assert_eq!(
            repr_digest_value(Algorithm::Adler32, "03da0195").as_deref(),
            Some("adler=:A9oBlQ==:")
        );
        assert_eq!(
            repr_digest_value(
                Algorithm::Sha256,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            )
            .as_deref(),
            Some("sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:")
        );
        assert_eq!(digest_value(Algorithm::Md5, "zz"), None);
    }
}
