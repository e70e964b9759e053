//! Several griddocks on one data directory (docs/decisions/0005-shared-storage.md): two
//! containers from the project's image on the real Docker Engine, one shared bind-mounted
//! directory as `/data`, each with its own state directory, on a docker network this test
//! creates; control ports and passive ranges published on 127.0.0.1 only, each replica
//! announcing its own address in PASV (what the Helm DaemonSet does with the node address).
//! Both serve one certificate for the alias `replicas.test` (`tls.source = "files"`, as the
//! chart's cert-manager recipe does) and one users file; a macaroon key shared as the
//! chart's `macaroon.keySecret` does. Independent clients: curl (FTP, davs://),
//! globus-url-copy (GridFTP, third-party copies), lftp (FXP), python3 (adler32, JSON).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use common::docker::{docker, docker_ok, image};
use common::ftp::Ftp;
use common::{chmod, free_range, publish_port, random_file, require_tool, run, sha256};

/// The alias both replicas' certificate names.
const ALIAS: &str = "replicas.test";
/// The account in both replicas' users file.
const USER: &str = "mover";
const PASSWORD: &str = "shared-storage";

/// A bridge network of this test's own, in private space docker's default pools rarely use.
struct Network {
    name: String,
    /// `172.30.<n>`: replicas get `.2` and `.3`.
    prefix: String,
}

impl Network {
    fn create(tag: &str) -> Network {
        let name = format!("griddock-replicas-{tag}-{}", std::process::id());
        let base = (std::process::id() as usize * 7 + tag.len() * 31) % 200;
        for i in 0..20 {
            let prefix = format!("172.30.{}", 20 + (base + i * 11) % 200);
            let (ok, _) = docker(&[
                "network",
                "create",
                "--subnet",
                &format!("{prefix}.0/24"),
                &name,
            ]);
            if ok {
                return Network { name, prefix };
            }
        }
        panic!("no free 172.30.x.0/24 for a docker network");
    }

    fn subnet(&self) -> String {
        format!("{}.0/24", self.prefix)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = docker(&["network", "rm", &self.name]);
    }
}

/// One griddock container; removed on drop (also after `docker kill`).
struct Replica {
    id: String,
    ip: String,
    ftp: u16,
    gridftp: u16,
    http: u16,
    dav: u16,
    state: tempfile::TempDir,
}

impl Replica {
    fn start(
        image: &str,
        net: &Network,
        host: u8,
        shared: &Path,
        tls: &Path,
        env: &[&str],
        key: Option<&[u8]>,
    ) -> Replica {
        // Ports picked as free can be taken by a parallel test before docker binds them:
        // try again with others.
        for _ in 0..4 {
            if let Some(r) = Self::try_start(image, net, host, shared, tls, env, key) {
                r.wait_ready();
                return r;
            }
        }
        panic!("no free published ports for a replica after 4 attempts");
    }

    fn try_start(
        image: &str,
        net: &Network,
        host: u8,
        shared: &Path,
        tls: &Path,
        env: &[&str],
        key: Option<&[u8]>,
    ) -> Option<Replica> {
        let ip = format!("{}.{host}", net.prefix);
        let state = writable_dir();
        if let Some(key) = key {
            // What the chart's macaroon.keySecret mounts into every pod.
            let path = state.path().join("macaroon.key");
            std::fs::write(&path, key).unwrap();
            chmod(&path, 0o644);
        }
        let (ftp, gridftp, http, dav) = (
            publish_port(),
            publish_port(),
            publish_port(),
            publish_port(),
        );
        let (lo, hi) = free_range(6);
        let mut args: Vec<String> = [
            "run",
            "-d",
            "--read-only",
            "--network",
            &net.name,
            "--ip",
            &ip,
            "-v",
            &format!("{}:/data", shared.display()),
            "-v",
            &format!("{}:/var/lib/griddock", state.path().display()),
            "-v",
            &format!("{}:/etc/griddock/tls:ro", tls.display()),
            "-p",
            &format!("127.0.0.1:{ftp}:21"),
            "-p",
            &format!("127.0.0.1:{gridftp}:2811"),
            "-p",
            &format!("127.0.0.1:{http}:80"),
            "-p",
            &format!("127.0.0.1:{dav}:443"),
            "-p",
            &format!("127.0.0.1:{lo}-{hi}:{lo}-{hi}"),
            "-e",
            &format!("GRIDDOCK_PUBLIC_HOST={ip}"),
            "-e",
            &format!("GRIDDOCK_FTP__PASSIVE_PORTS={lo}-{hi}"),
            "-e",
            &format!("GRIDDOCK_GRIDFTP__PASSIVE_PORTS={lo}-{hi}"),
            "-e",
            &format!("GRIDDOCK_FTP__FXP_ALLOW=[\"{}\"]", net.subnet()),
            "-e",
            "GRIDDOCK_AUTH__ANONYMOUS=write",
            "-e",
            "GRIDDOCK_TLS__SOURCE=files",
            "-e",
            "GRIDDOCK_TLS__CERT_FILE=/etc/griddock/tls/cert.pem",
            "-e",
            "GRIDDOCK_TLS__KEY_FILE=/etc/griddock/tls/key.pem",
            "-e",
            "GRIDDOCK_AUTH__USERS_FILE=/etc/griddock/tls/users.toml",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for e in env {
            args.extend(["-e".to_string(), e.to_string()]);
        }
        args.push(image.to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, out) = docker(&args);
        let id = out.split_whitespace().next().unwrap_or("").to_string();
        if !ok {
            // Docker's own allocator says the first, its userland proxy the second (another
            // process bound the port after it was picked).
            assert!(
                out.contains("port is already allocated")
                    || out.contains("bind: address already in use"),
                "docker run: {out}"
            );
            // `docker run -d` created the container before failing to publish its ports.
            if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                let _ = docker(&["rm", "-f", &id]);
            }
            return None;
        }
        Some(Replica {
            id,
            ip,
            ftp,
            gridftp,
            http,
            dav,
            state,
        })
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(
            common::http_get(([127, 0, 0, 1], self.http).into(), "/readyz"),
            Ok((200, _))
        ) {
            assert!(Instant::now() < deadline, "not ready:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn logs(&self) -> String {
        docker(&["logs", &self.id]).1
    }

    fn ftp_url(&self, path: &str) -> String {
        format!("ftp://127.0.0.1:{}/{path}", self.ftp)
    }

    fn gridftp_url(&self, path: &str) -> String {
        format!("ftp://127.0.0.1:{}/{path}", self.gridftp)
    }

    fn dav_url(&self, path: &str) -> String {
        format!("https://{ALIAS}:{}/{path}", self.dav)
    }

    fn control(&self) -> Ftp {
        let mut f = Ftp::connect(([127, 0, 0, 1], self.ftp).into());
        f.login("anonymous", "x");
        f
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.id]);
    }
}

/// Two replicas A and B on one shared data directory. Fields drop in order: containers,
/// then the network, then the directories.
struct Pair {
    a: Replica,
    b: Replica,
    net: Network,
    shared: tempfile::TempDir,
    tls: tempfile::TempDir,
    /// Test inputs and downloads, outside the shared directory.
    work: tempfile::TempDir,
}

impl Pair {
    fn start(tag: &str, env: &[&str]) -> Option<Pair> {
        Self::start_keyed(tag, env, None)
    }

    /// Both replicas with the same macaroon key when `key` is given.
    fn start_keyed(tag: &str, env: &[&str], key: Option<&[u8]>) -> Option<Pair> {
        let image = image()?;
        if !require_tool("openssl") || !require_tool("curl") {
            return None;
        }
        let net = Network::create(tag);
        let shared = writable_dir();
        let tls = alias_certificate();
        let users = tls.path().join("users.toml");
        std::fs::write(&users, common::user_entry(USER, PASSWORD, "read-write")).unwrap();
        chmod(&users, 0o644);
        let a = Replica::start(image, &net, 2, shared.path(), tls.path(), env, key);
        let b = Replica::start(image, &net, 3, shared.path(), tls.path(), env, key);
        Some(Pair {
            a,
            b,
            net,
            shared,
            tls,
            work: tempfile::tempdir().unwrap(),
        })
    }

    fn shared(&self, name: &str) -> PathBuf {
        self.shared.path().join(name)
    }

    fn work(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    fn ca(&self) -> String {
        self.tls.path().join("cert.pem").display().to_string()
    }

    /// griddock's own files left in the shared directory.
    fn internal_files(&self) -> Vec<String> {
        std::fs::read_dir(self.shared.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".griddock-"))
            .collect()
    }

    fn logs(&self) -> String {
        format!("A:\n{}\nB:\n{}", self.a.logs(), self.b.logs())
    }

    fn curl(&self, args: &[&str]) {
        let (ok, log) = run(Command::new("curl").args(["-sS", "--fail"]).args(args));
        assert!(ok, "curl {args:?}: {log}\n{}", self.logs());
    }

    fn curl_dav(&self, r: &Replica, args: &[&str]) -> String {
        let resolve = format!("{ALIAS}:{}:127.0.0.1", r.dav);
        let ca = self.ca();
        let mut all = vec!["-sS", "--fail", "--cacert", &ca, "--resolve", &resolve];
        all.extend_from_slice(args);
        let (ok, log) = run(Command::new("curl").args(&all));
        assert!(ok, "curl {all:?}: {log}\n{}", self.logs());
        log
    }

    /// The HTTP status of a davs:// request to `r` (body discarded).
    fn dav_status(&self, r: &Replica, args: &[&str]) -> String {
        let resolve = format!("{ALIAS}:{}:127.0.0.1", r.dav);
        let ca = self.ca();
        let mut all = vec![
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--cacert",
            &ca,
        ];
        all.extend(["--resolve", &resolve]);
        all.extend_from_slice(args);
        let (ok, out) = run(Command::new("curl").args(&all));
        assert!(ok, "curl {all:?}: {out}");
        out.trim().to_string()
    }

    fn guc(&self, args: &[&str]) {
        let (ok, log) = run(Command::new("globus-url-copy").args(args));
        assert!(ok, "globus-url-copy {args:?}: {log}\n{}", self.logs());
    }
}

/// A host directory the containers' uid 65534 can write.
fn writable_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    chmod(d.path(), 0o777);
    d
}

/// A self-signed certificate for the alias (and 127.0.0.1), readable by uid 65534.
fn alias_certificate() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    chmod(d.path(), 0o755);
    let (ok, log) = run(Command::new("openssl").current_dir(d.path()).args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-subj",
        &format!("/CN={ALIAS}"),
        "-addext",
        &format!("subjectAltName=DNS:{ALIAS},DNS:a.{ALIAS},DNS:b.{ALIAS},IP:127.0.0.1"),
    ]));
    assert!(ok, "{log}");
    chmod(&d.path().join("key.pem"), 0o644);
    d
}

fn ftp_cksm(r: &Replica, alg: &str, name: &str) -> String {
    let mut f = r.control();
    let (code, text) = f.cmd(&format!("CKSM {alg} 0 -1 {name}"));
    assert_eq!(code, 213, "{text}");
    text.trim().trim_start_matches("213 ").to_string()
}

fn tool_hash(cmd: &str, path: &Path) -> String {
    let (ok, out) = run(Command::new(cmd).arg(path));
    assert!(ok, "{out}");
    out.split_whitespace().next().unwrap().to_string()
}

fn adler32(path: &Path) -> String {
    let py = "import zlib,sys;print('%08x' % zlib.adler32(open(sys.argv[1],'rb').read()))";
    let (ok, out) = run(Command::new("python3").args(["-c", py, path.to_str().unwrap()]));
    assert!(ok, "{out}");
    out.trim().to_string()
}

/// Waits until the file's last change is old enough for the checksum cache to keep it.
fn settle(path: &Path) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap();
    let changed = SystemTime::UNIX_EPOCH
        + Duration::new(m.ctime() as u64, m.ctime_nsec() as u32)
        + Duration::from_millis(3500);
    if let Ok(wait) = changed.duration_since(SystemTime::now()) {
        std::thread::sleep(wait);
    }
}

#[test]
fn written_through_one_replica_read_through_the_other_on_every_protocol() {
    let Some(p) = Pair::start("protocols", &[]) else {
        return;
    };
    if !require_tool("globus-url-copy") || !require_tool("python3") {
        return;
    }
    let src = p.work("src.bin");
    random_file(&src, 3_000_017, 21);
    let srcs = src.to_str().unwrap();
    let want = sha256(&src);

    // FTP: curl up through A (EPSV, through the published range), down through B.
    p.curl(&["-T", srcs, &p.a.ftp_url("ftp.bin")]);
    let out = p.work("ftp-b.bin");
    p.curl(&["-o", out.to_str().unwrap(), &p.b.ftp_url("ftp.bin")]);
    assert_eq!(sha256(&out), want);
    assert_eq!(sha256(&p.shared("ftp.bin")), want);
    assert_eq!(ftp_cksm(&p.b, "SHA256", "ftp.bin"), want);
    assert_eq!(ftp_cksm(&p.b, "ADLER32", "ftp.bin"), adler32(&src));

    // GridFTP: MODE E with four streams up through A (PASV: A's own address), down
    // through B.
    let file = format!("file://{srcs}");
    p.guc(&["-p", "4", &file, &p.a.gridftp_url("guc.bin")]);
    let out = p.work("guc-b.bin");
    p.guc(&[
        &p.b.gridftp_url("guc.bin"),
        &format!("file://{}", out.display()),
    ]);
    assert_eq!(sha256(&out), want);
    assert!(p.a.logs().contains("streams=4"), "{}", p.logs());
    let mut g = Ftp::connect(([127, 0, 0, 1], p.b.gridftp).into());
    g.login("anonymous", "x");
    let (code, text) = g.cmd("CKSM MD5 0 -1 guc.bin");
    assert_eq!(
        (code, text.trim()),
        (213, format!("213 {}", tool_hash("md5sum", &src)).as_str())
    );

    // davs://: PUT through A, GET through B with the digest, one certificate for the alias.
    p.curl_dav(&p.a, &["-T", srcs, &p.a.dav_url("dav.bin")]);
    let out = p.work("dav-b.bin");
    let headers = p.curl_dav(
        &p.b,
        &[
            "-D",
            "-",
            "-H",
            "Want-Digest: adler32",
            "-o",
            out.to_str().unwrap(),
            &p.b.dav_url("dav.bin"),
        ],
    );
    assert_eq!(sha256(&out), want);
    let digest = format!("adler32={}", adler32(&src)).to_lowercase();
    assert!(headers.to_lowercase().contains(&digest), "{headers}");

    // A checksum asked through B after A rewrote the file is the new one: B's cache has
    // the old value (settled, asked twice), A replaces the file with one of the same size
    // and puts the old mtime back (MFMT, as a copy tool preserving times does).
    settle(&p.shared("ftp.bin"));
    let old_md5 = ftp_cksm(&p.b, "MD5", "ftp.bin");
    assert_eq!(ftp_cksm(&p.b, "MD5", "ftp.bin"), old_md5);
    let cached = std::fs::read_dir(p.b.state.path().join("checksums"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(
        cached > 0,
        "B never cached a checksum: the test would prove nothing"
    );
    let (code, mdtm) = p.b.control().cmd("MDTM ftp.bin");
    assert_eq!(code, 213, "{mdtm}");
    let new = p.work("new.bin");
    random_file(&new, 3_000_017, 22);
    p.curl(&["-T", new.to_str().unwrap(), &p.a.ftp_url("ftp.bin")]);
    let (code, text) = p.a.control().cmd(&format!(
        "MFMT {} ftp.bin",
        mdtm.trim().trim_start_matches("213 ")
    ));
    assert_eq!(code, 213, "{text}");
    assert_eq!(ftp_cksm(&p.b, "MD5", "ftp.bin"), tool_hash("md5sum", &new));
    assert_eq!(ftp_cksm(&p.b, "SHA256", "ftp.bin"), sha256(&new));
    assert!(p.internal_files().is_empty(), "{:?}", p.internal_files());
}

#[test]
fn third_party_copies_from_one_replica_to_the_other() {
    let Some(p) = Pair::start("tpc", &[]) else {
        return;
    };
    if !require_tool("globus-url-copy") || !require_tool("lftp") {
        return;
    }
    random_file(&p.shared("src.bin"), 2_500_003, 31);
    chmod(&p.shared("src.bin"), 0o644);
    let want = sha256(&p.shared("src.bin"));
    // GridFTP third-party copies A → B, stream mode and MODE E with four streams.
    for (name, opts) in [("guc-s.bin", &[][..]), ("guc-p4.bin", &["-p", "4"][..])] {
        let (src, dst) = (p.a.gridftp_url("src.bin"), p.b.gridftp_url(name));
        let mut args = opts.to_vec();
        args.extend(["-st", "20", &src, &dst]);
        p.guc(&args);
        assert_eq!(sha256(&p.shared(name)), want);
    }
    // FXP with lftp A → B (the policy allows the replicas' network: fxp_allow).
    let script = format!(
        "set ftp:use-fxp yes; set ftp:fxp-force yes; set ftp:ssl-allow no; \
         set ftp:fix-pasv-address no; set net:timeout 15; set net:max-retries 2; set cmd:fail-exit yes; \
         get {} -o {}",
        p.a.ftp_url("src.bin"),
        p.b.ftp_url("fxp.bin")
    );
    let (ok, log) = run(Command::new("lftp").args(["-c", &script]));
    assert!(ok, "FXP: {log}\n{}", p.logs());
    assert_eq!(sha256(&p.shared("fxp.bin")), want);
    // The data went between the replicas, not through the host.
    let logs = p.b.logs();
    assert!(
        logs.matches(&format!("data_peer={}:", p.a.ip)).count() >= 3,
        "{logs}"
    );
}

#[test]
fn concurrent_uploads_of_one_name_through_both_replicas_leave_one_whole_file() {
    let Some(p) = Pair::start("race", &[]) else {
        return;
    };
    let (a_src, b_src) = (p.work("a.bin"), p.work("b.bin"));
    let mut mixed = 0;
    for round in 0..20u64 {
        random_file(&a_src, 1_500_007, 1000 + round);
        random_file(&b_src, 1_500_007, 2000 + round);
        let (wa, wb) = (sha256(&a_src), sha256(&b_src));
        let upload = |src: &Path, r: &Replica| {
            Command::new("curl")
                .args([
                    "-sS",
                    "--fail",
                    "-T",
                    src.to_str().unwrap(),
                    &r.ftp_url("same.bin"),
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (ca, cb) = (upload(&a_src, &p.a), upload(&b_src, &p.b));
        for (who, c) in [("A", ca), ("B", cb)] {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: upload through {who}: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                p.logs()
            );
        }
        let got = sha256(&p.shared("same.bin"));
        assert!(
            got == wa || got == wb,
            "round {round}: the final file is a mix of two uploads"
        );
        if got != wa {
            mixed += 1;
        }
        // What B serves is that same file.
        let out = p.work("read.bin");
        p.curl(&["-o", out.to_str().unwrap(), &p.b.ftp_url("same.bin")]);
        assert_eq!(sha256(&out), got, "round {round}");
    }
    eprintln!("concurrent uploads: B's upload won {mixed} of 20 rounds");
    assert!(p.internal_files().is_empty(), "{:?}", p.internal_files());
}

/// Starts `STOR name` on `r` and sends `bytes` over a passive connection left open.
fn start_upload(r: &Replica, name: &str, bytes: &[u8]) -> (Ftp, TcpStream) {
    let mut f = r.control();
    let addr: SocketAddr = f.pasv();
    let mut data = TcpStream::connect(addr).unwrap();
    data.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (code, text) = f.cmd(&format!("STOR {name}"));
    assert_eq!(code, 150, "{text}");
    data.write_all(bytes).unwrap();
    (f, data)
}

/// `REST offset` + `STOR name` with `rest` on `r`: the final reply code (or the refusal).
fn resume_upload(r: &Replica, name: &str, offset: u64, rest: &[u8]) -> (u16, String) {
    let mut f = r.control();
    let addr = f.pasv();
    let mut data = TcpStream::connect(addr).unwrap();
    let (code, text) = f.cmd(&format!("REST {offset}"));
    assert_eq!(code, 350, "{text}");
    let (code, text) = f.cmd(&format!("STOR {name}"));
    if code != 150 {
        return (code, text);
    }
    data.write_all(rest).unwrap();
    drop(data);
    f.reply()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn one_internal(p: &Pair, prefix: &str) -> Option<PathBuf> {
    p.internal_files()
        .into_iter()
        .find(|n| n.starts_with(prefix))
        .map(|n| p.shared(&n))
}

#[test]
fn interrupted_uploads_resume_on_the_other_replica_or_are_refused_never_corrupt() {
    // A short stale age: each replica sweeps every 2 s what is untouched for 8 s.
    let Some(p) = Pair::start("resume", &["GRIDDOCK_STORAGE__STALE_UPLOAD_AGE=8s"]) else {
        return;
    };
    let whole = p.work("whole.bin");
    random_file(&whole, 6_000_011, 41);
    let bytes = std::fs::read(&whole).unwrap();

    // 1. The client's data connection to A is reset mid-upload; A keeps the part file and
    //    the client resumes through B with REST + STOR.
    let (mut f, data) = start_upload(&p.a, "cut.bin", &bytes[..2_000_000]);
    socket2::SockRef::from(&data)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(data);
    let (code, text) = f.reply();
    assert!(code >= 400, "a reset upload reported {code} {text}");
    let part = p.shared(".griddock-part.cut.bin");
    wait_for("A's part file", Duration::from_secs(10), || part.exists());
    let have = std::fs::metadata(&part).unwrap().len();
    assert!(have > 0 && have <= 2_000_000, "{have}");
    let (code, text) = resume_upload(&p.b, "cut.bin", have, &bytes[have as usize..]);
    assert_eq!(code, 226, "{text}\n{}", p.logs());
    assert_eq!(sha256(&p.shared("cut.bin")), sha256(&whole), "resumed on B");
    assert!(!part.exists());

    // 2. A is killed (`docker kill`, no chance to keep a part file) mid-upload: B refuses
    //    the restart clearly, no final name appears, a fresh upload through B works, and
    //    B's sweep removes A's orphan once it is older than the stale age.
    let (mut f, mut data) = start_upload(&p.a, "killed.bin", &bytes[..3_000_000]);
    wait_for("A's temporary file", Duration::from_secs(10), || {
        one_internal(&p, ".griddock-tmp.")
            .is_some_and(|t| std::fs::metadata(t).is_ok_and(|m| m.len() > 0))
    });
    docker_ok(&["kill", &p.a.id]);
    let _ = data.write_all(&bytes[3_000_000..3_100_000]);
    let mut rest = Vec::new();
    let _ = data.read_to_end(&mut rest);
    assert!(f.is_closed());
    let orphan = one_internal(&p, ".griddock-tmp.").expect("A's orphaned temporary file");
    let (code, text) = resume_upload(&p.b, "killed.bin", 1_000_000, &bytes[1_000_000..]);
    assert_eq!(code, 554, "resume of an upload whose replica died: {text}");
    assert!(
        !p.shared("killed.bin").exists(),
        "a final name appeared for a half upload"
    );
    p.curl(&["-T", whole.to_str().unwrap(), &p.b.ftp_url("killed.bin")]);
    assert_eq!(sha256(&p.shared("killed.bin")), sha256(&whole));
    wait_for("B to sweep A's orphan", Duration::from_secs(20), || {
        !orphan.exists()
    });
    assert!(
        p.b.logs().contains("stale upload file removed"),
        "{}",
        p.b.logs()
    );

    // 3. A live upload through B that trickles for longer than the stale age survives
    //    the sweeps of a replica that cannot see it (a restarted A): every write touches it.
    docker_ok(&["start", &p.a.id]);
    p.a.wait_ready();
    let (mut f, mut data) = start_upload(&p.b, "slow.bin", &bytes[..100_000]);
    let started = Instant::now();
    let mut sent = 100_000;
    while started.elapsed() < Duration::from_secs(11) {
        std::thread::sleep(Duration::from_millis(500));
        data.write_all(&bytes[sent..sent + 50_000]).unwrap();
        sent += 50_000;
    }
    drop(data);
    let (code, text) = f.reply();
    assert_eq!(code, 226, "{text}\n{}", p.logs());
    assert_eq!(std::fs::read(p.shared("slow.bin")).unwrap(), &bytes[..sent]);
    assert!(p.internal_files().is_empty(), "{:?}", p.internal_files());
}

/// A macaroon asked for through A is accepted by B when both doors have one key (the
/// chart's `macaroon.keySecret`), and refused by a door with its own key.
#[test]
fn a_macaroon_from_one_door_is_accepted_by_the_others_with_one_key() {
    let key = [7u8; 32];
    let Some(p) = Pair::start_keyed("macaroon", &[], Some(&key)) else {
        return;
    };
    if !require_tool("python3") {
        return;
    }
    random_file(&p.shared("m.bin"), 100_003, 51);
    chmod(&p.shared("m.bin"), 0o644);
    let basic = format!("{USER}:{PASSWORD}");
    let body = r#"{"caveats": ["activity:DOWNLOAD,LIST"], "validity": "PT10M"}"#;
    let reply = p.curl_dav(
        &p.a,
        &[
            "-u",
            &basic,
            "-X",
            "POST",
            "-H",
            "Content-Type: application/macaroon-request",
            "--data-binary",
            body,
            &p.a.dav_url("m.bin"),
        ],
    );
    let py = "import json,sys;print(json.load(sys.stdin)['macaroon'])";
    let mut child = Command::new("python3")
        .args(["-c", py])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(reply.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{reply}");
    let macaroon = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let bearer = format!("Authorization: Bearer {macaroon}");
    let out = p.work("m-b.bin");
    p.curl_dav(
        &p.b,
        &[
            "-H",
            &bearer,
            "-o",
            out.to_str().unwrap(),
            &p.b.dav_url("m.bin"),
        ],
    );
    assert_eq!(
        sha256(&out),
        sha256(&p.shared("m.bin")),
        "macaroon from A used on B"
    );
    // A third door with a key of its own does not accept it.
    let c = Replica::start(
        image().unwrap(),
        &p.net,
        4,
        p.shared.path(),
        p.tls.path(),
        &[],
        None,
    );
    assert_eq!(
        p.dav_status(&c, &["-H", &bearer, &c.dav_url("m.bin")]),
        "401"
    );
    assert_eq!(
        p.dav_status(&p.b, &["-H", &bearer, &p.b.dav_url("m.bin")]),
        "200"
    );
}
