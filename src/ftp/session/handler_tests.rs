//! Handlers without any I/O: a `SessionState`, a parsed command, the `Answer` (reply and
//! effect) and the state afterwards. The control connection is an unused duplex stream
//! (a handler cannot write to it: `Link` only answers questions about it).

use std::net::SocketAddr;
use std::sync::Arc;

use super::test_server::TestServer;
use super::{Answer, Control, Effect, Link, SessionState, State, Transport};
use crate::config::PortRange;
use crate::ftp::control::parse;
use crate::ftp::data::Job;
use crate::ftp::error::FtpError;
use crate::ftp::Endpoint;

struct Bench {
    server: TestServer,
    control: Control,
}

/// Both endpoints as `griddock serve` builds them; `alice`/`secret` may write.
async fn bench() -> Bench {
    let server = TestServer::start(PortRange {
        start: 52000,
        end: 52999,
    })
    .await;
    let (io, _) = tokio::io::duplex(64);
    Bench {
        server,
        control: Control::new(Transport::stream(io)),
    }
}

fn state(ep: &Arc<Endpoint>) -> SessionState {
    let peer: SocketAddr = "127.0.0.1:40021".parse().unwrap();
    let local: SocketAddr = "127.0.0.1:2121".parse().unwrap();
    SessionState::new(Arc::clone(ep), peer, local)
}

impl Bench {
    /// One command through its handler (the policy layer is tested in `tests.rs`).
    async fn run(&self, st: &mut SessionState, line: &str) -> Result<Answer, FtpError> {
        let link = Link::new(&self.control, None);
        st.dispatch(&link, parse(line.as_bytes()).unwrap()).await
    }

    /// The reply code, whether the handler answered or failed.
    async fn code(&self, st: &mut SessionState, line: &str) -> u16 {
        match self.run(st, line).await {
            Ok(a) => a.code().expect("a reply"),
            Err(e) => e.to_reply().expect("a reply").code,
        }
    }

    async fn alice(&self, ep: &Arc<Endpoint>) -> SessionState {
        let mut st = state(ep);
        assert_eq!(self.code(&mut st, "USER alice").await, 331);
        assert_eq!(self.code(&mut st, "PASS secret").await, 230);
        assert!(st.login.is_logged_in());
        st
    }
}

#[tokio::test]
async fn parameter_verbs_change_state_only() {
    let b = bench().await;
    let mut st = b.alice(&b.server.gridftp).await;
    let a = b.run(&mut st, "TYPE A").await.unwrap();
    assert_eq!(a.code(), Some(200));
    assert!(matches!(a.effect, Effect::Continue));
    assert!(st.params.ascii);
    assert_eq!(b.code(&mut st, "MODE E").await, 200);
    assert!(st.params.mode_e);
    assert_eq!(b.code(&mut st, "REST 10").await, 350);
    assert_eq!(st.params.rest, Some(10));
    assert_eq!(b.code(&mut st, "STRU R").await, 504);
}

#[tokio::test]
async fn quit_and_a_third_failed_login_close_after_their_reply() {
    let b = bench().await;
    let mut st = state(&b.server.ftp);
    let a = b.run(&mut st, "QUIT").await.unwrap();
    assert_eq!(a.code(), Some(221));
    assert!(matches!(a.effect, Effect::Close));
    for attempt in 1..=3 {
        assert_eq!(b.code(&mut st, "USER alice").await, 331);
        let a = b.run(&mut st, "PASS wrong").await.unwrap();
        let closes = matches!(a.effect, Effect::Close);
        match attempt {
            3 => assert!(a.code() == Some(421) && closes, "third failure"),
            _ => assert!(a.code() == Some(530) && !closes, "failure {attempt}"),
        }
    }
    assert!(!st.login.is_logged_in());
}

#[tokio::test]
async fn auth_tls_answers_234_then_asks_for_the_handshake_and_resets_the_login() {
    let b = bench().await;
    let mut st = state(&b.server.ftp);
    assert_eq!(b.code(&mut st, "USER alice").await, 331);
    let a = b.run(&mut st, "AUTH TLS").await.unwrap();
    assert_eq!(a.code(), Some(234));
    assert!(matches!(a.effect, Effect::StartTls(_)));
    assert!(matches!(st.login.state, State::Connected));
    // PBSZ and PROT need the TLS control connection, which this link does not have.
    assert_eq!(b.code(&mut st, "PBSZ 0").await, 503);
    assert_eq!(b.code(&mut st, "PROT P").await, 503);
}

#[tokio::test]
async fn a_transfer_is_an_effect_prepared_by_the_handler() {
    let b = bench().await;
    let data = b.server.data();
    std::fs::write(data.join("f"), vec![7u8; 100]).unwrap();
    let mut st = b.alice(&b.server.ftp).await;
    // No data connection set up: refused before any file is opened.
    assert_eq!(b.code(&mut st, "RETR f").await, 425);
    assert_eq!(b.code(&mut st, "PASV").await, 227);
    assert_eq!(b.code(&mut st, "REST 40").await, 350);
    let a = b.run(&mut st, "RETR f").await.unwrap();
    assert!(a.reply.is_none(), "the shell sends 150");
    let Effect::Transfer(start) = a.effect else {
        panic!("no transfer")
    };
    assert_eq!((start.verb, start.path.as_str()), ("RETR", "/f"));
    let Job::Send(span) = start.job else {
        panic!("not a download")
    };
    assert_eq!(span.segments, vec![(40, 100)]);
    assert_eq!(st.params.rest, None, "REST is used up");
    // An upload's temporary file exists from the handler on; nothing is under the name.
    let a = b.run(&mut st, "STOR g").await.unwrap();
    assert!(matches!(a.effect, Effect::Transfer(ref s) if s.verb == "STOR"));
    assert!(!data.join("g").exists());
    drop(a);
    let left: Vec<_> = std::fs::read_dir(&data).unwrap().collect();
    assert_eq!(
        left.len(),
        1,
        "an upload never started leaves nothing: {left:?}"
    );
}

#[tokio::test]
async fn abor_stat_and_site_are_answered_from_state() {
    let b = bench().await;
    let mut st = b.alice(&b.server.gridftp).await;
    let a = b.run(&mut st, "ABOR").await.unwrap();
    assert!(a.reply.is_none() && matches!(a.effect, Effect::Abort));
    let link = Link::new(&b.control, Some("RETR /f: 5 bytes transferred".into()));
    let a = st.dispatch(&link, parse(b"STAT").unwrap()).await.unwrap();
    let text = String::from_utf8(a.reply.unwrap().encode()).unwrap();
    assert_eq!(text, "213 Status: RETR /f: 5 bytes transferred.\r\n");
    assert_eq!(b.code(&mut st, "SITE NOSUCH").await, 500);
    assert_eq!(b.code(&mut st, "SITE CHMOD 0644 nosuch").await, 550);
}
