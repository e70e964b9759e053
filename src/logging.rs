//! Logging with tracing-subscriber: human-readable (default) or JSON lines on stderr;
//! `RUST_LOG` overrides the default `info` filter. Panics are logged through tracing too
//! (with the session span: peer and user), not printed beside the log.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber; a second call is a no-op.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(panic = %info, "a task panicked; its session or job ends");
    }));
}
