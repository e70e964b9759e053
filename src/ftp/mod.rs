//! The FTP protocol engine (RFC 959 with RFC 2228/4217 FTPS, RFC 2389 FEAT/OPTS, RFC 2428
//! EPRT/EPSV, RFC 3659 SIZE/MDTM/REST/MLST). Both endpoints run on it: the FTP endpoint
//! with these verbs, the GridFTP endpoint with the GridFTP extensions switched on.

pub mod commands;
pub mod control;
pub mod data;
pub mod error;
pub mod limits;
pub mod server;
pub mod session;
pub mod zerocopy;

pub use server::{serve, Endpoint, Settings};
