//! Faults and hostile use that must not take the server down (issue 16): each endpoint's
//! TLS policy from its own section, stalled data peers that must not pin shared threads,
//! bounded MODE E offsets, storage errors (a full disk) reaching the reply, passive ports
//! that cannot be hoarded. Real clients where one exists (globus-url-copy), the raw FTP
//! client where the fault is on the wire.

mod common;

use std::time::Duration;

use common::ftp::Ftp;
use common::gridftp::{griddock_url, guc};
use common::{random_file, require_tool, sha256, Griddock};

/// `[ftp] tls = "required"` is the FTP endpoint's policy only: the GridFTP endpoint (no
/// FTPS there, like globus-gridftp-server) still logs in and transfers in clear text.
#[test]
fn ftp_tls_required_leaves_gridftp_alone() {
    let g = Griddock::start("[ftp]\ntls = \"required\"\n[auth]\nanonymous = \"read\"\n");
    random_file(&g.data().join("f.bin"), 3_000_001, 7);
    // The FTP port still insists on TLS.
    let mut f = Ftp::connect(g.ftp);
    let (code, text) = f.cmd("USER anonymous");
    assert_eq!(code, 530, "{text}");
    // The GridFTP port logs in without AUTH TLS and serves the file.
    let mut f = Ftp::connect(g.gridftp);
    f.login("anonymous", "x@y");
    let (code, data) = f.retr("f.bin");
    assert_eq!(code, 226);
    assert_eq!(data.len(), 3_000_001);
    if !require_tool("globus-url-copy") {
        return;
    }
    let dst = g.dir.path().join("copy.bin");
    let (ok, log) = guc(
        &[
            &griddock_url(&g, "f.bin"),
            &format!("file://{}", dst.display()),
        ],
        Duration::from_secs(60),
    );
    assert!(
        ok,
        "globus-url-copy over ftp:// with [ftp] tls = required: {log}"
    );
    assert_eq!(sha256(&dst), sha256(&g.data().join("f.bin")));
}
