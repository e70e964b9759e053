//! Test harness: start griddock and real peers (vsftpd) on loopback with free ports, one
//! temp dir per test, everything stopped on Drop; a raw FTP client for protocol tests.
#![allow(dead_code)]

pub mod docker;
pub mod ftp;
pub mod grid;
pub mod pebble;
pub mod tokens;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Strict mode: a missing test peer fails the test instead of skipping it. (Not
/// `GRIDDOCK_*`: griddock reads those as config and refuses unknown keys.) On when
/// `GRIDDOCKTEST_STRICT` is set to anything but `0` (scripts/test.sh sets it unless run with
/// `--allow-skips`; .ci/run always sets it), or, with that variable unset, when `CI` is set
/// to anything but `0`/`false` (GitHub and GitLab set `true`, others `1`).
pub fn strict() -> bool {
    fn on(v: &str) -> bool {
        !matches!(v.trim(), "" | "0" | "false" | "no")
    }
    match std::env::var("GRIDDOCKTEST_STRICT") {
        Ok(v) => on(&v),
        Err(_) => std::env::var("CI").is_ok_and(|v| on(&v)),
    }
}

/// Where skipped tests are recorded (cargo hides the stderr of passing tests):
/// `GRIDDOCKTEST_SKIP_LOG`, else `target/test-skips.log`; scripts/test.sh prints it.
pub fn skip_log() -> PathBuf {
    std::env::var_os("GRIDDOCKTEST_SKIP_LOG")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-skips.log"))
}

/// THE one decision for a missing peer: panics in strict mode, otherwise records a skip
/// (stderr and the skip log) and returns false so the caller returns early.
pub fn missing_peer(what: &str, hint: &str) -> bool {
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| s.rsplit_once('-').map_or(s.clone(), |(a, _)| a.to_string()))
        .unwrap_or_default();
    if strict() {
        panic!("required test peer {what} is missing (strict mode): {hint}");
    }
    let line = format!("SKIP {bin}::{test}: {what} missing ({hint})");
    eprintln!("{line}");
    let log = skip_log();
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
    {
        let _ = writeln!(f, "{line}");
    }
    false
}

/// Whether /usr/bin/python3 has gfal2 (python3-gfal2 with its plugins); missing is decided
/// by [`missing_peer`].
pub fn gfal2_available() -> bool {
    tokens::python_has("import gfal2", "python3-gfal2")
}

/// Is `tool` on PATH? If not: a failure in strict mode, else a recorded skip.
pub fn require_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    found
        || missing_peer(
            &format!("`{tool}`"),
            "run scripts/test.sh to install the test peers",
        )
}

/// The exact value of `key=` in a tracing log line (`streams=8` is 8, never 80), quotes
/// stripped; values with spaces are not supported.
pub fn log_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("{key}=");
    line.split_whitespace()
        .find_map(|t| t.strip_prefix(pat.as_str()))
        .map(|v| v.trim_matches('"'))
}

/// `N` distinct free ports for listeners griddock or a peer binds itself.
///
/// Picked like [`free_range`], below the ephemeral range: a port picked with `bind(0)` came
/// from the range the suite's own outbound connections use, and CI once saw a client's
/// source port land on a picked GridFTP port before griddock bound it ("Address already
/// in use"). Distinct because no port is handed out twice in one test binary.
pub fn free_ports<const N: usize>() -> [u16; N] {
    std::array::from_fn(|_| free_range(1).0)
}

pub fn free_port() -> u16 {
    free_range(1).0
}

/// A block of `n` currently bindable ports, for a passive range or ports Docker publishes.
///
/// Taken from 10000–32767, below Linux's ephemeral range (32768–60999 by default): the
/// suite's outbound connections take their source ports from that range, and one of them
/// on a port picked here made Docker's userland proxy fail with "address already in use".
/// Every port of the block is tried, and no port is handed out twice in one test binary.
pub fn free_range(n: u16) -> (u16, u16) {
    const LOW: u16 = 10000;
    const HIGH: u16 = 32767;
    static HANDED_OUT: std::sync::Mutex<Vec<(u16, u16)>> = std::sync::Mutex::new(Vec::new());
    assert!((1..HIGH - LOW).contains(&n), "range of {n} ports");
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..500 {
        let start = LOW + rand_u16() % (HIGH - LOW - n + 1);
        let end = start + n - 1;
        let overlaps = handed.iter().any(|&(lo, hi)| start <= hi && lo <= end);
        if !overlaps && (start..=end).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            handed.push((start, end));
            return (start, end);
        }
    }
    panic!("no free port range of {n} below the ephemeral range");
}

/// One free port for Docker to publish: picked as [`free_port`] is, named so a reader
/// sees the port is bound by Docker's proxy rather than by griddock.
pub fn publish_port() -> u16 {
    free_range(1).0
}

fn rand_u16() -> u16 {
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let x = t.subsec_nanos() ^ std::process::id().wrapping_mul(2654435761) ^ n.wrapping_mul(40503);
    (x % 65521) as u16
}

/// curl over HTTPS (the WebDAV endpoint and the browser API): `curl -sS`, then `trust`
/// (`--cacert FILE`, or `-k`), then `args` (the URL among them). The status (0 when no
/// response came), the response headers in lower case, and the body.
pub fn curl_https(trust: &[&str], args: &[&str]) -> (u16, String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let (hdr, body) = (dir.path().join("h"), dir.path().join("b"));
    let out = std::process::Command::new("curl")
        .arg("-sS")
        .args(trust)
        .args(["-D", hdr.to_str().unwrap(), "-o", body.to_str().unwrap()])
        .args(["-w", "%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    let code = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    let headers = std::fs::read_to_string(&hdr)
        .unwrap_or_default()
        .to_ascii_lowercase();
    (code, headers, std::fs::read(&body).unwrap_or_default())
}

pub fn sha256(path: &Path) -> String {
    let mut f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    format!("{:x}", h.finalize())
}

/// A file of `len` pseudo-random bytes (deterministic per seed).
pub fn random_file(path: &Path, len: usize, seed: u64) {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    std::fs::write(path, data).unwrap();
}

/// A running `griddock serve` with its own temp dir, ports and log.
pub struct Griddock {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub ftp: SocketAddr,
    pub http: SocketAddr,
    /// The WebDAV (HTTPS) listener, which also answers tls-alpn-01.
    pub webdav: SocketAddr,
    pub gridftp: SocketAddr,
    pub passive: (u16, u16),
}

impl Griddock {
    pub fn bin() -> &'static str {
        env!("CARGO_BIN_EXE_griddock")
    }

    /// Starts griddock with `toml` as its config file (any keys but the listen ports,
    /// which the harness sets through the environment) and waits for /readyz.
    pub fn start(toml: &str) -> Griddock {
        Self::start_with_env(toml, &[])
    }

    /// Free ports are only free when picked: another test (or a CI job on the same
    /// machine) may take one before griddock binds it. Then try again on new ports.
    pub fn start_with_env(toml: &str, env: &[(&str, &str)]) -> Griddock {
        let mut g = Self::prepare();
        for attempt in 1.. {
            g.write_config(toml);
            match g.try_spawn(env) {
                Ok(()) => return g,
                Err(e) if attempt < 4 && e.contains("Address already in use") => {
                    let fresh = Self::prepare();
                    (g.ftp, g.http, g.webdav, g.gridftp, g.passive) = (
                        fresh.ftp,
                        fresh.http,
                        fresh.webdav,
                        fresh.gridftp,
                        fresh.passive,
                    );
                }
                Err(e) => panic!("{e}"),
            }
        }
        unreachable!()
    }

    /// A temp dir and free ports, nothing running yet (peers that must know griddock's
    /// ports, like pebble, are configured in between).
    pub fn prepare() -> Griddock {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let ports = free_ports::<4>();
        // griddock refuses a passive range that holds a control port.
        let passive = loop {
            let r = free_range(40);
            if !ports.iter().any(|p| (r.0..=r.1).contains(p)) {
                break r;
            }
        };
        Griddock {
            child: None,
            ftp: ([127, 0, 0, 1], ports[0]).into(),
            http: ([127, 0, 0, 1], ports[1]).into(),
            webdav: ([127, 0, 0, 1], ports[2]).into(),
            gridftp: ([127, 0, 0, 1], ports[3]).into(),
            passive,
            dir,
        }
    }

    /// Writes the config (`toml` plus data_dir/state_dir) and starts griddock.
    pub fn launch(&mut self, toml: &str, env: &[(&str, &str)]) {
        self.write_config(toml);
        if let Err(e) = self.try_spawn(env) {
            panic!("{e}");
        }
    }

    fn write_config(&mut self, toml: &str) {
        let base = format!(
            "data_dir = \"{}\"\nstate_dir = \"{}\"\n",
            self.dir.path().join("data").display(),
            self.dir.path().join("state").display()
        );
        std::fs::write(
            self.dir.path().join("griddock.toml"),
            format!("{base}{toml}"),
        )
        .unwrap();
    }

    fn try_spawn(&mut self, env: &[(&str, &str)]) -> Result<(), String> {
        let log = std::fs::File::create(self.dir.path().join("griddock.log")).unwrap();
        let mut cmd = Command::new(Self::bin());
        cmd.args(["serve", "--config"])
            .arg(self.dir.path().join("griddock.toml"))
            .env("GRIDDOCK_FTP__LISTEN", self.ftp.to_string())
            .env("GRIDDOCK_HTTP__LISTEN", self.http.to_string())
            .env("GRIDDOCK_WEBDAV__LISTEN", self.webdav.to_string())
            .env("GRIDDOCK_GRIDFTP__LISTEN", self.gridftp.to_string())
            .env(
                "GRIDDOCK_GRIDFTP__PASSIVE_PORTS",
                format!("{}-{}", self.passive.0, self.passive.1),
            )
            .env(
                "GRIDDOCK_FTP__PASSIVE_PORTS",
                format!("{}-{}", self.passive.0, self.passive.1),
            )
            .env("RUST_LOG", "info,griddock=debug")
            .env_remove("GRIDDOCK_CONFIG")
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawn griddock"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if matches!(self.http_get("/readyz"), Ok((200, _))) {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!("griddock exited early ({status}):\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("griddock not ready within 20 s:\n{}", self.log()))
    }

    /// Stops (SIGTERM) and starts again with the same directory, config and ports.
    pub fn restart(&mut self, env: &[(&str, &str)]) {
        let status = self.terminate(Duration::from_secs(10));
        assert!(status.is_some(), "griddock did not stop");
        let log = self.dir.path().join("griddock.log");
        let old = std::fs::read_to_string(&log).unwrap_or_default();
        std::fs::write(self.dir.path().join("griddock.log.1"), old).unwrap();
        if let Err(e) = self.try_spawn(env) {
            panic!("{e}");
        }
    }

    /// Polls the log until `needle` appears (returns false after `timeout`).
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn cert(&self) -> PathBuf {
        self.state().join("tls/selfsigned.crt")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("griddock.log")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "ftp://127.0.0.1:{}/{}",
            self.ftp.port(),
            path.trim_start_matches('/')
        )
    }

    /// Transfer log lines (`griddock::xferlog`).
    pub fn xferlog(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains("griddock::xferlog"))
            .map(str::to_string)
            .collect()
    }

    pub fn http_get(&self, path: &str) -> std::io::Result<(u16, String)> {
        http_get(self.http, path)
    }

    /// Value of one metric sample, e.g. `metric("griddock_bytes_sent_total{endpoint=\"ftp\"}")`.
    /// A sample missing from /metrics fails the test: it is not a 0.
    pub fn metric(&self, sample: &str) -> f64 {
        self.metric_opt(sample)
            .unwrap_or_else(|| panic!("no sample `{sample}` in /metrics"))
    }

    /// The sample's value, `None` when /metrics does not have it. The name must match up
    /// to the value (`x_total` does not match `x_total_more` or `x_total{…}`).
    pub fn metric_opt(&self, sample: &str) -> Option<f64> {
        let (_, body) = self.http_get("/metrics").unwrap();
        body.lines().find_map(|l| {
            l.strip_prefix(sample)
                .and_then(|v| v.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        })
    }

    /// SIGTERM and wait; returns the exit status.
    pub fn terminate(&mut self, wait: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = child.try_wait() {
                self.child = None;
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }
}

impl Drop for Griddock {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// No peer tool run by [`run`] may take longer than this: a hung child fails its test
/// instead of hanging the suite.
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs a command, returns (success, stdout+stderr); killed and failed after
/// [`CHILD_TIMEOUT`].
pub fn run(cmd: &mut Command) -> (bool, String) {
    run_timeout(cmd, CHILD_TIMEOUT)
}

/// [`run`] with its own deadline: past it the child is killed and the test panics with
/// what it printed so far.
pub fn run_timeout(cmd: &mut Command, limit: Duration) -> (bool, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::from_utf8_lossy(&out.join().unwrap()).into_owned();
    text.push_str(&String::from_utf8_lossy(&err.join().unwrap()));
    match status {
        Some(s) => (s.success(), text),
        None => panic!("{cmd:?} still running after {limit:?}, killed:\n{text}"),
    }
}

/// A users file line for `name` with an argon2id hash made by `griddock passwd`.
pub fn user_entry(name: &str, password: &str, perms: &str) -> String {
    let mut child = Command::new(Griddock::bin())
        .arg("passwd")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    format!(
        "[[user]]\nname = \"{name}\"\npassword_hash = \"{}\"\npermissions = \"{perms}\"\n",
        hash.trim()
    )
}

/// vsftpd configured like Ready2go's `ftp` image: anonymous, promiscuous for FXP, with a
/// writable `incoming/` directory under a read-only root.
pub struct Vsftpd {
    child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Vsftpd {
    pub fn start() -> Vsftpd {
        Self::start_with("")
    }

    /// Like [`Vsftpd::start`] with extra `vsftpd.conf` lines (e.g. `anon_max_rate=…`).
    pub fn start_with(extra: &str) -> Vsftpd {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let incoming = root.join("incoming");
        let empty = dir.path().join("empty");
        for d in [&root, &incoming, &empty] {
            std::fs::create_dir_all(d).unwrap();
        }
        chmod(dir.path(), 0o755);
        chmod(&root, 0o755);
        chmod(&empty, 0o755);
        chmod(&incoming, 0o777);
        let port = free_port();
        let (lo, hi) = free_range(30);
        let conf = format!(
            "listen=YES\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n\
             anonymous_enable=YES\nanon_root={}\nlocal_enable=NO\nwrite_enable=YES\n\
             anon_upload_enable=YES\nanon_mkdir_write_enable=YES\nanon_other_write_enable=YES\n\
             anon_umask=022\nno_anon_password=YES\npasv_enable=YES\npasv_promiscuous=YES\n\
             port_promiscuous=YES\npasv_min_port={lo}\npasv_max_port={hi}\nsecure_chroot_dir={}\n\
             seccomp_sandbox=NO\nxferlog_enable=YES\nvsftpd_log_file={}\nuse_localtime=NO\n",
            root.display(),
            empty.display(),
            dir.path().join("vsftpd.log").display()
        ) + extra;
        let conf_path = dir.path().join("vsftpd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        // Its own process group: vsftpd forks a child per session, and Drop kills them all.
        let child = Command::new("vsftpd")
            .arg(&conf_path)
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn vsftpd");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "vsftpd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Vsftpd { child, dir, port }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "ftp://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }
}

impl Drop for Vsftpd {
    fn drop(&mut self) {
        // The whole group (the listener and its per-session children), by its id.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed (SIGKILL) and reaped on Drop, so a failing assertion never
/// leaves it running; `wait_for` waits with a deadline.
pub struct Reaped(pub Child);

impl Reaped {
    pub fn wait_for(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.0.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

pub fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}
pub mod gridftp;
