#!/usr/bin/env python3
"""Read rate of a checkpoint's shards, the yardstick for load times: once with O_DIRECT (the disk itself, the page
cache bypassed; refused on some filesystems, e.g. tmpfs or some overlays) and once buffered (after that read, so
the page cache holds whatever fits: the rate a from_pretrained or lmprobe load just after sees). With --drop-caches
it first tries to drop the whole machine's page cache (root outside a restricted container; only on a machine of
one's own) and says whether it could. Prints one JSON object on stdout.

  python3 bench/gpu/disk_read.py /tmp/lmprobe-models/llama3.1-8b [--drop-caches]
"""
import glob
import json
import mmap
import os
import subprocess
import sys
import time

CHUNK = 16 << 20


def read_all(files, direct):
    buf = mmap.mmap(-1, CHUNK)  # page-aligned, as O_DIRECT requires
    total, t0 = 0, time.perf_counter()
    for path in files:
        fd = os.open(path, os.O_RDONLY | (os.O_DIRECT if direct else 0))
        try:
            while True:
                n = os.readv(fd, [buf])
                total += n
                if n < CHUNK:
                    break
        finally:
            os.close(fd)
    s = time.perf_counter() - t0
    return {"bytes": total, "seconds": round(s, 3), "bytes_per_s": round(total / s)}


def drop_caches():
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError as err:
        return f"not dropped: {err}"


def main():
    folder = next(a for a in sys.argv[1:] if not a.startswith("--"))
    files = sorted(glob.glob(os.path.join(folder, "*.safetensors")))
    if not files:
        raise SystemExit(f"disk_read: no *.safetensors in {folder}")
    df = subprocess.run(["df", "-T", folder], capture_output=True, text=True).stdout.strip().splitlines()[-1].split()
    doc = {"folder": folder, "files": len(files), "filesystem": df[1] if len(df) > 1 else "?", "page_cache_dropped": drop_caches() if "--drop-caches" in sys.argv else "not asked"}
    try:
        doc["direct"] = read_all(files, True)
    except OSError as err:
        doc["direct"] = f"O_DIRECT refused: {err}"
    doc["buffered_after"] = read_all(files, False)
    print(json.dumps(doc))


if __name__ == "__main__":
    main()
