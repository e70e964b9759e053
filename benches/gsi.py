#!/usr/bin/env python3
"""GSI (gsiftp://) benchmark: griddock against globus-gridftp-server, in the same run.

    cargo build --release          # this script builds nothing
    benches/gsi.py [--griddock PATH] [--logins N] [--rounds N] [--size-mib M]
                   [--no-verify] [--cpu auto|proc]

Fixtures come from tests/gsi/make-fixtures.sh in a temp dir (test CA trust dir, host
certificate CN=localhost, an RFC 3820 proxy of "/O=Test/OU=griddock/CN=Test User"). Two
servers run on 127.0.0.1 with free ports, both GSI only:

  griddock   target/release/griddock (or --griddock), [gridftp] port only, [tls] from the
             host certificate files, [auth] grid-mapfile (DN -> virtual account gsiuser),
             anonymous off, [gridftp] advertise_dcau = true (DCAU A + PROT C/P);
  gct        globus-gridftp-server, default daemon (fork+exec per session), host credential
             from X509_USER_CERT/KEY, GRIDMAP mapping the same DN to `nobody`, as
             tests/common/gridftp.rs GlobusServer::start_gsi starts it.

Every client is globus-url-copy with X509_CERT_DIR=<fixtures>/certificates and
X509_USER_PROXY=<fixtures>/proxies/user, URLs gsiftp://localhost:PORT/… (gct: absolute
file-system paths). It delegates a proxy on every login (griddock logs delegated=true).

Part 1, login latency (--logins rounds, >= 10, interleaved, server order alternating):
  banner     a raw Python socket: connect until the whole 220 reply has arrived (the
             connection floor: griddock answers from its accept loop, gct forks and execs a
             session process first);
  login      globus-url-copy -nodcau gsiftp://…/empty file:///dev/null: AUTH GSSAPI, the
             ADAT TLS handshake with the proxy chain, gridmap, delegation, ENC-wrapped
             commands, a 0-byte MODE S download on a clear data channel, QUIT;
  login-dcau globus-url-copy -p 1 gsiftp://…/empty …: the same plus DCAU A, i.e. one more
             GSI handshake on the (MODE E, server-connects) data channel with the
             delegated proxy;
  client     globus-url-copy file:///…/empty file:///dev/null, no server at all: the
             client's own start-up floor (it is in every login figure, for both servers).
  Medians of the wall time and of the server's CPU per login; ratio griddock/gct.

Part 2, encrypted throughput (--rounds, >= 5, interleaved): one cached file (default 1 GiB)
  p1         globus-url-copy -p 1 …/file file:///dev/null     DCAU A, PROT C (clear)
  p1-priv    globus-url-copy -p 1 -dcpriv …                   DCAU A, PROT P (encrypted)
  p4-priv    globus-url-copy -p 4 -dcpriv …                   PROT P, 4 streams
  All MODE E, where the server connects to the client (-p 1 stands in for plain stream
  mode). MODE S downloads with DCAU, where griddock accepts the client's handshake, are
  checked once in the accepting-side probe (below).
  Medians: wall (client start-up and login included), MB/s (10^6 bytes), the server's CPU
  s per GiB (as benches/gridftp-download.py measures it: a cgroup per server when
  possible, /proc otherwise; its CpuMeter and Server are reused), and the client's CPU
  (globus-url-copy does the other half of the encryption, on the same 2 cores).

Before timing (unless --no-verify) every throughput case is downloaded once from each
server with -dbg into a real file: the MD5 must match and the control channel must show
PROT P accepted (200) for the -dcpriv cases and no PROT P for p1.

Accepting-side probe (not timed): the 0-byte file in MODE S with DCAU A and with -dcpriv,
against both servers; both must pass (griddock accepts Globus initiators' data-channel
handshakes since docs/decisions/0006-dcau-sni.md; before, it answered 425).

A failed client is reported with its command, exit status and output, plus the tail of
the server's log, and is left out of the medians; nothing is retried; exit status 1.
griddock's log (RUST_LOG=info) is scanned for WARN/ERROR lines after the probe.
Run as root (gct setuids to `nobody`; cgroups). Talks to 127.0.0.1 only.
KEEP_TMP=1 keeps the temp dir (fixtures, configs, logs).
"""
import argparse
import hashlib
import importlib.util
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIB = 1 << 30
CLIENT_TIMEOUT = 600  # a hung transfer is a failure, not a stuck benchmark
LOGIN_TIMEOUT = 60
DN = "/O=Test/OU=griddock/CN=Test User"

# Reuse gridftp-download.py's CPU accounting (CpuMeter: a cgroup per server, /proc
# fallback) and Server (cpu(), settle() until forked session processes are gone).
_spec = importlib.util.spec_from_file_location("gridftp_download", os.path.join(ROOT, "benches/gridftp-download.py"))
GD = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(GD)


class Failure(Exception):
    pass


# --- servers ----------------------------------------------------------------------------

def start_griddock(binary: str, tmp: str, fx: str, data: str, ports: tuple[int, int]) -> "GD.Server":
    port = GD.free_port()
    lo, hi = ports
    cfg = os.path.join(tmp, "griddock.toml")
    with open(cfg, "w") as f:
        f.write(f'data_dir = "{data}"\nstate_dir = "{tmp}/state"\n'
                f'[ftp]\nenabled = false\n[http]\nenabled = false\n[webdav]\nenabled = false\n'
                f'[gridftp]\nenabled = true\nlisten = "127.0.0.1:{port}"\npassive_ports = "{lo}-{hi}"\n'
                f'advertise_dcau = true\n'
                f'[tls]\nsource = "files"\ncert_file = "{fx}/host/hostcert.pem"\nkey_file = "{fx}/host/hostkey.pem"\n'
                f'[auth]\nanonymous = "off"\ngridmap_file = "{fx}/grid-mapfile"\nx509_cert_dir = "{fx}/certificates"\n')
    log = os.path.join(tmp, "griddock.log")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRIDDOCK_", "X509_"))}
    m = GD.CpuMeter("gsi-griddock")
    p = subprocess.Popen([binary, "serve", "--config", cfg], stdout=subprocess.DEVNULL,
                         stderr=open(log, "w"), env={**env, "RUST_LOG": "info"}, preexec_fn=m.join)
    GD.wait_port(port, "griddock", p, log)
    return GD.Server("griddock", p, port, "", log, m)


def start_gct(tmp: str, fx: str, data: str, ports: tuple[int, int]) -> "GD.Server":
    port = GD.free_port()
    lo, hi = ports
    log = os.path.join(tmp, "gct.log")
    conf = os.path.join(tmp, "gridftp.conf")
    open(conf, "w").close()  # empty: do not pick up /etc/gridftp.conf
    gridmap = os.path.join(tmp, "gct-grid-mapfile")
    with open(gridmap, "w") as f:
        f.write(f'"{DN}" nobody\n')  # gct needs a real account
    env = {k: v for k, v in os.environ.items() if k not in ("X509_USER_PROXY", "GLOBUS_TCP_PORT_RANGE")}
    env.update(X509_CERT_DIR=f"{fx}/certificates", X509_USER_CERT=f"{fx}/host/hostcert.pem",
               X509_USER_KEY=f"{fx}/host/hostkey.pem", GRIDMAP=gridmap)
    m = GD.CpuMeter("gsi-gct")
    # Defaults otherwise (daemon, fork+exec per session), as Debian ships it; its own
    # process group so that stray session processes can be stopped at the end.
    p = subprocess.Popen(["globus-gridftp-server", "-c", conf, "-p", str(port),
                          "-control-interface", "127.0.0.1", "-data-interface", "127.0.0.1",
                          "-port-range", f"{lo},{hi}", "-home-dir", data, "-no-chdir",
                          "-d", "error,warn,info", "-l", log],
                         stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "gct.stderr"), "w"),
                         cwd=tmp, env=env, preexec_fn=m.join, process_group=0)
    GD.wait_port(port, "globus-gridftp-server", p, log)
    return GD.Server("gct", p, port, data, log, m)


def gsi_url(s: "GD.Server", name: str) -> str:
    # griddock: paths relative to its data_dir; gct: absolute paths (s.path = data dir)
    return f"gsiftp://localhost:{s.port}{s.path}/{name}"


# --- clients ----------------------------------------------------------------------------

CLIENT_ENV: dict[str, str] = {}

LOGIN_OPTS = {"login": ["-nodcau"], "login-dcau": ["-p", "1"]}
XFER_OPTS = {"p1": ["-p", "1"], "p1-priv": ["-p", "1", "-dcpriv"], "p4-priv": ["-p", "4", "-dcpriv"]}
LABEL = {
    "banner": "raw socket to 220",
    "login": "guc -nodcau, 0 B",
    "login-dcau": "guc -p 1 (DCAU A), 0 B",
    "client": "guc file:// -> file://",
    "p1": "guc -p 1 (PROT C)",
    "p1-priv": "guc -p 1 -dcpriv",
    "p4-priv": "guc -p 4 -dcpriv",
}


def guc(args: list[str], timeout: float) -> tuple[float, float]:
    """Runs globus-url-copy; returns (wall, client CPU). Raises Failure on error."""
    cmd = ["globus-url-copy", *args]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/", env=CLIENT_ENV)
    except subprocess.TimeoutExpired as e:
        raise Failure(f"$ {' '.join(cmd)}\ntimed out after {timeout} s\n{e.stderr or ''}")
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise Failure(f"$ {' '.join(cmd)}\nexit status {r.returncode}\n{r.stdout}{r.stderr}".rstrip())
    return wall, (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)


def banner(port: int) -> float:
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), LOGIN_TIMEOUT) as s:
        buf = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                raise Failure(f"127.0.0.1:{port}: connection closed before the 220 reply: {buf!r}")
            buf += chunk
            if re.search(rb"(^|\r\n)220 [^\r\n]*\r\n", buf):
                return time.perf_counter() - t0
            if re.search(rb"(^|\r\n)[45]\d\d [^\r\n]*\r\n", buf):
                raise Failure(f"127.0.0.1:{port}: {buf!r}")


def measured(s: "GD.Server", fn) -> tuple[float, float, float]:
    """(wall, server CPU, client CPU) of fn() -> (wall, client CPU), after the server settled."""
    s.settle()
    before = s.cpu()
    wall, ccpu = fn()
    if not s.settle():
        print(f"warning: {s.name} still has session processes 10 s after the client exited", file=sys.stderr)
    time.sleep(0.1)  # let the server finish closing the session (griddock: no process to wait for)
    return wall, s.cpu() - before, ccpu


def md5(path: str) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def verify(s: "GD.Server", kind: str, tmp: str, size: int, digest: str) -> None:
    dest = os.path.join(tmp, "verify.out")
    cmd = ["globus-url-copy", "-dbg", *XFER_OPTS[kind], gsi_url(s, "file"), f"file://{dest}"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=CLIENT_TIMEOUT, cwd="/", env=CLIENT_ENV)
        out = r.stdout + r.stderr
        if r.returncode != 0:
            tail = "\n".join(l for l in out.splitlines() if l.strip() and l.strip() != "debug:")[-3000:]
            raise Failure(f"$ {' '.join(cmd)}\nexit status {r.returncode}\n{tail}")
        got = os.path.getsize(dest)
        if got != size:
            raise Failure(f"{kind} from {s.name}: wrote {got} bytes, expected {size}")
        d = md5(dest)
        if d != digest:
            raise Failure(f"{kind} from {s.name}: MD5 {d}, expected {digest}")
        prot = re.search(r"\nPROT P\s*\n+debug: response from [^\n]*:\n(\d{3})", out)
        if "-dcpriv" in XFER_OPTS[kind]:
            if not prot or not prot.group(1).startswith("2"):
                raise Failure(f"{kind} from {s.name}: no accepted PROT P on the control channel (-dbg trace)")
        elif "\nPROT P" in out:
            raise Failure(f"{kind} from {s.name}: PROT P sent without -dcpriv")
    finally:
        if os.path.exists(dest):
            os.unlink(dest)


# --- main -------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--griddock", default=os.path.join(ROOT, "target/release/griddock"),
                    help="griddock binary (default target/release/griddock; cargo build --release first)")
    ap.add_argument("--logins", type=int, default=15, help="interleaved login rounds, >= 10 (0: skip)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved throughput rounds, >= 5 (0: skip)")
    ap.add_argument("--size-mib", type=int, default=1024, help="file size for the throughput rounds")
    ap.add_argument("--no-verify", action="store_true", help="skip the MD5/PROT check before timing")
    ap.add_argument("--cpu", choices=("auto", "proc"), default="auto",
                    help="server CPU from a cgroup per server (auto, if possible) or /proc/PID/stat")
    a = ap.parse_args()
    GD.USE_CGROUP = a.cpu == "auto"
    if a.logins and a.logins < 10:
        ap.error("--logins must be >= 10 (or 0 to skip)")
    if a.rounds and a.rounds < 5:
        ap.error("--rounds must be >= 5 (or 0 to skip)")
    if not os.access(a.griddock, os.X_OK):
        sys.exit(f"{a.griddock} not found: run `cargo build --release` first (or pass --griddock)")
    for tool, pkg in (("globus-url-copy", "globus-gass-copy-progs"), ("globus-gridftp-server", "globus-gridftp-server-progs"),
                      ("grid-proxy-init", "globus-proxy-utils"), ("openssl", "openssl")):
        if shutil.which(tool) is None:
            sys.exit(f"benchmark needs `{tool}` (apt-get install {pkg})")
    if os.geteuid() != 0:
        sys.exit("run as root (globus-gridftp-server setuids GSI sessions to nobody)")

    tmp = tempfile.mkdtemp(prefix="griddock-gsibench-")
    os.chmod(tmp, 0o755)  # gct reads the file as `nobody`
    servers: list[GD.Server] = []
    meters = []
    failures: list[tuple[str, str, str]] = []  # (case, server, text)
    try:
        fx = os.path.join(tmp, "fx")
        r = subprocess.run(["bash", os.path.join(ROOT, "tests/gsi/make-fixtures.sh"), fx],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"make-fixtures.sh failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        CLIENT_ENV.update({k: v for k, v in os.environ.items()
                           if not k.startswith("X509_") and k != "GLOBUS_TCP_PORT_RANGE"})
        CLIENT_ENV.update(X509_CERT_DIR=f"{fx}/certificates", X509_USER_PROXY=f"{fx}/proxies/user")
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        os.chmod(data, 0o755)
        empty = os.path.join(data, "empty")
        open(empty, "w").close()
        os.chmod(empty, 0o644)
        size = a.size_mib << 20
        digest = GD.make_file(os.path.join(data, "file"), a.size_mib) if a.rounds else None

        lo, hi = GD.port_range(200)  # one free block, half each (passive ports)
        g = start_griddock(a.griddock, tmp, fx, data, (lo, lo + 99))
        servers.append(g)
        meters.append(g.meter)
        gct = start_gct(tmp, fx, data, (lo + 100, hi))
        servers.append(gct)
        meters.append(gct.meter)
        head = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
        built = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(a.griddock)))
        print(f"{versions(a.griddock)} (binary built {built}; tree now {head or '?'})", file=sys.stderr)
        print(f"server CPU from {g.meter.method()}", file=sys.stderr)

        # --- accepting-side probe (docs/decisions/0006-dcau-sni.md) -----------------------
        print("\naccepting-side probe: MODE S downloads (the client connects to the server's "
              "PASV port) with DCAU, 0-byte file")
        for opts in ([], ["-dcpriv"]):
            for s in (g, gct):
                label = f"globus-url-copy {' '.join(opts + [gsi_url(s, 'empty')])} file:///dev/null"
                try:
                    guc([*opts, gsi_url(s, "empty"), "file:///dev/null"], LOGIN_TIMEOUT)
                    print(f"  {s.name:<8} OK    {label}")
                except Failure as e:
                    err = " | ".join(l.strip() for l in str(e).splitlines()[2:] if l.strip())
                    print(f"  {s.name:<8} FAILED    {label}\n             {err}")
                    failures.append(("probe " + " ".join(opts or ["(DCAU A)"]), s.name, str(e)))
        probe_log = open(g.log, errors="replace").read().splitlines()
        sni = [l for l in probe_log if "SNI" in l]
        if sni:
            print("  griddock's log says:\n    " + "\n    ".join(l[l.find(" ") + 1:][:400] for l in sni[-2:]))
        log_mark = len(probe_log)

        # --- login latency ---------------------------------------------------------------
        login_res: dict[tuple[str, str], list] = {}
        if a.logins:
            kinds = ("banner", "login", "login-dcau")
            login_res = {(k, s.name): [] for k in kinds for s in (g, gct)}
            login_res[("client", "-")] = []
            for i in range(a.logins):
                order = (g, gct) if i % 2 == 0 else (gct, g)
                line = []
                w, c = guc([f"file://{empty}", "file:///dev/null"], LOGIN_TIMEOUT)
                login_res[("client", "-")].append((w, 0.0, c))
                line.append(f"client {w * 1e3:.0f}ms")
                for kind in kinds:
                    for s in order:
                        try:
                            if kind == "banner":
                                r3 = measured(s, lambda: (banner(s.port), 0.0))
                            else:
                                url = gsi_url(s, "empty")
                                r3 = measured(s, lambda: guc([*LOGIN_OPTS[kind], url, "file:///dev/null"], LOGIN_TIMEOUT))
                            login_res[(kind, s.name)].append(r3)
                            line.append(f"{kind}/{s.name} {r3[0] * 1e3:.0f}ms")
                        except Failure as e:
                            failures.append((kind, s.name, str(e)))
                            line.append(f"{kind}/{s.name} FAILED")
                print(f"login round {i + 1}/{a.logins}: " + ", ".join(line), file=sys.stderr)

        # --- throughput ------------------------------------------------------------------
        xfer_res: dict[tuple[str, str], list] = {}
        if a.rounds:
            file = os.path.join(data, "file")
            subprocess.run(["cat", file], stdout=subprocess.DEVNULL, check=True)  # page cache
            broken = set()
            if not a.no_verify:
                for kind in XFER_OPTS:
                    for s in (g, gct):
                        try:
                            verify(s, kind, tmp, size, digest)
                            print(f"verified {kind} from {s.name} (MD5, protection level)", file=sys.stderr)
                        except Failure as e:
                            failures.append((kind, s.name, f"verification: {e}"))
                            broken.add((kind, s.name))
                subprocess.run(["cat", file], stdout=subprocess.DEVNULL, check=True)
            xfer_res = {(k, s.name): [] for k in XFER_OPTS for s in (g, gct)}
            for i in range(a.rounds):
                order = (g, gct) if i % 2 == 0 else (gct, g)
                line = []
                for kind, opts in XFER_OPTS.items():
                    for s in order:
                        if (kind, s.name) in broken:
                            continue
                        url = gsi_url(s, "file")
                        try:
                            r3 = measured(s, lambda: guc([*opts, url, "file:///dev/null"], CLIENT_TIMEOUT))
                            xfer_res[(kind, s.name)].append(r3)
                            line.append(f"{kind}/{s.name} {r3[0]:.2f}s {r3[1]:.2f}cpu")
                        except Failure as e:
                            failures.append((kind, s.name, str(e)))
                            line.append(f"{kind}/{s.name} FAILED")
                print(f"round {i + 1}/{a.rounds}: " + ", ".join(line), file=sys.stderr)

        if login_res:
            report_logins(login_res, a.logins)
        if xfer_res and a.size_mib > 0:
            report_xfer(xfer_res, a.size_mib, a.rounds)

        lines = open(g.log, errors="replace").read().splitlines()[log_mark:]
        warn = [l for l in lines if " WARN " in l or " ERROR " in l]
        if warn:
            print(f"\ngriddock logged {len(warn)} WARN/ERROR lines after the probe ({g.log}), first ones:")
            print("\n".join(warn[:10]))
        GD.report_failures(failures, servers)
    finally:
        GD.stop_servers(servers)
        for s in servers:
            if s.name == "gct":  # any session process left in its process group
                try:
                    os.killpg(s.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for m in meters:
            m.close()
        if os.environ.get("KEEP_TMP"):
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failures else 0)


def versions(binary: str) -> str:
    def first(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    return (f"{first([binary, '--version'])}; {first(['globus-gridftp-server', '-version'])}; "
            f"globus-url-copy {first(['globus-url-copy', '-version']).split(': ')[-1]}")


def med(runs: list, i: int) -> float:
    return statistics.median(r[i] for r in runs)


def report_logins(res: dict, n: int) -> None:
    print(f"\nlogin latency, {n} interleaved rounds, medians (wall per login; server CPU per login)")
    print(f"{'case':<26} {'server':<9} {'wall ms':>8} {'- client':>9} {'srv CPU ms':>11} {'ok':>6}")
    floor = med(res[("client", "-")], 0) if res[("client", "-")] else 0.0
    for (kind, name), runs in res.items():
        if kind == "client":
            continue
        if not runs:
            print(f"{LABEL[kind]:<26} {name:<9} {'FAILED':>8}")
            continue
        w = med(runs, 0)
        sub = f"{(w - floor) * 1e3:>9.1f}" if kind != "banner" else f"{'':>9}"
        print(f"{LABEL[kind]:<26} {name:<9} {w * 1e3:>8.1f} {sub} {med(runs, 1) * 1e3:>11.1f} {len(runs):>3}/{n}")
    if res[("client", "-")]:
        print(f"{LABEL['client']:<26} {'(none)':<9} {floor * 1e3:>8.1f}   (globus-url-copy start-up floor, in every login)")
    print("\nratios griddock / gct (< 1 = griddock faster / cheaper)")
    for kind in ("banner", "login", "login-dcau"):
        gr, cr = res.get((kind, "griddock")), res.get((kind, "gct"))
        if not gr or not cr:
            print(f"  {LABEL[kind]:<26} n/a (failed runs)")
            continue
        gw, cw = med(gr, 0), med(cr, 0)
        extra = ""
        if kind != "banner":
            extra = f"   wall minus client floor {(gw - floor) / (cw - floor):.2f}x" if cw > floor else ""
        gc, cc = med(gr, 1), med(cr, 1)
        cpu = f"{gc / cc:.2f}x" if cc > 0 else "gct ~0"
        goal = "   (goal <= 0.5x)" if kind == "login" else ""
        print(f"  {LABEL[kind]:<26} wall {gw / cw:.2f}x{goal}{extra}   server CPU {cpu}")


def report_xfer(res: dict, mib: int, rounds: int) -> None:
    gib = mib / 1024
    print(f"\n{mib} MiB cached file, {rounds} interleaved rounds, medians")
    print(f"{'client':<22} {'server':<9} {'wall s':>8} {'MB/s':>7} {'srv CPU s/GiB':>14} {'client CPU s/GiB':>17} {'ok':>5}")
    for (kind, name), runs in res.items():
        if not runs:
            print(f"{LABEL[kind]:<22} {name:<9} {'FAILED':>8}")
            continue
        w = med(runs, 0)
        print(f"{LABEL[kind]:<22} {name:<9} {w:>8.3f} {mib * 1.048576 / w:>7.0f} {med(runs, 1) / gib:>14.3f} "
              f"{med(runs, 2) / gib:>17.3f} {len(runs):>3}/{rounds}")
    print("\nratios griddock / gct: throughput (> 1 = griddock faster), server CPU per GiB (< 1 = griddock cheaper)")
    for kind in XFER_OPTS:
        gr, cr = res.get((kind, "griddock")), res.get((kind, "gct"))
        if not gr or not cr:
            print(f"  {LABEL[kind]:<22} n/a (failed runs)")
            continue
        cc = med(cr, 1)
        cpu = f"{med(gr, 1) / cc:.2f}x" if cc > 0 else "gct ~0"
        print(f"  {LABEL[kind]:<22} throughput {med(cr, 0) / med(gr, 0):.2f}x   server CPU {cpu}")


if __name__ == "__main__":
    main()
