//! Security state (RFC 2228 §3 AUTH/ADAT/PBSZ/PROT, RFC 4217 §8–9 PBSZ and PROT for
//! FTPS, GFD.20 §"DCAU" data-channel authentication): the GSI exchange in progress and
//! whom it authenticated, and how data connections are protected. Plain state, no I/O: the
//! control channel's own protection lives in `Control`.

use std::sync::Arc;

use crate::gsi::datachan::{DataSecurity, Dcau};
use crate::gsi::{GsiContext, Identity};

pub(crate) struct Security {
    /// FTPS: PROT P in force (RFC 4217 §9).
    pub(crate) prot_private: bool,
    /// GSI: the security exchange in progress (between AUTH GSSAPI and the last ADAT).
    pub(crate) gsi_exchange: Option<Box<GsiContext>>,
    /// GSI: who authenticated (the end-entity DN), once the exchange is complete.
    pub(crate) gsi_identity: Option<Identity>,
    /// GSI data-channel authentication (DCAU) and protection (PROT P) in force.
    pub(crate) dcau: Dcau,
    pub(crate) gsi_private: bool,
    /// Built from the delegated credential when DCAU is on; dropped when DCAU/PROT change.
    pub(crate) data_sec: Option<Arc<DataSecurity>>,
}

impl Default for Security {
    fn default() -> Self {
        Self {
            prot_private: false,
            gsi_exchange: None,
            gsi_identity: None,
            dcau: Dcau::None,
            gsi_private: false,
            data_sec: None,
        }
    }
}

impl Security {
    /// The authenticated DN for log lines, `-` without a GSI login.
    pub(super) fn dn(&self) -> &str {
        self.gsi_identity.as_ref().map_or("-", |i| i.dn.as_str())
    }

    /// New DCAU/PROT settings after a GSI login: the data-channel security built for the
    /// old ones is dropped.
    pub(crate) fn set_data_protection(&mut self, dcau: Dcau, private: bool) {
        self.dcau = dcau;
        self.gsi_private = private;
        self.data_sec = None;
    }

    /// True when DCAU is on and its data-channel security is still to be built.
    pub(crate) fn needs_data_sec(&self) -> bool {
        self.dcau != Dcau::None && self.data_sec.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_session_is_unprotected_and_anonymous() {
        let s = Security::default();
        assert!(!s.prot_private && !s.gsi_private);
        assert!(s.gsi_exchange.is_none() && s.gsi_identity.is_none());
        assert_eq!(s.dcau, Dcau::None);
        assert_eq!(s.dn(), "-");
        assert!(!s.needs_data_sec());
    }

    #[test]
    fn the_dn_is_the_gsi_identity() {
        let s = Security {
            gsi_identity: Some(Identity {
                dn: "/O=Grid/CN=alice".into(),
                limited: false,
            }),
            ..Security::default()
        };
        assert_eq!(s.dn(), "/O=Grid/CN=alice");
    }

    #[test]
    fn changing_the_data_protection_asks_for_new_data_security() {
        let mut s = Security::default();
        s.set_data_protection(Dcau::Own, true);
        assert_eq!(s.dcau, Dcau::Own);
        assert!(s.gsi_private);
        assert!(s.needs_data_sec());
        s.set_data_protection(Dcau::Subject("/CN=x".into()), false);
        assert!(!s.gsi_private && s.needs_data_sec());
        s.set_data_protection(Dcau::None, false);
        assert!(!s.needs_data_sec());
    }
}
