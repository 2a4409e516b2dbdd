#!/usr/bin/env python3
"""Pulls through regcache with skopeo: every digest equals what was pushed upstream, cold
and warm; the warm pull does not fetch blobs upstream again; the cache holds the blobs;
the access log says MISS then HIT.

Run: python3 tests/integration/test_mirror_pull.py --regcache build/regcache
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402

IMAGES = {
    # name: (tag, layer sizes, multi-arch)
    "small": ("v1", [1 * rt.KiB + 3, 300 * rt.KiB], False),
    "big": ("v1", [100 * rt.MiB + 17, 64 * rt.KiB], False),
    "multi": ("v2", [200 * rt.KiB, 5 * rt.KiB], True),
}


class MirrorPull(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        layout = os.path.join(cls.tmp, "src")
        cls.pushed = {}
        for seed, (name, (tag, sizes, multi)) in enumerate(sorted(IMAGES.items())):
            if multi:
                cls.pushed[name] = rt.make_multiarch_index(layout, name, sizes, seed)
            else:
                cls.pushed[name] = rt.make_oci_image(layout, name, sizes, seed)
        cls.herd = rt.make_oci_image(layout, "herd", [24 * rt.MiB + 5], 99)

        cls.upstream = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.upstream.stop)
        for name, (tag, _sizes, multi) in IMAGES.items():
            rt.push(layout, name, cls.upstream, name, all_images=multi, tag=tag)
        rt.push(layout, "herd", cls.upstream, "herd")

        cls.rc = rt.Regcache(rt.REGCACHE, cls.tmp, cls.upstream.url).start()
        cls.addClassCleanup(cls.rc.stop)

        # Cold pulls, then warm pulls; failures are recorded so that each test reports
        # its own part.
        cls.results = {"cold": {}, "warm": {}}
        cls.upstream_blob_gets = {}
        for phase in ("cold", "warm"):
            for name, (tag, _sizes, multi) in IMAGES.items():
                out = os.path.join(cls.tmp, "pulled-%s-%s" % (phase, name))
                try:
                    cls.results[phase][name] = rt.pull(cls.rc.host, "%s:%s" % (name, tag), out,
                                                       all_images=multi)
                except Exception as e:  # noqa: BLE001 - asserted by the tests
                    cls.results[phase][name] = e
            cls.upstream_blob_gets[phase] = {
                name: len(cls.upstream.request_lines('"GET /v2/%s/blobs/' % name))
                for name in IMAGES}

    # -- helpers

    def assertPulledAsPushed(self, phase, name):
        res = self.results[phase][name]
        if isinstance(res, Exception):
            self.fail("%s pull of %s through regcache failed: %s" % (phase, name, res))
        top, media_type, digests = res
        want = self.pushed[name]
        self.assertEqual(top, want.top_digest, "%s pull of %s: top-level digest" % (phase, name))
        self.assertEqual(media_type, want.media_type)
        self.assertEqual(digests, want.all_digests,
                         "%s pull of %s: set of manifest/config/layer digests" % (phase, name))

    # -- cold pulls

    def test_cold_pull_of_a_small_image_gives_the_pushed_digests(self):
        self.assertPulledAsPushed("cold", "small")

    def test_cold_pull_of_an_image_with_a_100MiB_layer_gives_the_pushed_digests(self):
        self.assertPulledAsPushed("cold", "big")

    def test_cold_pull_of_a_multiarch_index_with_all_gives_the_pushed_digests(self):
        self.assertPulledAsPushed("cold", "multi")

    # -- warm pulls

    def test_warm_pull_of_a_small_image_gives_the_pushed_digests(self):
        self.assertPulledAsPushed("warm", "small")

    def test_warm_pull_of_an_image_with_a_100MiB_layer_gives_the_pushed_digests(self):
        self.assertPulledAsPushed("warm", "big")

    def test_warm_pull_of_a_multiarch_index_with_all_gives_the_pushed_digests(self):
        self.assertPulledAsPushed("warm", "multi")

    def test_warm_pull_fetches_no_blob_from_the_upstream_again(self):
        cold, warm = self.upstream_blob_gets["cold"], self.upstream_blob_gets["warm"]
        for name in IMAGES:
            self.assertGreater(cold[name], 0, "the cold pull of %s fetched no blob upstream" % name)
        self.assertEqual(warm, cold, "blob GETs seen by the upstream after the cold pulls vs "
                                     "after the warm pulls, per repository")

    # -- cache dir and access log

    def test_cache_dir_holds_every_pulled_blob_with_its_exact_bytes(self):
        for name, img in self.pushed.items():
            for d in img.blob_digests:
                p = self.rc.cache_blob_path(d)
                self.assertTrue(os.path.isfile(p), "%s blob %s not cached at %s" % (name, d, p))
                self.assertEqual(rt.sha256_file(p), d, "cached file %s" % p)
        self.assertEqual(self.rc.bad_published_files(), [])

    def test_access_log_shows_miss_then_hit_for_every_blob(self):
        for name, img in self.pushed.items():
            for d in img.blob_digests:
                path = "/v2/%s/blobs/%s" % (name, d)
                lines = self.rc.access_lines(path, "GET")
                statuses = [rt.Regcache.cache_status(line) for line in lines]
                self.assertGreaterEqual(len(lines), 2, "access-log lines for GET %s: %r" % (
                    path, lines))
                self.assertEqual(statuses[0], "MISS", "first GET %s: %r" % (path, lines))
                self.assertIn("HIT", statuses[1:], "later GETs of %s: %r" % (path, lines))

    def test_access_log_lines_carry_method_path_status_bytes_and_duration(self):
        d = self.pushed["big"].layer_digests[0]
        path = "/v2/big/blobs/%s" % d
        lines = self.rc.access_lines(path, "GET")
        self.assertTrue(lines, "no access-log line for GET %s" % path)
        size = str(self.pushed["big"].layer_sizes[0])
        for line in lines:
            self.assertRegex(line, r"\bGET\b", line)
            self.assertRegex(line, r"\b200\b", line)
            self.assertRegex(line, r"\b%s\b" % size, "byte count %s missing: %s" % (size, line))
            self.assertRegex(line, r"\d(\.\d+)?\s?(ns|us|µs|ms|s)\b",
                             "no duration in: " + line)

    # -- concurrency

    def test_concurrent_cold_requests_for_one_blob_all_get_the_exact_bytes(self):
        d = self.herd.layer_digests[0]
        results, hung = rt.concurrent_blob_gets(self.rc, "/v2/herd/blobs/%s" % d, 8)
        self.assertFalse(hung, "a client hung")
        for r in results:
            self.assertEqual(r, (200, d, self.herd.layer_sizes[0]))
        p = self.rc.cache_blob_path(d)
        rt.poll(lambda: os.path.isfile(p), 10, what="%s to be cached" % p)
        self.assertEqual(rt.sha256_file(p), d)


if __name__ == "__main__":
    rt.main()
