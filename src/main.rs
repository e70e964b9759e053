//! The `griddock` command line: `serve`, `check-config`, `passwd`.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use griddock::config::Config;

#[derive(Parser)]
#[command(
    name = "griddock",
    version,
    about = "FTP-with-FXP and GridFTP data server appliance"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every enabled endpoint until SIGTERM/SIGINT.
    Serve {
        /// Configuration file (TOML); defaults < file < GRIDDOCK_* environment.
        #[arg(long, env = "GRIDDOCK_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Print the effective configuration (secrets redacted) or the first error.
    CheckConfig {
        #[arg(long, env = "GRIDDOCK_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Read a password on stdin and print its argon2id hash for the users file.
    Passwd,
    /// Exit 0 when the local HTTP endpoint answers /readyz with 200 (container
    /// HEALTHCHECK and probes; no shell needed).
    Healthcheck {
        #[arg(long, env = "GRIDDOCK_CONFIG")]
        config: Option<PathBuf>,
        /// Path to probe.
        #[arg(long, default_value = "/readyz")]
        path: String,
    },
    /// Certificate commands.
    Cert {
        #[command(subcommand)]
        command: CertCmd,
    },
}

#[derive(Subcommand)]
enum CertCmd {
    /// Print source, subject, names, issuer, validity and next renewal.
    Status {
        #[arg(long, env = "GRIDDOCK_CONFIG")]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Cmd::Serve { config } => serve(config),
        Cmd::CheckConfig { config } => check_config(config),
        Cmd::Passwd => passwd(),
        Cmd::Healthcheck { config, path } => match load(config) {
            Ok(cfg) => healthcheck(&cfg, &path),
            Err(code) => code,
        },
        Cmd::Cert {
            command: CertCmd::Status { config },
        } => match load(config) {
            Ok(cfg) => {
                print!("{}", griddock::tls::status_report(&cfg));
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
    }
}

fn load(config: Option<PathBuf>) -> Result<Config, ExitCode> {
    Config::load(config.as_deref()).map_err(|e| {
        eprintln!("griddock: configuration error: {e}");
        ExitCode::from(1)
    })
}

fn serve(config: Option<PathBuf>) -> ExitCode {
    let cfg = match load(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    griddock::logging::init(cfg.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(cfg.limits.blocking_threads.max(1))
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("griddock: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(griddock::app::serve(cfg)) {
        Ok(()) => {
            // Transfers still running after the grace period end with the process.
            std::process::exit(0);
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "fatal");
            eprintln!("griddock: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn check_config(config: Option<PathBuf>) -> ExitCode {
    match load(config) {
        Ok(cfg) => {
            for note in cfg.deprecations() {
                eprintln!("griddock: warning: {note}");
            }
            print!("{}", cfg.to_redacted_toml());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn passwd() -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
        eprintln!("griddock: reading the password: {e}");
        return ExitCode::from(1);
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("griddock: empty password");
        return ExitCode::from(1);
    }
    match griddock::auth::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("griddock: {e}");
            ExitCode::from(1)
        }
    }
}

fn healthcheck(cfg: &Config, path: &str) -> ExitCode {
    use std::io::{Read, Write};
    let mut addr = cfg.http.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let probe = || -> std::io::Result<String> {
        let timeout = std::time::Duration::from_secs(3);
        let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        Ok(text)
    };
    match probe() {
        Ok(text) if text.starts_with("HTTP/1.1 200") => ExitCode::SUCCESS,
        Ok(text) => {
            eprintln!("griddock: {path}: {}", text.lines().next().unwrap_or(""));
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("griddock: {addr}: {e}");
            ExitCode::from(1)
        }
    }
}
