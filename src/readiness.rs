//! Readiness of the server's components for `/readyz` (Kubernetes readiness probes;
//! served by `http`, reported by `tls::acme` and `app`, so it sits below both):
//! ready only when every registered component is; a component may be ready but degraded
//! (e.g. serving with a fallback certificate), which is reported but not a failure.
//! Probes are components checked on every request (e.g. that `data_dir` still exists).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A check run on every `/readyz`: `Err` is the reason it is not ready. Must be cheap.
#[derive(Clone)]
struct Probe(Arc<dyn Fn() -> Result<(), String> + Send + Sync>);

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Probe")
    }
}

#[derive(Debug, Clone, Default)]
struct Component {
    ready: bool,
    degraded: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Readiness {
    inner: Arc<Mutex<BTreeMap<String, Component>>>,
    probes: Arc<Mutex<BTreeMap<String, Probe>>>,
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a component, not ready yet.
    pub fn register(&self, name: &str) {
        if let Ok(mut m) = self.inner.lock() {
            m.entry(name.to_string()).or_default();
        }
    }

    pub fn set(&self, name: &str, ready: bool) {
        if let Ok(mut m) = self.inner.lock() {
            m.entry(name.to_string()).or_default().ready = ready;
        }
    }

    pub fn set_degraded(&self, name: &str, note: Option<String>) {
        if let Ok(mut m) = self.inner.lock() {
            m.entry(name.to_string()).or_default().degraded = note;
        }
    }

    /// Adds a component whose readiness is `probe()`'s answer at each report.
    pub fn probe(
        &self,
        name: &str,
        probe: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) {
        if let Ok(mut p) = self.probes.lock() {
            p.insert(name.to_string(), Probe(Arc::new(probe)));
        }
    }

    /// Runs the probes (outside any lock) and records their answers.
    fn run_probes(&self) {
        let probes: Vec<(String, Probe)> = match self.probes.lock() {
            Ok(p) => p.iter().map(|(n, p)| (n.clone(), p.clone())).collect(),
            Err(_) => return,
        };
        for (name, probe) in probes {
            let answer = (probe.0)();
            if let Ok(mut m) = self.inner.lock() {
                let c = m.entry(name).or_default();
                c.ready = answer.is_ok();
                c.degraded = answer.err();
            }
        }
    }

    /// (all ready, human-readable report).
    pub fn report(&self) -> (bool, String) {
        self.run_probes();
        let Ok(m) = self.inner.lock() else {
            return (false, "readiness state unavailable\n".into());
        };
        let all = m.values().all(|c| c.ready);
        let mut out = String::from(if all { "ready\n" } else { "not ready\n" });
        for (name, c) in m.iter() {
            let state = if c.ready { "ready" } else { "not ready" };
            out.push_str(&format!("{name}: {state}"));
            match (&c.degraded, c.ready) {
                (Some(note), true) => out.push_str(&format!(" (degraded: {note})")),
                (Some(note), false) => out.push_str(&format!(" ({note})")),
                (None, _) => {}
            }
            out.push('\n');
        }
        (all, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_all_are() {
        let r = Readiness::new();
        assert!(r.report().0, "no components: ready");
        r.register("ftp");
        r.register("gridftp");
        r.set("ftp", true);
        let (ok, text) = r.report();
        assert!(!ok);
        assert!(text.contains("gridftp: not ready"), "{text}");
        r.set("gridftp", true);
        r.set_degraded("ftp", Some("self-signed fallback".into()));
        let (ok, text) = r.report();
        assert!(
            ok && text.starts_with("ready\n") && text.contains("degraded"),
            "{text}"
        );
    }

    #[test]
    fn probes_answer_at_each_report() {
        let r = Readiness::new();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&up);
        r.probe("data_dir", move || {
            if flag.load(std::sync::atomic::Ordering::Relaxed) {
                Ok(())
            } else {
                Err("data_dir /x was deleted".into())
            }
        });
        let (ok, text) = r.report();
        assert!(
            !ok && text.contains("data_dir: not ready (data_dir /x was deleted)"),
            "{text}"
        );
        up.store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(r.report(), (true, "ready\ndata_dir: ready\n".into()));
    }
}
