#!/usr/bin/env python3
"""Raw sendfile(2) baseline for the download benchmark: the least an FTP server can do.

Just enough FTP for curl (USER PASS PWD TYPE EPSV PASV SIZE RETR QUIT) serving ONE file
with os.sendfile on a blocking socket, one session at a time. Usage:
    sendfile_baseline.py PORT FILE
"""
import os
import socket
import sys


def serve(port: int, path: str) -> None:
    size = os.path.getsize(path)
    ctl = socket.socket()
    ctl.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ctl.bind(("127.0.0.1", port))
    ctl.listen(8)
    while True:
        conn, _ = ctl.accept()
        with conn:
            session(conn, path, size)


def session(conn: socket.socket, path: str, size: int) -> None:
    f = conn.makefile("rwb", buffering=0)
    send = lambda s: f.write(s.encode() + b"\r\n")  # noqa: E731
    send("220 baseline")
    data_l = None
    for raw in f:
        verb = raw.decode(errors="replace").strip().split(" ")[0].upper()
        if verb == "USER":
            send("331 ok")
        elif verb == "PASS":
            send("230 ok")
        elif verb == "PWD":
            send('257 "/"')
        elif verb == "TYPE":
            send("200 ok")
        elif verb == "SIZE":
            send(f"213 {size}")
        elif verb in ("EPSV", "PASV"):
            data_l = socket.socket()
            data_l.bind(("127.0.0.1", 0))
            data_l.listen(1)
            p = data_l.getsockname()[1]
            if verb == "EPSV":
                send(f"229 Entering Extended Passive Mode (|||{p}|)")
            else:
                send(f"227 Entering Passive Mode (127,0,0,1,{p >> 8},{p & 255})")
        elif verb == "RETR" and data_l is not None:
            send("150 sending")
            d, _ = data_l.accept()
            with open(path, "rb") as src, d:
                off = 0
                while off < size:
                    off += os.sendfile(d.fileno(), src.fileno(), off, size - off)
            data_l.close()
            data_l = None
            send("226 done")
        elif verb == "QUIT":
            send("221 bye")
            return
        else:
            send("502 no")


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
