//! A session's plain state (RFC 959 §5.4: what the server remembers between commands),
//! which every command handler works on, and [`Link`], the handlers' read-only view of the
//! control connection. No I/O here: the shell in `session/mod.rs` sends the replies.

use std::net::SocketAddr;
use std::sync::Arc;

use super::answer::{Answer, Effect, TransferStart};
use super::control::Control;
use super::{DataChannel, Login, Security, TransferParams};
use crate::auth::Principal;
use crate::ftp::data::Job;
use crate::ftp::endpoint::Endpoint;
use crate::ftp::features::Features;
use crate::metrics::Direction;
use crate::storage::DataRoot;

/// Everything a handler may read or change: the endpoint it serves, the two addresses of
/// the control connection and the state in four groups.
pub struct SessionState {
    pub(crate) ep: Arc<Endpoint>,
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) login: Login,
    pub(crate) params: TransferParams,
    pub(crate) data: DataChannel,
    pub(crate) security: Security,
}

impl SessionState {
    pub(crate) fn new(ep: Arc<Endpoint>, peer: SocketAddr, local: SocketAddr) -> Self {
        Self {
            ep,
            peer,
            local,
            login: Login::default(),
            params: TransferParams::default(),
            data: DataChannel::default(),
            security: Security::default(),
        }
    }

    /// What this session's endpoint offers.
    pub(crate) fn features(&self) -> &Features {
        &self.ep.settings.features
    }

    pub(crate) fn logged_in_as(&mut self, principal: Principal, root: DataRoot) {
        tracing::Span::current().record("user", principal.name.as_str());
        self.login.logged_in_as(principal, root);
    }
}

/// A transfer for the shell to start (no reply of its own: the shell sends `150`/`125`).
pub(crate) fn transfer(
    verb: &'static str,
    path: String,
    direction: Option<Direction>,
    job: Job,
    opening: String,
) -> Answer {
    Answer::effect(Effect::Transfer(Box::new(TransferStart {
        verb,
        path,
        direction,
        job,
        opening,
    })))
}

/// What a handler may know about the control connection and the running transfer, asked
/// afresh for every command; it cannot send or change anything.
pub(crate) struct Link<'a> {
    control: &'a Control,
    transfer: Option<String>,
}

impl<'a> Link<'a> {
    pub(crate) fn new(control: &'a Control, transfer: Option<String>) -> Self {
        Self { control, transfer }
    }

    /// The control connection runs over TLS (AUTH TLS done).
    pub(crate) fn is_tls(&self) -> bool {
        self.control.is_tls()
    }

    /// The control connection is GSI-protected (AUTH GSSAPI/ADAT done).
    pub(crate) fn is_protected(&self) -> bool {
        self.control.is_protected()
    }

    /// A duplicate of the control socket, to see whether the client is still there.
    pub(crate) fn dup_socket(&self) -> Option<std::os::fd::OwnedFd> {
        self.control.dup_socket()
    }

    /// `VERB path: n bytes transferred` while a transfer runs.
    pub(crate) fn transfer_status(&self) -> Option<&str> {
        self.transfer.as_deref()
    }
}
