//! Real clients (curl, lftp) against griddock's FTP endpoint: downloads and uploads, plain
//! and explicit FTPS (AUTH TLS + PROT P), byte-identical by sha256, a 1 GiB file and lftp
//! mirrors in both directions.

mod common;

use std::path::Path;
use std::process::Command;

use common::{random_file, require_tool, run, sha256, Griddock};

fn curl(args: &[&str]) -> (bool, String) {
    run(Command::new("curl")
        .args(["-sS", "--max-time", "300"])
        .args(args))
}

/// lftp with bounded retries and timeouts (its defaults retry 1000 times).
fn lftp(script: &str) -> (bool, String) {
    let script = format!("set net:max-retries 2; set net:timeout 10; {script}");
    run(Command::new("lftp").args(["-c", &script]))
}

const WRITABLE: &str = "[auth]\nanonymous = \"write\"\n";

#[test]
fn curl_plain_and_ftps_round_trip() {
    if !require_tool("curl") {
        return;
    }
    let g = Griddock::start(WRITABLE);
    random_file(&g.data().join("src.bin"), 3_000_001, 1);
    let out = g.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let cacert = g.cert();
    let cacert = cacert.to_str().unwrap();
    let want = sha256(&g.data().join("src.bin"));

    let dl = out.join("plain.bin");
    let (ok, log) = curl(&["-o", dl.to_str().unwrap(), &g.url("src.bin")]);
    assert!(ok, "{log}");
    assert_eq!(sha256(&dl), want);

    let dl = out.join("tls.bin");
    let (ok, log) = curl(&[
        "--ssl-reqd",
        "--cacert",
        cacert,
        "-o",
        dl.to_str().unwrap(),
        &g.url("src.bin"),
    ]);
    assert!(ok, "{log}");
    assert_eq!(sha256(&dl), want);

    let src = g.data().join("src.bin");
    let (ok, log) = curl(&["-T", src.to_str().unwrap(), &g.url("up-plain.bin")]);
    assert!(ok, "{log}");
    assert_eq!(sha256(&g.data().join("up-plain.bin")), want);

    let (ok, log) = curl(&[
        "--ssl-reqd",
        "--cacert",
        cacert,
        "-T",
        src.to_str().unwrap(),
        &g.url("up-tls.bin"),
    ]);
    assert!(ok, "{log}");
    assert_eq!(sha256(&g.data().join("up-tls.bin")), want);

    // The certificate really is verified: without the CA curl must refuse.
    let (ok, _) = curl(&["--ssl-reqd", "-o", "/dev/null", &g.url("src.bin")]);
    assert!(!ok, "curl accepted an untrusted certificate");
}

/// `[ftp] tls = "required"`: curl and lftp over FTPS download and upload; a clear-text
/// login is refused with the exact reply (curl without TLS fails on it), and a
/// TLS-protected login with clear data (curl --ftp-ssl-control) moves no data.
#[test]
fn tls_required_on_the_ftp_port() {
    if !require_tool("curl") || !require_tool("lftp") {
        return;
    }
    let g = Griddock::start("[ftp]\ntls = \"required\"\n[auth]\nanonymous = \"write\"\n");
    random_file(&g.data().join("src.bin"), 1_000_003, 3);
    let want = sha256(&g.data().join("src.bin"));
    let cacert = g.cert().display().to_string();
    let out = g.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();

    let dl = out.join("tls.bin");
    let (ok, log) = curl(&[
        "--ssl-reqd",
        "--cacert",
        &cacert,
        "-o",
        dl.to_str().unwrap(),
        &g.url("src.bin"),
    ]);
    assert!(ok, "FTPS download: {log}");
    assert_eq!(sha256(&dl), want);
    let src = g.data().join("src.bin");
    let (ok, log) = curl(&[
        "--ssl-reqd",
        "--cacert",
        &cacert,
        "-T",
        src.to_str().unwrap(),
        &g.url("up-tls.bin"),
    ]);
    assert!(ok, "FTPS upload: {log}");
    assert_eq!(sha256(&g.data().join("up-tls.bin")), want);
    let script = format!(
        "set ssl:ca-file {cacert}; set ftp:ssl-force yes; set ftp:ssl-allow-anonymous yes; \
         set ftp:ssl-protect-data yes; \
         get {} -o {}; put {} -o {}",
        g.url("src.bin"),
        out.join("lftp.bin").display(),
        src.display(),
        g.url("up-lftp.bin"),
    );
    let (ok, log) = lftp(&script);
    assert!(ok, "lftp FTPS: {log}");
    assert_eq!(sha256(&out.join("lftp.bin")), want);
    assert_eq!(sha256(&g.data().join("up-lftp.bin")), want);

    // Clear text: the login itself is refused, before any password is sent.
    let mut f = common::ftp::Ftp::connect(g.ftp);
    let (code, text) = f.cmd("USER anonymous");
    assert_eq!(
        (code, text.trim_end()),
        (530, "530 TLS required: send AUTH TLS first.")
    );
    let (ok, log) = curl(&[
        "-o",
        out.join("plain.bin").to_str().unwrap(),
        &g.url("src.bin"),
    ]);
    assert!(!ok && log.contains("530"), "plain curl: {log}");
    assert!(!out.join("plain.bin").exists());
    let (ok, log) = lftp(&format!(
        "set ftp:ssl-allow no; put {} -o {}",
        src.display(),
        g.url("up-plain.bin")
    ));
    assert!(!ok, "plain lftp upload: {log}");
    assert!(!g.data().join("up-plain.bin").exists());
    // Protected login, clear data channel: refused before any data moves.
    let (ok, log) = curl(&[
        "--ftp-ssl-control",
        "--cacert",
        &cacert,
        "-T",
        src.to_str().unwrap(),
        &g.url("up-clear-data.bin"),
    ]);
    assert!(!ok, "clear data under tls = required: {log}");
    assert!(!g.data().join("up-clear-data.bin").exists());
}

#[test]
fn lftp_plain_and_ftps_round_trip_and_mirror() {
    if !require_tool("lftp") {
        return;
    }
    let g = Griddock::start(WRITABLE);
    let tree = g.data().join("tree");
    for (i, rel) in [
        "a.bin",
        "sub/b.bin",
        "sub/deeper/c.bin",
        "empty.bin",
        "sp ace/d e.bin",
    ]
    .iter()
    .enumerate()
    {
        let p = tree.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        random_file(
            &p,
            if rel.starts_with("empty") {
                0
            } else {
                100_000 * (i + 1) + 7
            },
            i as u64,
        );
    }
    let local = g.dir.path().join("local");
    std::fs::create_dir_all(&local).unwrap();
    let cacert = g.cert().display().to_string();
    let port = g.ftp.port();
    for (name, tls) in [
        ("plain", "set ftp:ssl-allow no;"),
        (
            "tls",
            "set ftp:ssl-force yes; set ftp:ssl-allow-anonymous yes; \
         set ftp:ssl-protect-data yes;",
        ),
    ] {
        let script = format!(
            "set ssl:ca-file {cacert}; {tls} open ftp://127.0.0.1:{port}; \
             get tree/a.bin -o {l}/{name}-a.bin; put {l}/{name}-a.bin -o tree/{name}-up.bin",
            l = local.display()
        );
        let (ok, log) = lftp(&script);
        assert!(ok, "{name}: {log}");
        assert_eq!(
            sha256(&local.join(format!("{name}-a.bin"))),
            sha256(&tree.join("a.bin")),
            "{name}"
        );
        assert_eq!(
            sha256(&tree.join(format!("{name}-up.bin"))),
            sha256(&tree.join("a.bin")),
            "{name}"
        );
    }
    // Mirror down, then up again under another name, both over FTPS.
    let script = format!(
        "set ssl:ca-file {cacert}; set ftp:ssl-force yes; set ftp:ssl-allow-anonymous yes; \
         set ftp:ssl-protect-data yes; \
         open ftp://127.0.0.1:{port}; mirror tree {l}/down; mirror -R {l}/down up",
        l = local.display()
    );
    let (ok, log) = lftp(&script);
    assert!(ok, "{log}");
    assert_same_tree(&tree, &local.join("down"));
    assert_same_tree(&tree, &g.data().join("up"));
}

fn assert_same_tree(a: &Path, b: &Path) {
    let list = |root: &Path| {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push((p.strip_prefix(root).unwrap().to_path_buf(), sha256(&p)));
                }
            }
        }
        out.sort();
        out
    };
    let (la, lb) = (list(a), list(b));
    assert!(!la.is_empty());
    assert_eq!(la, lb, "{} vs {}", a.display(), b.display());
}

/// 1 GiB through curl: plain download (sendfile), FTPS download and a plain upload.
#[test]
fn one_gib_with_curl() {
    if !require_tool("curl") || !require_tool("sha256sum") {
        return;
    }
    let g = Griddock::start(WRITABLE);
    let big = g.data().join("big.bin");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(1 << 30).unwrap();
    // Some non-zero content at both ends so an offset error shows up in the hash.
    use std::os::unix::fs::FileExt;
    f.write_all_at(b"griddock-start", 0).unwrap();
    f.write_all_at(b"griddock-end", (1 << 30) - 12).unwrap();
    let hash = |p: &Path| {
        let (ok, out) = run(Command::new("sha256sum").arg(p));
        assert!(ok, "{out}");
        out.split_whitespace().next().unwrap().to_string()
    };
    let want = hash(&big);
    let out = g.dir.path().join("big.out");
    let (ok, log) = curl(&["-o", out.to_str().unwrap(), &g.url("big.bin")]);
    assert!(ok, "{log}");
    assert_eq!(hash(&out), want, "plain download");
    let cacert = g.cert().display().to_string();
    let (ok, log) = curl(&[
        "--ssl-reqd",
        "--cacert",
        &cacert,
        "-o",
        out.to_str().unwrap(),
        &g.url("big.bin"),
    ]);
    assert!(ok, "{log}");
    assert_eq!(hash(&out), want, "FTPS download");
    let (ok, log) = curl(&["-T", out.to_str().unwrap(), &g.url("big-up.bin")]);
    assert!(ok, "{log}");
    assert_eq!(hash(&g.data().join("big-up.bin")), want, "upload");
    assert_eq!(
        g.metric("griddock_bytes_sent_total{endpoint=\"ftp\"}"),
        (2u64 << 30) as f64
    );
    assert_eq!(
        g.metric("griddock_bytes_received_total{endpoint=\"ftp\"}"),
        (1u64 << 30) as f64
    );
}
