//! gsiftp:// against the real Globus clients: globus-url-copy and gfal2 log in with RFC 3820
//! proxies made by grid-proxy-init (AUTH GSSAPI, ADAT, delegation, ENC/632), griddock maps
//! the DN through its grid-mapfile, and transfers run in MODE S and MODE E, pipelined, and
//! third-party with the reference globus-gridftp-server (GSI) and between two griddocks.
//! Refusals: unmapped DN, revoked certificate (CRL), untrusted CA, a limited proxy writing,
//! garbage and truncated ADAT. Fixtures come from tests/gsi/make-fixtures.sh (openssl and
//! grid-proxy-init) in a fresh temp dir per test.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::ftp::Ftp;
use common::gridftp::{require_globus, GlobusServer};
use common::{random_file, require_tool, run, sha256, Griddock};

struct Fixtures {
    dir: tempfile::TempDir,
}

impl Fixtures {
    fn make() -> Option<Fixtures> {
        for tool in ["openssl", "grid-proxy-init", "globus-url-copy"] {
            if !require_tool(tool) {
                return None;
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gsi/make-fixtures.sh");
        let (ok, out) = run(Command::new("bash").arg(script).arg(dir.path()));
        assert!(ok, "fixtures: {out}");
        Some(Fixtures { dir })
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn proxy(&self, name: &str) -> PathBuf {
        self.path(&format!("proxies/{name}"))
    }

    /// griddock's GridFTP endpoint with GSI; the host certificate comes from the test CA.
    fn griddock(&self) -> Griddock {
        self.griddock_with("")
    }

    /// The reference globus-gridftp-server with GSI: the same host credential and trust
    /// dir, the test user mapped to `nobody` (it setuid()s to a real account).
    fn globus_server(&self) -> GlobusServer {
        let map = self.path("gct-grid-mapfile");
        std::fs::write(&map, "\"/O=Test/OU=griddock/CN=Test User\" nobody\n").unwrap();
        GlobusServer::start_gsi(
            &self.path("certificates"),
            &self.path("host/hostcert.pem"),
            &self.path("host/hostkey.pem"),
            &map,
        )
    }

    /// The same with extra config (a `[gridftp]` table, say).
    fn griddock_with(&self, extra: &str) -> Griddock {
        let (map, trust) = (self.path("grid-mapfile"), self.path("certificates"));
        Griddock::start(&format!("{extra}{}", self.config(&map, &trust, "")))
    }

    /// `[tls]` with the host credential and `[auth]` with GSI on (anonymous off) over
    /// `gridmap` and `trust`, plus `auth` lines for the `[auth]` table.
    fn config(&self, gridmap: &Path, trust: &Path, auth: &str) -> String {
        format!(
            "[tls]\nsource = \"files\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n\
             [auth]\nanonymous = \"off\"\n{auth}gridmap_file = \"{}\"\nx509_cert_dir = \"{}\"\n",
            self.path("host/hostcert.pem").display(),
            self.path("host/hostkey.pem").display(),
            gridmap.display(),
            trust.display(),
        )
    }
}

/// globus-url-copy with a given proxy and the test trust dir.
fn guc(fx: &Fixtures, proxy: &str, args: &[&str]) -> (bool, String) {
    guc_trusting(fx, &fx.path("certificates"), proxy, args)
}

/// The same with another trust dir: with DCAU the client checks the data-channel
/// credential griddock presents (the delegated proxy) against it, CRLs included.
fn guc_trusting(fx: &Fixtures, trust: &Path, proxy: &str, args: &[&str]) -> (bool, String) {
    run(Command::new("globus-url-copy")
        .args(["-st", "30"])
        .args(args)
        .env("X509_CERT_DIR", trust)
        .env("X509_USER_PROXY", fx.proxy(proxy))
        .env_remove("X509_USER_CERT")
        .env_remove("X509_USER_KEY"))
}

/// globus-url-copy `opts src dst` with the mapped user's proxy.
fn copy(fx: &Fixtures, opts: &[&str], src: &str, dst: &str) -> (bool, String) {
    let mut args = opts.to_vec();
    args.extend([src, dst]);
    guc(fx, "user", &args)
}

fn gsi_url(g: &Griddock, path: &str) -> String {
    format!(
        "gsiftp://localhost:{}/{}",
        g.gridftp.port(),
        path.trim_start_matches('/')
    )
}

/// globus-url-copy with its defaults against griddock's default config: FEAT lists DCAU,
/// so every data channel runs its GSI handshake (DCAU A), whether globus-url-copy connects
/// (uploads, MODE S downloads) or griddock does (MODE E downloads); `-dcpriv` (PROT P) too.
#[test]
fn gsi_downloads_uploads_parallel_and_pipelined() {
    let Some(fx) = Fixtures::make() else { return };
    let g = fx.griddock();
    let mut c = Ftp::connect(g.gridftp);
    let (_, feat) = c.cmd("FEAT");
    assert!(
        feat.contains("\n DCAU\r"),
        "DCAU advertised by default: {feat}"
    );
    let src = g.data().join("f.bin");
    random_file(&src, 5_000_017, 11);
    let local = g.dir.path().join("local");
    std::fs::create_dir_all(local.join("tree")).unwrap();
    for i in 0..4 {
        random_file(
            &local.join(format!("tree/m{i}")),
            300_000 + i * 7,
            20 + i as u64,
        );
    }
    let cases: [(&str, &[&str]); 4] = [
        ("s", &[]),
        ("p4", &["-p", "4"]),
        ("priv", &["-dcpriv"]),
        ("priv-p4", &["-dcpriv", "-p", "4"]),
    ];
    for (name, opts) in cases {
        let down = local.join(format!("down-{name}.bin"));
        let dst = format!("file://{}", down.display());
        let mut args = opts.to_vec();
        let url = gsi_url(&g, "f.bin");
        args.extend([url.as_str(), dst.as_str()]);
        let (ok, out) = guc(&fx, "user", &args);
        assert!(ok, "download {opts:?}: {out}\n{}", g.log());
        assert_eq!(sha256(&down), sha256(&src));

        let up = format!("up-{name}.bin");
        let from = format!("file://{}", src.display());
        let to = gsi_url(&g, &up);
        let mut args = opts.to_vec();
        args.extend([from.as_str(), to.as_str()]);
        let (ok, out) = guc(&fx, "user", &args);
        assert!(ok, "upload {opts:?}: {out}\n{}", g.log());
        assert_eq!(sha256(&g.data().join(&up)), sha256(&src));
    }
    // Several files, pipelined, MODE E with cached data channels, both ways.
    let tree = format!("file://{}/tree/", local.display());
    let (ok, out) = guc(
        &fx,
        "user",
        &["-pp", "-p", "2", "-cd", "-r", &tree, &gsi_url(&g, "tree/")],
    );
    assert!(ok, "pipelined upload: {out}\n{}", g.log());
    let back = format!("file://{}/back/", local.display());
    let (ok, out) = guc(
        &fx,
        "user",
        &["-pp", "-p", "2", "-cd", "-r", &gsi_url(&g, "tree/"), &back],
    );
    assert!(ok, "pipelined download: {out}\n{}", g.log());
    // The same upload encrypted: cached PROT P channels that griddock accepted.
    let (ok, out) = guc(
        &fx,
        "user",
        &[
            "-dcpriv",
            "-pp",
            "-p",
            "2",
            "-cd",
            "-r",
            &tree,
            &gsi_url(&g, "tree-priv/"),
        ],
    );
    assert!(ok, "pipelined -dcpriv upload: {out}\n{}", g.log());
    for i in 0..4 {
        let rel = format!("m{i}");
        let want = sha256(&local.join("tree").join(&rel));
        assert_eq!(want, sha256(&g.data().join("tree").join(&rel)));
        assert_eq!(want, sha256(&local.join("back").join(&rel)));
        assert_eq!(want, sha256(&g.data().join("tree-priv").join(&rel)));
    }
    // The transfer log carries the mapped account and the certificate DN.
    let log = g.xferlog();
    assert!(
        log.iter().any(|l| l.contains("user=\"gsiuser\"")
            && l.contains("dn=\"/O=Test/OU=griddock/CN=Test User\"")),
        "{log:#?}"
    );
    assert!(g.log().contains("delegated=true"), "GUC delegates a proxy");
    // Both roles ran the handshake: accepted (uploads, MODE S downloads) and connected.
    let log = g.log();
    for side in ["accepted", "connected"] {
        let line = format!(
            "GSI data channel authenticated peer=/O=Test/OU=griddock/CN=Test User side={side}"
        );
        assert!(log.matches(&line).count() >= 4, "{side}: {log}");
    }
    let logins = g.metric("griddock_logins_total{endpoint=\"gridftp\",method=\"gsi\"}");
    assert!(logins >= 6.0, "GSI logins counted: {logins}");
}

#[test]
fn gsi_refusals_are_clear() {
    let Some(fx) = Fixtures::make() else { return };
    let g = fx.griddock();
    std::fs::write(g.data().join("f"), b"data").unwrap();
    let local = g.dir.path().join("out.bin");
    let dst = format!("file://{}", local.display());
    for (proxy, expect) in [
        (
            "unmapped",
            "530 No local mapping for /O=Test/OU=griddock/CN=Unmapped User",
        ),
        ("revoked", "530 Authentication failed"),
        ("rogue", "530 Authentication failed"),
    ] {
        let (ok, out) = guc(&fx, proxy, &[&gsi_url(&g, "f"), &dst]);
        assert!(!ok, "{proxy} must be refused: {out}");
        assert!(out.contains(expect), "{proxy}: {out}");
        // globus-url-copy may create the local file before it fails: it must stay empty.
        let got = std::fs::metadata(&local).map_or(0, |m| m.len());
        assert_eq!(got, 0, "{proxy} got data");
        let _ = std::fs::remove_file(&local);
    }
    let log = g.log();
    assert!(log.contains("Revoked"), "CRL used: {log}");
    assert!(log.contains("UnknownIssuer"), "untrusted CA: {log}");

    // A limited proxy reads but does not write.
    let (ok, out) = guc(&fx, "limited", &[&gsi_url(&g, "f"), &dst]);
    assert!(ok, "limited proxy read: {out}");
    let src = format!("file://{}", local.display());
    let (ok, out) = guc(&fx, "limited", &[&src, &gsi_url(&g, "limited.bin")]);
    assert!(
        !ok && out
            .lines()
            .any(|l| l.trim_end() == "550 Permission denied."),
        "limited proxy write: {out}"
    );
    assert!(!g.data().join("limited.bin").exists());

    // With limited_proxy_write = true the same limited proxy may write.
    let (map, trust) = (fx.path("grid-mapfile"), fx.path("certificates"));
    let w = Griddock::start(&fx.config(&map, &trust, "limited_proxy_write = true\n"));
    let (ok, out) = guc(&fx, "limited", &[&src, &gsi_url(&w, "limited.bin")]);
    assert!(ok, "limited proxy write allowed: {out}\n{}", w.log());
    assert_eq!(
        std::fs::read(w.data().join("limited.bin")).unwrap(),
        b"data"
    );
}

/// Garbage and truncated ADAT tokens get a 530, and the session survives them. Needs no
/// peer tool: an empty trust dir and grid-mapfile and the self-signed host certificate.
#[test]
fn garbage_adat_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (map, certs) = (
        dir.path().join("grid-mapfile"),
        dir.path().join("certificates"),
    );
    std::fs::write(&map, "").unwrap();
    std::fs::create_dir_all(&certs).unwrap();
    let g = Griddock::start(&format!(
        "[auth]\nanonymous = \"off\"\ngridmap_file = \"{}\"\nx509_cert_dir = \"{}\"\n",
        map.display(),
        certs.display()
    ));
    let mut c = Ftp::connect(g.gridftp);
    assert_eq!(c.code("ADAT AAAA"), 503, "ADAT before AUTH GSSAPI");
    for token in ["!!!not-base64!!!", "Z2FyYmFnZSBnYXJiYWdl", "FgMBAFAB"] {
        assert_eq!(c.code("AUTH GSSAPI"), 334);
        let (code, text) = c.cmd(&format!("ADAT {token}"));
        assert_eq!(code, 530, "ADAT {token}: {text}");
    }
    assert_eq!(c.code("USER :globus-mapping:"), 331);
    assert_eq!(c.code("PASS x"), 530, "no GSI identity, no login");
    // The plain FTP endpoint has no GSSAPI.
    let mut f = Ftp::connect(g.ftp);
    assert_eq!(f.code("AUTH GSSAPI"), 504);
    // The old key is still accepted: `advertise_dcau = false` hides DCAU again.
    let hidden = Griddock::start(&format!(
        "[gridftp]\nadvertise_dcau = false\n\
         [auth]\nanonymous = \"off\"\ngridmap_file = \"{}\"\nx509_cert_dir = \"{}\"\n",
        map.display(),
        certs.display()
    ));
    let (_, feat) = Ftp::connect(hidden.gridftp).cmd("FEAT");
    assert!(!feat.contains(" DCAU"), "{feat}");
    let (_, feat) = Ftp::connect(g.gridftp).cmd("FEAT");
    assert!(feat.contains("\n DCAU\r"), "{feat}");
}

/// Third-party gsiftp copies driven by globus-url-copy with its defaults, with the client's
/// delegated credentials on both servers: griddock ↔ globus-gridftp-server and griddock →
/// griddock, DCAU A (both advertise DCAU), also with `-p 4` and `-dcpriv`. From the
/// reference server to griddock, the Globus side connects and griddock accepts the
/// handshake whose SNI is the certificate CN; `-nodcau` still works.
#[test]
fn gsi_third_party_with_the_reference_server_and_between_griddocks() {
    let Some(fx) = Fixtures::make() else { return };
    if !require_globus() {
        return;
    }
    let a = fx.griddock();
    let b = fx.griddock();
    random_file(&a.data().join("f.bin"), 4_000_037, 12);
    let gct = fx.globus_server();
    let want = sha256(&a.data().join("f.bin"));
    let cases: [&[&str]; 4] = [&[], &["-p", "4"], &["-dcpriv", "-p", "2"], &["-nodcau"]];
    for (tag, opts) in cases.into_iter().enumerate() {
        // griddock → gct → griddock
        let (mid, back) = (format!("mid{tag}.bin"), format!("back{tag}.bin"));
        let (ok, out) = copy(&fx, opts, &gsi_url(&a, "f.bin"), &gct.gsi_url(&mid));
        assert!(
            ok,
            "griddock→gct {opts:?}: {out}\n{}\n{}",
            a.log(),
            gct.log()
        );
        assert_eq!(sha256(&gct.root().join(&mid)), want);
        let (ok, out) = copy(&fx, opts, &gct.gsi_url(&mid), &gsi_url(&b, &back));
        assert!(
            ok,
            "gct→griddock {opts:?}: {out}\n{}\n{}",
            b.log(),
            gct.log()
        );
        assert_eq!(sha256(&b.data().join(&back)), want);
        let direct = format!("direct{tag}.bin");
        let (ok, out) = copy(&fx, opts, &gsi_url(&a, "f.bin"), &gsi_url(&b, &direct));
        assert!(
            ok,
            "griddock→griddock {opts:?}: {out}\n{}\n{}",
            a.log(),
            b.log()
        );
        assert_eq!(sha256(&b.data().join(&direct)), want);
    }
    // gct connected to b's passive port and b accepted its secured data channel.
    assert!(
        b.log().contains(
            "GSI data channel authenticated peer=/O=Test/OU=griddock/CN=Test User side=accepted"
        ),
        "{}",
        b.log()
    );
}

const GFAL2: &str = r#"
import gfal2, sys, zlib
base, local = sys.argv[1], sys.argv[2]
ctx = gfal2.creat_context()
ctx.set_opt_boolean("GRIDFTP PLUGIN", "DCAU", False)
out = []
def step(name, f):
    try:
        out.append("%s OK %s" % (name, f()))
    except gfal2.GError as e:
        out.append("%s ERR %d %s" % (name, e.code, e.message.replace("\n", " ")))
data = open(local + "/src.bin", "rb").read()
step("stat", lambda: ctx.stat(base + "/src.bin").st_size)
step("stat-missing", lambda: ctx.stat(base + "/missing.bin").st_size)
step("adler32", lambda: ctx.checksum(base + "/src.bin", "ADLER32") == "%08x" % zlib.adler32(data))
p = ctx.transfer_parameters(); p.overwrite = True; p.nbstreams = 4
step("download", lambda: ctx.filecopy(p, base + "/src.bin", "file://" + local + "/down.bin"))
step("download-same", lambda: open(local + "/down.bin", "rb").read() == data)
step("upload", lambda: ctx.filecopy(p, "file://" + local + "/down.bin", base + "/up.bin"))
step("thirdparty", lambda: ctx.filecopy(p, base + "/src.bin", base + "/tp.bin"))
step("thirdparty-adler32", lambda: ctx.checksum(base + "/tp.bin", "ADLER32") == "%08x" % zlib.adler32(data))
print("\n".join(out))
sys.stdout.flush()
"#;

/// gfal2, as FTS drives it: gsiftp with DCAU off (FTS's default), 4 streams.
#[test]
fn gfal2_over_gsiftp() {
    let Some(fx) = Fixtures::make() else { return };
    if !common::gfal2_available() {
        return;
    }
    let g = fx.griddock();
    random_file(&g.data().join("src.bin"), 3_000_019, 13);
    let local = g.dir.path().join("local");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::copy(g.data().join("src.bin"), local.join("src.bin")).unwrap();
    let base = format!("gsiftp://localhost:{}", g.gridftp.port());
    let (_, out) = run(Command::new("/usr/bin/python3")
        .args(["-c", GFAL2, &base, local.to_str().unwrap()])
        .env("X509_CERT_DIR", fx.path("certificates"))
        .env("X509_USER_PROXY", fx.proxy("user")));
    for line in [
        "stat OK 3000019",
        "adler32 OK True",
        "download OK 0",
        "download-same OK True",
        "upload OK 0",
        "thirdparty OK 0",
        "thirdparty-adler32 OK True",
    ] {
        assert!(
            out.lines().any(|l| l.trim() == line),
            "missing {line:?}:\n{out}\n{}",
            g.log()
        );
    }
    assert!(
        out.lines().any(|l| l.starts_with("stat-missing ERR 2 ")),
        "{out}"
    );
    assert_eq!(
        sha256(&g.data().join("up.bin")),
        sha256(&local.join("src.bin"))
    );
    let log = g.xferlog();
    assert!(
        log.iter().any(|l| l.contains("streams=4")),
        "gfal2 used MODE E: {log:#?}"
    );
}

/// By default data channels run their own GSI handshake with the delegated proxy and the
/// peer must be the same user (DCAU A, globus-url-copy's default), in clear (PROT C) or
/// encrypted (`-dcpriv`, PROT P): griddock → griddock, griddock → globus-gridftp-server,
/// MODE E downloads where griddock connects to globus-url-copy, two users (DCAU S), and
/// gfal2 with DCAU on. Integrity-only protection (PROT S) is refused.
#[test]
fn dcau_authenticated_data_channels() {
    let Some(fx) = Fixtures::make() else { return };
    if !require_globus() {
        return;
    }
    let a = fx.griddock();
    let b = fx.griddock();
    random_file(&a.data().join("f.bin"), 3_000_029, 14);
    let want = sha256(&a.data().join("f.bin"));
    let copy = |opts: &[&str], src: String, dst: String| copy(&fx, opts, &src, &dst);
    let cases: [(&str, &[&str]); 4] = [
        ("s.bin", &[]),
        ("p4.bin", &["-p", "4"]),
        ("priv.bin", &["-dcpriv"]),
        ("priv-p4.bin", &["-dcpriv", "-p", "4"]),
    ];
    for (name, opts) in cases {
        let (ok, out) = copy(opts, gsi_url(&a, "f.bin"), gsi_url(&b, name));
        let logs = format!("{}\n{}", a.log(), b.log());
        assert!(ok, "griddock→griddock {opts:?}: {out}\n{logs}");
        assert_eq!(sha256(&b.data().join(name)), want, "{opts:?}");
    }
    for g in [&a, &b] {
        assert!(
            g.log().contains("GSI data channel authenticated"),
            "{}",
            g.log()
        );
    }

    // Two users: c maps a second DN to the same account and its session logs in with that
    // user's proxy (-dc), a with the test user's (-sc). globus-url-copy then tells c
    // `DCAU S <the test user>`, and c accepts exactly that peer on its data channel. (The
    // wrong-peer refusal needs a client that lies about the subject: it is the unit test
    // gsi::tests::data_channel_refuses_a_trusted_peer_with_another_dn.)
    let map2 = fx.path("grid-mapfile-two");
    std::fs::write(
        &map2,
        "\"/O=Test/OU=griddock/CN=Test User\" gsiuser\n\
         \"/O=Test/OU=griddock/CN=Unmapped User\" gsiuser\n",
    )
    .unwrap();
    let c = Griddock::start(&fx.config(&map2, &fx.path("certificates"), ""));
    let (user, other) = (fx.proxy("user"), fx.proxy("unmapped"));
    let (ok, out) = guc(
        &fx,
        "user",
        &[
            "-sc",
            user.to_str().unwrap(),
            "-dc",
            other.to_str().unwrap(),
            &gsi_url(&a, "f.bin"),
            &gsi_url(&c, "two-users.bin"),
        ],
    );
    assert!(ok, "two users, DCAU S: {out}\n{}", c.log());
    assert_eq!(sha256(&c.data().join("two-users.bin")), want);
    let log = c.log();
    assert!(
        log.contains("command=Dcau(\"S /O=Test/OU=griddock/CN=Test User\")")
            && log.contains("GSI data channel authenticated peer=/O=Test/OU=griddock/CN=Test User")
            && log.contains("dn=\"/O=Test/OU=griddock/CN=Unmapped User\""),
        "{log}"
    );

    let gct = fx.globus_server();
    for (name, opts) in [
        ("g.bin", &[][..]),
        ("g-priv.bin", &["-dcpriv", "-p", "4"][..]),
    ] {
        let (ok, out) = copy(opts, gsi_url(&a, "f.bin"), gct.gsi_url(name));
        assert!(
            ok,
            "griddock→gct {opts:?}: {out}\n{}\n{}",
            a.log(),
            gct.log()
        );
        assert_eq!(sha256(&gct.root().join(name)), want, "{opts:?}");
    }
    for (name, opts) in [
        ("d.bin", &["-p", "2"][..]),
        ("d-priv.bin", &["-p", "2", "-dcpriv"][..]),
    ] {
        let local = a.dir.path().join(name);
        let (ok, out) = copy(
            opts,
            gsi_url(&a, "f.bin"),
            format!("file://{}", local.display()),
        );
        assert!(ok, "MODE E download {opts:?}: {out}\n{}", a.log());
        assert_eq!(sha256(&local), want, "{opts:?}");
    }
    let (ok, out) = copy(&["-dcsafe"], gsi_url(&a, "f.bin"), gsi_url(&b, "x.bin"));
    assert!(
        !ok && out.contains("536 Requested PROT level not supported by mechanism."),
        "PROT S: {out}"
    );

    // gfal2 with DCAU on (FTS can switch it on), 4 streams: a download (griddock
    // connects), an upload (gfal2 connects), a third-party copy.
    let script = "import gfal2, os, sys\n\
        ctx = gfal2.creat_context()\n\
        ctx.set_opt_boolean('GRIDFTP PLUGIN', 'DCAU', True)\n\
        p = ctx.transfer_parameters(); p.overwrite = True; p.nbstreams = 4\n\
        ctx.filecopy(p, sys.argv[1], 'file://' + sys.argv[3])\n\
        ctx.filecopy(p, 'file://' + sys.argv[3], sys.argv[2] + '.up')\n\
        ctx.filecopy(p, sys.argv[1], sys.argv[2])\n\
        print('copied')\n\
        sys.stdout.flush()\n\
        os._exit(0)\n";
    let local = b.dir.path().join("gfal2-local.bin");
    let (ok, out) = run(Command::new("/usr/bin/python3")
        .args([
            "-c",
            script,
            &gsi_url(&a, "f.bin"),
            &gsi_url(&b, "gfal2.bin"),
            local.to_str().unwrap(),
        ])
        .env("X509_CERT_DIR", fx.path("certificates"))
        .env("X509_USER_PROXY", fx.proxy("user")));
    assert!(
        ok && out.contains("copied"),
        "gfal2 DCAU on: {out}\n{}",
        b.log()
    );
    assert_eq!(sha256(&b.data().join("gfal2.bin")), want);
    assert_eq!(sha256(&local), want);
    assert_eq!(sha256(&b.data().join("gfal2.bin.up")), want);
}

/// A new CRL (as fetch-crl drops it into the trust directory) and an edited grid-mapfile
/// take effect for the next login, without a restart.
#[test]
fn crl_and_gridmap_updates_apply_without_restart() {
    let Some(fx) = Fixtures::make() else { return };
    // A trust directory without the CRL, and a grid-mapfile of our own, both edited live.
    let trust = fx.path("live-certificates");
    std::fs::create_dir_all(&trust).unwrap();
    let mut crl = None;
    for e in std::fs::read_dir(fx.path("certificates"))
        .unwrap()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".r0") {
            crl = Some((e.path(), name));
        } else {
            std::fs::copy(e.path(), trust.join(&name)).unwrap();
        }
    }
    let (crl_path, crl_name) = crl.expect("fixtures have a CRL");
    let gridmap = fx.path("live-grid-mapfile");
    std::fs::copy(fx.path("grid-mapfile"), &gridmap).unwrap();
    let g = Griddock::start(&fx.config(&gridmap, &trust, ""));
    std::fs::write(g.data().join("f"), b"data").unwrap();
    let dst = format!("file://{}/out", g.dir.path().display());
    // The client trusts the same directory: it checks griddock's data-channel credential.
    let (ok, out) = guc_trusting(&fx, &trust, "revoked", &[&gsi_url(&g, "f"), &dst]);
    assert!(ok, "no CRL yet, the revoked user still gets in: {out}");

    // fetch-crl writes the CRL next to the CA: the next login is refused.
    let tmp = trust.join(format!("{crl_name}.tmp"));
    std::fs::copy(&crl_path, &tmp).unwrap();
    std::fs::rename(&tmp, trust.join(&crl_name)).unwrap();
    let (ok, out) = guc(&fx, "revoked", &[&gsi_url(&g, "f"), &dst]);
    assert!(
        !ok && out.contains("530 Authentication failed: "),
        "CRL applied: {out}"
    );
    assert!(g.log().contains("Revoked"), "{}", g.log());

    // The operator removes the user's mapping: the next login is refused too.
    let (ok, out) = guc(&fx, "user", &[&gsi_url(&g, "f"), &dst]);
    assert!(ok, "mapped: {out}");
    std::fs::write(&gridmap, "\"/O=Test/OU=griddock/CN=Someone Else\" other\n").unwrap();
    let (ok, out) = guc(&fx, "user", &[&gsi_url(&g, "f"), &dst]);
    assert!(
        !ok && out.contains("No local mapping"),
        "gridmap reloaded: {out}"
    );
}

/// A CRL that replaces an older one (fetch-crl renames the new file over `<hash>.r0`)
/// applies to the next login: first a CRL revoking nobody, then one revoking the user.
#[test]
fn a_replacing_crl_applies_to_the_next_login() {
    let Some(fx) = Fixtures::make() else { return };
    let trust = fx.path("replaced-certificates");
    std::fs::create_dir_all(&trust).unwrap();
    let mut crl = None;
    for e in std::fs::read_dir(fx.path("certificates"))
        .unwrap()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().to_string();
        std::fs::copy(e.path(), trust.join(&name)).unwrap();
        if name.ends_with(".r0") {
            crl = Some((e.path(), name));
        }
    }
    let (revoking, crl_name) = crl.expect("fixtures have a CRL");
    // The same CA's CRL with nothing revoked: its database copied and emptied.
    let empty_ca = fx.path("ca-empty");
    std::fs::create_dir_all(&empty_ca).unwrap();
    for f in ["ca.pem", "ca.key", "crlnumber", "serial"] {
        std::fs::copy(fx.path(&format!("ca/{f}")), empty_ca.join(f)).unwrap();
    }
    std::fs::write(empty_ca.join("index.txt"), b"").unwrap();
    let cnf = std::fs::read_to_string(fx.path("ca/openssl.cnf"))
        .unwrap()
        .replace(
            &fx.path("ca").display().to_string(),
            &empty_ca.display().to_string(),
        );
    std::fs::write(empty_ca.join("openssl.cnf"), cnf).unwrap();
    let empty = empty_ca.join("crl.pem");
    let (ok, out) = common::run(
        Command::new("openssl")
            .args(["ca", "-batch", "-gencrl", "-config"])
            .arg(empty_ca.join("openssl.cnf"))
            .arg("-out")
            .arg(&empty),
    );
    assert!(ok, "{out}");
    std::fs::copy(&empty, trust.join(&crl_name)).unwrap();
    let g = Griddock::start(&fx.config(&fx.path("grid-mapfile"), &trust, ""));
    std::fs::write(g.data().join("f"), b"data").unwrap();
    let dst = format!("file://{}/out", g.dir.path().display());
    let (ok, out) = guc_trusting(&fx, &trust, "revoked", &[&gsi_url(&g, "f"), &dst]);
    assert!(ok, "the CRL in force revokes nobody: {out}");
    let tmp = trust.join(format!("{crl_name}.tmp"));
    std::fs::copy(&revoking, &tmp).unwrap();
    std::fs::rename(&tmp, trust.join(&crl_name)).unwrap();
    let (ok, out) = guc(&fx, "revoked", &[&gsi_url(&g, "f"), &dst]);
    assert!(
        !ok && out.contains("530 Authentication failed: "),
        "the replacing CRL applied: {out}"
    );
    // Someone not revoked still gets in under the new CRL.
    let (ok, out) = guc(&fx, "user", &[&gsi_url(&g, "f"), &dst]);
    assert!(ok, "{out}");
}

/// A GSI login whose grid-mapfile account is also in the users file gets that account's
/// root and permissions there (here: a sub-directory, read-only), not the whole data dir.
#[test]
fn gsi_account_takes_root_and_permissions_from_the_users_file() {
    let Some(fx) = Fixtures::make() else { return };
    let mut g = Griddock::prepare();
    std::fs::create_dir_all(g.data().join("gsi-home")).unwrap();
    std::fs::write(g.data().join("gsi-home/mine"), b"inside").unwrap();
    std::fs::write(g.data().join("outside"), b"outside").unwrap();
    let users = g.dir.path().join("users.toml");
    let entry = common::user_entry("gsiuser", "unused-password", "read");
    std::fs::write(&users, format!("{entry}root = \"gsi-home\"\n")).unwrap();
    let (map, trust) = (fx.path("grid-mapfile"), fx.path("certificates"));
    let users_line = format!("users_file = \"{}\"\n", users.display());
    g.launch(&fx.config(&map, &trust, &users_line), &[]);
    let out_dir = g.dir.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    // `/mine` is the users-file root's file: the login is rooted there.
    let dst = format!("file://{}/mine", out_dir.display());
    let (ok, out) = guc(&fx, "user", &[&gsi_url(&g, "mine"), &dst]);
    assert!(ok, "{out}");
    assert_eq!(std::fs::read(out_dir.join("mine")).unwrap(), b"inside");
    // Nothing above that root is reachable.
    let dst = format!("file://{}/outside", out_dir.display());
    let (ok, out) = guc(&fx, "user", &[&gsi_url(&g, "outside"), &dst]);
    assert!(
        !ok && out.contains("550"),
        "outside the account root: {out}"
    );
    // Read-only there: an upload is refused.
    let src = g.dir.path().join("up");
    std::fs::write(&src, b"new").unwrap();
    let (ok, out) = guc(
        &fx,
        "user",
        &[&format!("file://{}", src.display()), &gsi_url(&g, "up")],
    );
    assert!(!ok && out.contains("550"), "read-only account wrote: {out}");
    assert!(!g.data().join("gsi-home/up").exists());
}

const GFAL2_HELD_SESSION: &str = r#"
import gfal2, os, sys, time
base, local, ready, go = sys.argv[1:5]
ctx = gfal2.creat_context()
ctx.set_opt_boolean("GRIDFTP PLUGIN", "DCAU", True)
print("stat %d" % ctx.stat(base + "/f.bin").st_size)
sys.stdout.flush()
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.05)
p = ctx.transfer_parameters(); p.overwrite = True; p.nbstreams = 1
try:
    ctx.filecopy(p, "file://" + local, base + "/up.bin")
    print("upload OK")
except gfal2.GError as e:
    print("upload ERR %s" % e.message.replace("\n", " "))
except TypeError as e:
    # python3-gfal2 sometimes fails to build the GError it raises (seen: "__init__()
    # takes exactly 3 arguments"): the copy failed all the same.
    print("upload ERR (gfal2 binding) %s" % e)
sys.stdout.flush()
os._exit(0)
"#;

/// A data-channel peer refused after the login: gfal2 (DCAU on) logs in with a proxy whose
/// certificate is then revoked (the CRL lands in the trust directory while gfal2 holds
/// its session), so its next upload presents a revoked chain on the data channel, which
/// griddock accepts and must refuse, with the reason in the reply and the transfer log.
#[test]
fn dcau_refuses_a_data_channel_peer_revoked_after_login() {
    let Some(fx) = Fixtures::make() else { return };
    if !common::gfal2_available() {
        return;
    }
    // Trust directories without the CRL yet: griddock's, and the client's, which never
    // gets it (else gfal2 refuses griddock's credential, the same revoked user's proxy,
    // before griddock checks gfal2's).
    let (trust, client_trust) = (fx.path("held-certificates"), fx.path("client-certificates"));
    let mut crl = None;
    for dir in [&trust, &client_trust] {
        std::fs::create_dir_all(dir).unwrap();
        for e in std::fs::read_dir(fx.path("certificates"))
            .unwrap()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().to_string();
            if name.ends_with(".r0") {
                crl = Some((e.path(), name));
            } else {
                std::fs::copy(e.path(), dir.join(&name)).unwrap();
            }
        }
    }
    let (crl_path, crl_name) = crl.expect("fixtures have a CRL");
    let g = Griddock::start(&fx.config(&fx.path("grid-mapfile"), &trust, ""));
    std::fs::write(g.data().join("f.bin"), b"data").unwrap();
    let local = g.dir.path().join("up-src.bin");
    random_file(&local, 200_003, 15);
    let (ready, go) = (g.dir.path().join("ready"), g.dir.path().join("go"));
    let base = format!("gsiftp://localhost:{}", g.gridftp.port());
    let child = Command::new("/usr/bin/python3")
        .args([
            "-c",
            GFAL2_HELD_SESSION,
            &base,
            local.to_str().unwrap(),
            ready.to_str().unwrap(),
            go.to_str().unwrap(),
        ])
        .env("X509_CERT_DIR", &client_trust)
        .env("X509_USER_PROXY", fx.proxy("revoked"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !ready.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // fetch-crl drops the CRL revoking the user into the trust directory.
    let tmp = trust.join(format!("{crl_name}.tmp"));
    std::fs::copy(&crl_path, &tmp).unwrap();
    std::fs::rename(&tmp, trust.join(&crl_name)).unwrap();
    std::fs::write(&go, b"").unwrap();
    let out = child.wait_with_output().unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.contains("stat 4"), "logged in before the CRL: {out}");
    let upload = out
        .lines()
        .find(|l| l.starts_with("upload "))
        .unwrap_or_default();
    // griddock refused the chain: gfal2 got the certificate_revoked alert (and stops
    // before the 425 reply, which carries the reason too), unless its Python binding
    // lost the message.
    assert!(
        upload.starts_with("upload ERR ")
            && (upload.contains("alert certificate revoked")
                || upload.starts_with("upload ERR (gfal2 binding)")),
        "griddock's refusal reached the peer: {out}\n{}",
        g.log()
    );
    assert!(
        !g.data().join("up.bin").exists()
            || std::fs::metadata(g.data().join("up.bin")).unwrap().len() == 0
    );
    let log = g.xferlog();
    assert!(
        log.iter().any(|l| l.contains("verb=\"STOR\"")
            && l.contains("result=\"failed\"")
            && l.contains("invalid peer certificate: Revoked")),
        "{log:#?}\n{out}"
    );
}
