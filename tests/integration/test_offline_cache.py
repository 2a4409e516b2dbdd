#!/usr/bin/env python3
"""With the upstream down, what regcache pulled before is still served: by tag (with a
`Warning: 110` header and a STALE log line) and by digest; what it never pulled gives an
error status quickly instead of a hang.

regcache runs with its manifest TTL cache off ({"manifest_cache": {"enabled": false}} in
--config), so that every tag request goes upstream and the offline answers are the
stale-if-error ones.

Run: python3 tests/integration/test_offline_cache.py --regcache build/regcache
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402


class OfflineCache(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        layout = os.path.join(cls.tmp, "src")
        cls.app = rt.make_oci_image(layout, "v1", [2 * rt.MiB + 1, 10 * rt.KiB], seed=11)
        cls.multi = rt.make_multiarch_index(layout, "v1m", [100 * rt.KiB, 3 * rt.KiB], seed=12)
        cls.other = rt.make_oci_image(layout, "v9", [50 * rt.KiB], seed=13)

        cls.upstream = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.upstream.stop)
        rt.push(layout, "v1", cls.upstream, "app")
        rt.push(layout, "v1m", cls.upstream, "multi", all_images=True)
        rt.push(layout, "v9", cls.upstream, "other")

        cls.rc = rt.Regcache(rt.REGCACHE, cls.tmp, cls.upstream.url)
        cls.rc.extra_args = ["--config", cls.rc.write_config(
            {"manifest_cache": {"enabled": False}})]
        cls.rc.start()
        cls.addClassCleanup(cls.rc.stop)

        # Online: one pull by tag of each image, and what the tag answer looked like.
        rt.pull(cls.rc.host, "app:v1", os.path.join(cls.tmp, "online-app"))
        rt.pull(cls.rc.host, "multi:v1m", os.path.join(cls.tmp, "online-multi"),
                all_images=True)
        tag_path = "/v2/app/manifests/v1 "
        before = len(cls.upstream.request_lines(tag_path))
        cls.online_tag_answer = cls.rc.get("/v2/app/manifests/v1",
                                           {"Accept": rt.ALL_MANIFEST_TYPES})
        cls.rc.get("/v2/app/manifests/v1", {"Accept": rt.ALL_MANIFEST_TYPES})
        cls.upstream_tag_requests = len(cls.upstream.request_lines(tag_path)) - before
        cls.log_mark_before_offline = cls.rc.log_mark()

        cls.upstream.stop()
        # The upstream's port must now refuse connections.
        try:
            r = rt.http_request("GET", cls.upstream.url + "/v2/", timeout=5)
            raise AssertionError("upstream still answers after stop: %r" % r)
        except OSError:
            pass

    def offline_log_lines(self):
        return self.rc.access_lines(text=self.rc.log_since(self.log_mark_before_offline))

    def test_online_tag_answer_has_no_warning_header(self):
        r = self.online_tag_answer
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("Warning"), r)

    def test_online_tag_requests_go_upstream_every_time_with_the_manifest_cache_off(self):
        self.assertEqual(self.upstream_tag_requests, 2,
                         "upstream requests for the tag during two online GETs")

    def test_offline_pull_by_tag_gives_the_pushed_digests(self):
        top, _mt, digests = rt.pull(self.rc.host, "app:v1", os.path.join(self.tmp, "off-tag"),
                                    timeout=120)
        self.assertEqual(top, self.app.manifest_digest)
        self.assertEqual(digests, self.app.all_digests)

    def test_offline_pull_by_digest_gives_the_pushed_digests(self):
        top, _mt, digests = rt.pull(self.rc.host, "app@%s" % self.app.manifest_digest,
                                    os.path.join(self.tmp, "off-digest"), timeout=120)
        self.assertEqual(top, self.app.manifest_digest)
        self.assertEqual(digests, self.app.all_digests)

    def test_offline_pull_of_a_multiarch_index_by_tag_gives_the_pushed_digests(self):
        top, _mt, digests = rt.pull(self.rc.host, "multi:v1m",
                                    os.path.join(self.tmp, "off-multi"), all_images=True,
                                    timeout=120)
        self.assertEqual(top, self.multi.index_digest)
        self.assertEqual(digests, self.multi.all_digests)

    def test_offline_tag_answer_is_the_remembered_manifest_with_a_warning_110_header(self):
        for method in ("GET", "HEAD"):
            r = self.rc.get("/v2/app/manifests/v1", {"Accept": rt.ALL_MANIFEST_TYPES},
                            method=method, timeout=30)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("Docker-Content-Digest"), self.app.manifest_digest, r)
            self.assertEqual(r.header("Content-Type"), rt.OCI_MANIFEST, r)
            warning = r.header("Warning")
            self.assertIsNotNone(warning, "%s: no Warning header: %r" % (method, r))
            self.assertRegex(warning, r"^110\b", r)
            if method == "GET":
                self.assertEqual(r.body, self.app.manifest_bytes)

    def test_offline_tag_request_is_logged_as_stale(self):
        self.rc.get("/v2/app/manifests/v1", {"Accept": rt.ALL_MANIFEST_TYPES}, timeout=30)
        lines = [line for line in self.offline_log_lines() if "/v2/app/manifests/v1" in line]
        self.assertTrue(lines, "no access-log line for the offline tag request")
        self.assertEqual(rt.Regcache.cache_status(lines[-1]), "STALE", lines[-1])

    def test_offline_blob_request_is_a_hit_with_the_exact_bytes(self):
        d = self.app.layer_digests[0]
        r = self.rc.get("/v2/app/blobs/%s" % d, timeout=60)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(rt.sha256_bytes(r.body), d)

    def test_offline_manifest_of_a_never_pulled_image_gives_an_error_status(self):
        for ref in ("v9", self.other.manifest_digest):
            r = self.rc.get("/v2/other/manifests/%s" % ref, {"Accept": rt.ALL_MANIFEST_TYPES},
                            timeout=60)
            self.assertGreaterEqual(r.status, 400, r)

    def test_offline_blob_never_pulled_gives_an_error_status(self):
        r = self.rc.get("/v2/other/blobs/%s" % self.other.layer_digests[0], timeout=60)
        self.assertGreaterEqual(r.status, 400, r)

    def test_offline_skopeo_pull_of_a_never_pulled_image_fails_without_hanging(self):
        r = rt.skopeo_copy("docker://%s/other:v9" % self.rc.host,
                           "oci:%s:x" % os.path.join(self.tmp, "off-other"), src_tls_verify=False,
                           check=False, timeout=120)
        self.assertNotEqual(r.returncode, 0, r.stderr)

    def test_offline_unknown_tag_of_a_pulled_repository_gives_an_error_status(self):
        r = self.rc.get("/v2/app/manifests/never-pushed", {"Accept": rt.ALL_MANIFEST_TYPES},
                        timeout=60)
        self.assertGreaterEqual(r.status, 400, r)


if __name__ == "__main__":
    rt.main()
