//! griddock: one binary that serves a data directory over FTP (with FXP) and GridFTP,
//! with certificates from ACME, files or a self-signed fallback.
//!
//! Layout (see docs/architecture.md): `config` (figment schema), `storage` (the confined
//! `DataRoot`), `auth` (users file, anonymous), `tls` (hot-swappable certificate store),
//! `ftp` (the protocol engine both endpoints run on), `dav` (the HTTPS/WebDAV data
//! endpoint), `http` (health and metrics), `app` (wiring, signals, graceful shutdown),
//! `utc` (total timestamp conversions).
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
pub mod storage;
pub mod tls;
pub mod utc;
