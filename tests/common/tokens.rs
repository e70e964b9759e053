//! A WLCG token issuer run by the test (tests/fixtures/token_issuer.py: PyJWT and
//! python3-cryptography over HTTPS with a certificate from a test CA made here by rcgen).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// Whether /usr/bin/python3 can `import_line`; missing is decided by the suite's one
/// policy (`missing_peer`: a failure in strict mode).
pub fn python_has(import_line: &str, what: &str) -> bool {
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", import_line])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok || super::missing_peer(what, "run scripts/test.sh to install it")
}

/// PyJWT and cryptography for /usr/bin/python3; missing under CI=true is a failure.
pub fn python_jwt_available() -> bool {
    python_has(
        "import jwt, cryptography",
        "python3-jwt and python3-cryptography",
    )
}

pub struct Issuer {
    child: Child,
    pub url: String,
    pub tokens: serde_json::Value,
    pub ca_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Issuer {
    /// The token named `name` (the fixture's own, or one of the extra scopes).
    pub fn token(&self, name: &str) -> String {
        self.tokens[name]
            .as_str()
            .unwrap_or_else(|| panic!("no token {name}"))
            .to_string()
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the issuer; `extra` adds RS256 tokens `name` with the `scope` claim given.
pub fn start_issuer(extra: &[(&str, &str)]) -> Issuer {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "griddock token test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let ca_file = write("ca.pem", ca.pem());
    let cert_file = write("cert.pem", cert.pem());
    let key_file = write("key.pem", key.serialize_pem());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/token_issuer.py"
    );
    let scopes: serde_json::Map<String, serde_json::Value> = extra
        .iter()
        .map(|(n, s)| (n.to_string(), serde_json::Value::from(*s)))
        .collect();
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(&cert_file)
        .arg(&key_file)
        .arg(serde_json::Value::Object(scopes).to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    Issuer {
        child,
        url: v["issuer"].as_str().unwrap().to_string(),
        tokens: v["tokens"].clone(),
        ca_file,
        _dir: dir,
    }
}
