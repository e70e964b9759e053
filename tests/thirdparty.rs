//! GridFTP third-party copies driven by the real globus-url-copy, with `ftp://` URLs and
//! clear-text anonymous login: griddock's GridFTP endpoint → the reference
//! globus-gridftp-server, back, and griddock → griddock, each in MODE S (no `-p`) and in
//! MODE E with four parallel streams (`-p 4`); plus directory copies in MODE E both ways
//! between griddock and globus-gridftp-server, where globus-url-copy keeps the MODE E data
//! channels cached from one file to the next. Every destination file must be
//! byte-identical to its source; griddock's transfer log must show the transfer (four
//! streams when it sends in MODE E) and, where griddock connects out, that it connected to
//! the other server's passive ports; in the directory copies both servers must answer
//! `125` (data connection reused) for every file after the first.
//!
//! globus-gridftp-server runs as a child on loopback (see `common::gridftp`); the exact
//! command line is printed with its log when a case fails.

mod common;

use std::path::Path;
use std::time::Duration;

use common::gridftp::{griddock_url, guc, require_globus, GlobusServer};
use common::{random_file, sha256, Griddock};

/// Anonymous write; FXP to loopback (the default allow-list, spelt out).
const CONFIG: &str = "[ftp]\nfxp = \"allow-list\"\nfxp_allow = [\"127.0.0.0/8\"]\n\
                      [auth]\nanonymous = \"write\"\n";

const GUC_TIMEOUT: Duration = Duration::from_secs(30);

/// A few MB, deliberately not a multiple of any block size.
const SIZE: usize = 4_000_037;

fn guc_args<'a>(parallel: bool, extra: &[&'a str], src: &'a str, dst: &'a str) -> Vec<&'a str> {
    let mut args = vec!["-st", "20"];
    if parallel {
        args.extend(["-p", "4"]);
    }
    args.extend(extra);
    args.extend([src, dst]);
    args
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Everything worth reading when a copy fails.
fn report(out: &str, griddocks: &[(&str, &Griddock)], globus: Option<&GlobusServer>) -> String {
    let mut r = format!("--- globus-url-copy -dbg ---\n{}\n", tail(out, 150));
    for (name, g) in griddocks {
        r.push_str(&format!(
            "--- griddock {name} log ---\n{}\n",
            tail(&g.log(), 80)
        ));
    }
    if let Some(s) = globus {
        r.push_str(&format!(
            "--- {} ---\n{}\n",
            s.command_line(),
            tail(&s.log(), 120)
        ));
    }
    r
}

/// The transfer-log line for `verb path`: successful, `bytes` long, on the GridFTP
/// endpoint; returns it for further checks.
fn xfer_line(g: &Griddock, verb: &str, path: &str, bytes: u64) -> String {
    let lines = g.xferlog();
    let line = lines
        .iter()
        .rev()
        .find(|l| l.contains(&format!("verb=\"{verb}\"")) && l.contains(&format!("path={path} ")))
        .unwrap_or_else(|| panic!("no {verb} {path} in transfer log:\n{}", lines.join("\n")))
        .clone();
    assert!(line.contains("endpoint=\"gridftp\""), "{line}");
    assert!(
        line.contains(&format!("bytes={bytes} ")) && line.contains("result=\"ok\""),
        "{line}"
    );
    line
}

/// The data peer's port in a transfer-log line lies in `range`.
fn assert_data_peer_in(line: &str, range: (u16, u16), what: &str) {
    let port = line
        .split_whitespace()
        .find_map(|f| f.strip_prefix("data_peer=127.0.0.1:"))
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no loopback data_peer in {line}"));
    assert!(
        (range.0..=range.1).contains(&port),
        "griddock's data connection went to port {port}, not to {what}'s passive range {range:?}: {line}"
    );
}

/// The sending griddock used four data connections in MODE E, one in stream mode.
fn assert_streams(line: &str, parallel: bool) {
    let want = if parallel { "streams=4 " } else { "streams=1 " };
    assert!(line.contains(want), "expected {want}in {line}");
}

/// In a directory copy of `n` files in MODE E, both servers reused the cached data
/// channels for every file after the first (`125` instead of `150`).
fn assert_reused(out: &str, n: usize, logs: &dyn Fn() -> String) {
    let reused = out.lines().filter(|l| l.starts_with("125 ")).count();
    assert!(
        reused >= 2 * (n - 1),
        "{reused} `125` replies for {n} files: data channels not reused\n{}",
        logs()
    );
}

/// globus-url-copy put both servers in MODE E (or left both in stream mode).
fn assert_modes(out: &str, parallel: bool) {
    let mode_e = out.matches("MODE E").count();
    if parallel {
        assert!(mode_e >= 2, "MODE E not sent to both servers:\n{out}");
    } else {
        assert_eq!(mode_e, 0, "MODE E without -p:\n{out}");
    }
}

fn same(a: &Path, b: &Path) -> bool {
    b.exists() && sha256(a) == sha256(b)
}

fn griddock_to_globus(parallel: bool) {
    if !require_globus() {
        return;
    }
    let g = Griddock::start(CONFIG);
    let s = GlobusServer::start();
    random_file(&g.data().join("src.bin"), SIZE, 11);
    let (src, dst) = (griddock_url(&g, "src.bin"), s.url("dst.bin"));
    let (ok, out) = guc(&guc_args(parallel, &[], &src, &dst), GUC_TIMEOUT);
    assert!(
        ok,
        "{src} → {dst} failed\n{}",
        report(&out, &[("src", &g)], Some(&s))
    );
    assert!(
        same(&g.data().join("src.bin"), &s.root().join("dst.bin")),
        "destination differs\n{}",
        report(&out, &[("src", &g)], Some(&s))
    );
    assert_modes(&out, parallel);
    let line = xfer_line(&g, "RETR", "/src.bin", SIZE as u64);
    // The receiver is passive (in MODE E it has to be): griddock connected to globus.
    assert_data_peer_in(&line, s.passive, "globus-gridftp-server");
    assert_streams(&line, parallel);
    if parallel {
        assert!(
            s.log().contains("STREAMS=4"),
            "globus-gridftp-server did not receive over 4 streams:\n{}",
            tail(&s.log(), 60)
        );
    }
}

fn globus_to_griddock(parallel: bool) {
    if !require_globus() {
        return;
    }
    let g = Griddock::start(CONFIG);
    let s = GlobusServer::start();
    random_file(&s.root().join("src.bin"), SIZE, 12);
    let (src, dst) = (s.url("src.bin"), griddock_url(&g, "dst.bin"));
    let (ok, out) = guc(&guc_args(parallel, &[], &src, &dst), GUC_TIMEOUT);
    assert!(
        ok,
        "{src} → {dst} failed\n{}",
        report(&out, &[("dst", &g)], Some(&s))
    );
    assert!(
        same(&s.root().join("src.bin"), &g.data().join("dst.bin")),
        "destination differs\n{}",
        report(&out, &[("dst", &g)], Some(&s))
    );
    assert_modes(&out, parallel);
    xfer_line(&g, "STOR", "/dst.bin", SIZE as u64);
    if parallel {
        assert!(
            s.log().contains("STREAMS=4"),
            "globus-gridftp-server did not send over 4 streams:\n{}",
            tail(&s.log(), 60)
        );
    }
}

fn griddock_to_griddock(parallel: bool) {
    // No globus-gridftp-server here: the client is the only peer.
    if !common::require_tool("globus-url-copy") {
        return;
    }
    let (a, b) = (Griddock::start(CONFIG), Griddock::start(CONFIG));
    random_file(&a.data().join("src.bin"), SIZE, 13);
    let (src, dst) = (griddock_url(&a, "src.bin"), griddock_url(&b, "dst.bin"));
    let (ok, out) = guc(&guc_args(parallel, &[], &src, &dst), GUC_TIMEOUT);
    let logs = || report(&out, &[("src", &a), ("dst", &b)], None);
    assert!(ok, "{src} → {dst} failed\n{}", logs());
    assert!(
        same(&a.data().join("src.bin"), &b.data().join("dst.bin")),
        "destination differs\n{}",
        logs()
    );
    assert_modes(&out, parallel);
    let line = xfer_line(&a, "RETR", "/src.bin", SIZE as u64);
    xfer_line(&b, "STOR", "/dst.bin", SIZE as u64);
    // The receiver is passive in both modes: the source connected to b.
    assert_data_peer_in(&line, b.passive, "the destination griddock");
    assert_streams(&line, parallel);
    assert_eq!(
        a.metric("griddock_bytes_sent_total{endpoint=\"gridftp\"}"),
        SIZE as f64
    );
    assert_eq!(
        b.metric("griddock_bytes_received_total{endpoint=\"gridftp\"}"),
        SIZE as f64
    );
}

#[test]
fn griddock_to_globus_stream() {
    griddock_to_globus(false);
}

#[test]
fn griddock_to_globus_mode_e() {
    griddock_to_globus(true);
}

#[test]
fn globus_to_griddock_stream() {
    globus_to_griddock(false);
}

#[test]
fn globus_to_griddock_mode_e() {
    globus_to_griddock(true);
}

#[test]
fn griddock_to_griddock_stream() {
    griddock_to_griddock(false);
}

#[test]
fn griddock_to_griddock_mode_e() {
    griddock_to_griddock(true);
}

/// Files for the directory copies: several MB in all, odd sizes, one tiny, one empty.
const FILES: [(&str, usize); 5] = [
    ("a.bin", 1_048_583),
    ("b.bin", 2_500_001),
    ("c.bin", 7),
    ("d.bin", 0),
    ("e.bin", 1_750_003),
];

fn fill(dir: &Path, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    for (i, (name, len)) in FILES.iter().enumerate() {
        random_file(&dir.join(name), *len, seed + i as u64);
    }
}

fn assert_dir_copied(src: &Path, dst: &Path, logs: &dyn Fn() -> String) {
    for (name, _) in FILES {
        assert!(
            same(&src.join(name), &dst.join(name)),
            "{name} missing or different in {}\n{}",
            dst.display(),
            logs()
        );
    }
}

/// `globus-url-copy -p 4 -cd griddock/dir/ globus/out/`: griddock lists the directory
/// (MLSD) and sends each file over the cached MODE E channels.
#[test]
fn dir_griddock_to_globus_mode_e() {
    if !require_globus() {
        return;
    }
    let g = Griddock::start(CONFIG);
    let s = GlobusServer::start();
    fill(&g.data().join("dir"), 21);
    let (src, dst) = (griddock_url(&g, "dir/"), s.url("out/"));
    let (ok, out) = guc(&guc_args(true, &["-cd"], &src, &dst), GUC_TIMEOUT);
    let logs = || report(&out, &[("src", &g)], Some(&s));
    assert!(ok, "{src} → {dst} failed\n{}", logs());
    assert_dir_copied(&g.data().join("dir"), &s.root().join("out"), &logs);
    assert_modes(&out, true);
    assert_reused(&out, FILES.len(), &logs);
    for (name, len) in FILES {
        let line = xfer_line(&g, "RETR", &format!("/dir/{name}"), len as u64);
        assert_streams(&line, true);
    }
}

/// `globus-url-copy -p 4 -cd globus/dir/ griddock/out/`: griddock creates the directory and
/// receives each file over the cached MODE E channels.
#[test]
fn dir_globus_to_griddock_mode_e() {
    if !require_globus() {
        return;
    }
    let g = Griddock::start(CONFIG);
    let s = GlobusServer::start();
    fill(&s.root().join("dir"), 31);
    let (src, dst) = (s.url("dir/"), griddock_url(&g, "out/"));
    let (ok, out) = guc(&guc_args(true, &["-cd"], &src, &dst), GUC_TIMEOUT);
    let logs = || report(&out, &[("dst", &g)], Some(&s));
    assert!(ok, "{src} → {dst} failed\n{}", logs());
    assert_dir_copied(&s.root().join("dir"), &g.data().join("out"), &logs);
    assert_modes(&out, true);
    assert_reused(&out, FILES.len(), &logs);
    for (name, len) in FILES {
        xfer_line(&g, "STOR", &format!("/out/{name}"), len as u64);
    }
}
