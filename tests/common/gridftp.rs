//! The reference GridFTP server (globus-gridftp-server, Debian's
//! globus-gridftp-server-progs) as a loopback peer, and globus-url-copy with a timeout.
//!
//! The server runs in its default daemon mode (one forked process per session) in its own
//! process group, clear-text anonymous only (`-aa`), control and data on 127.0.0.1, passive
//! ports from a free block, and file access restricted (`-rp`) to a world-writable `root/`
//! in its temp dir. Run as root it must setuid anonymous sessions to a real user, so it
//! gets `-anonymous-user nobody` (ignored when not root). URL paths are absolute
//! (globus-url-copy paths are root-relative by default).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{chmod, free_port, free_range};

/// globus-gridftp-server lives in /usr/sbin, often not on a non-root user's PATH.
pub fn server_bin() -> Option<PathBuf> {
    let out = Command::new("sh")
        .args(["-c", "command -v globus-gridftp-server"])
        .output()
        .ok()?;
    let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && !found.is_empty() {
        return Some(found.into());
    }
    let sbin = PathBuf::from("/usr/sbin/globus-gridftp-server");
    sbin.exists().then_some(sbin)
}

/// globus-url-copy and globus-gridftp-server are both installed; if not, see
/// [`super::missing_peer`].
pub fn require_globus() -> bool {
    if !super::require_tool("globus-url-copy") {
        return false;
    }
    if server_bin().is_some() {
        return true;
    }
    super::missing_peer(
        "`globus-gridftp-server`",
        "run scripts/test.sh to install the test peers",
    )
}

pub struct GlobusServer {
    child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// Its data ports (`-port-range`): where it listens when passive.
    pub passive: (u16, u16),
    /// The exact argument list it was started with (for reports).
    pub args: Vec<String>,
}

impl GlobusServer {
    /// Clear-text anonymous access.
    pub fn start() -> GlobusServer {
        Self::launch(&["-aa", "-anonymous-user", "nobody"], &[])
    }

    /// GSI only: host credential, trust dir and grid-mapfile from the environment, as the
    /// reference server reads them (the mapped account must be a real user: `nobody`).
    pub fn start_gsi(
        cert_dir: &Path,
        host_cert: &Path,
        host_key: &Path,
        gridmap: &Path,
    ) -> GlobusServer {
        Self::launch(
            &[],
            &[
                ("X509_CERT_DIR", cert_dir),
                ("X509_USER_CERT", host_cert),
                ("X509_USER_KEY", host_key),
                ("GRIDMAP", gridmap),
            ],
        )
    }

    fn launch(auth: &[&str], env: &[(&str, &Path)]) -> GlobusServer {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        // The anonymous session runs as `nobody`: it must reach and write `root/`.
        chmod(dir.path(), 0o755);
        chmod(&root, 0o777);
        let port = free_port();
        let (lo, hi) = free_range(40);
        let log = dir.path().join("gridftp.log");
        // An empty config file instead of the host's /etc/gridftp.conf.
        let conf = dir.path().join("gridftp.conf");
        std::fs::write(&conf, "").unwrap();
        let mut args: Vec<String> = auth.iter().map(|s| s.to_string()).collect();
        args.extend(
            [
                "-c",
                conf.to_str().unwrap(),
                "-p",
                &port.to_string(),
                "-control-interface",
                "127.0.0.1",
                "-data-interface",
                "127.0.0.1",
                "-port-range",
                &format!("{lo},{hi}"),
                "-home-dir",
                root.to_str().unwrap(),
                "-rp",
                root.to_str().unwrap(),
                "-no-chdir",
                "-control-idle-timeout",
                "60",
                "-d",
                "all",
                "-l",
                log.to_str().unwrap(),
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        let out = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let child = Command::new(server_bin().expect("globus-gridftp-server not installed"))
            .args(&args)
            .current_dir(dir.path())
            .env_remove("GLOBUS_TCP_PORT_RANGE")
            .env_remove("X509_USER_PROXY")
            .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .expect("spawn globus-gridftp-server");
        let mut s = GlobusServer {
            child,
            dir,
            port,
            passive: (lo, hi),
            args,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = s.child.try_wait() {
                panic!(
                    "globus-gridftp-server exited early ({status}):\n{}\n{}",
                    std::fs::read_to_string(s.dir.path().join("stderr.log")).unwrap_or_default(),
                    s.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "globus-gridftp-server did not listen on {port}:\n{}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    /// The served directory (absolute paths under it are the URL paths).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "ftp://127.0.0.1:{}{}/{}",
            self.port,
            self.root().display(),
            path.trim_start_matches('/')
        )
    }

    /// A `gsiftp://` URL (the host name must match the host certificate: localhost).
    pub fn gsi_url(&self, path: &str) -> String {
        format!(
            "gsiftp://localhost:{}{}/{}",
            self.port,
            self.root().display(),
            path.trim_start_matches('/')
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gridftp.log")).unwrap_or_default()
    }

    pub fn command_line(&self) -> String {
        format!("globus-gridftp-server {}", self.args.join(" "))
    }
}

impl Drop for GlobusServer {
    fn drop(&mut self) {
        // The daemon and its forked per-session processes share our process group.
        let pgid = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &pgid]).status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &pgid])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// griddock's GridFTP endpoint as an `ftp://` URL (paths are relative to its data dir).
pub fn griddock_url(g: &super::Griddock, path: &str) -> String {
    format!("ftp://{}/{}", g.gridftp, path.trim_start_matches('/'))
}

/// Runs `globus-url-copy -dbg <args>` (control channels traced to stderr), killed after
/// `timeout`. Returns (success, combined output).
pub fn guc(args: &[&str], timeout: Duration) -> (bool, String) {
    let out_dir = tempfile::tempdir().unwrap();
    let out_path = out_dir.path().join("guc.out");
    let out = std::fs::File::create(&out_path).unwrap();
    let mut child = Command::new("globus-url-copy")
        .arg("-dbg")
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .process_group(0)
        .spawn()
        .expect("spawn globus-url-copy");
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut text = std::fs::read_to_string(&out_path).unwrap_or_default();
    match status {
        Some(s) => (s.success(), text),
        None => {
            text.push_str(&format!(
                "\n*** globus-url-copy killed after {timeout:?} ***\n"
            ));
            (false, text)
        }
    }
}
