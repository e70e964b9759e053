//! How to open one data connection (RFC 959 §3.2–3.3, RFC 2428, RFC 4217 §9 for TLS,
//! GFD.20 DCAU for GSI): the parameters the session hands the data layer, and the
//! securing of a new connection. Below both `job` and `mode_e`.

use std::io;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;

use super::conn::DataConn;
use super::outcome::TransferError;
use super::setup::DataSetup;
use super::FxpPolicy;

/// Everything needed to open the data connection.
pub struct DataParams {
    pub setup: DataSetup,
    pub policy: FxpPolicy,
    pub control_peer: IpAddr,
    pub local_ip: IpAddr,
    pub tls: Option<Arc<ServerConfig>>,
    pub timeout: Duration,
    pub ascii: bool,
    /// A duplicate of the control socket: an upload is committed only while the client
    /// is still there (a killed client closes both connections; in stream mode the data
    /// EOF alone would look like a complete file).
    pub control: Option<OwnedFd>,
    /// MODE E (GridFTP extended block mode) instead of stream mode.
    pub mode_e: bool,
    /// Connections to open when sending in MODE E (OPTS RETR Parallelism).
    pub parallelism: u32,
    /// MODE E block size when sending (OPTS RETR BlockSize).
    pub block_size: u64,
    /// MODE E uploads: blocks may not end beyond this (`None`: the file system's size).
    pub max_file_size: Option<u64>,
    /// MODE E connections cached from the previous transfer in this direction.
    pub reuse: Vec<DataConn>,
    /// GSI data-channel security (DCAU A/S) for every new data connection.
    pub gsi: Option<Arc<crate::gsi::datachan::DataSecurity>>,
}

/// Completes a new data connection under the session's protection; a failed handshake
/// is a TLS error, anything else a connection error. `initiator`: we connected.
pub(super) async fn establish(
    tcp: tokio::net::TcpStream,
    p: &DataParams,
    initiator: bool,
) -> Result<DataConn, TransferError> {
    let secured = p.tls.is_some() || p.gsi.is_some();
    DataConn::secure(tcp, p.tls.clone(), p.gsi.clone(), initiator, p.timeout)
        .await
        .map_err(if secured {
            TransferError::Tls
        } else {
            TransferError::Connect
        })
}

pub(super) fn no_setup() -> TransferError {
    TransferError::Connect(io::Error::new(
        io::ErrorKind::NotConnected,
        "no PORT or PASV",
    ))
}
