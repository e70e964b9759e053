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
    // Every target an escape names exists outside the root, so what refuses it is the
    // confinement, never mere absence.
    std::fs::create_dir_all(secret.join("sub/deeper")).unwrap();
    for f in ["newfile", "sub/x", "sub/new"] {
        std::fs::write(secret.join(f), b"TOPSECRET").unwrap();
    }
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
    ("", "CKSM MD5 0 -1 {}"),
];

/// The GridFTP port's own path-taking verbs, on top of [`VERBS`].
const GRIDFTP_VERBS: &[(&str, &str)] = &[("PASV", "ERET P 0 6 {}"), ("PASV", "ESTO A 0 {}")];

/// The exact refusal an escape attempt gets: always 550, with the text saying why. An
/// escape through a symlink is refused by the confinement ("Permission denied"); griddock's
/// internal names and backslashes by the name check; everything else (`..` is resolved
/// lexically at the root, so `../secret` is `/secret` inside it) names nothing there.
fn expected_refusal(path: &str) -> &'static str {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let first = parts.first().copied().unwrap_or("");
    let via_symlink = ["abs", "rel", "chain"].contains(&first)
        || (first == "pub" && parts.get(1) == Some(&"up2"));
    if path.contains('\\') {
        "550 Invalid path: backslash in name"
    } else if path.contains(".griddock-") {
        "550 Invalid path: reserved name"
    } else if via_symlink {
        "550 Permission denied"
    } else {
        "550 No such file or directory"
    }
}

#[test]
fn path_escapes_refused_on_every_verb() {
    let (g, secret) = escape_fixture();
    let before = snapshot(&secret);
    let mut attempts = 0;
    let mut wrong = Vec::new();
    let gridftp_verbs: Vec<_> = VERBS.iter().chain(GRIDFTP_VERBS).collect();
    // Both ports, each with write access (anonymous = "write"), so write verbs meet the
    // confinement, not a permission check.
    for (port, verbs) in [("ftp", VERBS.iter().collect()), ("gridftp", gridftp_verbs)] {
        let mut f = Ftp::connect(if port == "ftp" { g.ftp } else { g.gridftp });
        f.login("anonymous", "x@y");
        for (setup, verb) in verbs {
            for path in ESCAPES {
                if !setup.is_empty() {
                    let (c, t) = f.cmd(setup);
                    assert!(c < 400, "{setup}: {t}");
                }
                let line = verb.replace("{}", path);
                let (code, text) = f.cmd(&line);
                attempts += 1;
                let want = expected_refusal(path);
                if !(code == 550 && text.starts_with(want)) {
                    wrong.push(format!(
                        "{port}: {line} → {} (want {want})",
                        text.trim_end()
                    ));
                }
                assert!(!text.contains("TOPSECRET"));
                assert_eq!(f.code("CWD /"), 250, "session still sane after {line}");
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong refusals:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(
        attempts >= 30 * (2 * VERBS.len() + GRIDFTP_VERBS.len()),
        "{attempts}"
    );
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
    // Every failed login is answered after failed_login_delay (200 ms), not at once.
    let t0 = Instant::now();
    assert_eq!(f.code("PASS a@b"), 530, "anonymous is off");
    assert_eq!(f.code("USER alice"), 331);
    let (c, t) = f.cmd("PASS wrong");
    let took = t0.elapsed();
    assert_eq!(c, 421, "second failure closes: {t}");
    assert!(
        took >= Duration::from_millis(390) && took < Duration::from_secs(3),
        "two failed logins answered in {took:?} with a 200 ms delay each"
    );
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

    // Bob removed and alice's password changed: the old password and bob are refused,
    // the new password works, all without a restart.
    std::fs::write(&tmp, user_entry("alice", "new secret", "read-write")).unwrap();
    std::fs::rename(&tmp, &users).unwrap();
    let try_login = |user: &str, pass: &str| {
        let mut f = Ftp::connect(g.ftp);
        f.cmd(&format!("USER {user}"));
        f.code(&format!("PASS {pass}"))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while try_login("alice", "new secret") != 230 {
        assert!(
            Instant::now() < deadline,
            "new password never worked:\n{}",
            g.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        try_login("alice", "wonder land"),
        530,
        "old password still works"
    );
    assert_eq!(
        try_login("bob", "builder"),
        530,
        "removed user still logs in"
    );
}

/// TYPE A (RFC 959 §3.1.1.1) both ways: CRLF on the wire, the file's own line ends on
/// disk; TYPE I sends the bytes unchanged.
#[test]
fn type_a_converts_line_ends_both_ways() {
    let g = Griddock::start("[auth]\nanonymous = \"write\"\n");
    std::fs::write(g.data().join("unix.txt"), b"one\ntwo\n\nthree").unwrap();
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    assert_eq!(f.code("TYPE A"), 200);
    assert_eq!(
        f.retr("unix.txt"),
        (226, b"one\r\ntwo\r\n\r\nthree".to_vec())
    );
    assert_eq!(f.stor("up.txt", b"a\r\nb\r\n\r\nc"), 226);
    assert_eq!(
        std::fs::read(g.data().join("up.txt")).unwrap(),
        b"a\nb\n\nc"
    );
    assert_eq!(f.code("TYPE I"), 200);
    assert_eq!(f.retr("unix.txt"), (226, b"one\ntwo\n\nthree".to_vec()));
}

/// ABOR while a download is running: 426 for the transfer, then 226 for ABOR, the data
/// connection closed, and the session still works.
#[test]
fn abor_mid_transfer() {
    let g = Griddock::start("[auth]\nanonymous = \"read\"\n");
    common::random_file(&g.data().join("big.bin"), 64 << 20, 9);
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    let addr = f.pasv();
    let mut data = TcpStream::connect(addr).unwrap();
    assert_eq!(f.cmd("RETR big.bin").0, 150);
    // Read a little, then stop reading: the transfer is stuck on a full socket.
    let mut buf = vec![0u8; 64 << 10];
    data.read_exact(&mut buf).unwrap();
    let (c, t) = f.cmd("ABOR");
    assert_eq!(
        (c, t.trim_end()),
        (426, "426 Connection closed; transfer aborted.")
    );
    let (c, t) = f.reply();
    assert_eq!((c, t.trim_end()), (226, "226 ABOR command successful."));
    data.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    let closed = match data.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(
        closed && rest.len() < 64 << 20,
        "data connection kept after ABOR"
    );
    assert_eq!(f.code("NOOP"), 200);
    assert_eq!(
        f.retr("big.bin").1.len(),
        64 << 20,
        "next transfer after ABOR"
    );
}

/// `limits.idle_timeout`: a logged-in session that sends nothing gets 421 and is closed.
#[test]
fn idle_sessions_time_out() {
    let g = Griddock::start("[auth]\nanonymous = \"read\"\n[limits]\nidle_timeout = \"1s\"\n");
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    let t0 = Instant::now();
    let (c, t) = f.reply();
    let took = t0.elapsed();
    assert_eq!(
        (c, t.trim_end()),
        (421, "421 Timeout, closing control connection.")
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "idle timeout after {took:?}"
    );
    assert!(f.is_closed());
    // An active session is not cut: NOOPs every 400 ms for 2 s.
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(f.code("NOOP"), 200);
    }
}

/// IPv6 end to end: both listeners on [::1], EPSV data connections over IPv6.
#[test]
fn ipv6_loopback_end_to_end() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        common::missing_peer("IPv6 loopback ([::1])", "enable IPv6 on lo");
        return;
    }
    // Below the ephemeral range, so no outbound connection takes them first.
    let [ftp, gridftp] = common::free_ports::<2>();
    let ftp_s = format!("[::1]:{ftp}");
    let grid_s = format!("[::1]:{gridftp}");
    let g = Griddock::start_with_env(
        "[auth]\nanonymous = \"write\"\n",
        &[
            ("GRIDDOCK_FTP__LISTEN", ftp_s.as_str()),
            ("GRIDDOCK_GRIDFTP__LISTEN", grid_s.as_str()),
        ],
    );
    std::fs::write(g.data().join("f"), b"over six").unwrap();
    for addr in [&ftp_s, &grid_s] {
        let s = TcpStream::connect(addr.as_str()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut r = std::io::BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        let mut line = |cmd: &str| {
            use std::io::BufRead;
            if !cmd.is_empty() {
                write!(w, "{cmd}\r\n").unwrap();
            }
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            while l.as_bytes().get(3) == Some(&b'-') {
                let mut more = String::new();
                r.read_line(&mut more).unwrap();
                if more.len() >= 4 && more.as_bytes()[3] == b' ' && more[..3] == l[..3] {
                    l = more;
                }
            }
            l
        };
        assert!(line("").starts_with("220"), "banner on {addr}");
        assert!(line("USER anonymous").starts_with("331"));
        assert!(line("PASS x").starts_with("230"));
        let epsv = line("EPSV");
        assert!(epsv.starts_with("229"), "{epsv}");
        let p: u16 = epsv.split('|').nth(3).unwrap().parse().unwrap();
        let mut data = TcpStream::connect(("::1", p)).unwrap();
        assert!(line("RETR f").starts_with("150"));
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"over six", "{addr}");
        assert!(line("").starts_with("226"));
        let peer = data.peer_addr().unwrap();
        assert!(peer.is_ipv6(), "{peer}");
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
    std::thread::sleep(Duration::from_millis(1500));
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

/// Waits (bounded) until a file in `dir` whose name starts with `prefix` and ends with
/// `suffix` holds at least `len` bytes; returns its path.
fn wait_for_upload_file(dir: &Path, prefix: &str, suffix: &str, len: u64) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(prefix)
                && name.ends_with(suffix)
                && e.metadata().is_ok_and(|m| m.len() >= len)
            {
                return e.path();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no {prefix}…{suffix} with {len} bytes in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn killed_upload_leaves_no_final_name_and_completed_one_appears_atomically() {
    let g = Griddock::start("[auth]\nanonymous = \"write\"\n");
    // Killed client: data and control vanish together mid-upload.
    let whole = pseudo_random(2 << 20, 11);
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    let addr = f.pasv();
    let mut data = TcpStream::connect(addr).unwrap();
    assert_eq!(f.cmd("STOR killed.bin").0, 150);
    data.write_all(&whole[..1 << 20]).unwrap();
    // The server has the whole MiB before the client dies (else it may keep nothing).
    wait_for_upload_file(&g.data(), ".griddock-tmp.", ".killed.bin", 1 << 20);
    drop(f);
    drop(data);
    // Bounded: once the server has kept the part, the upload is over for it; only then
    // is the final name's absence a result and not a race.
    let part = g.data().join(".griddock-part.killed.bin");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !part.exists() {
        assert!(Instant::now() < deadline, "no part file:\n{}", g.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !g.data().join("killed.bin").exists(),
        "killed upload visible under its final name"
    );

    // REST n + STOR over the wire: the client resumes at what the server kept (it holds
    // at most what was sent) and the result is byte-identical.
    let kept = std::fs::metadata(&part).unwrap().len() as usize;
    assert!(kept > 0 && kept <= 1 << 20, "part holds {kept}");
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    let addr = f.pasv();
    let mut data = TcpStream::connect(addr).unwrap();
    let (c, t) = f.cmd(&format!("REST {kept}"));
    assert_eq!(c, 350, "{t}");
    assert_eq!(f.cmd("STOR killed.bin").0, 150);
    data.write_all(&whole[kept..]).unwrap();
    drop(data);
    assert_eq!(f.reply().0, 226);
    assert!(
        std::fs::read(g.data().join("killed.bin")).unwrap() == whole,
        "resumed upload differs"
    );
    assert!(!part.exists(), "part file left after the resume");
    // A restart offset beyond the part is refused, never a hole.
    assert_eq!(f.code("REST 999999999"), 350);
    f.pasv();
    let (c, t) = f.cmd("STOR other.bin");
    assert!(c == 554 || c == 550, "REST past the end: {t}");

    // Completed upload: invisible while in flight, complete once 226 arrives.
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    let addr = f.pasv();
    let mut data = TcpStream::connect(addr).unwrap();
    assert_eq!(f.cmd("STOR done.bin").0, 150);
    data.write_all(&vec![2u8; 3 << 20]).unwrap();
    // All 3 MiB are in the temporary file, the data connection still open: the final
    // name must not exist yet.
    wait_for_upload_file(&g.data(), ".griddock-tmp.", ".done.bin", 3 << 20);
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
    let mut names: Vec<String> = std::fs::read_dir(g.data())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with(".griddock-"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["done.bin".to_string(), "killed.bin".to_string()]
    );
    // The aborted one is kept only as a hidden resumable part, and listings hide it.
    let (code, listing) = {
        let addr = f.pasv();
        let mut data = TcpStream::connect(addr).unwrap();
        assert_eq!(f.cmd("NLST").0, 150);
        let mut s = String::new();
        data.read_to_string(&mut s).unwrap();
        (f.reply().0, s)
    };
    let mut listed: Vec<&str> = listing.lines().map(str::trim).collect();
    listed.sort();
    assert_eq!((code, listed), (226, vec!["done.bin", "killed.bin"]));
}

/// The server itself dies (`kill -9`) in the middle of an upload and is started again:
/// the final name never appears, the crash's temporary file is not served or listed,
/// and the same upload then succeeds whole.
#[test]
fn server_killed_during_an_upload_restarts_clean() {
    let mut g = Griddock::start("[auth]\nanonymous = \"write\"\n");
    let whole = pseudo_random(3 << 20, 12);
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    let addr = f.pasv();
    let mut data = TcpStream::connect(addr).unwrap();
    assert_eq!(f.cmd("STOR crash.bin").0, 150);
    data.write_all(&whole[..1 << 20]).unwrap();
    let tmp = wait_for_upload_file(&g.data(), ".griddock-tmp.", ".crash.bin", 1 << 20);
    let (ok, out) =
        common::run(std::process::Command::new("kill").args(["-KILL", &g.pid().to_string()]));
    assert!(ok, "{out}");
    drop((f, data));
    g.restart(&[]);
    assert!(
        !g.data().join("crash.bin").exists(),
        "crashed upload visible"
    );
    assert!(
        tmp.exists(),
        "a fresh temporary file is kept (swept after stale_upload_age)"
    );
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    assert_eq!(f.code("SIZE crash.bin"), 550);
    let name = tmp.file_name().unwrap().to_str().unwrap().to_string();
    f.pasv();
    assert_eq!(
        f.code(&format!("RETR {name}")),
        550,
        "temporary file addressable"
    );
    assert_eq!(f.stor("crash.bin", &whole), 226);
    assert!(std::fs::read(g.data().join("crash.bin")).unwrap() == whole);
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
    let g = Griddock::start("[limits]\nmax_sessions = 2\nlogin_timeout = \"3s\"\n");
    let mut a = Ftp::connect(g.ftp);
    a.login("anonymous", "x");
    let mut b = Ftp::connect(g.ftp);
    // Activity without logging in does not extend the login deadline.
    assert_eq!(b.code("NOOP"), 200);
    std::thread::sleep(Duration::from_millis(1500));
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
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut d = loop {
        if let Some(greeted) = common::ftp::greeted(g.ftp) {
            break greeted;
        }
        assert!(Instant::now() < deadline, "the permit never came back");
        std::thread::sleep(Duration::from_millis(100));
    };
    d.write_all(b"NOOP\r\n").unwrap();
    let mut buf = vec![0u8; 4096];
    let mut seen = String::new();
    while !seen.contains("\r\n200 ") {
        let n = d.read(&mut buf).unwrap();
        assert!(n > 0, "closed after the banner: {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}
