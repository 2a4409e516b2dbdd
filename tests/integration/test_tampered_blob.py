#!/usr/bin/env python3
"""A blob whose upstream bytes do not match its digest is never cached, and no client gets
it complete: the transfer is cut off (curl fails / short body) or refused with an error.

The upstream's blob data files are overwritten in place (same size) after the push; one is
truncated by a byte. docker-registry serves such files as they are.

Run: python3 tests/integration/test_tampered_blob.py --regcache build/regcache
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402

# layer name: (size, how the upstream copy is damaged)
LAYERS = [
    ("middle", 4 * rt.MiB + 11, "flip a byte in the middle"),
    ("last-byte", 4 * rt.MiB + 3, "flip the last byte"),
    ("small-first-byte", 64 * rt.KiB, "flip the first byte"),
    ("big-first-byte", 24 * rt.MiB, "flip the first byte"),
    ("truncated", 1 * rt.MiB + 5, "cut the last byte"),
    ("intact", 1 * rt.MiB, None),
]


def damage(path, how):
    size = os.path.getsize(path)
    if how == "cut the last byte":
        os.truncate(path, size - 1)
        return
    offset = {"flip a byte in the middle": size // 2, "flip the last byte": size - 1,
              "flip the first byte": 0}[how]
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))
    assert os.path.getsize(path) == size


class TamperedBlob(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        layout = os.path.join(cls.tmp, "src")
        cls.img = rt.make_oci_image(layout, "v1", [s for _n, s, _h in LAYERS], seed=31)
        cls.layers = {}
        for (name, size, how), d in zip(LAYERS, cls.img.layer_digests):
            cls.layers[name] = (d, size, how)

        cls.upstream = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.upstream.stop)
        rt.push(layout, "v1", cls.upstream, "victim")
        cls.upstream_len = {}
        for name, (d, _size, how) in cls.layers.items():
            if how:
                damage(cls.upstream.blob_data_path(d), how)
            # The setup itself must hold: the upstream now serves wrong (or right) bytes.
            r = cls.upstream.get("/v2/victim/blobs/%s" % d, timeout=60)
            assert r.status == 200, r
            assert (rt.sha256_bytes(r.body) == d) == (how is None), (name, r)
            cls.upstream_len[name] = len(r.body)

        cls.rc = rt.Regcache(rt.REGCACHE, cls.tmp, cls.upstream.url).start()
        cls.addClassCleanup(cls.rc.stop)
        cls.counter = 0

    def curl_blob(self, digest):
        """GET through regcache with curl; returns (curl exit code, http code, body)."""
        type(self).counter += 1
        out = os.path.join(self.tmp, "curl-%d" % self.counter)
        r = rt.curl(["-o", out, "-w", "%{http_code}", self.rc.url + "/v2/victim/blobs/" + digest],
                    timeout=90)
        body = open(out, "rb").read() if os.path.exists(out) else b""
        code = r.stdout.decode().strip()
        return r.returncode, code, body

    def assertNotServedComplete(self, name, attempt):
        d, _size, _how = self.layers[name]
        rc, code, body = self.curl_blob(d)
        what = "%s layer, attempt %d: curl exit %d, HTTP %s, %d bytes" % (
            name, attempt, rc, code, len(body))
        self.assertNotEqual(rt.sha256_bytes(body), d, what + " - the damaged bytes hash right?")
        self.assertLess(len(body), self.upstream_len[name],
                        what + ": the client got the complete wrong body")
        self.assertFalse(rc == 0 and code == "200",
                         what + ": curl saw a complete, successful 200 transfer")
        self.assertTrue(self.rc.alive(), "regcache died")

    def assertNotCached(self, name):
        d = self.layers[name][0]
        p = self.rc.cache_blob_path(d)
        self.assertFalse(os.path.exists(p), "%s layer with wrong bytes was cached at %s" % (name, p))
        self.assertEqual(self.rc.bad_published_files(), [])

    def check_damaged(self, name):
        self.assertNotServedComplete(name, 1)
        self.assertNotCached(name)
        self.assertNotServedComplete(name, 2)
        self.assertNotCached(name)

    def test_blob_damaged_in_the_middle_is_cut_off_and_not_cached(self):
        self.check_damaged("middle")

    def test_blob_damaged_in_its_last_byte_is_cut_off_and_not_cached(self):
        self.check_damaged("last-byte")

    def test_small_blob_damaged_in_its_first_byte_is_cut_off_and_not_cached(self):
        self.check_damaged("small-first-byte")

    def test_large_blob_damaged_in_its_first_byte_is_cut_off_and_not_cached(self):
        self.check_damaged("big-first-byte")

    def test_blob_truncated_upstream_is_cut_off_and_not_cached(self):
        self.check_damaged("truncated")

    def test_intact_layer_and_config_of_the_same_image_are_served_and_cached(self):
        for d in (self.layers["intact"][0], self.img.config_digest):
            for attempt in (1, 2):
                rc, code, body = self.curl_blob(d)
                self.assertEqual((rc, code), (0, "200"), "attempt %d for %s" % (attempt, d))
                self.assertEqual(rt.sha256_bytes(body), d)
            p = self.rc.cache_blob_path(d)
            rt.poll(lambda: os.path.isfile(p), 10, what="%s to be cached" % p)
            self.assertEqual(rt.sha256_file(p), d)
        self.assertEqual(self.rc.bad_published_files(), [])


if __name__ == "__main__":
    rt.main()
