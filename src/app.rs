//! Wiring for `griddock serve`: builds the shared services (auth, storage, TLS store,
//! metrics), starts every enabled endpoint, and on SIGTERM/SIGINT stops accepting, lets
//! running transfers finish for up to `shutdown_grace`, then returns. Start-up binds every
//! listener first (`app/listeners.rs`) and raises the open-file limit (`app/rlimit.rs`).

mod listeners;
mod rlimit;

pub use listeners::Listeners;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::auth::Authenticator;
use crate::config::{Config, FtpTlsMode, TlsSource};
use crate::ftp::data::FxpPolicy;
use crate::ftp::{Endpoint, Features, Settings};
use crate::http::HttpState;
use crate::metrics::{EndpointLabel, Metrics};
use crate::readiness::Readiness;
use crate::storage::{sweep, Served};
use crate::tls::acme::AcmeManager;
use crate::tls::CertStore;

pub async fn serve(cfg: Config) -> Result<()> {
    rlimit::raise_nofile();
    // Every listener first: a port in use ends here, before anything is created.
    let listeners = Listeners::bind(&cfg).await?;
    std::fs::create_dir_all(&cfg.state_dir)
        .with_context(|| format!("creating state_dir {}", cfg.state_dir.display()))?;
    let served = Arc::new(
        Served::open(&cfg.data_dir)
            .with_context(|| format!("opening data_dir {}", cfg.data_dir.display()))?,
    );
    let shutdown = CancellationToken::new();
    // Cancelled when the shutdown grace expires: running transfers are cut.
    let cut = CancellationToken::new();
    // Not on the tracker: shutdown never waits for a sweep.
    tokio::spawn(sweep_stale_uploads(
        Arc::clone(&served),
        cfg.storage.stale_upload_age,
        shutdown.clone(),
    ));
    let metrics = Metrics::new();
    let auth = Authenticator::new(&cfg.auth).context("loading [auth]")?;
    let _users_watch = auth.watch().context("watching the users file")?;
    let certs = CertStore::from_config(&cfg, Arc::clone(&metrics)).context("loading [tls]")?;
    let _cert_watch = certs
        .watch(&cfg)
        .context("watching the certificate files")?;
    let tracker = TaskTracker::new();
    let readiness = Readiness::new();

    // Register every endpoint before /readyz can answer, so it never says ready early.
    if cfg.ftp.enabled {
        readiness.register("ftp");
    }
    if cfg.gridftp.enabled {
        readiness.register("gridftp");
    }
    let probed = Arc::clone(&served);
    readiness.probe("data_dir", move || probed.check());
    if cfg.webdav.enabled {
        readiness.register("webdav");
    }
    for note in cfg.deprecations() {
        warn!("{note}");
    }
    let http_state = HttpState {
        metrics: Arc::clone(&metrics),
        ready: readiness.clone(),
        certs: Arc::clone(&certs),
    };
    if let Some(listener) = listeners.http {
        tracker.spawn(crate::http::serve(
            listener,
            http_state.clone(),
            shutdown.clone(),
        ));
    }
    if cfg.tls.source == TlsSource::Acme {
        let acme = AcmeManager::new(
            cfg.clone(),
            Arc::clone(&certs),
            readiness.clone(),
            Arc::clone(&metrics),
        );
        // Not on the tracker: a pending issuance must not delay shutdown.
        tokio::spawn(acme.run(shutdown.clone()));
    }
    // One session limit for the whole server, shared by both endpoints.
    let sessions = Arc::new(Semaphore::new(cfg.limits.max_sessions));
    let gsi = gsi_for(&cfg, &certs)?;
    if let Some(listener) = listeners.webdav {
        let bearer = crate::auth::BearerAuthority::from_config(&cfg).context(
            "setting up bearer tokens and macaroons ([[auth.token_issuers]], state_dir)",
        )?;
        let dav = webdav(
            &cfg,
            &certs,
            &auth,
            &served.root(),
            &metrics,
            gsi.clone(),
            Arc::new(bearer),
        )?;
        readiness.set("webdav", true);
        tracker.spawn(crate::dav::serve(
            listener,
            dav,
            shutdown.clone(),
            tracker.clone(),
        ));
    }
    let engine = Engine {
        auth: auth.clone(),
        served: Arc::clone(&served),
        certs: Arc::clone(&certs),
        metrics: Arc::clone(&metrics),
        shutdown: shutdown.clone(),
        cut: cut.clone(),
        sessions: Arc::clone(&sessions),
        gsi: gsi.clone(),
    };
    if listeners.ftp.is_some() || listeners.gridftp.is_some() {
        let shared = Shared::new(&cfg).await;
        if let Some(listener) = listeners.ftp {
            let ep = engine.endpoint(&cfg, EndpointLabel::Ftp, ftp_settings(&cfg, &shared));
            readiness.set("ftp", true);
            tracker.spawn(crate::ftp::serve(listener, ep, tracker.clone()));
        }
        if let Some(listener) = listeners.gridftp {
            let settings = gridftp_settings(&cfg, &shared, gsi.is_some());
            let ep = engine.endpoint(&cfg, EndpointLabel::Gridftp, settings);
            readiness.set("gridftp", true);
            tracker.spawn(crate::ftp::serve(listener, ep, tracker.clone()));
        }
    }

    wait_for_signal().await;
    info!(grace = ?cfg.shutdown_grace, "shutting down: no new sessions, draining transfers");
    readiness.set("ftp", false);
    readiness.set("gridftp", false);
    readiness.set("webdav", false);
    shutdown.cancel();
    tracker.close();
    if tokio::time::timeout(cfg.shutdown_grace, tracker.wait())
        .await
        .is_err()
    {
        warn!("shutdown grace expired with transfers still running: cutting them");
        // Sessions abort their transfers, which then end with their transfer-log line
        // and a 426 reply; give them a moment to do so.
        cut.cancel();
        if tokio::time::timeout(CUT_WAIT, tracker.wait())
            .await
            .is_err()
        {
            warn!("sessions still running after the cut; exiting anyway");
        }
    } else {
        info!("all sessions drained");
    }
    Ok(())
}

/// The FTP and GridFTP endpoints `serve` builds from `cfg` (`state_dir` must exist),
/// without listeners or background tasks: for sessions the unit tests run in-process.
#[cfg(test)]
pub(crate) async fn endpoints(cfg: &Config) -> Result<(Arc<Endpoint>, Arc<Endpoint>)> {
    let metrics = Metrics::new();
    let certs = CertStore::from_config(cfg, Arc::clone(&metrics)).context("loading [tls]")?;
    let gsi = gsi_for(cfg, &certs)?;
    let engine = Engine {
        auth: Authenticator::new(&cfg.auth).context("loading [auth]")?,
        served: Arc::new(Served::open(&cfg.data_dir).context("opening data_dir")?),
        certs,
        metrics,
        shutdown: CancellationToken::new(),
        cut: CancellationToken::new(),
        sessions: Arc::new(Semaphore::new(cfg.limits.max_sessions)),
        gsi: gsi.clone(),
    };
    let shared = Shared::new(cfg).await;
    let ftp = engine.endpoint(cfg, EndpointLabel::Ftp, ftp_settings(cfg, &shared));
    let settings = gridftp_settings(cfg, &shared, gsi.is_some());
    let gridftp = engine.endpoint(cfg, EndpointLabel::Gridftp, settings);
    Ok((ftp, gridftp))
}

/// What both FTP-engine endpoints share with the rest of the server.
struct Engine {
    auth: Authenticator,
    served: Arc<Served>,
    certs: Arc<CertStore>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    cut: CancellationToken,
    /// One session limit for the whole server, shared by both endpoints.
    sessions: Arc<Semaphore>,
    gsi: Option<Arc<crate::gsi::Gsi>>,
}

impl Engine {
    /// One endpoint from its own section's settings: its TLS and GSI follow its features.
    fn endpoint(&self, cfg: &Config, label: EndpointLabel, settings: Settings) -> Arc<Endpoint> {
        let range = &settings.passive_ports;
        let half_range = (usize::from(range.end - range.start) + 1).div_ceil(2);
        let clients = crate::ftp::limits::ClientLimits::new(
            cfg.limits.max_sessions_per_client,
            cfg.limits.max_passive_per_client.unwrap_or(half_range),
        );
        let features = settings.features;
        Arc::new(Endpoint {
            clients,
            label,
            settings,
            auth: self.auth.clone(),
            root: Arc::clone(&self.served),
            tls: features
                .ftps
                .then(|| crate::tls::server_config(Arc::clone(&self.certs))),
            metrics: Arc::clone(&self.metrics),
            shutdown: self.shutdown.clone(),
            cut: self.cut.clone(),
            sessions: Arc::clone(&self.sessions),
            checksums: crate::storage::checksum::ChecksumCache::new(&cfg.state_dir),
            gsi: features.gsi.then(|| self.gsi.clone()).flatten(),
        })
    }
}

/// How long cut transfers get to log their outcome before the process exits.
const CUT_WAIT: Duration = Duration::from_secs(3);

/// Removes stale upload files at start and then every `sweep::period(age)`, on the
/// blocking pool (it walks the whole data directory), until shutdown. Each round first
/// runs the data_dir check /readyz runs, so a recreated directory is picked up even where
/// nothing probes readiness, and a directory in doubt is not swept.
async fn sweep_stale_uploads(served: Arc<Served>, age: Duration, stop: CancellationToken) {
    loop {
        let checked = Arc::clone(&served);
        if let Ok(Ok(())) = tokio::task::spawn_blocking(move || checked.check()).await {
            sweep_once(served.root(), age).await;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(sweep::period(age)) => {}
        }
    }
}

async fn sweep_once(root: crate::storage::DataRoot, age: Duration) {
    let now = std::time::SystemTime::now();
    match tokio::task::spawn_blocking(move || sweep::sweep(&root, age, now)).await {
        Ok(swept) if swept.removed > 0 => info!(
            files = swept.removed,
            bytes = swept.bytes,
            kept_live = swept.kept_live,
            "stale upload files removed"
        ),
        Ok(_) => {}
        Err(e) => warn!(error = %e, "stale upload sweep failed"),
    }
}

/// The WebDAV endpoint's shared state: the certificate store's TLS configuration, asking
/// for optional client certificates when GSI (a grid-mapfile) is configured.
fn webdav(
    cfg: &Config,
    certs: &Arc<CertStore>,
    auth: &Authenticator,
    root: &crate::storage::DataRoot,
    metrics: &Arc<Metrics>,
    gsi: Option<Arc<crate::gsi::Gsi>>,
    bearer: Arc<crate::auth::BearerAuthority>,
) -> Result<Arc<crate::dav::Dav>> {
    let tpc = tpc_for(cfg)?;
    let client_certs = gsi.as_ref().map(|g| {
        // SECURITY: optional, but a presented chain must validate or the handshake fails.
        Arc::new(g.verifier.optional()) as Arc<dyn rustls::server::danger::ClientCertVerifier>
    });
    Ok(Arc::new(crate::dav::Dav {
        authn: crate::dav::Authn {
            users: auth.clone(),
            gsi,
            root: root.clone(),
            failed_login_delay: cfg.auth.failed_login_delay,
            verified: Default::default(),
            metrics: Arc::clone(metrics),
            bearer,
        },
        checksums: crate::storage::checksum::ChecksumCache::new(&cfg.state_dir),
        metrics: Arc::clone(metrics),
        tls: crate::tls::webdav_config(Arc::clone(certs), client_certs),
        max_connections: cfg.limits.max_sessions,
        data_timeout: cfg.limits.data_timeout,
        tpc: Arc::new(tpc),
        web: crate::dav::Web::new(cfg),
    }))
}

/// The third-party-copy side of the WebDAV endpoint: the policy, the outbound trust.
fn tpc_for(cfg: &Config) -> Result<crate::dav::tpc::Tpc> {
    use crate::dav::tpc::{Outbound, TpcPolicy, TrustSource};
    let w = &cfg.webdav;
    let trust = TrustSource {
        cert_dir: Some(cfg.auth.x509_cert_dir.clone()),
        ca_file: w.tpc_ca_file.clone(),
    };
    let policy = TpcPolicy::new(w.tpc, w.tpc_allow.clone());
    let out = Outbound::new(policy, trust, cfg.limits.data_timeout)
        .map_err(|e| anyhow::anyhow!("webdav.tpc_ca_file: {e}"))?;
    Ok(crate::dav::tpc::Tpc {
        out,
        max_streams: w.tpc_max_streams,
        marker_interval: w.marker_interval,
        slots: Arc::new(tokio::sync::Semaphore::new(w.tpc_max_connections)),
    })
}

/// GSI for the GridFTP and WebDAV endpoints when a grid-mapfile is configured.
fn gsi_for(
    cfg: &Config,
    certs: &Arc<crate::tls::CertStore>,
) -> Result<Option<Arc<crate::gsi::Gsi>>> {
    let Some(gridmap) = &cfg.auth.gridmap_file else {
        return Ok(None);
    };
    let trust = Arc::new(crate::gsi::trust::TrustDir::open(&cfg.auth.x509_cert_dir));
    let map = crate::gsi::gridmap::GridMap::open(gridmap);
    let gsi = crate::gsi::Gsi::new(Arc::clone(certs), trust, map, cfg.auth.limited_proxy_write)
        .context("GSI TLS configuration")?;
    info!(gridmap = %gridmap.display(), cert_dir = %cfg.auth.x509_cert_dir.display(), "GSI enabled on the GridFTP endpoint");
    Ok(Some(Arc::new(gsi)))
}

/// The FTP endpoint's settings, from `[ftp]` (TLS policy included) and what is shared.
fn ftp_settings(cfg: &Config, shared: &Shared) -> Settings {
    let own = &cfg.ftp;
    shared.settings(Own {
        banner: own.banner.clone(),
        passive_ports: own.passive_ports,
        tls_mode: own.tls,
        features: Features::ftp(own),
        max_file_size: None,
    })
}

/// The GridFTP endpoint's settings, from `[gridftp]` and what is shared; `gsi` when GSI is
/// configured. Like globus-gridftp-server it offers no AUTH TLS: its security is GSI, so
/// `[ftp] tls` never applies here.
fn gridftp_settings(cfg: &Config, shared: &Shared, gsi: bool) -> Settings {
    let own = &cfg.gridftp;
    shared.settings(Own {
        banner: own.banner.clone(),
        passive_ports: own.passive_ports,
        tls_mode: FtpTlsMode::Off,
        features: Features::gridftp(own, gsi),
        max_file_size: own.max_file_size,
    })
}

/// What an FTP-engine endpoint takes from its own section.
struct Own {
    banner: String,
    passive_ports: crate::config::PortRange,
    tls_mode: FtpTlsMode,
    features: Features,
    max_file_size: Option<u64>,
}

/// What both FTP-engine endpoints share, from the server-wide sections: `public_host`,
/// `[limits]`, `[auth]` and the FXP policy (`ftp.fxp`, `ftp.fxp_allow`, documented as
/// shared by both endpoints).
struct Shared {
    policy: FxpPolicy,
    public_ip: Option<IpAddr>,
    limits: crate::config::LimitsConfig,
    failed_login_delay: Duration,
    max_login_failures: u32,
}

impl Shared {
    /// Resolves `public_host` once for both endpoints.
    async fn new(cfg: &Config) -> Self {
        Self {
            policy: FxpPolicy::new(cfg.ftp.fxp, cfg.ftp.fxp_allow.clone()),
            public_ip: resolve_public_host(&cfg.public_host).await,
            limits: cfg.limits.clone(),
            failed_login_delay: cfg.auth.failed_login_delay,
            max_login_failures: cfg.auth.max_login_failures,
        }
    }

    fn settings(&self, own: Own) -> Settings {
        Settings {
            banner: own.banner,
            passive_ports: own.passive_ports,
            policy: self.policy.clone(),
            public_ip: self.public_ip,
            tls_mode: own.tls_mode,
            limits: self.limits.clone(),
            failed_login_delay: self.failed_login_delay,
            max_login_failures: self.max_login_failures,
            features: own.features,
            max_file_size: own.max_file_size,
        }
    }
}

/// The address announced in PASV replies: `public_host` itself when it is an IP, else
/// its first IPv4 address. Unresolvable → the address each client connected to.
async fn resolve_public_host(host: &str) -> Option<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(ip);
    }
    match tokio::net::lookup_host((host, 0)).await {
        Ok(addrs) => {
            let addrs: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            addrs
                .iter()
                .find(|ip| ip.is_ipv4())
                .or(addrs.first())
                .copied()
        }
        Err(e) => {
            warn!(public_host = host, error = %e, "public_host does not resolve; PASV will announce the local address");
            None
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        warn!("cannot install signal handlers; running until killed");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received"),
        _ = int.recv() => info!("SIGINT received"),
    }
}
