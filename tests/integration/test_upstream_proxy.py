#!/usr/bin/env python3
"""--upstream-proxy: regcache reaches its upstreams through an HTTP CONNECT proxy (an office's
squid), here connectproxy.ConnectProxy in the test process. Every upstream connection is a
tunnel through it (TLS to the upstream inside, or plain HTTP for http:// upstreams), token
requests to the auth realm included; proxy credentials come from the URL's userinfo; a 407
is a clear error without the secret in the log; NO_PROXY hosts are reached directly; a proxy
that is down or silent fails the request within the connect timeout.

Run: python3 tests/integration/test_upstream_proxy.py --regcache build/regcache
"""

import base64
import os
import re
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402
import authtest as at  # noqa: E402
from connectproxy import ConnectProxy  # noqa: E402

PROXY_USER, PROXY_PASSWORD = "alice", "s3cr:et@pw"   # ':' and '@' need %-escapes in the URL
PROXY_USERINFO = "alice:s3cr%3Aet%40pw"


def metric(rc, name, labels):
    """The value of one sample of rc's /metrics, or None when it is not there."""
    body = rt.http_request("GET", rc.url + "/metrics").body.decode()
    wanted = "%s{%s}" % (name, ",".join('%s="%s"' % kv for kv in sorted(labels.items())))
    for line in body.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    return None


class UpstreamProxy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        pki = os.path.join(cls.tmp, "pki")
        cls.ca, ca_key = rt.make_ca(pki)
        cert = rt.make_server_cert(pki, cls.ca, ca_key, "upstream", "IP:127.0.0.1,DNS:localhost")
        cls.layout = layout = os.path.join(cls.tmp, "src")
        cls.img = rt.make_oci_image(layout, "v1", [200 * rt.KiB, 1 * rt.MiB + 5], seed=1301)
        cls.tls_up = rt.Registry(cls.tmp, "tls-upstream", tls=cert, ca_file=cls.ca).start()
        cls.addClassCleanup(cls.tls_up.stop)
        cls.plain_up = rt.Registry(cls.tmp, "plain-upstream").start()
        cls.addClassCleanup(cls.plain_up.stop)
        for reg in (cls.tls_up, cls.plain_up):
            rt.push(layout, "v1", reg, "proxied/img")

        cls.signer = at.JwtSigner(os.path.join(cls.tmp, "signer"))
        cls.tokens = at.TokenServer(cls.signer, lifetime_s=300)
        cls.addClassCleanup(cls.tokens.stop)
        # Its blob GETs answer 307 to a storage server, as S3-backed registries do.
        cls.storage = at.BlobStorage(os.path.join(cls.tmp, "token-upstream", "storage"))
        cls.addClassCleanup(cls.storage.stop)
        cls.token_up = at.AuthRegistry(cls.tmp, "token-upstream", token=(
            cls.tokens.realm, cls.tokens.service, cls.tokens.issuer,
            cls.signer.cert_path), redirect_baseurl=cls.storage.url).start()
        cls.addClassCleanup(cls.token_up.stop)
        at.push_with_creds(layout, "v1", cls.token_up.host, "public/img", None, tag="v1")
        cls.n = 0

    # -- helpers

    def proxy(self, **kw):
        p = ConnectProxy(**kw).start()
        self.addCleanup(p.stop)
        return p

    def regcache(self, upstream_url, *extra, env=None):
        type(self).n += 1
        rc = rt.Regcache(rt.REGCACHE, self.tmp, upstream_url, extra_args=extra,
                         name="regcache-%d" % self.n, extra_env=env).start()
        self.addCleanup(rc.stop)
        return rc

    def tls_regcache(self, *extra, env=None):
        return self.regcache(self.tls_up.url, "--upstream-ca-file", self.ca, *extra, env=env)

    def assertPulls(self, rc, ref="proxied/img:v1", out="pulled"):
        top, _mt, digests = rt.pull(rc.host, ref, os.path.join(rc.workdir, out))
        self.assertEqual(top, self.img.manifest_digest)
        self.assertEqual(digests, self.img.all_digests)

    def assertFailsClearly(self, rc, phrase):
        """A manifest and a blob request fail with 502/503 and an OCI error naming `phrase`;
        the blob download's failure is logged with it too (a failed manifest request has its
        access line only). Returns the log written meanwhile."""
        mark = rc.log_mark()
        for path, headers in (("/v2/proxied/img/manifests/v1", {"Accept": rt.ALL_MANIFEST_TYPES}),
                              ("/v2/proxied/img/blobs/" + self.img.layer_digests[0], {})):
            r = rc.get(path, headers, timeout=60)
            self.assertIn(r.status, (502, 503), "%s: %r" % (path, r))
            self.assertTrue(r.error_codes(), "no OCI error body: %r" % r)
            self.assertIn(phrase, r.body.decode(), "%s: %r" % (path, r.body))
        rt.poll(lambda: phrase in rc.log_since(mark), 10, what="a log line with %r" % phrase)
        return rc.log_since(mark)

    # -- tunnels

    def test_a_tls_pull_reaches_the_upstream_only_through_the_proxy_and_is_cached(self):
        proxy = self.proxy()
        rc = self.tls_regcache("--upstream-proxy", proxy.url())
        self.assertPulls(rc)
        targets = proxy.targets()
        self.assertTrue(targets, "the proxy saw no CONNECT")
        self.assertEqual(set(targets), {self.tls_up.host}, "CONNECT targets: %r" % targets)
        for c in proxy.seen():
            self.assertEqual(c.host_header, self.tls_up.host)
            self.assertIsNone(c.authorization, "credentials sent to a proxy that has none")
            self.assertEqual(c.status, 200)
        self.assertEqual(metric(rc, "regcache_upstream_proxy_connects_total", {"result": "ok"}),
                         len(targets))
        # The cached image is served with the only way to the upstream gone.
        proxy.stop()
        self.assertPulls(rc, out="pulled-again")
        for d in self.img.blob_digests:
            self.assertEqual(rt.sha256_file(rc.cache_blob_path(d)), d)

    def test_a_plain_http_upstream_is_reached_through_a_connect_tunnel_too(self):
        proxy = self.proxy()
        rc = self.regcache(self.plain_up.url, "--upstream-proxy", proxy.url())
        self.assertPulls(rc)
        self.assertEqual(set(proxy.targets()), {self.plain_up.host})

    def test_token_requests_and_storage_redirects_go_through_the_proxy(self):
        proxy = self.proxy()
        mark, storage_mark = self.tokens.mark(), self.storage.mark()
        rc = self.regcache(self.token_up.url, "--upstream-proxy", proxy.url())
        self.assertPulls(rc, "public/img:v1")
        self.assertTrue(self.tokens.token_requests(since=mark), "no token was requested")
        self.assertTrue(self.storage.recorded(since=storage_mark), "no blob was redirected")
        targets = set(proxy.targets())
        self.assertEqual(targets, {self.token_up.host, self.tokens.host, self.storage.host},
                         "CONNECT targets: %r" % targets)

    def test_acrs_entra_id_exchange_and_token_requests_go_through_the_proxy(self):
        signer = at.JwtSigner(os.path.join(self.tmp, "acr-signer"))
        entra = at.FakeEntra()
        self.addCleanup(entra.stop)
        acr = at.FakeAcr(signer, entra)
        self.addCleanup(acr.stop)
        reg = at.AuthRegistry(self.tmp, "acr-registry", token=(
            acr.token_url, acr.registry_service, acr.issuer, signer.cert_path)).start()
        self.addCleanup(reg.stop)
        at.push_with_creds(self.layout, "v1", reg.host, "hub/proxied/img", acr.admin, tag="v1")
        proxy = self.proxy()
        config = {"upstream_kind": "acr", "upstream_prefix": "hub",
                  "acr": {"authority_url": entra.authority_url, "exchange_url": acr.exchange_url,
                          "token_url": acr.token_url}}
        env = {"AZURE_TENANT_ID": entra.tenant, "AZURE_CLIENT_ID": entra.client_id,
               "AZURE_CLIENT_SECRET": entra.client_secret}
        rc = at.AuthRegcache(rt.REGCACHE, self.tmp, reg.url, env=env, config=config,
                             extra_args=["--upstream-proxy", proxy.url()],
                             name="regcache-acr").start()
        self.addCleanup(rc.stop)
        self.assertPulls(rc)
        self.assertTrue(entra.recorded(), "Entra ID was not asked")
        targets = set(proxy.targets())
        self.assertEqual(targets, {entra.host, acr.host, reg.host}, "CONNECT targets: %r" % targets)

    def test_an_unconfigured_ns_host_is_still_refused_at_a_private_address(self):
        # The proxy would reach 127.0.0.1; regcache resolves the name itself first and refuses.
        proxy = self.proxy()
        rc = self.tls_regcache("--upstream-proxy", proxy.url())
        for host in (self.plain_up.host, "localhost:%d" % self.plain_up.port):
            r = rc.get("/v2/proxied/img/manifests/v1?ns=" + host, {"Accept": rt.ALL_MANIFEST_TYPES})
            self.assertEqual(r.status, 403, "?ns=%s: %r" % (host, r))
            self.assertIn("DENIED", r.error_codes())
        self.assertEqual(proxy.targets(), [])

    def test_the_upstream_health_probe_goes_through_the_proxy(self):
        proxy = self.proxy()
        self.tls_regcache("--upstream-proxy", proxy.url(), "--upstream-check-interval-ms", "200")
        rt.poll(lambda: self.tls_up.host in proxy.targets(), 20, what="the probe's CONNECT")

    def test_a_reload_moves_new_connections_to_the_new_proxy(self):
        first, second = self.proxy(), self.proxy()
        type(self).n += 1
        rc = rt.Regcache(rt.REGCACHE, self.tmp, self.tls_up.url, name="regcache-%d" % self.n,
                         extra_args=["--upstream-ca-file", self.ca])
        config_path = rc.write_config({"upstream_proxy": first.url()})
        rc.extra_args += ["--config", config_path]
        rc.start()
        self.addCleanup(rc.stop)
        blobs = "/v2/proxied/img/blobs/"
        self.assertEqual(rc.get(blobs + self.img.layer_digests[0]).status, 200)
        self.assertEqual(set(first.targets()), {self.tls_up.host})
        rc.write_config({"upstream_proxy": second.url()})
        mark = rc.log_mark()
        rc.proc.send_signal(signal.SIGHUP)
        rt.poll(lambda: "configuration reloaded" in rc.log_since(mark), 30,
                what="the reload's log line")
        connects_before = len(first.targets())
        self.assertEqual(rc.get(blobs + self.img.layer_digests[1]).status, 200)
        self.assertEqual(set(second.targets()), {self.tls_up.host})
        self.assertEqual(len(first.targets()), connects_before,
                         "a connection through the old proxy after the reload")

    # -- credentials

    def test_userinfo_becomes_the_proxys_basic_credentials(self):
        proxy = self.proxy(users={PROXY_USER: PROXY_PASSWORD})
        rc = self.tls_regcache("--upstream-proxy", proxy.url(PROXY_USERINFO))
        self.assertPulls(rc)
        seen = proxy.seen()
        self.assertTrue(seen)
        for c in seen:
            self.assertEqual(c.credentials(), (PROXY_USER, PROXY_PASSWORD))
            self.assertEqual(c.status, 200)
        self.assertNotIn("s3cr", rc.log_text())
        self.assertIn("alice:***@", rc.log_text(), "the start-up line names the proxy, masked")

    def test_a_407_is_a_clear_error_naming_the_refusal_without_the_secret(self):
        proxy = self.proxy(users={PROXY_USER: "the-right-one"})
        rc = self.tls_regcache("--upstream-proxy", proxy.url(PROXY_USERINFO))
        log = self.assertFailsClearly(rc, "the upstream proxy refused the credentials")
        self.assertIn("407", log)
        self.assertTrue(any(c.status == 407 for c in proxy.seen()))
        secret_b64 = base64.b64encode(("%s:%s" % (PROXY_USER, PROXY_PASSWORD)).encode()).decode()
        for secret in ("s3cr", secret_b64):
            self.assertNotIn(secret, rc.log_text())
            self.assertNotIn(secret, rc.get("/v2/proxied/img/manifests/v1").body.decode())
        self.assertGreaterEqual(
            metric(rc, "regcache_upstream_proxy_connects_total", {"result": "refused"}), 1)
        self.assertEqual(
            metric(rc, "regcache_upstream_proxy_connects_total", {"result": "ok"}), 0)

    def test_a_proxy_refusing_the_destination_is_a_clear_error(self):
        proxy = self.proxy(refuse_status=403)
        rc = self.tls_regcache("--upstream-proxy", proxy.url())
        log = self.assertFailsClearly(rc, "does not allow this destination")
        self.assertIn("403", log)

    # -- NO_PROXY

    def test_no_proxy_matching_the_upstream_reaches_it_directly(self):
        proxy = self.proxy()
        rc = self.tls_regcache(env={"UPSTREAM_PROXY": proxy.url(), "NO_PROXY": "127.0.0.0/8"})
        self.assertPulls(rc)
        self.assertEqual(proxy.targets(), [], "the proxy saw CONNECTs for a NO_PROXY host")
        self.assertIn("no proxy for 127.0.0.0/8", rc.log_text())

    def test_the_upstream_proxy_variable_alone_is_used(self):
        proxy = self.proxy()
        rc = self.tls_regcache(env={"UPSTREAM_PROXY": proxy.url(), "no_proxy": "other.example"})
        self.assertPulls(rc)
        self.assertEqual(set(proxy.targets()), {self.tls_up.host})

    # -- a proxy that fails

    def test_a_proxy_that_is_down_is_a_clear_error(self):
        rc = self.tls_regcache("--upstream-proxy", "http://127.0.0.1:%d" % rt.free_port())
        self.assertFailsClearly(rc, "connect to the upstream proxy http://127.0.0.1:")
        self.assertGreaterEqual(
            metric(rc, "regcache_upstream_proxy_connects_total", {"result": "failed"}), 1)

    def test_a_silent_proxy_fails_the_request_at_the_connect_timeout(self):
        proxy = self.proxy(silent=True)
        rc = self.tls_regcache("--upstream-proxy", proxy.url(),
                               "--upstream-connect-timeout-ms", "1000")
        self.assertFailsClearly(rc, "gave no answer to CONNECT %s: timed out" % self.tls_up.host)
        self.assertTrue(proxy.targets())

    # -- options

    def run_regcache(self, *args, env=None):
        return subprocess.run([rt.REGCACHE, *args], capture_output=True, text=True, timeout=30,
                              env={"PATH": os.environ.get("PATH", "/usr/bin"), **(env or {})})

    def test_bad_proxy_urls_exit_2_with_a_clear_message_and_no_password(self):
        for args, env in ((["--upstream-proxy", "https://u:hunter2@proxy:3128"], None),
                          (["--upstream-proxy", "socks5://u:hunter2@proxy:1080"], None),
                          ([], {"UPSTREAM_PROXY": "http://u:hunter2@proxy:3128/path"}),
                          (["--no-proxy", "10.0.0.0/40"], None)):
            r = self.run_regcache(*args, env=env)
            self.assertEqual(r.returncode, 2, "%r: %s" % (args or env, r.stderr))
            self.assertNotIn("hunter2", r.stderr + r.stdout)
        r = self.run_regcache("--upstream-proxy", "https://u:hunter2@proxy:3128")
        self.assertIn("https:// proxies", r.stderr)
        self.assertRegex(r.stderr, re.escape("u:***@proxy"))

    def test_help_lists_the_options_and_their_variables(self):
        r = self.run_regcache("--help")
        self.assertEqual(r.returncode, 0)
        for text in ("--upstream-proxy", "--no-proxy", "UPSTREAM_PROXY", "NO_PROXY"):
            self.assertIn(text, r.stdout)


if __name__ == "__main__":
    rt.main()
