#!/usr/bin/env python3
"""Several upstreams in one regcache: two docker-registries hold the same repository name and
tag with different content. Registry A is the default upstream (--upstream); registry B is
an extra upstream from the config file, named "registry-b.test" (url http://127.0.0.1:B) and
protected by Basic auth with credentials from the upstream's own username/password. Requests
reach B by ?ns=registry-b.test (containerd), by ?ns=127.0.0.1:B, or by the first path component
(registry-b.test/shared/app); everything else goes to A. Each answer comes from the right
registry, and the tag cache keeps them apart: with both registries stopped, each route still
answers with its own registry's manifest.

setUpClass runs the phases (online requests, then both registries stopped); the tests assert
on what was recorded.

Run: python3 tests/integration/test_auth_many_registries.py --regcache build/regcache
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402
import authtest as at  # noqa: E402

B_NAME = "registry-b.test"
USER, PASSWORD = "buser", "bpass"
ACCEPT = {"Accept": rt.ALL_MANIFEST_TYPES}


class ManyRegistries(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        layout = os.path.join(cls.tmp, "src")
        cls.img_a = rt.make_oci_image(layout, "a", [10 * rt.KiB, 200 * rt.KiB], seed=801)
        cls.img_b = rt.make_oci_image(layout, "b", [20 * rt.KiB, 300 * rt.KiB + 1], seed=802)
        cls.img_b_only = rt.make_oci_image(layout, "b-only", [4 * rt.KiB], seed=803)

        cls.reg_a = rt.Registry(cls.tmp, "registry-a").start()
        cls.addClassCleanup(cls.reg_a.stop)
        htpasswd = at.make_htpasswd(os.path.join(cls.tmp, "htpasswd"), {USER: PASSWORD})
        cls.reg_b = at.AuthRegistry(cls.tmp, "registry-b",
                                    htpasswd=("regtest-b", htpasswd)).start()
        cls.addClassCleanup(cls.reg_b.stop)
        rt.push(layout, "a", cls.reg_a, "shared/app", tag="1")
        at.push_with_creds(layout, "b", cls.reg_b.host, "shared/app", (USER, PASSWORD), tag="1")
        at.push_with_creds(layout, "b-only", cls.reg_b.host, "bonly/app", (USER, PASSWORD),
                           tag="1")

        config = {"upstreams": [{"host": B_NAME, "url": cls.reg_b.url,
                                 "username": USER, "password": PASSWORD}]}
        cls.rc = at.AuthRegcache(rt.REGCACHE, cls.tmp, cls.reg_a.url, config=config,
                                 name="regcache").start()
        cls.addClassCleanup(cls.rc.stop)

        # The routes, each as (path, which registry must answer).
        cls.routes = {
            "default": ("/v2/shared/app/manifests/1", "a"),
            "ns-name": ("/v2/shared/app/manifests/1?ns=" + B_NAME, "b"),
            "ns-host-port": ("/v2/shared/app/manifests/1?ns=" + cls.reg_b.host, "b"),
            "ns-default-host": ("/v2/shared/app/manifests/1?ns=" + cls.reg_a.host, "a"),
            "path": ("/v2/%s/shared/app/manifests/1" % B_NAME, "b"),
        }
        cls.online, cls.offline = {}, {}
        for key, (path, _want) in cls.routes.items():
            cls.online[key] = cls.attempt(lambda path=path: cls.rc.get(path, ACCEPT))
        cls.blob_b = cls.attempt(lambda: cls.rc.get("/v2/%s/shared/app/blobs/%s" % (
            B_NAME, cls.img_b.layer_digests[1])))
        cls.pulls = {
            "a": cls.attempt(lambda: rt.pull(cls.rc.host, "shared/app:1",
                                             os.path.join(cls.tmp, "pulled-a"))),
            "b": cls.attempt(lambda: rt.pull(cls.rc.host, B_NAME + "/shared/app:1",
                                             os.path.join(cls.tmp, "pulled-b"))),
            "b-only": cls.attempt(lambda: rt.pull(cls.rc.host, B_NAME + "/bonly/app:1",
                                                  os.path.join(cls.tmp, "pulled-b-only"))),
        }
        cls.b_only_on_a = cls.attempt(lambda: cls.rc.get("/v2/bonly/app/manifests/1", ACCEPT))

        # Offline: only the tag cache can answer.
        cls.reg_a.stop()
        cls.reg_b.stop()
        for key, (path, _want) in cls.routes.items():
            cls.offline[key] = cls.attempt(lambda path=path: cls.rc.get(path, ACCEPT))

    @staticmethod
    def attempt(fn):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - asserted by the tests
            return e

    def image(self, which):
        return {"a": self.img_a, "b": self.img_b}[which]

    def assertManifestFrom(self, res, which, what):
        if isinstance(res, Exception):
            self.fail("%s: %r" % (what, res))
        self.assertEqual(res.status, 200, "%s: %r" % (what, res))
        want = self.image(which).manifest_digest
        other = self.image("b" if which == "a" else "a").manifest_digest
        got = rt.sha256_bytes(res.body)
        self.assertNotEqual(got, other, "%s answered with registry %s's manifest" % (
            what, "b" if which == "a" else "a"))
        self.assertEqual(got, want, "%s: manifest digest" % what)

    def assertPulled(self, key, img):
        res = self.pulls[key]
        if isinstance(res, Exception):
            self.fail("pull %s: %s" % (key, res))
        self.assertEqual(res[0], img.manifest_digest, "pull %s: manifest digest" % key)
        self.assertEqual(res[2], img.all_digests, "pull %s: digests" % key)

    # -- routing, online

    def test_a_name_without_a_registry_goes_to_the_default_upstream(self):
        self.assertManifestFrom(self.online["default"], "a", "GET %s" % self.routes["default"][0])

    def test_ns_with_the_configured_name_goes_to_that_upstream(self):
        self.assertManifestFrom(self.online["ns-name"], "b", "GET %s" % self.routes["ns-name"][0])

    def test_ns_with_the_upstreams_host_and_port_goes_to_that_upstream(self):
        self.assertManifestFrom(self.online["ns-host-port"], "b",
                                "GET %s" % self.routes["ns-host-port"][0])

    def test_ns_naming_the_default_upstream_goes_to_the_default_upstream(self):
        self.assertManifestFrom(self.online["ns-default-host"], "a",
                                "GET %s" % self.routes["ns-default-host"][0])

    def test_a_first_path_component_naming_a_configured_host_goes_to_that_upstream(self):
        self.assertManifestFrom(self.online["path"], "b", "GET %s" % self.routes["path"][0])

    def test_blob_through_the_path_route_comes_from_the_named_upstream(self):
        r = self.blob_b
        if isinstance(r, Exception):
            self.fail(repr(r))
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(rt.sha256_bytes(r.body), self.img_b.layer_digests[1])

    def test_skopeo_pull_of_the_default_route_gives_registry_a_image(self):
        self.assertPulled("a", self.img_a)

    def test_skopeo_pull_with_the_registry_as_first_component_gives_registry_b_image(self):
        self.assertPulled("b", self.img_b)

    def test_skopeo_pull_of_a_repository_only_registry_b_has(self):
        self.assertPulled("b-only", self.img_b_only)

    def test_a_repository_only_registry_b_has_is_not_found_on_the_default_route(self):
        r = self.b_only_on_a
        if isinstance(r, Exception):
            self.fail(repr(r))
        self.assertEqual(r.status, 404, repr(r))

    # -- the tag cache, offline

    def test_with_both_registries_stopped_each_route_answers_with_its_own_manifest(self):
        for key, (path, which) in sorted(self.routes.items()):
            with self.subTest(route=key):
                self.assertManifestFrom(self.offline[key], which, "offline GET %s" % path)


if __name__ == "__main__":
    rt.main()
