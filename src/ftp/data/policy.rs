//! The FXP / FTP-bounce policy, enforced in exactly one place (RFC 2577 §3 "Protecting
//! against the bounce attack", RFC 959 §5.2 third-party transfers).
//!
//! * `PORT`/`EPRT` targets: never a privileged port (< 1024); with `off` only the control
//!   peer; with `allow-list` the control peer or a host inside `fxp_allow`; with `any`
//!   every host (Ready2go's `port_promiscuous`).
//! * Passive data connections: with `off` only from the control peer; with `allow-list`
//!   from the control peer or `fxp_allow`; with `any` from anyone (`pasv_promiscuous`).
//!   A refused peer is dropped and the listener keeps waiting for the right one.

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
        let other = canonical(other);
        let same = canonical(control_peer) == other;
        match self.mode {
            FxpMode::Off => same,
            FxpMode::AllowList => same || self.allow.iter().any(|net| net.contains(&other)),
            FxpMode::Any => true,
        }
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
