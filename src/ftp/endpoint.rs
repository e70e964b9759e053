//! What one FTP listener's sessions share (RFC 959 §5.4 for the limits it carries): its
//! settings, validated once from its own config section, with the [`Features`] it offers,
//! and the services every session of it uses. Below both `server` (which admits
//! connections) and `session` (which serves one).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::data::FxpPolicy;
use super::features::Features;
use super::limits::ClientLimits;
use crate::auth::Authenticator;
use crate::config::{FtpTlsMode, LimitsConfig, PortRange};
use crate::metrics::{EndpointLabel, Metrics};
use crate::storage::Served;

/// Per-listener settings, validated once from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub banner: String,
    pub passive_ports: PortRange,
    pub policy: FxpPolicy,
    /// Address announced in PASV replies when known (public_host resolved at start).
    pub public_ip: Option<IpAddr>,
    pub tls_mode: FtpTlsMode,
    pub limits: LimitsConfig,
    pub failed_login_delay: Duration,
    pub max_login_failures: u32,
    /// What this endpoint offers (FEAT, HELP, the verbs and parameters it accepts).
    pub features: Features,
    /// GridFTP: the largest file a MODE E upload may write (`None`: the file system's size).
    pub max_file_size: Option<u64>,
}

/// Everything a session of one listener shares.
pub struct Endpoint {
    /// For metrics and logs only: what the endpoint offers is `settings.features`.
    pub label: EndpointLabel,
    pub settings: Settings,
    pub auth: Authenticator,
    /// `data_dir`; each login starts from its current root.
    pub root: Arc<Served>,
    /// `None` when this endpoint offers no FTPS (`features.ftps`).
    pub tls: Option<Arc<ServerConfig>>,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server starts shutting down: stop accepting, finish transfers.
    pub shutdown: CancellationToken,
    /// Cancelled when the shutdown grace has expired: running transfers are cut.
    pub cut: CancellationToken,
    pub sessions: Arc<Semaphore>,
    /// Whole-file checksum cache for CKSM.
    pub checksums: crate::storage::checksum::ChecksumCache,
    /// GSI logins (`AUTH GSSAPI`), when `features.gsi`.
    pub gsi: Option<Arc<crate::gsi::Gsi>>,
    /// Sessions and passive ports per client address on this endpoint.
    pub clients: Arc<ClientLimits>,
}
