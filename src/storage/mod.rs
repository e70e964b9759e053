//! Storage: the only way any protocol touches the disk (RFC 959 §5.3.1 pathnames, resolved
//! beneath a root; RFC 3659 §6 TVFS for the virtual path syntax).
//!
//! - [`VPath`] (`vpath.rs`): the client's view, normalised lexically (`..` at `/` stays at
//!   `/`). It is *not* the confinement mechanism.
//! - [`DataRoot`] (`root.rs`, `mutate.rs`): a cap-std directory capability. Every lookup is
//!   resolved beneath it (openat2 `RESOLVE_BENEATH` where available, cap-std's own
//!   component-by-component resolution elsewhere), so `..`, absolute symlinks and symlinks
//!   to the outside cannot leave the root.
//! - [`Upload`] (`upload.rs`, `resume.rs`): atomic uploads through a hidden temporary file
//!   renamed into place on success; failures are kept as a resumable part file.
//! - [`Served`] (`served.rs`): `data_dir` as a whole, its readiness, re-opened when
//!   deleted and created again.
//! - `sweep.rs`: removes upload files left by a crash (`[storage] stale_upload_age`).
//! - [`FileFacts`] (`facts.rs`): what listings and MLST report (RFC 3659 §7.5).
//! - [`StorageError`] (`error.rs`): errno-flavoured errors whose texts FTP replies carry.

pub mod checksum;
mod error;
mod facts;
mod mutate;
mod names;
mod resume;
mod root;
mod served;
pub mod sweep;
mod times;
mod upload;
mod vpath;

pub use error::StorageError;
pub use facts::{DirEntry, FileFacts, FileKind};
pub use root::DataRoot;
pub use served::Served;
pub use upload::{Upload, UploadMode};
pub use vpath::VPath;

/// Prefix of griddock's own files in the data directory (temporary and partial uploads):
/// hidden from listings and refused as any component of a client path.
pub const INTERNAL_PREFIX: &str = ".griddock-";

#[cfg(test)]
mod tests;
