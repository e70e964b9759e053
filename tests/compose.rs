//! Compose files for real: the lab `compose/compose.yaml` comes up healthy and serves with
//! test overrides for ports and paths (environment variables, loopback only), and the
//! demo stack obtains a certificate from its own pebble. Uses `docker compose` where it
//! exists, else the v1 `docker-compose`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::docker::{compose, docker_ok, image};
use common::{chmod, free_port, free_range, random_file, run, sha256};

struct Project {
    cmd: Vec<&'static str>,
    file: String,
    name: String,
    env: Vec<(String, String)>,
}

impl Project {
    fn run(&self, args: &[&str]) -> (bool, String) {
        let mut c = Command::new(self.cmd[0]);
        c.args(&self.cmd[1..])
            .args(["-f", &self.file, "-p", &self.name])
            .args(args);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        run(&mut c)
    }

    fn container(&self, service: &str) -> String {
        let (ok, out) = self.run(&["ps", "-q", service]);
        assert!(ok, "{out}");
        out.trim().lines().last().unwrap_or("").to_string()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.run(&["down", "-v", "--remove-orphans"]);
    }
}

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

#[test]
fn lab_compose_comes_up_healthy_and_serves() {
    let (Some(image), Some(cmd)) = (image(), compose()) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    chmod(data.path(), 0o777);
    random_file(&data.path().join("lab.bin"), 1_000_003, 9);
    chmod(&data.path().join("lab.bin"), 0o644);
    let (ftp, http) = (free_port(), free_port());
    let (lo, hi) = free_range(5);
    let p = Project {
        cmd,
        file: format!("{}/compose/compose.yaml", root()),
        name: format!("gdlab{}", std::process::id()),
        env: vec![
            ("GRIDDOCK_IMAGE".into(), image.into()),
            ("GRIDDOCK_BIND".into(), "127.0.0.1".into()),
            ("GRIDDOCK_FTP_PORT".into(), ftp.to_string()),
            ("GRIDDOCK_HTTP_PORT".into(), http.to_string()),
            ("GRIDDOCK_GRIDFTP_PORT".into(), free_port().to_string()),
            ("GRIDDOCK_WEBDAV_PORT".into(), free_port().to_string()),
            ("GRIDDOCK_PASV_MIN".into(), lo.to_string()),
            ("GRIDDOCK_PASV_MAX".into(), hi.to_string()),
            ("GRIDDOCK_DATA".into(), data.path().display().to_string()),
        ],
    };
    let (ok, out) = p.run(&["up", "-d"]);
    assert!(ok, "{out}");
    let id = p.container("griddock");
    let deadline = Instant::now() + Duration::from_secs(60);
    while docker_ok(&["inspect", "-f", "{{.State.Health.Status}}", &id]) != "healthy" {
        assert!(
            Instant::now() < deadline,
            "not healthy: {}",
            p.run(&["logs"]).1
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", &id]),
        "unless-stopped"
    );
    let out = data.path().join("down.bin");
    let url = format!("ftp://127.0.0.1:{ftp}/lab.bin");
    let (ok, log) = run(Command::new("curl").args([
        "-sS",
        "--disable-epsv",
        "-o",
        out.to_str().unwrap(),
        &url,
    ]));
    assert!(ok, "{log}");
    assert_eq!(sha256(&out), sha256(&data.path().join("lab.bin")));
}

#[test]
fn demo_stack_obtains_a_certificate_from_its_pebble() {
    let (Some(image), Some(cmd)) = (image(), compose()) else {
        return;
    };
    if !common::require_tool("pebble") {
        return;
    }
    let (ok, out) = run(&mut Command::new(format!(
        "{}/compose/demo/build-pebble.sh",
        root()
    )));
    assert!(ok, "{out}");
    let (ftp, http) = (free_port(), free_port());
    let p = Project {
        cmd,
        file: format!("{}/compose/demo/compose.yaml", root()),
        name: format!("gddemo{}", std::process::id()),
        env: vec![
            ("GRIDDOCK_IMAGE".into(), image.into()),
            ("DEMO_BIND".into(), "127.0.0.1".into()),
            ("DEMO_FTP_PORT".into(), ftp.to_string()),
            ("DEMO_HTTP_PORT".into(), http.to_string()),
        ],
    };
    let (ok, out) = p.run(&["up", "-d"]);
    assert!(ok, "{out}");
    let id = p.container("griddock");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let logs = common::docker::docker(&["logs", &id]).1;
        if logs.contains("certificate issued") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no certificate from pebble:\n{logs}\n{}",
            p.run(&["logs", "pebble"]).1
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let status = docker_ok(&["exec", &id, "/usr/local/bin/griddock", "cert", "status"]);
    assert!(
        status.contains("source:       acme") && status.contains("Pebble"),
        "{status}"
    );
}
