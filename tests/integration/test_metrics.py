#!/usr/bin/env python3
"""/metrics, /livez and /readyz: the metrics parse with prometheus_client's own text-format
parser (Debian's python3-prometheus-client), their counters move as a pull goes through (miss,
then hits, with the bytes), the histogram is consistent, and /readyz fails while the drain file
exists and recovers when it goes.

What regcache learns from its upstreams: requests by upstream and status (200, 404, an injected
503) through a counting front (countingproxy.py) in front of docker-registry, token requests
with a real token-auth registry (authtest.py), Docker Hub's rate-limit gauges following the
RateLimit-* headers the front adds (two values), /readyz failing when the only upstream goes
away (the probe runs every 300 ms here) and recovering when it is back, the client connection
gauges, and --metrics-listen serving /metrics, /livez and /readyz but not /v2/ (and /metrics
leaving the main port).

Run: python3 tests/integration/test_metrics.py --regcache build/regcache
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402
import authtest as at  # noqa: E402
import countingproxy  # noqa: E402

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # the interpreter on PATH may not be Debian's; the package installs there
    sys.path.append("/usr/lib/python3/dist-packages")
    from prometheus_client.parser import text_string_to_metric_families


def scrape(rc, base=None):
    """The families of rc's /metrics (or of the listener at `base`, --metrics-listen)."""
    r = rt.http_request("GET", (base or rc.url) + "/metrics")
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4"), r.header(
        "Content-Type")
    families = {f.name: f for f in text_string_to_metric_families(r.body.decode())}
    return families


def value(families, family, sample_name=None, **labels):
    """The first sample of `family` (its name as exposed; the parser files counters under the
    name without _total) named `sample_name` (default: the family's name) with `labels`."""
    fam = families.get(family) or families.get(family[:-len("_total")]
                                               if family.endswith("_total") else family)
    if fam is None:
        return 0.0  # a labelled family with no series yet
    want = sample_name or family
    for s in fam.samples:
        if s.name == want and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return 0.0


class Metrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        layout = os.path.join(cls.tmp, "src")
        cls.image = rt.make_oci_image(layout, "app", [3 * rt.MiB + 1, 10 * rt.KiB], 11)
        cls.upstream = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.upstream.stop)
        rt.push(layout, "app", cls.upstream, "app")
        cls.drain = os.path.join(cls.tmp, "drain")
        cls.rc = rt.Regcache(rt.REGCACHE, cls.tmp, cls.upstream.url,
                             extra_args=["--drain-file", cls.drain,
                                         "--cache-max-size", "1g"]).start()
        cls.addClassCleanup(cls.rc.stop)

    def test_livez(self):
        r = rt.http_request("GET", self.rc.url + "/livez")
        self.assertEqual((r.status, r.body), (200, b"ok\n"))

    def test_readyz_follows_the_drain_file(self):
        self.assertEqual(rt.http_request("GET", self.rc.url + "/readyz").status, 200)
        with open(self.drain, "w"):
            pass
        try:
            r = rt.http_request("GET", self.rc.url + "/readyz")
            self.assertEqual(r.status, 503)
            self.assertIn(b"draining", r.body)
        finally:
            os.unlink(self.drain)
        self.assertEqual(rt.http_request("GET", self.rc.url + "/readyz").status, 200)

    def test_counters_move_with_a_miss_and_hits(self):
        blob = self.image.layer_digests[0]
        size = self.image.layer_sizes[0]
        before = scrape(self.rc)
        self.assertEqual(value(before, "regcache_cache_capacity_bytes"), float(1 << 30))
        build = before["regcache_build_info"].samples
        self.assertEqual(len(build), 1)
        self.assertEqual(build[0].value, 1.0)
        self.assertRegex(build[0].labels["version"], r"^\d+\.\d+\.\d+$")
        for _ in range(3):
            r = self.rc.get("/v2/app/blobs/" + blob)
            self.assertEqual((r.status, rt.sha256_bytes(r.body)), (200, blob))
        # Counted once the response is complete, which is just before its access-log line.
        rt.poll(lambda: len([l for l in self.rc.log_text().splitlines()
                             if l.startswith("GET /v2/app/blobs/" + blob)]) == 3, 10,
                what="three access-log lines")
        after = scrape(self.rc)
        d = lambda fam, **kw: value(after, fam, **kw) - value(before, fam, **kw)  # noqa: E731
        cached = d("regcache_requests_total", kind="blob", result="hit")
        followed = d("regcache_requests_total", kind="blob", result="follow")
        self.assertEqual(d("regcache_requests_total", kind="blob", result="miss"), 1.0)
        self.assertEqual(cached + followed, 2.0)
        self.assertEqual(d("regcache_response_body_bytes_total", kind="blob", result="miss"),
                         float(size))
        self.assertEqual(d("regcache_served_from_cache_bytes_total"), cached * size)
        self.assertEqual(value(after, "regcache_cache_entries"), 1.0)
        self.assertEqual(value(after, "regcache_cache_content_bytes"), float(size))
        self.assertEqual(value(after, "regcache_downloads_in_flight"), 0.0)
        # The histogram: cumulative buckets, +Inf equal to _count, which counts these three.
        buckets = [(s.labels["le"], s.value) for s in after["regcache_request_duration_seconds"]
                   .samples if s.name.endswith("_bucket") and s.labels["kind"] == "blob"]
        self.assertEqual(buckets[-1][0], "+Inf")
        counts = [v for _le, v in buckets]
        self.assertEqual(counts, sorted(counts))
        total = value(after, "regcache_request_duration_seconds",
                      "regcache_request_duration_seconds_count", kind="blob")
        self.assertEqual(counts[-1], total)
        self.assertGreaterEqual(total, 3.0)
        self.assertGreater(value(after, "regcache_request_duration_seconds",
                                 "regcache_request_duration_seconds_sum", kind="blob"), 0.0)

    def test_ping_and_other_kinds_are_counted_apart(self):
        before = scrape(self.rc)
        self.assertEqual(rt.http_request("GET", self.rc.url + "/v2/").status, 200)
        rt.poll(lambda: value(scrape(self.rc), "regcache_requests_total", kind="ping") >
                value(before, "regcache_requests_total", kind="ping"), 10, what="ping counted")
        # The scrapes themselves are kind "other".
        self.assertGreater(value(scrape(self.rc), "regcache_requests_total", kind="other"), 0.0)


CHECK_INTERVAL_MS = 300


class UpstreamObservations(unittest.TestCase):
    """One regcache behind a counting front, with --metrics-listen and a short probe
    interval; credentials configured for the front, so the quota has a credential label."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        layout = os.path.join(cls.tmp, "src")
        cls.image = rt.make_oci_image(layout, "app", [20 * rt.KiB, 10 * rt.KiB], 12)
        cls.upstream = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.upstream.stop)
        rt.push(layout, "app", cls.upstream, "app")
        cls.front = countingproxy.CountingProxy("127.0.0.1", cls.upstream.port).start()
        cls.addClassCleanup(cls.front.stop)
        cls.metrics_port = rt.free_port()
        cls.metrics_url = "http://127.0.0.1:%d" % cls.metrics_port
        # docker-registry without auth never challenges, so the password is never sent; the
        # username is the quota's credential label, the password must appear nowhere.
        cls.rc = at.AuthRegcache(
            rt.REGCACHE, cls.tmp, cls.front.url, name="regcache-observed",
            env={"AUTH_REGISTRIES": "%s|robot|s3cr3t-pw" % cls.front.host,
                 "AUTH_REGISTRY_DELIMITER": "|"},
            extra_args=["--metrics-listen", "127.0.0.1:%d" % cls.metrics_port,
                        "--upstream-check-interval-ms", str(CHECK_INTERVAL_MS)]).start()
        cls.addClassCleanup(cls.rc.stop)
        cls.label = cls.front.host  # the default upstream's host: the URL's authority

    def scrape(self):
        return scrape(self.rc, self.metrics_url)

    def requests(self, families, status):
        return value(families, "regcache_upstream_requests_total", upstream=self.label,
                     status=status)

    def test_upstream_requests_are_counted_by_status(self):
        before = self.scrape()
        r = self.rc.get("/v2/app/manifests/app", {"Accept": rt.ALL_MANIFEST_TYPES})
        self.assertEqual(r.status, 200, r)
        r = self.rc.get("/v2/app/manifests/no-such-tag", {"Accept": rt.ALL_MANIFEST_TYPES})
        self.assertEqual(r.status, 404, r)
        for injected_status in (503, 429):
            self.front.fail_manifests = injected_status
            try:
                r = self.rc.get("/v2/app/manifests/tag-%d" % injected_status,
                                {"Accept": rt.ALL_MANIFEST_TYPES})
                self.assertEqual(r.status, injected_status, r)
            finally:
                self.front.fail_manifests = None
        after = self.scrape()
        for status in ("200", "404", "503", "429"):
            self.assertGreaterEqual(self.requests(after, status) - self.requests(before, status),
                                    1.0, "status %s: %r" % (status, self.front.seen()))
        # What the front answered with 503 is what regcache counted as 503, no more.
        injected = len([s for s in self.front.seen() if s.status == 503])
        self.assertEqual(self.requests(after, "503"), float(injected))
        self.assertNotIn(b"s3cr3t-pw", rt.http_request("GET", self.metrics_url + "/metrics").body)

    def test_ratelimit_gauges_follow_the_headers(self):
        labels = {"upstream": self.label, "credential": "robot"}
        for remaining in (76, 42):
            self.front.set_answer_headers([("RateLimit-Limit", "100;w=21600"),
                                           ("RateLimit-Remaining", "%d;w=21600" % remaining)])
            # A missing tag always goes upstream (nothing to cache), and its 404 carries them.
            r = self.rc.get("/v2/app/manifests/missing-%d" % remaining,
                            {"Accept": rt.ALL_MANIFEST_TYPES})
            self.assertEqual(r.status, 404, r)
            families = self.scrape()
            self.assertEqual(value(families, "regcache_upstream_ratelimit_remaining", **labels),
                             float(remaining))
            self.assertEqual(value(families, "regcache_upstream_ratelimit_limit", **labels), 100.0)
            self.assertEqual(value(families, "regcache_upstream_ratelimit_window_seconds",
                                   **labels), 21600.0)
        # Garbage is never shown as a quota: the last good value stays.
        self.front.set_answer_headers([("RateLimit-Remaining", "lots")])
        try:
            r = self.rc.get("/v2/app/manifests/missing-garbage", {"Accept": rt.ALL_MANIFEST_TYPES})
            self.assertEqual(r.status, 404, r)
            self.assertEqual(value(self.scrape(), "regcache_upstream_ratelimit_remaining",
                                   **labels), 42.0)
        finally:
            self.front.set_answer_headers([])

    def test_client_connection_gauges(self):
        before = value(self.scrape(), "regcache_client_connections_accepted_total")
        for _ in range(3):
            self.assertEqual(rt.http_request("GET", self.rc.url + "/v2/").status, 200)
        rt.poll(lambda: value(self.scrape(), "regcache_client_connections_accepted_total") >=
                before + 3, 10, what="three more accepted connections")
        # The scrape's own connection is open while it is answered.
        self.assertGreaterEqual(value(self.scrape(), "regcache_client_connections_open"), 1.0)

    def test_metrics_listener_serves_only_the_ops_endpoints(self):
        self.assertEqual(rt.http_request("GET", self.metrics_url + "/livez").status, 200)
        self.assertIn(rt.http_request("GET", self.metrics_url + "/readyz").status, (200, 503))
        self.assertEqual(rt.http_request("GET", self.metrics_url + "/v2/").status, 404)
        self.assertEqual(rt.http_request("GET", self.metrics_url + "/v2/app/manifests/app").status,
                         404)
        self.assertIn("regcache_upstream_up", self.scrape())
        # The main port keeps /livez and /readyz for load balancers; /metrics moved.
        self.assertEqual(rt.http_request("GET", self.rc.url + "/livez").status, 200)
        self.assertEqual(rt.http_request("GET", self.rc.url + "/metrics").status, 404)

    def test_readyz_fails_while_the_only_upstream_is_gone(self):
        def ready():
            return rt.http_request("GET", self.rc.url + "/readyz")

        rt.poll(lambda: ready().status == 200, 10, what="ready with the upstream up")
        up = lambda: value(self.scrape(), "regcache_upstream_up", upstream=self.label)  # noqa
        self.assertEqual(up(), 1.0)
        self.front.stop()
        try:
            rt.poll(lambda: ready().status == 503, 15, what="/readyz failing")
            r = ready()
            self.assertIn(b"no upstream answered", r.body)
            self.assertIn(self.label.encode(), r.body)
            self.assertEqual(up(), 0.0)
            recent_error = value(self.scrape(), "regcache_upstream_requests_total",
                                 upstream=self.label, status="error")
            self.assertGreaterEqual(recent_error, 1.0)
        finally:
            self.front.start()
        checked = value(self.scrape(), "regcache_upstream_last_check_timestamp_seconds",
                        upstream=self.label)
        rt.poll(lambda: ready().status == 200, 15, what="/readyz recovering")
        self.assertEqual(up(), 1.0)
        self.assertGreater(value(self.scrape(), "regcache_upstream_last_check_timestamp_seconds",
                                 upstream=self.label), checked)


class TokenRequests(unittest.TestCase):
    """Token requests by result, with a real token-auth docker-registry."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        cls.signer = at.JwtSigner(os.path.join(cls.tmp, "signer"))
        cls.tokens = at.TokenServer(cls.signer, lifetime_s=300)
        cls.addClassCleanup(cls.tokens.stop)
        cls.reg = at.AuthRegistry(cls.tmp, "token-registry", token=(
            cls.tokens.realm, cls.tokens.service, cls.tokens.issuer, cls.signer.cert_path)).start()
        cls.addClassCleanup(cls.reg.stop)
        layout = os.path.join(cls.tmp, "src")
        cls.image = rt.make_oci_image(layout, "small", [2 * rt.KiB + 1], seed=601)
        at.push_with_creds(layout, "small", cls.reg.host, "public/anon", None, tag="1")
        cls.rc = at.AuthRegcache(rt.REGCACHE, cls.tmp, cls.reg.url, name="regcache-tokens").start()
        cls.addClassCleanup(cls.rc.stop)

    def test_token_requests_are_counted_by_result(self):
        label = self.reg.host
        before = scrape(self.rc)
        mark = self.tokens.mark()
        r = self.rc.get("/v2/public/anon/manifests/1", {"Accept": rt.ALL_MANIFEST_TYPES})
        self.assertEqual(r.status, 200, r)
        sent = len(self.tokens.recorded(since=mark))
        self.assertGreaterEqual(sent, 1)
        after = scrape(self.rc)
        ok = lambda f: value(f, "regcache_upstream_token_requests_total",  # noqa: E731
                             upstream=label, result="ok")
        self.assertEqual(ok(after) - ok(before), float(sent))
        # The registry's own answers: the 401 that asked for a token, then the 200.
        for status in ("401", "200"):
            self.assertGreaterEqual(value(after, "regcache_upstream_requests_total",
                                          upstream=label, status=status), 1.0, status)


if __name__ == "__main__":
    rt.main()
