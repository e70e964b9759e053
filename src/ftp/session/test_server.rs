//! Test support for the in-process session tests (`duplex_tests.rs`, `handler_tests.rs`):
//! both endpoints built from a `Config` as `griddock serve` builds them
//! (`app::endpoints`), in a temporary directory.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{AnonymousMode, Config, PortRange};
use crate::ftp::Endpoint;

/// A server for one test: its directories and both endpoints.
pub(super) struct TestServer {
    pub(super) dir: tempfile::TempDir,
    pub(super) ftp: Arc<Endpoint>,
    pub(super) gridftp: Arc<Endpoint>,
}

impl TestServer {
    /// `alice`/`secret` may read and write; anonymous users may read; passive ports from
    /// `ports` (each test module its own range).
    pub(super) async fn start(ports: PortRange) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users.toml");
        let hash = crate::auth::hash_password("secret").unwrap();
        let entry = format!(
            "[[user]]\nname = \"alice\"\npassword_hash = \"{hash}\"\npermissions = \"read-write\"\n"
        );
        std::fs::write(&users, entry).unwrap();
        let mut cfg = Config {
            data_dir: dir.path().join("data"),
            state_dir: dir.path().join("state"),
            ..Config::default()
        };
        std::fs::create_dir_all(&cfg.state_dir).unwrap();
        cfg.auth.users_file = Some(users);
        cfg.auth.anonymous = AnonymousMode::Read;
        cfg.auth.failed_login_delay = Duration::ZERO;
        cfg.ftp.passive_ports = ports;
        cfg.gridftp.passive_ports = ports;
        let (ftp, gridftp) = crate::app::endpoints(&cfg).await.unwrap();
        TestServer { dir, ftp, gridftp }
    }

    pub(super) fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }
}
