//! Readiness of the server's components for `/readyz` (Kubernetes readiness probes):
//! ready only when every registered component is; a component may be ready but degraded
//! (e.g. serving with a fallback certificate), which is reported but not a failure.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
struct Component {
    ready: bool,
    degraded: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Readiness {
    inner: Arc<Mutex<BTreeMap<String, Component>>>,
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

    /// (all ready, human-readable report).
    pub fn report(&self) -> (bool, String) {
        let Ok(m) = self.inner.lock() else {
            return (false, "readiness state unavailable\n".into());
        };
        let all = m.values().all(|c| c.ready);
        let mut out = String::from(if all { "ready\n" } else { "not ready\n" });
        for (name, c) in m.iter() {
            let state = if c.ready { "ready" } else { "not ready" };
            out.push_str(&format!("{name}: {state}"));
            if let Some(note) = &c.degraded {
                out.push_str(&format!(" (degraded: {note})"));
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
}
