//! Certificates from a real ACME server (pebble, Debian's package) over loopback:
//! http-01 and tls-alpn-01 issuance verified by curl with pebble's root, renewal that keeps
//! old sessions, restart reusing account and certificate, ACME down at boot, and the
//! `files` source reloading on rename and symlink swaps. pebble's default 5 % badNonce
//! rejection is on everywhere, and one test raises it to 25 %.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::pebble::{file_serial, ftps_serial, Pebble};
use common::{require_tool, run, Griddock};

const ISSUED: &str = "certificate issued";

fn peers() -> bool {
    require_tool("pebble") && require_tool("openssl") && require_tool("curl")
}

/// griddock (public_host = localhost) and a pebble validating against its listeners.
fn setup(challenge: &str, extra: &str, validity: Option<u64>) -> (Griddock, Pebble) {
    let mut g = Griddock::prepare();
    let mut p = Pebble::configure(g.http.port(), g.webdav.port(), validity);
    p.start();
    g.launch(
        &format!(
            "public_host = \"localhost\"\n{extra}{}",
            p.acme_toml(challenge)
        ),
        &[],
    );
    (g, p)
}

fn acme_cert(g: &Griddock) -> std::path::PathBuf {
    let dir = g.state().join("acme");
    let sub = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    sub.join("cert.pem")
}

fn curl_ftps_ok(g: &Griddock, root: &std::path::Path) -> (bool, String) {
    let url = format!("ftp://localhost:{}/", g.ftp.port());
    run(Command::new("curl").args([
        "-sS",
        "--ssl-reqd",
        "--cacert",
        root.to_str().unwrap(),
        &url,
    ]))
}

#[test]
fn http01_issues_a_verifiable_certificate_and_restart_reuses_it() {
    if !peers() {
        return;
    }
    let (mut g, p) = setup("http-01", "", None);
    assert!(
        g.wait_log(ISSUED, Duration::from_secs(60)),
        "{}\n{}",
        g.log(),
        p.log()
    );
    let root = p.root();
    let (ok, out) = curl_ftps_ok(&g, &root);
    assert!(
        ok,
        "curl could not verify the FTPS certificate with pebble's root: {out}"
    );
    let issued = file_serial(&acme_cert(&g));
    assert_eq!(
        ftps_serial(g.ftp.port(), "localhost"),
        issued,
        "served serial = issued serial"
    );
    let (_, ready) = g.http_get("/readyz").unwrap();
    assert!(
        ready.contains("tls: ready") && !ready.contains("degraded"),
        "{ready}"
    );

    // Restart: stored account and certificate are used, nothing is ordered.
    let orders_before = p.log().matches("There are now").count();
    g.restart(&[]);
    // Bounded: once the renewal loop has decided to wait, nothing will be ordered.
    assert!(
        g.wait_log(
            "certificate current; waiting to renew",
            Duration::from_secs(10)
        ),
        "{}",
        g.log()
    );
    let log = g.log();
    assert!(log.contains("certificate installed"), "{log}");
    assert!(
        !log.contains("ordering a certificate") && !log.contains("created an ACME account"),
        "{log}"
    );
    assert_eq!(ftps_serial(g.ftp.port(), "localhost"), issued);
    assert_eq!(
        p.log().matches("There are now").count(),
        orders_before,
        "pebble saw a new order"
    );
    let (ok, out) = run(Command::new(Griddock::bin())
        .args(["cert", "status", "--config"])
        .arg(g.dir.path().join("griddock.toml"))
        .env_remove("GRIDDOCK_CONFIG"));
    assert!(
        ok && out.contains("source:       acme") && out.contains("names:        localhost"),
        "{out}"
    );
    assert!(
        out.contains(&format!("serial:       {}", issued.to_ascii_lowercase())),
        "{out}"
    );
}

#[test]
fn tls_alpn01_issues_through_the_webdav_listener() {
    if !peers() {
        return;
    }
    let (g, p) = setup("tls-alpn-01", "", None);
    assert!(
        g.wait_log(ISSUED, Duration::from_secs(60)),
        "{}\n{}",
        g.log(),
        p.log()
    );
    let root = p.root();
    // The WebDAV endpoint serves the issued certificate (it owns every path: a file).
    std::fs::write(g.data().join("healthz"), "a file\n").unwrap();
    let url = format!("https://localhost:{}/healthz", g.webdav.port());
    let (ok, out) =
        run(Command::new("curl").args(["-sS", "--cacert", root.to_str().unwrap(), &url]));
    assert!(ok && out == "a file\n", "{out}");
    let (ok, out) = curl_ftps_ok(&g, &root);
    assert!(ok, "{out}");
}

/// Requests pebble's log shows more than once although a clean issuance sends each of
/// them once (new account, new order, challenge, finalize): each repeat is a request
/// resent after a badNonce.
fn resent_requests(pebble_log: &str) -> usize {
    [
        "POST /sign-me-up ",
        "POST /order-plz ",
        "POST /chalZ/",
        "POST /finalize-order/",
    ]
    .iter()
    .map(|r| pebble_log.matches(r).count().saturating_sub(1))
    .sum()
}

#[test]
fn bad_nonces_are_retried() {
    if !peers() {
        return;
    }
    // pebble rejects 25 % of good nonces, but by chance it may reject none of the four
    // requests we can see repeated (about 1 in 3): then issue again with a fresh
    // griddock, up to 6 times, so the test never passes without a badNonce retried.
    for round in 1..=6 {
        let mut g = Griddock::prepare();
        let mut p = Pebble::configure(g.http.port(), g.webdav.port(), None)
            .env("PEBBLE_WFE_NONCEREJECT", "25");
        p.start();
        g.launch(
            &format!("public_host = \"localhost\"\n{}", p.acme_toml("http-01")),
            &[],
        );
        assert!(
            g.wait_log(ISSUED, Duration::from_secs(90)),
            "{}\n{}",
            g.log(),
            p.log()
        );
        assert!(p.log().contains("reject 25% of good nonces"), "{}", p.log());
        assert_eq!(
            g.metric("griddock_acme_failures_total"),
            0.0,
            "a badNonce failed an issuance"
        );
        if resent_requests(&p.log()) > 0 {
            return;
        }
        eprintln!("round {round}: pebble rejected no visible nonce; again");
    }
    panic!("pebble never rejected a nonce in 6 issuances: nothing was tested");
}

#[test]
fn acme_down_at_boot_serves_degraded_then_recovers() {
    if !peers() {
        return;
    }
    let mut g = Griddock::prepare();
    let mut p = Pebble::configure(g.http.port(), g.webdav.port(), None);
    g.launch(
        &format!(
            "public_host = \"localhost\"\n{}retry_min = \"1s\"\n",
            p.acme_toml("http-01")
        ),
        &[],
    );
    // pebble is not running: griddock serves (self-signed) and says degraded.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, body) = g.http_get("/readyz").unwrap();
        if body.contains("degraded") {
            assert_eq!(code, 200, "degraded but serving: {body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never reported degraded: {body}\n{}",
            g.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(g.metric("griddock_acme_failures_total") >= 1.0);
    let mut f = common::ftp::Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    p.start();
    assert!(g.wait_log(ISSUED, Duration::from_secs(60)), "{}", g.log());
    let (_, body) = g.http_get("/readyz").unwrap();
    assert!(!body.contains("degraded"), "{body}");
    assert_eq!(
        f.code("NOOP"),
        200,
        "session opened during the outage survives"
    );
}

#[test]
fn renewal_swaps_certificate_without_dropping_sessions() {
    if !peers() {
        return;
    }
    // Renew 12 s before expiry of a 20 s certificate: a new one every ~8 s.
    let mut g = Griddock::prepare();
    let mut p2 = Pebble::configure(g.http.port(), g.webdav.port(), Some(20));
    p2.start();
    g.launch(
        &format!(
            "public_host = \"localhost\"\n{}renew_before = \"12s\"\n",
            p2.acme_toml("http-01")
        ),
        &[],
    );
    assert!(g.wait_log(ISSUED, Duration::from_secs(60)), "{}", g.log());
    let root = p2.root();
    let (mut old, first) = tls_session(&g, &root);
    let deadline = Instant::now() + Duration::from_secs(40);
    let second = loop {
        let s = ftps_serial(g.ftp.port(), "localhost");
        if s != first {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no renewal happened: {}",
            g.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_ne!(first, second);
    assert_eq!(
        cmd(&mut old, "NOOP"),
        200,
        "session opened before the renewal still works"
    );
    let (_, fresh) = tls_session(&g, &root);
    assert_ne!(fresh, first, "a new session sees the new certificate");
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// An FTPS control session verified against `root`; returns it and the served serial.
fn tls_session(g: &Griddock, root: &std::path::Path) -> (BufReader<Tls>, String) {
    let pem = std::fs::read(root).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut &pem[..]) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut plain = BufReader::new(TcpStream::connect(g.ftp).unwrap());
    let mut line = String::new();
    plain.read_line(&mut line).unwrap();
    plain.get_mut().write_all(b"AUTH TLS\r\n").unwrap();
    line.clear();
    plain.read_line(&mut line).unwrap();
    assert!(line.starts_with("234"), "{line}");
    let tcp = plain.into_inner();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
    let mut s = BufReader::new(rustls::StreamOwned::new(conn, tcp));
    assert_eq!(cmd(&mut s, "FEAT"), 211);
    let der = s.get_ref().conn.peer_certificates().unwrap()[0].clone();
    let info = griddock::tls::x509::CertInfo::from_der(der.as_ref()).unwrap();
    (s, info.serial_hex.to_ascii_uppercase())
}

fn cmd(s: &mut BufReader<Tls>, line: &str) -> u16 {
    s.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .unwrap();
    s.get_mut().flush().unwrap();
    let mut l = String::new();
    s.read_line(&mut l).unwrap();
    let code: u16 = l[..3].parse().unwrap();
    if l.as_bytes()[3] == b'-' {
        loop {
            l.clear();
            s.read_line(&mut l).unwrap();
            if l.starts_with(&format!("{code} ")) {
                break;
            }
        }
    }
    code
}

#[test]
fn files_source_reloads_on_rename_and_symlink_swap_and_ignores_corrupt_files() {
    if !require_tool("openssl") {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let make = |name: &str| {
        let (k, c) = (
            certs.path().join(format!("{name}.key")),
            certs.path().join(format!("{name}.crt")),
        );
        let (ok, out) = run(Command::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            k.to_str().unwrap(),
            "-out",
            c.to_str().unwrap(),
        ]));
        assert!(ok, "{out}");
        (c, k)
    };
    let (c1, k1) = make("one");
    let (c2, k2) = make("two");
    let (c3, k3) = make("three");
    // Kubernetes-style secret mount: tls.crt -> ..data/tls.crt, ..data -> ..v1
    let mount = certs.path().join("mount");
    std::fs::create_dir_all(mount.join("..v1")).unwrap();
    std::fs::copy(&c1, mount.join("..v1/tls.crt")).unwrap();
    std::fs::copy(&k1, mount.join("..v1/tls.key")).unwrap();
    std::os::unix::fs::symlink("..v1", mount.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/tls.crt", mount.join("tls.crt")).unwrap();
    std::os::unix::fs::symlink("..data/tls.key", mount.join("tls.key")).unwrap();
    let g = Griddock::start(&format!(
        "[tls]\nsource = \"files\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        mount.join("tls.crt").display(),
        mount.join("tls.key").display()
    ));
    let served = || ftps_serial(g.ftp.port(), "localhost");
    let wait_for = |want: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while served() != want {
            assert!(
                Instant::now() < deadline,
                "still serving the old certificate:\n{}",
                g.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    assert_eq!(served(), file_serial(&c1));

    // Symlink swap, as kubelet does: new ..v2, atomically repoint ..data.
    std::fs::create_dir_all(mount.join("..v2")).unwrap();
    std::fs::copy(&c2, mount.join("..v2/tls.crt")).unwrap();
    std::fs::copy(&k2, mount.join("..v2/tls.key")).unwrap();
    std::os::unix::fs::symlink("..v2", mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    wait_for(&file_serial(&c2));

    // Rename into place (an editor or cert-manager writing files directly).
    std::fs::remove_file(mount.join("tls.crt")).unwrap();
    std::fs::remove_file(mount.join("tls.key")).unwrap();
    std::fs::copy(&k3, mount.join("tls.key")).unwrap();
    std::fs::copy(&c3, mount.join("tls.crt.new")).unwrap();
    std::fs::rename(mount.join("tls.crt.new"), mount.join("tls.crt")).unwrap();
    wait_for(&file_serial(&c3));

    // A corrupt replacement is ignored.
    std::fs::write(
        mount.join("tls.crt.new"),
        b"-----BEGIN CERTIFICATE-----\ngarbage\n",
    )
    .unwrap();
    std::fs::rename(mount.join("tls.crt.new"), mount.join("tls.crt")).unwrap();
    assert!(
        g.wait_log("new certificate rejected", Duration::from_secs(5)),
        "{}",
        g.log()
    );
    assert_eq!(
        served(),
        file_serial(&c3),
        "corrupt file replaced a good certificate"
    );
}

/// An ACME outage at renewal time: griddock keeps serving the last good certificate,
/// says degraded on /readyz, and retries with exponential backoff (retry_min 1 s, then
/// 2 s, 4 s).
#[test]
fn acme_outage_backs_off_and_keeps_the_last_good_certificate() {
    if !peers() {
        return;
    }
    let mut g = Griddock::prepare();
    // A 120 s certificate renewed 110 s before expiry: renewal is due 10 s after issuance,
    // and pebble is stopped before that, so no renewal can succeed first.
    let mut p = Pebble::configure(g.http.port(), g.webdav.port(), Some(120));
    p.start();
    g.launch(
        &format!(
            "public_host = \"localhost\"\n{}renew_before = \"110s\"\nretry_min = \"1s\"\n",
            p.acme_toml("http-01")
        ),
        &[],
    );
    assert!(g.wait_log(ISSUED, Duration::from_secs(60)), "{}", g.log());
    p.stop();
    let first = ftps_serial(g.ftp.port(), "localhost");
    let deadline = Instant::now() + Duration::from_secs(60);
    let retries = loop {
        let retries: Vec<String> = g
            .log()
            .lines()
            .filter(|l| l.contains("certificate issuance failed"))
            .filter_map(|l| l.split("retry_in=").nth(1))
            .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
            .collect();
        if retries.len() >= 3 {
            break retries;
        }
        assert!(
            Instant::now() < deadline,
            "no 3 failed renewals: {}",
            g.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        retries[..3],
        ["1s", "2s", "4s"],
        "backoff doubles: {retries:?}"
    );
    assert_eq!(
        ftps_serial(g.ftp.port(), "localhost"),
        first,
        "the last good certificate is still served"
    );
    let (code, body) = g.http_get("/readyz").unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("degraded") && body.contains("serving the certificate issued by"),
        "{body}"
    );
}
