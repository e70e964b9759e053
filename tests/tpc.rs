//! HTTP third-party copy (COPY with `Source:` / `Destination:`) with griddock as the
//! active party, against real peers on loopback: a second griddock, XRootD 5.5.3 with
//! libXrdHttpTPC (all four roles), gfal2 (the FTS client library, with WLCG tokens and
//! with X.509 proxies plus the macaroons it fetches itself), davix-cp and curl; plus
//! tests/fixtures/tpc_peer.py for the remotes no real server can be told to be (slow,
//! stalling, redirecting, missing, wrong checksum). Tests allow-list loopback only.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::grid::{xrootd_ok, Gsi, Xrootd};
use common::{random_file, require_tool, run, sha256, user_entry, Griddock};

const PW: &str = "s3cret-pw";

fn basic() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("alice:{PW}"))
}

const WEBDAV: &str = "tpc_allow = [\"127.0.0.1/32\", \"::1/128\"]\nmarker_interval = \"1s\"\n";

/// griddock with the fixtures' host certificate (CN=localhost, from the test CA that
/// `x509_cert_dir` holds, so griddocks trust each other as grid sites do), alice
/// read-write, loopback allowed for third-party copies, markers every second.
fn griddock(fx: &Gsi) -> Griddock {
    griddock_with(fx, "", WEBDAV)
}

/// [`griddock`] with `top` before every section and `webdav` as the `[webdav]` keys.
fn griddock_with(fx: &Gsi, top: &str, webdav: &str) -> Griddock {
    griddock_trusting(fx, top, webdav, &fx.path("certificates"))
}

/// [`griddock_with`] trusting the CAs in `cert_dir` (its `x509_cert_dir`).
fn griddock_trusting(fx: &Gsi, top: &str, webdav: &str, cert_dir: &Path) -> Griddock {
    let mut g = Griddock::prepare();
    let users = g.dir.path().join("users.toml");
    std::fs::write(&users, user_entry("alice", PW, "read-write")).unwrap();
    g.launch(
        &format!(
            "{top}[tls]\nsource = \"files\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n\
             [auth]\nusers_file = \"{}\"\nx509_cert_dir = \"{}\"\nfailed_login_delay = \"10ms\"\n\
             [webdav]\n{webdav}",
            fx.path("host/hostcert.pem").display(),
            fx.path("host/hostkey.pem").display(),
            users.display(),
            cert_dir.display(),
        ),
        &[],
    );
    g
}

fn url(g: &Griddock, path: &str) -> String {
    format!("https://localhost:{}{path}", g.webdav.port())
}

/// What a COPY answered.
struct Answer {
    code: u16,
    headers: String,
    body: String,
}

impl Answer {
    fn last_line(&self) -> &str {
        self.body
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("")
    }

    fn succeeded(&self) -> bool {
        self.code == 202 && self.last_line() == "success: Created"
    }
}

/// curl -X COPY to `target` (alice's Basic credential unless `anonymous`) with `headers`.
fn copy_as(fx: &Gsi, target: &str, headers: &[String], anonymous: bool) -> Answer {
    let dir = tempfile::tempdir().unwrap();
    let hdr = dir.path().join("h");
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-X", "COPY", "--capath"])
        .arg(fx.path("certificates"))
        .args(["-D", hdr.to_str().unwrap(), "-w", "\n%{http_code}"]);
    if !anonymous {
        cmd.args(["-u", &format!("alice:{PW}")]);
    }
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(target).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    Answer {
        code: code.trim().parse().unwrap_or(0),
        headers: std::fs::read_to_string(&hdr).unwrap_or_default(),
        body: body.to_string(),
    }
}

fn copy(fx: &Gsi, target: &str, headers: &[String]) -> Answer {
    copy_as(fx, target, headers, false)
}

/// A COPY that must succeed and leave `got` equal to `want`.
fn copy_ok(fx: &Gsi, target: &str, headers: &[String], got: &Path, want: &Path) -> Answer {
    let ans = copy(fx, target, headers);
    assert!(
        ans.succeeded(),
        "{} {}\n{}",
        ans.code,
        ans.headers,
        ans.body
    );
    assert_eq!(sha256(got), sha256(want), "{target}");
    ans
}

fn forward_alice() -> String {
    format!("TransferHeaderAuthorization: Basic {}", basic())
}

/// No griddock temporary or part file anywhere under `dir`.
fn assert_no_internal_files(dir: &Path) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(!name.starts_with(".griddock-"), "left behind: {name}");
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
}

/// Markers parsed from a body: (timestamp, bytes, RemoteConnections value).
fn markers(body: &str) -> Vec<(u64, u64, String)> {
    let mut out = Vec::new();
    let (mut ts, mut bytes, mut conns) = (0, 0, String::new());
    for line in body.lines() {
        if let Some(v) = line.strip_prefix("Timestamp: ") {
            ts = v.trim().parse().unwrap();
        } else if let Some(v) = line.strip_prefix("Stripe Bytes Transferred: ") {
            bytes = v.trim().parse().unwrap();
        } else if let Some(v) = line.strip_prefix("RemoteConnections: ") {
            conns = v.trim().to_string();
        } else if line == "End" {
            out.push((ts, bytes, std::mem::take(&mut conns)));
        }
    }
    out
}

fn xfer_line<'a>(log: &'a [String], needle: &str) -> Option<&'a String> {
    log.iter().find(|l| l.contains(needle))
}

/// Waits until the griddock's transfer log has a line with every one of `needles`.
fn wait_xfer(g: &Griddock, needles: &[&str], limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let log = g.xferlog();
        if let Some(l) = log.iter().find(|l| needles.iter().all(|n| l.contains(n))) {
            return l.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no transfer line with {needles:?}:\n{}",
            log.join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn curl_pull_and_push_between_two_griddocks() {
    if !require_tool("curl") {
        return;
    }
    let Some(fx) = Gsi::make() else {
        return;
    };
    let a = griddock(&fx);
    let b = griddock(&fx);
    random_file(&b.data().join("src.bin"), 24 << 20, 3);
    // Pull: A GETs B's file.
    let ans = copy(
        &fx,
        &url(&a, "/pulled.bin"),
        &[format!("Source: {}", url(&b, "/src.bin")), forward_alice()],
    );
    assert!(
        ans.succeeded(),
        "{} {}\n{}",
        ans.code,
        ans.headers,
        ans.body
    );
    assert!(
        ans.headers
            .to_ascii_lowercase()
            .contains("content-type: text/perf-marker-stream"),
        "{}",
        ans.headers
    );
    assert!(ans.body.starts_with("Perf Marker\n"), "{}", ans.body);
    let m = markers(&ans.body);
    assert_eq!(m[0].1, 0, "the first marker comes before any byte");
    let last = m.last().unwrap();
    assert_eq!(last.1, 24 << 20, "the last marker has the final count");
    assert_eq!(
        last.2,
        format!("tcp:127.0.0.1:{}", b.webdav.port()),
        "the data connection"
    );
    assert_eq!(
        sha256(&a.data().join("pulled.bin")),
        sha256(&b.data().join("src.bin"))
    );
    let line = wait_xfer(
        &a,
        &["verb=\"COPY\"", "path=/pulled.bin"],
        Duration::from_secs(5),
    );
    for want in [
        "direction=\"upload\"",
        "result=\"ok\"",
        &format!("bytes={}", 24 << 20),
        &format!("data_peer=https://localhost:{}/src.bin", b.webdav.port()),
    ] {
        assert!(line.contains(want), "{want} in {line}");
    }
    assert!(
        xfer_line(&b.xferlog(), "verb=\"GET\" path=/src.bin").is_some(),
        "B served the bytes"
    );
    // Four streams: parallel Range GETs of 16 MiB written at their offsets.
    random_file(&b.data().join("src40.bin"), 40 << 20, 4);
    let ans = copy_ok(
        &fx,
        &url(&a, "/pulled40.bin"),
        &[
            format!("Source: {}", url(&b, "/src40.bin")),
            forward_alice(),
            "X-Number-Of-Streams: 4".into(),
        ],
        &a.data().join("pulled40.bin"),
        &b.data().join("src40.bin"),
    );
    let gets = b
        .xferlog()
        .iter()
        .filter(|l| l.contains("verb=\"GET\" path=/src40.bin"))
        .count();
    assert_eq!(gets, 3, "three 16 MiB ranges, one GET each");
    let m = markers(&ans.body);
    let conns = &m.last().unwrap().2;
    assert_eq!(conns.matches("tcp:").count(), 3, "{conns}");
    // Push: A PUTs its file to B, with checksum verification (HEAD + Want-Digest).
    copy_ok(
        &fx,
        &url(&a, "/pulled.bin"),
        &[
            format!("Destination: {}", url(&b, "/pushed.bin")),
            forward_alice(),
            "RequireChecksumVerification: true".into(),
        ],
        &b.data().join("pushed.bin"),
        &b.data().join("src.bin"),
    );
    assert!(xfer_line(&b.xferlog(), "verb=\"PUT\" path=/pushed.bin").is_some());
    // Pull with verification: the remote's Digest matches.
    let ans = copy(
        &fx,
        &url(&a, "/verified.bin"),
        &[
            format!("Source: {}", url(&b, "/src.bin")),
            forward_alice(),
            "RequireChecksumVerification: true".into(),
        ],
    );
    assert!(ans.succeeded(), "{}", ans.body);
    // Overwrite: F on an existing file: 412 before anything moves, on both sides.
    let ans = copy(
        &fx,
        &url(&a, "/pulled.bin"),
        &[
            format!("Source: {}", url(&b, "/src.bin")),
            forward_alice(),
            "Overwrite: F".into(),
        ],
    );
    assert_eq!(ans.code, 412, "{}", ans.body);
    let ans = copy(
        &fx,
        &url(&a, "/pulled.bin"),
        &[
            format!("Destination: {}", url(&b, "/pushed.bin")),
            forward_alice(),
            "Overwrite: F".into(),
        ],
    );
    assert_eq!(ans.code, 202);
    assert!(
        ans.last_line().starts_with("failure:") && ans.last_line().contains("exists"),
        "{}",
        ans.body
    );
    // The remote refuses a wrong forwarded credential: a failure line with its status.
    let ans = copy(
        &fx,
        &url(&a, "/nocred.bin"),
        &[
            format!("Source: {}", url(&b, "/src.bin")),
            "TransferHeaderAuthorization: Basic YWxpY2U6d3Jvbmc=".into(),
        ],
    );
    assert!(
        ans.last_line().starts_with("failure:") && ans.last_line().contains("401"),
        "{}",
        ans.body
    );
    assert!(!a.data().join("nocred.bin").exists());
    assert_no_internal_files(&a.data());
    assert_no_internal_files(&b.data());
    assert!(a.metric("griddock_tpc_copies_total{mode=\"pull\",result=\"ok\"}") >= 3.0);
    assert!(a.metric("griddock_tpc_copies_total{mode=\"push\",result=\"ok\"}") >= 1.0);
    assert!(a.metric("griddock_tpc_failures_total{mode=\"pull\",cause=\"remote\"}") >= 1.0);
}

/// tests/fixtures/tpc_peer.py on a free port with the fixtures' host certificate.
struct Peer {
    child: Child,
    port: u16,
}

impl Peer {
    fn start(fx: &Gsi) -> Peer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tpc_peer.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(fx.path("host/hostcert.pem"))
            .arg(fx.path("host/hostkey.pem"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        Peer {
            child,
            port: v["port"].as_u64().unwrap() as u16,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// The requests it saw.
    fn seen(&self, fx: &Gsi) -> Vec<serde_json::Value> {
        let (ok, out) = run(Command::new("curl")
            .args(["-sS", "--capath"])
            .arg(fx.path("certificates"))
            .arg(self.url("/log")));
        assert!(ok, "{out}");
        serde_json::from_str::<Vec<serde_json::Value>>(&out).unwrap()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The peer's file bytes (i % 251).
fn peer_data(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// A pull COPY into `dest` on `a` from `source` with curl: when each `Perf Marker` line
/// arrived (from curl's start) and the whole body; the copy must succeed.
fn watched_pull(fx: &Gsi, a: &Griddock, source: &str, dest: &str) -> (Vec<Duration>, String) {
    let mut curl = Command::new("curl")
        .args(["-sS", "-N", "-X", "COPY", "--capath"])
        .arg(fx.path("certificates"))
        .args(["-u", &format!("alice:{PW}")])
        .args(["-H", &format!("Source: {source}")])
        .arg(url(a, dest))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut at = Vec::new();
    let mut body = String::new();
    for line in BufReader::new(curl.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line == "Perf Marker" {
            at.push(started.elapsed());
        }
        body.push_str(&line);
        body.push('\n');
    }
    assert!(curl.wait().unwrap().success());
    assert_eq!(body.lines().last(), Some("success: Created"), "{body}");
    (at, body)
}

/// A pull on a griddock with `webdav` as its `[webdav]` keys, from the test peer's slow
/// source (`chunks` of `chunk` bytes, `gap_ms` apart), checked whole; the arrival times of
/// the markers and the body. The first marker must come at once: the time bound only
/// catches one held back for seconds (curl's start, TLS and argon2 are in it); that it
/// precedes the data is checked by its byte count (see the 1 s test).
fn slow_pull(
    webdav: &str,
    chunks: usize,
    chunk: usize,
    gap_ms: u64,
) -> Option<(Vec<Duration>, String)> {
    if !require_tool("curl") || !common::tokens::python_has("import ssl", "python3") {
        return None;
    }
    let fx = Gsi::make()?;
    let a = griddock_with(&fx, "", webdav);
    let peer = Peer::start(&fx);
    let source = peer.url(&format!("/slow/{chunks}/{chunk}/{gap_ms}"));
    let (at, body) = watched_pull(&fx, &a, &source, "/slow.bin");
    assert!(
        at[0] < Duration::from_secs(3),
        "first marker at {:?}",
        at[0]
    );
    assert_eq!(
        std::fs::read(a.data().join("slow.bin")).unwrap(),
        peer_data(chunks * chunk)
    );
    Some((at, body))
}

/// Without `marker_interval` a copy reports every 5 s (what FTS and davix expect): an
/// 8 s pull gets the immediate marker, one 5 s later, and the final one at the end.
#[test]
fn the_default_marker_interval_is_five_seconds() {
    // 16 chunks of 64 KiB, 500 ms apart: about 8 s.
    let tpc = "tpc_allow = [\"127.0.0.1/32\", \"::1/128\"]\n";
    let Some((at, body)) = slow_pull(tpc, 16, 65536, 500) else {
        return;
    };
    // The immediate one, one per 5 s, then the final one whenever the copy ends (which
    // a loaded machine may push past 10 s).
    assert!(at.len() >= 3, "markers at {at:?}\n{body}");
    for w in at[..at.len() - 1].windows(2) {
        // 5 s apart; the timer may wake late on a loaded machine, never early.
        let gap = w[1] - w[0];
        assert!(
            (Duration::from_millis(4400)..Duration::from_secs(7)).contains(&gap),
            "markers {gap:?} apart: {at:?}"
        );
    }
}

#[test]
fn markers_stream_while_a_slow_source_sends() {
    // 6 chunks of 256 KiB, 700 ms apart: about 4 s, markers every 1 s (WEBDAV).
    let Some((at, body)) = slow_pull(WEBDAV, 6, 262144, 700) else {
        return;
    };
    assert!(at.len() >= 4, "{at:?}\n{body}");
    for w in at.windows(2) {
        assert!(
            w[1] - w[0] < Duration::from_millis(2500),
            "markers {:?} apart (interval 1 s)",
            w[1] - w[0]
        );
    }
    let m = markers(&body);
    // A marker sent only after the first interval would count the source's first chunk.
    assert_eq!(m[0].1, 0, "the first marker precedes the data: {m:?}");
    assert!(m.windows(2).all(|w| w[0].1 <= w[1].1), "{m:?}");
    assert!(
        m.iter().any(|x| x.1 > 0 && x.1 < 6 * 262144),
        "progress between the ends: {m:?}"
    );
}

#[test]
fn refused_and_failing_copies_leave_nothing() {
    if !require_tool("curl") || !common::tokens::python_has("import ssl", "python3") {
        return;
    }
    let Some(fx) = Gsi::make() else {
        return;
    };
    // Only 127.0.0.1 is allowed; 127.0.0.2 is loopback too, but not listed.
    let a = griddock_with(
        &fx,
        "[limits]\ndata_timeout = \"2s\"\n",
        "tpc_allow = [\"127.0.0.1/32\"]\nmarker_interval = \"1s\"\n",
    );
    let peer = Peer::start(&fx);
    let other = Peer::start(&fx);
    let intruder = TcpListener::bind("127.0.0.2:0").unwrap();
    intruder.set_nonblocking(true).unwrap();
    let refused = format!(
        "https://127.0.0.2:{}/x",
        intruder.local_addr().unwrap().port()
    );
    let nobody_came = |what: &str| {
        assert!(
            intruder.accept().is_err(),
            "{what}: griddock connected to a refused address"
        );
    };
    // An address outside the policy: 403 before any connection.
    let ans = copy(&fx, &url(&a, "/r1"), &[format!("Source: {refused}")]);
    assert_eq!(ans.code, 403, "{}", ans.body);
    assert!(ans.body.contains("policy"), "{}", ans.body);
    let ans = copy(&fx, &url(&a, "/r1"), &[format!("Destination: {refused}")]);
    assert_eq!(ans.code, 404, "push of a missing file: {}", ans.body);
    std::fs::write(a.data().join("local"), "local file\n").unwrap();
    let ans = copy(
        &fx,
        &url(&a, "/local"),
        &[format!("Destination: {refused}")],
    );
    assert_eq!(ans.code, 403, "{}", ans.body);
    nobody_came("COPY");
    // A redirect from an allowed source to a refused address: a failure line.
    let hop = peer.url(&format!("/redirect?to={refused}"));
    let ans = copy(&fx, &url(&a, "/r2"), &[format!("Source: {hop}")]);
    assert_eq!(ans.code, 202);
    assert!(
        ans.last_line().starts_with("failure:") && ans.last_line().contains("policy"),
        "{}",
        ans.body
    );
    nobody_came("redirect");
    // Without credentials: 401, and the remote sees nothing.
    let before = peer.seen(&fx).len();
    let ans = copy_as(
        &fx,
        &url(&a, "/r3"),
        &[format!("Source: {}", peer.url("/file/100"))],
        true,
    );
    assert_eq!(ans.code, 401);
    assert_eq!(
        peer.seen(&fx).len(),
        before,
        "no request before authorization"
    );
    // Malformed requests: 400 with a reason.
    let ans = copy(
        &fx,
        &url(&a, "/r4"),
        &[
            format!("Source: {}", peer.url("/file/100")),
            format!("Destination: {}", peer.url("/sink")),
        ],
    );
    assert_eq!(ans.code, 400, "{}", ans.body);
    let ans = copy(
        &fx,
        &url(&a, "/r4"),
        &[
            format!("Source: {}", peer.url("/file/100")),
            "Credential: gridsite".into(),
        ],
    );
    assert_eq!(ans.code, 400);
    assert!(ans.body.contains("Credential"), "{}", ans.body);
    // A remote 404: the failure line carries the status and the remote's text.
    let ans = copy(
        &fx,
        &url(&a, "/r5"),
        &[format!("Source: {}", peer.url("/missing"))],
    );
    assert!(
        ans.last_line().starts_with("failure:")
            && ans.last_line().contains("404")
            && ans.last_line().contains("no such file here"),
        "{}",
        ans.body
    );
    // A remote that stalls: failure after the data timeout (2 s here).
    let t = Instant::now();
    let ans = copy(
        &fx,
        &url(&a, "/r6"),
        &[format!("Source: {}", peer.url("/stall/10000000"))],
    );
    assert!(
        ans.last_line().starts_with("failure:") && ans.last_line().contains("timeout"),
        "{}",
        ans.body
    );
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    // A checksum mismatch with verification: failure; without it the copy succeeds.
    let wrong = format!("Source: {}", peer.url("/wrong-digest/5000"));
    let ans = copy(
        &fx,
        &url(&a, "/r7"),
        &[wrong.clone(), "RequireChecksumVerification: true".into()],
    );
    assert!(
        ans.last_line().starts_with("failure:") && ans.last_line().contains("checksum"),
        "{}",
        ans.body
    );
    for name in ["r1", "r2", "r3", "r4", "r5", "r6", "r7"] {
        assert!(!a.data().join(name).exists(), "{name} exists");
    }
    let ans = copy(&fx, &url(&a, "/r8"), &[wrong]);
    assert!(ans.succeeded(), "{}", ans.body);
    assert_eq!(std::fs::read(a.data().join("r8")).unwrap(), peer_data(5000));
    // A push that takes longer than the data timeout but keeps moving is not cut: the
    // remote answers only after the whole body (32 MiB read at ~10 MiB/s here).
    random_file(&a.data().join("big"), 32 << 20, 15);
    let t = Instant::now();
    let ans = copy(
        &fx,
        &url(&a, "/big"),
        &[format!("Destination: {}", peer.url("/slow-sink/100"))],
    );
    assert!(ans.succeeded(), "{}", ans.body);
    assert!(t.elapsed() > Duration::from_secs(2), "{:?}", t.elapsed());
    // Credentials follow a redirect within the origin only.
    let same = peer.url(&format!("/redirect?to={}", peer.url("/file/1000")));
    let cross = peer.url(&format!("/redirect?to={}", other.url("/file/1000")));
    for (src, name) in [(same, "/same"), (cross, "/cross")] {
        let ans = copy(
            &fx,
            &url(&a, name),
            &[
                format!("Source: {src}"),
                "TransferHeaderAuthorization: Bearer SECRET-TOKEN".into(),
                "TransferHeaderX-Test: hello".into(),
            ],
        );
        assert!(ans.succeeded(), "{name}: {}", ans.body);
    }
    let auth_of = |p: &Peer| -> Vec<Option<String>> {
        p.seen(&fx)
            .iter()
            .filter(|r| r["path"] == "/file/1000")
            .map(|r| r["headers"]["authorization"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(
        auth_of(&peer),
        vec![Some("Bearer SECRET-TOKEN".to_string())],
        "same origin keeps the credential"
    );
    assert_eq!(
        auth_of(&other),
        vec![None],
        "another origin does not get it"
    );
    let forwarded = other.seen(&fx);
    assert_eq!(forwarded[0]["headers"]["x-test"], "hello");
    assert!(
        !a.log().contains("SECRET-TOKEN"),
        "a forwarded credential reached the log"
    );
    assert_no_internal_files(&a.data());
    assert!(a.metric("griddock_tpc_copies_total{mode=\"pull\",result=\"refused\"}") >= 1.0);
    assert!(a.metric("griddock_tpc_failures_total{mode=\"pull\",cause=\"timeout\"}") >= 1.0);
    assert!(a.metric("griddock_tpc_failures_total{mode=\"pull\",cause=\"checksum\"}") >= 1.0);
}

#[test]
fn a_client_that_leaves_cancels_the_copy() {
    if !require_tool("curl") || !common::tokens::python_has("import ssl", "python3") {
        return;
    }
    let Some(fx) = Gsi::make() else {
        return;
    };
    let a = griddock(&fx);
    let peer = Peer::start(&fx);
    // 20 chunks 500 ms apart (10 s); the client gives up after 4 s.
    let (_, _) = run(Command::new("curl")
        .args(["-sS", "-N", "-X", "COPY", "--max-time", "4", "--capath"])
        .arg(fx.path("certificates"))
        .args(["-u", &format!("alice:{PW}")])
        .args(["-H", &format!("Source: {}", peer.url("/slow/20/65536/500"))])
        .arg(url(&a, "/gone.bin")));
    let line = wait_xfer(
        &a,
        &["verb=\"COPY\"", "result=\"cancelled\""],
        Duration::from_secs(8),
    );
    assert!(line.contains("path=/gone.bin"), "{line}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!a.data().join("gone.bin").exists());
    assert_no_internal_files(&a.data());
}

/// An IGTF update (a CA added to `x509_cert_dir`, as the distribution's package does)
/// applies to the next copy without a restart: the outbound trust is rebuilt in the
/// background, whether the directory existed at start (watched) or appears later (the
/// CA package installed after griddock started: polled).
#[test]
fn a_ca_added_to_x509_cert_dir_applies_to_copies_without_restart() {
    if !require_tool("curl") {
        return;
    }
    let Some(fx) = Gsi::make() else {
        return;
    };
    let b = griddock(&fx);
    random_file(&b.data().join("src.bin"), 1 << 20, 4);
    let base = tempfile::tempdir().unwrap();
    for (case, exists) in [("empty", true), ("missing", false)] {
        let trust = base.path().join(case);
        if exists {
            std::fs::create_dir(&trust).unwrap();
        }
        let a = griddock_trusting(&fx, "", WEBDAV, &trust);
        let pull = || {
            copy(
                &fx,
                &url(&a, "/pulled.bin"),
                &[format!("Source: {}", url(&b, "/src.bin")), forward_alice()],
            )
        };
        let refused = pull();
        assert!(
            !refused.succeeded(),
            "{case}: B's CA is trusted already: {}",
            refused.body
        );
        assert!(!a.data().join("pulled.bin").exists());
        std::fs::create_dir_all(&trust).unwrap();
        for e in std::fs::read_dir(fx.path("certificates")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), trust.join(e.file_name())).unwrap();
        }
        let t0 = Instant::now();
        loop {
            let ans = pull();
            if ans.succeeded() {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "{case}: the new CA was not taken: {} {}",
                ans.code,
                ans.body
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        assert_eq!(
            sha256(&a.data().join("pulled.bin")),
            sha256(&b.data().join("src.bin")),
            "{case}"
        );
    }
}

#[test]
fn copy_off_answers_501_so_clients_stream_instead() {
    if !require_tool("curl") {
        return;
    }
    let Some(fx) = Gsi::make() else {
        return;
    };
    let a = griddock_with(&fx, "", "tpc = \"off\"\n");
    let ans = copy(
        &fx,
        &url(&a, "/x"),
        &[format!("Source: https://127.0.0.1:{}/y", a.webdav.port())],
    );
    assert_eq!(ans.code, 501, "{}", ans.body);
}

/// gfal2 (the library FTS drives) copying davs → davs between two griddocks.
const GFAL2_TPC: &str = r#"
import gfal2, logging, os, sys
src, dst, mode, tok_src, tok_dst = sys.argv[1:6]
logging.basicConfig(level=logging.DEBUG)
gfal2.set_verbose(gfal2.verbose_level.debug)
ctx = gfal2.creat_context()
if tok_src != "-":
    ctx.set_opt_boolean("HTTP PLUGIN", "RETRIEVE_BEARER_TOKEN", False)
    ctx.cred_set(src.rsplit("/", 1)[0] + "/", ctx.cred_new("BEARER", tok_src))
    ctx.cred_set(dst.rsplit("/", 1)[0] + "/", ctx.cred_new("BEARER", tok_dst))
ctx.set_opt_string("HTTP PLUGIN", "DEFAULT_COPY_MODE", "3rd " + mode)
ctx.set_opt_boolean("HTTP PLUGIN", "ENABLE_STREAM_COPY", False)
ctx.set_opt_boolean("HTTP PLUGIN", "ENABLE_FALLBACK_TPC_COPY", False)
p = ctx.transfer_parameters()
p.overwrite = True
p.set_checksum(gfal2.checksum_mode.both, "ADLER32", "")
try:
    ctx.filecopy(p, src, dst)
    print("copy OK", flush=True)
except gfal2.GError as e:
    print("copy ERR %s" % e, flush=True)
sys.stderr.flush()
os._exit(0)
"#;

fn gfal2_ok() -> bool {
    common::gfal2_available() && common::tokens::python_jwt_available()
}

fn gfal2_copy(fx: &Gsi, args: &[&str], proxy: bool) -> String {
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.args(["-c", GFAL2_TPC])
        .args(args)
        .env("X509_CERT_DIR", fx.path("certificates"));
    if proxy {
        cmd.env("X509_USER_PROXY", fx.path("proxies/user"));
    }
    let (ok, out) = common::run_timeout(&mut cmd, Duration::from_secs(120));
    assert!(ok, "{out}");
    out
}

#[test]
fn gfal2_third_party_copies_between_griddocks_with_tokens() {
    if !gfal2_ok() {
        return;
    }
    let Some(fx) = Gsi::make() else {
        return;
    };
    let issuer = common::tokens::start_issuer(&[
        ("rw", "storage.read:/ storage.modify:/"),
        ("create_in", "storage.create:/in"),
    ]);
    let tokens = format!(
        "[[auth.token_issuers]]\nissuer = \"{}\"\nbase_path = \"/\"\n\
         audience = [\"https://griddock.test\"]\nca_file = \"{}\"\n",
        issuer.url,
        issuer.ca_file.display()
    );
    let start = || {
        let mut g = Griddock::prepare();
        g.launch(
            &format!(
                "[tls]\nsource = \"files\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n\
                 [auth]\nanonymous = \"off\"\nx509_cert_dir = \"{}\"\n{tokens}\
                 [webdav]\ntpc_allow = [\"127.0.0.1/32\", \"::1/128\"]\n",
                fx.path("host/hostcert.pem").display(),
                fx.path("host/hostkey.pem").display(),
                fx.path("certificates").display(),
            ),
            &[],
        );
        g
    };
    let (a, b) = (start(), start());
    random_file(&b.data().join("src.bin"), 12 << 20, 9);
    let tok = issuer.token("rw");
    let davs = |g: &Griddock, p: &str| format!("davs://localhost:{}{p}", g.webdav.port());
    // Pull: the COPY goes to A (the destination), A GETs from B.
    let out = gfal2_copy(
        &fx,
        &[
            &davs(&b, "/src.bin"),
            &davs(&a, "/pulled.bin"),
            "pull",
            &tok,
            &tok,
        ],
        false,
    );
    assert!(out.contains("copy OK"), "{out}");
    assert!(out.contains("3rd pull"), "{out}");
    assert_eq!(
        sha256(&a.data().join("pulled.bin")),
        sha256(&b.data().join("src.bin"))
    );
    wait_xfer(
        &a,
        &["verb=\"COPY\"", "path=/pulled.bin", "result=\"ok\""],
        Duration::from_secs(5),
    );
    // Push: the COPY goes to B (the source), B PUTs to A.
    let out = gfal2_copy(
        &fx,
        &[
            &davs(&b, "/src.bin"),
            &davs(&a, "/pushed.bin"),
            "push",
            &tok,
            &tok,
        ],
        false,
    );
    assert!(out.contains("copy OK") && out.contains("3rd push"), "{out}");
    assert_eq!(
        sha256(&a.data().join("pushed.bin")),
        sha256(&b.data().join("src.bin"))
    );
    wait_xfer(
        &b,
        &["verb=\"COPY\"", "path=/src.bin", "result=\"ok\""],
        Duration::from_secs(5),
    );
    // The bytes crossed between the servers only: no GET/PUT from gfal2 itself.
    assert!(
        xfer_line(&a.xferlog(), "verb=\"PUT\" path=/pushed.bin").is_some(),
        "B's PUT arrived at A"
    );
    // A token that may only create under /in can neither push (send away) a file it
    // cannot read nor pull into a path outside its scope: 403 before any connection.
    let create_only = format!("Authorization: Bearer {}", issuer.token("create_in"));
    let before = a.xferlog().len();
    for (target, header) in [
        (
            "/src.bin",
            format!("Destination: {}", url(&a, "/in/stolen.bin")),
        ),
        (
            "/elsewhere.bin",
            format!("Source: {}", url(&a, "/pulled.bin")),
        ),
    ] {
        let ans = copy_as(&fx, &url(&b, target), &[create_only.clone(), header], true);
        assert_eq!(ans.code, 403, "{target}: {}", ans.body);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(a.xferlog().len(), before, "A was never contacted");
    assert!(!a.data().join("in/stolen.bin").exists());
    // Within one endpoint the same rights apply: no read on the source, no copy.
    std::fs::create_dir_all(a.data().join("in")).unwrap();
    for (target, header) in [
        (
            "/pulled.bin",
            format!("Destination: {}", url(&a, "/in/copy1.bin")),
        ),
        (
            "/in/copy2.bin",
            format!("Source: {}", url(&a, "/pulled.bin")),
        ),
    ] {
        let ans = copy_as(&fx, &url(&a, target), &[create_only.clone(), header], true);
        assert_eq!(ans.code, 403, "local {target}: {}", ans.body);
    }
    assert!(!a.data().join("in/copy1.bin").exists() && !a.data().join("in/copy2.bin").exists());
}

#[test]
fn gfal2_third_party_copies_with_x509_and_macaroons() {
    if !gfal2_ok() {
        return;
    }
    let Some(fx) = Gsi::make() else {
        return;
    };
    let start = || {
        let mut g = Griddock::prepare();
        g.launch(
            &format!(
                "[tls]\nsource = \"files\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n\
                 [auth]\nanonymous = \"off\"\ngridmap_file = \"{}\"\nx509_cert_dir = \"{}\"\n\
                 [webdav]\ntpc_allow = [\"127.0.0.1/32\", \"::1/128\"]\n",
                fx.path("host/hostcert.pem").display(),
                fx.path("host/hostkey.pem").display(),
                fx.path("grid-mapfile").display(),
                fx.path("certificates").display(),
            ),
            &[],
        );
        g
    };
    let (a, b) = (start(), start());
    random_file(&b.data().join("src.bin"), 6 << 20, 10);
    let davs = |g: &Griddock, p: &str| format!("davs://localhost:{}{p}", g.webdav.port());
    for (mode, dst) in [("pull", "/pulled.bin"), ("push", "/pushed.bin")] {
        let out = gfal2_copy(
            &fx,
            &[&davs(&b, "/src.bin"), &davs(&a, dst), mode, "-", "-"],
            true,
        );
        assert!(out.contains("copy OK"), "{mode}: {out}");
        assert!(out.contains(&format!("3rd {mode}")), "{mode}: {out}");
        assert_eq!(
            sha256(&a.data().join(dst.trim_start_matches('/'))),
            sha256(&b.data().join("src.bin"))
        );
    }
    assert!(a.log().contains("macaroon issued") && b.log().contains("macaroon issued"));
    wait_xfer(
        &a,
        &["verb=\"COPY\"", "path=/pulled.bin", "result=\"ok\""],
        Duration::from_secs(5),
    );
    wait_xfer(
        &b,
        &["verb=\"COPY\"", "path=/src.bin", "result=\"ok\""],
        Duration::from_secs(5),
    );
}

/// XRootD 5.5.3 with a token-less export as the passive party: griddock pulls from it
/// and pushes to it; and XRootD as the active party pulling from and pushing to
/// griddock with alice's credential forwarded.
#[test]
fn xrootd_in_all_four_roles() {
    if !xrootd_ok() {
        return;
    }
    let Some(fx) = Gsi::make() else {
        return;
    };
    let g = griddock(&fx);
    let x = Xrootd::start_with(&fx, "http.trace all\n");
    random_file(&x.root.join("x-src.bin"), 20 << 20, 12);
    common::chmod(&x.root.join("x-src.bin"), 0o644);
    random_file(&g.data().join("g-src.bin"), 20 << 20, 13);
    // griddock pulls from XRootD, with verification (XRootD answers Want-Digest).
    copy_ok(
        &fx,
        &url(&g, "/from-xrootd.bin"),
        &[
            format!("Source: {}", x.url("/x-src.bin")),
            "RequireChecksumVerification: true".into(),
        ],
        &g.data().join("from-xrootd.bin"),
        &x.root.join("x-src.bin"),
    );
    // griddock pulls with 4 streams (XRootD serves ranges).
    copy_ok(
        &fx,
        &url(&g, "/from-xrootd4.bin"),
        &[
            format!("Source: {}", x.url("/x-src.bin")),
            "X-Number-Of-Streams: 4".into(),
        ],
        &g.data().join("from-xrootd4.bin"),
        &x.root.join("x-src.bin"),
    );
    // griddock pushes to XRootD, with verification.
    copy_ok(
        &fx,
        &url(&g, "/g-src.bin"),
        &[
            format!("Destination: {}", x.url("/to-xrootd.bin")),
            "RequireChecksumVerification: true".into(),
        ],
        &x.root.join("to-xrootd.bin"),
        &g.data().join("g-src.bin"),
    );
    let xlog = x.log();
    assert!(
        xlog.contains("Expect: 100-continue") || xlog.contains("expect: 100-continue"),
        "griddock's PUT carries Expect: 100-continue"
    );
    // XRootD pulls from griddock and pushes to it (griddock passive).
    let auth = forward_alice();
    let xcopy = |headers: &[String], target: &str| {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-X", "COPY", "--capath"])
            .arg(fx.path("certificates"));
        for h in headers {
            cmd.args(["-H", h]);
        }
        run(cmd.arg(x.url(target)))
    };
    let (ok, out) = xcopy(
        &[format!("Source: {}", url(&g, "/g-src.bin")), auth.clone()],
        "/x-pulled.bin",
    );
    assert!(ok && out.trim_end().ends_with("success: Created"), "{out}");
    assert_eq!(
        sha256(&x.root.join("x-pulled.bin")),
        sha256(&g.data().join("g-src.bin"))
    );
    let (ok, out) = xcopy(
        &[format!("Destination: {}", url(&g, "/x-pushed.bin")), auth],
        "/x-src.bin",
    );
    assert!(ok && out.trim_end().ends_with("success: Created"), "{out}");
    assert_eq!(
        sha256(&g.data().join("x-pushed.bin")),
        sha256(&x.root.join("x-src.bin"))
    );
    // Without the credential griddock refuses XRootD's push, and XRootD reports it.
    let (_, out) = xcopy(
        &[format!("Destination: {}", url(&g, "/refused.bin"))],
        "/x-src.bin",
    );
    assert!(out.contains("failure") && out.contains("401"), "{out}");
    assert!(!g.data().join("refused.bin").exists());
    let log = g.xferlog().join("\n");
    for want in [
        "verb=\"COPY\" path=/from-xrootd.bin",
        "verb=\"COPY\" path=/g-src.bin",
        "verb=\"GET\" path=/g-src.bin",
        "verb=\"PUT\" path=/x-pushed.bin",
    ] {
        assert!(log.contains(want), "{want}:\n{log}");
    }
}

#[test]
fn davix_cp_drives_griddock_in_pull_and_push() {
    if !require_tool("davix-cp") {
        return;
    }
    let Some(fx) = Gsi::make() else {
        return;
    };
    let a = griddock(&fx);
    let b = griddock(&fx);
    random_file(&b.data().join("src.bin"), 8 << 20, 14);
    let cp = |mode: &str, src: &str, dst: &str| {
        run(Command::new("davix-cp")
            .args(["--copy-mode", mode, "--capath"])
            .arg(fx.path("certificates"))
            .args(["-H", &format!("Authorization: Basic {}", basic())])
            .args(["-H", &forward_alice()])
            .args([src, dst]))
    };
    let (ok, out) = cp("pull", &url(&b, "/src.bin"), &url(&a, "/pulled.bin"));
    assert!(ok, "{out}");
    assert_eq!(
        sha256(&a.data().join("pulled.bin")),
        sha256(&b.data().join("src.bin"))
    );
    wait_xfer(
        &a,
        &["verb=\"COPY\"", "path=/pulled.bin", "result=\"ok\""],
        Duration::from_secs(5),
    );
    let (ok, out) = cp("push", &url(&a, "/pulled.bin"), &url(&b, "/pushed.bin"));
    assert!(ok, "{out}");
    assert_eq!(
        sha256(&b.data().join("pushed.bin")),
        sha256(&b.data().join("src.bin"))
    );
    wait_xfer(
        &a,
        &[
            "verb=\"COPY\"",
            "path=/pulled.bin",
            "direction=\"download\"",
        ],
        Duration::from_secs(5),
    );
}

#[test]
fn the_default_policy_refuses_a_name_that_resolves_to_loopback() {
    if !require_tool("curl") {
        return;
    }
    let Some(fx) = Gsi::make() else {
        return;
    };
    // The defaults: tpc = "public", tpc_allow = [].
    let a = griddock_with(&fx, "", "");
    let service = TcpListener::bind("127.0.0.1:0").unwrap();
    service.set_nonblocking(true).unwrap();
    let port = service.local_addr().unwrap().port();
    for target in [
        format!("https://localhost:{port}/secret"),
        format!("https://127.0.0.1:{port}/secret"),
        format!("http://[::ffff:127.0.0.1]:{port}/secret"),
    ] {
        let ans = copy(&fx, &url(&a, "/stolen"), &[format!("Source: {target}")]);
        assert_eq!(ans.code, 403, "{target}: {}", ans.body);
    }
    assert!(
        service.accept().is_err(),
        "griddock connected to a loopback service"
    );
    assert!(!a.data().join("stolen").exists());
}

#[test]
fn copies_beyond_tpc_max_connections_wait_their_turn() {
    if !require_tool("curl") || !common::tokens::python_has("import ssl", "python3") {
        return;
    }
    let Some(fx) = Gsi::make() else {
        return;
    };
    let a = griddock_with(&fx, "", &format!("{WEBDAV}tpc_max_connections = 1\n"));
    let peer = Peer::start(&fx);
    let started = Instant::now();
    // Each source takes about 2 s (5 pauses of 400 ms).
    let runs: Vec<_> = (0..2)
        .map(|i| {
            let (target, src) = (url(&a, &format!("/q{i}")), peer.url("/slow/5/65536/400"));
            let certs = fx.path("certificates");
            std::thread::spawn(move || {
                let out = Command::new("curl")
                    .args(["-sS", "-X", "COPY", "--capath"])
                    .arg(certs)
                    .args(["-u", &format!("alice:{PW}")])
                    .args(["-H", &format!("Source: {src}")])
                    .arg(target)
                    .output()
                    .unwrap();
                (
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                    started.elapsed(),
                )
            })
        })
        .collect();
    let mut done: Vec<(String, Duration)> = runs.into_iter().map(|t| t.join().unwrap()).collect();
    done.sort_by_key(|d| d.1);
    for (body, _) in &done {
        assert!(body.trim_end().ends_with("success: Created"), "{body}");
    }
    assert!(
        done[1].1 > Duration::from_millis(3600),
        "the second copy waited for the first: {:?}",
        done.iter().map(|d| d.1).collect::<Vec<_>>()
    );
    // The waiting copy was answered and sent markers meanwhile.
    assert!(markers(&done[1].0).len() >= 3, "{}", done[1].0);
}

#[test]
fn copies_within_the_endpoint_use_the_file_system() {
    if !require_tool("curl") {
        return;
    }
    let Some(fx) = Gsi::make() else {
        return;
    };
    // Even with remote copies off, a COPY within the endpoint works (no network).
    let a = griddock_with(&fx, "", "tpc = \"off\"\n");
    random_file(&a.data().join("f"), 3 << 20, 16);
    std::fs::create_dir_all(a.data().join("d")).unwrap();
    // A WebDAV client (RFC 4918 §9.8): 201, then 204 when replacing, 412 with Overwrite F.
    let here = |p: &str| format!("Destination: {}", url(&a, p));
    let ans = copy(&fx, &url(&a, "/f"), &[here("/d/g")]);
    assert_eq!(ans.code, 201, "{}", ans.body);
    assert_eq!(sha256(&a.data().join("d/g")), sha256(&a.data().join("f")));
    assert_eq!(copy(&fx, &url(&a, "/f"), &[here("/d/g")]).code, 204);
    let ans = copy(&fx, &url(&a, "/f"), &[here("/d/g"), "Overwrite: F".into()]);
    assert_eq!(ans.code, 412);
    assert_eq!(copy(&fx, &url(&a, "/f"), &[here("/nodir/g")]).code, 409);
    assert_eq!(
        copy(&fx, &url(&a, "/d"), &[here("/d2")]).code,
        501,
        "collections"
    );
    assert_eq!(
        copy(&fx, &url(&a, "/f"), &[here("/f")]).code,
        403,
        "onto itself"
    );
    // An HTTP-TPC client (Source, or TPC headers): the marker stream.
    copy_ok(
        &fx,
        &url(&a, "/d/pulled"),
        &[format!("Source: {}", url(&a, "/f"))],
        &a.data().join("d/pulled"),
        &a.data().join("f"),
    );
    // The source end is checked with the credential meant for it.
    let ans = copy(
        &fx,
        &url(&a, "/d/pulled2"),
        &[
            format!("Source: {}", url(&a, "/f")),
            "TransferHeaderAuthorization: Basic YWxpY2U6d3Jvbmc=".into(),
        ],
    );
    assert_eq!(ans.code, 401, "{}", ans.body);
    assert!(!a.data().join("d/pulled2").exists());
    assert_no_internal_files(&a.data());
    let log = a.xferlog().join("\n");
    assert!(log.contains("verb=\"COPY\" path=/f"), "{log}");
}
