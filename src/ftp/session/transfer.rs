//! Bookkeeping of the one transfer a session may run at a time (RFC 959 §5.4: 1yz
//! preliminary reply, then the completion reply; ABOR §4.1.3): start, completion reply,
//! abort, the per-transfer log line and metrics.

use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinHandle;
use tracing::info;

use super::Session;
use crate::ftp::data::job::{self, DataParams};
use crate::ftp::data::{DataSetup, Job, Outcome, TransferCtl, TransferError};
use crate::ftp::error::FtpError;
use crate::metrics::Direction;

/// A transfer in progress.
pub struct Running {
    handle: JoinHandle<Outcome>,
    pub ctl: Arc<TransferCtl>,
    verb: &'static str,
    path: String,
    /// `None` for directory listings: not counted as file transfers, not in the log.
    direction: Option<Direction>,
    started: Instant,
}

/// Resolves when the running transfer ends; never resolves when there is none.
pub async fn wait(running: &mut Option<Running>) -> Outcome {
    match running {
        Some(r) => (&mut r.handle).await.unwrap_or_else(|e| Outcome {
            bytes: 0,
            data_peer: None,
            result: Err(TransferError::Data(std::io::Error::other(e.to_string()))),
        }),
        None => std::future::pending().await,
    }
}

impl Session {
    /// Sends the 150 reply and starts moving data in the background; the completion reply
    /// comes from [`Session::finish_transfer`] when it ends.
    pub(crate) async fn start_transfer(
        &mut self,
        verb: &'static str,
        path: String,
        direction: Option<Direction>,
        job: Job,
        opening: String,
    ) -> Result<(), FtpError> {
        let setup = std::mem::take(&mut self.data);
        if setup.is_none() {
            return Err(FtpError::reply(425, "Use PORT, EPRT, PASV or EPSV first."));
        }
        self.send(&crate::ftp::control::Reply::new(150, opening))
            .await?;
        let params = self.data_params(setup);
        let ctl = Arc::new(TransferCtl::default());
        let handle = tokio::spawn(job::run(params, job, Arc::clone(&ctl)));
        if let Some(dir) = direction {
            self.ep.metrics.transfer_started(self.ep.label, dir);
        }
        self.transfer = Some(Running {
            handle,
            ctl,
            verb,
            path,
            direction,
            started: Instant::now(),
        });
        Ok(())
    }

    fn data_params(&self, setup: DataSetup) -> DataParams {
        let s = &self.ep.settings;
        DataParams {
            setup,
            policy: s.policy.clone(),
            control_peer: self.peer.ip(),
            local_ip: self.local.ip(),
            tls: if self.prot_private {
                self.ep.tls.clone()
            } else {
                None
            },
            timeout: s.limits.data_timeout,
            ascii: self.ascii,
            control: self.ctrl.dup_socket(),
            mode_e: self.mode_e,
            parallelism: self.parallelism,
        }
    }

    /// Sends the completion reply for a finished transfer and records it.
    pub(crate) async fn finish_transfer(&mut self, outcome: Outcome) -> std::io::Result<()> {
        let Some(running) = self.transfer.take() else {
            return Ok(());
        };
        self.record(&running, &outcome);
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
    pub(crate) async fn abort_transfer(&mut self) -> Result<(), FtpError> {
        let Some(running) = self.transfer.as_ref() else {
            return self
                .send(&crate::ftp::control::Reply::new(
                    225,
                    "No transfer to abort.",
                ))
                .await;
        };
        running.ctl.abort();
        let outcome = wait(&mut self.transfer).await;
        if let Some(running) = self.transfer.take() {
            self.record(&running, &outcome);
        }
        if outcome.result.is_ok() {
            // It finished before the abort reached it.
            self.reply(226, "Transfer complete.")
                .await
                .map_err(FtpError::Control)?;
        } else {
            self.reply(426, "Connection closed; transfer aborted.")
                .await
                .map_err(FtpError::Control)?;
        }
        self.reply(226, "ABOR command successful.")
            .await
            .map_err(FtpError::Control)
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
        let ep = self.ep.label;
        let Some(direction) = running.direction else {
            return;
        };
        self.ep.metrics.add_bytes(ep, direction, outcome.bytes);
        self.ep
            .metrics
            .transfer_finished(ep, direction, outcome.result.is_ok());
        let data_peer = outcome
            .data_peer
            .map_or_else(|| "-".to_string(), |p| p.to_string());
        let error = outcome.result.as_ref().err().map(ToString::to_string);
        info!(
            target: "griddock::xferlog",
            endpoint = ep.as_str(),
            peer = %self.peer,
            data_peer = %data_peer,
            user = self.user_name(),
            verb = running.verb,
            path = %running.path,
            bytes = outcome.bytes,
            seconds = running.started.elapsed().as_secs_f64(),
            result,
            error = error.as_deref().unwrap_or("-"),
            "transfer"
        );
    }
}
