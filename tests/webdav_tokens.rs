//! Bearer credentials on the davs:// endpoint with real peers: WLCG tokens from an
//! independent issuer (tests/fixtures/token_issuer.py: PyJWT over HTTPS with a test CA)
//! used by curl, and macaroons griddock issues on `POST application/macaroon-request`
//! (asked for with Basic and with a token) and then accepts as `Authorization: Bearer`.
//! Token paths are server paths: absolute paths in the data directory.

mod common;

use std::process::Command;

use common::tokens::{python_jwt_available, start_issuer, Issuer};
use common::{require_tool, user_entry, Griddock};

const PW: &str = "s3cret-pw";

/// griddock trusting `issuer` (base_path `/`), with alice (read-write under /), bob
/// (read-only) and carol (read-write, root `carol`) in the users file.
fn start(issuer: &Issuer) -> Griddock {
    let mut users = user_entry("alice", PW, "read-write");
    users.push_str(&user_entry("bob", PW, "read"));
    // carol's root is data_dir/carol: her URL /f is the server path /carol/f.
    users.push_str(&user_entry("carol", PW, "read-write"));
    users.push_str("root = \"carol\"\n");
    let mut g = Griddock::prepare();
    let users_path = g.dir.path().join("users.toml");
    std::fs::write(&users_path, users).unwrap();
    g.launch(
        &format!(
            "[auth]\nusers_file = \"{}\"\nfailed_login_delay = \"10ms\"\n\
             [[auth.token_issuers]]\nissuer = \"{}\"\nbase_path = \"/\"\n\
             audience = [\"https://griddock.test\"]\nca_file = \"{}\"\n",
            users_path.display(),
            issuer.url,
            issuer.ca_file.display()
        ),
        &[],
    );
    g
}

fn url(g: &Griddock, path: &str) -> String {
    format!("https://localhost:{}{path}", g.webdav.port())
}

/// curl against the endpoint: status, headers (lower-case), body.
fn curl(g: &Griddock, args: &[&str]) -> (u16, String, Vec<u8>) {
    let cert = g.cert();
    common::curl_https(&["--path-as-is", "--cacert", cert.to_str().unwrap()], args)
}

fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}")
}

/// `token` with one character of its payload changed (the signature no longer fits).
fn tampered(token: &str) -> String {
    let mut b = token.as_bytes().to_vec();
    let i = token.find('.').map_or(b.len() / 2, |d| d + 5);
    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

fn peers() -> bool {
    require_tool("curl") && python_jwt_available()
}

#[test]
fn jwt_tokens_scope_get_put_and_mkcol_by_path_and_activity() {
    if !peers() {
        return;
    }
    let issuer = start_issuer(&[
        ("read_x", "storage.read:/x"),
        ("create_up", "storage.create:/up"),
        ("modify_up", "storage.modify:/up"),
        ("read_dir_only", "storage.read:/x/"),
    ]);
    let g = start(&issuer);
    for d in ["x", "xfoo", "other", "up"] {
        std::fs::create_dir_all(g.data().join(d)).unwrap();
        std::fs::write(g.data().join(d).join("f"), format!("in {d}\n")).unwrap();
    }
    let read_x = bearer(&issuer.token("read_x"));
    let (code, h, body) = curl(&g, &["-H", &read_x, &url(&g, "/x/f")]);
    assert_eq!((code, body.as_slice()), (200, &b"in x\n"[..]), "{h}");
    let (code, _, _) = curl(&g, &["-I", "-H", &read_x, &url(&g, "/x/f")]);
    assert_eq!(code, 200, "HEAD");
    let (code, _, _) = curl(
        &g,
        &[
            "-X",
            "PROPFIND",
            "-H",
            "Depth: 1",
            "-H",
            &read_x,
            &url(&g, "/x/"),
        ],
    );
    assert_eq!(code, 207, "PROPFIND Depth 1");
    // SECURITY: whole components: storage.read:/x does not cover /xfoo.
    for (path, what) in [
        ("/xfoo/f", "/xfoo"),
        ("/other/f", "another path"),
        ("/", "/"),
    ] {
        let (code, h, body) = curl(&g, &["-H", &read_x, &url(&g, path)]);
        assert_eq!(code, 403, "{what}: {h}");
        assert!(!String::from_utf8_lossy(&body).contains("in "), "{what}");
    }
    // Read does not write.
    let (code, _, _) = curl(&g, &["-H", &read_x, "-T", "/dev/null", &url(&g, "/x/new")]);
    assert_eq!(code, 403, "PUT with storage.read");
    assert!(!g.data().join("x/new").exists());
    // No write right there: refused before the namespace is looked at (not 409 for a
    // parent that is a file, which would tell what exists).
    let (code, _, _) = curl(
        &g,
        &["-H", &read_x, "-T", "/dev/null", &url(&g, "/other/f/sub")],
    );
    assert_eq!(code, 403, "PUT without any write right");

    // storage.create: new files and collections, never overwrite or delete.
    let src = g.dir.path().join("src");
    std::fs::write(&src, "new data\n").unwrap();
    let create = bearer(&issuer.token("create_up"));
    let put = |auth: &str, path: &str| {
        curl(
            &g,
            &["-H", auth, "-T", src.to_str().unwrap(), &url(&g, path)],
        )
        .0
    };
    assert_eq!(put(&create, "/up/new"), 201, "PUT new with storage.create");
    assert_eq!(
        std::fs::read(g.data().join("up/new")).unwrap(),
        b"new data\n"
    );
    assert_eq!(put(&create, "/up/f"), 403, "overwrite with storage.create");
    assert_eq!(std::fs::read(g.data().join("up/f")).unwrap(), b"in up\n");
    assert_eq!(put(&create, "/x/new2"), 403, "create elsewhere");
    let (code, _, _) = curl(&g, &["-X", "DELETE", "-H", &create, &url(&g, "/up/f")]);
    assert_eq!(code, 403, "DELETE with storage.create");
    let (code, _, _) = curl(&g, &["-X", "MKCOL", "-H", &create, &url(&g, "/up/dir")]);
    assert_eq!(code, 201, "MKCOL with storage.create");
    let (code, _, _) = curl(&g, &["-H", &create, &url(&g, "/up/f")]);
    assert_eq!(code, 403, "GET with storage.create only");
    let dest_new = format!("Destination: {}", url(&g, "/up/renamed"));
    let (code, _, _) = curl(
        &g,
        &[
            "-X",
            "MOVE",
            "-H",
            &dest_new,
            "-H",
            &create,
            &url(&g, "/up/new"),
        ],
    );
    assert_eq!(code, 403, "MOVE (rename) with storage.create");
    assert!(g.data().join("up/new").exists());
    // storage.modify: overwrite, delete, rename.
    let modify = bearer(&issuer.token("modify_up"));
    assert_eq!(put(&modify, "/up/f"), 204, "overwrite with storage.modify");
    assert_eq!(std::fs::read(g.data().join("up/f")).unwrap(), b"new data\n");
    let dest = format!("Destination: {}", url(&g, "/up/moved"));
    let (code, _, _) = curl(
        &g,
        &["-X", "MOVE", "-H", &dest, "-H", &modify, &url(&g, "/up/f")],
    );
    assert_eq!(code, 201, "MOVE with storage.modify");
    let dest_out = format!("Destination: {}", url(&g, "/x/moved"));
    let (code, _, _) = curl(
        &g,
        &[
            "-X",
            "MOVE",
            "-H",
            &dest_out,
            "-H",
            &modify,
            &url(&g, "/up/moved"),
        ],
    );
    assert_eq!(code, 403, "MOVE out of the scope");
    assert!(g.data().join("up/moved").exists() && !g.data().join("x/moved").exists());
    let (code, _, _) = curl(&g, &["-X", "DELETE", "-H", &modify, &url(&g, "/up/moved")]);
    assert_eq!(code, 204, "DELETE with storage.modify");

    // Invalid credentials: 401 with a Bearer invalid_token challenge, never the file.
    let rs = issuer.token("rs256");
    let bad = [
        ("expired", issuer.token("expired")),
        ("hs256", issuer.token("hs256_public_key")),
        ("unknown issuer", issuer.token("unknown_issuer")),
        ("unknown kid", issuer.token("unknown_kid")),
        ("wrong audience", issuer.token("wrong_audience")),
        ("tampered", tampered(&issuer.token("read_x"))),
        ("garbage", "abc.def.ghi".to_string()),
    ];
    assert_ne!(tampered(&rs), rs);
    for (what, token) in bad {
        let (code, h, body) = curl(&g, &["-H", &bearer(&token), &url(&g, "/x/f")]);
        assert_eq!(code, 401, "{what}: {h}");
        assert!(
            h.contains("www-authenticate: bearer") && h.contains("error=\"invalid_token\""),
            "{what}: {h}"
        );
        assert!(!String::from_utf8_lossy(&body).contains("in x"), "{what}");
    }
    assert!(g.metric("griddock_logins_total{endpoint=\"webdav\",method=\"bearer\"}") >= 5.0);
    assert!(g.metric("griddock_login_failures_total{endpoint=\"webdav\"}") >= 7.0);
}

/// The JSON of a macaroon request answered with 200.
fn ask_macaroon(
    g: &Griddock,
    auth: &[&str],
    path: &str,
    caveats: &str,
) -> (u16, serde_json::Value) {
    let body = format!("{{\"caveats\": [{caveats}], \"validity\": \"PT10M\"}}");
    let mut args: Vec<&str> = auth.to_vec();
    let u = url(g, path);
    args.extend([
        "-X",
        "POST",
        "-H",
        "Content-Type: application/macaroon-request",
        "--data-binary",
        &body,
        &u,
    ]);
    let (code, _, out) = curl(g, &args);
    let v = serde_json::from_slice(&out).unwrap_or(serde_json::Value::Null);
    (code, v)
}

#[test]
fn macaroons_issued_on_post_and_used_as_bearer() {
    if !peers() {
        return;
    }
    let issuer = start_issuer(&[("read_x", "storage.read:/x")]);
    let g = start(&issuer);
    for d in ["m", "m2", "x"] {
        std::fs::create_dir_all(g.data().join(d)).unwrap();
        std::fs::write(g.data().join(d).join("f"), format!("in {d}\n")).unwrap();
    }
    let alice = format!("alice:{PW}");
    let basic = ["-u", alice.as_str()];
    let (code, v) = ask_macaroon(&g, &basic, "/m/f", "\"activity:DOWNLOAD\"");
    assert_eq!(code, 200, "{v}");
    let mac = v["macaroon"].as_str().unwrap().to_string();
    let target = url(&g, "/m/f");
    assert_eq!(v["uri"]["target"], target.as_str(), "{v}");
    assert_eq!(
        v["uri"]["targetWithMacaroon"],
        format!("{target}?authz={mac}").as_str()
    );
    assert_eq!(
        v["uri"]["baseUri"].as_str().or(v["uri"]["base"].as_str()),
        Some(url(&g, "/").as_str())
    );
    assert!(v["expires_in"].as_u64().unwrap() <= 600);
    let with = bearer(&mac);
    let (code, _, body) = curl(&g, &["-H", &with, &url(&g, "/m/f")]);
    assert_eq!(
        (code, body.as_slice()),
        (200, &b"in m\n"[..]),
        "GET with the macaroon"
    );
    let (code, _, _) = curl(&g, &["-H", &with, &url(&g, "/m2/f")]);
    assert_eq!(code, 403, "another path");
    let (code, _, _) = curl(&g, &["-H", &with, &url(&g, "/m/f/..%2f..%2fm2/f")]);
    assert!(code == 403 || code == 400 || code == 404, "escape: {code}");
    let (code, _, _) = curl(&g, &["-H", &with, "-T", "/dev/null", &url(&g, "/m/f")]);
    assert_eq!(code, 403, "PUT with a DOWNLOAD macaroon");
    assert_eq!(std::fs::read(g.data().join("m/f")).unwrap(), b"in m\n");
    let (code, _, _) = curl(&g, &["-X", "DELETE", "-H", &with, &url(&g, "/m/f")]);
    assert_eq!(code, 403, "DELETE with a DOWNLOAD macaroon");
    // Tampered: a changed character anywhere breaks the HMAC chain.
    let mut t = mac.clone().into_bytes();
    let i = t.len() / 2;
    t[i] = if t[i] == b'A' { b'B' } else { b'A' };
    let (code, h, _) = curl(
        &g,
        &[
            "-H",
            &bearer(&String::from_utf8(t).unwrap()),
            &url(&g, "/m/f"),
        ],
    );
    assert_eq!(code, 401, "tampered macaroon: {h}");
    assert!(h.contains("error=\"invalid_token\""), "{h}");

    // A write macaroon for a directory: upload inside it.
    let (code, v) = ask_macaroon(&g, &basic, "/m2", "\"activity:UPLOAD,DOWNLOAD,LIST\"");
    assert_eq!(code, 200, "{v}");
    let w = bearer(v["macaroon"].as_str().unwrap());
    let (code, _, _) = curl(&g, &["-H", &w, "-T", "/dev/null", &url(&g, "/m2/new")]);
    assert_eq!(code, 201, "PUT new with an UPLOAD macaroon");
    let (code, _, _) = curl(&g, &["-H", &w, "-T", "/dev/null", &url(&g, "/m2/f")]);
    assert_eq!(code, 403, "overwrite needs DELETE too");

    // Never more than the caller had.
    let bob = format!("bob:{PW}");
    let (code, v) = ask_macaroon(&g, &["-u", &bob], "/m", "\"activity:UPLOAD\"");
    assert_eq!(code, 403, "read-only bob asks to upload: {v}");
    let (code, v) = ask_macaroon(&g, &["-u", &bob], "/m", "\"activity:UPLOAD,DOWNLOAD\"");
    assert_eq!(code, 200, "{v}");
    let b = bearer(v["macaroon"].as_str().unwrap());
    let (code, _, _) = curl(&g, &["-H", &b, "-T", "/dev/null", &url(&g, "/m/up")]);
    assert_eq!(code, 403, "bob's macaroon carries no UPLOAD");
    // A token holder delegates within its scope only.
    let tok = bearer(&issuer.token("read_x"));
    let (code, v) = ask_macaroon(&g, &["-H", &tok], "/x/f", "\"activity:DOWNLOAD\"");
    assert_eq!(code, 200, "{v}");
    let (code, _, body) = curl(
        &g,
        &[
            "-H",
            &bearer(v["macaroon"].as_str().unwrap()),
            &url(&g, "/x/f"),
        ],
    );
    assert_eq!((code, body.as_slice()), (200, &b"in x\n"[..]));
    let (code, _) = ask_macaroon(&g, &["-H", &tok], "/m/f", "\"activity:DOWNLOAD\"");
    assert_eq!(code, 403, "token for /x asks for /m");
    // Anonymous callers get no macaroon; a malformed request is 400.
    let (code, _) = ask_macaroon(&g, &[], "/m/f", "\"activity:DOWNLOAD\"");
    assert_eq!(code, 401, "anonymous macaroon request");
    let (code, _) = ask_macaroon(&g, &basic, "/m/f", "\"activity:FLY\"");
    assert_eq!(code, 400, "unknown activity");
    // An account with its own root: the macaroon works at the URLs that account uses
    // (URL /f is the server path /carol/f), and nowhere else.
    std::fs::create_dir_all(g.data().join("carol")).unwrap();
    std::fs::write(g.data().join("carol/f"), "in carol\n").unwrap();
    let carol = format!("carol:{PW}");
    let (code, v) = ask_macaroon(&g, &["-u", &carol], "/f", "\"activity:DOWNLOAD\"");
    assert_eq!(code, 200, "{v}");
    let c = bearer(v["macaroon"].as_str().unwrap());
    let (code, _, body) = curl(&g, &["-H", &c, &url(&g, "/f")]);
    assert_eq!(
        (code, body.as_slice()),
        (200, &b"in carol\n"[..]),
        "carol's URL"
    );
    for other in ["/m/f", "/carol/f", "/../m/f"] {
        let (code, _, body) = curl(&g, &["-H", &c, &url(&g, other)]);
        assert!(code == 403 || code == 400, "{other}: {code}");
        assert!(
            !String::from_utf8_lossy(&body).contains("in m"),
            "{other}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let log = g.log();
    assert!(log.contains("macaroon issued"), "{log}");
    assert!(log.contains("macaroon accepted"), "{log}");
}

const GFAL2_TOKEN: &str = r#"
import gfal2, os, sys
base, local, token = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = gfal2.creat_context()
ctx.set_opt_boolean("HTTP PLUGIN", "INSECURE", True)
ctx.set_opt_boolean("HTTP PLUGIN", "RETRIEVE_BEARER_TOKEN", False)
ctx.set_opt_string_list("HTTP PLUGIN", "HEADERS", ["Authorization: Bearer " + token])
out = []
def step(name, f):
    try:
        out.append("%s OK %s" % (name, f()))
    except (gfal2.GError, OSError) as e:
        out.append("%s ERR %s %s" % (name, getattr(e, "code", None), e))
p = ctx.transfer_parameters(); p.overwrite = True
step("stat", lambda: ctx.stat(base + "/tok/data/f").st_size)
step("stat-other", lambda: ctx.stat(base + "/other/f").st_size)
step("download", lambda: ctx.filecopy(p, base + "/tok/data/f", "file://" + local + "/down"))
step("same", lambda: open(local + "/down", "rb").read() == b"token data\n")
step("upload", lambda: ctx.filecopy(p, "file://" + local + "/down", base + "/tok/in/up"))
step("listdir", lambda: ",".join(sorted(ctx.listdir(base + "/tok/data/"))))
print("\n".join(out))
sys.stdout.flush()
os._exit(0)
"#;

#[test]
fn gfal2_with_a_wlcg_token() {
    if !peers() || !common::gfal2_available() {
        return;
    }
    let issuer = start_issuer(&[("gfal", "storage.read:/tok/data storage.create:/tok/in")]);
    let g = start(&issuer);
    std::fs::create_dir_all(g.data().join("tok/data")).unwrap();
    std::fs::create_dir_all(g.data().join("tok/in")).unwrap();
    std::fs::create_dir_all(g.data().join("other")).unwrap();
    std::fs::write(g.data().join("tok/data/f"), "token data\n").unwrap();
    std::fs::write(g.data().join("other/f"), "x").unwrap();
    let local = g.dir.path().join("local");
    std::fs::create_dir_all(&local).unwrap();
    let base = format!("davs://localhost:{}", g.webdav.port());
    let (ok, out) = common::run(Command::new("/usr/bin/python3").args([
        "-c",
        GFAL2_TOKEN,
        &base,
        local.to_str().unwrap(),
        &issuer.token("gfal"),
    ]));
    assert!(ok, "{out}");
    for want in [
        "stat OK 11",
        "stat-other ERR 1 HTTP 403",
        "download OK",
        "same OK True",
        "upload OK",
        "listdir OK f",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(want)),
            "missing {want:?} in:\n{out}"
        );
    }
    assert_eq!(
        std::fs::read(g.data().join("tok/in/up")).unwrap(),
        b"token data\n"
    );
    assert!(g.metric("griddock_logins_total{endpoint=\"webdav\",method=\"bearer\"}") >= 3.0);
}
