//! The FTP protocol engine (RFC 959 with RFC 2228/4217 FTPS, RFC 2389 FEAT/OPTS, RFC 2428
//! EPRT/EPSV, RFC 3659 SIZE/MDTM/REST/MLST). Both endpoints run on it: the FTP endpoint
//! with these verbs, the GridFTP endpoint with the GridFTP extensions switched on (each
//! endpoint's [`Features`], built from its own config section).

pub mod commands;
pub mod control;
pub mod data;
pub mod endpoint;
pub mod error;
pub mod features;
pub mod limits;
pub mod mlst_facts;
pub mod server;
pub mod session;
pub mod zerocopy;

pub use endpoint::{Endpoint, Settings};
pub use features::{DcauOffer, Features};
pub use server::serve;
