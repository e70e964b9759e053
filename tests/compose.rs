//! Compose files for real: the lab `compose/compose.yaml` comes up healthy and serves with
//! test overrides for ports and paths (environment variables, loopback only), the
//! two-door `compose/replicas/compose.yaml` serves one shared volume through both doors,
//! and the demo stack obtains a certificate from its own pebble and lists over FTPS from
//! the host through its published passive range. Uses `docker compose` where it exists,
//! else the v1 `docker-compose`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::docker::{compose, docker_ok, image};
use common::{chmod, free_range, publish_port, random_file, run, sha256};

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
    let (ftp, http) = (publish_port(), publish_port());
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
            ("GRIDDOCK_GRIDFTP_PORT".into(), publish_port().to_string()),
            ("GRIDDOCK_WEBDAV_PORT".into(), publish_port().to_string()),
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
    let (ftp, http) = (publish_port(), publish_port());
    let (lo, hi) = free_range(4);
    let p = Project {
        cmd,
        file: format!("{}/compose/demo/compose.yaml", root()),
        name: format!("gddemo{}", std::process::id()),
        env: vec![
            ("GRIDDOCK_IMAGE".into(), image.into()),
            ("DEMO_BIND".into(), "127.0.0.1".into()),
            ("DEMO_FTP_PORT".into(), ftp.to_string()),
            ("DEMO_HTTP_PORT".into(), http.to_string()),
            ("DEMO_PASV_MIN".into(), lo.to_string()),
            ("DEMO_PASV_MAX".into(), hi.to_string()),
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
    // A client on the host lists over FTPS: the data connection goes through the
    // published passive range (EPSV, the control address). -k: pebble's CA is made anew
    // at each start and not published.
    let (ok, log) = run(Command::new("curl").args([
        "-sS",
        "--ssl-reqd",
        "-k",
        "--connect-timeout",
        "10",
        &format!("ftp://127.0.0.1:{ftp}/"),
    ]));
    assert!(ok, "FTPS listing from the host: {log}");
}

#[test]
fn replicas_compose_serves_one_volume_through_both_doors() {
    let (Some(image), Some(cmd)) = (image(), compose()) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    chmod(data.path(), 0o777);
    let mut env: Vec<(String, String)> = vec![
        ("GRIDDOCK_IMAGE".into(), image.into()),
        ("GRIDDOCK_DATA".into(), data.path().display().to_string()),
        ("GRIDDOCK_ANONYMOUS".into(), "write".into()),
    ];
    let mut ftp = Vec::new();
    for door in ["A", "B"] {
        let (lo, hi) = free_range(4);
        let port = publish_port();
        ftp.push(port);
        for (k, v) in [
            ("ADDR", "127.0.0.1".to_string()),
            ("FTP_PORT", port.to_string()),
            ("GRIDFTP_PORT", publish_port().to_string()),
            ("HTTP_PORT", publish_port().to_string()),
            ("WEBDAV_PORT", publish_port().to_string()),
            ("PASV_MIN", lo.to_string()),
            ("PASV_MAX", hi.to_string()),
        ] {
            env.push((format!("GRIDDOCK_{door}_{k}"), v));
        }
    }
    let p = Project {
        cmd,
        file: format!("{}/compose/replicas/compose.yaml", root()),
        name: format!("gdreplicas{}", std::process::id()),
        env,
    };
    let (ok, out) = p.run(&["up", "-d"]);
    assert!(ok, "{out}");
    for service in ["griddock-a", "griddock-b"] {
        let id = p.container(service);
        let deadline = Instant::now() + Duration::from_secs(60);
        while docker_ok(&["inspect", "-f", "{{.State.Health.Status}}", &id]) != "healthy" {
            assert!(
                Instant::now() < deadline,
                "{service} not healthy: {}",
                p.run(&["logs"]).1
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    let src = tempfile::NamedTempFile::new().unwrap();
    random_file(src.path(), 1_200_007, 17);
    let up = format!("ftp://127.0.0.1:{}/through-a.bin", ftp[0]);
    let (ok, log) =
        run(Command::new("curl").args(["-sS", "-T", src.path().to_str().unwrap(), &up]));
    assert!(ok, "{log}");
    let out = data.path().join("down-b.bin");
    let down = format!("ftp://127.0.0.1:{}/through-a.bin", ftp[1]);
    let (ok, log) = run(Command::new("curl").args(["-sS", "-o", out.to_str().unwrap(), &down]));
    assert!(ok, "{log}");
    assert_eq!(sha256(&out), sha256(src.path()));
    assert_eq!(
        sha256(&data.path().join("through-a.bin")),
        sha256(src.path())
    );
}
