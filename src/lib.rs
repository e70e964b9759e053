//! griddock: one binary that serves a data directory over FTP (with FXP), GridFTP (GSI,
//! MODE E) and HTTPS/WebDAV (davs://, HTTP third-party copy, a browser page), with
//! certificates from ACME, files or a self-signed fallback.
//!
//! Layout (docs/architecture.md follows one RETR and one MODE E STOR through it):
//! `config` (figment schema), `storage` (the confined `DataRoot`, atomic uploads,
//! checksums), `auth` (users file, tokens, macaroons, rights), `tls` (hot-swappable
//! certificate store, ACME), `gsi` (X.509 proxies, GSSAPI, DCAU), `ftp` (the protocol
//! engine both FTP endpoints run on), `gridftp` (MODE E codec, ranges, markers), `dav`
//! (the HTTPS/WebDAV data endpoint), `http` (health and metrics), `readiness` (what
//! `/readyz` reports, fed by `tls` and `app`), `app` (wiring, signals, graceful shutdown),
//! `utc` (total timestamp conversions), `watch` (background reloads of watched files: users
//! file, certificates, trust directory).
#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod config;
pub mod dav;
pub mod ftp;
pub mod gridftp;
pub mod gsi;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod readiness;
pub mod storage;
pub mod tls;
pub mod utc;
pub mod watch;
