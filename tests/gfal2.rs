//! gfal2, the library CERN FTS drives, against griddock with `ftp://` URLs (stream mode):
//! stat (ENOENT on a missing file, which FTS's pre-copy check relies on), listdir, mkdir,
//! ADLER32 and MD5 checksums equal to independently computed ones, filecopy both ways,
//! rename, unlink, rmdir, and server-to-server copies with nbstreams 0 and 4 (gfal2 keeps
//! `ftp://` URLs in stream mode whatever nbstreams says; MODE E needs gsiftp://). Runs
//! Debian's python3-gfal2 under /usr/bin/python3.

mod common;

use std::process::Command;

use common::{random_file, run, Griddock};

const SCRIPT: &str = r#"
import gfal2, hashlib, os, sys, zlib
base, local = sys.argv[1], sys.argv[2]
ctx = gfal2.creat_context()
out = []
def step(name, f):
    try:
        r = f()
        out.append("%s OK %s" % (name, r))
    except gfal2.GError as e:
        out.append("%s ERR %d" % (name, e.code))
data = open(local + "/src.bin", "rb").read()
step("stat", lambda: ctx.stat(base + "/src.bin").st_size)
step("stat-missing", lambda: ctx.stat(base + "/missing.bin").st_size)
step("listdir", lambda: ",".join(sorted(ctx.listdir(base + "/"))))
step("mkdir", lambda: ctx.mkdir(base + "/dir", 0o755))
step("adler32", lambda: ctx.checksum(base + "/src.bin", "ADLER32") == "%08x" % zlib.adler32(data))
step("md5", lambda: ctx.checksum(base + "/src.bin", "MD5") == hashlib.md5(data).hexdigest())
p = ctx.transfer_parameters(); p.overwrite = True; p.nbstreams = 0
step("download", lambda: ctx.filecopy(p, base + "/src.bin", "file://" + local + "/down.bin"))
step("download-same", lambda: open(local + "/down.bin", "rb").read() == data)
step("upload", lambda: ctx.filecopy(p, "file://" + local + "/down.bin", base + "/dir/up.bin"))
step("rename", lambda: ctx.rename(base + "/dir/up.bin", base + "/dir/up2.bin"))
step("stat-renamed", lambda: ctx.stat(base + "/dir/up2.bin").st_size)
step("unlink", lambda: ctx.unlink(base + "/dir/up2.bin"))
step("rmdir", lambda: ctx.rmdir(base + "/dir"))
for n in (0, 4):
    q = ctx.transfer_parameters(); q.overwrite = True; q.nbstreams = n
    step("thirdparty%d" % n, lambda: ctx.filecopy(q, base + "/src.bin", base + "/tp%d.bin" % n))
    step("thirdparty%d-adler32" % n, lambda: ctx.checksum(base + "/tp%d.bin" % n, "ADLER32") == "%08x" % zlib.adler32(data))
    step("thirdparty%d-unlink" % n, lambda: ctx.unlink(base + "/tp%d.bin" % n))
print("\n".join(out))
sys.stdout.flush()
os._exit(0)
"#;

/// Both endpoints run the same engine: the GridFTP port serves gfal2 as well.
#[test]
fn gfal2_namespace_checksum_and_copies_over_ftp() {
    if !common::gfal2_available() {
        return;
    }
    let g = Griddock::start("[auth]\nanonymous = \"write\"\n");
    random_file(&g.data().join("src.bin"), 3_000_019, 77);
    let local = g.dir.path().join("local");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::copy(g.data().join("src.bin"), local.join("src.bin")).unwrap();
    for port in [g.ftp.port(), g.gridftp.port()] {
        check_endpoint(&g, &local, port);
    }
    let sent = g.metric("griddock_bytes_sent_total{endpoint=\"gridftp\"}");
    assert!(sent >= 3_000_019.0, "gridftp endpoint counted: {sent}");
}

fn check_endpoint(g: &Griddock, local: &std::path::Path, port: u16) {
    let base = format!("ftp://127.0.0.1:{port}");
    let (_, out) =
        run(Command::new("/usr/bin/python3").args(["-c", SCRIPT, &base, local.to_str().unwrap()]));
    let want = [
        "stat OK 3000019",
        "stat-missing ERR 2",
        "listdir OK src.bin",
        "mkdir OK 0",
        "adler32 OK True",
        "md5 OK True",
        "download OK 0",
        "download-same OK True",
        "upload OK 0",
        "rename OK 0",
        "stat-renamed OK 3000019",
        "unlink OK 0",
        "rmdir OK 0",
        "thirdparty0 OK 0",
        "thirdparty0-adler32 OK True",
        "thirdparty0-unlink OK 0",
        "thirdparty4 OK 0",
        "thirdparty4-adler32 OK True",
        "thirdparty4-unlink OK 0",
    ];
    for line in want {
        assert!(
            out.lines().any(|l| l.trim() == line),
            "port {port}: missing {line:?} in gfal2 output:\n{out}\n{}",
            g.log()
        );
    }
    assert!(!g.data().join("dir").exists(), "port {port}");
}
