//! Resilience (issue 16 items 3, 4, 7, 10, 11): files with timestamps no calendar can show,
//! MFMT before 1970, a users file beside the log, a vanished data_dir, a port in use, the
//! open-file limit, stale upload files after a crash, a broken certificate replacement.
//! Each case talks to a real griddock over loopback and asserts the exact outcome.
//! (tests/faults.rs has the other items.)

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::ftp::Ftp;
use common::Griddock;

/// 9999-12-31T23:59:59Z, the last second a 4-digit year (RFC 3659 time-val) can carry.
const LAST_SECOND: u64 = 253_402_300_799;

fn set_mtime(path: &Path, t: SystemTime) {
    // Read-only: works for directories too (futimens needs ownership, not write access).
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.set_modified(t).unwrap();
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

/// A temp dir on a file system that keeps 64-bit timestamps (ext4 clamps at 2446): the
/// test's own temp dir if it does, else /dev/shm (tmpfs). `None` when neither does.
fn far_future_dir() -> Option<tempfile::TempDir> {
    let far = UNIX_EPOCH + Duration::from_secs(1 << 40);
    let candidates = [std::env::temp_dir(), PathBuf::from("/dev/shm")];
    for base in candidates {
        let Ok(dir) = tempfile::tempdir_in(&base) else {
            continue;
        };
        let probe = dir.path().join("probe");
        if std::fs::write(&probe, b"").is_err() {
            continue;
        }
        set_mtime(&probe, far);
        let kept = mtime(&probe) == far;
        std::fs::remove_file(&probe).unwrap();
        if kept {
            return Some(dir);
        }
    }
    common::missing_peer(
        "a file system keeping 64-bit timestamps",
        "need tmpfs at /dev/shm",
    );
    None
}

/// Reads a listing verb's output over a passive data connection.
fn listing(f: &mut Ftp, verb: &str) -> (u16, String) {
    let addr = f.pasv();
    let mut data = TcpStream::connect(addr).unwrap();
    let (c, t) = f.cmd(verb);
    if c >= 400 {
        return (c, t);
    }
    assert_eq!(c, 150, "{verb}: {t}");
    let mut out = String::new();
    data.read_to_string(&mut out).unwrap();
    let (c, t) = f.reply();
    assert_eq!(c, 226, "{verb}: {t}");
    (c, out)
}

#[test]
fn timestamps_beyond_any_calendar_are_shown_clamped_and_never_end_the_session() {
    let Some(shm) = far_future_dir() else { return };
    let data = shm.path().join("data");
    std::fs::create_dir_all(data.join("dir")).unwrap();
    let data_env = data.display().to_string();
    let g = Griddock::start_with_env(
        "[auth]\nanonymous = \"write\"\n",
        &[("GRIDDOCK_DATA_DIR", &data_env)],
    );
    let cases = [
        ("y10000", UNIX_EPOCH + Duration::from_secs(LAST_SECOND + 1)),
        ("huge", UNIX_EPOCH + Duration::from_secs(1 << 62)),
        ("ancient", UNIX_EPOCH - Duration::from_secs(1 << 62)),
    ];
    for (name, t) in cases {
        let p = data.join(name);
        std::fs::write(&p, name).unwrap();
        set_mtime(&p, t);
        assert_eq!(mtime(&p), t, "the file system kept {name}'s mtime");
    }
    set_mtime(&data.join("dir"), cases[0].1);

    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    assert_eq!(f.cmd("MDTM y10000"), (213, "213 99991231235959\r\n".into()));
    assert_eq!(f.cmd("MDTM huge"), (213, "213 99991231235959\r\n".into()));
    assert_eq!(
        f.cmd("MDTM ancient"),
        (213, "213 00000101000000\r\n".into())
    );
    let (c, t) = f.cmd("MLST huge");
    assert!(c == 250 && t.contains("modify=99991231235959;"), "{t}");
    let (c, t) = f.cmd("STAT /");
    assert!(c == 213 && t.contains("Dec 31  9999 huge"), "{t}");
    assert!(t.contains("Jan  1  0000 ancient"), "{t}");
    let (_, out) = listing(&mut f, "LIST");
    assert!(out.contains("Dec 31  9999 y10000"), "{out}");
    let (_, out) = listing(&mut f, "MLSD");
    assert!(out.contains("modify=00000101000000;"), "{out}");
    assert!(
        out.contains("modify=99991231235959;") && out.contains(" dir\r\n"),
        "{out}"
    );
    let (_, out) = listing(&mut f, "LIST dir");
    assert_eq!(out, "", "{out}");
    assert_eq!(f.code("NOOP"), 200, "the session survived every verb");
    assert_eq!(f.code("QUIT"), 221);
    drop(f);
    // The session gauge comes back down (bounded poll: the close is asynchronous).
    let gauge = "griddock_sessions_active{endpoint=\"ftp\"}";
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while g.metric(gauge) != 0.0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(g.metric(gauge), 0.0);
    assert!(!g.log().contains("panicked"), "{}", g.log());
}

#[test]
fn mfmt_before_1970_sets_the_time_and_no_reply_ever_carries_a_panic() {
    // tmpfs keeps 1900 exactly; ext4 would clamp it to 1901-12-13 (its s_time_min).
    let Some(shm) = far_future_dir() else { return };
    let data = shm.path().join("data");
    std::fs::create_dir_all(data.join("d")).unwrap();
    std::fs::write(data.join("f"), b"x").unwrap();
    let data_env = data.display().to_string();
    let g = Griddock::start_with_env(
        "[auth]\nanonymous = \"write\"\n",
        &[("GRIDDOCK_DATA_DIR", &data_env)],
    );
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    let (c, t) = f.cmd("MFMT 19000101000000 f");
    assert_eq!((c, t.as_str()), (213, "213 Modify=19000101000000; /f\r\n"));
    let y1900 = UNIX_EPOCH - Duration::from_secs(2_208_988_800);
    assert_eq!(mtime(&data.join("f")), y1900);
    assert_eq!(f.cmd("MDTM f").1, "213 19000101000000\r\n");
    let (c, t) = f.cmd("MFMT 00000101000000 d");
    assert_eq!((c, t.as_str()), (213, "213 Modify=00000101000000; /d\r\n"));
    let (c, t) = f.cmd("MLST d");
    assert!(c == 250 && t.contains("modify=00000101000000;"), "{t}");
    let (c, t) = f.cmd("MFMT 19691231235959 f");
    assert_eq!((c, t.as_str()), (213, "213 Modify=19691231235959; /f\r\n"));
    assert_eq!(f.code("MFMT 19000101000000 missing"), 550);
    assert_eq!(f.code("NOOP"), 200);
    let log = g.log();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn a_users_file_beside_the_log_is_reloaded_once_per_change() {
    // The users file in the directory griddock logs into: every log line is a change in
    // that directory, and griddock's own reads of the file are inotify events too.
    let mut g = Griddock::prepare();
    let users = g.dir.path().join("users.toml");
    std::fs::write(&users, common::user_entry("alice", "a", "read")).unwrap();
    g.launch(
        &format!(
            "[auth]\nanonymous = \"read\"\nusers_file = \"{}\"\n",
            users.display()
        ),
        &[],
    );
    for _ in 0..5 {
        let mut f = Ftp::connect(g.ftp);
        f.login("anonymous", "x");
        assert_eq!(f.code("QUIT"), 221);
    }
    let tmp = g.dir.path().join("users.new");
    std::fs::write(
        &tmp,
        common::user_entry("alice", "a", "read") + &common::user_entry("bob", "b", "read"),
    )
    .unwrap();
    std::fs::rename(&tmp, &users).unwrap();
    assert!(
        g.wait_log("users file reloaded", Duration::from_secs(10)),
        "{}",
        g.log()
    );
    let mut f = Ftp::connect(g.ftp);
    f.login("bob", "b");
    // A reload that feeds on its own log line repeats every 200 ms: give it five rounds.
    std::thread::sleep(Duration::from_secs(1));
    let reloads = g.log().matches("users file reloaded").count();
    assert_eq!(reloads, 1, "{}", g.log());
}

/// Polls /readyz until its status is `want`; returns (elapsed, body).
fn until_readyz(g: &Griddock, want: u16) -> (Duration, String) {
    let started = std::time::Instant::now();
    loop {
        match g.http_get("/readyz") {
            Ok((code, body)) if code == want => return (started.elapsed(), body),
            other => assert!(
                started.elapsed() < Duration::from_secs(10),
                "/readyz never {want}: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_deleted_data_dir_is_not_ready_and_a_recreated_one_is_served() {
    let g = Griddock::start("[auth]\nanonymous = \"write\"\n");
    let data = g.data();
    std::fs::remove_dir_all(&data).unwrap();
    let (_, body) = until_readyz(&g, 503);
    assert!(
        body.contains("data_dir: not ready") && body.contains("was deleted"),
        "{body}"
    );
    std::fs::create_dir(&data).unwrap();
    let (recovery, body) = until_readyz(&g, 200);
    eprintln!("recovered {recovery:?} after the directory was created again");
    assert!(body.contains("data_dir: ready"), "{body}");
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    assert_eq!(f.stor("after", b"new dir"), 226);
    assert_eq!(std::fs::read(data.join("after")).unwrap(), b"new dir");
}

/// A griddock started outside the harness, killed when the test ends (pass or fail).
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_port_in_use_exits_1_before_writing_anything() {
    let g = Griddock::prepare();
    // Everything else is free; the GridFTP port, bound last before, is taken.
    let busy = std::net::TcpListener::bind(g.gridftp).unwrap();
    let state = g.state();
    std::fs::write(
        g.dir.path().join("g.toml"),
        format!(
            "data_dir = \"{}\"\nstate_dir = \"{}\"\n[ftp]\nlisten = \"{}\"\npassive_ports = \"{}-{}\"\n\
             [gridftp]\nlisten = \"{}\"\npassive_ports = \"{}-{}\"\n[http]\nlisten = \"{}\"\n",
            g.dir.path().join("fresh-data").display(),
            state.display(),
            g.ftp,
            g.passive.0,
            g.passive.1,
            g.gridftp,
            g.passive.0,
            g.passive.1,
            g.http
        ),
    )
    .unwrap();
    let child = std::process::Command::new(Griddock::bin())
        .args(["serve", "--config"])
        .arg(g.dir.path().join("g.toml"))
        .env_remove("GRIDDOCK_CONFIG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Stopped(child);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.0.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "still running with the port taken"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut err = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(child.0.wait().unwrap().code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("gridftp: cannot listen on {}", g.gridftp))
            && err.contains("Address already in use"),
        "{err}"
    );
    assert!(!state.exists(), "state_dir (and a certificate) was created");
    assert!(
        !g.dir.path().join("fresh-data").exists(),
        "data_dir was created"
    );
    drop(busy);
}

#[test]
fn the_soft_open_file_limit_is_raised_to_the_hard_limit() {
    let g = Griddock::prepare();
    let toml = format!(
        "data_dir = \"{}\"\nstate_dir = \"{}\"\n[ftp]\nlisten = \"{}\"\npassive_ports = \"{}-{}\"\n\
         [gridftp]\nenabled = false\n[http]\nlisten = \"{}\"\n[webdav]\nlisten = \"{}\"\n",
        g.data().display(),
        g.state().display(),
        g.ftp,
        g.passive.0,
        g.passive.1,
        g.http,
        g.webdav
    );
    std::fs::write(g.dir.path().join("g.toml"), toml).unwrap();
    let log = std::fs::File::create(g.dir.path().join("griddock.log")).unwrap();
    // Start with a low soft limit (what most hosts give a service: 1024).
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -S -n 256 && exec {} serve --config {}",
            Griddock::bin(),
            g.dir.path().join("g.toml").display()
        ))
        .env_remove("GRIDDOCK_CONFIG")
        .stderr(log)
        .spawn()
        .unwrap();
    let child = Stopped(child);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !matches!(g.http_get("/readyz"), Ok((200, _))) {
        assert!(std::time::Instant::now() < deadline, "{}", g.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.0.id())).unwrap();
    drop(child);
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let nums: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(nums[0], nums[1], "soft = hard: {line}");
    assert_ne!(nums[0], "256", "{line}");
    assert!(
        g.log().contains("raised the open-file limit"),
        "{}",
        g.log()
    );
}

fn aged_file(path: &Path, age: Duration) {
    std::fs::write(path, b"left by a crash").unwrap();
    set_mtime(path, SystemTime::now() - age);
}

/// Polls until `path` is gone (bounded).
fn until_gone(path: &Path, g: &Griddock) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never removed:\n{}",
            path.display(),
            g.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn stale_upload_files_are_removed_at_start_and_fresh_ones_kept() {
    let mut g = Griddock::prepare();
    let d = g.data();
    std::fs::create_dir_all(d.join("sub")).unwrap();
    let hour = Duration::from_secs(3600);
    let stale = [
        d.join(".griddock-tmp.0123456789abcdef.crashed.bin"),
        d.join("sub/.griddock-tmp.fedcba9876543210.also"),
        d.join(".griddock-part.abandoned.bin"),
    ];
    for p in &stale {
        aged_file(p, 25 * hour);
    }
    let fresh = [
        d.join(".griddock-tmp.00000000000000ff.recent"),
        d.join(".griddock-part.resumable"),
        d.join("old-user-file"),
    ];
    aged_file(&fresh[0], hour);
    aged_file(&fresh[1], 23 * hour);
    aged_file(&fresh[2], 1000 * hour);
    g.launch("", &[]);
    for p in &stale {
        until_gone(p, &g);
    }
    for p in &fresh {
        assert!(p.exists(), "{} removed", p.display());
    }
    assert_eq!(g.log().matches("stale upload file removed").count(), 3);
}

#[test]
fn a_live_upload_survives_a_sweep_that_would_take_its_file_by_age() {
    let g =
        Griddock::start("[auth]\nanonymous = \"write\"\n[storage]\nstale_upload_age = \"2s\"\n");
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    let addr = f.pasv();
    let mut data = TcpStream::connect(addr).unwrap();
    assert_eq!(f.cmd("STOR live.bin").0, 150);
    std::io::Write::write_all(&mut data, b"first half, ").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let tmp = loop {
        let found = std::fs::read_dir(g.data())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().contains(".griddock-tmp."));
        if let Some(p) = found {
            if std::fs::metadata(&p).unwrap().len() == 12 {
                break p;
            }
        }
        assert!(std::time::Instant::now() < deadline, "no temp file");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Looks abandoned by age; a decoy shows when a sweep has run since.
    let hour = Duration::from_secs(3600);
    set_mtime(&tmp, SystemTime::now() - hour);
    let decoy = g.data().join(".griddock-tmp.00000000000000dd.decoy");
    aged_file(&decoy, hour);
    until_gone(&decoy, &g);
    assert!(tmp.exists(), "the live upload's file was removed");
    std::io::Write::write_all(&mut data, b"second half").unwrap();
    drop(data);
    assert_eq!(f.reply().0, 226);
    assert_eq!(
        std::fs::read(g.data().join("live.bin")).unwrap(),
        b"first half, second half"
    );
}

#[test]
fn a_broken_certificate_replacement_is_rejected_once_not_every_300_ms() {
    // A certificate pair to serve from files: the one a first griddock generates.
    let first = Griddock::start("");
    let certs = tempfile::tempdir().unwrap();
    let (crt, key) = (certs.path().join("tls.crt"), certs.path().join("tls.key"));
    std::fs::copy(first.cert(), &crt).unwrap();
    std::fs::copy(first.state().join("tls/selfsigned.key"), &key).unwrap();
    drop(first);
    let g = Griddock::start(&format!(
        "[tls]\nsource = \"files\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        crt.display(),
        key.display()
    ));
    let tmp = certs.path().join("tls.crt.new");
    std::fs::write(&tmp, "-----BEGIN CERTIFICATE-----\ngarbage\n").unwrap();
    std::fs::rename(&tmp, &crt).unwrap();
    let rejected = "new certificate rejected";
    assert!(g.wait_log(rejected, Duration::from_secs(10)), "{}", g.log());
    // The reload loop re-read the files on its own reads' inotify events: give it four
    // 300 ms rounds to repeat the warning.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(g.log().matches(rejected).count(), 1, "{}", g.log());
}
