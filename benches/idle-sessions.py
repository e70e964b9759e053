#!/usr/bin/env python3
"""Cost of idle sessions: RSS and file descriptors of griddock with N logged-in sessions.

    benches/idle-sessions.py [N] [--webdav]       (default 1000)

Starts target/release/griddock on 127.0.0.1 (max_sessions >= N, raised fd limits), logs N
control connections in anonymously, and prints griddock's VmRSS and open fds idle, with N
sessions, and after closing them. Goals: <= 20 MiB idle, <= 64 KiB per session, fds back to
the baseline. Talks to 127.0.0.1 only. `BENCH_GRIDDOCK` picks another binary (no build).

--webdav: the same for N keep-alive HTTPS connections to the davs:// endpoint, each after
one anonymous GET of a small file (TLS 1.3 handshake, request, response), measured while
they idle; then it waits for griddock to close them on its own (an idle connection waits
at most the 30 s request-head timeout) and reports when the last one was closed.
"""
import os
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def read_reply(f) -> str:
    line = f.readline()
    if line[3:4] == b"-":
        end = line[:3] + b" "
        while True:
            more = f.readline()
            if not more or more.startswith(end):
                break
    return line.decode()


def open_ftp(port: int):
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rwb", buffering=0)
    assert read_reply(f).startswith("220")
    f.write(b"USER anonymous\r\n")
    assert read_reply(f).startswith("331")
    f.write(b"PASS bench@\r\n")
    reply = read_reply(f)
    assert reply.startswith("230"), reply
    return s, f


TLS = ssl.create_default_context()
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE  # griddock's self-signed certificate, on loopback


def open_webdav(port: int):
    t = TLS.wrap_socket(socket.create_connection(("127.0.0.1", port)))
    t.sendall(b"GET /small HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got or not got.endswith(b"hello\n"):
        more = t.recv(65536)
        assert more, got
        got += more
    assert got.startswith(b"HTTP/1.1 200"), got[:80]
    return t, None


def wait_closed(conns, limit: float) -> float:
    """Seconds until the server has closed every connection (or `limit`)."""
    t0 = time.time()
    for t, _ in conns:
        t.settimeout(max(0.1, limit - (time.time() - t0)))
        try:
            while t.recv(65536):
                pass
        except (OSError, ssl.SSLError):
            pass
    return time.time() - t0


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    webdav = "--webdav" in sys.argv
    n = int(args[0]) if args else 1000
    limit = n * 2 + 256
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
    binary = os.environ.get("BENCH_GRIDDOCK")
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target/release/griddock")
    tmp = tempfile.mkdtemp(prefix="griddock-idle-")
    port, http, dav = free_port(), free_port(), free_port()
    os.makedirs(f"{tmp}/data")
    with open(f"{tmp}/data/small", "w") as f:
        f.write("hello\n")
    webdav_cfg = (f'[webdav]\nlisten = "127.0.0.1:{dav}"\n[tls]\nsource = "self-signed"\n'
                  f'[auth]\nanonymous = "read"\n' if webdav else '[webdav]\nenabled = false\n')
    cfg = os.path.join(tmp, "g.toml")
    with open(cfg, "w") as f:
        f.write(f'data_dir = "{tmp}/data"\nstate_dir = "{tmp}/state"\n[ftp]\nlisten = "127.0.0.1:{port}"\n'
                f'[gridftp]\nenabled = false\n{webdav_cfg}[http]\nlisten = "127.0.0.1:{http}"\n'
                f'[limits]\nmax_sessions = {n + 10}\nmax_sessions_per_client = {n + 10}\n')
    p = subprocess.Popen([binary, "serve", "--config", cfg],
                         stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"})
    conns = []
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", dav if webdav else port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.5)
        idle_rss, idle_fds = rss_kib(p.pid), fds(p.pid)
        started = time.time()
        for _ in range(n):
            conns.append(open_webdav(dav) if webdav else open_ftp(port))
        opened = time.time() - started
        time.sleep(0.5)
        busy_rss, busy_fds = rss_kib(p.pid), fds(p.pid)
        closed_by_server = wait_closed(conns, 60.0) if webdav else None
        for s, f in conns:
            if f:
                f.close()
            s.close()
        conns.clear()
        time.sleep(1.5)
        after_rss, after_fds = rss_kib(p.pid), fds(p.pid)
        per = (busy_rss - idle_rss) / n
        what = "keep-alive HTTPS connections (one GET each)" if webdav else "FTP sessions"
        print(f"{what}: {n}, opened in {opened:.1f} s")
        print(f"idle:  RSS {idle_rss / 1024:.1f} MiB, {idle_fds} fds   (goal <= 20 MiB)")
        print(f"busy:  RSS {busy_rss / 1024:.1f} MiB, {busy_fds} fds")
        print(f"per session: {per:.1f} KiB RSS, {(busy_fds - idle_fds) / n:.2f} fds   (goal <= 64 KiB)")
        print(f"after: RSS {after_rss / 1024:.1f} MiB, {after_fds} fds   "
              f"(fds back to baseline: {'yes' if after_fds == idle_fds else 'NO'})")
        if closed_by_server is not None:
            print(f"all {n} closed by griddock {closed_by_server:.1f} s after the measurement "
                  f"(idle limit: the 30 s request-head timeout)")
    finally:
        for s, _ in conns:
            s.close()
        p.terminate()
        p.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
