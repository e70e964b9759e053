//! The control channel (RFC 959 §4–5): line framing, the verb table, the command
//! parser and replies. Imports run one way: `parser` (a line → its verb's row) →
//! `verbs` (the table, and each command's name and policy) → `args` (argument parsers)
//! → `command` (the typed commands).

pub mod args;
pub mod codec;
pub mod command;
pub mod parser;
pub mod reply;
pub mod verbs;

pub use args::ParseError;
pub use codec::{Frame, LineDecoder, MAX_LINE};
pub use command::{Command, DataType, EpsvArg, Opts, ProtLevel, RetrOpts, Secret};
pub use parser::parse;
pub use reply::Reply;
pub use verbs::{Need, Verb, VERBS};
