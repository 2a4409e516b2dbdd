#!/usr/bin/env python3
"""Start-up time of regcache on a large cache: how long loading the blob index takes with
blob-index present (a restart) and without it (a rebuild from the directory), for a cache of
--blobs verified files (100,000 by default).

The cache is made once (--cache-dir keeps it between runs): every file is a small random blob
stored under its own sha256, as regcache would have published it. File sizes do not matter
here: start-up lists names and stats files, it never reads them (the scrub does, later, at its
own rate). Each run starts regcache, waits until /v2/ answers, reads the index line it logs,
and stops it with SIGTERM (which saves blob-index).

  bench/index_startup.py                      # 100,000 blobs in a temp dir, 3 runs each
  bench/index_startup.py --blobs 20000 --runs 1 --cache-dir /srv/bench-cache

The page cache stays warm (dropping it would slow everything else on a shared machine): the
numbers are those of a restart, not of a cold boot on a spinning disk.
"""

import argparse
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import regtest as rt  # noqa: E402


def make_blob_cache(cache_dir, count, seed=1):
    """Writes `count` verified blobs (64 B to 4 KiB of random bytes) under
    cache_dir/blobs/sha256/<2 hex>/<64 hex>. Returns how many files were already there."""
    blobs = os.path.join(cache_dir, "blobs", "sha256")
    for i in range(256):
        os.makedirs(os.path.join(blobs, "%02x" % i), exist_ok=True)
    have = sum(len(os.listdir(os.path.join(blobs, "%02x" % i))) for i in range(256))
    rng = random.Random(seed)
    for n in range(have, count):
        data = rng.randbytes(rng.randint(64, 4096)) + n.to_bytes(8, "little")
        hexd = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, hexd[:2], hexd), "wb") as f:
            f.write(data)
    return have


def start_once(binary, cache_dir, port):
    """Starts regcache, waits for /v2/, stops it. Returns (index line, ms to ready)."""
    args = [binary, "--listen", "127.0.0.1:%d" % port, "--cache-dir", cache_dir,
            "--upstream", "http://127.0.0.1:9", "--no-access-log"]
    started = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    ready_ms = None
    try:
        for _ in range(6000):  # bounded: 600 s
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/v2/" % port, timeout=1) as r:
                    if r.status == 200:
                        ready_ms = (time.monotonic() - started) * 1000
                        break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _out, err = proc.communicate()
    text = err.decode(errors="replace")
    line = next((x for x in text.splitlines() if "regcache: index:" in x), "(no index line)")
    return line, ready_ms


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--regcache", default=None)
    parser.add_argument("--blobs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    binary = args.regcache or next(
        (p for p in (os.path.join(root, "build-release", "regcache"),
                     os.path.join(root, "build", "regcache")) if os.access(p, os.X_OK)), None)
    if binary is None:
        sys.exit("no regcache binary: give --regcache PATH")
    cache_dir = args.cache_dir or tempfile.mkdtemp(prefix="regcache-index-bench-")
    made = time.monotonic()
    had = make_blob_cache(cache_dir, args.blobs)
    print("cache %s: %d blobs (%d made in %.1f s)" % (cache_dir, args.blobs, args.blobs - had,
                                                       time.monotonic() - made))
    index_file = os.path.join(cache_dir, "blob-index")
    results = {"rebuild (no blob-index)": [], "restart (blob-index)": []}
    for _ in range(args.runs):
        if os.path.exists(index_file):
            os.unlink(index_file)
        for kind in results:
            line, ready_ms = start_once(binary, cache_dir, rt.free_port())
            m = re.search(r" in (\d+) ms", line)
            results[kind].append((int(m.group(1)) if m else None, ready_ms))
            print("  %-24s %s | ready after %s ms" % (
                kind, line.split("index: ", 1)[-1],
                "%.0f" % ready_ms if ready_ms is not None else "never"))
    print("\n| %d blobs | index load (ms) | start to first answer (ms) |" % args.blobs)
    print("|---|---|---|")
    for kind, runs in results.items():
        loads = sorted(r[0] for r in runs if r[0] is not None)
        ready = sorted(r[1] for r in runs if r[1] is not None)
        print("| %s | %s | %s |" % (kind, loads[len(loads) // 2] if loads else "-",
                                    "%.0f" % ready[len(ready) // 2] if ready else "-"))
    if args.cache_dir is None:
        shutil.rmtree(cache_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
