//! The data channel for the next transfer (RFC 959 §3.2 data connection management, set
//! up by PASV/PORT; RFC 2428 EPSV/EPRT and `EPSV ALL`; GFD.20 §"Data channel caching" for
//! MODE E connections kept from the previous transfer). Plain state, no I/O: the listener
//! and connections it holds are opened and used elsewhere.

use std::time::Duration;

use tokio::time::Instant;

use crate::ftp::data::{Cached, DataConn, DataSetup};
use crate::ftp::error::FtpError;

#[derive(Default)]
pub(crate) struct DataChannel {
    /// The last PASV/PORT (or its GridFTP and RFC 2428 forms), until a transfer uses it.
    pub(crate) setup: DataSetup,
    /// MODE E data connections kept from the last transfer (GFD.20 data-channel caching).
    pub(crate) cached: Option<Cached>,
    /// When the passive listener in `setup` was opened: it is closed if unused after the
    /// data timeout, so a client cannot hoard passive ports by never connecting.
    passive_since: Option<Instant>,
    /// `EPSV ALL` (RFC 2428 §4): PASV and PORT are refused from then on.
    pub(crate) epsv_all: bool,
}

impl DataChannel {
    /// True when the next transfer has a data channel (set up, or cached in MODE E).
    pub(crate) fn is_ready(&self, mode_e: bool) -> bool {
        !self.setup.is_none() || (mode_e && self.cached.is_some())
    }

    /// Forgets the data channel: a new PASV/PORT, or a change of MODE or protection.
    pub(crate) fn reset(&mut self) {
        self.setup = DataSetup::None;
        self.cached = None;
    }

    /// A passive listener opened `now`.
    pub(crate) fn set_passive(&mut self, setup: DataSetup, now: Instant) {
        self.setup = setup;
        self.passive_since = Some(now);
    }

    /// When an unused passive listener is closed (`timeout` after PASV/EPSV).
    pub(super) fn passive_expiry(&self, timeout: Duration) -> Option<Instant> {
        match self.setup {
            DataSetup::Passive(_) => self.passive_since.map(|t| t + timeout),
            _ => None,
        }
    }

    /// The passive listener went unused: closed.
    pub(super) fn expire_passive(&mut self) {
        self.setup = DataSetup::None;
        self.passive_since = None;
    }

    /// The data channel for the next transfer: the last PASV/PORT, else (MODE E) the
    /// connections cached by the previous transfer in the same direction.
    pub(super) fn take(
        &mut self,
        sending: bool,
        mode_e: bool,
    ) -> Result<(DataSetup, Vec<DataConn>), FtpError> {
        if !self.setup.is_none() {
            self.cached = None;
            return Ok((std::mem::take(&mut self.setup), Vec::new()));
        }
        match self.cached.take() {
            Some(c) if mode_e && c.sending == sending => Ok((c.setup, c.conns)),
            _ => Err(FtpError::reply(425, "Use PORT, EPRT, PASV or EPSV first.")),
        }
    }

    /// A finished transfer's connections, kept unless a new PASV/PORT came meanwhile.
    pub(super) fn keep(&mut self, cache: Option<Cached>) {
        if self.setup.is_none() {
            self.cached = cache;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn active() -> DataSetup {
        DataSetup::Active("127.0.0.1:20".parse::<SocketAddr>().unwrap())
    }

    fn cached(sending: bool) -> Option<Cached> {
        Some(Cached {
            setup: active(),
            conns: Vec::new(),
            sending,
        })
    }

    fn code(r: Result<(DataSetup, Vec<DataConn>), FtpError>) -> u16 {
        r.err().and_then(|e| e.to_reply()).map_or(0, |r| r.code)
    }

    #[test]
    fn nothing_set_up_is_not_ready_and_take_says_425() {
        let mut d = DataChannel::default();
        assert!(!d.is_ready(false) && !d.is_ready(true));
        assert_eq!(code(d.take(true, true)), 425);
        assert!(!d.epsv_all);
    }

    #[test]
    fn a_set_up_channel_is_taken_once_and_drops_the_cache() {
        let mut d = DataChannel {
            setup: active(),
            cached: cached(true),
            ..DataChannel::default()
        };
        assert!(d.is_ready(false));
        let (setup, reuse) = d.take(true, true).unwrap();
        assert!(matches!(setup, DataSetup::Active(_)) && reuse.is_empty());
        assert!(d.setup.is_none() && d.cached.is_none());
        assert!(!d.is_ready(true));
    }

    #[test]
    fn the_cache_serves_mode_e_in_the_same_direction_only() {
        let mut d = DataChannel {
            cached: cached(true),
            ..DataChannel::default()
        };
        assert!(!d.is_ready(false) && d.is_ready(true));
        assert!(d.take(true, true).is_ok());
        d.cached = cached(true);
        assert_eq!(code(d.take(false, true)), 425);
        assert!(d.cached.is_none(), "a refused cache is dropped");
        d.cached = cached(true);
        assert_eq!(code(d.take(true, false)), 425);
    }

    #[test]
    fn a_finished_transfer_is_cached_unless_a_new_channel_was_set_up() {
        let mut d = DataChannel::default();
        d.keep(cached(false));
        assert!(d.cached.is_some());
        d.reset();
        assert!(d.cached.is_none() && d.setup.is_none());
        d.setup = active();
        d.keep(cached(false));
        assert!(d.cached.is_none());
    }

    #[tokio::test]
    async fn only_a_passive_listener_expires() {
        let t = Duration::from_secs(30);
        let now = Instant::now();
        let mut d = DataChannel::default();
        assert_eq!(d.passive_expiry(t), None);
        d.set_passive(active(), now);
        assert_eq!(d.passive_expiry(t), None, "not a listener");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let passive = crate::ftp::data::setup::PassiveListener::new(listener, None);
        d.set_passive(DataSetup::Passive(passive), now);
        assert_eq!(d.passive_expiry(t), Some(now + t));
        assert!(d.is_ready(false));
        d.expire_passive();
        assert!(d.setup.is_none() && d.passive_since.is_none());
    }
}
