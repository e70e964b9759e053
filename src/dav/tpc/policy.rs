//! The one place that decides which remote addresses an HTTP third-party copy may reach
//! (the HTTP form of the FTP bounce, RFC 2577 §3; server-side request forgery). It is
//! consulted with every *resolved* address, for the first request and again for every
//! redirect, before any connection is made.
//!
//! `public` admits globally routable unicast addresses only: not the special-purpose
//! ranges of the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890)
//! loopback, private (RFC 1918), shared (RFC 6598), link-local (RFC 3927, RFC 4291
//! §2.5.6, where cloud metadata services live), unique-local (RFC 4193), documentation,
//! benchmarking, multicast and reserved blocks. IPv4 addresses embedded in IPv6
//! (mapped, NAT64 RFC 6052, 6to4 RFC 3056) are judged as the IPv4 address they carry.
//! `webdav.tpc_allow` networks are always admitted; `allow-list` admits only them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::config::TpcMode;

/// Why an address was refused (for the log; the client gets one 403 text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("third-party copy is disabled")]
    Disabled,
    #[error("{0} is not in webdav.tpc_allow")]
    NotListed(IpAddr),
    #[error("{0} is not a public address and not in webdav.tpc_allow")]
    NotPublic(IpAddr),
}

#[derive(Debug, Clone)]
pub struct TpcPolicy {
    mode: TpcMode,
    allow: Vec<IpNet>,
}

impl TpcPolicy {
    pub fn new(mode: TpcMode, allow: Vec<IpNet>) -> TpcPolicy {
        TpcPolicy { mode, allow }
    }

    pub fn enabled(&self) -> bool {
        self.mode != TpcMode::Off
    }

    /// Whether a copy may connect to `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = ip.to_canonical();
        // SECURITY: with tpc = "off" nothing is reached, whatever tpc_allow says.
        if self.mode == TpcMode::Off {
            return Err(Refusal::Disabled);
        }
        if self.allow.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        match self.mode {
            TpcMode::Off => Err(Refusal::Disabled),
            TpcMode::AllowList => Err(Refusal::NotListed(ip)),
            // SECURITY: no loopback, private, link-local (metadata) or other
            // special-purpose address unless listed.
            TpcMode::Public if is_public(ip) => Ok(()),
            TpcMode::Public => Err(Refusal::NotPublic(ip)),
        }
    }
}

/// Globally routable unicast (see the module documentation).
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// IPv4 blocks that are not globally reachable (RFC 6890 and its updates).
const V4_SPECIAL: &[(u8, u8, u8, u8, u8)] = &[
    (0, 0, 0, 0, 8),       // "this network" (RFC 791)
    (10, 0, 0, 0, 8),      // private (RFC 1918)
    (100, 64, 0, 0, 10),   // shared address space / CGNAT (RFC 6598)
    (127, 0, 0, 0, 8),     // loopback
    (169, 254, 0, 0, 16),  // link-local, cloud metadata (RFC 3927)
    (172, 16, 0, 0, 12),   // private
    (192, 0, 0, 0, 24),    // IETF protocol assignments (RFC 6890)
    (192, 0, 2, 0, 24),    // TEST-NET-1 (RFC 5737)
    (192, 88, 99, 0, 24),  // deprecated 6to4 relay anycast (RFC 7526)
    (192, 168, 0, 0, 16),  // private
    (198, 18, 0, 0, 15),   // benchmarking (RFC 2544)
    (198, 51, 100, 0, 24), // TEST-NET-2
    (203, 0, 113, 0, 24),  // TEST-NET-3
    (224, 0, 0, 0, 4),     // multicast
    (240, 0, 0, 0, 4),     // reserved, and 255.255.255.255 broadcast
];

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    !V4_SPECIAL.iter().any(|&(a, b, c, d, len)| {
        let net = u32::from(Ipv4Addr::new(a, b, c, d));
        let mask = u32::MAX << (32 - u32::from(len));
        bits & mask == net
    })
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // IPv4 carried inside IPv6: judged as that IPv4 address.
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let special = ip.is_unspecified()
        || ip.is_loopback()
        || s[0] & 0xff00 == 0xff00 // multicast
        || s[0] & 0xffc0 == 0xfe80 // link-local
        || s[0] & 0xffc0 == 0xfec0 // site-local (deprecated, RFC 3879)
        || s[0] & 0xfe00 == 0xfc00 // unique-local (RFC 4193), e.g. fd00:ec2::254
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation (RFC 3849)
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // discard (RFC 6666)
        || (s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments (RFC 2928)
        || s[0] & 0xe000 != 0x2000; // outside 2000::/3, the global unicast space
    !special
}

/// The IPv4 address in a mapped (`::ffff:a.b.c.d`), compatible (`::a.b.c.d`), NAT64
/// (`64:ff9b::/96`) or 6to4 (`2002:AABB:CCDD::/48`) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..5] == [0; 5]
        && (s[5] == 0xffff || (s[5] == 0 && !ip.is_loopback() && !ip.is_unspecified()))
    {
        return Some(tail);
    }
    if s[0] == 0x0064 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_means_globally_routable() {
        for good in [
            "8.8.8.8",
            "188.184.21.108",
            "2001:1458:201:e4::100:6",
            "2a00:1450::1",
        ] {
            assert!(is_public(ip(good)), "{good}");
        }
        for bad in [
            "127.0.0.1",
            "127.0.0.2",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "fc00::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "100::1",
            "2001:10::1",
        ] {
            assert!(!is_public(ip(bad)), "{bad}");
        }
        // Mapped and 6to4 forms of public IPv4 addresses stay public.
        assert!(is_public(ip("::ffff:8.8.8.8")));
        assert!(is_public(ip("2002:0808:0808::1")));
        assert!(is_public(ip("172.32.0.1")));
    }

    #[test]
    fn modes() {
        let lo: IpNet = "127.0.0.1/32".parse().unwrap();
        let public = TpcPolicy::new(TpcMode::Public, vec![lo]);
        assert_eq!(public.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(
            public.check(ip("::ffff:127.0.0.1")),
            Ok(()),
            "mapped form of a listed address"
        );
        assert_eq!(
            public.check(ip("127.0.0.2")),
            Err(Refusal::NotPublic(ip("127.0.0.2")))
        );
        assert_eq!(public.check(ip("8.8.8.8")), Ok(()));
        let list = TpcPolicy::new(TpcMode::AllowList, vec![lo]);
        assert_eq!(list.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(
            list.check(ip("8.8.8.8")),
            Err(Refusal::NotListed(ip("8.8.8.8")))
        );
        let off = TpcPolicy::new(TpcMode::Off, vec![lo]);
        assert_eq!(off.check(ip("127.0.0.1")), Err(Refusal::Disabled));
        assert!(!off.enabled());
    }
}
