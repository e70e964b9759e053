//! Storage tests on real directories (one temp dir per test): virtual path tables,
//! confinement against escape attempts through every `DataRoot` method, upload atomicity
//! and resumption, listings and facts, read-only refusals.

mod escape;
mod fixture;
mod ops;
mod readonly;
mod upload;
mod vpath;
