#!/usr/bin/env python3
"""HTTP third-party copy benchmark: a 1 GiB COPY pull griddock <- griddock against the same
pull XRootD <- XRootD (5.5.3, Debian xrootd-server + xrootd-server-plugins, libXrdHttpTPC),
single stream and `X-Number-Of-Streams: 4`, plus the same file moved as a GridFTP
third-party copy between the same two griddocks for comparison.

    cargo build --release                 # this script builds nothing
    benches/tpc.py [ROUNDS] [SIZE_MIB]    (default 5 rounds, >= 5; 1024 MiB)

BENCH_GRIDDOCK picks the binary (default target/release/griddock). Four servers on
127.0.0.1, each with free ports:

  griddock A   the active side: WebDAV (davs://) and GridFTP, anonymous write, receives;
  griddock B   the passive side: the source file, anonymous read, WebDAV and GridFTP;
  XRootD A     active, XrdHttp + libXrdHttpTPC, writes into its own data directory;
  XRootD B     passive, the same source file (hard link) served over XrdHttp.

All four use one throw-away CA and a host certificate it signed (openssl; SAN localhost and
127.0.0.1); the CA sits in a directory with hash links (`openssl rehash`) that is griddock's
`[auth] x509_cert_dir` and XRootD's `http.cadir`, so the servers trust each other and curl
(`--capath`) trusts them. griddock A allows copies from `127.0.0.1/32` (`[webdav] tpc_allow`).

Cases, interleaved in every round (the order below, A/B/A/B...):

  http-1     curl -X COPY -H 'Source: https://127.0.0.1:B/file' https://127.0.0.1:A/copy
             sent to griddock A, B = griddock B
  xrootd-1   the same COPY sent to XRootD A, B = XRootD B
  http-4     http-1 with `X-Number-Of-Streams: 4`
  xrootd-4   xrootd-1 with `X-Number-Of-Streams: 4`
  gridftp-1  globus-url-copy ftp://B/file ftp://A/copy (griddock B -> griddock A, MODE S;
             B connects to A's passive port)
  gridftp-4  globus-url-copy -p 4 (MODE E, four data connections)

Per run: the client's wall time (its start-up and TLS handshake included, the same for
every case) and the CPU seconds (utime+stime from /proc/PID/stat, before and after) of the
active and of the passive server. The source file is read once before timing (page cache);
the destination is deleted after each run, outside the timing, so its dirty pages are
dropped and never written back. Before timing every case runs once and its result is
MD5-checked against the source. Printed per case: median wall, spread (min-max), MB/s
(10^6 bytes), active and passive server CPU s/GiB (median), and the goals of issue 18
(griddock's wall and server CPU at most XRootD's) as met / missed.
Run as root (XRootD runs as the `xrootd` user via setpriv). Talks to 127.0.0.1 only.
KEEP=1 keeps the temp dir (configs, logs).
"""
import os
import shutil
import socket
import statistics
import importlib.util
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")
GIB = 1 << 30
TIMEOUT = 600  # seconds; a hung copy is a failure, not a stuck benchmark

# The helpers this bench shares with the GridFTP one (as benches/gsi.py does).
_spec = importlib.util.spec_from_file_location(
    "gridftp_download", os.path.join(ROOT, "benches/gridftp-download.py"))
GD = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(GD)
free_port, md5, make_file, cpu_seconds = GD.free_port, GD.md5, GD.make_file, GD.proc_cpu_seconds


def port_block(n: int = 400) -> tuple[int, int]:
    return GD.port_range(n)


def wait_port(port: int, what: str, p: subprocess.Popen, timeout: float = 20) -> None:
    """Waits for `port`; a server that never opens it is stopped before exiting."""
    end = time.time() + timeout
    while time.time() < end:
        if p.poll() is not None:
            sys.exit(f"{what}: exited with status {p.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    p.terminate()
    p.wait()
    sys.exit(f"port {port} never opened ({what})")


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_pki(d: str) -> tuple[str, str, str]:
    """A throw-away CA, a host certificate it signed (SAN localhost, 127.0.0.1) and a CA
    directory with hash links. Returns (cert, key, cadir)."""
    os.makedirs(d)
    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    cert, key, csr = (os.path.join(d, n) for n in ("hostcert.pem", "hostkey.pem", "host.csr"))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
            "-keyout", ca_key, "-out", ca, "-subj", "/O=griddock-bench/CN=Bench CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
            "-subj", "/O=griddock-bench/CN=localhost")
    ext = os.path.join(d, "host.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth,clientAuth\n"
                "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-days", "2", "-sha256", "-extfile", ext, "-out", cert)
    cadir = os.path.join(d, "certificates")
    os.makedirs(cadir)
    shutil.copy(ca, os.path.join(cadir, "bench-ca.pem"))
    openssl("rehash", cadir)
    for p in (d, cadir, *(os.path.join(cadir, n) for n in os.listdir(cadir))):
        os.chmod(p, 0o755 if os.path.isdir(p) else 0o644)
    os.chmod(key, 0o600)
    return cert, key, cadir


class Server:
    def __init__(self, name: str, proc: subprocess.Popen, https: int, data: str,
                 gridftp: int | None = None, log: str = ""):
        self.name, self.proc, self.https, self.data = name, proc, https, data
        self.gridftp, self.log = gridftp, log

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.https}{path}"

    def ftp(self, path: str) -> str:
        return f"ftp://127.0.0.1:{self.gridftp}{path}"


def start_griddock(name: str, tmp: str, data: str, cert: str, key: str, cadir: str,
                   anonymous: str, ports: tuple[int, int]) -> Server:
    https, gridftp = free_port(), free_port()
    d = os.path.join(tmp, name)
    os.makedirs(d)
    cfg = os.path.join(d, "griddock.toml")
    with open(cfg, "w") as f:
        f.write(f'data_dir = "{data}"\nstate_dir = "{d}/state"\n'
                f'[ftp]\nenabled = false\nfxp = "allow-list"\nfxp_allow = ["127.0.0.1/32"]\n'
                f'[gridftp]\nenabled = true\nlisten = "127.0.0.1:{gridftp}"\n'
                f'passive_ports = "{ports[0]}-{ports[1]}"\n'
                f'[http]\nenabled = false\n'
                f'[webdav]\nlisten = "127.0.0.1:{https}"\ntpc_allow = ["127.0.0.1/32"]\n'
                f'[tls]\nsource = "files"\ncert_file = "{cert}"\nkey_file = "{key}"\n'
                f'[auth]\nanonymous = "{anonymous}"\nx509_cert_dir = "{cadir}"\n')
    binary = os.environ.get("BENCH_GRIDDOCK", os.path.join(ROOT, "target/release/griddock"))
    if not os.access(binary, os.X_OK):
        sys.exit(f"{binary} not found: run `cargo build --release` first (or set BENCH_GRIDDOCK)")
    log = os.path.join(d, "griddock.log")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDDOCK_")}
    p = subprocess.Popen([binary, "serve", "--config", cfg], stdout=subprocess.DEVNULL,
                         stderr=open(log, "w"), env={**env, "RUST_LOG": "warn"})
    wait_port(https, f"griddock {name}, see {log}", p)
    wait_port(gridftp, f"griddock {name}, see {log}", p)
    return Server(f"griddock {name}", p, https, data, gridftp, log)


def start_xrootd(name: str, tmp: str, data: str, cert: str, key: str, cadir: str) -> Server:
    """As tests/common/grid.rs (Xrootd::start_with): XrdHttp with the TPC handler, no
    authentication (the export is open, as griddock's anonymous access here)."""
    x = os.path.join(tmp, f"xrootd-{name}")
    for d in ("adm", "run", "pki"):
        os.makedirs(os.path.join(x, d), exist_ok=True)
    shutil.copy(cert, os.path.join(x, "pki/cert.pem"))
    shutil.copy(key, os.path.join(x, "pki/key.pem"))
    shutil.copytree(cadir, os.path.join(x, "pki/ca"), symlinks=True)
    os.chmod(os.path.join(x, "pki/key.pem"), 0o600)  # XRootD refuses looser keys
    port, https = free_port(), free_port()
    with open(os.path.join(x, "xrd.cfg"), "w") as f:
        f.write(f"xrd.port {port}\nxrd.allow host localhost\nall.export /\n"
                f"oss.localroot {data}\nall.adminpath {x}/adm\nall.pidpath {x}/run\n"
                f"xrd.protocol XrdHttp:{https} libXrdHttp.so\n"
                f"http.cert {x}/pki/cert.pem\nhttp.key {x}/pki/key.pem\nhttp.cadir {x}/pki/ca\n"
                f"http.exthandler xrdtpc libXrdHttpTPC.so\nxrootd.chksum adler32\n")
    subprocess.run(["chown", "-R", "xrootd:xrootd", x, data], check=True)
    p = subprocess.Popen(["setpriv", "--reuid=xrootd", "--regid=xrootd", "--init-groups",
                          "xrootd", "-c", f"{x}/xrd.cfg", "-l", f"{x}/xrootd.log", "-n", f"bench{name}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = os.path.join(x, f"bench{name}", "xrootd.log")
    wait_port(https, f"xrootd {name}, see {log}", p)
    return Server(f"xrootd {name}", p, https, data, None, log)


class Failure(Exception):
    pass


def run_client(cmd: list[str], expect_marker: bool) -> None:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, cwd="/")
    except subprocess.TimeoutExpired:
        raise Failure(f"$ {' '.join(cmd)}\ntimed out after {TIMEOUT} s")
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    if r.returncode != 0 or (expect_marker and (not lines or lines[-1].strip() != "success: Created")):
        raise Failure(f"$ {' '.join(cmd)}\nexit status {r.returncode}\n"
                      f"{chr(10).join(lines[-5:])}\n{r.stderr[-2000:]}".rstrip())


class Case:
    def __init__(self, name: str, label: str, active: Server, passive: Server, cadir: str,
                 streams: int):
        self.name, self.label, self.active, self.passive = name, label, active, passive
        self.streams, self.cadir = streams, cadir
        self.dest = os.path.join(active.data, "copy")
        self.runs: list[tuple[float, float, float]] = []  # (wall, active CPU, passive CPU)

    def cmd(self) -> list[str]:
        if self.name.startswith("gridftp"):
            p = ["-p", str(self.streams)] if self.streams > 1 else []
            return ["globus-url-copy", *p, self.passive.ftp("/file"), self.active.ftp("/copy")]
        h = ["-H", f"X-Number-Of-Streams: {self.streams}"] if self.streams > 1 else []
        return ["curl", "-sS", "-X", "COPY", "--capath", self.cadir,
                "-H", f"Source: {self.passive.url('/file')}", *h, self.active.url("/copy")]

    def run(self) -> tuple[float, float, float]:
        a0, p0 = self.active.cpu(), self.passive.cpu()
        t0 = time.perf_counter()
        run_client(self.cmd(), not self.name.startswith("gridftp"))
        wall = time.perf_counter() - t0
        time.sleep(0.1)  # let both servers finish closing the connections
        return wall, self.active.cpu() - a0, self.passive.cpu() - p0

    def clear(self) -> None:
        if os.path.exists(self.dest):
            os.unlink(self.dest)


def first_line(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def report(cases: list[Case], size: int, rounds: int) -> None:
    gib = size / GIB
    print(f"\n{size >> 20} MiB cached file, {rounds} interleaved rounds; wall median (min-max); "
          f"server CPU s/GiB, median, of A (the destination; the active side of a COPY) and B")
    print(f"{'case':<11} {'copy':<40} {'wall s':>7} {'spread s':>13} {'MB/s':>6} "
          f"{'A (dst)':>7} {'B (src)':>8} {'ok':>5}")
    med = {}
    for c in cases:
        if not c.runs:
            print(f"{c.name:<11} {c.label:<40} {'FAILED':>7}")
            continue
        w = [r[0] for r in c.runs]
        a = statistics.median(r[1] for r in c.runs) / gib
        p = statistics.median(r[2] for r in c.runs) / gib
        med[c.name] = (statistics.median(w), a, p)
        print(f"{c.name:<11} {c.label:<40} {med[c.name][0]:>7.3f} "
              f"{min(w):>6.3f}-{max(w):<6.3f} {size / med[c.name][0] / 1e6:>6.0f} "
              f"{a:>7.3f} {p:>8.3f} {len(c.runs):>3}/{rounds}")
    print("\ngoals (issue 18): griddock <- griddock against XRootD <- XRootD, medians")
    for n in ("1", "4"):
        g, x = med.get(f"http-{n}"), med.get(f"xrootd-{n}")
        streams = "single stream" if n == "1" else "4 streams"
        if g is None or x is None:
            print(f"  {streams}: n/a (failed runs)")
            continue
        print(f"  {streams}: wall {g[0]:.3f} s vs {x[0]:.3f} s ({x[0] / g[0]:.2f}x throughput): "
              f"{'met' if g[0] <= x[0] else 'missed'}")
        for i, role in ((1, "active"), (2, "passive")):
            print(f"  {streams}: {role} server CPU {g[i]:.3f} vs {x[i]:.3f} s/GiB "
                  f"({g[i] / x[i]:.2f}x): {'met' if g[i] <= x[i] else 'missed'}"
                  if x[i] > 0 else f"  {streams}: {role} server CPU {g[i]:.3f} vs ~0 s/GiB")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    mib = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    if rounds < 5:
        sys.exit("ROUNDS must be >= 5")
    for tool, pkg in (("curl", "curl"), ("openssl", "openssl"), ("xrootd", "xrootd-server"),
                      ("setpriv", "util-linux"), ("globus-url-copy", "globus-gass-copy-progs")):
        if shutil.which(tool) is None:
            sys.exit(f"benchmark needs `{tool}` (apt-get install {pkg})")
    if not os.path.exists("/usr/lib/x86_64-linux-gnu/libXrdHttpTPC-5.so"):
        sys.exit("benchmark needs libXrdHttpTPC (apt-get install xrootd-server-plugins)")
    if os.geteuid() != 0:
        sys.exit("run as root (XRootD runs as `xrootd` via setpriv)")
    tmp = tempfile.mkdtemp(prefix="gd-tpc-bench-")
    os.chmod(tmp, 0o755)
    servers: list[Server] = []
    failures: list[str] = []
    try:
        dirs = {n: os.path.join(tmp, n) for n in ("src", "src-x", "dst-g", "dst-x")}
        for d in dirs.values():
            os.makedirs(d)
            os.chmod(d, 0o755)
        size = mib << 20
        src = os.path.join(dirs["src"], "file")
        digest = make_file(src, mib)
        os.link(src, os.path.join(dirs["src-x"], "file"))  # XRootD B serves the same inode
        cert, key, cadir = make_pki(os.path.join(tmp, "pki"))
        lo, hi = port_block()
        mid = (lo + hi) // 2
        ga = start_griddock("A", tmp, dirs["dst-g"], cert, key, cadir, "write", (lo, mid))
        servers.append(ga)
        gb = start_griddock("B", tmp, dirs["src"], cert, key, cadir, "read", (mid + 1, hi))
        servers.append(gb)
        xa = start_xrootd("A", tmp, dirs["dst-x"], cert, key, cadir)
        servers.append(xa)
        xb = start_xrootd("B", tmp, dirs["src-x"], cert, key, cadir)
        servers.append(xb)
        binary = os.environ.get("BENCH_GRIDDOCK", os.path.join(ROOT, "target/release/griddock"))
        print(f"{first_line([binary, '--version'])}; xrootd {first_line(['xrootd', '-v'])}; "
              f"{first_line(['curl', '--version'])}; {first_line(['globus-url-copy', '-version'])}; "
              f"nproc {os.cpu_count()}, kernel {os.uname().release}", file=sys.stderr)
        cases = [
            Case("http-1", "COPY pull griddock A <- griddock B", ga, gb, cadir, 1),
            Case("xrootd-1", "COPY pull XRootD A <- XRootD B", xa, xb, cadir, 1),
            Case("http-4", "... X-Number-Of-Streams: 4", ga, gb, cadir, 4),
            Case("xrootd-4", "... X-Number-Of-Streams: 4", xa, xb, cadir, 4),
            Case("gridftp-1", "globus-url-copy B -> A (MODE S)", ga, gb, cadir, 1),
            Case("gridftp-4", "globus-url-copy -p 4 B -> A (MODE E)", ga, gb, cadir, 4),
        ]
        subprocess.run(["cat", src], stdout=subprocess.DEVNULL, check=True)  # page cache
        broken = set()
        for c in cases:  # each case once, checked, before timing
            try:
                c.clear()
                c.run()
                got = md5(c.dest) if os.path.exists(c.dest) else "no file"
                if got != digest:
                    raise Failure(f"{c.name}: destination MD5 {got}, expected {digest}")
                print(f"verified {c.name} (MD5 {digest})", file=sys.stderr)
            except Failure as e:
                failures.append(f"{c.name} (verification): {e}")
                broken.add(c.name)
            c.clear()
        subprocess.run(["cat", src], stdout=subprocess.DEVNULL, check=True)
        for i in range(rounds):
            line = []
            for c in cases:
                if c.name in broken:
                    continue
                time.sleep(0.2)  # the previous run's connections and unlink settle
                try:
                    w, a, p = c.run()
                    if os.path.getsize(c.dest) != size:
                        raise Failure(f"{c.name}: destination has {os.path.getsize(c.dest)} bytes")
                    c.runs.append((w, a, p))
                    line.append(f"{c.name} {w:.3f}s {a:.2f}+{p:.2f}cpu")
                except (Failure, OSError) as e:
                    failures.append(f"{c.name} (round {i + 1}): {e}")
                    line.append(f"{c.name} FAILED")
                c.clear()
            print(f"round {i + 1}/{rounds}: " + ", ".join(line), file=sys.stderr)
        report(cases, size, rounds)
        for f in failures:
            print(f"\nFAILED {f}")
        if failures:
            for s in servers:
                if s.log and os.path.exists(s.log):
                    tail = open(s.log, errors="replace").read().splitlines()[-20:]
                    print(f"\n--- last lines of {s.name}'s log ({s.log}) ---\n" + "\n".join(tail))
    finally:
        for s in servers:
            s.proc.terminate()
        for s in servers:
            s.proc.wait()
        if os.environ.get("KEEP") is None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
