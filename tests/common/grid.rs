//! Grid test peers: the GSI fixtures (a test CA laid out as an IGTF trust directory, a
//! localhost host certificate, user proxies; tests/gsi/make-fixtures.sh) and XRootD 5.5.3
//! from Debian with its HTTP and HTTP-TPC plugins, the reference HTTP third-party-copy
//! peer.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{require_tool, run, Griddock};

/// GSI fixtures (tests/gsi/make-fixtures.sh): a test CA as an IGTF trust directory, a
/// host certificate for localhost, user certificates and proxies, a grid-mapfile.
pub struct Gsi {
    pub dir: tempfile::TempDir,
}

impl Gsi {
    pub fn make() -> Option<Gsi> {
        for tool in ["openssl", "grid-proxy-init"] {
            if !require_tool(tool) {
                return None;
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gsi/make-fixtures.sh");
        let (ok, out) = run(Command::new("bash").arg(script).arg(dir.path()));
        assert!(ok, "fixtures: {out}");
        Some(Gsi { dir })
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn griddock(&self) -> Griddock {
        Griddock::start(&format!(
            "[tls]\nsource = \"files\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n\
             [auth]\nanonymous = \"off\"\ngridmap_file = \"{}\"\nx509_cert_dir = \"{}\"\n",
            self.path("host/hostcert.pem").display(),
            self.path("host/hostkey.pem").display(),
            self.path("grid-mapfile").display(),
            self.path("certificates").display(),
        ))
    }

    /// curl presenting proxy `name` (its file holds the proxy, its key and the EEC).
    pub fn curl(&self, name: &str, args: &[&str]) -> (u16, String) {
        let proxy = self.path(&format!("proxies/{name}"));
        let out = Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--capath"])
            .arg(self.path("certificates"))
            .arg("--cert")
            .arg(&proxy)
            .arg("--key")
            .arg(&proxy)
            .args(args)
            .output()
            .unwrap();
        let code = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        (code, String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// XRootD 5.5.3 (Debian) with its HTTP and HTTP-TPC plugins, run as the `xrootd` user
/// with the GSI fixtures' host certificate (the same test CA as griddock's).
pub struct Xrootd {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub https: u16,
    log: PathBuf,
}

impl Xrootd {
    pub fn start(fx: &Gsi) -> Xrootd {
        Self::start_with(fx, "")
    }

    /// With `extra` config lines.
    pub fn start_with(fx: &Gsi, extra: &str) -> Xrootd {
        let dir = tempfile::tempdir().unwrap();
        super::chmod(dir.path(), 0o755);
        let x = dir.path().join("x");
        for d in ["data", "adm", "run", "pki"] {
            std::fs::create_dir_all(x.join(d)).unwrap();
        }
        for f in ["hostcert.pem", "hostkey.pem"] {
            std::fs::copy(fx.path(&format!("host/{f}")), x.join("pki").join(f)).unwrap();
        }
        let (ok, out) = run(Command::new("cp")
            .arg("-r")
            .arg(fx.path("certificates"))
            .arg(x.join("pki/ca")));
        assert!(ok, "{out}");
        let (port, https) = (super::free_port(), super::free_port());
        let cfg = format!(
            "xrd.port {port}\nxrd.allow host localhost\nall.export /\noss.localroot {x}/data\n\
             all.adminpath {x}/adm\nall.pidpath {x}/run\nxrd.protocol XrdHttp:{https} libXrdHttp.so\n\
             http.cert {x}/pki/hostcert.pem\nhttp.key {x}/pki/hostkey.pem\nhttp.cadir {x}/pki/ca\n\
             http.exthandler xrdtpc libXrdHttpTPC.so\nxrootd.chksum adler32\n{extra}",
            x = x.display()
        );
        std::fs::write(x.join("xrd.cfg"), cfg).unwrap();
        let (ok, out) = run(Command::new("chown").args(["-R", "xrootd:xrootd"]).arg(&x));
        assert!(ok, "{out}");
        let child = Command::new("setpriv")
            .args([
                "--reuid=xrootd",
                "--regid=xrootd",
                "--init-groups",
                "xrootd",
                "-c",
            ])
            .arg(x.join("xrd.cfg"))
            .arg("-l")
            .arg(x.join("xrootd.log"))
            .args(["-n", "gdtest"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", https)).is_err() {
            assert!(std::time::Instant::now() < deadline, "xrootd did not start");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Xrootd {
            child,
            root: x.join("data"),
            log: x.join("xrootd.log"),
            _dir: dir,
            https,
        }
    }

    /// `https://localhost:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.https)
    }

    /// XRootD's log (with `http.trace all`, every request header line).
    pub fn log(&self) -> String {
        // With `-n gdtest`, XRootD puts its log under a directory of that name.
        let named = self
            .log
            .parent()
            .map(|d| d.join("gdtest").join("xrootd.log"));
        [Some(self.log.clone()), named]
            .into_iter()
            .flatten()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }
}

impl Drop for Xrootd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether XRootD can run here (root, the HTTP-TPC plugin); missing under CI=true fails.
pub fn xrootd_ok() -> bool {
    if !require_tool("xrootd") || !require_tool("setpriv") {
        return false;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let plugin = Path::new("/usr/lib/x86_64-linux-gnu/libXrdHttpTPC-5.so").exists();
    if !(root && plugin) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "xrootd needs root and xrootd-server-plugins (CI=true)"
        );
        eprintln!("SKIP: xrootd needs root and xrootd-server-plugins");
    }
    root && plugin
}
