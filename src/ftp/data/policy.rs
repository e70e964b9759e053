//! The FXP / FTP-bounce policy, enforced in exactly one place (RFC 2577 §3 "Protecting
//! against the bounce attack", RFC 959 §5.2 third-party transfers).
//!
//! * `PORT`/`EPRT` targets: never a privileged port (< 1024); with `off` only the control
//!   peer; with `allow-list` the control peer or a host inside `fxp_allow` (empty by
//!   default, so out of the box only the control peer); with `any` every host (Ready2go's
//!   `port_promiscuous`).
//! * Passive data connections: with `off` only from the control peer; with `allow-list`
//!   from the control peer or `fxp_allow`; with `any` from anyone (`pasv_promiscuous`).
//!   A refused peer is dropped and the listener keeps waiting for the right one.
//! * Whatever the mode and list: a loopback address is never a data peer of a client that
//!   is not itself on loopback (a remote client must not reach the server host's own
//!   loopback services through us), and unspecified, multicast and broadcast addresses
//!   are never targets.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use crate::config::FxpMode;

/// Why an active-mode target was refused; mapped to a 504 reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("PORT to privileged port {0} refused (FTP bounce protection)")]
    PrivilegedPort(u16),
    #[error("PORT to {0} refused by FXP policy")]
    HostNotAllowed(IpAddr),
}

#[derive(Debug, Clone)]
pub struct FxpPolicy {
    mode: FxpMode,
    allow: Vec<IpNet>,
}

impl FxpPolicy {
    pub fn new(mode: FxpMode, allow: Vec<IpNet>) -> Self {
        Self { mode, allow }
    }

    /// May this session's data connection go out to `target`?
    pub fn check_active_target(
        &self,
        control_peer: IpAddr,
        target: SocketAddr,
    ) -> Result<(), PolicyError> {
        // SECURITY: no data connection to a privileged port, whatever the mode: this is the
        // classic FTP bounce attack (RFC 2577 §3).
        if target.port() < 1024 {
            return Err(PolicyError::PrivilegedPort(target.port()));
        }
        // SECURITY: the bounce target must be the client itself or an allowed FXP peer.
        if self.peer_allowed(control_peer, target.ip()) {
            Ok(())
        } else {
            Err(PolicyError::HostNotAllowed(canonical(target.ip())))
        }
    }

    /// May a passive data connection from `data_peer` serve this session?
    pub fn passive_peer_allowed(&self, control_peer: IpAddr, data_peer: IpAddr) -> bool {
        // SECURITY: a stranger connecting to our passive port must not steal the transfer.
        self.peer_allowed(control_peer, data_peer)
    }

    fn peer_allowed(&self, control_peer: IpAddr, other: IpAddr) -> bool {
        let (control_peer, other) = (canonical(control_peer), canonical(other));
        // SECURITY: the server host's loopback services are out of reach for remote
        // clients, even with `any` or a list that names loopback (RFC 2577 §3 bounce).
        if other.is_loopback() && !control_peer.is_loopback() {
            return false;
        }
        // SECURITY: no data connection to 0.0.0.0/::, multicast or broadcast.
        if !is_unicast(other) {
            return false;
        }
        let same = control_peer == other;
        match self.mode {
            FxpMode::Off => same,
            FxpMode::AllowList => same || self.allow.iter().any(|net| net.contains(&other)),
            FxpMode::Any => true,
        }
    }
}

fn is_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(mode: FxpMode) -> FxpPolicy {
        FxpPolicy::new(
            mode,
            vec![
                "127.0.0.1/32".parse().unwrap(),
                "10.1.0.0/16".parse().unwrap(),
            ],
        )
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn active_targets() {
        use FxpMode::*;
        let client = ip("127.0.0.3");
        let cases = [
            (Off, "127.0.0.3:5000", Ok(())),
            (
                Off,
                "127.0.0.1:5000",
                Err(PolicyError::HostNotAllowed(ip("127.0.0.1"))),
            ),
            (Off, "127.0.0.3:21", Err(PolicyError::PrivilegedPort(21))),
            (AllowList, "127.0.0.3:5000", Ok(())),
            (AllowList, "127.0.0.1:5000", Ok(())),
            (AllowList, "10.1.2.3:5000", Ok(())),
            (
                AllowList,
                "127.0.0.2:5000",
                Err(PolicyError::HostNotAllowed(ip("127.0.0.2"))),
            ),
            (
                AllowList,
                "127.0.0.1:1023",
                Err(PolicyError::PrivilegedPort(1023)),
            ),
            (AllowList, "127.0.0.1:1024", Ok(())),
            (AllowList, "[::ffff:127.0.0.1]:5000", Ok(())),
            (Any, "192.0.2.1:5000", Ok(())),
            (Any, "192.0.2.1:25", Err(PolicyError::PrivilegedPort(25))),
            (
                Any,
                "0.0.0.0:5000",
                Err(PolicyError::HostNotAllowed(ip("0.0.0.0"))),
            ),
            (
                Any,
                "224.0.0.1:5000",
                Err(PolicyError::HostNotAllowed(ip("224.0.0.1"))),
            ),
        ];
        for (mode, target, want) in cases {
            assert_eq!(
                policy(mode).check_active_target(client, sa(target)),
                want,
                "{mode:?} {target}"
            );
        }
    }

    #[test]
    fn loopback_is_out_of_reach_for_remote_clients() {
        let remote = ip("192.0.2.7");
        for mode in [FxpMode::Off, FxpMode::AllowList, FxpMode::Any] {
            let p = policy(mode);
            for target in ["127.0.0.1:6379", "[::1]:6379", "[::ffff:127.0.0.1]:6379"] {
                assert_eq!(
                    p.check_active_target(remote, sa(target)),
                    Err(PolicyError::HostNotAllowed(sa(target).ip().to_canonical())),
                    "{mode:?} {target}"
                );
            }
            assert!(!p.passive_peer_allowed(remote, ip("127.0.0.1")), "{mode:?}");
            // The client itself stays reachable.
            assert_eq!(p.check_active_target(remote, sa("192.0.2.7:5000")), Ok(()));
        }
    }

    #[test]
    fn empty_allow_list_is_the_control_peer_only() {
        let p = FxpPolicy::new(FxpMode::AllowList, Vec::new());
        let client = ip("127.0.0.9");
        assert_eq!(p.check_active_target(client, sa("127.0.0.9:5000")), Ok(()));
        assert_eq!(
            p.check_active_target(client, sa("127.0.0.1:5000")),
            Err(PolicyError::HostNotAllowed(ip("127.0.0.1")))
        );
        assert!(!p.passive_peer_allowed(client, ip("127.0.0.1")));
    }

    #[test]
    fn passive_peers() {
        use FxpMode::*;
        let client = ip("127.0.0.3");
        let cases = [
            (Off, "127.0.0.3", true),
            (Off, "127.0.0.1", false),
            (AllowList, "127.0.0.1", true),
            (AllowList, "::ffff:127.0.0.3", true),
            (AllowList, "127.0.0.2", false),
            (Any, "127.0.0.2", true),
        ];
        for (mode, peer, want) in cases {
            assert_eq!(
                policy(mode).passive_peer_allowed(client, ip(peer)),
                want,
                "{mode:?} {peer}"
            );
        }
    }
}
