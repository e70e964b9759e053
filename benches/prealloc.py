#!/usr/bin/env python3
"""What preallocation would save an upload's writer: the kernel CPU of writing SIZE_MIB
(default 1 GiB) into a new file with 256 KiB pwrite(2)s, plain against after
fallocate(FALLOC_FL_KEEP_SIZE) to the final size (ext4 then skips delayed allocation).
Interleaved, default 9 rounds; the file system is synced before each run, outside the
timing. Usage: benches/prealloc.py [DIR] [ROUNDS] [SIZE_MIB]. No griddock involved: it
bounds what an ALLO/size-hint preallocation in griddock could gain at most."""
import ctypes
import os
import resource
import statistics
import sys
import time

FALLOC_FL_KEEP_SIZE = 1
libc = ctypes.CDLL(None, use_errno=True)


def run(path, size, prealloc, chunk):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    os.sync()
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        if prealloc and libc.fallocate(fd, FALLOC_FL_KEEP_SIZE, ctypes.c_long(0), ctypes.c_long(size)) != 0:
            raise OSError(ctypes.get_errno(), "fallocate")
        off = 0
        while off < size:
            off += os.pwrite(fd, chunk, off)
    finally:
        os.close(fd)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return time.monotonic() - t0, r1.ru_stime - r0.ru_stime


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "."
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    size = (int(sys.argv[3]) if len(sys.argv) > 3 else 1024) << 20
    path = os.path.join(directory, ".prealloc-bench.bin")
    chunk = os.urandom(256 << 10)
    res = {"plain": [], "fallocate": []}
    try:
        for i in range(rounds):
            order = ["plain", "fallocate"] if i % 2 == 0 else ["fallocate", "plain"]
            for mode in order:
                res[mode].append(run(path, size, mode == "fallocate", chunk))
    finally:
        if os.path.exists(path):
            os.unlink(path)
    gib = size / (1 << 30)
    for mode, v in res.items():
        wall = sorted(x[0] for x in v)
        sys_t = sorted(x[1] / gib for x in v)
        print(f"{mode:9} wall median {statistics.median(wall):.3f} s ({wall[0]:.3f}-{wall[-1]:.3f}), "
              f"system CPU {statistics.median(sys_t):.3f} s/GiB ({sys_t[0]:.3f}-{sys_t[-1]:.3f})")


if __name__ == "__main__":
    main()
