//! pebble, Let's Encrypt's RFC 8555 test server, on loopback with its own listener
//! certificate (CA:FALSE, or rustls refuses it) and its own test CA. Validation really
//! happens (never PEBBLE_VA_ALWAYS_VALID); the default 5 % badNonce rejection stays on
//! unless a test raises it.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, run};

pub struct Pebble {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub mgmt: u16,
    config: PathBuf,
    env: Vec<(String, String)>,
}

impl Pebble {
    /// Writes the configuration; `start` runs it. `http_port`/`tls_port` are where pebble's
    /// validator connects (griddock's HTTP and HTTPS listeners).
    pub fn configure(http_port: u16, tls_port: u16, validity_secs: Option<u64>) -> Pebble {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let (ok, out) = run(Command::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "7",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ]));
        assert!(ok, "{out}");
        let (port, mgmt) = (free_port(), free_port());
        let validity = validity_secs
            .map(|v| format!(", \"certificateValidityPeriod\": {v}"))
            .unwrap_or_default();
        let config = dir.path().join("pebble.json");
        std::fs::write(
            &config,
            format!(
                "{{\"pebble\": {{\"listenAddress\": \"127.0.0.1:{port}\", \"managementListenAddress\": \"127.0.0.1:{mgmt}\", \
                 \"certificate\": \"{}\", \"privateKey\": \"{}\", \"httpPort\": {http_port}, \"tlsPort\": {tls_port}, \
                 \"ocspResponderURL\": \"\", \"externalAccountBindingRequired\": false{validity}}}}}",
                cert.display(),
                key.display()
            ),
        )
        .unwrap();
        Pebble {
            child: None,
            dir,
            port,
            mgmt,
            config,
            env: vec![("PEBBLE_VA_NOSLEEP".into(), "1".into())],
        }
    }

    pub fn env(mut self, k: &str, v: &str) -> Pebble {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn start(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("pebble.log")).unwrap();
        let mut cmd = Command::new("pebble");
        cmd.arg("-config")
            .arg(&self.config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawn pebble"));
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err()
            || TcpStream::connect(("127.0.0.1", self.mgmt)).is_err()
        {
            assert!(
                Instant::now() < deadline,
                "pebble did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }

    /// Stops the ACME server (an outage).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.port)
    }

    pub fn listener_cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// pebble's issuing root, fetched from its management interface.
    pub fn root(&self) -> PathBuf {
        let path = self.dir.path().join("root.pem");
        let url = format!("https://127.0.0.1:{}/roots/0", self.mgmt);
        let (ok, out) = run(Command::new("curl").args([
            "-sS",
            "--cacert",
            self.listener_cert().to_str().unwrap(),
            "-o",
            path.to_str().unwrap(),
            &url,
        ]));
        assert!(ok, "{out}");
        path
    }

    /// The griddock config section pointing at this pebble.
    pub fn acme_toml(&self, challenge: &str) -> String {
        format!(
            "[tls]\nsource = \"acme\"\n[acme]\ndirectory = \"{}\"\nca_file = \"{}\"\nchallenge = \"{challenge}\"\nemail = \"ops@example.org\"\n",
            self.directory(),
            self.listener_cert().display()
        )
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Serial (upper-case hex) of the certificate an FTPS endpoint presents for `name`.
pub fn ftps_serial(port: u16, name: &str) -> String {
    let script = format!(
        "openssl s_client -starttls ftp -connect 127.0.0.1:{port} -servername {name} </dev/null 2>/dev/null | openssl x509 -noout -serial"
    );
    let (ok, out) = run(Command::new("sh").args(["-c", &script]));
    assert!(ok, "{out}");
    out.trim()
        .trim_start_matches("serial=")
        .to_ascii_uppercase()
}

/// Serial of the first certificate in a PEM file.
pub fn file_serial(pem: &std::path::Path) -> String {
    let (ok, out) = run(Command::new("openssl").args([
        "x509",
        "-noout",
        "-serial",
        "-in",
        pem.to_str().unwrap(),
    ]));
    assert!(ok, "{out}");
    out.trim()
        .trim_start_matches("serial=")
        .to_ascii_uppercase()
}
