//! Bookkeeping of the one transfer a session may run at a time (RFC 959 §5.4: 1yz
//! preliminary reply, then the completion reply; ABOR §4.1.3): start, completion reply,
//! abort, the per-transfer log line and metrics.

use std::sync::Arc;
use std::time::Instant;

use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;

use crate::ftp::control::Reply;
use crate::gridftp::ranges::RangeSet;
use tracing::info;

use super::answer::TransferStart;
use super::Session;
use crate::ftp::data::{job, DataParams};
use crate::ftp::data::{DataSetup, Job, Outcome, TransferCtl, TransferError};
use crate::ftp::error::FtpError;
use crate::metrics::Direction;

impl Running {
    pub fn next_marker(&self) -> Option<tokio::time::Instant> {
        self.next_marker
    }
}

/// A transfer in progress.
pub struct Running {
    handle: JoinHandle<Outcome>,
    pub ctl: Arc<TransferCtl>,
    verb: &'static str,
    path: String,
    /// `None` for directory listings: not counted as file transfers, not in the log.
    direction: Option<Direction>,
    started: Instant,
    /// GridFTP uploads: when the next 111/112 markers are due.
    next_marker: Option<tokio::time::Instant>,
    /// Where a stream-mode upload started writing (REST/ESTO), for 111 ranges.
    marker_base: u64,
}

/// Resolves when markers are due for the running transfer; never when none are.
pub async fn marker_due(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Resolves when the running transfer ends; never resolves when there is none.
pub async fn wait(running: &mut Option<Running>) -> Outcome {
    match running {
        Some(r) => (&mut r.handle).await.unwrap_or_else(|e| {
            Outcome::failed(TransferError::Data(std::io::Error::other(e.to_string())))
        }),
        None => std::future::pending().await,
    }
}

impl Session {
    /// Sends the 150 reply and starts moving data in the background; the completion reply
    /// comes from [`Session::finish_transfer`] when it ends.
    pub(crate) async fn start_transfer(&mut self, start: TransferStart) -> Result<(), FtpError> {
        let TransferStart {
            verb,
            path,
            direction,
            job,
            opening,
        } = start;
        let sending = !matches!(job, Job::Receive { .. });
        self.st.prepare_data_security(self.ctrl.delegated())?;
        let marker_base = match &job {
            Job::Receive { upload, .. } => upload.offset(),
            _ => 0,
        };
        let next_marker = match (sending, self.st.features().markers) {
            (false, Some(every)) => Some(tokio::time::Instant::now() + every),
            _ => None,
        };
        let (setup, reuse) = self.st.data.take(sending, self.st.params.mode_e)?;
        let reply = if reuse.is_empty() {
            crate::ftp::control::Reply::new(150, opening)
        } else {
            crate::ftp::control::Reply::new(125, format!("Reusing data connection. {opening}"))
        };
        self.send(&reply).await?;
        let params = self.data_params(setup, reuse);
        let ctl = Arc::new(TransferCtl::default());
        let handle = tokio::spawn(job::run(params, job, Arc::clone(&ctl)));
        if let Some(dir) = direction {
            self.st.ep.metrics.transfer_started(self.st.ep.label, dir);
        }
        self.transfer = Some(Running {
            handle,
            ctl,
            verb,
            path,
            direction,
            started: Instant::now(),
            next_marker,
            marker_base,
        });
        Ok(())
    }

    fn data_params(&self, setup: DataSetup, reuse: Vec<crate::ftp::data::DataConn>) -> DataParams {
        let st = &self.st;
        let s = &st.ep.settings;
        DataParams {
            setup,
            policy: s.policy.clone(),
            control_peer: st.peer.ip(),
            local_ip: st.local.ip(),
            tls: if st.security.prot_private {
                st.ep.tls.clone()
            } else {
                None
            },
            timeout: s.limits.data_timeout,
            ascii: st.params.ascii,
            control: self.ctrl.dup_socket(),
            mode_e: st.params.mode_e,
            parallelism: st.params.parallelism,
            block_size: st.params.block_size,
            max_file_size: s.max_file_size,
            reuse,
            gsi: st.security.data_sec.clone(),
        }
    }

    /// GFD.20 markers from the receiving side: `111 Range Marker` with what is on disk and
    /// a `112` performance marker (Timestamp with one decimal, as clients require).
    pub(crate) async fn send_markers(&mut self) -> std::io::Result<()> {
        let Some(running) = self.transfer.as_mut() else {
            return Ok(());
        };
        let every = self.st.ep.settings.features.markers;
        let every = every.unwrap_or(Duration::from_secs(5));
        running.next_marker = Some(tokio::time::Instant::now() + every);
        let bytes = running.ctl.progress();
        let ranges = running.ctl.written().or_else(|| {
            let mut r = RangeSet::new();
            r.insert(running.marker_base, running.marker_base + bytes);
            (!r.is_empty()).then_some(r)
        });
        if let Some(ranges) = ranges {
            let marker = Reply::new(111, format!("Range Marker {ranges}"));
            self.ctrl.send(&marker).await?;
        }
        self.ctrl.send(&perf_marker(SystemTime::now(), bytes)).await
    }

    /// Sends the completion reply for a finished transfer and records it.
    pub(crate) async fn finish_transfer(&mut self, outcome: Outcome) -> std::io::Result<()> {
        let Some(running) = self.transfer.take() else {
            return Ok(());
        };
        self.record(&running, &outcome);
        self.st.data.keep(outcome.cache);
        let reply = match outcome.result {
            Ok(()) => crate::ftp::control::Reply::new(226, "Transfer complete."),
            Err(e) => match FtpError::from(e).to_reply() {
                Some(r) => r,
                None => return Ok(()),
            },
        };
        self.ctrl.send(&reply).await
    }

    /// ABOR (RFC 959 §4.1.3): 426 for the interrupted transfer, then 226 for ABOR itself.
    pub(crate) async fn abort_transfer(&mut self) -> std::io::Result<()> {
        let Some(running) = self.transfer.as_ref() else {
            return self.reply(225, "No transfer to abort.").await;
        };
        running.ctl.abort();
        let outcome = wait(&mut self.transfer).await;
        if let Some(running) = self.transfer.take() {
            self.record(&running, &outcome);
        }
        if outcome.result.is_ok() {
            // It finished before the abort reached it.
            self.reply(226, "Transfer complete.").await?;
        } else {
            self.reply(426, "Connection closed; transfer aborted.")
                .await?;
        }
        self.reply(226, "ABOR command successful.").await
    }

    /// The control connection is gone: stop the transfer and record it.
    pub(crate) async fn abandon_transfer(&mut self) {
        if let Some(running) = self.transfer.as_ref() {
            running.ctl.abort();
            let outcome = wait(&mut self.transfer).await;
            if let Some(running) = self.transfer.take() {
                self.record(&running, &outcome);
            }
        }
    }

    pub(crate) fn transfer_status(&self) -> Option<String> {
        self.transfer.as_ref().map(|r| {
            format!(
                "{} {}: {} bytes transferred",
                r.verb,
                r.path,
                r.ctl.progress()
            )
        })
    }

    /// The xferlog-style line and the metrics for one finished transfer.
    fn record(&self, running: &Running, outcome: &Outcome) {
        let result = match &outcome.result {
            Ok(()) => "ok",
            Err(TransferError::Aborted) => "aborted",
            Err(_) => "failed",
        };
        let ep = self.st.ep.label;
        let Some(direction) = running.direction else {
            return;
        };
        self.st.ep.metrics.add_bytes(ep, direction, outcome.bytes);
        self.st
            .ep
            .metrics
            .transfer_finished(ep, direction, outcome.result.is_ok());
        let data_peer = outcome
            .data_peer
            .map_or_else(|| "-".to_string(), |p| p.to_string());
        let error = outcome.result.as_ref().err().map(ToString::to_string);
        info!(
            target: "griddock::xferlog",
            endpoint = ep.as_str(),
            peer = %self.st.peer,
            data_peer = %data_peer,
            user = self.st.login.user_name(),
            dn = self.st.security.dn(),
            verb = running.verb,
            path = %running.path,
            bytes = outcome.bytes,
            seconds = running.started.elapsed().as_secs_f64(),
            streams = outcome.streams,
            result,
            error = error.as_deref().unwrap_or("-"),
            "transfer"
        );
    }
}

/// The 112 performance marker for one stripe (GFD.20 §"Performance monitoring").
pub fn perf_marker(now: SystemTime, bytes: u64) -> Reply {
    let t = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let stamp = format!("{}.{}", t.as_secs(), t.subsec_millis() / 100);
    Reply::multi(
        112,
        "Perf Marker",
        vec![
            format!(" Timestamp: {stamp}"),
            " Stripe Index: 0".into(),
            format!(" Stripe Bytes Transferred: {bytes}"),
            " Total Stripe Count: 1".into(),
        ],
        "End.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_marker_has_one_decimal_and_the_fields_clients_parse() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_370);
        let wire = String::from_utf8(perf_marker(t, 42).encode()).unwrap();
        assert_eq!(
            wire,
            "112-Perf Marker\r\n Timestamp: 1700000000.3\r\n Stripe Index: 0\r\n \
             Stripe Bytes Transferred: 42\r\n Total Stripe Count: 1\r\n112 End.\r\n"
        );
    }
}
