//! Checksum verification of a third-party copy (`RequireChecksumVerification: true`):
//! the remote's RFC 3230 `Digest: adler32=<hex>` (asked for with `Want-Digest`, the only
//! digest gfal2, davix, XRootD and StoRM all speak) against griddock's own adler32.
//! Compared as numbers, so leading zeros and hex case do not matter (xrootd#1483).

use hyper::header::HeaderValue;
use hyper::HeaderMap;

use super::TpcError;

pub const WANT_ADLER32: HeaderValue = HeaderValue::from_static("adler32");

/// The adler32 in a `Digest` header (`adler32=0a1b2c3d`, among others), as hex.
pub fn remote_adler32(h: &HeaderMap) -> Option<String> {
    h.get_all("digest")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| item.trim().split_once('='))
        .find(|(alg, _)| alg.trim().eq_ignore_ascii_case("adler32"))
        .map(|(_, v)| v.trim().to_string())
}

/// `Ok` when `remote` is the same adler32 as `local`.
pub fn check_digest(local: &str, remote: Option<&str>) -> Result<(), TpcError> {
    let remote = remote.ok_or(TpcError::NoDigest)?;
    let parse = |s: &str| u32::from_str_radix(s.trim(), 16).ok();
    match (parse(local), parse(remote)) {
        (Some(a), Some(b)) if a == b => Ok(()),
        _ => Err(TpcError::Checksum {
            local: local.to_string(),
            remote: remote.chars().take(64).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        let mut h = HeaderMap::new();
        h.insert(
            "digest",
            HeaderValue::from_static("MD5=abc==, ADLER32=0a1b2c3d"),
        );
        assert_eq!(remote_adler32(&h).as_deref(), Some("0a1b2c3d"));
        assert!(check_digest("a1b2c3d", Some("0A1B2C3D")).is_ok());
        assert!(matches!(
            check_digest("a1b2c3d", Some("0a1b2c3e")),
            Err(TpcError::Checksum { .. })
        ));
        assert!(matches!(check_digest("1", None), Err(TpcError::NoDigest)));
        assert!(matches!(
            check_digest("1", Some("zz")),
            Err(TpcError::Checksum { .. })
        ));
        assert_eq!(remote_adler32(&HeaderMap::new()), None);
    }
}
