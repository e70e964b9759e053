//! CKSM over a raw control connection, each value checked against an independent
//! implementation: Python's zlib.adler32 and coreutils md5sum/sha1sum/sha256sum/sha512sum.

mod common;

use std::process::Command;

use common::ftp::Ftp;
use common::{random_file, require_tool, run, Griddock};

fn tool_hash(cmd: &str, path: &std::path::Path) -> String {
    let (ok, out) = run(Command::new(cmd).arg(path));
    assert!(ok, "{out}");
    out.split_whitespace().next().unwrap().to_string()
}

#[test]
fn cksm_matches_independent_implementations_and_follows_writes() {
    if !require_tool("python3") || !require_tool("sha256sum") {
        return;
    }
    let g = Griddock::start("[auth]\nanonymous = \"write\"\n");
    let path = g.data().join("f.bin");
    random_file(&path, 5_000_011, 42);
    let mut f = Ftp::connect(g.ftp);
    f.login("anonymous", "x");
    let py = "import zlib,sys;print('%08x' % zlib.adler32(open(sys.argv[1],'rb').read()))";
    let (ok, adler) = run(Command::new("python3").args(["-c", py, path.to_str().unwrap()]));
    assert!(ok, "{adler}");
    let cases = [
        ("ADLER32", adler.trim().to_string()),
        ("MD5", tool_hash("md5sum", &path)),
        ("SHA1", tool_hash("sha1sum", &path)),
        ("SHA256", tool_hash("sha256sum", &path)),
        ("SHA512", tool_hash("sha512sum", &path)),
    ];
    for (alg, want) in &cases {
        // Twice: the same value (computed both times here: a file changed within the
        // last 3 s is not cached, see src/storage/checksum.rs).
        for _ in 0..2 {
            let (code, text) = f.cmd(&format!("CKSM {alg} 0 -1 f.bin"));
            assert_eq!(
                (code, text.trim()),
                (213, format!("213 {want}").as_str()),
                "{alg}"
            );
        }
    }
    // A range: bytes [1000, 1000+4096).
    let slice = g.dir.path().join("slice");
    std::fs::write(&slice, &std::fs::read(&path).unwrap()[1000..1000 + 4096]).unwrap();
    let (code, text) = f.cmd("CKSM MD5 1000 4096 f.bin");
    assert_eq!(
        (code, text.trim().to_string()),
        (213, format!("213 {}", tool_hash("md5sum", &slice)))
    );
    // An upload replaces the file: the cached value must not be served.
    assert_eq!(f.stor("f.bin", b"new content"), 226);
    let (code, text) = f.cmd("CKSM MD5 0 -1 f.bin");
    assert_eq!(
        (code, text.trim().to_string()),
        (213, format!("213 {}", tool_hash("md5sum", &path)))
    );
    // Rewritten in place: same inode, same size, only the mtime, ctime (and content)
    // change.
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
    {
        use std::io::Write;
        let mut w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        w.write_all(b"NEW CONTENT").unwrap();
        let later = std::fs::metadata(&path).unwrap().modified().unwrap()
            + std::time::Duration::from_secs(7);
        w.set_modified(later).unwrap();
    }
    let m = std::fs::metadata(&path).unwrap();
    assert_eq!(
        (std::os::unix::fs::MetadataExt::ino(&m), m.len()),
        (ino, 11)
    );
    let (code, text) = f.cmd("CKSM MD5 0 -1 f.bin");
    assert_eq!(
        (code, text.trim().to_string()),
        (213, format!("213 {}", tool_hash("md5sum", &path))),
        "stale CKSM after an in-place rewrite (mtime not in the cache key?)"
    );
    assert_eq!(f.code("CKSM CRC99 0 -1 f.bin"), 504);
    let (code, text) = f.cmd("CKSM ADLER32 0 -1 missing");
    assert!(code == 550 && text.contains("No such file"), "{text}");
    let (_, feat) = f.cmd("FEAT");
    assert!(
        feat.contains(" CKSM ADLER32;MD5;SHA1;SHA256;SHA512;CRC32C;"),
        "{feat}"
    );
}
