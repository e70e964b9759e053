//! The command line: check-config (errors name the key), passwd, zero-config start, and
//! SIGTERM draining a running transfer before exiting 0.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::ftp::Ftp;
use common::{run, Griddock};

fn check_config(toml: &str, env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, toml).unwrap();
    let mut cmd = Command::new(Griddock::bin());
    cmd.args(["check-config", "--config"])
        .arg(&path)
        .env_remove("GRIDDOCK_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

#[test]
fn check_config_names_the_offending_key() {
    let (ok, out) = check_config("[ftp]\nlisen = \"0.0.0.0:21\"\n", &[]);
    assert!(!ok && out.contains("ftp.lisen"), "{out}");
    let (ok, out) = check_config("[ftp]\npassive_ports = \"60000-50000\"\n", &[]);
    assert!(
        !ok && out.contains("ftp.passive_ports") && out.contains("60000-50000"),
        "{out}"
    );
    let (ok, out) = check_config("", &[("GRIDDOCK_FTP__FXP", "sometimes")]);
    assert!(!ok && out.contains("ftp.fxp"), "{out}");
    let (ok, out) = check_config("", &[("GRIDDOCK_FTP__BOGUS", "1")]);
    assert!(!ok && out.contains("bogus"), "{out}");
}

#[test]
fn check_config_refuses_listeners_that_cannot_all_be_bound() {
    let (ok, out) = check_config(
        "[ftp]\nlisten = \"0.0.0.0:2811\"\n[gridftp]\nlisten = \"0.0.0.0:2811\"\n",
        &[],
    );
    assert!(
        !ok && out.contains("gridftp.listen: 0.0.0.0:2811 is also ftp.listen's port"),
        "{out}"
    );
    let (ok, out) = check_config("", &[("GRIDDOCK_HTTP__LISTEN", "127.0.0.1:2121")]);
    assert!(
        !ok && out.contains("http.listen") && out.contains("ftp.listen"),
        "{out}"
    );
    let (ok, out) = check_config("[ftp]\npassive_ports = \"2000-3000\"\n", &[]);
    assert!(
        !ok && out.contains("ftp.passive_ports: 2000-3000 contains ftp.listen (0.0.0.0:2121)"),
        "{out}"
    );
    let (ok, out) = check_config("[gridftp]\npassive_ports = \"8000-8100\"\n", &[]);
    assert!(
        !ok && out.contains("gridftp.passive_ports") && out.contains("http.listen"),
        "{out}"
    );
    // Shared passive ranges are the default and stay allowed; a disabled endpoint binds
    // nothing, so its port may repeat another's.
    let (ok, out) = check_config(
        "[ftp]\npassive_ports = \"40000-40100\"\n[gridftp]\npassive_ports = \"40050-40200\"\n",
        &[],
    );
    assert!(ok, "{out}");
    let (ok, out) = check_config(
        "[gridftp]\nenabled = false\nlisten = \"0.0.0.0:2121\"\n",
        &[],
    );
    assert!(ok, "{out}");
}

#[test]
fn check_config_prints_the_effective_config() {
    let (ok, out) = check_config(
        "public_host = \"ftp.example.org\"\n",
        &[("GRIDDOCK_FTP__LISTEN", "127.0.0.1:21")],
    );
    assert!(ok, "{out}");
    assert!(out.contains("public_host = \"ftp.example.org\""), "{out}");
    assert!(
        out.contains("listen = \"127.0.0.1:21\""),
        "env beats file and defaults: {out}"
    );
    assert!(out.contains("passive_ports = \"50000-50200\""), "{out}");
}

#[test]
fn check_config_validates_webdav_and_warns_about_the_retired_https() {
    let (ok, out) = check_config(
        "[tls]\nsource = \"acme\"\n[acme]\nchallenge = \"tls-alpn-01\"\ndomains = [\"x.example\"]\n\
         [webdav]\nenabled = false\n",
        &[],
    );
    assert!(!ok && out.contains("webdav.enabled"), "{out}");
    let (ok, out) = check_config("[https]\nlisten = \"127.0.0.1:9443\"\n", &[]);
    assert!(ok, "{out}");
    assert!(out.contains("warning: https.listen is deprecated"), "{out}");
    assert!(
        out.contains("[webdav]\nenabled = true\nlisten = \"127.0.0.1:9443\""),
        "{out}"
    );
}

#[test]
fn passwd_prints_an_argon2id_hash() {
    let entry = common::user_entry("x", "pw", "read");
    assert!(entry.contains("$argon2id$v=19$"), "{entry}");
}

#[test]
fn sigterm_lets_a_running_transfer_finish_then_exits_zero() {
    let mut g = Griddock::start("shutdown_grace = \"20s\"\n");
    let size = 24 << 20;
    std::fs::write(g.data().join("big"), vec![9u8; size]).unwrap();
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    let addr = f.pasv();
    let mut data = TcpStream::connect(addr).unwrap();
    assert_eq!(f.cmd("RETR big").0, 150);
    let mut first = vec![0u8; 1 << 20];
    data.read_exact(&mut first).unwrap();
    // SIGTERM while the transfer is in flight (the client reads slowly).
    let pid = g.pid().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    // The listener closes soon after the signal; poll rather than guess how soon.
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(g.ftp).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut rest = Vec::new();
    let started = Instant::now();
    while let Ok(n) = data.by_ref().take(256 << 10).read_to_end(&mut rest) {
        if n == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        first.len() + rest.len(),
        size,
        "transfer cut short by shutdown"
    );
    assert_eq!(f.reply().0, 226);
    let status = g
        .terminate(Duration::from_secs(10))
        .expect("griddock did not exit");
    assert_eq!(status.code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// A transfer that outlives `shutdown_grace` (a client that stopped reading) does not
/// hold the process: SIGTERM exits 0 after the grace, saying so in the log.
#[test]
fn sigterm_grace_expiry_ends_a_stalled_transfer() {
    let mut g = Griddock::start("shutdown_grace = \"1s\"\n");
    common::random_file(&g.data().join("big"), 64 << 20, 3);
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    let addr = f.pasv();
    let mut data = TcpStream::connect(addr).unwrap();
    assert_eq!(f.cmd("RETR big").0, 150);
    let mut first = vec![0u8; 1 << 20];
    data.read_exact(&mut first).unwrap();
    let t0 = Instant::now();
    let status = g
        .terminate(Duration::from_secs(10))
        .expect("griddock still running 10 s after SIGTERM with a 1 s grace");
    let took = t0.elapsed();
    assert_eq!(status.code(), Some(0));
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "exited {took:?} after SIGTERM with a 1 s grace"
    );
    assert!(
        g.log()
            .contains("shutdown grace expired with transfers still running"),
        "{}",
        g.log()
    );
}

/// `log_format = "json"`: every log line is one JSON object, and the transfer log line
/// carries its fields as JSON values.
#[test]
fn json_logs_are_one_object_per_line() {
    let g = Griddock::start("log_format = \"json\"\n[auth]\nanonymous = \"read\"\n");
    std::fs::write(g.data().join("f"), b"12345").unwrap();
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    assert_eq!(f.retr("f"), (226, b"12345".to_vec()));
    assert!(
        g.wait_log("griddock::xferlog", Duration::from_secs(5)),
        "{}",
        g.log()
    );
    let mut transfers = 0;
    for line in g.log().lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v.get("level").is_some() && v.get("timestamp").is_some(),
            "{line}"
        );
        if v["target"] == "griddock::xferlog" {
            transfers += 1;
            assert_eq!(v["bytes"], 5, "{line}");
            assert_eq!(
                (&v["verb"], &v["message"]),
                (&"RETR".into(), &"transfer".into()),
                "{line}"
            );
        }
    }
    assert_eq!(transfers, 1);
}

#[test]
fn zero_config_serves_data_read_only_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/hello.txt"), b"hi").unwrap();
    // Free ports and a passive range that holds none of them (griddock checks that).
    let ports = Griddock::prepare();
    let (ftp, http, (lo, hi)) = (ports.ftp.port(), ports.http.port(), ports.passive);
    // Only the ports differ from the built-in defaults (2121 may be busy on this host).
    let child = Command::new(Griddock::bin())
        .arg("serve")
        .current_dir(dir.path())
        .env("GRIDDOCK_FTP__LISTEN", format!("127.0.0.1:{ftp}"))
        .env("GRIDDOCK_HTTP__LISTEN", format!("127.0.0.1:{http}"))
        .env("GRIDDOCK_FTP__PASSIVE_PORTS", format!("{lo}-{hi}"))
        .env("GRIDDOCK_GRIDFTP__PASSIVE_PORTS", format!("{lo}-{hi}"))
        .env("GRIDDOCK_GRIDFTP__LISTEN", ports.gridftp.to_string())
        .env("GRIDDOCK_WEBDAV__LISTEN", ports.webdav.to_string())
        .env_remove("GRIDDOCK_CONFIG")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = common::Reaped(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !matches!(
        common::http_get(([127, 0, 0, 1], http).into(), "/readyz"),
        Ok((200, _))
    ) {
        assert!(Instant::now() < deadline, "not ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut f = Ftp::connect(([127, 0, 0, 1], ftp).into());
    f.login("anonymous", "guest@");
    assert_eq!(f.retr("hello.txt"), (226, b"hi".to_vec()));
    assert_eq!(f.cmd("MKD x").0, 550, "anonymous is read-only by default");
    let (_, feat) = f.cmd("FEAT");
    assert!(feat.contains(" AUTH TLS"), "{feat}");
    assert!(dir.path().join("state/tls/selfsigned.crt").exists());
    let _ = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    let status = child.wait_for(Duration::from_secs(10));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "exit after SIGTERM");
}

#[test]
fn port_in_use_fails_clearly_and_never_reports_ready() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ftp = busy.local_addr().unwrap();
    let http = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(Griddock::bin())
        .arg("serve")
        .current_dir(dir.path())
        .env("GRIDDOCK_FTP__LISTEN", ftp.to_string())
        .env("GRIDDOCK_HTTP__LISTEN", format!("127.0.0.1:{http}"))
        .env("GRIDDOCK_GRIDFTP__ENABLED", "false")
        .env_remove("GRIDDOCK_CONFIG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready_seen = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        if let Ok((code, _)) = common::http_get(([127, 0, 0, 1], http).into(), "/readyz") {
            ready_seen |= code == 200;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&ftp.to_string()),
        "error names the address: {err}"
    );
    assert!(
        !ready_seen,
        "/readyz said ready while the FTP port could not be bound"
    );
}

#[test]
fn griddock_config_variable_names_the_file_and_is_not_a_config_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.toml");
    std::fs::write(&path, "public_host = \"via-env-file.example\"\n").unwrap();
    let (ok, out) = run(Command::new(Griddock::bin())
        .arg("check-config")
        .env("GRIDDOCK_CONFIG", &path));
    assert!(ok, "{out}");
    assert!(out.contains("via-env-file.example"), "{out}");
    let (ok, out) = run(Command::new(Griddock::bin())
        .args(["check-config", "--config"])
        .arg(&path)
        .env("GRIDDOCK_FTP__LISEN", "x"));
    assert!(
        !ok && out.contains("unknown key \"ftp.lisen\"") && !out.contains("lisen.lisen"),
        "{out}"
    );
}
