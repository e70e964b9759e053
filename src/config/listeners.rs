//! Validation of every listening address and passive range together, so `check-config`
//! and `serve` refuse a configuration whose listeners cannot all be bound (or would steal
//! each other's ports) before anything is bound or written.
//!
//! Rules, over the *enabled* endpoints (`ftp`, `gridftp`, `http`, `webdav`):
//! - no two listeners on the same port where their addresses overlap (the same IP, or
//!   either one unspecified, `0.0.0.0` / `[::]`); port 0 (any free port) never clashes;
//! - no passive range (`ftp.passive_ports`, `gridftp.passive_ports`) containing a
//!   listener's port: a PASV could hand out the control port, or the listener would fail;
//! - the FTP and GridFTP passive ranges MAY overlap, and do by default (both
//!   50000-50200): each passive listener takes the next free port of its range, so
//!   sharing one published range between both endpoints is intended.

use std::net::SocketAddr;

use super::{Config, ConfigError, PortRange};

/// `(key, address)` of every enabled listener, in a fixed order.
fn listeners(cfg: &Config) -> Vec<(&'static str, SocketAddr)> {
    let mut out = Vec::new();
    if cfg.ftp.enabled {
        out.push(("ftp.listen", cfg.ftp.listen));
    }
    if cfg.gridftp.enabled {
        out.push(("gridftp.listen", cfg.gridftp.listen));
    }
    if cfg.http.enabled {
        out.push(("http.listen", cfg.http.listen));
    }
    if cfg.webdav.enabled {
        out.push(("webdav.listen", cfg.webdav.listen));
    }
    out
}

/// The passive ranges of the enabled endpoints.
fn passive_ranges(cfg: &Config) -> Vec<(&'static str, PortRange)> {
    let mut out = Vec::new();
    if cfg.ftp.enabled {
        out.push(("ftp.passive_ports", cfg.ftp.passive_ports));
    }
    if cfg.gridftp.enabled {
        out.push(("gridftp.passive_ports", cfg.gridftp.passive_ports));
    }
    out
}

fn clash(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

pub(super) fn validate(cfg: &Config) -> Result<(), ConfigError> {
    let all = listeners(cfg);
    for (i, (key, addr)) in all.iter().enumerate() {
        if let Some((other, _)) = all[..i].iter().find(|(_, a)| clash(*a, *addr)) {
            return Err(ConfigError::at(
                key,
                format!("{addr} is also {other}'s port; every listener needs its own"),
            ));
        }
    }
    for (range_key, range) in passive_ranges(cfg) {
        let inside = all
            .iter()
            .find(|(_, a)| a.port() != 0 && (range.start..=range.end).contains(&a.port()));
        if let Some((key, addr)) = inside {
            return Err(ConfigError::at(
                range_key,
                format!("{range} contains {key} ({addr}); move one of them"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut Config)) -> Result<(), String> {
        let mut c = Config::default();
        f(&mut c);
        validate(&c).map_err(|e| e.to_string())
    }

    #[test]
    fn the_defaults_pass_with_their_shared_passive_range() {
        assert_eq!(with(|_| {}), Ok(()));
        assert_eq!(with(|c| c.webdav.enabled = false), Ok(()));
    }

    #[test]
    fn listeners_on_one_port_are_refused_naming_both_keys() {
        let e = with(|c| c.gridftp.listen = c.ftp.listen).unwrap_err();
        assert!(
            e.starts_with("gridftp.listen:") && e.contains("ftp.listen"),
            "{e}"
        );
        let e = with(|c| c.http.listen = "127.0.0.1:2121".parse().unwrap()).unwrap_err();
        assert!(
            e.starts_with("http.listen:"),
            "0.0.0.0 overlaps 127.0.0.1: {e}"
        );
        assert_eq!(
            with(|c| {
                c.ftp.listen = "127.0.0.1:2121".parse().unwrap();
                c.http.listen = "127.0.0.2:2121".parse().unwrap();
            }),
            Ok(()),
            "different addresses, same port"
        );
        assert!(with(|c| c.gridftp.listen = "0.0.0.0:2121".parse().unwrap()).is_err());
        assert_eq!(
            with(|c| {
                c.gridftp.enabled = false;
                c.gridftp.listen = c.ftp.listen;
            }),
            Ok(()),
            "a disabled endpoint binds nothing"
        );
        assert_eq!(
            with(|c| {
                c.ftp.listen = "127.0.0.1:0".parse().unwrap();
                c.gridftp.listen = "127.0.0.1:0".parse().unwrap();
            }),
            Ok(())
        );
    }

    #[test]
    fn a_passive_range_holding_a_listener_port_is_refused() {
        let e = with(|c| c.http.listen = "0.0.0.0:50100".parse().unwrap()).unwrap_err();
        assert!(
            e.starts_with("ftp.passive_ports: 50000-50200 contains http.listen"),
            "{e}"
        );
        let e = with(|c| c.gridftp.passive_ports = "2800-2900".parse().unwrap()).unwrap_err();
        assert!(
            e.starts_with("gridftp.passive_ports:") && e.contains("gridftp.listen"),
            "{e}"
        );
    }
}
