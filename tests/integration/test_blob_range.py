#!/usr/bin/env python3
"""Range requests on blobs (RFC 9110 section 14) through regcache: single ranges of all three
forms, 416, invalid ranges ignored, If-Range, multipart/byteranges, curl -C - resuming, and
ranges of cold blobs while their single download runs (one upstream GET, counted at a
countingproxy front before a real docker-registry), also from an upstream that sends no
Content-Length. A blob whose upstream bytes do not match its digest never gives a complete
206, whichever range was asked.

Cold downloads are made to stay under way by the front: it stops every blob answer after a
number of bytes until the test releases it (hold_blob_bodies), so no test depends on timing.

Run: python3 tests/integration/test_blob_range.py --regcache build/regcache
"""

import os
import re
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import countingproxy as cp  # noqa: E402
import regtest as rt  # noqa: E402

REPO = "ranges"
# layer name: size. Each test that needs a cold blob has its own layer.
LAYERS = [
    ("cached", 3 * rt.MiB + 17),
    ("resume", 2 * rt.MiB + 333),
    ("resume-cold", 2 * rt.MiB + 777),
    ("cold-single", 6 * rt.MiB + 5),
    ("cold-inside", 6 * rt.MiB + 9),
    ("cold-many", 8 * rt.MiB + 3),
    ("cold-multi", 6 * rt.MiB + 1),
    ("chunked", 3 * rt.MiB + 41),
    ("chunked-invalid", 1 * rt.MiB + 43),
    ("tampered-middle", 32 * rt.MiB + 11),  # large enough that a 206 head goes out before the
    # download (and its digest check) can finish on loopback, so the reset path is what runs
    ("tampered-last", 32 * rt.MiB + 13),
]
TAMPERED = {"tampered-middle": "middle", "tampered-last": "last"}
HOLD_AFTER_BYTES = 2 * rt.MiB


def damage(path, where):
    size = os.path.getsize(path)
    offset = size // 2 if where == "middle" else size - 1
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


def parse_multipart(body, content_type):
    """[(content type, (first, last, size), data)] of a multipart/byteranges body, parsed
    strictly: the body is exactly the delimiters, part heads and parts."""
    m = re.fullmatch(r"multipart/byteranges; boundary=(\S+)", content_type)
    assert m, content_type
    delimiter = b"--" + m.group(1).encode()
    parts, at = [], 0
    for index in range(1000):  # bounded
        expected = (b"" if index == 0 else b"\r\n") + delimiter
        assert body.startswith(expected, at), (index, body[at:at + 100])
        at += len(expected)
        if body.startswith(b"--\r\n", at):
            assert at + 4 == len(body), "bytes after the close-delimiter"
            return parts
        assert body.startswith(b"\r\n", at)
        at += 2
        head_end = body.index(b"\r\n\r\n", at)
        fields = dict(line.split(": ", 1) for line in body[at:head_end].decode().split("\r\n"))
        at = head_end + 4
        cr = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", fields["Content-Range"])
        first, last, size = (int(x) for x in cr.groups())
        data = body[at:at + last - first + 1]
        at += len(data)
        parts.append((fields["Content-Type"], (first, last, size), data))
    raise AssertionError("too many parts")


class BlobRange(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        layout = os.path.join(cls.tmp, "src")
        cls.img = rt.make_oci_image(layout, "v1", [s for _n, s in LAYERS], seed=47)
        cls.digests = {name: d for (name, _s), d in zip(LAYERS, cls.img.layer_digests)}
        cls.data = {}
        for name, d in cls.digests.items():
            with open(os.path.join(layout, "blobs", "sha256", d.split(":", 1)[1]), "rb") as f:
                cls.data[name] = f.read()

        cls.upstream = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.upstream.stop)
        rt.push(layout, "v1", cls.upstream, REPO)
        for name, where in TAMPERED.items():
            damage(cls.upstream.blob_data_path(cls.digests[name]), where)
        cls.front = cp.CountingProxy("127.0.0.1", cls.upstream.port).start()
        cls.addClassCleanup(cls.front.stop)
        cls.rc = rt.Regcache(rt.REGCACHE, cls.tmp, cls.front.url).start()
        cls.addClassCleanup(cls.rc.stop)

    def tearDown(self):
        self.front.release_blob_bodies()
        self.front.chunked_blobs = False

    # -- helpers

    def path(self, name):
        return "/v2/%s/blobs/%s" % (REPO, self.digests[name])

    def get(self, name, headers=None, method="GET"):
        return self.rc.get(self.path(name), headers=headers, method=method)

    def etag(self, name):
        return '"%s"' % self.digests[name]

    def upstream_gets(self, name):
        return len([s for s in self.front.seen(kind="blobs", method="GET")
                    if s.path.split("?", 1)[0] == self.path(name)])

    def cache(self, name):
        r = self.get(name)
        self.assertEqual(r.status, 200, r)
        p = self.rc.cache_blob_path(self.digests[name])
        rt.poll(lambda: os.path.isfile(p), 30, what="%s to be cached" % name)

    def assertPartial(self, r, name, first, last):
        data = self.data[name]
        what = "%s bytes %d-%d: %r" % (name, first, last, r)
        self.assertEqual(r.status, 206, what)
        self.assertEqual(r.header("Content-Range"), "bytes %d-%d/%d" % (first, last, len(data)),
                         what)
        self.assertEqual(r.header("Content-Type"), "application/octet-stream", what)
        self.assertEqual(int(r.header("Content-Length")), last - first + 1, what)
        self.assertEqual(r.header("Accept-Ranges"), "bytes", what)
        self.assertEqual(r.header("ETag"), self.etag(name), what)
        self.assertEqual(r.header("Docker-Content-Digest"), self.digests[name], what)
        self.assertTrue(r.body == data[first:last + 1], what + ": wrong bytes")

    def assertWhole(self, r, name):
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("Content-Range"), r)
        self.assertEqual(r.header("Accept-Ranges"), "bytes", r)
        self.assertEqual(r.header("ETag"), self.etag(name), r)
        self.assertTrue(r.body == self.data[name], "%s: not the whole blob" % name)

    def assertMultipart(self, r, name, expected_ranges):
        data = self.data[name]
        self.assertEqual(r.status, 206, r)
        self.assertIsNone(r.header("Content-Range"), "a multipart answer has none of its own")
        self.assertEqual(int(r.header("Content-Length")), len(r.body))
        parts = parse_multipart(r.body, r.header("Content-Type"))
        self.assertEqual([p[1] for p in parts],
                         [(a, b, len(data)) for a, b in expected_ranges])
        for content_type, (first, last, _size), part in parts:
            self.assertEqual(content_type, "application/octet-stream")
            self.assertTrue(part == data[first:last + 1], "part %d-%d: wrong bytes" % (first,
                                                                                     last))

    def start_raw(self, name, range_value):
        conn = rt.RawHTTP(self.rc.port, timeout=120)
        self.addCleanup(conn.close)
        conn.send(("GET %s HTTP/1.1\r\nHost: regcache\r\nRange: %s\r\n\r\n" % (
            self.path(name), range_value)).encode())
        return conn

    def wait_held(self, count=1):
        rt.poll(lambda: self.front.held() >= count, 60,
                what="%d blob answer(s) held at the front" % count)

    # -- cached blobs

    def test_single_ranges_of_a_cached_blob_are_206_with_those_bytes(self):
        self.cache("cached")
        size = len(self.data["cached"])
        for value, first, last in [
                ("bytes=0-0", 0, 0),
                ("bytes=100-200099", 100, 200099),
                ("bytes=1048576-", 1048576, size - 1),
                ("bytes=-500", size - 500, size - 1),
                ("bytes=-%d" % (size + 10), 0, size - 1),
                ("bytes=%d-99999999999999999999999" % (size - 3), size - 3, size - 1),
                ("BYTES=5-9", 5, 9)]:
            with self.subTest(range=value):
                self.assertPartial(self.get("cached", {"Range": value}), "cached", first, last)
        self.assertTrue(all(rt.Regcache.cache_status(line) == "HIT" for line in
                            self.rc.access_lines(self.path("cached"))[1:]),
                        "range requests of a stored blob are hits")

    def test_unsatisfiable_range_is_416_with_the_size(self):
        self.cache("cached")
        size = len(self.data["cached"])
        for value in ("bytes=%d-" % size, "bytes=%d-%d" % (size + 5, size + 9), "bytes=-0"):
            with self.subTest(range=value):
                r = self.get("cached", {"Range": value})
                self.assertEqual(r.status, 416, r)
                self.assertEqual(r.header("Content-Range"), "bytes */%d" % size)

    def test_invalid_range_is_ignored_and_the_whole_blob_sent(self):
        self.cache("cached")
        for value in ("bytes=9-5", "bytes=abc", "items=0-1", "bytes=", "bytes=1-2-3",
                      "bytes=0-0,0-", "bytes=" + ",".join("%d-%d" % (i, i) for i in range(65))):
            with self.subTest(range=value):
                self.assertWhole(self.get("cached", {"Range": value}), "cached")

    def test_at_most_64_ranges_are_answered_multipart(self):
        self.cache("cached")
        ranges = [(i * 1000, i * 1000 + 9) for i in range(64)]
        r = self.get("cached", {"Range": "bytes=" + ",".join("%d-%d" % x for x in ranges)})
        self.assertMultipart(r, "cached", ranges)

    def test_if_range_with_the_etag_honours_the_range(self):
        self.cache("cached")
        r = self.get("cached", {"Range": "bytes=10-19", "If-Range": self.etag("cached")})
        self.assertPartial(r, "cached", 10, 19)

    def test_if_range_with_anything_else_sends_the_whole_blob(self):
        self.cache("cached")
        other = '"%s"' % self.digests["resume"]
        for if_range in (other, "W/" + self.etag("cached"), "Sun, 06 Nov 1994 08:49:37 GMT",
                         self.digests["cached"]):
            with self.subTest(if_range=if_range):
                r = self.get("cached", {"Range": "bytes=10-19", "If-Range": if_range})
                self.assertWhole(r, "cached")

    def test_several_ranges_are_multipart_byteranges(self):
        self.cache("cached")
        size = len(self.data["cached"])
        r = self.get("cached", {"Range": "bytes=0-99, 1000000-1999999,-10"})
        self.assertMultipart(r, "cached", [(0, 99), (1000000, 1999999), (size - 10, size - 1)])

    def test_one_range_is_never_multipart(self):
        self.cache("cached")
        self.assertPartial(self.get("cached", {"Range": "bytes=0-9,,"}), "cached", 0, 9)
        size = len(self.data["cached"])
        # One satisfiable range beside an unsatisfiable one is a single part, too.
        r = self.get("cached", {"Range": "bytes=%d-,0-9" % (size + 1)})
        self.assertPartial(r, "cached", 0, 9)

    def test_head_ignores_range(self):
        self.cache("cached")
        r = self.get("cached", {"Range": "bytes=0-9"}, method="HEAD")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(int(r.header("Content-Length")), len(self.data["cached"]))
        self.assertEqual(r.header("Accept-Ranges"), "bytes")
        self.assertEqual(r.header("ETag"), self.etag("cached"))

    def curl_resume(self, name, have_bytes):
        out = os.path.join(self.tmp, "resume-%s" % name)
        with open(out, "wb") as f:
            f.write(self.data[name][:have_bytes])
        r = rt.curl(["-f", "-C", "-", "-o", out, "-w", "%{http_code}",
                     self.rc.url + self.path(name)], timeout=120)
        self.assertEqual((r.returncode, r.stdout.decode()), (0, "206"), r.stderr)
        self.assertEqual(rt.sha256_file(out), self.digests[name])

    def test_curl_resumes_a_partly_downloaded_cached_blob(self):
        self.cache("resume")
        self.curl_resume("resume", 1 * rt.MiB + 12345)

    def test_curl_resumes_a_blob_regcache_has_not_cached_yet(self):
        self.curl_resume("resume-cold", 777777)
        self.assertEqual(self.upstream_gets("resume-cold"), 1)

    # -- cold blobs, while their download runs

    def test_range_of_a_cold_blob_is_served_while_it_downloads(self):
        self.front.hold_blob_bodies(HOLD_AFTER_BYTES)
        # Spans the bytes on disk and those still to come.
        conn = self.start_raw("cold-single", "bytes=1000-3000999")
        self.wait_held()
        head = conn.read_head()
        self.assertEqual(head.status, 206, head)
        self.front.release_blob_bodies()
        self.assertPartial(conn.read_body(head), "cold-single", 1000, 3000999)
        self.assertEqual(self.upstream_gets("cold-single"), 1)

    def test_range_already_on_disk_of_a_downloading_blob_is_served(self):
        self.front.hold_blob_bodies(HOLD_AFTER_BYTES)
        first = self.start_raw("cold-inside", "bytes=0-")
        self.wait_held()
        # Joins the running download; its bytes are all on disk already, but its last byte is
        # only sent once the whole blob is verified.
        inside = self.start_raw("cold-inside", "bytes=100-199")
        heads = [first.read_head(), inside.read_head()]
        self.assertEqual([h.status for h in heads], [206, 206], heads)
        self.front.release_blob_bodies()
        size = len(self.data["cold-inside"])
        self.assertPartial(first.read_body(heads[0]), "cold-inside", 0, size - 1)
        self.assertPartial(inside.read_body(heads[1]), "cold-inside", 100, 199)
        self.assertEqual(self.upstream_gets("cold-inside"), 1)

    def test_concurrent_open_ended_ranges_of_a_cold_blob_make_one_download(self):
        size = len(self.data["cold-many"])
        wanted = [("bytes=0-", 0), ("bytes=1000-", 1000), ("bytes=%d-" % (4 * rt.MiB), 4 * rt.MiB),
                  ("bytes=-1000", size - 1000)]
        self.front.hold_blob_bodies(1 * rt.MiB)
        conns = [self.start_raw("cold-many", wanted[0][0])]
        self.wait_held()
        conns += [self.start_raw("cold-many", value) for value, _first in wanted[1:]]
        # Every answer's head names the size: each request has joined the download.
        heads = [c.read_head() for c in conns]
        self.assertEqual([h.status for h in heads], [206] * 4, heads)
        self.front.release_blob_bodies()
        results = [None] * len(conns)

        def read(index):
            try:
                results[index] = conns[index].read_body(heads[index])
            except Exception as e:  # noqa: BLE001 - reported below
                results[index] = e

        threads = [threading.Thread(target=read, args=(i,)) for i in range(len(conns))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        for (value, first), result in zip(wanted, results):
            with self.subTest(range=value):
                self.assertIsInstance(result, rt.Response)
                self.assertPartial(result, "cold-many", first, size - 1)
        self.assertEqual(self.upstream_gets("cold-many"), 1)

    def test_multipart_of_a_cold_blob_is_served_while_it_downloads(self):
        size = len(self.data["cold-multi"])
        ranges = [(0, 99), (3 * rt.MiB, 3 * rt.MiB + 99), (size - 100, size - 1)]
        self.front.hold_blob_bodies(HOLD_AFTER_BYTES)
        conn = self.start_raw("cold-multi", "bytes=" + ",".join("%d-%d" % x for x in ranges))
        self.wait_held()
        head = conn.read_head()
        self.assertEqual(head.status, 206, head)
        self.front.release_blob_bodies()
        self.assertMultipart(conn.read_body(head), "cold-multi", ranges)
        self.assertEqual(self.upstream_gets("cold-multi"), 1)

    def test_range_from_an_upstream_without_content_length_waits_for_the_size(self):
        self.front.chunked_blobs = True
        self.front.hold_blob_bodies(1 * rt.MiB)
        conn = self.start_raw("chunked", "bytes=100-199")
        # The size is known only once the download ends: no answer can be framed before.
        self.wait_held()
        self.front.release_blob_bodies()
        self.assertPartial(conn.read_response(), "chunked", 100, 199)
        self.assertEqual(self.upstream_gets("chunked"), 1)
        size = len(self.data["chunked"])
        self.assertPartial(self.get("chunked", {"Range": "bytes=-5"}), "chunked", size - 5,
                           size - 1)

    def test_invalid_range_of_a_blob_of_unknown_size_is_the_whole_blob(self):
        self.front.chunked_blobs = True
        conn = self.start_raw("chunked-invalid", "bytes=5-1")
        self.assertWhole(conn.read_response(), "chunked-invalid")

    # -- a blob whose upstream bytes are wrong

    def range_outcome(self, name, range_value):
        """(status of the answer's head or None, whether the whole answer arrived)."""
        conn = self.start_raw(name, range_value)
        try:
            head = conn.read_head()
        except (ValueError, OSError):
            return None, False
        if head is None:
            return None, False
        try:
            conn.read_body(head)
        except (ValueError, OSError):
            return head.status, False
        return head.status, True

    def test_ranges_of_a_tampered_cold_blob_never_complete(self):
        for name in TAMPERED:
            size = len(self.data[name])
            for value in ("bytes=0-99", "bytes=100-", "bytes=-10", "bytes=0-9,%d-%d" % (
                    size // 2 + 100, size // 2 + 199), "bytes=0-"):
                with self.subTest(blob=name, range=value):
                    # A request right after a failed download may still join it and get its
                    # 502; the next one starts a new download and a 206 answer.
                    for _attempt in range(5):
                        status, complete = self.range_outcome(name, value)
                        self.assertFalse(complete and status in (200, 206),
                                         "a complete %s answer with unverified bytes" % status)
                        if status == 206:
                            break
                    self.assertEqual(status, 206, "no 206 answer was started")
                    self.assertFalse(os.path.exists(self.rc.cache_blob_path(self.digests[name])))
                    self.assertTrue(self.rc.alive(), "regcache died")
        self.assertEqual(self.rc.bad_published_files(), [])

    def test_range_of_a_tampered_blob_with_curl_fails(self):
        out = os.path.join(self.tmp, "tampered-curl")
        r = rt.curl(["-r", "0-99", "-o", out, "-w", "%{http_code}",
                     self.rc.url + self.path("tampered-middle")], timeout=120)
        self.assertNotEqual(r.returncode, 0, "curl saw a complete transfer")


if __name__ == "__main__":
    rt.main()
