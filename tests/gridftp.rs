//! The GridFTP endpoint against the real globus-url-copy (GUC, the client library FTS and
//! gfal2 share): MODE E with 1, 4 and 8 streams, `-fast` and `-pp` (data-channel caching
//! and pipelining) over a directory tree with `-r -cd`, ERET/ESTO partial transfers, an
//! interrupted upload resumed with ESTO, and 111/112 markers from the receiving side.
//! Wire forms GUC parses (SPAS, range REST, 125 on a cached channel) are pinned with the
//! raw client.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::ftp::Ftp;
use common::{log_field, random_file, require_tool, run, sha256, Griddock, Vsftpd};

const CONFIG: &str = "[auth]\nanonymous = \"write\"\n[gridftp]\nmarker_interval = \"1s\"\n";

fn guc(args: &[&str]) -> (bool, String) {
    run(Command::new("globus-url-copy").args(args))
}

fn url(g: &Griddock, path: &str) -> String {
    format!("ftp://{}/{}", g.gridftp, path.trim_start_matches('/'))
}

/// A small tree with the sizes that matter for MODE E: empty, one byte, one block and a
/// partial one, several 4 MiB blocks, and a nested directory.
fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    std::fs::write(root.join("one"), b"x").unwrap();
    random_file(&root.join("a.bin"), 1_048_583, 1);
    random_file(&root.join("sub/b.bin"), 9_437_201, 2);
    random_file(&root.join("sub/deeper/c.bin"), 300_001, 3);
}

fn assert_same_tree(a: &Path, b: &Path) {
    let mut seen = 0;
    for rel in ["empty", "one", "a.bin", "sub/b.bin", "sub/deeper/c.bin"] {
        let (x, y) = (a.join(rel), b.join(rel));
        assert!(y.exists(), "{} missing", y.display());
        assert_eq!(sha256(&x), sha256(&y), "{rel} differs");
        seen += 1;
    }
    assert_eq!(seen, 5);
}

#[test]
fn mode_e_streams_fast_and_pipelined_trees_both_ways() {
    if !require_tool("globus-url-copy") {
        return;
    }
    let g = Griddock::start(CONFIG);
    make_tree(&g.data().join("tree"));
    let local = g.dir.path().join("local");
    let cases: [&[&str]; 6] = [
        &["-p", "1"],
        &["-p", "4"],
        &["-p", "8"],
        &["-p", "4", "-fast"],
        &["-p", "4", "-pp"],
        &["-pp"],
    ];
    let mode_s = |g: &Griddock| g.log().matches("command=Mode('S')").count();
    for (i, opts) in cases.iter().enumerate() {
        let down = local.join(format!("down{i}"));
        let mut args = opts.to_vec();
        args.push("-dbg");
        let (src, dst) = (url(&g, "tree/"), format!("file://{}/", down.display()));
        args.extend(["-r", "-cd", &src, &dst]);
        let mode_s_before = mode_s(&g);
        let (ok, out) = guc(&args);
        assert!(ok, "download {opts:?}: {out}\n{}", g.log());
        assert_same_tree(&g.data().join("tree"), &down);
        // Proven used, not merely accepted. -fast: the listing too runs in MODE E and the
        // data channels are kept between files (no MODE S, a 125 reply). -pp alone makes
        // globus-url-copy switch to MODE E and send RETR after RETR on the kept channels
        // (125); without it every file gets its own PASV in MODE S.
        if opts.contains(&"-fast") {
            assert_eq!(
                mode_s(&g),
                mode_s_before,
                "-fast: MODE S was used:\n{}",
                g.log()
            );
        } else {
            // …which is what it does without -fast (listing sub/ after MODE E files).
            assert!(mode_s(&g) > mode_s_before, "{opts:?}: no MODE S listing");
        }
        if opts.contains(&"-fast") || opts.contains(&"-pp") {
            assert!(
                out.contains("125 Reusing data connection"),
                "{opts:?}: no data channel reused:\n{out}"
            );
        }

        let up = format!("up{i}/");
        let mut args = opts.to_vec();
        let (src, dst) = (format!("file://{}/", down.display()), url(&g, &up));
        args.extend(["-r", "-cd", &src, &dst]);
        let (ok, out) = guc(&args);
        assert!(ok, "upload {opts:?}: {out}\n{}", g.log());
        assert_same_tree(&g.data().join("tree"), &g.data().join(&up));
    }
    // The log shows the parallel streams really were used, in both directions, 8 of them
    // with -p 8 (field equality: `streams=80` is not 8).
    let log = g.xferlog();
    for (verb, n) in [("RETR", "8"), ("STOR", "8"), ("STOR", "4")] {
        assert!(
            log.iter()
                .any(|l| log_field(l, "verb") == Some(verb) && log_field(l, "streams") == Some(n)),
            "no {n}-stream {verb} in {log:#?}"
        );
    }
    // No temporary or part files left behind by the cached, pipelined uploads.
    let leftovers: Vec<_> = walk(&g.data())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".griddock-"))
        .collect();
    assert!(leftovers.is_empty(), "leftovers: {leftovers:?}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn eret_partial_download_and_esto_resume_of_an_interrupted_upload() {
    if !require_tool("globus-url-copy") {
        return;
    }
    let g = Griddock::start(CONFIG);
    let src = g.data().join("big.bin");
    random_file(&src, 6_000_037, 9);
    let original = std::fs::read(&src).unwrap();
    let local = g.dir.path().join("local");
    std::fs::create_dir_all(&local).unwrap();

    // ERET: GUC writes [off, off+len) at the same offset of the local file.
    for streams in ["1", "4"] {
        let out = local.join(format!("part{streams}"));
        let dst = format!("file://{}", out.display());
        let (ok, text) = guc(&[
            "-p",
            streams,
            "-off",
            "1000003",
            "-len",
            "2500000",
            &url(&g, "big.bin"),
            &dst,
        ]);
        assert!(ok, "ERET -p {streams}: {text}");
        let got = std::fs::read(&out).unwrap();
        assert_eq!(got.len(), 3_500_003);
        assert!(got[1_000_003..] == original[1_000_003..3_500_003]);
    }
    assert!(g.xferlog().iter().any(|l| l.contains("verb=\"ERET\"")));

    // An upload cut off after about 2 MB leaves a part file ...
    let mut c = Ftp::connect(g.gridftp);
    c.login("anonymous", "x");
    assert_eq!(c.code("TYPE I"), 200);
    let data = c.pasv();
    c.send_raw(b"STOR up.bin\r\n");
    let mut sock = TcpStream::connect(data).unwrap();
    assert_eq!(c.reply().0, 150);
    sock.write_all(&original[..2_000_000]).unwrap();
    // Once griddock holds the bytes (STAT during the transfer), the client dies: control
    // first, so the data EOF cannot look like a finished file.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, text) = c.cmd_past_markers("STAT");
        assert_eq!(code, 213, "{text}");
        if text.contains("2000000 bytes") {
            break;
        }
        assert!(Instant::now() < deadline, "upload stalled: {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(c);
    std::thread::sleep(Duration::from_millis(200));
    drop(sock);
    let part = g.data().join(".griddock-part.up.bin");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !part.exists() {
        assert!(Instant::now() < deadline, "no part file:\n{}", g.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let have = std::fs::metadata(&part).unwrap().len();
    assert!(have > 0 && have <= 2_000_000, "part holds {have}");
    assert!(
        !g.data().join("up.bin").exists(),
        "an interrupted upload is never final"
    );

    // ... which GUC completes with ESTO A <have> (-off on an upload), in MODE E.
    let off = have.to_string();
    let rest = (original.len() as u64 - have).to_string();
    let (ok, text) = guc(&[
        "-p",
        "4",
        "-off",
        &off,
        "-len",
        &rest,
        &format!("file://{}", src.display()),
        &url(&g, "up.bin"),
    ]);
    assert!(ok, "ESTO resume: {text}\n{}", g.log());
    assert_eq!(sha256(&g.data().join("up.bin")), sha256(&src));
    assert!(!part.exists(), "part file consumed by the resume");
    assert!(g.xferlog().iter().any(|l| l.contains("verb=\"ESTO\"")));
}

/// (Timestamp, bytes) of each 112 marker griddock sent, from GUC's
/// debug output.
fn perf_markers(debug: &str) -> Vec<(f64, u64)> {
    let mut out = Vec::new();
    let mut stamp = None;
    for line in debug.lines() {
        if let Some(t) = line.strip_prefix(" Timestamp: ") {
            let (_, frac) = t.trim().split_once('.').expect("one decimal");
            assert_eq!(frac.len(), 1, "Timestamp with one decimal: {t}");
            stamp = Some(t.trim().parse::<f64>().unwrap());
        }
        if let Some(b) = line.strip_prefix(" Stripe Bytes Transferred: ") {
            out.push((
                stamp.take().expect("Timestamp first"),
                b.trim().parse().unwrap(),
            ));
        }
    }
    out
}

#[test]
fn markers_every_interval_from_the_receiving_side() {
    if !require_tool("globus-url-copy") || !require_tool("vsftpd") {
        return;
    }
    let g = Griddock::start(CONFIG);
    // A throttled source (vsftpd at 500 kB/s): a third-party copy into griddock in MODE S
    // lasts about 5 s; GUC reads griddock's markers on the control connection.
    let vs = Vsftpd::start_with("anon_max_rate=500000\n");
    let src = vs.root().join("slow.bin");
    random_file(&src, 2_500_000, 4);
    common::chmod(&src, 0o644);
    let (ok, debug) = guc(&["-dbg", &vs.url("slow.bin"), &url(&g, "slow.bin")]);
    assert!(ok, "third-party copy: {debug}");
    assert_eq!(sha256(&g.data().join("slow.bin")), sha256(&src));
    let markers = perf_markers(&debug);
    // About 5 s of data at 1 s intervals: at least 3 markers (client start-up and
    // logins are not counted, so a slow machine does not fail this).
    assert!(markers.len() >= 3, "{} markers: {debug}", markers.len());
    for w in markers.windows(2) {
        assert!(w[1].1 >= w[0].1, "bytes never go back: {markers:?}");
        // One interval (1 s) apart; Timestamps have 0.1 s resolution, the data arrive in
        // bursts and a loaded machine wakes the timer late, so allow some tenths either
        // way, but not a skipped interval (2 s).
        let gap = w[1].0 - w[0].0;
        assert!(
            (0.6..=1.9).contains(&gap),
            "markers {gap:.1} s apart at a 1 s interval: {markers:?}"
        );
    }
    assert!(markers.last().unwrap().1 > 0);
    assert!(
        debug.contains("111 Range Marker 0-"),
        "restart markers: {debug}"
    );

    // MODE E upload from a slow producer: markers carry the ranges written so far.
    // (coreutils timeout: a hung client fails the test instead of hanging the suite.)
    let mut child = Command::new("timeout")
        .args([
            "-k",
            "5",
            "120",
            "globus-url-copy",
            "-dbg",
            "-p",
            "2",
            "file:///dev/stdin",
            &url(&g, "piped.bin"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut sent = Vec::new();
    for i in 0..4u8 {
        let chunk = vec![i; 600_000];
        stdin.write_all(&chunk).unwrap();
        sent.extend(chunk);
        std::thread::sleep(Duration::from_millis(900));
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let debug =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "piped MODE E upload: {debug}");
    assert_eq!(std::fs::read(g.data().join("piped.bin")).unwrap(), sent);
    assert!(perf_markers(&debug).len() >= 2, "{debug}");
    assert!(debug.contains("111 Range Marker 0-"), "{debug}");
}

fn header(descriptor: u8, count: u64, offset: u64) -> Vec<u8> {
    let mut h = vec![descriptor];
    h.extend(count.to_be_bytes());
    h.extend(offset.to_be_bytes());
    h
}

/// The replies GUC parses, byte for byte, and the cached data channel (125 on reuse).
#[test]
fn gridftp_wire_forms_and_cached_channel() {
    let g = Griddock::start(CONFIG);
    let mut c = Ftp::connect(g.gridftp);
    c.login("anonymous", "x");
    let (code, feat) = c.cmd("FEAT");
    assert_eq!(code, 211);
    for f in [
        "\n ERET\r",
        "\n ESTO\r",
        "\n PARALLEL\r",
        "\n SPAS\r",
        "\n SPOR\r",
    ] {
        assert!(feat.contains(f), "FEAT lacks {f:?}: {feat}");
    }
    assert!(
        !feat.contains(" DCAU"),
        "DCAU needs GSI (no gridmap_file here): {feat}"
    );
    assert_eq!(c.code("REST 0-100"), 501, "range REST needs MODE E");
    assert_eq!(c.code("MODE E"), 200);
    assert_eq!(c.code("OPTS RETR Parallelism=4,4,4;"), 200);
    assert_eq!(c.code("OPTS RETR Parallelism=x;"), 501);
    assert_eq!(c.code("ERET Q 0 1 x"), 501);
    assert_eq!(c.code("SPOR 127,0,0,1,1,1 127,0,0,1,1,2"), 501);
    let (code, spas) = c.cmd("SPAS");
    assert_eq!(code, 229);
    let lines: Vec<&str> = spas.lines().collect();
    assert_eq!(lines.len(), 3, "{spas:?}");
    assert!(lines[0].starts_with("229-"));
    assert!(lines[1].starts_with(" 127,0,0,1,"), "{spas:?}");
    assert!(lines[2].starts_with("229 "));
    let p: Vec<u16> = lines[1]
        .trim()
        .split(',')
        .map(|x| x.parse().unwrap())
        .collect();
    let data: SocketAddr = ([127, 0, 0, 1], p[4] * 256 + p[5]).into();

    // Two MODE E uploads over one data connection: EOD without CLOSE keeps it open.
    let mut sock = TcpStream::connect(data).unwrap();
    for (name, body) in [("one.bin", &b"first file"[..]), ("two.bin", &b"second"[..])] {
        let (code, text) = c.cmd(&format!("STOR {name}"));
        let expected = if name == "one.bin" { 150 } else { 125 };
        assert_eq!(code, expected, "{text}");
        sock.write_all(&header(0, body.len() as u64, 0)).unwrap();
        sock.write_all(body).unwrap();
        sock.write_all(&header(0x40 | 0x08, 0, 1)).unwrap();
        let (code, text) = c.reply_past_markers();
        assert_eq!(code, 226, "{text}");
        assert_eq!(std::fs::read(g.data().join(name)).unwrap(), body);
    }
    // A range REST is acknowledged with the text GUC expects, and a changed MODE drops
    // the cache (the next transfer needs a new PASV/PORT).
    let (code, text) = c.cmd("REST 0-4");
    assert_eq!(
        (code, text.trim_end()),
        (
            350,
            "350 Restart Marker OK. Send STORE or RETRIEVE to initiate transfer."
        )
    );
    assert_eq!(c.code("MODE S"), 200);
    assert_eq!(c.code("STOR three.bin"), 425);
    let mut probe = [0u8; 1];
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // EOF or reset only: a read timeout means the cached connection was kept.
    let closed = match sock.read(&mut probe) {
        Ok(n) => n == 0,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(closed, "cached connection not closed after MODE S");

    // The FTP endpoint stays plain FTP: one refusal for every GridFTP verb (502, before
    // login too), 504 for a GridFTP parameter of a verb it has.
    let mut f = Ftp::connect(g.ftp);
    assert_eq!(
        f.code("ERET P 0 1 x"),
        502,
        "not offered, whatever the login"
    );
    f.login("anonymous", "x");
    for verb in [
        "ERET P 0 1 x",
        "ERET Q 0 1 x",
        "ESTO A 0 x",
        "SPAS",
        "SPOR 127,0,0,1,1,1",
        "DCAU N",
        "SBUF 65536",
        "ADAT AAAA",
    ] {
        assert_eq!(f.code(verb), 502, "{verb} on the FTP endpoint");
    }
    for param in [
        "MODE E",
        "OPTS RETR Parallelism=4,4,4;",
        "REST 0-100",
        "SITE CLIENTINFO appname=\"x\"",
        "SITE RETRBUFSIZE 1048576",
        "AUTH GSSAPI",
    ] {
        assert_eq!(f.code(param), 504, "{param} on the FTP endpoint");
    }
    let (_, help) = f.cmd("HELP");
    assert!(!help.contains("SPAS"), "{help}");
    let (_, help) = c.cmd("HELP");
    assert!(help.contains(" DCAU ERET ESTO SBUF SPAS SPOR\r"), "{help}");
    let (_, feat) = f.cmd("FEAT");
    assert!(
        !feat.contains("ERET") && !feat.contains("PARALLEL"),
        "{feat}"
    );
}

/// The same confinement and read-only rules as the FTP endpoint, GridFTP verbs included.
#[test]
fn gridftp_paths_confined_and_anonymous_read_only() {
    let g = Griddock::start("[auth]\nanonymous = \"read\"\n");
    std::fs::write(g.data().join("f"), b"0123456789").unwrap();
    let outside = g.dir.path().join("secret");
    std::fs::write(&outside, b"secret").unwrap();
    std::os::unix::fs::symlink(&outside, g.data().join("link")).unwrap();
    let mut c = Ftp::connect(g.gridftp);
    c.login("anonymous", "x");
    assert_eq!(c.code("MODE E"), 200);
    let data = c.pasv();
    for refused in [
        "STOR new",
        "ESTO A 0 new",
        "APPE f",
        "DELE f",
        "MKD d",
        "RNFR f",
        "SITE CHMOD 0777 f",
    ] {
        let (code, text) = c.cmd(refused);
        assert_eq!(code, 550, "{refused}: {text}");
    }
    for escape in [
        "ERET P 0 6 ../secret",
        "ERET P 0 6 /../../secret",
        "ERET P 0 6 link",
        "RETR ../secret",
        "CKSM MD5 0 -1 ../secret",
        "SIZE link",
    ] {
        let (code, text) = c.cmd(escape);
        assert_eq!(code, 550, "{escape}: {text}");
        assert!(!text.contains("secret\r\n213"), "{text}");
    }
    drop(TcpStream::connect(data));
    assert!(!g.data().join("new").exists());
    assert_eq!(std::fs::read(g.data().join("f")).unwrap(), b"0123456789");
    assert_eq!(c.code("NOOP"), 200, "session survives every refusal");
}

/// `OPTS RETR BlockSize=…` sets the MODE E block size of sends (read back header by
/// header from a PORT data connection).
#[test]
fn opts_retr_block_size_shapes_mode_e_blocks() {
    let g = Griddock::start(CONFIG);
    random_file(&g.data().join("f.bin"), 200_000, 5);
    let want = std::fs::read(g.data().join("f.bin")).unwrap();
    let mut c = Ftp::connect(g.gridftp);
    c.login("anonymous", "x");
    assert_eq!(c.code("MODE E"), 200);
    assert_eq!(c.code("OPTS RETR BlockSize=65536;Parallelism=1,1,1;"), 200);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    assert_eq!(
        c.code(&format!("PORT 127,0,0,1,{},{}", port >> 8, port & 0xff)),
        200
    );
    assert_eq!(c.cmd("RETR f.bin").0, 150);
    let (mut sock, _) = listener.accept().unwrap();
    let mut got = vec![0u8; want.len()];
    let mut counts = Vec::new();
    loop {
        let mut h = [0u8; 17];
        sock.read_exact(&mut h).unwrap();
        let count = u64::from_be_bytes(h[1..9].try_into().unwrap());
        let offset = u64::from_be_bytes(h[9..17].try_into().unwrap());
        if h[0] & 0x40 != 0 {
            assert_eq!(offset, 1, "EOF carries the connection count");
            break;
        }
        let at = usize::try_from(offset).unwrap();
        sock.read_exact(&mut got[at..at + count as usize]).unwrap();
        counts.push(count);
    }
    assert_eq!(c.reply().0, 226);
    assert_eq!(got, want);
    assert_eq!(counts, vec![65_536, 65_536, 65_536, 3_392]);
}

/// Without `marker_interval` the receiving side sends its markers every 5 s (the default
/// GUC and FTS expect): a raw MODE S upload trickling for 8 s gets exactly one 112
/// marker, 5 s after the transfer started (-0.6 s, +2 s for a loaded machine).
#[test]
fn default_marker_interval_is_five_seconds() {
    let g = Griddock::start("[auth]\nanonymous = \"write\"\n");
    let mut f = common::ftp::Ftp::connect(g.gridftp);
    f.login("anonymous", "x");
    let addr = f.pasv();
    let mut data = std::net::TcpStream::connect(addr).unwrap();
    let (c, t) = f.cmd("STOR trickle.bin");
    assert_eq!(c, 150, "{t}");
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(8000) {
        data.write_all(&[7u8; 1000]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(data);
    let mut stamps = Vec::new();
    loop {
        let (code, text) = f.reply();
        match code {
            112 => stamps.push(
                text.lines()
                    .find_map(|l| l.trim().strip_prefix("Timestamp: "))
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .unwrap_or_else(|| panic!("112 without a Timestamp: {text}")),
            ),
            111 => {}
            226 => break,
            _ => panic!("unexpected reply during the upload: {text}"),
        }
    }
    assert_eq!(stamps.len(), 1, "112 markers in 8 s: {stamps:?}");
    let after = stamps[0] - started;
    assert!(
        (4.4..=7.0).contains(&after),
        "first marker after {after:.1} s"
    );
}
