//! Every listening socket of `griddock serve`, bound before anything else happens: a port
//! in use ends the start with one clear error and no side effects (no state_dir, no
//! certificate, no half-started listeners). The addresses were validated with the
//! configuration (`config/listeners.rs`), so this only meets what the host refuses.

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tracing::info;

use crate::config::Config;

/// The bound control, HTTP and WebDAV listeners of the enabled endpoints.
pub struct Listeners {
    pub ftp: Option<TcpListener>,
    pub gridftp: Option<TcpListener>,
    pub http: Option<TcpListener>,
    pub webdav: Option<TcpListener>,
}

impl Listeners {
    pub async fn bind(cfg: &Config) -> Result<Listeners> {
        Ok(Listeners {
            ftp: bind_if(cfg.ftp.enabled, "ftp", cfg.ftp.listen).await?,
            gridftp: bind_if(cfg.gridftp.enabled, "gridftp", cfg.gridftp.listen).await?,
            http: bind_if(cfg.http.enabled, "http", cfg.http.listen).await?,
            webdav: bind_if(cfg.webdav.enabled, "webdav", cfg.webdav.listen).await?,
        })
    }
}

async fn bind_if(
    enabled: bool,
    endpoint: &str,
    addr: std::net::SocketAddr,
) -> Result<Option<TcpListener>> {
    if !enabled {
        return Ok(None);
    }
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("{endpoint}: cannot listen on {addr}"))?;
    info!(endpoint, addr = %listener.local_addr()?, "listening");
    Ok(Some(listener))
}
