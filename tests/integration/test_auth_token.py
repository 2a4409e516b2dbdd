#!/usr/bin/env python3
"""The bearer-token flow against a real token-auth docker-registry: a token server of ours
(authtest.TokenServer) issues RS256 JWTs the registry verifies against its rootcertbundle.
Clients pull through regcache without any credentials of their own; regcache gets the
tokens, anonymously or with the credentials configured for the realm host (or, failing that,
the registry host), and fetches one token per scope per token lifetime.

Run: python3 tests/integration/test_auth_token.py --regcache build/regcache
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402
import authtest as at  # noqa: E402

USER, PASSWORD = "user", "pass"
RENEW_LIFETIME_S = 60          # regcache raises anything shorter to 60 (Docker's rule)
# A 60 s token is usable for at most 45 s (renewed a quarter of its lifetime, at most 60 s,
# before it ends); at 47 s regcache must have asked for a new one.
RENEW_CHECK_AFTER_S = 47


def pull_scope(repo):
    return "repository:%s:pull" % repo


class TokenAuth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        cls.signer = at.JwtSigner(os.path.join(cls.tmp, "signer"))
        cls.tokens = at.TokenServer(cls.signer, users={USER: PASSWORD}, lifetime_s=300,
                                    lifetimes=[("public/renew", RENEW_LIFETIME_S)])
        cls.addClassCleanup(cls.tokens.stop)
        cls.reg = at.AuthRegistry(cls.tmp, "token-registry", token=(
            cls.tokens.realm, cls.tokens.service, cls.tokens.issuer, cls.signer.cert_path)).start()
        cls.addClassCleanup(cls.reg.stop)

        layout = os.path.join(cls.tmp, "src")
        cls.small = rt.make_oci_image(layout, "small", [2 * rt.KiB + 1, 150 * rt.KiB], seed=501)
        cls.layered = rt.make_oci_image(layout, "layered", [40 * rt.KiB + i for i in range(5)] +
                                        [3 * rt.MiB + 7], seed=502)
        cls.priv = rt.make_oci_image(layout, "priv", [64 * rt.KiB, 1 * rt.MiB + 3], seed=503)
        creds = (USER, PASSWORD)
        # public/* takes anonymous pushes too; private/* needs the user.
        at.push_with_creds(layout, "small", cls.reg.host, "public/anon", None, tag="1")
        for repo in ("public/layered", "public/concurrent"):
            at.push_with_creds(layout, "layered", cls.reg.host, repo, creds, tag="1")
        for tag in ("1", "2", "3"):
            at.push_with_creds(layout, "small", cls.reg.host, "public/renew", creds, tag=tag)
        at.push_with_creds(layout, "priv", cls.reg.host, "private/img", creds, tag="1")
        cls.n = 0

        # The renewal check needs a token that has lived RENEW_CHECK_AFTER_S seconds: start its
        # clock now, so that the other tests use up most of the wait.
        cls.renew_rc = cls.make_regcache("renew")
        cls.addClassCleanup(cls.renew_rc.stop)
        cls.renew_first = cls.renew_rc.get("/v2/public/renew/manifests/1",
                                           {"Accept": rt.ALL_MANIFEST_TYPES})
        cls.renew_t0 = time.monotonic()      # the token was fetched before this instant
        cls.renew_second = cls.renew_rc.get("/v2/public/renew/manifests/3",
                                            {"Accept": rt.ALL_MANIFEST_TYPES})
        cls.renew_count_early = cls.tokens.count(pull_scope("public/renew"))

    # -- helpers

    @classmethod
    def make_regcache(cls, name, env=None, config=None):
        cls.n += 1
        return at.AuthRegcache(rt.REGCACHE, cls.tmp, cls.reg.url, env=env, config=config,
                               name="regcache-%d-%s" % (cls.n, name)).start()

    def regcache(self, name, env=None, config=None):
        rc = self.make_regcache(name, env, config)
        self.addCleanup(rc.stop)
        return rc

    def assertPulls(self, rc, ref, img, out=None):
        top, _mt, digests = rt.pull(rc.host, ref, out or os.path.join(
            rc.workdir, "pulled-%s" % ref.replace("/", "_").replace(":", "_")))
        self.assertEqual(top, img.manifest_digest, "manifest digest of %s" % ref)
        self.assertEqual(digests, img.all_digests, "digests of %s" % ref)

    def assertRefused401(self, rc, repo, img):
        r = rc.get("/v2/%s/manifests/1" % repo, {"Accept": rt.ALL_MANIFEST_TYPES})
        self.assertEqual(r.status, 401, "manifest by tag: %r" % r)
        self.assertTrue(r.error_codes(), "a 401 without an OCI error body: %r" % r)
        r = rc.get("/v2/%s/blobs/%s" % (repo, img.layer_digests[0]))
        self.assertEqual(r.status, 401, "blob: %r" % r)
        self.assertTrue(r.error_codes(), "a 401 without an OCI error body: %r" % r)
        res = at.pull_refused(rc.host, "%s:1" % repo, os.path.join(rc.workdir, "refused"))
        self.assertNotEqual(res.returncode, 0, "skopeo pulled a private image without credentials")
        self.assertEqual(rc.published_files(), [], "something was cached from a refused pull")

    # -- anonymous

    def test_public_image_is_pulled_with_an_anonymous_token(self):
        mark = self.tokens.mark()
        rc = self.regcache("anon")
        self.assertPulls(rc, "public/anon:1", self.small)
        reqs = self.tokens.token_requests(pull_scope("public/anon"), since=mark)
        self.assertTrue(reqs, "regcache never asked the token server for %s; counts %r" % (
            pull_scope("public/anon"), self.tokens.counts()))
        for r in reqs:
            self.assertIsNone(r.header("Authorization"),
                              "regcache sent credentials it does not have: %r" % r)
            self.assertEqual(r.q("service"), self.tokens.service, "service parameter: %r" % r)

    # -- credentials

    def test_private_image_is_pulled_with_credentials_keyed_by_the_realm_host(self):
        before = len(self.tokens.token_requests(pull_scope("private/img")))
        rc = self.regcache("realm-creds", env={
            "AUTH_REGISTRIES": "%s|%s|%s" % (self.tokens.host, USER, PASSWORD),
            "AUTH_REGISTRY_DELIMITER": "|"})
        self.assertPulls(rc, "private/img:1", self.priv)
        reqs = self.tokens.token_requests(pull_scope("private/img"))[before:]
        self.assertTrue(reqs)
        for r in reqs:
            self.assertEqual(at.basic_user(dict(r.headers), {USER: PASSWORD}), (USER, True),
                             "token request without the configured Basic credentials: %r" % r)

    def test_host_port_user_password_entry_with_the_default_delimiter_keys_the_realm_host(self):
        # AUTH_REGISTRIES=127.0.0.1:T:user:pass, the form the issue uses for a realm on a port.
        rc = self.regcache("realm-colon", env={
            "AUTH_REGISTRIES": "%s:%s:%s" % (self.tokens.host, USER, PASSWORD)})
        self.assertPulls(rc, "private/img:1", self.priv)

    def test_private_image_is_pulled_with_credentials_for_the_registry_host_as_fallback(self):
        rc = self.regcache("registry-creds", config={
            "credentials": [{"host": self.reg.host, "username": USER, "password": PASSWORD}]})
        self.assertPulls(rc, "private/img:1", self.priv)

    def test_private_image_is_refused_with_401_without_credentials(self):
        rc = self.regcache("no-creds")
        self.assertRefused401(rc, "private/img", self.priv)

    def test_private_image_is_refused_with_401_when_the_password_is_wrong(self):
        rc = self.regcache("wrong-pass", config={
            "credentials": [{"host": self.tokens.host, "username": USER,
                             "password": "not-" + PASSWORD}]})
        self.assertRefused401(rc, "private/img", self.priv)

    # -- one token per scope

    def test_pulling_a_six_layer_image_twice_fetches_one_token_per_scope(self):
        scope = pull_scope("public/layered")
        before = self.tokens.count(scope)
        rc = self.regcache("layered")
        self.assertPulls(rc, "public/layered:1", self.layered, os.path.join(rc.workdir, "p1"))
        self.assertPulls(rc, "public/layered:1", self.layered, os.path.join(rc.workdir, "p2"))
        # The tag list is always asked of the upstream: the token must still be the first one.
        r = rc.get("/v2/public/layered/tags/list")
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(self.tokens.count(scope) - before, 1,
                         "token requests for %s: %r" % (scope, self.tokens.counts()))

    def test_two_repositories_get_one_token_each(self):
        rc = self.regcache("two-scopes", config={
            "credentials": [{"host": self.tokens.host, "username": USER, "password": PASSWORD}]})
        scopes = [pull_scope("public/anon"), pull_scope("private/img")]
        before = [self.tokens.count(s) for s in scopes]
        self.assertPulls(rc, "public/anon:1", self.small)
        self.assertPulls(rc, "private/img:1", self.priv)
        self.assertEqual([self.tokens.count(s) - b for s, b in zip(scopes, before)], [1, 1],
                         "token requests per scope: %r" % self.tokens.counts())

    def test_four_concurrent_cold_pulls_fetch_one_token(self):
        scope = pull_scope("public/concurrent")
        before = self.tokens.count(scope)
        rc = self.regcache("concurrent")
        results = at.run_parallel([
            (lambda i=i: rt.pull(rc.host, "public/concurrent:1",
                                 os.path.join(rc.workdir, "pulled-%d" % i)))
            for i in range(4)], timeout=240)
        for i, res in enumerate(results):
            if isinstance(res, Exception):
                self.fail("concurrent pull %d failed: %s" % (i, res))
            self.assertEqual(res[0], self.layered.manifest_digest)
            self.assertEqual(res[2], self.layered.all_digests)
        self.assertEqual(self.tokens.count(scope) - before, 1,
                         "token requests for %s: %r" % (scope, self.tokens.counts()))

    # -- renewal (runs last: its clock started in setUpClass)

    def test_token_with_a_60_second_lifetime_is_renewed_before_it_expires(self):
        scope = pull_scope("public/renew")
        self.assertEqual(self.renew_first.status, 200, repr(self.renew_first))
        self.assertEqual(self.renew_second.status, 200, repr(self.renew_second))
        self.assertEqual(self.renew_count_early, 1,
                         "two manifest requests right after each other: token requests %r"
                         % self.tokens.counts())
        left = RENEW_CHECK_AFTER_S - (time.monotonic() - self.renew_t0)
        if left > 0:
            time.sleep(left)
        r = self.renew_rc.get("/v2/public/renew/manifests/2", {"Accept": rt.ALL_MANIFEST_TYPES})
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(rt.sha256_bytes(r.body), self.small.manifest_digest)
        self.assertEqual(self.tokens.count(scope), 2,
                         "a 60 s token %d s old was not renewed: token requests %r" % (
                             RENEW_CHECK_AFTER_S, self.tokens.counts()))


if __name__ == "__main__":
    rt.main()
