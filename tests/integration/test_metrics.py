#!/usr/bin/env python3
"""/metrics, /livez and /readyz: the metrics parse with prometheus_client's own text-format
parser (Debian's python3-prometheus-client), their counters move as a pull goes through (miss,
then hits, with the bytes), the histogram is consistent, and /readyz fails while the drain file
exists and recovers when it goes.

Run: python3 tests/integration/test_metrics.py --regcache build/regcache
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # the interpreter on PATH may not be Debian's; the package installs there
    sys.path.append("/usr/lib/python3/dist-packages")
    from prometheus_client.parser import text_string_to_metric_families


def scrape(rc):
    r = rt.http_request("GET", rc.url + "/metrics")
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


if __name__ == "__main__":
    rt.main()
