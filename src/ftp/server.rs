//! An FTP listener: accepts control connections, enforces the session limit and runs one
//! [`Session`] task per connection (RFC 959 §5.4 "421 Service not available" when full).
//!
//! The same engine serves the FTP endpoint and, with extensions switched on, the GridFTP
//! endpoint: an [`Endpoint`] carries everything a session needs and is shared by all of
//! that listener's sessions.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn, Instrument};

use super::data::FxpPolicy;
use super::limits::{ClientLimits, Kind};
use super::session::Session;
use crate::auth::Authenticator;
use crate::config::{FtpTlsMode, LimitsConfig, PortRange};
use crate::metrics::{Endpoint as EndpointLabel, Metrics};
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
    /// GridFTP: 111/112 markers during uploads at this interval; `None` on plain FTP.
    pub marker_interval: Option<Duration>,
    /// GridFTP with GSI: advertise DCAU (and default to DCAU A after a GSI login).
    pub advertise_dcau: bool,
    /// GridFTP: the largest file a MODE E upload may write (`None`: the file system's size).
    pub max_file_size: Option<u64>,
}

/// Everything a session of one listener shares.
pub struct Endpoint {
    pub label: EndpointLabel,
    pub settings: Settings,
    pub auth: Authenticator,
    /// `data_dir`; each login starts from its current root.
    pub root: Arc<Served>,
    /// `None` when TLS is off for this endpoint.
    pub tls: Option<Arc<ServerConfig>>,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server starts shutting down: stop accepting, finish transfers.
    pub shutdown: CancellationToken,
    /// Cancelled when the shutdown grace has expired: running transfers are cut.
    pub cut: CancellationToken,
    pub sessions: Arc<Semaphore>,
    /// Whole-file checksum cache for CKSM.
    pub checksums: crate::storage::checksum::ChecksumCache,
    /// GSI logins (`AUTH GSSAPI`), GridFTP endpoint only.
    pub gsi: Option<Arc<crate::gsi::Gsi>>,
    /// Sessions and passive ports per client address on this endpoint.
    pub clients: Arc<ClientLimits>,
}

/// Accepts connections until shutdown; sessions are spawned on `tracker` so the caller can
/// wait for them to drain.
pub async fn serve(listener: TcpListener, ep: Arc<Endpoint>, tracker: TaskTracker) {
    loop {
        let accepted = tokio::select! {
            _ = ep.shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => admit(stream, peer, &ep, &tracker).await,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    info!(endpoint = ep.label.as_str(), "listener stopped");
}

async fn admit(
    mut stream: TcpStream,
    peer: std::net::SocketAddr,
    ep: &Arc<Endpoint>,
    tracker: &TaskTracker,
) {
    let Ok(permit) = Arc::clone(&ep.sessions).try_acquire_owned() else {
        warn!(%peer, "session limit reached");
        let _ = stream
            .write_all(b"421 Too many sessions, try again later.\r\n")
            .await;
        return;
    };
    let Some(slot) = ep.clients.acquire(peer.ip(), Kind::Session) else {
        warn!(%peer, "per-client session limit reached");
        let _ = stream
            .write_all(b"421 Too many sessions from your address, try again later.\r\n")
            .await;
        return;
    };
    let _ = stream.set_nodelay(true);
    // Urgent data (the Telnet "DM" clients send with ABOR) is read inline and stripped by
    // the line decoder.
    let _ = socket2::SockRef::from(&stream).set_out_of_band_inline(true);
    let span = tracing::info_span!("session", endpoint = ep.label.as_str(), %peer, user = tracing::field::Empty);
    let ep = Arc::clone(ep);
    tracker.spawn(
        async move {
            match Session::new(ep, stream, peer) {
                Ok(session) => session.run().await,
                Err(e) => warn!(error = %e, "session set-up failed"),
            }
            drop((permit, slot));
        }
        .instrument(span),
    );
}
