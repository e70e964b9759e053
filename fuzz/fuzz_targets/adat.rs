//! Fuzz the GSI handshake as a client drives it: the bytes after AUTH GSSAPI arrive as
//! ADAT tokens (TLS records, then the delegation exchange) and, once authenticated, as
//! MIC/ENC-wrapped commands. A fresh `GsiContext` (griddock's own TLS 1.2 GSI config with
//! a self-signed host certificate and an empty trust directory) gets each input split at
//! 0x00 0xff into successive tokens; then the rest is offered to `unwrap`. Nothing may
//! panic, and with no trusted CA no input may ever complete the handshake.
#![no_main]

use std::sync::{Arc, OnceLock};

use griddock::gsi::context::AdatStep;
use griddock::gsi::{gridmap::GridMap, trust::TrustDir, Gsi};
use libfuzzer_sys::fuzz_target;

fn gsi() -> &'static Gsi {
    static GSI: OnceLock<Gsi> = OnceLock::new();
    GSI.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("griddock-fuzz-adat-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("certificates")).unwrap();
        let mut cfg = griddock::config::Config::default();
        cfg.state_dir = dir.join("state");
        cfg.tls.source = griddock::config::TlsSource::SelfSigned;
        let certs =
            griddock::tls::CertStore::from_config(&cfg, griddock::metrics::Metrics::new()).unwrap();
        let trust = Arc::new(TrustDir::open(&dir.join("certificates")));
        Gsi::new(
            certs,
            trust,
            GridMap::open(&dir.join("grid-mapfile")),
            false,
        )
        .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let mut ctx = gsi().context().unwrap();
    let mut rest = data;
    while !rest.is_empty() {
        let (token, tail) = match rest.windows(2).position(|w| w == [0x00, 0xff]) {
            Some(i) => (&rest[..i], &rest[i + 2..]),
            None => (rest, &[][..]),
        };
        rest = tail;
        match ctx.adat(token) {
            Ok(AdatStep::Continue(_)) => {}
            Ok(AdatStep::Complete) => panic!("handshake completed with no trusted CA"),
            Err(_) => break,
        }
    }
    let _ = ctx.unwrap(data);
    assert!(!ctx.is_established());
});
