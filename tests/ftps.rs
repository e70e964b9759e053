//! Explicit FTPS details with an in-test rustls client: the control connection upgrades
//! with AUTH TLS, the certificate verifies against the self-signed one in state_dir, a
//! data-channel TLS handshake that fails gives a clean 425 and the session goes on.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use common::Griddock;

type Tls = StreamOwned<ClientConnection, TcpStream>;

fn client_config(g: &Griddock) -> Arc<ClientConfig> {
    let pem = std::fs::read(g.cert()).unwrap();
    let mut roots = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &pem[..]) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn tls(cfg: &Arc<ClientConfig>, tcp: TcpStream) -> Tls {
    let name = ServerName::try_from("127.0.0.1").unwrap();
    StreamOwned::new(ClientConnection::new(Arc::clone(cfg), name).unwrap(), tcp)
}

fn reply<R: BufRead>(r: &mut R) -> (u16, String) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let code = line[..3].parse().unwrap();
    if line.as_bytes()[3] == b'-' {
        loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            if l.starts_with(&format!("{code} ")) {
                break;
            }
        }
    }
    (code, line)
}

fn cmd(c: &mut BufReader<Tls>, line: &str) -> (u16, String) {
    c.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .unwrap();
    c.get_mut().flush().unwrap();
    reply(c)
}

fn pasv(c: &mut BufReader<Tls>) -> std::net::SocketAddr {
    let (code, text) = cmd(c, "EPSV");
    assert_eq!(code, 229, "{text}");
    let port: u16 = text.split('|').nth(3).unwrap().parse().unwrap();
    ([127, 0, 0, 1], port).into()
}

#[test]
fn data_channel_tls_failure_is_clean_and_session_continues() {
    let g = Griddock::start("");
    std::fs::write(g.data().join("f"), b"protected payload").unwrap();
    let cfg = client_config(&g);
    let mut plain = BufReader::new(TcpStream::connect(g.ftp).unwrap());
    assert_eq!(reply(&mut plain).0, 220);
    plain.get_mut().write_all(b"AUTH TLS\r\n").unwrap();
    assert_eq!(reply(&mut plain).0, 234);
    let tcp = plain.into_inner();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut c = BufReader::new(tls(&cfg, tcp));
    assert_eq!(cmd(&mut c, "USER anonymous").0, 331);
    assert_eq!(cmd(&mut c, "PASS x").0, 230);
    assert_eq!(cmd(&mut c, "PBSZ 0").0, 200);
    assert_eq!(cmd(&mut c, "PROT P").0, 200);

    // Handshake fails on the data connection: garbage instead of a ClientHello.
    let addr = pasv(&mut c);
    let mut data = TcpStream::connect(addr).unwrap();
    assert_eq!(cmd(&mut c, "RETR f").0, 150);
    data.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let (code, text) = reply(&mut c);
    assert_eq!(code, 425, "{text}");
    drop(data);

    // Handshake stops halfway: the client closes after a partial record.
    let addr = pasv(&mut c);
    let mut data = TcpStream::connect(addr).unwrap();
    assert_eq!(cmd(&mut c, "RETR f").0, 150);
    data.write_all(&[0x16, 0x03, 0x01, 0x01]).unwrap();
    drop(data);
    assert_eq!(reply(&mut c).0, 425);

    // A proper TLS data connection still works on the same session.
    let addr = pasv(&mut c);
    let tcp = TcpStream::connect(addr).unwrap();
    assert_eq!(cmd(&mut c, "RETR f").0, 150);
    let mut data = tls(&cfg, tcp);
    let mut got = Vec::new();
    match data.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => panic!("{e}"),
    }
    assert_eq!(got, b"protected payload");
    assert_eq!(reply(&mut c).0, 226);
    assert!(!g.log().contains("panicked"));
}

#[test]
fn plaintext_smuggled_after_auth_tls_is_not_executed() {
    let g = Griddock::start("[auth]\nanonymous = \"write\"\n");
    let cfg = client_config(&g);
    let mut plain = BufReader::new(TcpStream::connect(g.ftp).unwrap());
    assert_eq!(reply(&mut plain).0, 220);
    // The injected commands arrive in the same packet as AUTH TLS.
    plain
        .get_mut()
        .write_all(b"AUTH TLS\r\nUSER anonymous\r\nPASS x\r\nMKD injected\r\n")
        .unwrap();
    assert_eq!(reply(&mut plain).0, 234);
    let tcp = plain.into_inner();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut c = BufReader::new(tls(&cfg, tcp));
    assert_eq!(cmd(&mut c, "PWD").0, 530, "smuggled login took effect");
    assert!(!g.data().join("injected").exists());
}

/// `[tls] export_dir` (the /etc/grid-security layout grid tools read): `hostcert.pem` is
/// world-readable (0644), `hostkey.pem` owner-read-only (0400, as Globus tools require),
/// and the two are a pair: the exported key's public half is the certificate's.
#[test]
fn export_dir_writes_the_pair_with_grid_modes() {
    use std::os::unix::fs::PermissionsExt;
    if !common::require_tool("openssl") {
        return;
    }
    let export = tempfile::tempdir().unwrap();
    let dir = export.path().join("grid-security");
    let g = Griddock::start(&format!("[tls]\nexport_dir = \"{}\"\n", dir.display()));
    let cert = dir.join("hostcert.pem");
    let key = dir.join("hostkey.pem");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cert), 0o644, "hostcert.pem");
    assert_eq!(mode(&key), 0o400, "hostkey.pem");
    assert_eq!(
        std::fs::read(&cert).unwrap(),
        std::fs::read(g.cert()).unwrap(),
        "the exported certificate is the one served"
    );
    let pubkey = |args: &[&str]| {
        let (ok, out) = common::run(std::process::Command::new("openssl").args(args));
        assert!(ok, "{out}");
        out
    };
    assert_eq!(
        pubkey(&["x509", "-noout", "-pubkey", "-in", cert.to_str().unwrap()]),
        pubkey(&["pkey", "-pubout", "-in", key.to_str().unwrap()]),
        "hostkey.pem does not belong to hostcert.pem"
    );
    assert!(
        std::fs::read_dir(&dir).unwrap().count() == 2,
        "temporary files left in export_dir"
    );
}
