//! The control channel (RFC 959 §4–5): line framing, the command parser and replies.

pub mod codec;
pub mod command;
pub mod parser;
pub mod reply;

pub use codec::{Frame, LineDecoder, MAX_LINE};
pub use command::{Command, DataType, EpsvArg, Opts, ProtLevel, RetrOpts, Secret};
pub use parser::{parse, ParseError};
pub use reply::Reply;
