//! The browser page on davs:// (issue 21) in real headless Chromium (Debian's chromium +
//! chromium-driver, driven by python3-selenium: tests/fixtures/browser_driver.py): login,
//! create folder, uploads by the file input with a reload in the middle of a large one
//! and resume, download and checksum comparison, rename, delete; hostile names shown as
//! text, HTML files downloaded not rendered, CSRF and cross-site posts refused,
//! anonymous read only; session cookies after logout and expiry (checked with curl too);
//! a phone-width window with a folder pick and a drop. The upload API's limits and
//! guards, and X.509 certificate sessions, with curl. Screenshots:
//! target/browser-artefacts/<scenario>/.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{missing_peer, require_tool, sha256, user_entry, Griddock};

const PW: &str = "browser-pw";
const DRIVER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/browser_driver.py"
);

/// chromium, chromedriver and python3-selenium (else a skip, or a failure when strict).
fn have_browser() -> bool {
    if !(require_tool("chromium") && require_tool("chromedriver")) {
        return false;
    }
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import selenium"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok || missing_peer("python3-selenium", "apt-get install python3-selenium")
}

/// griddock with alice (read-write) in the users file and anonymous read.
fn start(extra: &str) -> Griddock {
    start_with_delay(extra, "10ms")
}

fn start_with_delay(extra: &str, failed_login_delay: &str) -> Griddock {
    let users = user_entry("alice", PW, "read-write");
    let mut g = Griddock::prepare();
    let users_path = g.dir.path().join("users.toml");
    std::fs::write(&users_path, users).unwrap();
    g.launch(
        &format!(
            "{extra}[auth]\nusers_file = \"{}\"\nfailed_login_delay = \"{failed_login_delay}\"\n",
            users_path.display()
        ),
        &[],
    );
    g
}

fn artefacts(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/browser-artefacts")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn base_args(g: &Griddock, test: &str) -> serde_json::Value {
    let shots = artefacts(test);
    serde_json::json!({
        "base": format!("https://127.0.0.1:{}", g.webdav.port()),
        "hostport": format!("127.0.0.1:{}", g.webdav.port()),
        "gsiftp_port": g.gridftp.port(),
        "user": "alice",
        "password": PW,
        "shots": shots.to_str().unwrap(),
        "downloads": g.dir.path().join("downloads").to_str().unwrap(),
        // One chromedriver port per browser a scenario opens (at most two today).
        "driver_ports": common::free_ports::<4>(),
    })
}

/// Runs one scenario; it prints its findings as `RESULT {json}`.
fn drive(scenario: &str, args: &serde_json::Value, limit: Duration) -> serde_json::Value {
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.args([DRIVER, scenario, &args.to_string()]);
    let (ok, text) = common::run_timeout(&mut cmd, limit);
    assert!(ok, "{scenario}:\n{text}");
    // Step timings and screenshots (shown with --nocapture, or when the test fails).
    eprintln!("{text}");
    let line = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no result: {text}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A file of `mib` MiB, fast to make: one random MiB, each copy stamped with its index.
fn big_file(path: &Path, mib: usize) {
    let base = path.with_extension("seed");
    common::random_file(&base, 1 << 20, 21);
    let block = std::fs::read(&base).unwrap();
    std::fs::remove_file(&base).unwrap();
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut b = block;
    for i in 0..mib {
        b[..8].copy_from_slice(&(i as u64).to_le_bytes());
        f.write_all(&b).unwrap();
    }
    f.flush().unwrap();
}

fn adler32(path: &Path) -> String {
    let mut f = std::fs::File::open(path).unwrap();
    griddock::storage::checksum::compute(
        &mut f,
        griddock::storage::checksum::Algorithm::Adler32,
        0,
        None,
    )
    .unwrap()
}

fn internal_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".griddock-"))
        .collect()
}

/// Size of the large upload: 1 GiB unless GRIDDOCKTEST_BROWSER_BIG_MIB says otherwise.
fn big_mib() -> usize {
    std::env::var("GRIDDOCKTEST_BROWSER_BIG_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

#[test]
fn login_mkdir_upload_reload_resume_download_rename_delete() {
    if !have_browser() {
        return;
    }
    let g = start("");
    let src = g.dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let (a, b, big) = (
        src.join("notes.txt"),
        src.join("b.dat"),
        src.join("big.bin"),
    );
    common::random_file(&a, 300_000, 1);
    common::random_file(&b, (20 << 20) + 5, 2);
    let mib = big_mib();
    let t = Instant::now();
    big_file(&big, mib);
    eprintln!("made {mib} MiB in {:?}", t.elapsed());
    let mut args = base_args(&g, "main");
    args["small"] = serde_json::json!([a.to_str().unwrap(), b.to_str().unwrap()]);
    args["big"] = big.to_str().unwrap().into();
    args["reload_at_pct"] = 30.into();
    args["big_timeout"] = 240.into();
    let t = Instant::now();
    let out = drive("main", &args, Duration::from_secs(400));
    eprintln!("browser scenario: {:?}; {out}", t.elapsed());
    let dir = g.data().join("incoming");
    // Each upload arrived whole, under its final name, and no part file is left.
    assert_eq!(sha256(&dir.join("big.bin")), sha256(&big), "large file");
    assert_eq!(sha256(&dir.join("notes.txt")), sha256(&a));
    assert!(out["resumed_at"].as_u64().unwrap() > 0);
    assert!(
        internal_files(&dir).is_empty(),
        "{:?}",
        internal_files(&dir)
    );
    // The download is the file, and the page's ADLER32 is the file's.
    let dl = PathBuf::from(out["downloaded"].as_str().unwrap());
    assert_eq!(sha256(&dl), sha256(&a), "downloaded copy");
    assert_eq!(out["adler_ui"].as_str().unwrap(), adler32(&a));
    // Renamed, then deleted.
    assert!(!dir.join("b.dat").exists() && !dir.join("renamed-b.dat").exists());
    // The parts went through the transfer log as the WebDAV PUTs do.
    let puts = g
        .xferlog()
        .iter()
        .filter(|l| l.contains("verb=\"PUT\"") || l.contains("verb=PUT"))
        .filter(|l| l.contains("big.bin"))
        .count();
    assert!(puts >= 3, "parts of the large file in the xferlog: {puts}");
}

#[test]
fn hostile_names_html_downloads_csrf_and_anonymous_read_only() {
    if !have_browser() {
        return;
    }
    let g = start("");
    let names = [
        "<img src=x onerror=alert(1)>.txt",
        "\"quotes' & <b>bold&amp; ünïcødé ✓.txt",
    ];
    for n in names {
        std::fs::write(g.data().join(n), b"hostile name\n").unwrap();
    }
    let html = "page.html";
    std::fs::write(
        g.data().join(html),
        b"<html><head><title>PWNED</title></head><body><script>window.__pwned=1;alert('pwned')</script></body></html>",
    )
    .unwrap();
    let mut args = base_args(&g, "hostile");
    args["names"] = serde_json::json!(names);
    args["html"] = html.into();
    let out = drive("hostile", &args, Duration::from_secs(180));
    eprintln!("{out}");
    // The HTML file was saved as a download, byte for byte, from the page's link and
    // when opened directly.
    for key in ["html_download", "html_direct"] {
        let dl = PathBuf::from(out[key].as_str().unwrap());
        assert_eq!(
            std::fs::read(dl).unwrap(),
            std::fs::read(g.data().join(html)).unwrap(),
            "{key}"
        );
    }
    // Only the request with the token made a folder.
    assert!(g.data().join("csrf-right").is_dir());
    for refused in [
        "csrf-no-token",
        "csrf-wrong",
        "cross-site",
        "anon-dir",
        "anon.txt",
    ] {
        assert!(!g.data().join(refused).exists(), "{refused} was created");
    }
    assert!(
        g.data().join(html).exists(),
        "anonymous delete went through"
    );
}

/// curl with the browser's session cookie and CSRF token: the status of a mkdir.
fn curl_mkdir(g: &Griddock, cookie: &str, csrf: &str, name: &str) -> u16 {
    let out = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args(["-H", &format!("Cookie: __Host-griddock={cookie}")])
        .args(["-H", &format!("X-CSRF-Token: {csrf}")])
        .arg(format!(
            "https://127.0.0.1:{}/.griddock-web/mkdir/{name}",
            g.webdav.port()
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Runs the session scenario: the browser logs in and prints its cookie; curl proves it
/// works; the browser logs out (or waits out the lifetime); curl proves it no longer does.
fn session_phase(g: &Griddock, phase: &str, lifetime: u64) {
    let mut args = base_args(g, &format!("session-{phase}"));
    args["phase"] = phase.into();
    args["lifetime"] = lifetime.into();
    let mut child = Command::new("/usr/bin/python3")
        .args([DRIVER, "session", &args.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("driver output").unwrap();
    let first = first.strip_prefix("RESULT ").unwrap_or(&first).to_string();
    let v: serde_json::Value =
        serde_json::from_str(&first).unwrap_or_else(|e| panic!("{e}: {first}"));
    let (cookie, csrf) = (v["cookie"].as_str().unwrap(), v["csrf"].as_str().unwrap());
    assert_eq!(curl_mkdir(g, cookie, csrf, &format!("{phase}-before")), 201);
    assert_eq!(curl_mkdir(g, cookie, "", &format!("{phase}-no-token")), 403);
    writeln!(child.stdin.as_mut().unwrap()).unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "session {phase}: {rest:?}");
    assert_eq!(curl_mkdir(g, cookie, csrf, &format!("{phase}-after")), 401);
    assert!(g.data().join(format!("{phase}-before")).is_dir());
    assert!(!g.data().join(format!("{phase}-after")).exists());
    assert!(!g.data().join(format!("{phase}-no-token")).exists());
}

#[test]
fn session_cookie_ends_at_logout_and_at_expiry() {
    if !(have_browser() && require_tool("curl")) {
        return;
    }
    // Long enough for the login, the CSRF fetch and two curl requests on a loaded machine.
    let lifetime = 12;
    let g = start(&format!(
        "[webdav.browser]\nsession_lifetime = \"{lifetime}s\"\n"
    ));
    session_phase(&g, "logout", lifetime);
    session_phase(&g, "expiry", lifetime);
}

#[test]
fn phone_width_window_folder_pick_and_drop() {
    if !have_browser() {
        return;
    }
    let g = start("");
    std::fs::write(g.data().join("existing.txt"), b"x\n").unwrap();
    let f = g.dir.path().join("phone.jpg");
    common::random_file(&f, 100_000, 3);
    let mut args = base_args(&g, "narrow");
    args["name"] = "existing.txt".into();
    args["file"] = f.to_str().unwrap().into();
    let tree = g.dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub/deeper")).unwrap();
    common::random_file(&tree.join("top.txt"), 1000, 4);
    common::random_file(&tree.join("sub/deeper/leaf.bin"), 70_000, 5);
    args["folder"] = tree.to_str().unwrap().into();
    args["folder_files"] = serde_json::json!(["tree/top.txt", "tree/sub/deeper/leaf.bin"]);
    let dropped = g.dir.path().join("dropped.dat");
    common::random_file(&dropped, 33_333, 6);
    args["dropped"] = dropped.to_str().unwrap().into();
    let out = drive("narrow", &args, Duration::from_secs(120));
    eprintln!("{out}");
    assert_eq!(sha256(&g.data().join("phone.jpg")), sha256(&f));
    assert_eq!(sha256(&g.data().join("dropped.dat")), sha256(&dropped));
    for rel in ["tree/top.txt", "tree/sub/deeper/leaf.bin"] {
        assert_eq!(
            sha256(&g.data().join(rel)),
            sha256(&g.dir.path().join(rel)),
            "{rel}"
        );
    }
}

/// curl against the page's API: (status, headers lower-cased, body).
fn api(g: &Griddock, args: &[&str], path: &str) -> (u16, String, String) {
    let url = format!("https://127.0.0.1:{}/.griddock-web/{path}", g.webdav.port());
    let (code, headers, body) = common::curl_https(&["-k"], &[args, &[url.as_str()]].concat());
    (code, headers, String::from_utf8_lossy(&body).into_owned())
}

/// Logs in with curl: the cookie header and CSRF token to send.
fn curl_login(g: &Griddock, body: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec![
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data",
        body,
    ];
    args.extend_from_slice(extra);
    let (code, headers, json) = api(g, &args, "login");
    assert_eq!(code, 200, "{headers}{json}");
    let set = headers
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie: {headers}"));
    for attr in [
        "secure",
        "httponly",
        "samesite=strict",
        "path=/",
        "max-age=",
    ] {
        assert!(set.contains(attr), "{set}");
    }
    // The cookie value as sent (headers were lower-cased; the token is hex anyway).
    let value = set["set-cookie:".len()..].split(';').next().unwrap().trim();
    let value = value.replacen("__host-griddock", "__Host-griddock", 1);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    (
        format!("Cookie: {value}"),
        format!("X-CSRF-Token: {}", v["csrf"].as_str().unwrap()),
    )
}

#[test]
fn upload_api_limits_and_guards_with_curl() {
    if !require_tool("curl") {
        return;
    }
    let g = start_with_delay(
        "[limits]\ndata_timeout = \"1s\"\n\
         [webdav.browser]\nmax_uploads_per_session = 2\nchunk_size = 65536\n",
        "600ms",
    );
    let (cookie, csrf) = curl_login(
        &g,
        &format!("{{\"user\":\"alice\",\"password\":\"{PW}\"}}"),
        &[],
    );
    let (c, t) = (cookie.as_str(), csrf.as_str());
    // A wrong password is refused after the failed-login delay.
    let t0 = Instant::now();
    let (code, h, _) = api(
        &g,
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data",
            "{\"user\":\"alice\",\"password\":\"nope\"}",
        ],
        "login",
    );
    assert_eq!(code, 401);
    assert!(
        t0.elapsed() >= Duration::from_millis(600),
        "no failed-login delay: {:?}",
        t0.elapsed()
    );
    assert!(
        !h.contains("www-authenticate"),
        "no browser Basic dialog: {h}"
    );
    // A JSON body as a cross-site form could send it (enctype=text/plain): refused.
    let (code, _, _) = api(
        &g,
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: text/plain",
            "--data",
            &format!("{{\"user\":\"alice\",\"password\":\"{PW}\"}}"),
        ],
        "login",
    );
    assert_eq!(code, 400);
    // Two upload objects at most per session.
    let create = |name: &str, len: u64| {
        let l = format!("X-Upload-Length: {len}");
        let (code, _, body) = api(
            &g,
            &["-X", "POST", "-H", c, "-H", t, "-H", &l],
            &format!("upload/{name}"),
        );
        let id = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_string));
        (code, id)
    };
    let (code, id) = create("f.bin", 100_000);
    assert_eq!(code, 201);
    let id = id.unwrap();
    assert_eq!(create("g.bin", 10).0, 201);
    assert_eq!(create("h.bin", 10).0, 429, "a third open upload");
    // Parts: the first 60000 bytes, then a gap is refused with the server's offset, a
    // part over the chunk size is refused, and nothing is under the final name yet.
    let src = g.dir.path().join("src.bin");
    common::random_file(&src, 100_000, 9);
    let part = |from: usize, to: usize| {
        let data = std::fs::read(&src).unwrap()[from..to].to_vec();
        let p = g.dir.path().join(format!("part-{from}-{to}"));
        std::fs::write(&p, data).unwrap();
        let range = format!("Content-Range: bytes {from}-{}/100000", to - 1);
        let file = format!("@{}", p.display());
        let args = [
            "-X",
            "PUT",
            "-H",
            c,
            "-H",
            t,
            "-H",
            &range,
            "--data-binary",
            &file,
        ];
        api(&g, &args, &format!("up/{id}"))
    };
    assert_eq!(part(0, 60_000).0, 200);
    assert!(
        !g.data().join("f.bin").exists(),
        "visible before the last byte"
    );
    assert_eq!(
        std::fs::metadata(g.data().join(".griddock-part.f.bin"))
            .unwrap()
            .len(),
        60_000
    );
    let (code, _, body) = part(70_000, 100_000);
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("\"offset\":60000"), "{body}");
    assert_eq!(part(0, 65_537).0, 400, "a part over chunk_size");
    // The status tells where to continue; a part without the CSRF token is refused.
    let (code, _, body) = api(&g, &["-H", c], &format!("up/{id}"));
    assert!(
        code == 200 && body.contains("\"offset\":60000"),
        "{code} {body}"
    );
    let (code, _, _) = api(
        &g,
        &[
            "-X",
            "PUT",
            "-H",
            c,
            "-H",
            "Content-Range: bytes 60000-60000/100000",
            "--data-binary",
            "x",
        ],
        &format!("up/{id}"),
    );
    assert_eq!(code, 403);
    // The last part commits: the file appears whole and the answer carries its ADLER32.
    let (code, _, body) = part(60_000, 100_000);
    assert_eq!(code, 201, "{body}");
    assert_eq!(sha256(&g.data().join("f.bin")), sha256(&src));
    assert!(body.contains(&adler32(&src)), "{body}");
    assert!(
        internal_files(&g.data()).is_empty(),
        "{:?}",
        internal_files(&g.data())
    );
    // Finished, so the session may open another; cancelling one removes its part file.
    let (code, id2) = create("h.bin", 10);
    assert_eq!(code, 201);
    let (code, _, _) = api(
        &g,
        &["-X", "DELETE", "-H", c, "-H", t],
        &format!("up/{}", id2.unwrap()),
    );
    assert_eq!(code, 200);
    // A part whose sender stalls ends after limits.data_timeout (400, connection closed);
    // what arrived stays in the part file, and the status says where to go on.
    let (code, id3) = create("stall.bin", 10);
    assert_eq!(code, 201);
    let id3 = id3.unwrap();
    let script = r#"
import socket, ssl, sys, time
port, cookie, csrf, id = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
s.settimeout(20)
s.sendall(("PUT /.griddock-web/up/%s HTTP/1.1\r\nHost: localhost\r\n%s\r\n%s\r\n"
           "Content-Range: bytes 0-9/10\r\nContent-Length: 10\r\n\r\nabcde" % (id, cookie, csrf)).encode())
t = time.time()
print("answer", s.recv(200).split(b"\r\n")[0].decode(), "after %.0f s" % (time.time() - t))
"#;
    let (ok, out) = common::run(Command::new("/usr/bin/python3").args([
        "-c",
        script,
        &g.webdav.port().to_string(),
        c,
        t,
        &id3,
    ]));
    assert!(ok && out.contains("answer HTTP/1.1 400"), "{out}");
    let (code, _, body) = api(&g, &["-H", c], &format!("up/{id3}"));
    assert!(
        code == 200 && body.contains("\"offset\":5"),
        "{code} {body}"
    );
    assert!(!g.data().join("stall.bin").exists());
    // The API and the page carry the security headers.
    let (code, h, _) = api(&g, &["-H", c], "list/");
    assert_eq!(code, 200);
    assert!(
        h.contains("content-security-policy: default-src 'self'") && !h.contains("unsafe-inline"),
        "{h}"
    );
    assert!(
        h.contains("x-content-type-options: nosniff") && h.contains("frame-ancestors 'none'"),
        "{h}"
    );
    // Each directive of the page's policy: scripts and styles from our origin only, no
    // plugins, no <base>, never framed.
    let csp = h
        .lines()
        .find(|l| l.starts_with("content-security-policy:"))
        .unwrap_or_default();
    for directive in [
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            csp.split(';').any(|d| d
                .trim()
                .trim_start_matches("content-security-policy:")
                .trim()
                == directive),
            "{directive} missing: {csp}"
        );
    }
    let (code, h, _) = api(&g, &["-H", c], "dl/f.bin");
    assert_eq!(code, 200);
    assert!(
        h.contains("content-disposition: attachment; filename=\"f.bin\"")
            && h.contains("content-security-policy: sandbox; default-src 'none'"),
        "{h}"
    );
    let (code, h, _) = api(&g, &["-H", c, "-H", "Range: bytes=10-19"], "dl/f.bin");
    assert!(
        code == 206 && h.contains("content-range: bytes 10-19/100000"),
        "{code} {h}"
    );
    // A part that starts past what the part file holds is refused even where a file of
    // that name exists: the old file's bytes are never taken in to fill the gap.
    // (The stalled upload is cancelled first: two open uploads at most.)
    let (code, _, _) = api(
        &g,
        &["-X", "DELETE", "-H", c, "-H", t],
        &format!("up/{id3}"),
    );
    assert_eq!(code, 200);
    std::fs::write(g.data().join("old.bin"), [b'o'; 100]).unwrap();
    let (code, id4) = create("old.bin", 100);
    assert_eq!(code, 201);
    let new_half = "n".repeat(50);
    let (code, _, body) = api(
        &g,
        &[
            "-X",
            "PUT",
            "-H",
            c,
            "-H",
            t,
            "-H",
            "Content-Range: bytes 50-99/100",
            "--data-binary",
            &new_half,
        ],
        &format!("up/{}", id4.unwrap()),
    );
    assert!(
        code == 409 && body.contains("\"offset\":0"),
        "{code} {body}"
    );
    assert_eq!(
        std::fs::read(g.data().join("old.bin")).unwrap(),
        [b'o'; 100]
    );
    // Logging out changes state too: without the CSRF token, or with a wrong one, it is
    // refused and the session goes on.
    for token in [None, Some("X-CSRF-Token: 00")] {
        let mut args = vec!["-X", "POST", "-H", c];
        args.extend(token.iter().flat_map(|tok| ["-H", tok]));
        assert_eq!(api(&g, &args, "logout").0, 403, "a logout with {token:?}");
    }
    assert_eq!(
        api(&g, &["-X", "POST", "-H", c, "-H", t], "mkdir/still-in").0,
        201,
        "the session ended by a logout without its token"
    );
    // The reserved prefix is no data path: WebDAV refuses it, the page never lists it.
    let (ok, out) = common::run(
        Command::new("curl")
            .args([
                "-sk",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-u",
                &format!("alice:{PW}"),
                "-T",
                "/etc/hostname",
            ])
            .arg(format!(
                "https://127.0.0.1:{}/.griddock-web-x",
                g.webdav.port()
            )),
    );
    assert!(ok && out.trim() == "400", "{out}");
    // A changed account ends its sessions at once.
    let users = g.dir.path().join("users.toml");
    std::fs::write(&users, user_entry("alice", "another-pw", "read-write")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, _, _) = api(&g, &["-X", "POST", "-H", c, "-H", t], "mkdir/after-change");
        if code == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "session still works after the password change: {code}"
        );
        std::thread::sleep(Duration::from_millis(200));
        let _ = std::fs::remove_dir(g.data().join("after-change"));
    }
}

/// A page session remembers who logged in, not what they may do: a users-file change of
/// only the account's permission, or only its root (same password hash), ends the
/// session, and the next login gets the new rights.
#[test]
fn a_changed_permission_or_root_ends_a_page_session() {
    if !require_tool("curl") {
        return;
    }
    let g = start("");
    std::fs::create_dir_all(g.data().join("sub")).unwrap();
    let users = g.dir.path().join("users.toml");
    let login = || {
        curl_login(
            &g,
            &format!("{{\"user\":\"alice\",\"password\":\"{PW}\"}}"),
            &[],
        )
    };
    let alive = |cookie: &str| {
        let (code, _, body) = api(&g, &["-H", cookie], "session");
        assert_eq!(code, 200, "{body}");
        body.contains("\"session\":true")
    };
    let ends = |cookie: &str, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(cookie) {
            assert!(
                Instant::now() < deadline,
                "the session outlived a {what} change"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let edit = |from: &str, to: &str| {
        let text = std::fs::read_to_string(&users).unwrap();
        assert!(text.contains(from), "{text}");
        std::fs::write(&users, text.replacen(from, to, 1)).unwrap();
    };

    let (c1, t1) = login();
    assert!(alive(&c1));
    edit("permissions = \"read-write\"", "permissions = \"read\"");
    ends(&c1, "permission");
    let mkdir = |c: &str, t: &str, name: &str| {
        api(
            &g,
            &["-X", "POST", "-H", c, "-H", t],
            &format!("mkdir/{name}"),
        )
        .0
    };
    assert_eq!(mkdir(&c1, &t1, "with-old-session"), 401);
    // The next login has the new, read-only rights.
    let (c2, t2) = login();
    assert_eq!(mkdir(&c2, &t2, "read-only"), 403);

    edit(
        "permissions = \"read\"",
        "root = \"sub\"\npermissions = \"read\"",
    );
    ends(&c2, "root");
    let (c3, _) = login();
    std::fs::write(g.data().join("sub/inside.txt"), "x").unwrap();
    let (code, _, body) = api(&g, &["-H", &c3], "list/");
    assert!(code == 200 && body.contains("inside.txt"), "{code} {body}");
    for name in ["with-old-session", "read-only"] {
        assert!(!g.data().join(name).exists(), "{name} was created");
    }
}

#[test]
fn x509_certificate_session_with_curl() {
    for tool in ["curl", "openssl", "grid-proxy-init"] {
        if !require_tool(tool) {
            return;
        }
    }
    let fx = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gsi/make-fixtures.sh");
    let (ok, out) = common::run(Command::new("bash").arg(script).arg(fx.path()));
    assert!(ok, "fixtures: {out}");
    let p = |rel: &str| fx.path().join(rel).to_str().unwrap().to_string();
    let g = Griddock::start(&format!(
        "[tls]\nsource = \"files\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n\
         [auth]\nanonymous = \"off\"\ngridmap_file = \"{}\"\nx509_cert_dir = \"{}\"\n",
        p("host/hostcert.pem"),
        p("host/hostkey.pem"),
        p("grid-mapfile"),
        p("certificates"),
    ));
    let proxy = p("proxies/user");
    let with_cert = ["--cert", proxy.as_str(), "--key", proxy.as_str()];
    // The page reports the certificate; a certificate login opens a session.
    let (code, _, body) = api(&g, &with_cert, "session");
    assert!(
        code == 200 && body.contains("CN=Test User"),
        "{code} {body}"
    );
    let (cookie, csrf) = curl_login(&g, "{\"certificate\":true}", &with_cert);
    let (c, t) = (cookie.as_str(), csrf.as_str());
    let mut args = with_cert.to_vec();
    args.extend(["-X", "POST", "-H", c, "-H", t]);
    assert_eq!(api(&g, &args, "mkdir/by-cert").0, 201);
    assert!(g.data().join("by-cert").is_dir());
    // The certificate alone (ambient in a browser) changes nothing without the session's
    // token; the session cookie without the certificate is no login either.
    let mut args = with_cert.to_vec();
    args.extend(["-X", "POST"]);
    assert_eq!(api(&g, &args, "mkdir/cert-only").0, 401);
    assert_eq!(
        api(&g, &["-X", "POST", "-H", c, "-H", t], "mkdir/cookie-only").0,
        401
    );
    // Without a certificate and with anonymous off, no certificate login and no listing.
    let (code, _, _) = api(
        &g,
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data",
            "{\"certificate\":true}",
        ],
        "login",
    );
    assert_eq!(code, 400);
    assert_eq!(api(&g, &[], "list/").0, 401);
    for refused in ["cert-only", "cookie-only"] {
        assert!(!g.data().join(refused).exists(), "{refused}");
    }
}
