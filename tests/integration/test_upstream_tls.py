#!/usr/bin/env python3
"""An HTTPS upstream (docker-registry with a certificate from a test CA): regcache verifies
it against --upstream-ca-file (chain and host name), refuses it without that CA, and
accepts anything with --insecure-upstream.

Run: python3 tests/integration/test_upstream_tls.py --regcache build/regcache
"""

import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402


class UpstreamTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        pki = os.path.join(cls.tmp, "pki")
        cls.ca, ca_key = rt.make_ca(pki)
        good = rt.make_server_cert(pki, cls.ca, ca_key, "good", "IP:127.0.0.1,DNS:localhost")
        wrong = rt.make_server_cert(pki, cls.ca, ca_key, "wrong", "DNS:wrong-name.invalid")

        layout = os.path.join(cls.tmp, "src")
        cls.img = rt.make_oci_image(layout, "v1", [300 * rt.KiB, 2 * rt.MiB + 1], seed=41)
        cls.up = rt.Registry(cls.tmp, "tls-good", tls=good, ca_file=cls.ca).start()
        cls.addClassCleanup(cls.up.stop)
        cls.wrong = rt.Registry(cls.tmp, "tls-wrong-name", tls=wrong).start()
        cls.addClassCleanup(cls.wrong.stop)
        for reg in (cls.up, cls.wrong):
            rt.push(layout, "v1", reg, "secure")
        cls.n = 0

    def start_regcache(self, upstream_url, *extra):
        type(self).n += 1
        rc = rt.Regcache(rt.REGCACHE, self.tmp, upstream_url, extra_args=extra,
                         name="regcache-%d" % self.n).start()
        self.addCleanup(rc.stop)
        return rc

    def assertPullWorks(self, rc):
        top, _mt, digests = rt.pull(rc.host, "secure:v1", os.path.join(rc.workdir, "pulled"))
        self.assertEqual(top, self.img.manifest_digest)
        self.assertEqual(digests, self.img.all_digests)
        for d in self.img.blob_digests:
            p = rc.cache_blob_path(d)
            rt.poll(lambda: os.path.isfile(p), 10, what="%s to be cached" % p)
            self.assertEqual(rt.sha256_file(p), d)

    def assertRefused(self, rc):
        for path, hdrs in (("/v2/secure/manifests/v1", {"Accept": rt.ALL_MANIFEST_TYPES}),
                           ("/v2/secure/manifests/" + self.img.manifest_digest,
                            {"Accept": rt.ALL_MANIFEST_TYPES}),
                           ("/v2/secure/blobs/" + self.img.layer_digests[0], {})):
            r = rc.get(path, hdrs, timeout=60)
            self.assertGreaterEqual(r.status, 500, "%s: %r" % (path, r))
            self.assertNotEqual(rt.sha256_bytes(r.body), self.img.layer_digests[0])
        res = rt.skopeo_copy("docker://%s/secure:v1" % rc.host,
                             "oci:%s:x" % os.path.join(rc.workdir, "refused"),
                             src_tls_verify=False, check=False, timeout=120)
        self.assertNotEqual(res.returncode, 0, "skopeo pulled through an unverified upstream")
        self.assertEqual(rc.published_files(), [], "bytes from an unverified upstream were cached")

    def test_pull_works_with_the_upstream_ca_file(self):
        rc = self.start_regcache(self.up.url, "--upstream-ca-file", self.ca)
        self.assertPullWorks(rc)

    def test_pull_works_with_the_ca_file_and_the_upstream_named_localhost(self):
        rc = self.start_regcache("https://localhost:%d" % self.up.port,
                                 "--upstream-ca-file", self.ca)
        self.assertPullWorks(rc)

    def test_upstream_is_refused_without_the_ca_file(self):
        before = self.up.log_text().count("TLS handshake error")
        rc = self.start_regcache(self.up.url)
        self.assertRefused(rc)
        self.assertGreater(self.up.log_text().count("TLS handshake error"), before,
                           "regcache never attempted a TLS handshake with the upstream")

    def test_upstream_whose_certificate_names_another_host_is_refused(self):
        rc = self.start_regcache(self.wrong.url, "--upstream-ca-file", self.ca)
        self.assertRefused(rc)

    def test_insecure_upstream_option_accepts_an_unverifiable_certificate(self):
        rc = self.start_regcache(self.up.url, "--insecure-upstream")
        self.assertPullWorks(rc)

    def test_insecure_upstream_option_accepts_a_certificate_for_another_host(self):
        rc = self.start_regcache(self.wrong.url, "--insecure-upstream")
        self.assertPullWorks(rc)

    def test_a_large_blob_over_tls_arrives_whole_and_is_cached_verified(self):
        # Many 256 KiB ciphertext receives and 1 MiB write stages, a size that fills neither;
        # two clients at once, one joining the running download.
        layout = os.path.join(self.tmp, "src-big")
        big = rt.make_oci_image(layout, "big", [24 * rt.MiB + 7], seed=43)
        rt.push(layout, "big", self.up, "secure-big")
        digest = big.layer_digests[0]
        rc = self.start_regcache(self.up.url, "--upstream-ca-file", self.ca)
        results = {}

        def fetch(name):
            results[name] = rc.get("/v2/secure-big/blobs/" + digest, timeout=120)

        threads = [threading.Thread(target=fetch, args=(n,)) for n in ("first", "joined")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(150)
        for name in ("first", "joined"):
            r = results.get(name)
            self.assertIsNotNone(r, "%s never answered" % name)
            self.assertEqual(r.status, 200, "%s: %r" % (name, r))
            self.assertEqual(len(r.body), 24 * rt.MiB + 7, name)
            self.assertEqual(rt.sha256_bytes(r.body), digest, name)
        p = rc.cache_blob_path(digest)
        rt.poll(lambda: os.path.isfile(p), 10, what="%s to be cached" % p)
        self.assertEqual(rt.sha256_file(p), digest)


if __name__ == "__main__":
    rt.main()
