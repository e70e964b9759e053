//! Whole sessions in-process: the control channel over `tokio::io::duplex`, the endpoints
//! built from a `Config` as `griddock serve` builds them (`app::endpoints`), data
//! connections through PASV on 127.0.0.1.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::test_server::TestServer;
use super::{ControlIo, Session};
use crate::config::PortRange;
use crate::ftp::Endpoint;

/// Every test ends within this, hung or not.
const LIMIT: Duration = Duration::from_secs(60);

const PEER: &str = "127.0.0.1:40021";
const LOCAL: &str = "127.0.0.1:2121";

/// Passive ports of this module's sessions.
const PORTS: PortRange = PortRange {
    start: 51000,
    end: 51999,
};

/// The client end of one session's control channel (clear, or TLS after `AUTH TLS`).
struct Client {
    io: BufReader<Box<dyn ControlIo>>,
    session: JoinHandle<()>,
    /// Set by `AUTH TLS`: data connections are then protected too (PROT P).
    tls: Option<tokio_rustls::TlsConnector>,
}

/// One reply: its code and every line of it.
#[derive(Debug)]
struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    fn text(&self) -> String {
        self.lines.join("\n")
    }
}

impl Client {
    /// Runs a session on `ep` over an in-memory duplex and returns its client end.
    fn connect(ep: &Arc<Endpoint>) -> Client {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let peer: SocketAddr = PEER.parse().unwrap();
        let local: SocketAddr = LOCAL.parse().unwrap();
        let session = Session::over_stream(Arc::clone(ep), server, peer, local);
        let session = tokio::spawn(session.run());
        Client {
            io: BufReader::new(Box::new(client)),
            session,
            tls: None,
        }
    }

    /// `AUTH TLS` (RFC 4217 §4), trusting the server's self-signed certificate in
    /// `state_dir`; the client-side handshake runs over the same duplex.
    async fn auth_tls(mut self, state_dir: &Path) -> Client {
        self.cmd("AUTH TLS", 234).await;
        assert!(self.io.buffer().is_empty(), "nothing before the handshake");
        // Where `tls::selfsigned` keeps the certificate it generated.
        let pem = std::fs::read(state_dir.join("tls/selfsigned.crt")).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut &pem[..]) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let tls = connector
            .connect(name, self.io.into_inner())
            .await
            .expect("TLS handshake over the duplex");
        Client {
            io: BufReader::new(Box::new(tls)),
            session: self.session,
            tls: Some(connector),
        }
    }

    async fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        if self.io.read_line(&mut line).await.unwrap() == 0 {
            return None;
        }
        assert!(line.ends_with("\r\n"), "reply line without CRLF: {line:?}");
        line.truncate(line.len() - 2);
        Some(line)
    }

    /// The next reply, multi-line ones (RFC 959 §4.2 `NNN-` … `NNN `) whole.
    async fn reply(&mut self) -> Reply {
        let first = self.line().await.expect("a reply, not end of stream");
        let code: u16 = first[..3].parse().unwrap();
        let mut lines = vec![first.clone()];
        if first.as_bytes()[3] == b'-' {
            let end = format!("{code} ");
            loop {
                let line = self.line().await.expect("the rest of a multi-line reply");
                let last = line.starts_with(&end);
                lines.push(line);
                if last {
                    break;
                }
            }
        }
        Reply { code, lines }
    }

    async fn send(&mut self, line: &str) {
        self.io
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.io.flush().await.unwrap();
    }

    /// Sends `line` and expects `code` in the reply.
    async fn cmd(&mut self, line: &str, code: u16) -> Reply {
        self.send(line).await;
        let reply = self.reply().await;
        assert_eq!(reply.code, code, "{line} -> {reply:?}");
        reply
    }

    async fn login(&mut self, user: &str, pass: &str) {
        self.cmd(&format!("USER {user}"), 331).await;
        self.cmd(&format!("PASS {pass}"), 230).await;
    }

    /// PASV, then a data connection to the announced address (the TLS handshake on it
    /// comes after the 150, as the server starts it only then).
    async fn pasv(&mut self) -> TcpStream {
        let reply = self.cmd("PASV", 227).await;
        let text = reply.text();
        let inner = text
            .split_once('(')
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(inner, _)| inner)
            .expect("h1,h2,h3,h4,p1,p2");
        let n: Vec<u16> = inner.split(',').map(|x| x.parse().unwrap()).collect();
        assert_eq!(n[..4], [127, 0, 0, 1], "{text}");
        TcpStream::connect(("127.0.0.1", n[4] * 256 + n[5]))
            .await
            .unwrap()
    }

    /// The data connection as the client uses it: in TLS once `AUTH TLS` is done (the
    /// tests always follow it with PROT P).
    async fn data(&self, tcp: TcpStream) -> Box<dyn ControlIo> {
        match &self.tls {
            None => Box::new(tcp),
            Some(connector) => {
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
                let tls = connector.connect(name, tcp).await;
                Box::new(tls.expect("TLS handshake on the data connection"))
            }
        }
    }

    /// QUIT, then the session ends and closes the stream.
    async fn quit(mut self) {
        self.cmd("QUIT", 221).await;
        assert_eq!(self.line().await, None, "end of stream after QUIT");
        self.session.await.unwrap();
    }
}

/// A payload that is not all one byte, so misplaced blocks would show.
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

async fn stor(c: &mut Client, name: &str, bytes: &[u8]) {
    let tcp = c.pasv().await;
    c.cmd(&format!("STOR {name}"), 150).await;
    let mut data = c.data(tcp).await;
    data.write_all(bytes).await.unwrap();
    data.shutdown().await.unwrap();
    drop(data);
    let done = c.reply().await;
    assert_eq!(done.code, 226, "STOR {name}: {done:?}");
}

async fn retr(c: &mut Client, name: &str) -> Vec<u8> {
    let tcp = c.pasv().await;
    c.cmd(&format!("RETR {name}"), 150).await;
    let mut data = c.data(tcp).await;
    let mut got = Vec::new();
    data.read_to_end(&mut got).await.unwrap();
    let done = c.reply().await;
    assert_eq!(done.code, 226, "RETR {name}: {done:?}");
    got
}

fn read(data: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(data.join(rel)).unwrap()
}

async fn within<F: std::future::Future<Output = ()>>(test: F) {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("the session test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftp_session_login_directories_and_transfers() {
    within(async {
        let server = TestServer::start(PORTS).await;
        let mut c = Client::connect(&server.ftp);
        let greeting = c.reply().await;
        assert_eq!(greeting.code, 220, "{greeting:?}");
        assert!(greeting.text().contains("griddock FTP server ready."));

        // Nothing but the login before the login.
        c.cmd("PWD", 530).await;
        c.login("alice", "secret").await;
        let pwd = c.cmd("PWD", 257).await;
        assert!(pwd.text().starts_with("257 \"/\""), "{pwd:?}");
        c.cmd("MKD sub", 257).await;
        assert!(server.data().join("sub").is_dir());
        c.cmd("CWD sub", 250).await;
        let pwd = c.cmd("PWD", 257).await;
        assert!(pwd.text().starts_with("257 \"/sub\""), "{pwd:?}");
        c.cmd("CWD missing", 550).await;

        // STOR then RETR through PASV on 127.0.0.1, the bytes compared at every step.
        let sent = payload(300 * 1024 + 17);
        stor(&mut c, "blob.bin", &sent).await;
        assert_eq!(read(&server.data(), "sub/blob.bin"), sent);
        let size = c.cmd("SIZE blob.bin", 213).await;
        assert_eq!(size.text(), format!("213 {}", sent.len()));
        assert_eq!(retr(&mut c, "blob.bin").await, sent);
        c.cmd("CDUP", 250).await;
        assert_eq!(retr(&mut c, "sub/blob.bin").await, sent);

        // The FTP endpoint: FTPS offered, no GridFTP extensions, their verbs refused.
        let feat = c.cmd("FEAT", 211).await;
        assert!(feat.lines.iter().any(|l| l == " AUTH TLS"), "{feat:?}");
        assert!(!feat.lines.iter().any(|l| l == " ERET"), "{feat:?}");
        c.cmd("SPAS", 502).await;
        c.cmd("ERET P 0 1 sub/blob.bin", 502).await;
        c.cmd("MODE E", 504).await;
        c.quit().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gridftp_session_offers_the_extensions() {
    within(async {
        let server = TestServer::start(PORTS).await;
        std::fs::create_dir_all(server.data()).unwrap();
        let sent = payload(64 * 1024 + 3);
        std::fs::write(server.data().join("file.dat"), &sent).unwrap();
        let mut c = Client::connect(&server.gridftp);
        let greeting = c.reply().await;
        assert_eq!(greeting.code, 220, "{greeting:?}");
        assert!(greeting.text().contains("griddock GridFTP server ready."));

        // Before the login, as after it: one answer for what the endpoint offers.
        let feat = c.cmd("FEAT", 211).await;
        for offered in [" ERET", " ESTO", " SPAS", " SPOR", " PARALLEL"] {
            assert!(
                feat.lines.iter().any(|l| l == offered),
                "{offered}: {feat:?}"
            );
        }
        assert!(!feat.lines.iter().any(|l| l == " AUTH TLS"), "{feat:?}");
        c.cmd("AUTH TLS", 504).await;

        c.login("anonymous", "guest@example.org").await;
        c.cmd("SBUF 65536", 200).await;
        assert_eq!(retr(&mut c, "file.dat").await, sent);
        // Anonymous users here may only read.
        c.cmd("MKD new", 550).await;
        c.cmd("STOR new.dat", 550).await;
        c.quit().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_tls_upgrades_the_duplex_and_prot_p_protects_the_data() {
    within(async {
        let server = TestServer::start(PORTS).await;
        let mut c = Client::connect(&server.ftp);
        assert_eq!(c.reply().await.code, 220);
        c.cmd("PBSZ 0", 503).await;
        let mut c = c.auth_tls(&server.dir.path().join("state")).await;
        c.cmd("AUTH TLS", 503).await;
        c.login("alice", "secret").await;
        c.cmd("PBSZ 0", 200).await;
        c.cmd("PROT P", 200).await;
        let sent = payload(200 * 1024 + 5);
        stor(&mut c, "tls.bin", &sent).await;
        assert_eq!(read(&server.data(), "tls.bin"), sent);
        assert_eq!(retr(&mut c, "tls.bin").await, sent);
        c.quit().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_and_the_session_goes_on() {
    within(async {
        let server = TestServer::start(PORTS).await;
        let mut c = Client::connect(&server.ftp);
        assert_eq!(c.reply().await.code, 220);
        c.cmd("USER alice", 331).await;
        c.cmd("PASS wrong", 530).await;
        c.cmd("CWD /", 530).await;
        c.login("alice", "secret").await;
        c.cmd("CWD /", 250).await;
        c.quit().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_ends_the_session() {
    within(async {
        let server = TestServer::start(PORTS).await;
        let mut c = Client::connect(&server.ftp);
        assert_eq!(c.reply().await.code, 220);
        c.login("anonymous", "x").await;
        let Client { io, session, .. } = c;
        drop(io);
        session.await.unwrap();
    })
    .await;
}
