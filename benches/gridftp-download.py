#!/usr/bin/env python3
"""GridFTP download benchmark: griddock against the Grid Community Toolkit server.

    cargo build --release          # this script builds nothing
    benches/gridftp-download.py [--griddock PATH] [--griddock-b PATH] [--cases K1,K2,…]
                                [--rounds N] [--size-mib M] [--cpu auto|proc]
                                [--concurrency C] [--conc-size MIB] [--no-verify]

One cached file (default 1 GiB, read once before timing) is served on 127.0.0.1 with free
ports by four servers at once:

  griddock   target/release/griddock (or --griddock), anonymous read-only, on its [gridftp]
             port only ([ftp] and [http] off); that port also speaks plain FTP (MODE S);
             anonymous = "write" so that the upload cases can store into its data directory;
  gct        globus-gridftp-server (Debian: globus-gridftp-server-progs) in its default
             daemon mode (fork+exec per session), anonymous as `nobody` (-aa -anonymous-user
             nobody); the server has no separate "anonymous may write" switch: the anonymous
             session may store wherever `nobody` may write, here a 0777 upload directory;
  vsftpd     anonymous, the same configuration as benches/ftp-download.py;
  baseline   benches/sendfile_baseline.py, a raw sendfile(2) FTP responder;
  griddock-b with --griddock-b PATH, a second griddock build (same configuration, its own
             upload name) that runs every griddock case right after griddock in each round,
             so two builds are compared in one run against the same reference runs.

Interleaved rounds (default 5) each run every case once:

  guc-p1     globus-url-copy -p 1 ftp://…/file file:///dev/null   griddock, gct   (MODE E)
  guc-p4     globus-url-copy -p 4 …                               griddock, gct   (MODE E)
  guc-p8     globus-url-copy -p 8 …                               griddock, gct   (MODE E)
  guc-s      globus-url-copy ftp://…/file file:///dev/null (no -p) griddock, gct   (MODE S)
  up-p1      globus-url-copy -p 1 file:///…/file ftp://…/upload    griddock, gct   (MODE E STOR)
  up-p4, up-p8  the same upload with -p 4 / -p 8                   griddock, gct
  curl       curl -o /dev/null ftp://…/file                        griddock, vsftpd, baseline
                                                                   (MODE S, EPSV; see client_cmd
                                                                   for --happy-eyeballs-timeout-ms)

--cases picks case kinds (e.g. up-p1,up-p4,up-p8), default all.

Uploads read the same cached file and write into the server's data directory (griddock:
/upload in its data_dir; gct: an absolute path in a directory `nobody` may write, on the
same file system). Before every run (downloads too) every server's upload is removed and
the file systems are synced, outside the timing, so every run creates a new file and
starts with no dirty pages of earlier runs: before 2026-12-06 only the server's own
upload was removed, and the third upload of a round (always gct's) ran while ext4 wrote
back the two before it (background writeback starts at 10 % of memory dirty), which made
upload ratios swing between runs.

Per run: wall time of the client process (start-up and login included, the same for every
server), the CLIENT's CPU (user+sys of the globus-url-copy/curl process, from
getrusage(RUSAGE_CHILDREN) deltas around the reaped client), and the SERVER's CPU seconds: by default from a cgroup per server, which counts
forked session processes exactly; /proc/PID/stat with reaped children as the fallback (see
"CPU accounting" below for why and how).
Printed: median wall with min-max, MB/s (10^6 bytes), server CPU s per GiB and client CPU
s per GiB per case and server, and the ratios griddock/gct (guc -p 1/-p 4/-p 8 downloads
and uploads), griddock/vsftpd and griddock/baseline (curl).

Before timing (unless --no-verify) each griddock case downloads once to a real file whose
MD5 must match the source, and each griddock and gct upload case stores once and the stored
file's MD5 must match: a fast but wrong MODE E answer would otherwise look good.

--concurrency C (e.g. 100) adds: C simultaneous `globus-url-copy -p 4` downloads of a
--conc-size MiB file (default 64) against griddock, then against gct: aggregate MB/s,
server CPU, failed clients, and griddock's peak RSS (VmHWM, reset before the burst through
/proc/PID/clear_refs) — gct's per-session processes are summed at their peak instead.

Each run settles first: the next one starts only when the previous session's processes
are gone. griddock's log (RUST_LOG=info) is scanned for WARN/ERROR lines at the end.
A failed client is reported with its command, exit status and stderr, plus the tail of
the server's log, and is left out of the medians; nothing is retried.
Needs globus-url-copy (globus-gass-copy-progs), globus-gridftp-server
(globus-gridftp-server-progs), vsftpd, curl; run as root (vsftpd; gct setuids to nobody).
Talks to 127.0.0.1 only. KEEP_TMP=1 keeps the temp dir (logs, configs) for inspection.
"""
import argparse
import hashlib
import os
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
TICK = os.sysconf("SC_CLK_TCK")
GIB = 1 << 30
CLIENT_TIMEOUT = 600  # seconds; a hung transfer is a failure, not a stuck benchmark


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_range(n: int = 200) -> tuple[int, int]:
    """A block of n ports below the kernel's ephemeral range that is free right now."""
    base = 20000 + (os.getpid() * 7) % 8000
    for lo in range(base, 32000, n):
        ok = True
        for p in (lo, lo + n // 2, lo + n - 1):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
        if ok:
            return lo, lo + n - 1
    sys.exit("no free passive port block")


def wait_port(port: int, what: str, proc: subprocess.Popen, log: str | None = None) -> None:
    end = time.time() + 30
    while time.time() < end:
        if proc.poll() is not None:
            tail = open(log).read()[-3000:] if log and os.path.exists(log) else ""
            sys.exit(f"{what} exited with status {proc.returncode} before listening\n{tail}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what}: port {port} never opened")


# --- CPU accounting ---------------------------------------------------------------------
# A server's CPU for one run is the delta of a counter read before the client starts and
# again once the client has exited AND every process the server forked for the session is
# gone (settle()). The counter, best first:
#
# 1. cgroup (used when the machine allows it: root and a cgroup v1 `cpuacct` hierarchy or
#    cgroup v2): each server is started inside its own new cgroup (the child joins it in
#    preexec_fn, before exec), and cpuacct.usage (v1, ns) or cpu.stat usage_usec (v2) counts
#    the CPU of every task that ever ran in it — threads, forked session processes and their
#    children, whether or not anybody reaps them. Nanosecond resolution, nothing missed.
# 2. /proc fallback: utime+stime+cutime+cstime of the server's top process
#    (/proc/PID/stat fields 14-17, 10 ms ticks). griddock and the baseline are one process
#    (all threads' time is in utime/stime). globus-gridftp-server fork+execs one `-inetd`
#    process per control connection and reaps it, and only then does the kernel add the
#    child's utime+stime (and that of the children it reaped) to the daemon's
#    cutime/cstime — hence settle() waits until /proc/PID/task/*/children is empty (zombies
#    still count as children). Its weakness, and why (1) is preferred: a grandchild whose
#    parent exits before reaping it is re-parented to init and its CPU is lost. vsftpd does
#    exactly that — the session's unprivileged child, which does the sendfile(2), sometimes
#    outlives the privileged parent: measured here, 2 of 6 vsftpd downloads added 0 ticks.
#    Sampling the process tree instead would miss the CPU a process spends between the last
#    sample and its exit.

CGROUP_V1 = "/sys/fs/cgroup/cpuacct"
CGROUP_V2 = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")


METERS: list["CpuMeter"] = []
USE_CGROUP = True  # --cpu proc turns it off


class CpuMeter:
    def __init__(self, name: str):
        self.dir, self.v2 = None, False
        METERS.append(self)
        tag = f"griddock-bench-{os.getpid()}-{name}"
        candidates = [(CGROUP_V1, False)] if os.path.exists(f"{CGROUP_V1}/cpuacct.usage") else []
        if not USE_CGROUP:
            return
        candidates += [(d, True) for d in CGROUP_V2 if os.path.exists(f"{d}/cgroup.procs")
                       and os.path.exists(f"{d}/cgroup.controllers")]
        for root, v2 in candidates:
            d = os.path.join(root, tag)
            try:
                os.mkdir(d)
                if v2 and not os.path.exists(f"{d}/cpu.stat"):
                    os.rmdir(d)
                    continue
                self.dir, self.v2 = d, v2
                self._test_join()
                return
            except (OSError, subprocess.SubprocessError):
                self.close()
                self.dir = None

    def _test_join(self) -> None:
        # can a process join? (cgroup v2 refuses e.g. under the no-internal-process rule)
        subprocess.run(["true"], preexec_fn=self.join, check=True)

    def join(self) -> None:  # runs in the child between fork and exec
        if self.dir:
            with open(f"{self.dir}/cgroup.procs", "w") as f:
                f.write(str(os.getpid()))

    def seconds(self) -> float:
        if self.v2:
            for line in open(f"{self.dir}/cpu.stat"):
                if line.startswith("usage_usec"):
                    return int(line.split()[1]) / 1e6
        return int(open(f"{self.dir}/cpuacct.usage").read()) / 1e9

    def pids(self) -> set[int]:
        return {int(x) for x in open(f"{self.dir}/cgroup.procs").read().split()}

    def method(self) -> str:
        if not self.dir:
            why = "no usable cgroup" if USE_CGROUP else "--cpu proc"
            return f"/proc/PID/stat utime+stime+cutime+cstime ({why})"
        return f"cgroup {'v2 cpu.stat usage_usec' if self.v2 else 'v1 cpuacct.usage'} ({os.path.dirname(self.dir)})"

    def close(self) -> None:
        if self.dir and os.path.isdir(self.dir):
            for _ in range(50):  # an orphaned session process may still be exiting
                try:
                    os.rmdir(self.dir)
                    return
                except OSError:
                    time.sleep(0.1)
            print(f"warning: could not remove {self.dir}", file=sys.stderr)


def proc_cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICK


def children(pid: int) -> list[int]:
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            out += [int(c) for c in open(f"/proc/{pid}/task/{tid}/children").read().split()]
        except OSError:
            pass
    return out


def status_kib(pid: int, key: str) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


# --- servers ----------------------------------------------------------------------------

class Server:
    def __init__(self, name: str, proc: subprocess.Popen, port: int, path: str, log: str | None,
                 meter: CpuMeter):
        self.name, self.proc, self.port, self.path, self.log = name, proc, port, path, log
        self.meter = meter
        self.up_local, self.up_path = None, None  # upload destination: file-system path, URL path

    def cpu(self) -> float:
        return self.meter.seconds() if self.meter.dir else proc_cpu_seconds(self.proc.pid)

    def session_pids(self) -> list[int]:
        """Processes of this server other than its main one (forked sessions)."""
        if self.meter.dir:
            return sorted(self.meter.pids() - {self.proc.pid})
        return children(self.proc.pid)

    def settle(self, timeout: float = 10) -> bool:
        """Wait until the server has no session process left (see CPU accounting)."""
        end = time.time() + timeout
        while time.time() < end:
            if not self.session_pids():
                return True
            time.sleep(0.02)
        return False

    def url(self, path: str | None = None) -> str:
        return f"ftp://127.0.0.1:{self.port}{path or self.path}"

    def log_tail(self, n: int = 40) -> str:
        if not self.log or not os.path.exists(self.log):
            return "(no log)"
        lines = open(self.log, errors="replace").read().splitlines()
        return "\n".join(lines[-n:])


def start_griddock(binary: str, tmp: str, data: str, name: str = "griddock") -> Server:
    port = free_port()
    lo, hi = port_range()
    cfg = os.path.join(tmp, f"{name}.toml")
    with open(cfg, "w") as f:
        f.write(f'data_dir = "{data}"\nstate_dir = "{tmp}/state"\n'
                f'[ftp]\nenabled = false\n'
                f'[gridftp]\nenabled = true\nlisten = "127.0.0.1:{port}"\npassive_ports = "{lo}-{hi}"\n'
                f'[http]\nenabled = false\n[webdav]\nenabled = false\n[auth]\nanonymous = "write"\n'
                f'[limits]\nmax_sessions = 1000\n')
    log = os.path.join(tmp, f"{name}.log")
    # default `info` filter: one line per session open/close and per transfer, so a failure
    # has context; negligible next to 1 GiB transfers.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDDOCK_")}
    m = CpuMeter(name)
    p = subprocess.Popen([binary, "serve", "--config", cfg], stdout=subprocess.DEVNULL,
                         stderr=open(log, "w"), env={**env, "RUST_LOG": "info"}, preexec_fn=m.join)
    wait_port(port, "griddock", p, log)
    s = Server(name, p, port, "/file", log, m)
    up = "upload" if name == "griddock" else f"upload-{name}"
    s.up_local, s.up_path = os.path.join(data, up), f"/{up}"
    return s


def start_gct(tmp: str, file: str) -> Server:
    port = free_port()
    lo, hi = port_range()
    log = os.path.join(tmp, "gct.log")
    conf = os.path.join(tmp, "gridftp.conf")
    open(conf, "w").close()  # empty: do not pick up /etc/gridftp.conf
    # Defaults otherwise (daemon, fork per session, non-threaded, 256 KiB disk blocks) —
    # the server as Debian ships it. Its URL paths are absolute file-system paths.
    m = CpuMeter("gct")
    p = subprocess.Popen(["globus-gridftp-server", "-c", conf, "-aa", "-anonymous-user", "nobody",
                          "-p", str(port), "-control-interface", "127.0.0.1",
                          "-data-interface", "127.0.0.1", "-port-range", f"{lo},{hi}",
                          "-d", "error,warn,info", "-l", log],
                         stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=tmp, preexec_fn=m.join)
    wait_port(port, "globus-gridftp-server", p, log)
    s = Server("gct", p, port, file, log, m)
    updir = os.path.join(tmp, "gct-upload")  # writable by `nobody`, same file system as data
    os.makedirs(updir)
    os.chmod(updir, 0o777)
    s.up_local = s.up_path = os.path.join(updir, "upload")
    return s


def start_vsftpd(tmp: str, file: str) -> Server:
    root, empty = os.path.join(tmp, "vroot"), os.path.join(tmp, "empty")
    os.makedirs(root)
    os.makedirs(empty)
    os.link(file, os.path.join(root, "file"))
    port = free_port()
    lo, hi = port_range()
    conf = os.path.join(tmp, "vsftpd.conf")
    with open(conf, "w") as f:
        f.write(f"listen=YES\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n"
                f"anonymous_enable=YES\nanon_root={root}\nlocal_enable=NO\nwrite_enable=NO\n"
                f"no_anon_password=YES\npasv_enable=YES\npasv_promiscuous=YES\nport_promiscuous=YES\n"
                f"pasv_min_port={lo}\npasv_max_port={hi}\nsecure_chroot_dir={empty}\nseccomp_sandbox=NO\n"
                f"vsftpd_log_file={tmp}/vsftpd.log\nxferlog_enable=YES\n")
    m = CpuMeter("vsftpd")
    p = subprocess.Popen(["vsftpd", conf], preexec_fn=m.join)
    wait_port(port, "vsftpd", p)
    return Server("vsftpd", p, port, "/file", os.path.join(tmp, "vsftpd.log"), m)


def start_baseline(file: str) -> Server:
    port = free_port()
    m = CpuMeter("baseline")
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "benches/sendfile_baseline.py"), str(port), file],
                         preexec_fn=m.join)
    wait_port(port, "sendfile baseline", p)
    return Server("baseline", p, port, "/file", None, m)


# --- clients ----------------------------------------------------------------------------

def client_cmd(kind: str, url: str, dest: str = "/dev/null", src: str | None = None) -> list[str]:
    if kind == "curl":
        # --happy-eyeballs-timeout-ms 1: curl 7.88 (Debian 12) stalls for the whole
        # happy-eyeballs timeout (200 ms) before opening the EPSV/PASV data connection when
        # the 229/227 reply is already there the moment it looks (observed with griddock,
        # whose reply comes back within ~30 us, in up to every run; never with vsftpd or the
        # baseline). With one IPv4 address the option changes nothing else.
        return ["curl", "-sS", "--happy-eyeballs-timeout-ms", "1", "-o", dest, "-w", "%{size_download}", url]
    if kind == "guc-s":  # no -p: MODE S (stream), one data connection
        return ["globus-url-copy", url, f"file://{dest}"]
    if kind.startswith("up-p"):  # upload: local file -> server URL
        return ["globus-url-copy", "-p", kind.removeprefix("up-p"), f"file://{src}", url]
    streams = kind.removeprefix("guc-p")
    return ["globus-url-copy", "-p", streams, url, f"file://{dest}"]


def case_cmd(server: "Server", kind: str, src: str, dest: str = "/dev/null") -> list[str]:
    if kind.startswith("up-p"):
        return client_cmd(kind, server.url(server.up_path), src=src)
    return client_cmd(kind, server.url(), dest)


def clear_upload(server: "Server") -> None:
    if server.up_local and os.path.exists(server.up_local):
        os.unlink(server.up_local)


class Failure(Exception):
    pass


def run_client(cmd: list[str], size: int) -> float:
    """Runs one client to completion; returns its CPU (user+sys) seconds."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=CLIENT_TIMEOUT, cwd="/")
    except subprocess.TimeoutExpired as e:
        raise Failure(f"$ {' '.join(cmd)}\ntimed out after {CLIENT_TIMEOUT} s\n{e.stderr or ''}")
    if r.returncode != 0:
        raise Failure(f"$ {' '.join(cmd)}\nexit status {r.returncode}\n{r.stdout}{r.stderr}".rstrip())
    if cmd[0] == "curl" and r.stdout.strip() != str(size):
        raise Failure(f"$ {' '.join(cmd)}\ncurl received {r.stdout.strip()} bytes, expected {size}")
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)


def one_run(server: Server, kind: str, size: int, src: str, everyone: list) -> tuple[float, float, float]:
    # Every server's upload goes, then sync: each run starts with no other run's dirty
    # pages (ext4 starts background writeback at 10 % of memory; with uploads left in
    # place the third upload of a round paid for the writeback of the two before it).
    for s in everyone:
        clear_upload(s)
    os.sync()
    server.settle()
    before = server.cpu()
    t0 = time.perf_counter()
    ccpu = run_client(case_cmd(server, kind, src), size)
    wall = time.perf_counter() - t0
    if not server.settle():
        print(f"warning: {server.name} still has session processes 10 s after the client exited", file=sys.stderr)
    time.sleep(0.1)  # let the server finish closing the session (griddock: no processes to wait for)
    return wall, server.cpu() - before, ccpu


def md5(path: str) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def verify(server: Server, kind: str, tmp: str, size: int, digest: str, src: str) -> None:
    dest = server.up_local if kind.startswith("up-p") else os.path.join(tmp, "verify.out")
    clear_upload(server)
    try:
        run_client(case_cmd(server, kind, src, dest), size)
        got = os.path.getsize(dest)
        if got != size:
            raise Failure(f"{kind} from {server.name}: wrote {got} bytes, expected {size}")
        d = md5(dest)
        if d != digest:
            raise Failure(f"{kind} from {server.name}: MD5 {d}, expected {digest}")
    finally:
        if os.path.exists(dest):
            os.unlink(dest)


# --- concurrency ------------------------------------------------------------------------

def burst(server: Server, n: int, url: str, size: int) -> dict:
    pid = server.proc.pid
    server.settle()
    if server.name == "griddock":
        try:  # 5 = reset the peak RSS (VmHWM) to the current RSS
            open(f"/proc/{pid}/clear_refs", "w").write("5")
        except OSError:
            pass
    rss0 = status_kib(pid, "VmRSS")
    before = server.cpu()
    cmd = ["globus-url-copy", "-p", "4", url, "file:///dev/null"]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd="/") for _ in range(n)]
    sess_peak = 0  # gct: the sum of the live session processes' RSS, sampled every 0.25 s
    next_sample = time.perf_counter() + 0.05  # the sessions exist only once the clients logged in
    done = {}
    while len(done) < n:
        for i, p in enumerate(procs):
            if i not in done and p.poll() is not None:
                done[i] = (time.perf_counter() - t0, p.returncode, p.stdout.read().decode(errors="replace"))
        if server.name != "griddock" and time.perf_counter() >= next_sample:
            next_sample = time.perf_counter() + 0.25  # keep the sampler's own CPU small
            tot = 0
            for c in server.session_pids():
                try:
                    tot += status_kib(c, "VmRSS")
                except OSError:
                    pass
            sess_peak = max(sess_peak, tot)
        if time.perf_counter() - t0 > CLIENT_TIMEOUT:
            for i, p in enumerate(procs):
                if i not in done:
                    p.kill()
                    p.wait()
                    done[i] = (time.perf_counter() - t0, "timeout", p.stdout.read().decode(errors="replace"))
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    server.settle(60)
    time.sleep(0.2)
    cpu = server.cpu() - before
    fails = [(i, rc, out) for i, (_, rc, out) in done.items() if rc != 0]
    ok = n - len(fails)
    return {"wall": wall, "ok": ok, "fails": fails, "cpu": cpu, "mbps": ok * size / 1e6 / wall,
            "rss0": rss0, "hwm": status_kib(pid, "VmHWM") if server.name == "griddock" else None,
            "sess_peak": sess_peak, "last": max(t for t, _, _ in done.values())}


# --- main -------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--griddock", default=os.path.join(ROOT, "target/release/griddock"),
                    help="griddock binary (default target/release/griddock; cargo build --release first)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds, >= 5 (0: concurrency only)")
    ap.add_argument("--size-mib", type=int, default=1024, help="file size for the rounds (default 1024)")
    ap.add_argument("--concurrency", type=int, default=0, metavar="C",
                    help="also run C concurrent `globus-url-copy -p 4` (e.g. 100)")
    ap.add_argument("--conc-size", type=int, default=64, metavar="MIB", help="file size for --concurrency")
    ap.add_argument("--no-verify", action="store_true", help="skip the MD5 check of griddock's answers")
    ap.add_argument("--griddock-b", default=None, metavar="PATH",
                    help="a second griddock build run in the same interleaved rounds (reported as griddock-b)")
    ap.add_argument("--cases", default="", metavar="K1,K2",
                    help="only these case kinds (e.g. up-p1,up-p4,up-p8; default: all)")
    ap.add_argument("--cpu", choices=("auto", "proc"), default="auto",
                    help="server CPU from a cgroup per server (auto, if possible) or /proc/PID/stat")
    a = ap.parse_args()
    global USE_CGROUP
    USE_CGROUP = a.cpu == "auto"
    if a.rounds != 0 and a.rounds < 5:
        ap.error("--rounds must be >= 5 (or 0 to run only --concurrency)")
    if not os.access(a.griddock, os.X_OK):
        sys.exit(f"{a.griddock} not found: run `cargo build --release` first (or pass --griddock)")
    for tool, pkg in (("globus-url-copy", "globus-gass-copy-progs"), ("globus-gridftp-server", "globus-gridftp-server-progs"),
                      ("vsftpd", "vsftpd"), ("curl", "curl")):
        if shutil.which(tool) is None:
            sys.exit(f"benchmark needs `{tool}` (apt-get install {pkg})")
    if os.geteuid() != 0:
        sys.exit("run as root (vsftpd; globus-gridftp-server setuids anonymous sessions to nobody)")
    # 100 sessions x (control + 4 data + file) in one griddock process; inherited by servers
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    want = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    tmp = tempfile.mkdtemp(prefix="griddock-gbench-")
    os.chmod(tmp, 0o755)  # gct serves the file as `nobody`
    servers: list[Server] = []
    failures: list[tuple[str, str, str]] = []  # (case, server, text)
    try:
        data = os.path.join(tmp, "data")
        os.makedirs(data, mode=0o755)
        os.chmod(data, 0o755)
        file = os.path.join(data, "file")
        size = a.size_mib << 20
        digest = make_file(file, a.size_mib) if a.rounds else None
        conc_file = os.path.join(data, "conc")
        if a.concurrency:
            make_file(conc_file, a.conc_size)
        g = start_griddock(a.griddock, tmp, data)
        servers.append(g)
        gb = start_griddock(a.griddock_b, tmp, data, "griddock-b") if a.griddock_b else None
        if gb:
            servers.append(gb)
        gct = start_gct(tmp, file)
        servers.append(gct)
        print(versions(a.griddock), file=sys.stderr)
        print(f"server CPU from {g.meter.method()}", file=sys.stderr)
        cases = [(k, s) for k in ("guc-p1", "guc-p4", "guc-p8") for s in (g, gct)]
        if a.rounds:
            v = start_vsftpd(tmp, file)
            servers.append(v)
            b = start_baseline(file)
            servers.append(b)
            cases += [(k, s) for k in ("guc-s", "up-p1", "up-p4", "up-p8") for s in (g, gct)]
            cases += [("curl", g), ("curl", v), ("curl", b)]
            if gb:  # every griddock case again against the second build, interleaved
                cases = [c for k, s in cases for c in ([(k, s), (k, gb)] if s is g else [(k, s)])]
            if a.cases:
                wanted = set(a.cases.split(","))
                unknown = wanted - {k for k, _ in cases}
                if unknown:
                    ap.error(f"unknown case kinds: {', '.join(sorted(unknown))}")
                cases = [(k, s) for k, s in cases if k in wanted]
            subprocess.run(["cat", file], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
            broken = set()
            if not a.no_verify:
                for kind, s in cases:
                    if s is g or s is gb or kind.startswith("up-p"):
                        try:
                            verify(s, kind, tmp, size, digest, file)
                            print(f"verified {kind} {'to' if kind.startswith('up-p') else 'from'} {s.name} (MD5 {digest})", file=sys.stderr)
                        except Failure as e:
                            failures.append((kind, s.name, f"verification: {e}"))
                            broken.add((kind, s.name))
                subprocess.run(["cat", file], stdout=subprocess.DEVNULL, check=True)
            results = {(k, s.name): [] for k, s in cases}
            for i in range(a.rounds):
                line = []
                for kind, s in cases:
                    if (kind, s.name) in broken:
                        continue
                    try:
                        w, c, cc = one_run(s, kind, size, file, servers)
                        results[(kind, s.name)].append((w, c, cc))
                        line.append(f"{kind}/{s.name} {w:.3f}s {c:.2f}cpu {cc:.2f}ccpu")
                    except Failure as e:
                        failures.append((kind, s.name, str(e)))
                        line.append(f"{kind}/{s.name} FAILED")
                print(f"round {i + 1}/{a.rounds}: " + ", ".join(line), file=sys.stderr)
            for s in servers:  # the last upload's dirty pages stay out of what follows
                clear_upload(s)
            os.sync()
            report(results, a.size_mib, a.rounds)
        if a.concurrency:
            subprocess.run(["cat", conc_file], stdout=subprocess.DEVNULL, check=True)
            conc = {}
            for s, url in ((g, g.url("/conc")), (gct, gct.url(conc_file))):
                conc[s.name] = r = burst(s, a.concurrency, url, a.conc_size << 20)
                for i, rc, out in r["fails"][:5]:
                    failures.append((f"conc-{a.concurrency}", s.name, f"client {i}: exit {rc}\n{out.strip()}"))
                if len(r["fails"]) > 5:
                    failures.append((f"conc-{a.concurrency}", s.name, f"... and {len(r['fails']) - 5} more failed clients"))
            report_conc(conc, a.concurrency, a.conc_size)
        warn = [l for l in open(g.log, errors="replace").read().splitlines()
                if " WARN " in l or " ERROR " in l or '"level":"WARN"' in l or '"level":"ERROR"' in l]
        if warn:
            print(f"\ngriddock logged {len(warn)} WARN/ERROR lines ({g.log}), first ones:")
            print("\n".join(warn[:10]))
        report_failures(failures, servers)
    finally:
        stop_servers(servers)
        for m in METERS:
            m.close()
        if os.environ.get("KEEP_TMP"):
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failures else 0)


def report_failures(failures, servers) -> None:
    """Each failure with its output, then the log tail of every server that failed."""
    for kind, name, text in failures:
        print(f"\nFAILED {kind} against {name}:\n{text}")
    for name in sorted({n for _, n, _ in failures}):
        s = next(x for x in servers if x.name == name)
        print(f"\n--- last lines of {name}'s log ({s.log}) ---\n{s.log_tail()}")


def stop_servers(servers) -> None:
    """SIGTERM to every server still running, then wait (kill after 10 s)."""
    for s in servers:
        if s.proc.poll() is None:
            s.proc.send_signal(signal.SIGTERM)
    for s in servers:
        try:
            s.proc.wait(10)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait()


def make_file(path: str, mib: int) -> str:
    h = hashlib.md5()
    with open(path, "wb") as f:
        for _ in range(mib):
            chunk = os.urandom(1 << 20)
            h.update(chunk)
            f.write(chunk)
    os.chmod(path, 0o644)
    return h.hexdigest()


def versions(binary: str) -> str:
    def first(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    return (f"{first([binary, '--version'])}; {first(['globus-gridftp-server', '-version'])}; "
            f"{first(['globus-url-copy', '-version'])}; {first(['curl', '--version'])}")


LABEL = {"guc-s": "guc MODE S download", "guc-p1": "guc -p 1 download", "guc-p4": "guc -p 4 download", "guc-p8": "guc -p 8 download",
         "up-p1": "guc -p 1 upload", "up-p4": "guc -p 4 upload", "up-p8": "guc -p 8 upload",
         "curl": "curl (MODE S)"}


def report(results: dict, mib: int, rounds: int) -> None:
    gib = mib / 1024
    med = {}
    print(f"\n{mib} MiB cached file, {rounds} interleaved rounds, medians")
    print(f"{'client':<22} {'server':<9} {'wall s':>8} {'min-max':>13} {'MB/s':>7} {'srv CPU s/GiB':>14} "
          f"{'client CPU s/GiB':>17} {'ok':>5}")
    for (kind, name), runs in results.items():
        if runs:
            w = statistics.median(r[0] for r in runs)
            c = statistics.median(r[1] for r in runs)
            cc = statistics.median(r[2] for r in runs)
            lo, hi = min(r[0] for r in runs), max(r[0] for r in runs)
            med[(kind, name)] = (w, c, cc)
            print(f"{LABEL[kind]:<22} {name:<9} {w:>8.3f} {f'{lo:.3f}-{hi:.3f}':>13} {mib * 1.048576 / w:>7.0f} "
                  f"{c / gib:>14.3f} {cc / gib:>17.3f} {len(runs):>3}/{rounds}")
        else:
            print(f"{LABEL[kind]:<22} {name:<9} {'FAILED':>8}")
    print("\nratios (griddock / reference): throughput (>1 = griddock faster), server CPU (<1 = griddock cheaper)")
    pairs = [(k, "gct") for k in ("guc-s", "guc-p1", "guc-p4", "guc-p8", "up-p1", "up-p4", "up-p8")] + \
        [("curl", "vsftpd"), ("curl", "baseline")]
    names = ["griddock"] + (["griddock-b"] if any(n == "griddock-b" for _, n in med) else [])
    if len(names) == 2:
        pairs += [(k, "griddock") for k, _ in pairs[:7]]
    for name in names:
        for kind, ref in pairs:
            if name == ref or (kind, name) not in med and (kind, ref) not in med:
                continue
            gm, rm = med.get((kind, name)), med.get((kind, ref))
            if gm is None or rm is None:
                print(f"  {LABEL[kind]:<22} {name}/{ref:<8}  n/a (failed runs)")
                continue
            cpu = f"{gm[1] / rm[1]:.2f}x" if rm[1] > 0 else "ref ~0"
            ccpu = f"{gm[2] / rm[2]:.2f}x" if rm[2] > 0 else "ref ~0"
            print(f"  {LABEL[kind]:<22} {name}/{ref:<8}  throughput {rm[0] / gm[0]:.2f}x   server CPU {cpu}   client CPU {ccpu}")


def report_conc(conc: dict, n: int, mib: int) -> None:
    print(f"\n{n} concurrent `globus-url-copy -p 4` of one {mib} MiB cached file")
    print(f"{'server':<9} {'ok':>7} {'wall s':>8} {'agg MB/s':>9} {'CPU s':>7} {'CPU s/GiB':>10}  memory")
    for name, r in conc.items():
        gib = r["ok"] * mib / 1024
        per = f"{r['cpu'] / gib:.3f}" if gib else "n/a"
        if name == "griddock":
            mem = f"VmRSS before {r['rss0'] / 1024:.1f} MiB, peak VmHWM {r['hwm'] / 1024:.1f} MiB"
        else:
            mem = (f"session processes' summed VmRSS, sampled peak {r['sess_peak'] / 1024:.0f} MiB (shared pages counted per process)"
                   if r["sess_peak"] else "session RSS not sampled (burst too short)")
        print(f"{name:<9} {r['ok']:>3}/{n:<3} {r['wall']:>8.2f} {r['mbps']:>9.0f} {r['cpu']:>7.2f} {per:>10}  {mem}")
    if all(r["ok"] for r in conc.values()) and "griddock" in conc and "gct" in conc:
        g, c = conc["griddock"], conc["gct"]
        print(f"  griddock/gct: aggregate throughput {g['mbps'] / c['mbps']:.2f}x, "
              f"CPU per GiB {(g['cpu'] / g['ok']) / (c['cpu'] / c['ok']):.2f}x" if c["cpu"] > 0 else "")


if __name__ == "__main__":
    main()
