//! Raw control-connection behaviour: path confinement on every path-taking verb,
//! permissions, logins, bad input, killed uploads. Each case asserts the exact outcome.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::ftp::Ftp;
use common::{user_entry, Griddock};

/// A writable anonymous server whose data dir has symlinks pointing at a secret next to it.
fn escape_fixture() -> (Griddock, PathBuf) {
    let g = Griddock::start("[auth]\nanonymous = \"write\"\n");
    let secret = g.dir.path().join("secret");
    std::fs::create_dir_all(secret.join("sub")).unwrap();
    std::fs::write(secret.join("passwd"), b"TOPSECRET").unwrap();
    let d = g.data();
    std::fs::create_dir_all(d.join("pub")).unwrap();
    std::fs::write(d.join("pub/ok.txt"), b"public").unwrap();
    symlink(&secret, d.join("abs")).unwrap();
    symlink("../secret", d.join("rel")).unwrap();
    symlink("rel", d.join("chain")).unwrap();
    symlink("../../secret", d.join("pub/up2")).unwrap();
    (g, secret)
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime, u32)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            out.insert(p.clone(), (m.len(), m.modified().unwrap(), m.mode()));
            if m.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

const ESCAPES: &[&str] = &[
    "../secret/passwd",
    "/../secret/passwd",
    "../../../../../../secret/passwd",
    "/../../secret/sub/x",
    "pub/../../secret/passwd",
    "abs/passwd",
    "rel/passwd",
    "chain/passwd",
    "pub/up2/passwd",
    "abs/sub",
    "rel/sub",
    "chain/sub",
    "abs/newfile",
    "rel/newfile",
    "pub/up2/newfile",
    "/abs/passwd",
    "/rel/sub/new",
    "pub/../rel/passwd",
    "./abs/passwd",
    "abs/./passwd",
    "abs/sub/../passwd",
    "rel//passwd",
    "abs/sub/x/../../passwd",
    "%2e%2e/secret/passwd",
    "..\\secret\\passwd",
    "....//secret/passwd",
    "../secret/../secret/passwd",
    ".griddock-part.passwd",
    "pub/.griddock-tmp.0",
    "/rel/sub/../passwd",
    "chain/sub/deeper",
    "abs/sub/deeper/",
];

/// Every path-taking verb (with what it needs first), `{}` is the path.
const VERBS: &[(&str, &str)] = &[
    ("PASV", "RETR {}"),
    ("PASV", "STOR {}"),
    ("PASV", "APPE {}"),
    ("", "DELE {}"),
    ("", "MKD {}"),
    ("", "RMD {}"),
    ("", "RNFR {}"),
    ("RNFR pub/ok.txt", "RNTO {}"),
    ("", "CWD {}"),
    ("", "SIZE {}"),
    ("", "MDTM {}"),
    ("", "MFMT 20200101000000 {}"),
    ("PASV", "LIST {}"),
    ("PASV", "NLST {}"),
    ("PASV", "MLSD {}"),
    ("", "MLST {}"),
    ("", "STAT {}"),
    ("", "SITE CHMOD 0777 {}"),
];

#[test]
fn path_escapes_refused_on_every_verb() {
    let (g, secret) = escape_fixture();
    let before = snapshot(&secret);
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x@y");
    let mut attempts = 0;
    for (setup, verb) in VERBS {
        for path in ESCAPES {
            if !setup.is_empty() {
                let (c, t) = f.cmd(setup);
                assert!(c < 400, "{setup}: {t}");
            }
            let line = verb.replace("{}", path);
            let (code, text) = f.cmd(&line);
            attempts += 1;
            assert!((500..600).contains(&code), "{line} → {text}");
            assert!(!text.contains("TOPSECRET"));
            assert_eq!(f.code("CWD /"), 250, "session still sane after {line}");
        }
    }
    assert!(attempts >= 30 * VERBS.len(), "{attempts}");
    assert_eq!(
        before,
        snapshot(&secret),
        "something outside the root changed"
    );
    assert_eq!(std::fs::read(secret.join("passwd")).unwrap(), b"TOPSECRET");
    assert_eq!(
        std::fs::read(g.data().join("pub/ok.txt")).unwrap(),
        b"public"
    );
}

#[test]
fn anonymous_read_only_refusals() {
    let g = Griddock::start("[auth]\nanonymous = \"read\"\n");
    std::fs::create_dir_all(g.data().join("d")).unwrap();
    std::fs::write(g.data().join("f"), b"x").unwrap();
    let before = snapshot(&g.data());
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x@y");
    for line in [
        "DELE f",
        "MKD n",
        "RMD d",
        "RNFR f",
        "MFMT 20200101000000 f",
        "SITE CHMOD 0600 f",
    ] {
        let (c, t) = f.cmd(line);
        assert_eq!(c, 550, "{line}: {t}");
    }
    for verb in ["STOR", "APPE"] {
        f.pasv();
        let (c, t) = f.cmd(&format!("{verb} new"));
        assert_eq!(c, 550, "{verb}: {t}");
    }
    assert_eq!(f.retr("f"), (226, b"x".to_vec()), "reading still works");
    assert_eq!(before, snapshot(&g.data()));
}

#[test]
fn logins_wrong_password_limit_and_users_file_reload() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(&users, user_entry("alice", "wonder land", "read-write")).unwrap();
    let g = Griddock::start(&format!(
        "[auth]\nanonymous = \"off\"\nusers_file = \"{}\"\nfailed_login_delay = \"200ms\"\nmax_login_failures = 2\n",
        users.display()
    ));
    let mut f = Ftp::connect(g.ftp);
    assert_eq!(f.code("RETR x"), 530, "commands before login");
    assert_eq!(f.code("USER anonymous"), 331);
    assert_eq!(f.code("PASS a@b"), 530, "anonymous is off");
    assert_eq!(f.code("USER alice"), 331);
    let (c, t) = f.cmd("PASS wrong");
    assert_eq!(c, 421, "second failure closes: {t}");
    assert!(f.is_closed());
    assert!(g.metric("griddock_login_failures_total{endpoint=\"ftp\"}") >= 2.0);

    let mut f = Ftp::connect(g.ftp);
    f.login("alice", "wonder land");
    assert_eq!(f.stor("mine.txt", b"hello"), 226);
    assert_eq!(std::fs::read(g.data().join("mine.txt")).unwrap(), b"hello");

    // Add bob without a restart: replace the file atomically, as editors and secrets do.
    let tmp = dir.path().join("users.new");
    std::fs::write(
        &tmp,
        user_entry("alice", "wonder land", "read-write") + &user_entry("bob", "builder", "read"),
    )
    .unwrap();
    std::fs::rename(&tmp, &users).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut f = Ftp::connect(g.ftp);
        f.cmd("USER bob");
        if f.code("PASS builder") == 230 {
            assert_eq!(f.code("DELE mine.txt"), 550, "bob is read-only");
            break;
        }
        assert!(Instant::now() < deadline, "bob never got in:\n{}", g.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn bad_input_gets_clear_replies_and_never_kills_the_server() {
    let g = Griddock::start("[auth]\nanonymous = \"write\"\n");
    let mut f = Ftp::connect(g.ftp);
    let cases: &[(&[u8], u16)] = &[
        (b"FROB\r\n", 500),
        (b"\r\n", 500),
        (b"RETR\r\n", 501),
        (b"QUIT now\r\n", 501),
        (b"PORT 1,2,3\r\n", 501),
        (b"TYPE Q\r\n", 501),
        (b"USER \xff\xfe\r\n", 501),
        (b"USER a\x00b\r\n", 501),
        (b"LIST\r\n", 530),
        (b"PBSZ 0\r\n", 503),
        (b"PASS x\r\n", 503),
    ];
    for (line, want) in cases {
        f.send_raw(line);
        let (code, text) = f.reply();
        assert_eq!(code, *want, "{:?}: {text}", String::from_utf8_lossy(line));
    }
    let mut long = vec![b'A'; 9000];
    long.extend_from_slice(b"\r\n");
    f.send_raw(&long);
    assert_eq!(f.reply().0, 500, "over-long line");
    f.login("anonymous", "x");
    assert_eq!(f.code("RNTO x"), 503, "RNTO without RNFR");
    assert_eq!(f.code("NOOP"), 200, "session continues after bad input");

    // A TLS handshake that fails, and one that stops halfway, on the control channel.
    let mut a = Ftp::connect(g.ftp);
    assert_eq!(a.code("AUTH TLS"), 234);
    a.send_raw(b"this is not a TLS record\r\n");
    assert!(a.is_closed(), "garbage handshake closes cleanly");
    let mut b = Ftp::connect(g.ftp);
    // Activity without logging in does not extend the login deadline.
    assert_eq!(b.code("NOOP"), 200);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(b.code("SYST"), 215);
    assert_eq!(b.code("AUTH TLS"), 234);
    b.send_raw(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]);
    drop(b);

    // A client that vanishes mid-transfer.
    std::fs::write(g.data().join("big"), vec![7u8; 8 << 20]).unwrap();
    let mut c = Ftp::connect(g.ftp);
    c.login("anonymous", "x");
    let addr = c.pasv();
    let mut data = TcpStream::connect(addr).unwrap();
    assert_eq!(c.cmd("RETR big").0, 150);
    let mut buf = [0u8; 1024];
    data.read_exact(&mut buf).unwrap();
    drop(data);
    drop(c);

    // Everyone else is still served.
    let mut d = Ftp::connect(g.ftp);
    d.login("anonymous", "x");
    let (code, bytes) = d.retr("big");
    assert_eq!((code, bytes.len()), (226, 8 << 20));
    assert!(!g.log().contains("panicked"), "{}", g.log());
}

#[test]
fn killed_upload_leaves_no_final_name_and_completed_one_appears_atomically() {
    let g = Griddock::start("[auth]\nanonymous = \"write\"\n");
    // Killed client: data and control vanish together mid-upload.
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    let addr = f.pasv();
    let mut data = TcpStream::connect(addr).unwrap();
    assert_eq!(f.cmd("STOR killed.bin").0, 150);
    data.write_all(&vec![1u8; 1 << 20]).unwrap();
    drop(f);
    drop(data);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !g.data().join("killed.bin").exists(),
        "killed upload visible under its final name"
    );

    // Completed upload: invisible while in flight, complete once 226 arrives.
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    let addr = f.pasv();
    let mut data = TcpStream::connect(addr).unwrap();
    assert_eq!(f.cmd("STOR done.bin").0, 150);
    data.write_all(&vec![2u8; 3 << 20]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !g.data().join("done.bin").exists(),
        "partial upload visible"
    );
    drop(data);
    assert_eq!(f.reply().0, 226);
    assert_eq!(
        std::fs::read(g.data().join("done.bin")).unwrap().len(),
        3 << 20
    );
    let names: Vec<String> = std::fs::read_dir(g.data())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with(".griddock-"))
        .collect();
    assert_eq!(names, vec!["done.bin".to_string()]);
    // The aborted one is kept only as a hidden resumable part, and listings hide it.
    let (code, listing) = {
        let addr = f.pasv();
        let mut data = TcpStream::connect(addr).unwrap();
        assert_eq!(f.cmd("NLST").0, 150);
        let mut s = String::new();
        data.read_to_string(&mut s).unwrap();
        (f.reply().0, s)
    };
    assert_eq!((code, listing.trim()), (226, "done.bin"));
}

#[test]
fn metrics_and_xferlog_match_the_transfers() {
    let g = Griddock::start("[auth]\nanonymous = \"write\"\n");
    std::fs::write(g.data().join("a"), vec![3u8; 12345]).unwrap();
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    assert_eq!(f.retr("a").1.len(), 12345);
    assert_eq!(f.stor("b", &[4u8; 777]), 226);
    assert_eq!(f.retr("missing").0, 550);
    let m = |s: &str| g.metric(s);
    assert_eq!(m("griddock_bytes_sent_total{endpoint=\"ftp\"}"), 12345.0);
    assert_eq!(m("griddock_bytes_received_total{endpoint=\"ftp\"}"), 777.0);
    assert_eq!(
        m("griddock_transfers_completed_total{endpoint=\"ftp\",direction=\"download\"}"),
        1.0
    );
    assert_eq!(
        m("griddock_transfers_completed_total{endpoint=\"ftp\",direction=\"upload\"}"),
        1.0
    );
    assert_eq!(m("griddock_sessions_active{endpoint=\"ftp\"}"), 1.0);
    let log = g.xferlog().join("\n");
    assert!(log.contains("verb=\"RETR\" path=/a bytes=12345"), "{log}");
    assert!(log.contains("verb=\"STOR\" path=/b bytes=777"), "{log}");
    assert!(log.contains("user=\"anonymous\""), "{log}");
    assert_eq!(g.http_get("/readyz").unwrap().0, 200);
    assert_eq!(g.http_get("/healthz").unwrap().0, 200);
    assert_eq!(g.http_get("/nope").unwrap().0, 404);
}

#[test]
fn session_limit_and_login_timeout() {
    let g = Griddock::start("[limits]\nmax_sessions = 2\nlogin_timeout = \"1s\"\n");
    let mut a = Ftp::connect(g.ftp);
    a.login("anonymous", "x");
    let mut b = Ftp::connect(g.ftp);
    // Activity without logging in does not extend the login deadline.
    assert_eq!(b.code("NOOP"), 200);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(b.code("SYST"), 215);
    // The third connection is turned away with 421 instead of a banner.
    let mut c = TcpStream::connect(g.ftp).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut text = String::new();
    c.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("421 "), "{text:?}");
    // The session that never logs in is closed after login_timeout; the logged-in one is not.
    let (code, text) = b.reply();
    assert_eq!(code, 421, "{text}");
    assert!(b.is_closed());
    assert_eq!(a.code("NOOP"), 200);
    // Its permit is back (released just after the close): a new session gets a banner.
    std::thread::sleep(Duration::from_millis(200));
    let mut d = Ftp::connect(g.ftp);
    assert_eq!(d.code("NOOP"), 200);
}
