#!/usr/bin/env python3
"""Bounded disk, the blob index and rot (issue 11):

  * a pull sequence larger than --cache-max-size keeps blobs/ under it (du), and evicted
    images pull again;
  * a blob being read by a slow client (a hit, and a miss followed past its publish) is not
    evicted while it is read;
  * a restart keeps the index (no rebuild, last uses kept even when file times lie);
  * kill -9 during eviction leaves a consistent cache: every remaining blob verifies and
    everything still pulls;
  * --min-free on a small tmpfs the test mounts (and unmounts) keeps that much free;
  * a truncated file is found on a hit, a flipped byte and a truncated file by the scrub;
    neither is ever served, and the client gets the right blob, fetched again.

Every wait is a bounded poll; nothing asserts how long anything took.

Run: python3 tests/integration/test_disk_limits.py --regcache build/regcache
"""

import hashlib
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402

SEQUENCE = 8                  # images seq0..seq7, one 6 MiB layer each
SEQUENCE_LAYER = 6 * rt.MiB
BIG_LAYER = 16 * rt.MiB


def du_bytes(path):
    """What du says a directory tree takes on disk, in bytes (files and directories). A file
    the evictor removes while du walks makes du exit 1 after printing the total: still the
    total of what it found."""
    r = subprocess.run(["du", "-s", "--block-size=1", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if r.returncode not in (0, 1) or not r.stdout.split():
        raise RuntimeError("du %s: %s" % (path, r.stderr.decode(errors="replace")))
    return int(r.stdout.split()[0])


def read_blob_index(cache_dir):
    """Parses <cache-dir>/blob-index (registry/cache/index_snapshot.h): {digest: (size,
    last use, hits, priority)}."""
    with open(os.path.join(cache_dir, "blob-index"), "rb") as f:
        data = f.read()
    assert data[:8] == b"RCBLOBIX", data[:8]
    count = struct.unpack_from("<Q", data, 16)[0]
    out = {}
    for i in range(count):
        at = 64 + 64 * i
        digest = "sha256:" + data[at:at + 32].hex()
        out[digest] = struct.unpack_from("<QqQQ", data, at + 32)
    return out


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


class SlowReader(threading.Thread):
    """A client reading a blob at about 1 MiB/s with a small, fixed receive buffer (Linux
    would otherwise grow it to tcp_rmem's maximum, 32 MiB here, and regcache would finish
    sending long before the client finished reading). `result`: (status, sha256 of body)."""

    def __init__(self, port, path, bytes_per_s=1 * rt.MiB):
        super().__init__(daemon=True)
        self.port, self.path, self.rate = port, path, bytes_per_s
        self.received = 0
        self.result = None
        self.start()

    def run(self):
        with rt.RawHTTP(self.port, timeout=60) as conn:
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 128 * rt.KiB)
            conn.send(("GET %s HTTP/1.1\r\nHost: regcache\r\n\r\n" % self.path).encode())
            head = conn.read_head()
            left = int(head.header("Content-Length"))
            digest = hashlib.sha256()
            started = time.monotonic()
            for _ in range(1 << 20):  # bounded by the body
                if left == 0:
                    break
                chunk = conn.rfile.read(min(left, 64 * rt.KiB))
                if not chunk:
                    break
                digest.update(chunk)
                left -= len(chunk)
                self.received += len(chunk)
                ahead = self.received / self.rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            self.result = (head.status, "sha256:" + digest.hexdigest() if left == 0 else None)


class DiskLimits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        layout = os.path.join(cls.tmp, "src")
        cls.seq = [rt.make_oci_image(layout, "seq%d" % i, [SEQUENCE_LAYER], seed=100 + i)
                   for i in range(SEQUENCE)]
        cls.big = rt.make_oci_image(layout, "big", [BIG_LAYER], seed=200)
        cls.big2 = rt.make_oci_image(layout, "big2", [BIG_LAYER], seed=201)
        cls.small = [rt.make_oci_image(layout, "small%d" % i, [1 * rt.MiB, 512 * rt.KiB],
                                       seed=300 + i) for i in range(3)]
        cls.rot = rt.make_oci_image(layout, "rot", [2 * rt.MiB, 2 * rt.MiB + 7, 1 * rt.MiB],
                                    seed=400)
        cls.upstream = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.upstream.stop)
        for i in range(SEQUENCE):
            rt.push(layout, "seq%d" % i, cls.upstream, "disk/seq%d" % i, tag="v1")
        rt.push(layout, "big", cls.upstream, "disk/big", tag="v1")
        rt.push(layout, "big2", cls.upstream, "disk/big2", tag="v1")
        for i in range(3):
            rt.push(layout, "small%d" % i, cls.upstream, "disk/small%d" % i, tag="v1")
        rt.push(layout, "rot", cls.upstream, "disk/rot", tag="v1")
        cls.pulls = 0

    # -- helpers -------------------------------------------------------------------------

    def regcache(self, name, *extra, cache_dir=None):
        rc = rt.Regcache(rt.REGCACHE, self.tmp, self.upstream.url, name=name,
                         cache_dir=cache_dir, extra_args=list(extra))
        self.addCleanup(rc.stop)
        return rc

    def pull(self, rc, repo, image):
        """Pulls repo:v1 through rc; skopeo verifies every digest. Asserts the image."""
        type(self).pulls += 1
        out = os.path.join(self.tmp, "pull-%d" % self.pulls)
        top, _mt, digests = rt.pull(rc.host, "%s:v1" % repo, out, timeout=180)
        shutil.rmtree(out, ignore_errors=True)
        self.assertEqual(top, image.manifest_digest)
        self.assertEqual(digests, image.all_digests)

    def blobs_du(self, rc):
        return du_bytes(os.path.join(rc.cache_dir, "blobs"))

    def wait_under(self, rc, limit, what):
        return rt.poll(lambda: self.blobs_du(rc) <= limit, 30, 0.1,
                       what="%s: du of blobs/ <= %d (is %d)" % (what, limit, self.blobs_du(rc)))

    def assert_consistent(self, rc):
        """Every file under blobs/ is where its name says and hashes to it. A file the evictor
        removes during the walk is no bad file."""
        bad = []
        for path, expected in rc.published_files():
            try:
                got = rt.sha256_file(path)
            except FileNotFoundError:
                continue
            if got != expected:
                bad.append((path, got))
        self.assertEqual(bad, [])

    # -- cache size ----------------------------------------------------------------------

    def test_a_pull_sequence_larger_than_the_cache_limit_keeps_blobs_under_it(self):
        limit = 20 * rt.MiB
        rc = self.regcache("sequence", "--cache-max-size", "20m").start()
        for i, image in enumerate(self.seq):  # 48 MiB of layers through a 20 MiB cache
            self.pull(rc, "disk/seq%d" % i, image)
            self.wait_under(rc, limit, "after pulling seq%d" % i)
        self.assertIn("evicted", rc.log_text())
        self.assertIn("fewest hits and least recently used first", rc.log_text())
        # The oldest images were evicted; they pull again, and the cache stays bounded.
        self.assertFalse(os.path.exists(rc.cache_blob_path(self.seq[0].layer_digests[0])))
        self.pull(rc, "disk/seq0", self.seq[0])
        self.wait_under(rc, limit, "after pulling seq0 again")
        self.assert_consistent(rc)
        self.assertTrue(rc.alive())

    def test_cache_max_size_from_docker_registry_proxys_variable(self):
        rc = rt.Regcache(rt.REGCACHE, self.tmp, self.upstream.url, name="env-size",
                         extra_env={"CACHE_MAX_SIZE": "8m"})
        self.addCleanup(rc.stop)
        rc.start()
        self.assertIn("--cache-max-size 8.0 MiB", rc.log_text())
        for i in range(2):
            self.pull(rc, "disk/seq%d" % i, self.seq[i])
            self.wait_under(rc, 8 * rt.MiB, "after pulling seq%d" % i)

    def test_a_blob_being_read_is_not_evicted_while_it_is_read(self):
        # Two 16 MiB layers and a 30 MiB limit: once both are cached one of them must go,
        # whatever the policy prefers. Neither may while a client reads it: one is a hit
        # (a cached blob sent by splice), the other a miss (its client follows the download,
        # and keeps reading the published file after it).
        limit = 30 * rt.MiB
        rc = self.regcache("reader", "--cache-max-size", "30m").start()
        self.pull(rc, "disk/big", self.big)
        hit, miss = self.big.layer_digests[0], self.big2.layer_digests[0]
        self.assertTrue(os.path.isfile(rc.cache_blob_path(hit)))
        hit_reader = SlowReader(rc.port, "/v2/disk/big/blobs/" + hit)
        rt.poll(lambda: hit_reader.received > 0, 30, what="the hit's reader to start")
        miss_reader = SlowReader(rc.port, "/v2/disk/big2/blobs/" + miss)
        rt.poll(lambda: os.path.isfile(rc.cache_blob_path(miss)), 30,
                what="the followed download to be published")
        looks = []
        for _ in range(200):  # bounded: 20 s of looks
            # regcache holds a file open while it still has bytes of it to send: more than
            # the socket and pipe buffers can hold (8 MiB) is left.
            reading = [r.received < BIG_LAYER - 8 * rt.MiB for r in (hit_reader, miss_reader)]
            if not any(reading):
                break
            present = [os.path.exists(rc.cache_blob_path(d)) for d in (hit, miss)]
            looks.append([p for p, r in zip(present, reading) if r])
            time.sleep(0.1)
        self.assertRegex(rc.log_text(), r"\b[1-9][0-9]* (blobs )?being read",
                         "the evictor never had to pass over a blob being read")
        for reader, digest in ((hit_reader, hit), (miss_reader, miss)):
            reader.join(120)
            self.assertEqual(reader.result, (200, digest), "a slow reader got the wrong bytes")
        self.assertTrue(looks, "no check was made while the readers read")
        self.assertTrue(all(all(look) for look in looks),
                        "a blob was evicted while read: %r" % looks)
        self.wait_under(rc, limit, "after the readers finished")
        self.assert_consistent(rc)
        self.pull(rc, "disk/big2", self.big2)
        self.pull(rc, "disk/big", self.big)

    # -- the index ------------------------------------------------------------------------

    def test_a_restart_keeps_the_index_and_its_last_uses(self):
        rc = self.regcache("restart")
        rc.start()
        self.pull(rc, "disk/small0", self.small[0])
        time.sleep(1.1)  # last uses are in seconds: give the second image a later one
        self.pull(rc, "disk/small1", self.small[1])
        self.assertEqual(rc.stop()[0], 0)
        saved = read_blob_index(rc.cache_dir)
        for image in self.small[:2]:
            for digest in image.all_digests:
                self.assertIn(digest, saved)
        self.assertLess(saved[self.small[0].layer_digests[0]][1],
                        saved[self.small[1].layer_digests[0]][1])
        self.assertTrue(all(hits >= 1 for _s, _u, hits, _p in saved.values()))
        # File times that say otherwise (a rebuild would take them) must not matter.
        old = time.mktime((2001, 1, 1, 0, 0, 0, 0, 0, -1))
        for path, _digest in rc.published_files():
            os.utime(path, (old, old))
        mark = rc.log_mark()
        rc.start()
        since = rc.log_since(mark)
        self.assertIn("loaded from blob-index", since)
        self.assertNotIn("rebuilt", since)
        self.pull(rc, "disk/small2", self.small[2])
        self.assertEqual(rc.stop()[0], 0)
        again = read_blob_index(rc.cache_dir)
        for digest, record in saved.items():
            self.assertEqual(again.get(digest), record, digest)
        for digest in self.small[2].all_digests:
            self.assertIn(digest, again)

    def test_a_missing_or_damaged_index_is_rebuilt_from_the_directory(self):
        rc = self.regcache("rebuild")
        rc.start()
        self.pull(rc, "disk/small0", self.small[0])
        self.assertEqual(rc.stop()[0], 0)
        path = os.path.join(rc.cache_dir, "blob-index")
        flip_byte(path, os.path.getsize(path) // 2)
        mark = rc.log_mark()
        rc.start()
        self.assertIn("rebuilt from blobs/", rc.log_since(mark))
        self.assertIn("checksum", rc.log_since(mark))
        self.pull(rc, "disk/small0", self.small[0])
        self.assertEqual(rc.stop()[0], 0)
        self.assertEqual(set(read_blob_index(rc.cache_dir)), self.small[0].all_digests)

    # -- crash safety ---------------------------------------------------------------------

    def test_kill_9_during_eviction_leaves_a_consistent_cache(self):
        cache_dir = os.path.join(self.tmp, "kill9-cache")
        rc = self.regcache("kill9", "--cache-max-size", "16m", cache_dir=cache_dir)
        rc.start()
        for i, image in enumerate(self.small):  # manifests, tags and blobs through regcache
            self.pull(rc, "disk/small%d" % i, image)
        rc.stop()
        rng = random.Random(9)
        counts = []
        for attempt in range(6):
            # Thousands of small verified files, older than anything pulled: at start the
            # evictor removes most of them, and the kill lands somewhere in that work.
            for _ in range(1500):
                data = rng.randbytes(rng.randint(1, 8 * rt.KiB))
                digest = rt.sha256_bytes(data)
                p = rc.cache_blob_path(digest)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "wb") as f:
                    f.write(data)
                os.utime(p, (1e9, 1e9))
            before = len(rc.published_files())
            mark = rc.log_mark()
            rc.start(wait=False)
            rt.poll(lambda: "regcache: index:" in rc.log_since(mark), 30,
                    what="the index to be loaded")
            time.sleep(rng.uniform(0, 0.05))
            rc.kill9()
            after = len(rc.published_files())
            counts.append((before, after))
            self.assert_consistent(rc)
        print("kill -9 during eviction: files before/after each kill: %r" % counts,
              file=sys.stderr)
        rc.start()
        self.wait_under(rc, 16 * rt.MiB, "after the restarts")
        self.assert_consistent(rc)
        for i, image in enumerate(self.small):
            self.pull(rc, "disk/small%d" % i, image)
        self.assert_consistent(rc)
        self.assertTrue(rc.alive())

    # -- free space ------------------------------------------------------------------------

    def test_min_free_keeps_space_free_on_a_small_tmpfs(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        mount_point = os.path.join(self.tmp, "tmpfs")
        os.makedirs(mount_point)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "regcache-test",
                            mount_point], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs: %s" % r.stderr.decode().strip())
        self.addCleanup(lambda: subprocess.run(["umount", "-l", mount_point]))
        floor = 32 * rt.MiB  # 50% of 64 MiB

        def free_bytes():
            st = os.statvfs(mount_point)
            return st.f_bavail * st.f_frsize

        rc = self.regcache("min-free", "--min-free", "50%",
                           cache_dir=os.path.join(mount_point, "cache"))
        rc.start()
        for i, image in enumerate(self.seq):  # 48 MiB through a file system that keeps 32 free
            self.pull(rc, "disk/seq%d" % i, image)
            rt.poll(lambda: free_bytes() >= floor, 30, 0.1,
                    what="after seq%d: %d bytes free >= %d" % (i, free_bytes(), floor))
        self.assertIn("--min-free", rc.log_text())
        self.assert_consistent(rc)
        rc.stop()  # before the unmount (cleanups run last in, first out)

    # -- rot ---------------------------------------------------------------------------------

    def curl_blob(self, rc, digest):
        type(self).pulls += 1
        out = os.path.join(self.tmp, "blob-%d" % self.pulls)
        r = rt.curl(["-o", out, "-w", "%{http_code}", rc.url + "/v2/disk/rot/blobs/" + digest],
                    timeout=60)
        body = open(out, "rb").read() if os.path.exists(out) else b""
        return r.returncode, r.stdout.decode().strip(), body

    def assert_served_right(self, rc, digest):
        code, status, body = self.curl_blob(rc, digest)
        self.assertEqual((code, status), (0, "200"), digest)
        self.assertEqual(rt.sha256_bytes(body), digest, "a rotten file was served")

    def test_a_truncated_file_is_found_on_a_hit_and_never_served(self):
        rc = self.regcache("rot-hit", "--scrub-rate", "off").start()
        self.pull(rc, "disk/rot", self.rot)
        emptied, halved = self.rot.layer_digests[0], self.rot.layer_digests[1]
        os.truncate(rc.cache_blob_path(emptied), 0)
        os.truncate(rc.cache_blob_path(halved), os.path.getsize(rc.cache_blob_path(halved)) // 2)
        for digest in (emptied, halved):
            self.assert_served_right(rc, digest)
            self.assertIn("rot: %s: a hit found" % digest, rc.log_text())
            path = rc.cache_blob_path(digest)
            rt.poll(lambda: os.path.isfile(path) and rt.sha256_file(path) == digest, 30,
                    what="%s cached again, whole" % digest)
            self.assert_served_right(rc, digest)
        self.pull(rc, "disk/rot", self.rot)
        self.assert_consistent(rc)

    def test_the_scrub_finds_a_flipped_byte_and_a_truncated_file_and_neither_is_served(self):
        rc = self.regcache("rot-scrub", "--scrub-rate", "64m").start()
        self.pull(rc, "disk/rot", self.rot)
        flipped, cut = self.rot.layer_digests[1], self.rot.layer_digests[2]
        config = self.rot.config_digest
        flip_byte(rc.cache_blob_path(flipped), 12345)
        flip_byte(rc.cache_blob_path(config), 0)
        os.truncate(rc.cache_blob_path(cut), 1000)
        for digest, why in ((flipped, "do not hash to the digest"),
                            (config, "do not hash to the digest"),
                            (cut, "the scrub found 1000 bytes")):
            rt.poll(lambda: "rot: %s: " % digest in rc.log_text(), 60, 0.1,
                    what="the scrub to report %s" % digest)
            line = [x for x in rc.log_text().splitlines() if "rot: %s: " % digest in x][0]
            self.assertIn(why, line)
            self.assertIn("the scrub", line)
        for digest in (flipped, config, cut):
            self.assert_served_right(rc, digest)
        self.pull(rc, "disk/rot", self.rot)
        self.assert_consistent(rc)


if __name__ == "__main__":
    rt.main()
