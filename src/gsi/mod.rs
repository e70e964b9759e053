//! GSI (Grid Security Infrastructure) for `gsiftp://`: RFC 2228 AUTH GSSAPI / ADAT with
//! Globus GSI tokens (TLS records), RFC 3820 proxy certificate validation against an IGTF
//! trust directory, the grid-mapfile, and delegation.

pub mod accept;
pub mod chain;
pub mod context;
pub mod datachan;
pub mod delegation;
pub mod dn;
pub mod gridmap;
pub mod trust;
pub mod verified;
pub mod verifier;

use std::sync::Arc;

use rustls::ServerConfig;

use crate::auth::Principal;

pub use chain::{ChainError, Identity};
pub use context::{AdatStep, GsiContext};

#[derive(Debug, thiserror::Error)]
pub enum GsiError {
    #[error("TLS: {0}")]
    Tls(rustls::Error),
    #[error("I/O: {0}")]
    Io(std::io::Error),
    #[error("certificate: {0}")]
    Chain(ChainError),
    #[error("malformed or oversized token")]
    BadToken,
    #[error("protocol: {0}")]
    Protocol(&'static str),
}

/// What the GridFTP endpoint needs to run GSI logins.
pub struct Gsi {
    pub config: Arc<ServerConfig>,
    pub verifier: Arc<verifier::ProxyVerifier>,
    pub gridmap: gridmap::GridMap,
    pub limited_proxy_write: bool,
}

impl Gsi {
    /// TLS 1.2 only (TLS 1.3 broke GSI between some Globus clients and servers), no
    /// session resumption, the host certificate from the shared store.
    pub fn new(
        certs: Arc<crate::tls::CertStore>,
        trust: Arc<trust::TrustDir>,
        gridmap: gridmap::GridMap,
        limited_proxy_write: bool,
    ) -> Result<Gsi, rustls::Error> {
        let verifier = Arc::new(verifier::ProxyVerifier::new(trust));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12])?
            .with_client_cert_verifier(verifier.clone())
            .with_cert_resolver(certs);
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        Ok(Gsi {
            config: Arc::new(config),
            verifier,
            gridmap,
            limited_proxy_write,
        })
    }

    pub fn context(&self) -> Result<GsiContext, GsiError> {
        GsiContext::new(Arc::clone(&self.config), Arc::clone(&self.verifier))
    }

    /// The grid-mapfile as it is now, looked up off the async runtime: the stat (an NFS
    /// round trip on some sites) and, after a change, the read and parse run on a
    /// blocking thread, so a login never stalls the other sessions of a worker.
    pub async fn gridmap_table(self: &Arc<Self>) -> Arc<gridmap::MapTable> {
        let gsi = Arc::clone(self);
        tokio::task::spawn_blocking(move || gsi.gridmap.table())
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "grid-mapfile lookup failed");
                Arc::default()
            })
    }

    /// The local account a verified identity logs in as, through the grid-mapfile, with
    /// its rights from `users`; `requested` names one of the DN's accounts (FTP `USER`),
    /// `None` or `:globus-mapping:` takes the first. `None` when the DN is not mapped (or
    /// not to the requested account). The one mapping FTP and WebDAV logins share.
    pub async fn principal(
        self: &Arc<Self>,
        identity: &Identity,
        requested: Option<&str>,
        users: &crate::auth::Authenticator,
    ) -> Option<Principal> {
        let table = self.gridmap_table().await;
        map_principal(
            &table,
            identity,
            requested,
            |a| users.account(a),
            self.limited_proxy_write,
        )
    }
}

/// [`Gsi::principal`] without I/O: `rights` gives an account's root and write right.
fn map_principal(
    table: &gridmap::MapTable,
    identity: &Identity,
    requested: Option<&str>,
    rights: impl Fn(&str) -> (String, bool),
    limited_proxy_write: bool,
) -> Option<Principal> {
    let accounts = table.accounts(&identity.dn);
    let account = match requested {
        None | Some("" | ":globus-mapping:") => accounts.first(),
        Some(name) => accounts.iter().find(|a| *a == name),
    }?
    .clone();
    let (root, can_write) = rights(&account);
    // SECURITY: a limited proxy reads but does not write unless the site allows it.
    let can_write = can_write && (!identity.limited || limited_proxy_write);
    Some(Principal {
        name: account,
        root,
        can_write,
        anonymous: false,
    })
}

#[cfg(test)]
mod tests;
