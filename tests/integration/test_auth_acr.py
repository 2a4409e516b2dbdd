#!/usr/bin/env python3
"""Azure Container Registry with an Entra ID identity, against fakes of Entra ID (IMDS and
client credentials) and of ACR's /oauth2/exchange and /oauth2/token (authtest.FakeEntra,
authtest.FakeAcr) in front of a real token-auth docker-registry whose realm is the fake
/oauth2/token. The ACR upstream has a cache-rule prefix "hub": the image is pushed upstream as
hub/library/testimg:1 and clients pull library/testimg:1 through regcache, without
credentials.

Three identities, one class each (each with its own fakes, registry and regcache):
  * managed identity (IMDS), an extra upstream from the config file's "upstreams", routed by
    the first path component (regtest.azurecr.io/library/testimg);
  * service principal (client credentials from AZURE_TENANT_ID/AZURE_CLIENT_ID/
    AZURE_CLIENT_SECRET), the default upstream made an ACR by the config file's
    upstream_kind/upstream_prefix, token_url set explicitly;
  * a token file (AZURE_FEDERATED_TOKEN_FILE), the default upstream made an ACR by
    --upstream-kind/--upstream-prefix, exchange URL from REGCACHE_ACR_EXCHANGE_URL.
Each pulls testimg twice and a second repository once, then the tests assert on the calls
the fakes recorded. A last class checks that a wrong client secret gets no image, no
exchange and nothing cached.

Run: python3 tests/integration/test_auth_acr.py --regcache build/regcache
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402
import authtest as at  # noqa: E402

PREFIX = "hub"
ACR_HOST = "regtest.azurecr.io"      # the routing name of the extra upstream (IMDS class)


def scope(repo):
    return "repository:%s:pull" % repo


class AcrFixture:
    """Fakes, registry and pushed images, shared by the classes below."""

    @classmethod
    def setup_acr(cls):
        cls.tmp = rt.mkdtemp()
        cls.signer = at.JwtSigner(os.path.join(cls.tmp, "signer"))
        cls.entra = at.FakeEntra()
        cls.addClassCleanup(cls.entra.stop)
        cls.acr = at.FakeAcr(cls.signer, cls.entra)
        cls.addClassCleanup(cls.acr.stop)
        cls.reg = at.AuthRegistry(cls.tmp, "acr-registry", token=(
            cls.acr.token_url, cls.acr.registry_service, cls.acr.issuer,
            cls.signer.cert_path)).start()
        cls.addClassCleanup(cls.reg.stop)
        layout = os.path.join(cls.tmp, "src")
        cls.img = rt.make_oci_image(layout, "testimg", [4 * rt.KiB, 1 * rt.MiB + 5, 30 * rt.KiB],
                                    seed=701)
        cls.other = rt.make_oci_image(layout, "other", [8 * rt.KiB], seed=702)
        at.push_with_creds(layout, "testimg", cls.reg.host, PREFIX + "/library/testimg",
                           cls.acr.admin, tag="1")
        at.push_with_creds(layout, "other", cls.reg.host, PREFIX + "/library/other",
                           cls.acr.admin, tag="1")
        # Only what regcache does from here on counts.
        cls.entra_mark = cls.entra.mark()
        cls.acr_mark = cls.acr.mark()

    @staticmethod
    def attempt(fn):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - asserted by the tests
            return e


class AcrPullCases(AcrFixture):
    """The subclass's start_regcache() returns a started AuthRegcache and the image name
    prefix clients use ("" or "regtest.azurecr.io/")."""

    @classmethod
    def setUpClass(cls):
        cls.setup_acr()
        cls.rc, cls.name_prefix = cls.start_regcache()
        cls.addClassCleanup(cls.rc.stop)
        cls.results = {}
        for key, ref, out in (("first", "library/testimg:1", "p1"),
                              ("second", "library/testimg:1", "p2"),
                              ("other", "library/other:1", "p3")):
            cls.results[key] = cls.attempt(lambda ref=ref, out=out: rt.pull(
                cls.rc.host, cls.name_prefix + ref, os.path.join(cls.tmp, out)))

    def entra_calls(self):
        return self.entra.recorded(since=self.entra_mark)

    def exchange_calls(self):
        return self.acr.recorded(lambda r: r.path == "/oauth2/exchange", since=self.acr_mark)

    def token_posts(self):
        return self.acr.recorded(lambda r: r.path == "/oauth2/token" and r.method == "POST",
                                 since=self.acr_mark)

    def assertPulled(self, key, img):
        res = self.results[key]
        if isinstance(res, Exception):
            self.fail("pull %s through regcache failed: %s" % (key, res))
        self.assertEqual(res[0], img.manifest_digest, "pull %s: manifest digest" % key)
        self.assertEqual(res[2], img.all_digests, "pull %s: digests" % key)

    # -- pulls

    def test_pull_of_library_testimg_gives_the_image_pushed_as_hub_library_testimg(self):
        self.assertPulled("first", self.img)

    def test_second_pull_gives_the_same_digests(self):
        self.assertPulled("second", self.img)

    def test_pull_of_a_second_repository_gives_its_image(self):
        self.assertPulled("other", self.other)

    def test_registry_was_asked_for_prefixed_repository_names_only(self):
        lines = self.reg.request_lines("regcache")
        self.assertTrue(lines, "regcache never reached the registry")
        for line in lines:
            self.assertRegex(line, r'"(GET|HEAD) /v2/(%s/library/(testimg|other)/|"|\s)' % PREFIX,
                             "a request without the cache-rule prefix: %s" % line)

    # -- the token flow

    def test_exchange_is_called_once_with_the_entra_token(self):
        calls = self.exchange_calls()
        self.assertEqual(len(calls), 1, "exchange calls: %r" % calls)
        c = calls[0]
        self.assertEqual(c.method, "POST")
        self.assertEqual(c.f("grant_type"), "access_token")
        self.assertIn(c.f("access_token"), self.entra.issued,
                      "the exchange got a token Entra ID did not issue")
        self.assertEqual(c.f("service"), "127.0.0.1", "service: the registry's host name")

    def test_token_endpoint_is_posted_once_per_scope_with_the_prefixed_scope(self):
        posts = self.token_posts()
        scopes = sorted(s for p in posts for s in p.form.get("scope", []))
        self.assertEqual(scopes, sorted([scope(PREFIX + "/library/testimg"),
                                         scope(PREFIX + "/library/other")]),
                         "POST /oauth2/token scopes: %r" % posts)
        for p in posts:
            self.assertEqual(p.f("grant_type"), "refresh_token")
            self.assertIn(p.f("refresh_token"), self.acr.refresh_tokens)

    def test_no_docker_token_spec_get_reaches_the_acr_token_endpoint(self):
        gets = self.acr.recorded(lambda r: r.path == "/oauth2/token" and r.method == "GET",
                                 since=self.acr_mark)
        self.assertEqual(gets, [], "regcache used GET /oauth2/token: %r" % gets)


class ManagedIdentity(AcrPullCases, unittest.TestCase):
    @classmethod
    def start_regcache(cls):
        config = {"upstreams": [{
            "host": ACR_HOST, "url": cls.reg.url, "kind": "acr", "prefix": PREFIX,
            "acr": {"imds_url": cls.entra.imds_url, "exchange_url": cls.acr.exchange_url}}]}
        # The default upstream is a closed port: everything must go to the ACR upstream.
        rc = at.AuthRegcache(rt.REGCACHE, cls.tmp, "http://127.0.0.1:1", config=config,
                             name="regcache-imds").start()
        return rc, ACR_HOST + "/"

    def test_entra_token_comes_from_one_imds_call_with_the_metadata_header(self):
        calls = self.entra_calls()
        self.assertEqual(len(calls), 1, "Entra ID calls: %r" % calls)
        for c in calls:
            self.assertEqual(c.path, at.FakeEntra.IMDS_PATH, repr(c))
            self.assertEqual((c.header("Metadata") or "").lower(), "true", repr(c))
            self.assertEqual(c.q("api-version"), "2018-02-01", repr(c))
            self.assertEqual((c.q("resource") or "").rstrip("/"), at.ARM_RESOURCE, repr(c))


class ServicePrincipal(AcrPullCases, unittest.TestCase):
    @classmethod
    def start_regcache(cls):
        config = {"upstream_kind": "acr", "upstream_prefix": PREFIX,
                  "acr": {"authority_url": cls.entra.authority_url,
                          "exchange_url": cls.acr.exchange_url,
                          "token_url": cls.acr.token_url}}
        env = {"AZURE_TENANT_ID": cls.entra.tenant, "AZURE_CLIENT_ID": cls.entra.client_id,
               "AZURE_CLIENT_SECRET": cls.entra.client_secret}
        rc = at.AuthRegcache(rt.REGCACHE, cls.tmp, cls.reg.url, env=env, config=config,
                             name="regcache-sp").start()
        return rc, ""

    def test_entra_token_comes_from_one_client_credentials_call(self):
        calls = self.entra_calls()
        self.assertEqual(len(calls), 1, "Entra ID calls: %r" % calls)
        for c in calls:
            self.assertEqual(c.method, "POST", repr(c))
            self.assertEqual(c.path, "/%s/oauth2/v2.0/token" % self.entra.tenant, repr(c))
            self.assertEqual(c.f("grant_type"), "client_credentials", repr(c))
            self.assertEqual(c.f("client_id"), self.entra.client_id, repr(c))
            self.assertEqual(c.f("client_secret"), self.entra.client_secret, repr(c))
            self.assertEqual(c.f("scope"), at.ARM_RESOURCE + "/.default", repr(c))

    def test_exchange_names_the_tenant(self):
        calls = self.exchange_calls()
        self.assertTrue(calls)
        self.assertEqual(calls[0].f("tenant"), self.entra.tenant)


class TokenFile(AcrPullCases, unittest.TestCase):
    @classmethod
    def start_regcache(cls):
        token, _now = cls.entra._mint("token-file")
        path = os.path.join(cls.tmp, "entra-token")
        with open(path, "w") as f:
            f.write(token + "\n")
        cls.file_token = token
        env = {"AZURE_FEDERATED_TOKEN_FILE": path,
               "REGCACHE_ACR_EXCHANGE_URL": cls.acr.exchange_url,
               # Entra ID must not be asked: make any such attempt visible to the fake.
               "REGCACHE_ACR_IMDS_URL": cls.entra.imds_url,
               "REGCACHE_ACR_AUTHORITY_URL": cls.entra.authority_url}
        rc = at.AuthRegcache(rt.REGCACHE, cls.tmp, cls.reg.url, env=env,
                             extra_args=["--upstream-kind", "acr", "--upstream-prefix", PREFIX],
                             name="regcache-file").start()
        return rc, ""

    def test_entra_id_is_never_asked_with_a_token_file(self):
        self.assertEqual(self.entra_calls(), [], "Entra ID asked despite a token file")

    def test_exchange_gets_the_token_from_the_file(self):
        calls = self.exchange_calls()
        self.assertTrue(calls)
        self.assertEqual(calls[0].f("access_token"), self.file_token)


class WrongClientSecret(AcrFixture, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.setup_acr()
        env = {"AZURE_TENANT_ID": cls.entra.tenant, "AZURE_CLIENT_ID": cls.entra.client_id,
               "AZURE_CLIENT_SECRET": "wrong-" + cls.entra.client_secret}
        config = {"upstream_kind": "acr", "upstream_prefix": PREFIX,
                  "acr": {"authority_url": cls.entra.authority_url,
                          "exchange_url": cls.acr.exchange_url}}
        cls.rc = at.AuthRegcache(rt.REGCACHE, cls.tmp, cls.reg.url, env=env, config=config,
                                 name="regcache-wrong-secret").start()
        cls.addClassCleanup(cls.rc.stop)
        cls.manifest = cls.rc.get("/v2/library/testimg/manifests/1",
                                  {"Accept": rt.ALL_MANIFEST_TYPES})
        cls.pulled = at.pull_refused(cls.rc.host, "library/testimg:1",
                                     os.path.join(cls.tmp, "refused"))

    def test_client_gets_an_oci_error_and_no_manifest(self):
        r = self.manifest
        self.assertNotEqual(r.status, 200, repr(r))
        self.assertGreaterEqual(r.status, 400, repr(r))
        self.assertTrue(r.error_codes(), "no OCI error body: %r" % r)
        self.assertNotEqual(rt.sha256_bytes(r.body), self.img.manifest_digest)

    def test_skopeo_pull_fails(self):
        self.assertNotEqual(self.pulled.returncode, 0)

    def test_entra_id_refused_the_secret_and_the_exchange_was_never_called(self):
        calls = self.entra.recorded(since=self.entra_mark)
        self.assertTrue(calls, "Entra ID was never asked")
        self.assertEqual(self.acr.recorded(lambda r: r.method == "POST", since=self.acr_mark), [])

    def test_nothing_is_cached(self):
        self.assertEqual(self.rc.published_files(), [])
        self.assertEqual(self.rc.cached_files("tags"), [])


if __name__ == "__main__":
    rt.main()
