//! The engine's error type and the ONE place where an error becomes an FTP reply
//! (RFC 959 §4.2.1 reply codes, 502/504 for what an endpoint does not offer; RFC 2228 §5
//! security codes; RFC 3659 §5.3 554).
//!
//! Texts matter: gfal2 maps reply text to errno ("No such file", "Permission denied",
//! "exists", "Not a direct", "Is a directory", "isk quota exceeded").

use super::control::{ParseError, Reply};
use super::data::{PolicyError, TransferError};
use super::features::NotOffered;
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum FtpError {
    /// A protocol-level refusal decided by a handler.
    #[error("{code} {text}")]
    Reply { code: u16, text: String },
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A verb or parameter this endpoint does not offer (the policy layer's refusal).
    #[error(transparent)]
    NotOffered(#[from] NotOffered),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Transfer(#[from] TransferError),
    /// The control connection itself failed: the session ends, no reply is possible.
    #[error("control connection: {0}")]
    Control(std::io::Error),
}

impl FtpError {
    pub fn reply(code: u16, text: impl Into<String>) -> Self {
        FtpError::Reply {
            code,
            text: text.into(),
        }
    }

    /// The reply for this error, or `None` when the session must just close.
    pub fn to_reply(&self) -> Option<Reply> {
        let (code, text) = match self {
            FtpError::Reply { code, text } => (*code, text.clone()),
            FtpError::Parse(e) => parse_reply(e),
            FtpError::NotOffered(e) => not_offered_reply(e),
            FtpError::Storage(e) => (storage_code(e), format!("{e}.")),
            FtpError::Policy(e) => (504, format!("{e}.")),
            FtpError::Transfer(e) => transfer_reply(e),
            FtpError::Control(_) => return None,
        };
        Some(Reply::new(code, text))
    }
}

fn parse_reply(e: &ParseError) -> (u16, String) {
    match e {
        ParseError::Empty | ParseError::Unknown(_) => (500, "Command not understood.".into()),
        ParseError::Syntax { verb, reason } => (501, format!("{verb}: {reason}.")),
        ParseError::Unsupported { verb, reason } => (504, format!("{verb}: {reason}.")),
        ParseError::InvalidUtf8 => (501, "Command line is not valid UTF-8.".into()),
        ParseError::Nul => (501, "Command line contains a NUL byte.".into()),
    }
}

/// RFC 959: 502 for a verb the endpoint does not implement, 504 for a parameter of a verb
/// it has (`MODE E`, `AUTH GSSAPI` on the plain FTP endpoint).
fn not_offered_reply(e: &NotOffered) -> (u16, String) {
    let code = match e {
        NotOffered::Verb(_) => 502,
        NotOffered::Parameter { .. } => 504,
    };
    (code, format!("{e}."))
}

fn storage_code(e: &StorageError) -> u16 {
    match e {
        // RFC 959: 452 insufficient storage space, 552 exceeded storage allocation.
        StorageError::NoSpace => 452,
        StorageError::QuotaExceeded | StorageError::FileTooLarge => 552,
        StorageError::InvalidRestart => 554,
        StorageError::Io(_) => 451,
        _ => 550,
    }
}

fn transfer_reply(e: &TransferError) -> (u16, String) {
    match e {
        TransferError::Connect(_) => (425, "Can't open data connection.".into()),
        // A GSI data-channel peer refused by DN or chain (DCAU): say why.
        TransferError::Tls(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            (425, format!("Can't open data connection: {e}."))
        }
        TransferError::Tls(_) => (
            425,
            "Can't open data connection: TLS negotiation failed.".into(),
        ),
        TransferError::Aborted => (426, "Connection closed; transfer aborted.".into()),
        TransferError::Data(_) => (426, "Connection closed; transfer aborted.".into()),
        TransferError::Storage(s) => (storage_code(s).max(451), format!("{s}.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: FtpError) -> u16 {
        e.to_reply().unwrap().code
    }

    /// A refused GSI data-channel peer: the reply names the reason, other TLS failures
    /// stay generic.
    #[test]
    fn refused_data_channel_peer_reply_says_why() {
        let denied = std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "data channel peer is /CN=B, expected /CN=A",
        );
        assert_eq!(
            transfer_reply(&TransferError::Tls(denied)),
            (
                425,
                "Can't open data connection: data channel peer is /CN=B, expected /CN=A.".into()
            )
        );
        let other = std::io::Error::new(std::io::ErrorKind::InvalidData, "bad record");
        assert_eq!(
            transfer_reply(&TransferError::Tls(other)).1,
            "Can't open data connection: TLS negotiation failed."
        );
    }

    #[test]
    fn mapping() {
        assert_eq!(code(ParseError::Unknown("X".into()).into()), 500);
        assert_eq!(code(ParseError::Nul.into()), 501);
        assert_eq!(code(StorageError::NotFound.into()), 550);
        assert_eq!(code(StorageError::NoSpace.into()), 452);
        assert_eq!(code(StorageError::QuotaExceeded.into()), 552);
        let full = std::io::Error::from_raw_os_error(28);
        assert_eq!(code(TransferError::from_io(full).into()), 452);
        let reset = std::io::Error::from_raw_os_error(104);
        assert_eq!(code(TransferError::from_io(reset).into()), 426);
        assert_eq!(code(StorageError::InvalidRestart.into()), 554);
        assert_eq!(code(PolicyError::PrivilegedPort(21).into()), 504);
        assert_eq!(code(TransferError::Aborted.into()), 426);
        assert_eq!(code(NotOffered::Verb("ERET").into()), 502);
        let mode_e = NotOffered::Parameter {
            verb: "MODE",
            param: "E",
        };
        assert_eq!(code(mode_e.into()), 504);
        assert!(FtpError::Control(std::io::Error::other("x"))
            .to_reply()
            .is_none());
        let r = FtpError::from(StorageError::NotFound).to_reply().unwrap();
        assert!(r.lines()[0].contains("No such file"), "{r}");
    }
}
