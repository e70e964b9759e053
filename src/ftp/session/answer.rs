//! What a command handler decides: the reply (RFC 959 §4.2: every command gets one, a
//! transfer's 1yz preliminary reply comes from the shell) and what the I/O shell does
//! after sending it. Handlers change only plain state and return an [`Answer`]; the shell
//! in `session/mod.rs` owns the control channel, the running transfer and the timers.

use std::sync::Arc;

use rustls::ServerConfig;

use crate::ftp::control::Reply;
use crate::ftp::data::Job;
use crate::gsi::GsiContext;
use crate::metrics::Direction;

/// A handler's decision: a reply to send, then an effect to apply.
pub(crate) struct Answer {
    pub(crate) reply: Option<Reply>,
    pub(crate) effect: Effect,
}

/// What the shell does once the reply is sent.
pub(crate) enum Effect {
    /// Nothing: read the next command.
    Continue,
    /// Close the control connection (QUIT, too many failed logins).
    Close,
    /// RFC 4217 §4: the TLS handshake on the control connection (after `234`).
    StartTls(Arc<ServerConfig>),
    /// RFC 2228 §3: the long `ADAT` lines of a GSI exchange may follow (after `334`).
    ExpectAdat,
    /// RFC 2228 §3: every later command and reply is protected (after `235`).
    Protect(Box<GsiContext>),
    /// Open the data connection and move data in the background: the shell sends the
    /// `150`/`125` and, when it ends, the completion reply.
    Transfer(Box<TransferStart>),
    /// RFC 959 §4.1.3 ABOR of the running transfer (its replies come from the shell).
    Abort,
}

/// A transfer a handler has prepared (file opened, upload begun, listing rendered).
pub(crate) struct TransferStart {
    pub(crate) verb: &'static str,
    pub(crate) path: String,
    /// `None` for directory listings: not counted as file transfers, not logged.
    pub(crate) direction: Option<Direction>,
    pub(crate) job: Job,
    /// The text of the preliminary reply.
    pub(crate) opening: String,
}

impl Answer {
    /// A single-line reply, then the next command.
    pub(crate) fn reply(code: u16, text: impl Into<String>) -> Self {
        Self::from(Reply::new(code, text))
    }

    /// No reply of the handler's own: the effect brings them.
    pub(crate) fn effect(effect: Effect) -> Self {
        Self {
            reply: None,
            effect,
        }
    }

    /// The same reply, followed by `effect`.
    pub(crate) fn then(mut self, effect: Effect) -> Self {
        self.effect = effect;
        self
    }
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Self {
        Self {
            reply: Some(reply),
            effect: Effect::Continue,
        }
    }
}

#[cfg(test)]
impl Answer {
    /// The reply's code, for handler tests.
    pub(crate) fn code(&self) -> Option<u16> {
        self.reply.as_ref().map(|r| r.code)
    }
}
