//! FXP as it happens between real sites: lftp on 127.0.0.3 drives a server-to-server copy
//! while the data flows between the servers on 127.0.0.1 (`fxp_allow = ["127.0.0.1/32"]`).
//! griddock → griddock, vsftpd → griddock and griddock → vsftpd, with lftp's
//! `fxp-passive-source` off and on so griddock plays both the PASV and the PORT side.
//! griddock's transfer log proves the data connection's peer was the other server, not the
//! client, and its byte counters that the bytes went through it.

mod common;

use std::process::Command;

use common::{random_file, require_tool, run, sha256, Griddock, Vsftpd};

const FXP_CONFIG: &str =
    "[ftp]\nfxp = \"allow-list\"\nfxp_allow = [\"127.0.0.1/32\"]\n[auth]\nanonymous = \"write\"\n";

fn fxp(src: &str, dst: &str, passive_source: bool) -> (bool, String) {
    let script = format!(
        "set net:max-retries 2; set net:timeout 10; set ftp:use-fxp yes; set ftp:fxp-force yes; set net:socket-bind-ipv4 127.0.0.3; \
         set ftp:ssl-allow no; set ftp:fxp-passive-source {}; set cmd:fail-exit yes; get {src} -o {dst}",
        if passive_source { "yes" } else { "no" }
    );
    run(Command::new("lftp").args(["-c", &script]))
}

/// The one transfer-log line for `verb path` shows the client on 127.0.0.3 and the data
/// connection with 127.0.0.1.
fn assert_server_to_server(g: &Griddock, verb: &str, path: &str, bytes: u64) {
    let lines = g.xferlog();
    let line = lines
        .iter()
        .find(|l| l.contains(&format!("verb=\"{verb}\"")) && l.contains(&format!("path={path} ")))
        .unwrap_or_else(|| panic!("no {verb} {path} in transfer log:\n{}", lines.join("\n")));
    assert!(
        line.contains("peer=127.0.0.3:"),
        "control peer is not the client: {line}"
    );
    assert!(
        line.contains("data_peer=127.0.0.1:"),
        "data did not flow between servers: {line}"
    );
    assert!(
        line.contains(&format!("bytes={bytes} ")) && line.contains("result=\"ok\""),
        "{line}"
    );
}

#[test]
fn griddock_to_griddock() {
    if !require_tool("lftp") {
        return;
    }
    let (a, b) = (Griddock::start(FXP_CONFIG), Griddock::start(FXP_CONFIG));
    random_file(&a.data().join("f.bin"), 2_000_003, 7);
    for ps in [false, true] {
        let name = format!("copy-{ps}.bin");
        let (ok, log) = fxp(&a.url("f.bin"), &b.url(&name), ps);
        assert!(ok, "passive-source={ps}: {log}");
        assert_eq!(
            sha256(&b.data().join(&name)),
            sha256(&a.data().join("f.bin"))
        );
        assert_server_to_server(&b, "STOR", &format!("/{name}"), 2_000_003);
    }
    assert_server_to_server(&a, "RETR", "/f.bin", 2_000_003);
    assert_eq!(
        a.metric("griddock_bytes_sent_total{endpoint=\"ftp\"}"),
        4_000_006.0
    );
    assert_eq!(
        b.metric("griddock_bytes_received_total{endpoint=\"ftp\"}"),
        4_000_006.0
    );
}

#[test]
fn vsftpd_to_griddock_and_back() {
    if !require_tool("lftp") || !require_tool("vsftpd") {
        return;
    }
    let v = Vsftpd::start();
    let g = Griddock::start(FXP_CONFIG);
    random_file(&v.root().join("v.bin"), 1_500_007, 3);
    random_file(&g.data().join("g.bin"), 1_200_011, 4);
    for ps in [false, true] {
        let name = format!("from-vsftpd-{ps}.bin");
        let (ok, log) = fxp(&v.url("v.bin"), &g.url(&name), ps);
        assert!(ok, "vsftpd→griddock passive-source={ps}: {log}");
        assert_eq!(
            sha256(&g.data().join(&name)),
            sha256(&v.root().join("v.bin"))
        );
        assert_server_to_server(&g, "STOR", &format!("/{name}"), 1_500_007);

        let name = format!("from-griddock-{ps}.bin");
        let (ok, log) = fxp(&g.url("g.bin"), &v.url(&format!("incoming/{name}")), ps);
        assert!(ok, "griddock→vsftpd passive-source={ps}: {log}");
        assert_eq!(
            sha256(&v.root().join("incoming").join(&name)),
            sha256(&g.data().join("g.bin"))
        );
    }
    let retr = g
        .xferlog()
        .iter()
        .filter(|l| l.contains("verb=\"RETR\"") && l.contains("data_peer=127.0.0.1:"))
        .count();
    assert_eq!(retr, 2, "griddock served both FXP reads to vsftpd directly");
}
