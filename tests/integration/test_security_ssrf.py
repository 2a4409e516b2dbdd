#!/usr/bin/env python3
"""A ?ns= host that is not a configured upstream cannot make regcache connect to internal
addresses (server-side request forgery), and --registries limits which such hosts are used.

An unconfigured ?ns= host that resolves to a loopback, link-local, private, CGNAT, multicast
or unspecified address is refused with 403 and an OCI error body whose code is DENIED, the
same body whatever the target (listening port or not), and regcache makes no connection:
bare TCP listeners of ours on 127.0.0.1 and ::1 count what they accept. The same holds for
the token realm and the redirect target of an unconfigured host that is itself allowed. The
offline stand-in for a public registry is a TLS registry of ours on this machine's own
non-private interface address (public_ipv4(), e.g. 192.0.2.2); the tests that need it are
skipped when there is none. Configured upstreams on 127.0.0.1 keep working under every
--registries setting (any, configured, a list with *. wildcards).

Not covered offline: a wildcard entry admitting a real public name (that needs DNS).

Run: python3 tests/integration/test_security_ssrf.py --regcache build/regcache
"""

import os
import shutil
import signal
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402
import authtest as at  # noqa: E402
import sectest as st  # noqa: E402

OPERATOR, OPERATOR_PASSWORD = "operator", "operator-secret-5d21"
MIRROR_NAME = "mirror.test"
TOKENED_NAME = "tokened.test"
MANIFEST_PATH = "/v2/team/app/manifests/1"
ACCEPT = {"Accept": rt.ALL_MANIFEST_TYPES}
# Bounds for today's binary, which does try to connect: keep each refused request short.
TIMEOUTS = ["--upstream-connect-timeout-ms", "2000", "--upstream-read-timeout-ms", "5000"]

F = None   # the servers every class uses, built once by setUpModule


class Fixtures:
    def __init__(self):
        self.stops = []
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        self.tmp = rt.mkdtemp()
        pki = os.path.join(self.tmp, "pki")
        self.ca, ca_key = rt.make_ca(pki)
        ip_cert = rt.make_server_cert(pki, self.ca, ca_key, "loopback", "IP:127.0.0.1")

        # The configured upstream: a plain docker-registry on loopback.
        self.registry = rt.Registry(self.tmp, "configured").start()
        self.stops.append(self.registry.stop)
        layout = os.path.join(self.tmp, "src")
        self.img = rt.make_oci_image(layout, "img", [4 * rt.KiB, 90 * rt.KiB + 3], seed=9201)
        rt.push(layout, "img", self.registry, "team/app", tag="1")

        # Internal services an SSRF would reach.
        self.lo4 = self.listener("127.0.0.1")
        self.lo6 = self.listener("::1", socket.AF_INET6) if st.ipv6_loopback_works() else None
        self.redirect_target = self.listener("127.0.0.1")
        # The operator's token server, on loopback, with credentials configured for it.
        self.tokens = st.placed(st.TokenServer, tls=ip_cert, signer=at.JwtSigner(
            os.path.join(self.tmp, "signer")), users={OPERATOR: OPERATOR_PASSWORD})
        self.stops.append(self.tokens.stop)

        # A configured upstream on loopback whose realm is that token server: using it leaves
        # an idle pooled connection to the realm.
        self.tokened = st.placed(st.FakeRegistry, tls=ip_cert, realm=self.tokens.realm)
        self.stops.append(self.tokened.stop)

        # "Public" registries: on this machine's own non-private address.
        self.public = st.public_ipv4()
        self.pub_listener = self.pub_plain = self.pub_redirect = self.pub_realm = None
        self.pub_realm_pooled = self.pub_realm_body = None
        if self.public:
            cert = rt.make_server_cert(pki, self.ca, ca_key, "public", "IP:" + self.public)
            self.pub_listener = self.listener(self.public)
            self.pub_plain = self.fake(cert)
            self.pub_redirect = self.fake(cert, redirect_base="http://127.0.0.1:%d" %
                                          self.redirect_target.port)
            # One per test that uses it: regcache remembers a registry's challenge and would go
            # straight to the realm the second time.
            self.pub_realm = self.fake(cert, realm=self.tokens.realm)
            self.pub_realm_pooled = self.fake(cert, realm=self.tokens.realm)
            self.pub_realm_body = self.fake(cert, realm=self.tokens.realm)

    def listener(self, host, family=socket.AF_INET):
        server = st.CountingListener(host, family)
        self.stops.append(server.stop)
        return server

    def fake(self, cert, **kw):
        server = st.placed(st.FakeRegistry, bind=self.public, tls=cert, **kw)
        self.stops.append(server.stop)
        return server

    def config(self, **extra):
        config = {"upstreams": [{"host": MIRROR_NAME, "url": self.registry.url},
                                {"host": TOKENED_NAME, "url": self.tokened.url}],
                  "credentials": [{"host": self.tokens.host, "username": OPERATOR,
                                   "password": OPERATOR_PASSWORD}]}
        config.update(extra)
        return config

    def stop(self):
        for stop in reversed(self.stops):
            try:
                stop()
            except Exception:  # noqa: BLE001 - stop the rest
                pass


def setUpModule():
    global F
    F = Fixtures()


def tearDownModule():
    if F is not None:
        F.stop()


class TracedRegcache(at.AuthRegcache):
    """regcache under `strace -f -e trace=connect`: every connect(2) it makes, DNS included
    (getaddrinfo connects a UDP socket to port 53), lands in trace_path."""

    def __init__(self, *args, trace_path, **kw):
        self.trace_path = trace_path
        super().__init__(*args, **kw)

    def argv(self):
        return ["strace", "-f", "-qq", "-e", "trace=connect", "-o", self.trace_path] + \
            super().argv()

    def stop(self, timeout=20):
        # strace outlives a SIGTERM while its tracee runs: signal the group we started (its id
        # is strace's PID), so that regcache ends and strace with it.
        if self.proc is not None and self.proc.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        return super().stop(timeout)


class SsrfCases:
    """Mixed into the TestCases below; each starts one regcache in setUpClass."""

    registries = None       # the --registries value, None: the default
    n = 0

    @classmethod
    def setUpClass(cls):
        cls.rc = cls.start_regcache(cls.__name__.lower())
        cls.addClassCleanup(cls.rc.stop)

    @classmethod
    def start_regcache(cls, name, config=None, registries=..., wrapper=at.AuthRegcache, **kw):
        """registries: the --registries value; ... for the class's, None for no option."""
        SsrfCases.n += 1
        registries = cls.registries if registries is ... else registries
        extra = ["--upstream-ca-file", F.ca] + TIMEOUTS
        if registries is not None:
            extra += ["--registries", registries]
        return wrapper(rt.REGCACHE, F.tmp, F.registry.url, config=config or F.config(),
                       extra_args=extra, name="regcache-%d-%s" % (SsrfCases.n, name),
                       **kw).start()

    def ns(self, host, path=MANIFEST_PATH, rc=None):
        return (rc or self.rc).get("%s?ns=%s" % (path, host), ACCEPT, timeout=60)

    def assertDenied(self, r, what):
        self.assertEqual(r.status, 403, "%s: %r" % (what, r))
        self.assertIn("DENIED", r.error_codes(), "%s: not an OCI DENIED body: %r" % (what, r))

    def assertRefusedWithoutConnection(self, host, listener, what=None, path=MANIFEST_PATH):
        before = listener.accepted
        r = self.ns(host, path)
        st.settle()
        self.assertEqual(listener.accepted - before, 0, "regcache connected to %s for ?ns=%s "
                         "(answer %r)" % (listener.host, host, r))
        self.assertDenied(r, what or "?ns=%s" % host)
        return r

    def assertServedFromTheConfiguredRegistry(self, r, what):
        self.assertEqual(r.status, 200, "%s: %r" % (what, r))
        self.assertEqual(rt.sha256_bytes(r.body), F.img.manifest_digest, what)

    def needs_public(self):
        if not F.public:
            self.skipTest("no local non-private IPv4 address to stand in for a public registry")

    # -- configured upstreams keep working (every class)

    def test_the_default_upstream_on_loopback_is_served(self):
        self.assertServedFromTheConfiguredRegistry(self.rc.get(MANIFEST_PATH, ACCEPT),
                                                   "GET %s" % MANIFEST_PATH)

    def test_a_configured_upstream_named_by_ns_is_served(self):
        self.assertServedFromTheConfiguredRegistry(self.ns(MIRROR_NAME), "?ns=" + MIRROR_NAME)

    def test_ns_naming_a_configured_upstreams_loopback_address_is_served(self):
        self.assertServedFromTheConfiguredRegistry(self.ns(F.registry.host),
                                                   "?ns=" + F.registry.host)

    def test_skopeo_pulls_through_the_default_upstream(self):
        top, _mt, digests = rt.pull(self.rc.host, "team/app:1",
                                    os.path.join(self.rc.workdir, "pulled-%d" % SsrfCases.n))
        self.assertEqual(top, F.img.manifest_digest)
        self.assertEqual(digests, F.img.all_digests)


class UnconfiguredHostsByAddress(SsrfCases, unittest.TestCase):
    """--registries any (the default): unconfigured hosts are used unless they are internal."""

    def test_ns_naming_a_listening_loopback_port_is_refused_without_a_connection(self):
        self.assertRefusedWithoutConnection(F.lo4.host, F.lo4)

    def test_ns_naming_ipv6_loopback_is_refused_without_a_connection(self):
        if F.lo6 is None:
            self.skipTest("IPv6 loopback does not work here")
        self.assertRefusedWithoutConnection(F.lo6.host, F.lo6)

    def test_ns_naming_localhost_is_refused_without_a_connection(self):
        self.assertRefusedWithoutConnection("localhost:%d" % F.lo4.port, F.lo4)

    def test_ns_naming_a_hex_spelling_of_loopback_is_refused_without_a_connection(self):
        # getaddrinfo("0x7f000001") is 127.0.0.1: the check must be on the resolved address.
        self.assertRefusedWithoutConnection("0x7f000001:%d" % F.lo4.port, F.lo4)

    def test_ns_naming_the_unspecified_address_is_refused_without_a_connection(self):
        # Connecting to 0.0.0.0 reaches this host's own listeners.
        self.assertRefusedWithoutConnection("0.0.0.0:%d" % F.lo4.port, F.lo4)

    def test_ns_naming_an_ipv4_mapped_ipv6_loopback_is_refused_without_a_connection(self):
        self.assertRefusedWithoutConnection("[::ffff:127.0.0.1]:%d" % F.lo4.port, F.lo4)

    def test_ns_naming_the_cloud_metadata_address_is_refused(self):
        self.assertDenied(self.ns("169.254.169.254"), "?ns=169.254.169.254")

    def test_ns_naming_a_10_slash_8_address_is_refused(self):
        self.assertDenied(self.ns("10.0.0.1"), "?ns=10.0.0.1")

    def test_ns_naming_a_192_168_address_is_refused(self):
        self.assertDenied(self.ns("192.168.1.1"), "?ns=192.168.1.1")

    def test_ns_naming_other_internal_ipv4_ranges_is_refused(self):
        for host in ("172.16.0.1", "172.31.255.254", "100.64.0.1", "224.0.0.1", "127.1.2.3"):
            with self.subTest(ns=host):
                self.assertDenied(self.ns(host), "?ns=" + host)

    def test_ns_naming_internal_ipv6_ranges_is_refused(self):
        for host in ("[fe80::1]", "[fc00::1]", "[::]", "[ff02::1]"):
            with self.subTest(ns=host):
                self.assertDenied(self.ns(host), "?ns=" + host)

    def refusal_bodies(self, targets):
        """{body: [?ns= values]} of the answers to targets, each of which must be refused."""
        bodies = {}
        for host in targets:
            r = self.ns(host)
            self.assertDenied(r, "?ns=" + host)
            bodies.setdefault(r.body, []).append(host)
        return bodies

    def test_every_refusal_has_the_same_body(self):
        closed = rt.free_port()
        bodies = self.refusal_bodies([
            F.lo4.host, "127.0.0.1:%d" % closed, "localhost:%d" % F.lo4.port,
            "localhost:%d" % closed, "169.254.169.254", "169.254.169.254:80", "10.0.0.1",
            "192.168.1.1:5000", "0.0.0.0:%d" % F.lo4.port, "0x7f000001:%d" % closed])
        self.assertEqual(len(bodies), 1, "refusals differ, revealing the target: %r" % bodies)

    def test_ipv6_loopback_refusals_have_the_same_body_as_ipv4_ones(self):
        if F.lo6 is None:
            self.skipTest("IPv6 loopback does not work here")
        closed = rt.free_port()
        bodies = self.refusal_bodies([F.lo4.host, F.lo6.host, "[::1]:%d" % closed])
        self.assertEqual(len(bodies), 1, "refusals differ, revealing the target: %r" % bodies)

    def test_blob_and_tag_list_routes_to_loopback_are_refused_without_a_connection(self):
        # Digests nothing holds: content regcache has cached may be served without asking
        # anyone, which is no forgery.
        unknown = rt.sha256_bytes(b"never pushed anywhere %d" % os.getpid())
        for path in ("/v2/team/app/blobs/" + unknown, "/v2/team/app/tags/list",
                     "/v2/team/app/manifests/" + unknown):
            with self.subTest(path=path):
                self.assertRefusedWithoutConnection(F.lo4.host, F.lo4, path=path)

    # -- an allowed unconfigured host, and what it names

    def test_an_unconfigured_host_on_a_public_address_is_served(self):
        self.needs_public()
        r = self.ns(F.pub_plain.host)
        self.assertEqual(r.status, 200, "?ns=%s: %r" % (F.pub_plain.host, r))
        self.assertEqual(rt.sha256_bytes(r.body), st.FakeRegistry.MANIFEST_DIGEST)

    def test_a_redirect_from_an_unconfigured_host_to_loopback_is_refused_without_a_connection(
            self):
        self.needs_public()
        before, mark = F.redirect_target.accepted, F.pub_redirect.mark()
        path = "/v2/redirect/app/blobs/" + st.FakeRegistry.CONFIG_DIGEST
        r = self.ns(F.pub_redirect.host, path)
        st.settle()
        self.assertTrue(F.pub_redirect.recorded(since=mark),
                        "the public registry itself was never asked: %r" % r)
        self.assertDenied(r, "a blob redirected to %s" % F.redirect_target.host)
        self.assertEqual(F.redirect_target.accepted - before, 0,
                         "regcache followed the redirect to loopback")

    def test_a_token_realm_on_loopback_named_by_an_unconfigured_host_is_refused(self):
        self.needs_public()
        token_mark, mark = F.tokens.mark(), F.pub_realm.mark()
        r = self.ns(F.pub_realm.host, "/v2/realm/app/manifests/1")
        self.assertTrue(F.pub_realm.recorded(since=mark),
                        "the public registry itself was never asked: %r" % r)
        self.assertDenied(r, "a realm on %s" % F.tokens.host)
        self.assertEqual(F.tokens.token_requests(since=token_mark), [],
                         "regcache asked the loopback realm for a token")


    def test_a_loopback_realm_is_refused_even_with_a_pooled_connection_to_it(self):
        # A configured upstream's token request leaves an idle keep-alive connection to the
        # realm; the unconfigured host naming the same realm must not get to reuse it.
        self.needs_public()
        r = self.ns(TOKENED_NAME, "/v2/pooled/app/manifests/1")
        self.assertEqual(r.status, 200, "the configured upstream with a loopback realm: %r" % r)
        token_mark, mark = F.tokens.mark(), F.pub_realm_pooled.mark()
        r = self.ns(F.pub_realm_pooled.host, "/v2/pooled/app/manifests/2")
        self.assertTrue(F.pub_realm_pooled.recorded(since=mark),
                        "the public registry itself was never asked: %r" % r)
        self.assertDenied(r, "a realm on %s after a configured use of it" % F.tokens.host)
        self.assertEqual(F.tokens.token_requests(since=token_mark), [],
                         "regcache asked the loopback realm for a token")

    def test_realm_and_redirect_refusals_have_the_same_body_as_an_address_refusal(self):
        self.needs_public()
        bodies = {}
        for what, host, path in (
                ("address", F.lo4.host, MANIFEST_PATH),
                ("realm", F.pub_realm_body.host, "/v2/realm-body/app/manifests/1"),
                ("redirect", F.pub_redirect.host,
                 "/v2/redirect-body/app/blobs/" + st.FakeRegistry.CONFIG_DIGEST)):
            r = self.ns(host, path)
            self.assertDenied(r, "%s refusal, ?ns=%s" % (what, host))
            bodies.setdefault(r.body, []).append(what)
        self.assertEqual(len(bodies), 1, "refusals differ by reason: %r" % bodies)


class OnlyConfiguredRegistries(SsrfCases, unittest.TestCase):
    """--registries configured: any other ?ns= is refused before it is resolved."""

    registries = "configured"

    def test_ns_naming_an_unconfigured_name_is_refused(self):
        self.assertDenied(self.ns("example.com"), "?ns=example.com")

    def test_ns_naming_an_unconfigured_public_address_is_refused_without_a_connection(self):
        self.needs_public()
        self.assertRefusedWithoutConnection(F.pub_listener.host, F.pub_listener)

    def test_ns_naming_an_unconfigured_name_is_refused_without_a_dns_lookup(self):
        if shutil.which("strace") is None:
            self.skipTest("strace is not installed")
        trace = os.path.join(F.tmp, "strace-%d.log" % os.getpid())
        rc = self.start_regcache("traced", wrapper=TracedRegcache, trace_path=trace)
        self.addCleanup(rc.stop)
        host = "regcache-dns-probe.example.com"
        start = len(rt.read_text(trace))
        r = self.ns(host, rc=rc)
        st.settle(0.5)
        self.assertDenied(r, "?ns=" + host)
        connects = [line for line in rt.read_text(trace)[start:].splitlines()
                    if "connect(" in line and ("htons(53)" in line or "AF_INET" in line)]
        self.assertEqual(connects, [], "regcache resolved or connected for ?ns=%s" % host)

    def test_the_config_file_key_registries_refuses_an_unconfigured_host(self):
        self.needs_public()
        rc = self.start_regcache("config-key", config=F.config(registries="configured"),
                                 registries=None)
        self.addCleanup(rc.stop)
        before = F.pub_listener.accepted
        r = self.ns(F.pub_listener.host, rc=rc)
        st.settle()
        self.assertDenied(r, "config file registries=configured, ?ns=%s" % F.pub_listener.host)
        self.assertEqual(F.pub_listener.accepted - before, 0, "regcache connected")


    def test_the_environment_variable_regcache_registries_refuses_an_unconfigured_host(self):
        self.needs_public()
        rc = self.start_regcache("env", registries=None, env={"REGCACHE_REGISTRIES": "configured"})
        self.addCleanup(rc.stop)
        before = F.pub_listener.accepted
        r = self.ns(F.pub_listener.host, rc=rc)
        st.settle()
        self.assertDenied(r, "REGCACHE_REGISTRIES=configured, ?ns=%s" % F.pub_listener.host)
        self.assertEqual(F.pub_listener.accepted - before, 0, "regcache connected")


class ListedRegistries(SsrfCases, unittest.TestCase):
    """--registries '*.example.com': unconfigured hosts outside the list are refused."""

    registries = "*.example.com"

    def test_ns_outside_the_list_is_refused(self):
        self.assertDenied(self.ns("other.org"), "?ns=other.org")

    def test_ns_naming_a_lookalike_of_the_listed_domain_is_refused(self):
        for host in ("evilexample.com", "example.com.other.org", "example.org"):
            with self.subTest(ns=host):
                self.assertDenied(self.ns(host), "?ns=" + host)

    def test_an_unconfigured_public_address_outside_the_list_is_refused_without_a_request(self):
        self.needs_public()
        mark = F.pub_plain.mark()
        r = self.ns(F.pub_plain.host)
        st.settle()
        self.assertDenied(r, "?ns=%s" % F.pub_plain.host)
        self.assertEqual(F.pub_plain.recorded(since=mark), [], "regcache asked the host anyway")


if __name__ == "__main__":
    rt.main()
