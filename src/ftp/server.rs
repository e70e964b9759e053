//! An FTP listener: accepts control connections, enforces the session limit and runs one
//! [`Session`] task per connection (RFC 959 §5.4 "421 Service not available" when full).
//!
//! The same engine serves the FTP endpoint and, with extensions switched on, the GridFTP
//! endpoint: an [`Endpoint`] (`ftp::endpoint`) carries everything a session needs and is
//! shared by all of that listener's sessions; its `Features` say which extensions.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;
use tracing::{info, warn, Instrument};

use super::endpoint::Endpoint;
use super::limits::Kind;
use super::session::Session;

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
