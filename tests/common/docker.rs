//! Docker helpers shared by the container and compose tests.

use std::process::Command;
use std::sync::OnceLock;

use super::{require_tool, run};

pub fn docker(args: &[&str]) -> (bool, String) {
    run(Command::new("docker").args(args))
}

pub fn docker_ok(args: &[&str]) -> String {
    let (ok, out) = docker(args);
    assert!(ok, "docker {args:?}: {out}");
    out.trim().to_string()
}

/// The longest an image build may take (it compiles griddock statically).
const IMAGE_BUILD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1800);

/// The image under test, built once per test binary with images/build.sh (offline) unless
/// GRIDDOCK_TEST_IMAGE names one. `None` (outside CI) when docker is missing.
pub fn image() -> Option<&'static str> {
    static IMAGE: OnceLock<Option<String>> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            if !require_tool("docker") {
                return None;
            }
            if let Ok(tag) = std::env::var("GRIDDOCK_TEST_IMAGE") {
                return Some(tag);
            }
            let tag = "griddock:test".to_string();
            // A static release build from scratch on a fresh 2-core machine: minutes.
            let (ok, out) = super::run_timeout(
                Command::new("images/build.sh")
                    .arg(&tag)
                    .current_dir(env!("CARGO_MANIFEST_DIR")),
                IMAGE_BUILD_TIMEOUT,
            );
            assert!(ok, "images/build.sh failed:\n{out}");
            Some(tag)
        })
        .as_deref()
}

/// `docker compose` (v2) where it exists, else the v1 `docker-compose`.
pub fn compose() -> Option<Vec<&'static str>> {
    if run(Command::new("docker").args(["compose", "version"])).0 {
        return Some(vec!["docker", "compose"]);
    }
    require_tool("docker-compose").then(|| vec!["docker-compose"])
}
