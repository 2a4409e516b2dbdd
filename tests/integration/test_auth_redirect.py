#!/usr/bin/env python3
"""Registries whose blobs live in object storage: a real docker-registry with the `redirect`
storage middleware answers blob GETs with 307 to a storage server of ours
(authtest.BlobStorage), as S3/GCS/Azure Blob-backed registries do. The registry needs
credentials (a bearer token in one class, Basic in the other). regcache follows the redirect
itself, never sends the registry's Authorization to the storage, gives the client the bytes
(not the redirect), and caches the blob: with the storage stopped, a second pull gives the
same digests.

Everything is done once per class in setUpClass, in phases (cold pull with storage up; warm
pull with storage stopped); the tests assert on what was recorded.

Run: python3 tests/integration/test_auth_redirect.py --regcache build/regcache
"""

import base64
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402
import authtest as at  # noqa: E402

USER, PASSWORD = "user", "pass"


class RedirectCases:
    """Mixed into a TestCase; the subclass's setup_registry() starts cls.reg (redirecting to
    cls.storage) and returns (repository, regcache env, regcache config)."""

    repo = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        reg_name = "redirecting-registry"
        cls.storage = at.BlobStorage(os.path.join(cls.tmp, reg_name, "storage"))
        cls.addClassCleanup(cls.storage.stop)
        env, config = cls.setup_registry(reg_name)
        cls.addClassCleanup(cls.reg.stop)

        layout = os.path.join(cls.tmp, "src")
        cls.img = rt.make_oci_image(layout, "img", [5 * rt.KiB, 2 * rt.MiB + 11, 90 * rt.KiB],
                                    seed=hash(cls.__name__) % 1000)
        at.push_with_creds(layout, "img", cls.reg.host, cls.repo, (USER, PASSWORD), tag="1")

        cls.rc = at.AuthRegcache(rt.REGCACHE, cls.tmp, cls.reg.url, env=env, config=config,
                                 name="regcache").start()
        cls.addClassCleanup(cls.rc.stop)

        cls.mark = cls.storage.mark()
        # Phase 1, storage up: a blob straight through regcache (no redirect following on our
        # side), then a full pull.
        cls.direct_digest = cls.img.layer_digests[1]
        cls.direct = cls.attempt(lambda: cls.rc.get("/v2/%s/blobs/%s" % (
            cls.repo, cls.direct_digest), timeout=60))
        cls.cold = cls.attempt(lambda: rt.pull(cls.rc.host, "%s:1" % cls.repo,
                                               os.path.join(cls.tmp, "pulled-cold")))
        cls.cold_storage_requests = cls.storage.recorded(since=cls.mark)
        # Phase 2, storage stopped: only regcache's cache can provide the blobs.
        cls.storage.stop()
        cls.warm = cls.attempt(lambda: rt.pull(cls.rc.host, "%s:1" % cls.repo,
                                               os.path.join(cls.tmp, "pulled-warm")))

    @staticmethod
    def attempt(fn):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - asserted by the tests
            return e

    def assertPulled(self, res, phase):
        if isinstance(res, Exception):
            self.fail("%s pull through regcache failed: %s" % (phase, res))
        top, _mt, digests = res
        self.assertEqual(top, self.img.manifest_digest, "%s pull: manifest digest" % phase)
        self.assertEqual(digests, self.img.all_digests, "%s pull: digests" % phase)

    def test_the_registry_redirects_blob_gets_to_the_storage(self):
        r = self.reg.get("/v2/%s/blobs/%s" % (self.repo, self.img.config_digest),
                         self.registry_auth_headers())
        self.assertIn(r.status, (301, 302, 303, 307, 308), "registry answer: %r" % r)
        self.assertIn(self.storage.host, r.header("Location") or "")

    def test_client_receives_the_blob_bytes_not_the_redirect(self):
        if isinstance(self.direct, Exception):
            self.fail("GET of a redirected blob through regcache: %r" % self.direct)
        self.assertEqual(self.direct.status, 200, repr(self.direct))
        self.assertEqual(rt.sha256_bytes(self.direct.body), self.direct_digest)
        self.assertIsNone(self.direct.header("Location"))

    def test_cold_pull_through_a_redirecting_registry_gives_the_pushed_digests(self):
        self.assertPulled(self.cold, "cold")

    def test_every_blob_was_fetched_from_the_storage(self):
        fetched = {at.BlobStorage.digest_of(r.path) for r in self.cold_storage_requests
                   if r.method == "GET"}
        self.assertEqual(fetched, set(self.img.blob_digests),
                         "blobs GET from the storage: %r" % self.cold_storage_requests)

    def test_storage_never_receives_an_authorization_header(self):
        self.assertTrue(self.cold_storage_requests, "regcache never reached the storage")
        for r in self.cold_storage_requests:
            self.assertIsNone(r.header("Authorization"),
                              "the registry's credentials went to the storage: %r" % r)

    def test_storage_is_asked_for_each_blob_once(self):
        gets = [at.BlobStorage.digest_of(r.path) for r in self.cold_storage_requests
                if r.method == "GET"]
        self.assertEqual(sorted(gets), sorted(set(gets)), "repeated storage GETs: %r" % gets)

    def test_pull_with_the_storage_stopped_gives_the_same_digests_from_the_cache(self):
        self.assertPulled(self.warm, "warm (storage stopped)")
        for d in self.img.blob_digests:
            self.assertEqual(rt.sha256_file(self.rc.cache_blob_path(d)), d)


class TokenAuthRedirect(RedirectCases, unittest.TestCase):
    repo = "public/redirected"

    @classmethod
    def setup_registry(cls, name):
        cls.signer = at.JwtSigner(os.path.join(cls.tmp, "signer"))
        cls.tokens = at.TokenServer(cls.signer, users={USER: PASSWORD})
        cls.addClassCleanup(cls.tokens.stop)
        cls.reg = at.AuthRegistry(cls.tmp, name, token=(
            cls.tokens.realm, cls.tokens.service, cls.tokens.issuer, cls.signer.cert_path),
            redirect_baseurl=cls.storage.url).start()
        return {}, None

    def registry_auth_headers(self):
        r = rt.http_request("GET", "%s?service=%s&scope=repository:%s:pull" % (
            self.tokens.realm, self.tokens.service, self.repo))
        return {"Authorization": "Bearer " + r.json()["token"]}

    def test_registry_needed_a_token(self):
        self.assertGreater(self.tokens.count("repository:%s:pull" % self.repo), 0,
                           "token requests: %r" % self.tokens.counts())


class BasicAuthRedirect(RedirectCases, unittest.TestCase):
    repo = "team/redirected"

    @classmethod
    def setup_registry(cls, name):
        htpasswd = at.make_htpasswd(os.path.join(cls.tmp, "htpasswd"), {USER: PASSWORD})
        cls.reg = at.AuthRegistry(cls.tmp, name, htpasswd=("regtest-basic", htpasswd),
                                  redirect_baseurl=cls.storage.url).start()
        return {}, {"credentials": [{"host": "127.0.0.1:%d" % cls.reg.port, "username": USER,
                                     "password": PASSWORD}]}

    def registry_auth_headers(self):
        return {"Authorization": "Basic " + base64.b64encode(
            ("%s:%s" % (USER, PASSWORD)).encode()).decode()}


if __name__ == "__main__":
    rt.main()
