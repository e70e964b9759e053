//! Passive and active data-connection set-up (RFC 959 §3.2 PASV/PORT, RFC 2428 §2–3
//! EPRT/EPSV), with the FXP policy applied to every peer.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::Rng;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tracing::{debug, warn};

use super::policy::FxpPolicy;
use crate::config::PortRange;
use crate::ftp::limits::Slot;

/// What the client asked for with the last PASV/EPSV/PORT/EPRT.
#[derive(Debug, Default)]
pub enum DataSetup {
    #[default]
    None,
    /// We listen; the peer (client or, in FXP, the other server) connects.
    Passive(PassiveListener),
    /// We connect to this address.
    Active(SocketAddr),
}

impl DataSetup {
    pub fn is_none(&self) -> bool {
        matches!(self, DataSetup::None)
    }
}

/// A passive listener and the client's passive-port slot it occupies (given back when
/// the listener is dropped).
#[derive(Debug)]
pub struct PassiveListener {
    listener: TcpListener,
    _slot: Option<Slot>,
}

impl PassiveListener {
    pub fn new(listener: TcpListener, slot: Option<Slot>) -> PassiveListener {
        PassiveListener {
            listener,
            _slot: slot,
        }
    }
}

impl std::ops::Deref for PassiveListener {
    type Target = TcpListener;

    fn deref(&self) -> &TcpListener {
        &self.listener
    }
}

/// Binds a listener on `ip` with a port from `range`, starting at a random port so that
/// concurrent sessions do not all probe the same ports.
pub fn open_passive(ip: IpAddr, range: PortRange) -> io::Result<TcpListener> {
    let span = u32::from(range.end - range.start) + 1;
    let first = rand::thread_rng().gen_range(0..span);
    for i in 0..span {
        let port = range.start + u16::try_from((first + i) % span).unwrap_or(0);
        match bind(SocketAddr::new(ip, port)) {
            Ok(l) => return Ok(l),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free port in the passive range",
    ))
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(16)
}

/// Accepts the first data connection whose peer the policy allows; others are dropped and
/// the wait goes on until `timeout`.
pub async fn accept_allowed(
    listener: &TcpListener,
    policy: &FxpPolicy,
    control_peer: IpAddr,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let accepted = tokio::time::timeout_at(deadline, listener.accept()).await;
        let (stream, peer) = accepted.map_err(|_| timed_out("no data connection"))??;
        if policy.passive_peer_allowed(control_peer, peer.ip()) {
            debug!(%peer, "data connection accepted");
            return Ok(stream);
        }
        // SECURITY: drop the intruder, keep waiting for the legitimate peer.
        warn!(%peer, %control_peer, "data connection from a peer refused by FXP policy");
    }
}

/// Connects to an active-mode target from the control connection's local address.
pub async fn connect_active(
    local_ip: IpAddr,
    target: SocketAddr,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let sock = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if local_ip.is_ipv4() == target.is_ipv4() {
        sock.bind(SocketAddr::new(local_ip, 0))?;
    }
    tokio::time::timeout(timeout, sock.connect(target))
        .await
        .map_err(|_| timed_out("connect timed out"))?
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_string())
}
