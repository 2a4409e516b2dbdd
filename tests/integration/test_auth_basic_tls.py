#!/usr/bin/env python3
"""A docker-registry with htpasswd (Basic) auth over TLS, its certificate from a test CA:
regcache answers the Basic challenge with the credentials configured for the registry's
host:port (AUTH_REGISTRIES, the config file's "credentials" or an upstream's own
username/password, a Docker config.json), verifying the upstream with --upstream-ca-file.
Clients pull without credentials. Without credentials, or with a wrong password, the client
gets a 401 with an OCI error body and nothing is cached.

Run: python3 tests/integration/test_auth_basic_tls.py --regcache build/regcache
"""

import base64
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402
import authtest as at  # noqa: E402

USER, PASSWORD = "user", "pass"


class BasicAuthOverTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        pki = os.path.join(cls.tmp, "pki")
        cls.ca, ca_key = rt.make_ca(pki)
        server = rt.make_server_cert(pki, cls.ca, ca_key, "registry", "IP:127.0.0.1")
        htpasswd = at.make_htpasswd(os.path.join(cls.tmp, "htpasswd"), {USER: PASSWORD})
        cls.reg = at.AuthRegistry(cls.tmp, "basic-tls", htpasswd=("regtest-basic", htpasswd),
                                  tls=server, ca_file=cls.ca).start()
        cls.addClassCleanup(cls.reg.stop)
        layout = os.path.join(cls.tmp, "src")
        cls.img = rt.make_oci_image(layout, "img", [3 * rt.KiB, 700 * rt.KiB + 9], seed=601)
        at.push_with_creds(layout, "img", cls.reg.host, "team/app", (USER, PASSWORD), tag="1")
        cls.n = 0

    # -- helpers

    def regcache(self, name, env=None, config=None, extra=()):
        type(self).n += 1
        rc = at.AuthRegcache(rt.REGCACHE, self.tmp, self.reg.url, env=env, config=config,
                             extra_args=["--upstream-ca-file", self.ca] + list(extra),
                             name="regcache-%d-%s" % (self.n, name)).start()
        self.addCleanup(rc.stop)
        return rc

    def assertPullWorks(self, rc):
        top, _mt, digests = rt.pull(rc.host, "team/app:1", os.path.join(rc.workdir, "pulled"))
        self.assertEqual(top, self.img.manifest_digest)
        self.assertEqual(digests, self.img.all_digests)
        for d in self.img.blob_digests:
            p = rc.cache_blob_path(d)
            rt.poll(lambda: os.path.isfile(p), 10, what="%s to be cached" % p)
            self.assertEqual(rt.sha256_file(p), d)

    def assertRefused401(self, rc):
        for path in ("/v2/team/app/manifests/1", "/v2/team/app/manifests/" +
                     self.img.manifest_digest, "/v2/team/app/blobs/" + self.img.layer_digests[1]):
            r = rc.get(path, {"Accept": rt.ALL_MANIFEST_TYPES})
            self.assertEqual(r.status, 401, "%s: %r" % (path, r))
            self.assertIn("UNAUTHORIZED", r.error_codes(), "%s: no OCI error body: %r" % (path, r))
        res = at.pull_refused(rc.host, "team/app:1", os.path.join(rc.workdir, "refused"))
        self.assertNotEqual(res.returncode, 0, "skopeo pulled without credentials")
        self.assertEqual(rc.published_files(), [], "blobs cached from refused requests")
        self.assertEqual(rc.cached_files("tags"), [], "tags cached from refused requests")

    # -- credentials from each source

    def test_pull_works_with_auth_registries_using_a_three_colon_delimiter(self):
        rc = self.regcache("auth-registries", env={
            "AUTH_REGISTRY_DELIMITER": ":::",
            "AUTH_REGISTRIES": "%s:::%s:::%s" % (self.reg.host, USER, PASSWORD)})
        self.assertPullWorks(rc)

    def test_pull_works_with_a_host_port_user_password_entry_and_the_default_delimiter(self):
        # AUTH_REGISTRIES=127.0.0.1:PORT:user:pass, as the issue writes it for a registry on a
        # port.
        rc = self.regcache("auth-registries-colon", env={
            "AUTH_REGISTRIES": "%s:%s:%s" % (self.reg.host, USER, PASSWORD)})
        self.assertPullWorks(rc)

    def test_pull_works_with_credentials_from_the_config_file(self):
        rc = self.regcache("config-credentials", config={
            "credentials": [{"host": self.reg.host, "username": USER, "password": PASSWORD}]})
        self.assertPullWorks(rc)

    def test_pull_works_with_credentials_from_a_docker_config_json(self):
        path = os.path.join(self.tmp, "docker-config-%d.json" % os.getpid())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"auths": {self.reg.host: {"auth": base64.b64encode(
                ("%s:%s" % (USER, PASSWORD)).encode()).decode()}}}, f)
        rc = self.regcache("docker-config", extra=["--docker-config", path])
        self.assertPullWorks(rc)

    # -- refusals

    def test_client_gets_401_and_nothing_is_cached_without_credentials(self):
        rc = self.regcache("no-credentials")
        self.assertRefused401(rc)

    def test_client_gets_401_and_nothing_is_cached_with_a_wrong_password(self):
        rc = self.regcache("wrong-password", config={
            "credentials": [{"host": self.reg.host, "username": USER,
                             "password": "wrong-" + PASSWORD}]})
        self.assertRefused401(rc)

    def test_credentials_for_another_host_are_not_sent(self):
        rc = self.regcache("other-host", config={
            "credentials": [{"host": "127.0.0.1:1", "username": USER, "password": PASSWORD}]})
        self.assertRefused401(rc)


if __name__ == "__main__":
    rt.main()
