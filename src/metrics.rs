//! Prometheus metrics (OpenMetrics text exposition, served on `/metrics`): sessions,
//! transfers and bytes per endpoint.

use std::sync::Arc;

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Which listener a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointLabel {
    Ftp,
    Gridftp,
    /// The HTTPS/WebDAV endpoint (`davs://`).
    Webdav,
}

impl EndpointLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointLabel::Ftp => "ftp",
            EndpointLabel::Gridftp => "gridftp",
            EndpointLabel::Webdav => "webdav",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Download,
    Upload,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Download => "download",
            Direction::Upload => "upload",
        }
    }
}

impl EncodeLabelValue for EndpointLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

impl EncodeLabelValue for Direction {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EpLabel {
    endpoint: EndpointLabel,
}

/// How a session logged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginMethod {
    Anonymous,
    Password,
    /// X.509 proxy through GSI (the grid-mapfile chose the account).
    Gsi,
    /// X.509 certificate or proxy by TLS client authentication (WebDAV).
    X509,
    /// A bearer credential (WLCG token or macaroon; WebDAV).
    Bearer,
}

impl EncodeLabelValue for LoginMethod {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(match self {
            LoginMethod::Anonymous => "anonymous",
            LoginMethod::Password => "password",
            LoginMethod::Gsi => "gsi",
            LoginMethod::X509 => "x509",
            LoginMethod::Bearer => "bearer",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LoginLabel {
    endpoint: EndpointLabel,
    method: LoginMethod,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct XferLabel {
    endpoint: EndpointLabel,
    direction: Direction,
}

/// One HTTP third-party copy's labels: `mode` (pull, push) and `result` (ok, failed,
/// refused, cancelled) or, on the failures family, `cause`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TpcLabel {
    mode: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TpcCauseLabel {
    mode: &'static str,
    cause: &'static str,
}

/// One open control connection on `griddock_sessions_active`; decrements on drop.
#[must_use = "the session counts as open only while this guard lives"]
pub struct OpenSession(Gauge);

impl Drop for OpenSession {
    fn drop(&mut self) {
        self.0.dec();
    }
}

pub struct Metrics {
    registry: Registry,
    sessions: Family<EpLabel, Gauge>,
    started: Family<XferLabel, Counter>,
    completed: Family<XferLabel, Counter>,
    failed: Family<XferLabel, Counter>,
    sent: Family<EpLabel, Counter>,
    received: Family<EpLabel, Counter>,
    login_failures: Family<EpLabel, Counter>,
    logins: Family<LoginLabel, Counter>,
    cert_expiry: Gauge,
    acme_failures: Counter,
    tpc_copies: Family<TpcLabel, Counter>,
    tpc_failures: Family<TpcCauseLabel, Counter>,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("griddock");
        let m = Metrics {
            sessions: Family::default(),
            started: Family::default(),
            completed: Family::default(),
            failed: Family::default(),
            sent: Family::default(),
            received: Family::default(),
            login_failures: Family::default(),
            logins: Family::default(),
            cert_expiry: Gauge::default(),
            acme_failures: Counter::default(),
            tpc_copies: Family::default(),
            tpc_failures: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "sessions_active",
            "Open control connections",
            m.sessions.clone(),
        );
        registry.register(
            "transfers_started",
            "File transfers started",
            m.started.clone(),
        );
        registry.register(
            "transfers_completed",
            "File transfers completed",
            m.completed.clone(),
        );
        registry.register(
            "transfers_failed",
            "File transfers failed or aborted",
            m.failed.clone(),
        );
        registry.register(
            "bytes_sent",
            "File bytes sent on data connections",
            m.sent.clone(),
        );
        registry.register(
            "bytes_received",
            "File bytes received on data connections",
            m.received.clone(),
        );
        registry.register("login_failures", "Failed logins", m.login_failures.clone());
        registry.register(
            "logins",
            "Successful logins by method (the account and DN are in the log, not in labels)",
            m.logins.clone(),
        );
        registry.register(
            "certificate_expiry_seconds",
            "Unix time at which the served certificate expires (notAfter)",
            m.cert_expiry.clone(),
        );
        registry.register(
            "acme_failures",
            "Failed ACME issuance attempts",
            m.acme_failures.clone(),
        );
        registry.register(
            "tpc_copies",
            "HTTP third-party copies (COPY) by mode and result; their bytes are in \
             bytes_received (pull) and bytes_sent (push) of endpoint webdav",
            m.tpc_copies.clone(),
        );
        registry.register(
            "tpc_failures",
            "Failed HTTP third-party copies by mode and cause (policy, remote, \
             connect, tls, timeout, checksum, local, cancelled)",
            m.tpc_failures.clone(),
        );
        Arc::new(Metrics { registry, ..m })
    }

    /// Counts a session as open until the returned guard is dropped — also when the
    /// session's task panics and unwinds, so the gauge cannot leak.
    pub fn session_opened(&self, ep: EndpointLabel) -> OpenSession {
        let gauge = self
            .sessions
            .get_or_create(&EpLabel { endpoint: ep })
            .clone();
        gauge.inc();
        OpenSession(gauge)
    }

    pub fn transfer_started(&self, ep: EndpointLabel, dir: Direction) {
        self.started
            .get_or_create(&XferLabel {
                endpoint: ep,
                direction: dir,
            })
            .inc();
    }

    pub fn transfer_finished(&self, ep: EndpointLabel, dir: Direction, ok: bool) {
        let family = if ok { &self.completed } else { &self.failed };
        family
            .get_or_create(&XferLabel {
                endpoint: ep,
                direction: dir,
            })
            .inc();
    }

    pub fn add_bytes(&self, ep: EndpointLabel, dir: Direction, n: u64) {
        let family = match dir {
            Direction::Download => &self.sent,
            Direction::Upload => &self.received,
        };
        family.get_or_create(&EpLabel { endpoint: ep }).inc_by(n);
    }

    pub fn login_failed(&self, ep: EndpointLabel) {
        self.login_failures
            .get_or_create(&EpLabel { endpoint: ep })
            .inc();
    }

    pub fn logged_in(&self, ep: EndpointLabel, method: LoginMethod) {
        self.logins
            .get_or_create(&LoginLabel {
                endpoint: ep,
                method,
            })
            .inc();
    }

    pub fn set_certificate_expiry(&self, unix_seconds: i64) {
        self.cert_expiry.set(unix_seconds);
    }

    pub fn acme_failed(&self) {
        self.acme_failures.inc();
    }

    /// One finished third-party copy: `cause` is `None` when it succeeded.
    pub fn tpc_finished(&self, mode: &'static str, cause: Option<&'static str>) {
        let result = match cause {
            None => "ok",
            Some("policy") => "refused",
            Some("cancelled") => "cancelled",
            Some(_) => "failed",
        };
        self.tpc_copies
            .get_or_create(&TpcLabel { mode, result })
            .inc();
        if let Some(cause) = cause {
            self.tpc_failures
                .get_or_create(&TpcCauseLabel { mode, cause })
                .inc();
        }
    }

    /// OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_appear_with_labels() {
        let m = Metrics::new();
        let _open = m.session_opened(EndpointLabel::Ftp);
        m.transfer_started(EndpointLabel::Ftp, Direction::Upload);
        m.transfer_finished(EndpointLabel::Ftp, Direction::Upload, true);
        m.add_bytes(EndpointLabel::Ftp, Direction::Upload, 1234);
        m.add_bytes(EndpointLabel::Gridftp, Direction::Download, 7);
        let text = m.encode();
        assert!(
            text.contains("griddock_sessions_active{endpoint=\"ftp\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("griddock_bytes_received_total{endpoint=\"ftp\"} 1234"),
            "{text}"
        );
        assert!(
            text.contains("griddock_bytes_sent_total{endpoint=\"gridftp\"} 7"),
            "{text}"
        );
        assert!(
            text.contains(
                "griddock_transfers_completed_total{endpoint=\"ftp\",direction=\"upload\"} 1"
            ),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_panicking_session_still_leaves_the_gauge() {
        let m = Metrics::new();
        let open = m.session_opened(EndpointLabel::Gridftp);
        let task = tokio::spawn(async move {
            let _open = open;
            panic!("a session bug");
        });
        assert!(task.await.is_err_and(|e| e.is_panic()));
        let text = m.encode();
        assert!(
            text.contains("griddock_sessions_active{endpoint=\"gridftp\"} 0"),
            "{text}"
        );
    }
}
