#!/usr/bin/env python3
"""HTTPS GET benchmark: the same cached file, the same client (curl -k), griddock's WebDAV
endpoint vs XRootD 5.5.3's HTTP plugin (Debian xrootd-server + xrootd-server-plugins).

    benches/webdav-get.py [RUNS] [SIZE_MIB]        (default 5 runs, 1024 MiB)
    BENCH_CONCURRENCY=100 benches/webdav-get.py 3  (also N simultaneous GETs of 64 MiB)

BENCH_GRIDDOCK picks the binary (default target/release/griddock; build it first). Both
servers use one throw-away self-signed certificate (openssl, SAN localhost). Interleaved
rounds of `curl -sk -o /dev/null https://localhost:PORT/file`; per server the median wall
time, MB/s and server CPU seconds per GiB (utime+stime of the process from /proc).
Run as root (XRootD runs as the `xrootd` user via setpriv). Talks to 127.0.0.1 only.
"""
import os
import shutil
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


def wait_port(port: int, what: str = "", timeout: float = 20) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"port {port} never opened ({what})")


def started(p: subprocess.Popen, port: int, what: str) -> None:
    """Waits for `port`; a server that never opens it is stopped before exiting."""
    try:
        wait_port(port, what)
    except SystemExit:
        p.terminate()
        p.wait()
        raise


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICK


def make_cert(d: str) -> tuple[str, str]:
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
         "-out", cert, "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-addext", "basicConstraints=critical,CA:FALSE"],
        check=True, capture_output=True)
    return cert, key


def start_griddock(tmp: str, data: str, cert: str, key: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    cfg = os.path.join(tmp, "griddock.toml")
    with open(cfg, "w") as f:
        f.write(f'data_dir = "{data}"\nstate_dir = "{tmp}/state"\n'
                f'[ftp]\nenabled = false\n[gridftp]\nenabled = false\n'
                f'[http]\nlisten = "127.0.0.1:{free_port()}"\n'
                f'[webdav]\nlisten = "127.0.0.1:{port}"\n'
                f'[tls]\nsource = "files"\ncert_file = "{cert}"\nkey_file = "{key}"\n')
    binary = os.environ.get("BENCH_GRIDDOCK", os.path.join(ROOT, "target/release/griddock"))
    log = open(os.path.join(tmp, "griddock.log"), "w")
    p = subprocess.Popen([binary, "serve", "--config", cfg], stdout=log, stderr=log,
                         env={**os.environ, "RUST_LOG": "warn"})
    started(p, port, f"griddock, see {tmp}/griddock.log")
    return p, port


def start_xrootd(tmp: str, data: str, cert: str, key: str) -> tuple[subprocess.Popen, int]:
    x = os.path.join(tmp, "x")
    for d in ("adm", "run", "pki/ca"):
        os.makedirs(os.path.join(x, d), exist_ok=True)
    shutil.copy(cert, os.path.join(x, "pki/cert.pem"))
    shutil.copy(key, os.path.join(x, "pki/key.pem"))
    os.chmod(os.path.join(x, "pki/key.pem"), 0o600)  # XRootD refuses looser keys
    port, https = free_port(), free_port()
    with open(os.path.join(x, "xrd.cfg"), "w") as f:
        f.write(f"xrd.port {port}\nxrd.allow host localhost\nall.export /\n"
                f"oss.localroot {data}\nall.adminpath {x}/adm\nall.pidpath {x}/run\n"
                f"xrd.protocol XrdHttp:{https} libXrdHttp.so\n"
                f"http.cert {x}/pki/cert.pem\nhttp.key {x}/pki/key.pem\nhttp.cadir {x}/pki/ca\n")
    subprocess.run(["chown", "-R", "xrootd:xrootd", x], check=True)
    p = subprocess.Popen(["setpriv", "--reuid=xrootd", "--regid=xrootd", "--init-groups",
                          "xrootd", "-c", f"{x}/xrd.cfg", "-l", f"{x}/xrootd.log", "-n", "bench"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started(p, https, f"xrootd, see {x}/bench/xrootd.log")
    return p, https


def rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def concurrent(servers: dict, data: str, n: int, runs: int) -> None:
    """`n` simultaneous curl GETs of a 64 MiB file per server, interleaved rounds:
    aggregate MB/s, server CPU per GiB moved, server RSS at the end of the burst."""
    size = 64 << 20
    with open(os.path.join(data, "small"), "wb") as f:
        f.write(os.urandom(size))
    os.chmod(os.path.join(data, "small"), 0o644)
    subprocess.run(["cat", os.path.join(data, "small")], stdout=subprocess.DEVNULL)
    results = {name: ([], [], []) for name in servers}
    for _ in range(runs):
        for name, (p, port, _, _) in servers.items():
            c0, t0 = cpu_seconds(p.pid), time.monotonic()
            curls = [subprocess.Popen(["curl", "-sk", "-o", "/dev/null",
                                       f"https://localhost:{port}/small"])
                     for _ in range(n)]
            rss = 0
            while any(c.poll() is None for c in curls):
                rss = max(rss, rss_kib(p.pid))
                time.sleep(0.05)
            assert all(c.returncode == 0 for c in curls), name
            walls, cpus, rsss = results[name]
            walls.append(time.monotonic() - t0)
            cpus.append(cpu_seconds(p.pid) - c0)
            rsss.append(rss)
    gib = n * size / (1 << 30)
    for name, (walls, cpus, rsss) in results.items():
        w = statistics.median(walls)
        print(f"{name:9} {n} concurrent GETs of 64 MiB: median wall {w:.2f} s "
              f"({n * size / w / 1e6:.0f} MB/s aggregate), server CPU "
              f"{statistics.median(cpus) / gib:.2f} s/GiB, peak RSS {max(rsss) / 1024:.0f} MiB")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    size = (int(sys.argv[2]) if len(sys.argv) > 2 else 1024) << 20
    for tool in ("curl", "openssl", "xrootd", "setpriv"):
        if shutil.which(tool) is None:
            sys.exit(f"benchmark needs `{tool}`")
    tmp = tempfile.mkdtemp(prefix="gd-webdav-bench-")
    os.chmod(tmp, 0o755)
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    with open(os.path.join(data, "file"), "wb") as f:
        f.write(os.urandom(size))
    os.chmod(data, 0o755)
    os.chmod(os.path.join(data, "file"), 0o644)
    cert, key = make_cert(tmp)
    servers = {}
    procs = []
    try:
        for name, start in (("griddock", start_griddock), ("xrootd", start_xrootd)):
            p, port = start(tmp, data, cert, key)
            procs.append(p)
            servers[name] = (p, port, [], [])
        subprocess.run(["cat", os.path.join(data, "file")], stdout=subprocess.DEVNULL)
        for _ in range(runs):
            for name, (p, port, walls, cpus) in servers.items():
                c0 = cpu_seconds(p.pid)
                t0 = time.monotonic()
                subprocess.run(["curl", "-sk", "-o", "/dev/null", f"https://localhost:{port}/file"],
                               check=True)
                walls.append(time.monotonic() - t0)
                cpus.append(cpu_seconds(p.pid) - c0)
        gib = size / (1 << 30)
        for name, (_, _, walls, cpus) in servers.items():
            w = statistics.median(walls)
            print(f"{name:9} median wall {w:.3f} s  {size / w / 1e6:7.0f} MB/s  "
                  f"server CPU {statistics.median(cpus) / gib:.2f} s/GiB  (runs: {runs})")
        conc = int(os.environ.get("BENCH_CONCURRENCY", "0"))
        if conc:
            concurrent(servers, data, conc, runs)
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        if os.environ.get("KEEP") is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
