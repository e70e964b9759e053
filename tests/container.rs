//! The container image, built offline by images/build.sh and run on the real Docker Engine:
//! non-root with a read-only root filesystem, downloads (curl, globus-url-copy) and
//! uploads through published ports, the NAT case (PASV announces GRIDDOCK_PUBLIC_HOST),
//! SIGTERM ending with exit code 0, HEALTHCHECK, and FXP between two containers on a
//! user-defined network. Ports are published on 127.0.0.1 only; fxp_allow names the test
//! network's own /24.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::docker::{docker, docker_ok, image};
use common::ftp::Ftp;
use common::{chmod, free_range, publish_port, random_file, require_tool, run, sha256};

struct Container(String);

impl Container {
    fn run(args: &[&str]) -> Container {
        let mut all = vec!["run", "-d", "--read-only"];
        all.extend_from_slice(args);
        Container(docker_ok(&all))
    }

    fn inspect(&self, format: &str) -> String {
        docker_ok(&["inspect", "-f", format, &self.0])
    }

    fn logs(&self) -> String {
        docker(&["logs", &self.0]).1
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.0]);
    }
}

fn wait_ready(http: u16, c: &Container) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(
        common::http_get(([127, 0, 0, 1], http).into(), "/readyz"),
        Ok((200, _))
    ) {
        assert!(
            Instant::now() < deadline,
            "container not ready:\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A host directory the container's uid 65534 can write.
fn volume() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    chmod(d.path(), 0o777);
    d
}

#[test]
fn image_serves_as_non_root_through_nat_and_stops_cleanly() {
    let Some(image) = image() else { return };
    let (data, state) = (volume(), volume());
    random_file(&data.path().join("f.bin"), 3_000_017, 11);
    chmod(&data.path().join("f.bin"), 0o644);
    let (ftp, http, gridftp) = (publish_port(), publish_port(), publish_port());
    let (lo, hi) = free_range(5);
    let c = Container::run(&[
        "-v",
        &format!("{}:/data", data.path().display()),
        "-v",
        &format!("{}:/var/lib/griddock", state.path().display()),
        "-p",
        &format!("127.0.0.1:{ftp}:21"),
        "-p",
        &format!("127.0.0.1:{http}:80"),
        "-p",
        &format!("127.0.0.1:{gridftp}:2811"),
        "-e",
        &format!("GRIDDOCK_GRIDFTP__PASSIVE_PORTS={lo}-{hi}"),
        "-p",
        &format!("127.0.0.1:{lo}-{hi}:{lo}-{hi}"),
        "-e",
        "GRIDDOCK_PUBLIC_HOST=127.0.0.1",
        "-e",
        &format!("GRIDDOCK_FTP__PASSIVE_PORTS={lo}-{hi}"),
        "-e",
        "GRIDDOCK_AUTH__ANONYMOUS=write",
        image,
    ]);
    wait_ready(http, &c);
    assert_eq!(c.inspect("{{.Config.User}}"), "65534:65534");
    assert_eq!(c.inspect("{{.HostConfig.ReadonlyRootfs}}"), "true");
    let top = docker_ok(&["top", &c.0, "-o", "pid,uid,comm"]);
    let uids: Vec<&str> = top
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert!(
        !uids.is_empty() && uids.iter().all(|u| *u == "65534"),
        "{top}"
    );

    // NAT: inside, the container has its own bridge address; PASV must announce the
    // address the client uses.
    let mut f = Ftp::connect(([127, 0, 0, 1], ftp).into());
    f.login("anonymous", "x");
    let pasv = f.pasv();
    assert_eq!(pasv.ip().to_string(), "127.0.0.1");
    assert!((lo..=hi).contains(&pasv.port()), "{pasv}");
    let (code, bytes) = f.retr("f.bin");
    assert_eq!((code, bytes.len()), (226, 3_000_017));
    // The same through the GridFTP endpoint.
    let mut gf = Ftp::connect(([127, 0, 0, 1], gridftp).into());
    gf.login("anonymous", "x");
    let pasv = gf.pasv();
    assert_eq!(
        pasv.ip().to_string(),
        "127.0.0.1",
        "GridFTP PASV behind NAT"
    );
    let (code, bytes) = gf.retr("f.bin");
    assert_eq!((code, bytes.len()), (226, 3_000_017));
    drop(gf);

    let out = data.path().join("curl.bin");
    let url = format!("ftp://127.0.0.1:{ftp}/f.bin");
    let (ok, log) = run(Command::new("curl").args([
        "-sS",
        "--disable-epsv",
        "-o",
        out.to_str().unwrap(),
        &url,
    ]));
    assert!(ok, "{log}");
    assert_eq!(sha256(&out), sha256(&data.path().join("f.bin")));
    if require_tool("globus-url-copy") {
        let dst = format!("file://{}/guc.bin", data.path().display());
        let (ok, log) = run(Command::new("globus-url-copy").args([&url, &dst]));
        assert!(ok, "{log}");
        assert_eq!(
            sha256(&data.path().join("guc.bin")),
            sha256(&data.path().join("f.bin"))
        );
        // MODE E upload with four streams through the published passive range (NAT).
        let src = format!("file://{}/f.bin", data.path().display());
        let up = format!("ftp://127.0.0.1:{gridftp}/guc-p4.bin");
        let (ok, log) = run(Command::new("globus-url-copy").args(["-p", "4", &src, &up]));
        assert!(ok, "{log}");
        assert_eq!(
            sha256(&data.path().join("guc-p4.bin")),
            sha256(&data.path().join("f.bin"))
        );
    }
    let src = data.path().join("f.bin");
    let up = format!("ftp://127.0.0.1:{ftp}/uploaded.bin");
    let (ok, log) = run(Command::new("curl").args(["-sS", "-T", src.to_str().unwrap(), &up]));
    assert!(ok, "{log}");
    assert_eq!(
        sha256(&data.path().join("uploaded.bin")),
        sha256(&src),
        "upload lands on the host volume"
    );

    let deadline = Instant::now() + Duration::from_secs(40);
    while c.inspect("{{.State.Health.Status}}") != "healthy" {
        assert!(
            Instant::now() < deadline,
            "never healthy: {}",
            c.inspect("{{json .State.Health}}")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(f);
    let started = Instant::now();
    docker_ok(&["stop", "-t", "40", &c.0]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "docker stop took {:?}",
        started.elapsed()
    );
    assert_eq!(c.inspect("{{.State.ExitCode}}"), "0", "{}", c.logs());
    let size: f64 = docker_ok(&["image", "inspect", "-f", "{{.Size}}", image])
        .parse()
        .unwrap();
    eprintln!("image size: {:.1} MB", size / 1e6);
    assert!(size < 40e6, "image is {:.1} MB", size / 1e6);
}

struct Network(String);

impl Drop for Network {
    fn drop(&mut self) {
        let _ = docker(&["network", "rm", &self.0]);
    }
}

#[test]
fn fxp_between_two_containers() {
    let Some(image) = image() else { return };
    if !require_tool("lftp") {
        return;
    }
    // A bridge network this test creates, in private space docker's default pools (and a
    // corporate 10/8) are unlikely to use; nothing on it is reachable from elsewhere.
    let octet = 200 + std::process::id() % 50;
    let subnet = format!("172.31.{octet}.0/24");
    let net = Network(format!("griddock-fxp-{}", std::process::id()));
    docker_ok(&["network", "create", "--subnet", &subnet, &net.0]);
    let (da, db) = (volume(), volume());
    random_file(&da.path().join("f.bin"), 2_500_003, 5);
    chmod(&da.path().join("f.bin"), 0o644);
    let start = |ip: &str, data: &tempfile::TempDir| {
        let (port, gport) = (publish_port(), publish_port());
        let c = Container::run(&[
            "--network",
            &net.0,
            "--ip",
            ip,
            "-v",
            &format!("{}:/data", data.path().display()),
            "--tmpfs",
            "/var/lib/griddock:uid=65534,gid=65534",
            "-p",
            &format!("127.0.0.1:{port}:21"),
            "-p",
            &format!("127.0.0.1:{gport}:2811"),
            "-e",
            &format!("GRIDDOCK_PUBLIC_HOST={ip}"),
            "-e",
            &format!("GRIDDOCK_FTP__FXP_ALLOW=[\"{subnet}\"]"),
            "-e",
            "GRIDDOCK_AUTH__ANONYMOUS=write",
            image,
        ]);
        (c, port, gport)
    };
    let (a, pa, ga) = start(&format!("172.31.{octet}.2"), &da);
    let (b, pb, gb) = start(&format!("172.31.{octet}.3"), &db);
    for (c, p) in [(&a, pa), (&b, pb), (&a, ga), (&b, gb)] {
        // A banner, not just a connection: Docker's port proxy accepts before griddock
        // listens inside the container, and then closes.
        let deadline = Instant::now() + Duration::from_secs(30);
        while common::ftp::greeted(([127, 0, 0, 1], p).into()).is_none() {
            assert!(Instant::now() < deadline, "{}", c.logs());
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // The servers announce their container addresses; lftp must pass them on as they are
    // (its fix-pasv-address heuristic would swap in 127.0.0.1, which the policy refuses).
    for ps in ["no", "yes"] {
        let script = format!(
            "set ftp:use-fxp yes; set ftp:fxp-force yes; set ftp:ssl-allow no; set ftp:fxp-passive-source {ps}; \
             set ftp:fix-pasv-address no; set net:timeout 15; set net:max-retries 2; set cmd:fail-exit yes; \
             get ftp://127.0.0.1:{pa}/f.bin -o ftp://127.0.0.1:{pb}/copy-{ps}.bin"
        );
        let (ok, log) = run(Command::new("lftp").args(["-c", &script]));
        assert!(
            ok,
            "FXP passive-source={ps}: {log}\nA:\n{}\nB:\n{}",
            a.logs(),
            b.logs()
        );
        assert_eq!(
            sha256(&db.path().join(format!("copy-{ps}.bin"))),
            sha256(&da.path().join("f.bin"))
        );
    }
    // GridFTP third-party copies between the containers' GridFTP endpoints, stream mode
    // and MODE E with four streams (the source connects to the destination's container
    // address, announced through public_host).
    let mut copies = 2;
    if require_tool("globus-url-copy") {
        for (name, opts) in [("guc-s.bin", &[][..]), ("guc-p4.bin", &["-p", "4"][..])] {
            let src = format!("ftp://127.0.0.1:{ga}/f.bin");
            let dst = format!("ftp://127.0.0.1:{gb}/{name}");
            let mut args = opts.to_vec();
            args.extend(["-st", "20", &src, &dst]);
            let (ok, log) = run(Command::new("globus-url-copy").args(&args));
            assert!(
                ok,
                "GridFTP third-party {opts:?}: {log}
A:
{}
B:
{}",
                a.logs(),
                b.logs()
            );
            assert_eq!(
                sha256(&db.path().join(name)),
                sha256(&da.path().join("f.bin"))
            );
            copies += 1;
        }
        assert!(a.logs().contains("streams=4"), "{}", a.logs());
    }
    // The data went between the containers, not through the host.
    let logs = b.logs();
    assert!(
        logs.matches(&format!("data_peer=172.31.{octet}.2:"))
            .count()
            >= copies,
        "{logs}"
    );
}
