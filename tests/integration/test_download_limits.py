#!/usr/bin/env python3
"""What a download does at its limits (issue 11): the cache disk cannot take it, or the upstream
is too slow.

Disk: the cache directory is a small tmpfs the test mounts (root only; unmounted in cleanup).
  * a blob larger than the free space is delivered complete and verified to every client, and
    is not in the store afterwards;
  * on a full disk uncached blobs are still served, and the log says so once, not per blob;
  * a download that fills the disk half-way (a chunked body, so its size is not known up front)
    goes on uncached, and its clients get every byte;
  * a client that stops reading while an uncached download runs past the memory window is
    reset, never handed holes.
Slow upstreams (a small HTTP server of the test's own on 127.0.0.1 as regcache's upstream):
  * a trickle (one byte per second after a normal head) ends, after the rate window, with the
    clients reset and nothing published; so does an upstream that goes silent;
  * a request that times out on a reused pooled connection is not retried on a new one;
  * readers see bytes soon after they arrive: the upstream pauses after 10 KiB and the client
    must hold (nearly) all of them before the upstream sends more (before, readers waited for a
    1 MiB write).
No timing is asserted except generous bounds; counts of bytes and connections decide.

Run: python3 tests/integration/test_download_limits.py --regcache build/regcache
"""

import http.server
import os
import random
import select
import socketserver
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402

PASS_THROUGH_LINE = "pass through to their clients uncached"


def random_bytes(size, seed):
    return random.Random(seed).randbytes(size)


def read_blob(port, path, timeout=60, rcvbuf=None, before_body=None):
    """GET path on a fresh connection. Returns (status, body, error): error is None for a
    complete response, else what cut it short (a reset, a short body)."""
    conn = rt.RawHTTP(port, timeout=timeout, rcvbuf=rcvbuf)
    try:
        conn.send(("GET %s HTTP/1.1\r\nHost: regcache\r\n\r\n" % path).encode())
        head = conn.read_head()
        if head is None:
            return None, b"", "closed before a status line"
        if before_body:
            before_body(conn)
        chunks = []
        try:
            conn.read_body(head, sink=chunks.append)
        except (ValueError, OSError) as e:
            return head.status, b"".join(chunks), repr(e)
        return head.status, b"".join(chunks), None
    finally:
        conn.close()


def log_with(rc, mark, text, timeout=10):
    """The log since `mark` once it holds `text` (the log is written by a background flusher),
    after a moment more for any repeat to show."""
    rt.poll(lambda: text in rc.log_since(mark), timeout, what="%r in the log" % text)
    time.sleep(0.3)
    return rc.log_since(mark)


def concurrently(fns):
    """Runs each fn in its own thread; returns their results in order."""
    results = [None] * len(fns)

    def run(i, fn):
        try:
            results[i] = fn()
        except Exception as e:  # noqa: BLE001 - reported by the caller's assertion
            results[i] = ("exception", repr(e))

    threads = [threading.Thread(target=run, args=(i, fn), daemon=True) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    return results


# ----------------------------------------------------------------------------
# the test's own upstream

class TestUpstream(http.server.ThreadingHTTPServer):
    """Serves blobs at /v2/<mode>/blobs/<digest>; the repository name picks how:
      plain    Content-Length, at once
      chunked  Transfer-Encoding: chunked in 64 KiB chunks (the size is not known up front)
      trickle  Content-Length, then one byte per second
      silent   Content-Length, then nothing
      paced    Content-Length, then `pace` pieces, each sent once the test sets its event
    With hang_heads set, a request gets no answer at all.
    """
    daemon_threads = True
    block_on_close = False

    def __init__(self):
        self.blobs = {}            # digest -> bytes
        self.connections = 0       # TCP connections accepted
        self.pace = []             # paced: [(bytes, threading.Event)], in order
        self.sent_paced = 0        # paced: bytes sent so far
        self.hang_heads = False    # True: requests get no answer at all
        self.stop = threading.Event()
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _UpstreamHandler)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def add(self, data):
        digest = rt.sha256_bytes(data)
        self.blobs[digest] = data
        return digest


class _UpstreamHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def wait_for_close(self, seconds):
        """Waits (bounded) until the peer closes the connection or the test ends."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.server.stop.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.2)
            if readable:
                try:
                    if not self.connection.recv(4096):
                        return
                except OSError:
                    return

    def do_GET(self):
        if self.path in ("/v2/", "/v2"):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            return
        if self.server.hang_heads:
            self.wait_for_close(60)
            self.close_connection = True
            return
        parts = self.path.split("/")
        mode, digest = parts[2], parts[-1]
        body = self.server.blobs.get(digest)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 64 * rt.KiB):
                piece = body[i:i + 64 * rt.KiB]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.flush()
        try:
            if mode == "plain":
                self.wfile.write(body)
            elif mode == "trickle":
                for i in range(len(body)):  # bounded by the body; ends when regcache hangs up
                    if self.server.stop.is_set():
                        break
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    time.sleep(1)
            elif mode == "silent":
                self.wait_for_close(60)
            elif mode == "paced":
                offset = 0
                for size, event in self.server.pace:
                    if not event.wait(60):
                        break
                    self.wfile.write(body[offset:offset + size])
                    self.wfile.flush()
                    offset += size
                    with self.server.lock:
                        self.server.sent_paced = offset
        except OSError:
            pass  # regcache hung up: expected for the cut-off modes
        if mode != "plain":
            self.close_connection = True


# ----------------------------------------------------------------------------
# the cache on a small tmpfs

class Tmpfs:
    def __init__(self, path, size_bytes):
        self.path = path
        os.makedirs(path, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0755" % size_bytes, "tmpfs",
                        path], check=True, timeout=30)

    def free_bytes(self):
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self, leave_bytes=0):
        """Writes a filler file until only about `leave_bytes` are free (0: until ENOSPC)."""
        filler = os.path.join(self.path, "filler-%d" % len(os.listdir(self.path)))
        with open(filler, "wb") as f:
            for _ in range(100000):  # bounded: the tmpfs is small
                room = self.free_bytes() - leave_bytes
                if room <= 0:
                    break
                try:
                    f.write(b"\0" * min(room, rt.MiB))
                    f.flush()
                except OSError:
                    break
        return filler

    def unmount(self):
        subprocess.run(["umount", "-l", self.path], timeout=30)


def tmp_files(rc):
    return os.listdir(os.path.join(rc.cache_dir, "tmp"))


@unittest.skipUnless(os.geteuid() == 0, "mounting a tmpfs needs root")
class CacheDiskLimits(unittest.TestCase):
    """Each test: a fresh 16 MiB tmpfs and a fresh regcache on it."""

    DISK_BYTES = 16 * rt.MiB
    BIG_BYTES = 40 * rt.MiB

    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        layout = os.path.join(cls.tmp, "src")
        cls.img = rt.make_oci_image(layout, "v1", [cls.BIG_BYTES, 64 * rt.KiB, 96 * rt.KiB,
                                                   4 * rt.KiB], seed=1111)
        cls.big = cls.img.layer_digests[0]
        cls.small = cls.img.layer_digests[1:] + [cls.img.config_digest]
        cls.registry = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.registry.stop)
        rt.push(layout, "v1", cls.registry, "limits/app")
        cls.upstream = TestUpstream()
        threading.Thread(target=cls.upstream.serve_forever, daemon=True).start()
        cls.addClassCleanup(cls.upstream.server_close)
        cls.addClassCleanup(cls.upstream.shutdown)
        cls.chunked = cls.upstream.add(random_bytes(10 * rt.MiB, 2222))
        cls.count = 0

    def start_regcache(self, upstream_url, extra_args=()):
        type(self).count += 1
        name = "rc%d" % self.count
        disk = Tmpfs(os.path.join(self.tmp, name + "-disk"), self.DISK_BYTES)
        self.addCleanup(disk.unmount)
        rc = rt.Regcache(rt.REGCACHE, self.tmp, upstream_url, cache_dir=disk.path, name=name,
                         extra_args=list(extra_args))
        rc.start()
        self.addCleanup(rc.stop)
        return rc, disk

    def blob_path(self, digest, repo="limits/app"):
        return "/v2/%s/blobs/%s" % (repo, digest)

    def assert_complete(self, result, digest, what):
        status, body, error = result
        self.assertEqual((status, error), (200, None), "%s: %d bytes" % (what, len(body)))
        self.assertEqual(rt.sha256_bytes(body), digest, what)

    def assert_not_cached(self, rc, digest):
        self.assertFalse(os.path.exists(rc.cache_blob_path(digest)), "%s was cached" % digest)
        rt.poll(lambda: tmp_files(rc) == [], 10, what="tmp/ to be empty")
        self.assertEqual(rc.bad_published_files(), [])

    def test_a_blob_larger_than_the_free_space_reaches_every_client_uncached(self):
        rc, disk = self.start_regcache(self.registry.url)
        self.assertLess(disk.free_bytes(), self.BIG_BYTES)
        mark = rc.log_mark()
        results = concurrently([lambda: read_blob(rc.port, self.blob_path(self.big))] * 3)
        for i, result in enumerate(results):
            self.assert_complete(result, self.big, "client %d" % i)
        self.assert_not_cached(rc, self.big)
        log = log_with(rc, mark, "larger than the cache disk's free space")
        self.assertEqual(log.count("larger than the cache disk's free space"), 1, log)
        # Nothing was written to the disk for it.
        self.assertGreater(disk.free_bytes(), self.DISK_BYTES - 2 * rt.MiB)
        # A small blob still goes to the cache, and that ends the condition.
        self.assert_complete(read_blob(rc.port, self.blob_path(self.small[0])), self.small[0],
                             "small blob")
        rt.poll(lambda: os.path.exists(rc.cache_blob_path(self.small[0])), 10,
                what="the small blob to be cached")
        log_with(rc, mark, "downloads go to the cache disk again")

    def test_a_full_disk_still_serves_uncached_blobs_and_says_so_once(self):
        rc, disk = self.start_regcache(self.registry.url)
        disk.fill()
        mark = rc.log_mark()
        for round_ in range(2):
            for digest in self.small:
                self.assert_complete(read_blob(rc.port, self.blob_path(digest)), digest,
                                     "round %d, %s" % (round_, digest))
        for digest in self.small:
            self.assert_not_cached(rc, digest)
        log = log_with(rc, mark, PASS_THROUGH_LINE)
        self.assertEqual(log.count(PASS_THROUGH_LINE), 1, log)
        self.assertTrue(rc.alive())

    def test_a_full_disk_with_chunked_bodies_says_so_once(self):
        # No Content-Length: the writes fail (ENOSPC) and the download switches at its first byte.
        rc, disk = self.start_regcache(self.upstream.url)
        disk.fill()
        mark = rc.log_mark()
        for attempt in range(2):
            self.assert_complete(read_blob(rc.port, self.blob_path(self.chunked, "chunked/x")),
                                 self.chunked, "attempt %d" % attempt)
        self.assert_not_cached(rc, self.chunked)
        log = log_with(rc, mark, PASS_THROUGH_LINE)
        self.assertEqual(log.count(PASS_THROUGH_LINE), 1, log)
        self.assertIn("the cache disk is full (No space left on device)", log)

    def test_a_download_that_fills_the_disk_midway_goes_on_uncached(self):
        rc, disk = self.start_regcache(self.upstream.url)
        disk.fill(leave_bytes=3 * rt.MiB)
        mark = rc.log_mark()
        path = self.blob_path(self.chunked, "chunked/x")
        results = concurrently([lambda: read_blob(rc.port, path)] * 2)
        for i, result in enumerate(results):
            self.assert_complete(result, self.chunked, "client %d" % i)
        self.assert_not_cached(rc, self.chunked)
        log = log_with(rc, mark, "the cache disk is full")
        self.assertRegex(log, r"after [1-9][0-9]* bytes\)")  # it did switch midway
        # The partial temp file's space came back once the download ended.
        rt.poll(lambda: disk.free_bytes() > 2 * rt.MiB, 10, what="the temp file's space back")

    def test_a_client_that_falls_behind_an_uncached_download_is_reset(self):
        rc, _disk = self.start_regcache(self.registry.url, ["--uncached-window-bytes", "1048576",
                                                            "--uncached-reader-stall-ms", "1000"])
        path = self.blob_path(self.big)
        stalled = threading.Event()
        go_on = threading.Event()

        stalled_at = []

        def stall(_conn):
            stalled_at.append(time.monotonic())
            stalled.set()
            go_on.wait(120)

        results = [None, None]

        def slow_client():
            results[1] = read_blob(rc.port, path, rcvbuf=64 * rt.KiB, before_body=stall)

        slow = threading.Thread(target=slow_client, daemon=True)
        slow.start()
        self.assertTrue(stalled.wait(30))
        results[0] = read_blob(rc.port, path)  # a reader that keeps up, meanwhile
        # The reset comes once the client has been a whole window behind for the stall time
        # (1 s here); the reader above may be done sooner (a fast loopback), so the stall is held
        # for three times that from its start, whatever the machine's speed.
        time.sleep(max(0.0, stalled_at[0] + 3.0 - time.monotonic()))
        go_on.set()
        slow.join(120)
        self.assert_complete(results[0], self.big, "the reader that kept up")
        status, body, error = results[1]
        self.assertEqual(status, 200)
        self.assertIsNotNone(error, "the stalled client got a complete response")
        self.assertLess(len(body), self.BIG_BYTES)
        # What it did get is the blob's start, never a hole.
        self.assertEqual(body, self.registry_blob_prefix(len(body)))
        self.assert_not_cached(rc, self.big)

    def registry_blob_prefix(self, size):
        r = self.registry.get(self.blob_path(self.big), timeout=60)
        return r.body[:size]


class SlowUpstreams(unittest.TestCase):
    READ_TIMEOUT_MS = 2000
    WINDOW_MS = 3000
    MIN_RATE = 100

    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        cls.upstream = TestUpstream()
        threading.Thread(target=cls.upstream.serve_forever, daemon=True).start()
        cls.addClassCleanup(cls.upstream.server_close)
        cls.addClassCleanup(cls.upstream.shutdown)
        cls.addClassCleanup(cls.upstream.stop.set)
        cls.rc = rt.Regcache(rt.REGCACHE, cls.tmp, cls.upstream.url, extra_args=[
            "--upstream-read-timeout-ms", str(cls.READ_TIMEOUT_MS),
            "--upstream-min-bytes-per-s", str(cls.MIN_RATE),
            "--upstream-rate-window-ms", str(cls.WINDOW_MS)])
        cls.rc.start()
        cls.addClassCleanup(cls.rc.stop)

    def assert_cut_off(self, results, size):
        for i, (status, body, error) in enumerate(results):
            self.assertEqual(status, 200, "client %d" % i)
            self.assertIsNotNone(error, "client %d got a complete response" % i)
            self.assertLess(len(body), size, "client %d" % i)

    def assert_nothing_published(self, digest):
        self.assertFalse(os.path.exists(self.rc.cache_blob_path(digest)))
        rt.poll(lambda: tmp_files(self.rc) == [], 10, what="tmp/ to be empty")

    def test_a_trickling_upstream_is_cut_after_the_rate_window_and_nothing_is_published(self):
        size = 200
        digest = self.upstream.add(random_bytes(size, 3333))
        mark = self.rc.log_mark()
        started = time.monotonic()
        path = "/v2/trickle/x/blobs/%s" % digest
        results = concurrently([lambda: read_blob(self.rc.port, path)] * 2)
        elapsed = time.monotonic() - started
        self.assert_cut_off(results, size)
        # The window is 3 s of waiting; a byte a second would have taken 200 s.
        self.assertLess(elapsed, 60)
        log = log_with(self.rc, mark,
                       "below %d bytes/s (--upstream-min-bytes-per-s)" % self.MIN_RATE)
        self.assertIn("readers reset", log)
        self.assert_nothing_published(digest)

    def test_a_silent_upstream_is_cut_after_the_read_timeout(self):
        size = 5000
        digest = self.upstream.add(random_bytes(size, 4444))
        mark = self.rc.log_mark()
        results = concurrently([lambda: read_blob(self.rc.port, "/v2/silent/x/blobs/" + digest)])
        self.assert_cut_off(results, size)
        log_with(self.rc, mark, "no byte for %d ms" % self.READ_TIMEOUT_MS)
        self.assert_nothing_published(digest)

    def test_a_head_timeout_on_a_reused_connection_is_not_retried(self):
        first = self.upstream.add(random_bytes(1000, 7777))
        status, _body, error = read_blob(self.rc.port, "/v2/plain/x/blobs/" + first)
        self.assertEqual((status, error), (200, None))
        # The download gives its connection back to the pool once it has published the blob.
        rt.poll(lambda: os.path.exists(self.rc.cache_blob_path(first)), 10, what="publication")
        time.sleep(0.5)
        before = self.upstream.connections
        with self.upstream.lock:
            self.upstream.hang_heads = True
        try:
            started = time.monotonic()
            r = self.rc.get("/v2/plain/x/blobs/%s" % self.upstream.add(b"never sent"))
            elapsed = time.monotonic() - started
        finally:
            with self.upstream.lock:
                self.upstream.hang_heads = False
        self.assertEqual(r.status, 502, r)
        self.assertEqual(self.upstream.connections, before,
                         "a new upstream connection was opened for the retry")
        # One read timeout (2 s), not two; generous bound.
        self.assertLess(elapsed, 2 * self.READ_TIMEOUT_MS / 1000.0 + 10)


class ReadersSeeBytesSoon(unittest.TestCase):
    """Default limits; the upstream sends 10 KiB, then waits for the test."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        cls.upstream = TestUpstream()
        threading.Thread(target=cls.upstream.serve_forever, daemon=True).start()
        cls.addClassCleanup(cls.upstream.server_close)
        cls.addClassCleanup(cls.upstream.shutdown)
        cls.addClassCleanup(cls.upstream.stop.set)
        cls.rc = rt.Regcache(rt.REGCACHE, cls.tmp, cls.upstream.url)
        cls.rc.start()
        cls.addClassCleanup(cls.rc.stop)

    def test_followers_get_the_bytes_before_the_upstream_sends_more(self):
        steps = [10 * rt.KiB, 5 * rt.KiB, 2 * rt.MiB]
        data = random_bytes(sum(steps), 8888)
        digest = self.upstream.add(data)
        self.upstream.pace = [(size, threading.Event()) for size in steps]
        path = "/v2/paced/x/blobs/" + digest
        clients = [rt.RawHTTP(self.rc.port, timeout=30) for _ in range(2)]
        self.addCleanup(lambda: [c.close() for c in clients])
        self.addCleanup(lambda: [event.set() for _size, event in self.upstream.pace])
        for c in clients:
            c.send(("GET %s HTTP/1.1\r\nHost: regcache\r\n\r\n" % path).encode())
        received = [bytearray(), bytearray()]
        sent = 0
        latencies = []
        for size, event in self.upstream.pace[:-1]:
            event.set()
            sent_at = time.monotonic()
            sent += size
            if not received[0]:
                for c in clients:
                    self.assertEqual(c.read_head().status, 200)
            for i, c in enumerate(clients):
                # All but the last byte may be sent before verification; the upstream sends
                # nothing more until every client has them (or the 30 s socket timeout fails).
                while len(received[i]) < sent - 1:
                    chunk = c.rfile.read1(64 * rt.KiB)
                    self.assertTrue(chunk, "client %d: connection closed" % i)
                    received[i] += chunk
                self.assertEqual(bytes(received[i]), data[:len(received[i])])
            latencies.append(time.monotonic() - sent_at)
        # Generous: the bound the code keeps is 100 ms; a loaded machine is slower.
        self.assertLess(max(latencies), 5.0, latencies)
        self.upstream.pace[-1][1].set()
        for i, c in enumerate(clients):
            while len(received[i]) < len(data):  # bounded by the body (and the socket timeout)
                chunk = c.rfile.read1(rt.MiB)
                self.assertTrue(chunk, "client %d: connection closed" % i)
                received[i] += chunk
            self.assertEqual(rt.sha256_bytes(bytes(received[i])), digest)
        print("latency of the paced pieces: %s ms" % [round(x * 1000) for x in latencies],
              file=sys.stderr)
        rt.poll(lambda: os.path.exists(self.rc.cache_blob_path(digest)), 10,
                what="the paced blob to be cached")


if __name__ == "__main__":
    rt.main()
