//! Per-client resource limits shared by the FTP and GridFTP endpoints: control sessions
//! and held passive ports per client address (RFC 959 §4.2 421/425 replies when over).
//! One client cannot lock others out by opening sessions or by sending PASV and never
//! connecting. A slot is an RAII guard: dropping it (session end, listener closed or
//! expired) gives the capacity back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    sessions: usize,
    passive: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Session,
    Passive,
}

/// The per-address counts and their caps.
#[derive(Debug)]
pub struct ClientLimits {
    per_ip: Mutex<HashMap<IpAddr, Counts>>,
    max_sessions: usize,
    max_passive: usize,
}

/// One unit of a client's capacity, returned on drop.
#[derive(Debug)]
pub struct Slot {
    limits: Arc<ClientLimits>,
    ip: IpAddr,
    kind: Kind,
}

impl ClientLimits {
    pub fn new(max_sessions: usize, max_passive: usize) -> Arc<ClientLimits> {
        Arc::new(ClientLimits {
            per_ip: Mutex::new(HashMap::new()),
            max_sessions,
            max_passive,
        })
    }

    /// Takes a slot of `kind` for `ip`, or `None` when that client is at its cap.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr, kind: Kind) -> Option<Slot> {
        let ip = ip.to_canonical();
        let mut map = self.per_ip.lock().ok()?;
        let counts = map.entry(ip).or_default();
        let (used, cap) = match kind {
            Kind::Session => (&mut counts.sessions, self.max_sessions),
            Kind::Passive => (&mut counts.passive, self.max_passive),
        };
        // SECURITY: one address cannot take every session or passive port (lock-out).
        if *used >= cap {
            return None;
        }
        *used += 1;
        Some(Slot {
            limits: Arc::clone(self),
            ip,
            kind,
        })
    }

    /// Slots of `kind` held by `ip` now.
    pub fn held(&self, ip: IpAddr, kind: Kind) -> usize {
        let map = match self.per_ip.lock() {
            Ok(m) => m,
            Err(_) => return 0,
        };
        map.get(&ip.to_canonical()).map_or(0, |c| match kind {
            Kind::Session => c.sessions,
            Kind::Passive => c.passive,
        })
    }

    fn release(&self, ip: IpAddr, kind: Kind) {
        let Ok(mut map) = self.per_ip.lock() else {
            return;
        };
        if let Some(c) = map.get_mut(&ip) {
            match kind {
                Kind::Session => c.sessions = c.sessions.saturating_sub(1),
                Kind::Passive => c.passive = c.passive.saturating_sub(1),
            }
            if c.sessions == 0 && c.passive == 0 {
                map.remove(&ip);
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limits.release(self.ip, self.kind);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_address_and_gives_back_on_drop() {
        let l = ClientLimits::new(2, 1);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let s1 = l.acquire(a, Kind::Session).unwrap();
        let _s2 = l.acquire(a, Kind::Session).unwrap();
        assert!(l.acquire(a, Kind::Session).is_none(), "third session of a");
        assert!(l.acquire(b, Kind::Session).is_some(), "b is not a");
        let p = l.acquire(a, Kind::Passive).unwrap();
        assert!(l.acquire(a, Kind::Passive).is_none());
        // IPv4-mapped IPv6 is the same client.
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert!(l.acquire(mapped, Kind::Passive).is_none());
        drop(p);
        assert!(l.acquire(a, Kind::Passive).is_some());
        drop(s1);
        assert_eq!(l.held(a, Kind::Session), 1);
        assert!(l.acquire(a, Kind::Session).is_some());
    }

    #[test]
    fn idle_addresses_leave_no_entry() {
        let l = ClientLimits::new(5, 5);
        for i in 0..100u8 {
            let ip = IpAddr::from([192, 0, 2, i]);
            drop(l.acquire(ip, Kind::Session));
            drop(l.acquire(ip, Kind::Passive));
        }
        assert!(l.per_ip.lock().unwrap().is_empty());
    }
}
