#!/usr/bin/env python3
"""Download benchmark: the same cached 1 GiB file, the same client (curl), three servers.

    benches/ftp-download.py [RUNS] [SIZE_MIB]      (default 7 runs, 1024 MiB)

Starts on 127.0.0.1 with free ports: griddock (target/release, or the binary named by
BENCH_GRIDDOCK; anonymous read-only),
vsftpd (Ready2go-like anonymous config) and a raw sendfile(2) FTP responder
(benches/sendfile_baseline.py). Runs interleaved rounds (griddock, vsftpd, baseline, …) of
`curl -s -o /dev/null ftp://…/file` and reports per server the median wall time, MB/s and
the server's CPU seconds per GiB (utime+stime+cutime+cstime of the server process from
/proc, so forked vsftpd sessions count once reaped), plus the ratios griddock/vsftpd and
griddock/baseline. Goals: wall <= 1.0x vsftpd, CPU within 10 % of the baseline.
Needs curl, vsftpd, python3; run as root (vsftpd). Talks to 127.0.0.1 only.
"""
import os
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"port {port} never opened")


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICK


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        sys.exit(f"benchmark needs `{tool}` (apt-get install {tool})")


def start_griddock(tmp: str, data: str) -> tuple[subprocess.Popen, int]:
    port, http = free_port(), free_port()
    lo = 40000 + os.getpid() % 10000
    cfg = os.path.join(tmp, "griddock.toml")
    with open(cfg, "w") as f:
        f.write(f'data_dir = "{data}"\nstate_dir = "{tmp}/state"\n'
                f'[ftp]\nlisten = "127.0.0.1:{port}"\npassive_ports = "{lo}-{lo + 50}"\n'
                f'[gridftp]\nenabled = false\n[webdav]\nenabled = false\n[http]\nlisten = "127.0.0.1:{http}"\n[auth]\nanonymous = "read"\n')
    binary = os.environ.get("BENCH_GRIDDOCK", os.path.join(ROOT, "target/release/griddock"))
    p = subprocess.Popen([binary, "serve", "--config", cfg],
                         stderr=open(os.path.join(tmp, "griddock.log"), "w"), env={**os.environ, "RUST_LOG": "warn"})
    wait_port(port)
    return p, port


def start_vsftpd(tmp: str, file: str) -> tuple[subprocess.Popen, int]:
    root, empty = os.path.join(tmp, "vroot"), os.path.join(tmp, "empty")
    os.makedirs(root)
    os.makedirs(empty)
    os.chmod(tmp, 0o755)
    os.link(file, os.path.join(root, "file"))
    port = free_port()
    lo = 30000 + os.getpid() % 10000
    conf = os.path.join(tmp, "vsftpd.conf")
    with open(conf, "w") as f:
        f.write(f"listen=YES\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n"
                f"anonymous_enable=YES\nanon_root={root}\nlocal_enable=NO\nwrite_enable=NO\n"
                f"no_anon_password=YES\npasv_enable=YES\npasv_promiscuous=YES\nport_promiscuous=YES\n"
                f"pasv_min_port={lo}\npasv_max_port={lo + 50}\nsecure_chroot_dir={empty}\nseccomp_sandbox=NO\n")
    p = subprocess.Popen(["vsftpd", conf])
    wait_port(port)
    return p, port


def start_baseline(file: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "benches/sendfile_baseline.py"), str(port), file])
    wait_port(port)
    return p, port


def one_run(pid: int, port: int) -> tuple[float, float]:
    before = cpu_seconds(pid)
    t0 = time.perf_counter()
    subprocess.run(["curl", "-s", "-o", "/dev/null", f"ftp://127.0.0.1:{port}/file"], check=True)
    wall = time.perf_counter() - t0
    time.sleep(0.3)  # let forked session processes be reaped into cutime/cstime
    return wall, cpu_seconds(pid) - before


def main() -> None:
    runs = max(5, int(sys.argv[1]) if len(sys.argv) > 1 else 7)
    mib = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    for tool in ("curl", "vsftpd", "cargo"):
        need(tool)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="griddock-bench-")
    procs = []
    try:
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        file = os.path.join(data, "file")
        with open(file, "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(1 << 20))
        subprocess.run(["cat", file], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        servers = {}
        for name, start in (("griddock", lambda: start_griddock(tmp, data)),
                            ("vsftpd", lambda: start_vsftpd(tmp, file)),
                            ("baseline", lambda: start_baseline(file))):
            p, port = start()
            procs.append(p)
            servers[name] = (p.pid, port)
        results = {name: [] for name in servers}
        for i in range(runs):
            for name, (pid, port) in servers.items():
                results[name].append(one_run(pid, port))
            print(f"round {i + 1}/{runs} done", file=sys.stderr)
        report(results, mib)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def report(results: dict, mib: int) -> None:
    gib = mib / 1024
    med = {n: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r)) for n, r in results.items()}
    print(f"\n{mib} MiB file, {len(next(iter(results.values())))} interleaved runs per server, curl client")
    print(f"{'server':<10} {'median wall s':>14} {'MB/s':>8} {'CPU s/GiB':>10}")
    for n, (w, c) in med.items():
        print(f"{n:<10} {w:>14.3f} {mib * 1.048576 / w:>8.0f} {c / gib:>10.3f}")
    g, v, b = med["griddock"], med["vsftpd"], med["baseline"]
    print(f"\nwall  griddock/vsftpd   = {g[0] / v[0]:.2f}x  (goal <= 1.00)")
    print(f"wall  griddock/baseline = {g[0] / b[0]:.2f}x")
    print(f"CPU   griddock/baseline = {g[1] / b[1]:.2f}x  (goal <= 1.10)" if b[1] > 0 else "CPU baseline ~0")
    print(f"CPU   griddock/vsftpd   = {g[1] / v[1]:.2f}x" if v[1] > 0 else "")


if __name__ == "__main__":
    main()
