#!/usr/bin/env python3
"""Stalled data peers against griddock (issue 16 item 1): N clients start a MODE S RETR of
a 64 MiB file and never read it (tiny receive buffers), more than tokio's default blocking
pool (512 threads). Reports griddock's threads, RSS and fds under that load, the latency of
a LIST from another client (median of 5), how long until the stalled transfers are cut
(data_timeout, default here 10 s) and the state after. Loopback only; builds nothing:

    cargo build --release
    benches/stalled-peers.py [--sessions 600] [--data-timeout 10] [--griddock target/release/griddock]
"""

import argparse
import os
import resource
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Ftp:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.f = self.s.makefile("rb")
        self.reply()

    def reply(self):
        line = self.f.readline().decode()
        code = line[:3]
        if line[3:4] == "-":
            while True:
                more = self.f.readline().decode()
                if not more or more.startswith(code + " "):
                    break
        return int(code), line

    def cmd(self, line):
        self.s.sendall((line + "\r\n").encode())
        return self.reply()

    def close(self):
        self.f.close()
        self.s.close()

    def pasv(self):
        code, text = self.cmd("PASV")
        assert code == 227, text
        n = [int(x) for x in re.search(r"\((.*)\)", text).group(1).split(",")]
        return n[4] * 256 + n[5]


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Threads", "VmRSS"):
                out[k] = v.strip()
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


def stalled(port):
    c = Ftp(port)
    c.cmd("USER anonymous")
    c.cmd("PASS x@y")
    dport = c.pasv()
    d = socket.socket()
    d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    d.connect(("127.0.0.1", dport))
    code, text = c.cmd("RETR big")
    assert code == 150, text
    return c, d


def list_latency(port):
    t = time.monotonic()
    c = Ftp(port)
    c.cmd("USER anonymous")
    c.cmd("PASS x@y")
    dport = c.pasv()
    d = socket.create_connection(("127.0.0.1", dport))
    code, text = c.cmd("LIST")
    assert code == 150, text
    while d.recv(65536):
        pass
    code, _ = c.reply()
    assert code == 226
    c.close()
    d.close()
    return time.monotonic() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=600)
    ap.add_argument("--data-timeout", type=int, default=10)
    ap.add_argument("--griddock", default="target/release/griddock")
    a = ap.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = tempfile.mkdtemp(prefix="stalled-")
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    with open(os.path.join(data, "big"), "wb") as f:
        f.write(os.urandom(64 << 20))
    ftp, http, gridftp = free_port(), free_port(), free_port()
    cfg = os.path.join(tmp, "g.toml")
    with open(cfg, "w") as f:
        f.write(
            f'data_dir = "{data}"\nstate_dir = "{tmp}/state"\n'
            f'[ftp]\nlisten = "127.0.0.1:{ftp}"\npassive_ports = "40000-41999"\n'
            f'[gridftp]\nlisten = "127.0.0.1:{gridftp}"\npassive_ports = "42000-42099"\n'
            f'[http]\nlisten = "127.0.0.1:{http}"\n[webdav]\nenabled = false\n'
            f'[limits]\ndata_timeout = "{a.data_timeout}s"\nmax_sessions = 2000\n'
            f"max_sessions_per_client = 2000\nmax_passive_per_client = 2000\n"
        )
    log = open(os.path.join(tmp, "griddock.log"), "w")
    g = subprocess.Popen([a.griddock, "serve", "--config", cfg], stdout=log, stderr=log)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", ftp), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        print("idle:", status(g.pid))
        base = [list_latency(ftp) for _ in range(5)]
        held = []
        t = time.monotonic()
        for _ in range(a.sessions):
            held.append(stalled(ftp))
        opened = time.monotonic() - t
        time.sleep(1)
        load = status(g.pid)
        lat = [list_latency(ftp) for _ in range(5)]
        print(f"{a.sessions} stalled RETRs opened in {opened:.1f} s:", load)
        print(
            f"LIST latency: idle median {statistics.median(base)*1000:.1f} ms, "
            f"under load median {statistics.median(lat)*1000:.1f} ms "
            f"(min {min(lat)*1000:.1f}, max {max(lat)*1000:.1f})"
        )
        # All stalled transfers end with 426 once data_timeout passes without progress.
        t = time.monotonic()
        cut = 0
        for c, _ in held:
            code, _ = c.reply()
            cut += code == 426
        print(f"{cut}/{a.sessions} cut with 426 after {time.monotonic() - t:.1f} s more "
              f"(data_timeout {a.data_timeout} s, counted from the last opened)")
        for c, d in held:
            c.close()
            d.close()
        time.sleep(2)
        print("after close:", status(g.pid))
        if os.environ.get("STALLED_FD_DUMP"):
            time.sleep(5)
            print("5 s later:", status(g.pid))
            kinds = {}
            for fd in os.listdir(f"/proc/{g.pid}/fd"):
                try:
                    t = os.readlink(f"/proc/{g.pid}/fd/{fd}").split(":")[0]
                except OSError:
                    continue
                kinds[t] = kinds.get(t, 0) + 1
            print(kinds)
            subprocess.run(["ss", "-tanp"], stdout=open(os.path.join(tmp, "ss.txt"), "w"))
            print("ss dump:", os.path.join(tmp, "ss.txt"))
    finally:
        g.terminate()
        g.wait(timeout=40)


if __name__ == "__main__":
    sys.exit(main())
