#!/usr/bin/env python3
"""Cost of idle sessions: RSS and file descriptors of griddock with N logged-in sessions.

    benches/idle-sessions.py [N]        (default 1000)

Starts target/release/griddock on 127.0.0.1 (max_sessions >= N, raised fd limits), logs N
control connections in anonymously, and prints griddock's VmRSS and open fds idle, with N
sessions, and after closing them. Goals: <= 20 MiB idle, <= 64 KiB per session, fds back to
the baseline. Talks to 127.0.0.1 only.
"""
import os
import resource
import shutil
import socket
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


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    limit = n * 2 + 256
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="griddock-idle-")
    port, http = free_port(), free_port()
    cfg = os.path.join(tmp, "g.toml")
    with open(cfg, "w") as f:
        f.write(f'data_dir = "{tmp}/data"\nstate_dir = "{tmp}/state"\n[ftp]\nlisten = "127.0.0.1:{port}"\n'
                f'[gridftp]\nenabled = false\n[webdav]\nenabled = false\n[http]\nlisten = "127.0.0.1:{http}"\n[limits]\nmax_sessions = {n + 10}\n')
    p = subprocess.Popen([os.path.join(ROOT, "target/release/griddock"), "serve", "--config", cfg],
                         stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"})
    conns = []
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.5)
        idle_rss, idle_fds = rss_kib(p.pid), fds(p.pid)
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            f = s.makefile("rwb", buffering=0)
            assert read_reply(f).startswith("220")
            f.write(b"USER anonymous\r\n")
            assert read_reply(f).startswith("331")
            f.write(b"PASS bench@\r\n")
            reply = read_reply(f)
            assert reply.startswith("230"), reply
            conns.append((s, f))
        time.sleep(0.5)
        busy_rss, busy_fds = rss_kib(p.pid), fds(p.pid)
        for s, f in conns:
            f.close()
            s.close()
        conns.clear()
        time.sleep(1.5)
        after_rss, after_fds = rss_kib(p.pid), fds(p.pid)
        per = (busy_rss - idle_rss) / n
        print(f"sessions: {n}")
        print(f"idle:  RSS {idle_rss / 1024:.1f} MiB, {idle_fds} fds   (goal <= 20 MiB)")
        print(f"busy:  RSS {busy_rss / 1024:.1f} MiB, {busy_fds} fds")
        print(f"per session: {per:.1f} KiB RSS, {(busy_fds - idle_fds) / n:.2f} fds   (goal <= 64 KiB)")
        print(f"after: RSS {after_rss / 1024:.1f} MiB, {after_fds} fds   "
              f"(fds back to baseline: {'yes' if after_fds == idle_fds else 'NO'})")
    finally:
        for s, f in conns:
            s.close()
        p.terminate()
        p.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
