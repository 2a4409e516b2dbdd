#!/usr/bin/env python3
"""The status page at /_/status: images pulled with skopeo through regcache (a real
docker-registry upstream behind the counting front), then every key number the page carries
(its data-value attributes) compared with /metrics parsed by prometheus_client; a download held
at the front shows on the page with its progress; the page opened in headless Chromium
(Debian's chromium) gives a real, non-blank screenshot of the window's size and a DOM with the
same numbers as /metrics and as the page served (no script anywhere: what a client without
JavaScript reads is what the browser shows); the page needs no client login and is refused to
an address outside --allow-clients; the per-day figures survive a restart.

Run: python3 tests/integration/test_status_page.py --regcache build/regcache
"""

import html.parser
import json
import os
import shutil
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import authtest as at  # noqa: E402
import countingproxy as cp  # noqa: E402
import regtest as rt  # noqa: E402

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # the interpreter on PATH may not be Debian's; the package installs there
    sys.path.append("/usr/lib/python3/dist-packages")
    from prometheus_client.parser import text_string_to_metric_families
try:
    from PIL import Image as PilImage
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    from PIL import Image as PilImage

CHROMIUM = shutil.which("chromium")
WINDOW = (1280, 2000)
HOLD_AFTER_BYTES = 1 * rt.MiB
CACHE_RESULTS = ("hit", "revalidated", "stale")
LOOKUP_RESULTS = CACHE_RESULTS + ("miss", "follow")


class PageNumbers(html.parser.HTMLParser):
    """data-key -> (data-value or None, the element's text) of a status page."""

    def __init__(self, text):
        super().__init__()
        self.numbers = {}
        self.scripts = 0
        self._open = []  # keys of the elements whose text is being collected
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts += 1
        a = dict(attrs)
        self._open.append(a.get("data-key"))
        if a.get("data-key") is not None:
            self.numbers[a["data-key"]] = [a.get("data-value"), ""]

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        for key in self._open:
            if key is not None:
                self.numbers[key][1] += data

    def value(self, key):
        return int(self.numbers[key][0])

    def text(self, key):
        return self.numbers[key][1]


def scrape(rc):
    r = rt.http_request("GET", rc.url + "/metrics")
    assert r.status == 200, r
    return {f.name: f for f in text_string_to_metric_families(r.body.decode())}


def metric(families, name, **labels):
    fam = families.get(name) or families.get(name[:-len("_total")])
    total = 0
    for s in (fam.samples if fam else []):
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            total += s.value
    return int(total)


def metrics_view(families):
    """The page's key numbers as /metrics has them."""
    def requests(results):
        return sum(metric(families, "regcache_requests_total", kind=k, result=r)
                   for k in ("manifest", "blob") for r in results)
    return {
        "lookups": requests(LOOKUP_RESULTS),
        "answered": requests(CACHE_RESULTS),
        "cache_bytes": metric(families, "regcache_served_from_cache_bytes_total"),
        "content_bytes": metric(families, "regcache_cache_content_bytes"),
        "entries": metric(families, "regcache_cache_entries"),
        "max_bytes": metric(families, "regcache_cache_capacity_bytes"),
        "running": metric(families, "regcache_downloads_in_flight"),
    }


def page_view(page):
    return {
        "lookups": page.value("total.lookups"),
        "answered": page.value("total.answered"),
        "cache_bytes": page.value("total.cache_bytes"),
        "content_bytes": page.value("disk.content_bytes"),
        "entries": page.value("disk.entries"),
        "max_bytes": page.value("disk.max_bytes"),
        "running": page.value("downloads.running"),
    }


def today():
    return time.strftime("%Y-%m-%d", time.gmtime())


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", head[:8]
    assert head[12:16] == b"IHDR", head[12:16]
    return struct.unpack(">II", head[16:24])


class StatusPage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        layout = os.path.join(cls.tmp, "src")
        cls.small = rt.make_oci_image(layout, "small", [2 * rt.MiB + 3, 10 * rt.KiB], 31)
        cls.big = rt.make_oci_image(layout, "big", [5 * rt.MiB + 7], 32)
        cls.cold = rt.make_oci_image(layout, "cold", [4 * rt.MiB + 11], 33)
        cls.upstream = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.upstream.stop)
        for name in ("small", "big", "cold"):
            rt.push(layout, name, cls.upstream, "team/" + name, tag="v1")
        cls.front = cp.CountingProxy("127.0.0.1", cls.upstream.port).start()
        cls.addClassCleanup(cls.front.stop)
        cls.rc = rt.Regcache(rt.REGCACHE, cls.tmp, cls.front.url,
                             extra_args=["--cache-max-size", "1g", "--min-free", "1m"]).start()
        cls.addClassCleanup(cls.rc.stop)
        # small twice (the second from the cache), big once; each into a layout of its own, as
        # skopeo skips the blobs a layout has.
        for i, ref in enumerate(("team/small:v1", "team/small:v1", "team/big:v1")):
            rt.pull(cls.rc.host, ref, os.path.join(cls.tmp, "pulled-%d" % i))

    def page(self):
        r = rt.http_request("GET", self.rc.url + "/_/status")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
        return r.body.decode()

    def settled(self):
        """The page and /metrics once they agree (the last pull's counters are written just
        after its responses); fails when they never do."""
        state = {}

        def agree():
            state["metrics"] = scrape(self.rc)
            state["page"] = PageNumbers(self.page())
            return page_view(state["page"]) == metrics_view(state["metrics"])
        try:
            rt.poll(agree, 15, interval=0.2, what="the page's numbers equal /metrics'")
        except Exception:
            self.assertEqual(page_view(state["page"]), metrics_view(state["metrics"]))
            raise
        return state["page"], state["metrics"]

    def manifest_gets(self, repo):
        return len([line for line in self.rc.access_lines(
            path="/v2/%s/manifests/v1" % repo, method="GET") if " 200 " in line])

    def chromium(self, *args):
        """Runs headless Chromium on the page (bounded, its own profile, stopped by PID);
        returns its stdout."""
        self.assertIsNotNone(CHROMIUM, "chromium is not installed (tools/install-deps test)")
        profile = rt.mkdtemp("regcache-chromium-")
        log = os.path.join(profile, "stderr.log")
        out = os.path.join(profile, "stdout.log")
        proc = rt.Proc([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--no-first-run", "--user-data-dir=" + profile,
                        "--window-size=%d,%d" % WINDOW] + list(args) + [
                            self.rc.url + "/_/status"],
                       log, "chromium", stdout_path=out)
        rc = proc.wait(60)
        proc.stop(timeout=5)
        self.assertEqual(rc, 0, rt.tail(rt.read_text(log)))
        return rt.read_text(out)

    # -- the numbers

    def test_page_numbers_equal_metrics(self):
        page, families = self.settled()
        view = metrics_view(families)
        self.assertGreater(view["answered"], 0)  # the second pull came from the cache
        self.assertGreater(view["lookups"], view["answered"])  # the first ones did not
        self.assertGreater(view["cache_bytes"], 2 * rt.MiB)
        self.assertEqual(view["max_bytes"], 1 << 30)
        self.assertEqual(page.numbers["total.hit_ratio"][0],
                         "%.6f" % (view["answered"] / view["lookups"]))
        self.assertEqual(page.text("total.hit_ratio"),
                         "%.1f%%" % (100.0 * view["answered"] / view["lookups"]))
        self.assertEqual(page.value("disk.min_free_bytes"), 1 << 20)
        # Today's row: this server's first day, so the same as since start.
        for key in ("lookups", "answered", "cache_bytes"):
            self.assertEqual(page.value("day.%s.%s" % (today(), key)), view[key], key)

    def test_most_pulled_and_largest_images(self):
        page, _ = self.settled()
        pulled = {page.text("pulled.%d.name" % i): page.value("pulled.%d.pulls" % i)
                  for i in range(10) if "pulled.%d.name" % i in page.numbers}
        self.assertEqual(pulled, {"team/small:v1": self.manifest_gets("team/small"),
                                  "team/big:v1": self.manifest_gets("team/big")})
        self.assertEqual(pulled["team/small:v1"], 2)
        self.assertEqual(page.text("pulled.0.name"), "team/small:v1")

        def declared(image):
            m = json.loads(image.manifest_bytes)
            return m["config"]["size"] + sum(layer["size"] for layer in m["layers"])
        self.assertEqual(page.text("largest.0.name"), "team/big:v1")
        self.assertEqual(page.value("largest.0.bytes"), declared(self.big))
        self.assertEqual(page.text("largest.1.name"), "team/small:v1")
        self.assertEqual(page.value("largest.1.bytes"), declared(self.small))

    def test_upstream_health_quota_and_a_recent_429_are_what_metrics_and_the_front_say(self):
        # The front announces a quota on every answer, then throttles one manifest request.
        self.front.set_answer_headers([("RateLimit-Limit", "100;w=21600"),
                                       ("RateLimit-Remaining", "37;w=21600")])
        try:
            r = self.rc.get("/v2/team/small/manifests/no-such-tag",
                            {"Accept": rt.ALL_MANIFEST_TYPES})
            self.assertEqual(r.status, 404, r)
            self.front.fail_manifests = 429
            r = self.rc.get("/v2/team/small/manifests/throttled",
                            {"Accept": rt.ALL_MANIFEST_TYPES})
            self.assertEqual(r.status, 429, r)
        finally:
            self.front.fail_manifests = None
            self.front.set_answer_headers([])
        text = self.page()
        page, families = PageNumbers(text), scrape(self.rc)
        host = self.front.host
        self.assertEqual(page.text("upstream.0.host"), host)
        self.assertEqual(page.value("upstream.0.up"),
                         metric(families, "regcache_upstream_up", upstream=host))
        self.assertEqual(page.value("upstream.0.up"), 1)   # a 429 is an answer: reachable
        self.assertEqual(page.value("upstream.0.ratelimit_remaining"), 37)
        self.assertEqual(page.value("upstream.0.ratelimit_remaining"),
                         metric(families, "regcache_upstream_ratelimit_remaining",
                                upstream=host))
        self.assertGreaterEqual(page.value("upstream.0.too_many_requests"), 1)
        self.assertEqual(page.value("upstream.0.requests"),
                         metric(families, "regcache_upstream_requests_total", upstream=host))
        self.assertIn("/v2/team/small/manifests/throttled", text)
        self.assertNotIn("None recorded.", text)

    def test_a_running_download_shows_with_its_progress(self):
        blob = self.cold.layer_digests[0]
        size = self.cold.layer_sizes[0]
        self.front.hold_blob_bodies(HOLD_AFTER_BYTES)
        conn = rt.RawHTTP(self.rc.port, timeout=120)
        self.addCleanup(conn.close)
        try:
            conn.send(("GET /v2/team/cold/blobs/%s HTTP/1.1\r\nHost: regcache\r\n\r\n"
                       % blob).encode())
            rt.poll(lambda: self.front.held() >= 1, 60, what="the blob answer held at the front")
            state = {}

            def shown():
                state["page"] = page = PageNumbers(self.page())
                return page.numbers.get("download.0.written_bytes", [None])[0] == str(
                    HOLD_AFTER_BYTES) and page.numbers["download.0.readers"][0] == "1"
            rt.poll(shown, 30, interval=0.2, what="the held download on the page")
            page = state["page"]
            self.assertEqual(page.text("download.0.digest"), blob)
            self.assertEqual(page.text("download.0.repository"), "team/cold")
            self.assertEqual(page.value("download.0.total_bytes"), size)
            self.assertEqual(page.value("downloads.running"), 1)
            self.assertEqual(metric(scrape(self.rc), "regcache_downloads_in_flight"), 1)
            self.assertIn(">1.0 MiB<", self.page())
        finally:
            self.front.release_blob_bodies()
        head = conn.read_head()
        self.assertEqual(head.status, 200, head)
        self.assertEqual(rt.sha256_bytes(conn.read_body(head).body), blob)
        rt.poll(lambda: "download.0.digest" not in PageNumbers(self.page()).numbers, 30,
                what="the finished download gone from the page")

    def test_a_name_with_markup_never_reaches_the_page_unescaped(self):
        r = rt.http_request("GET", self.rc.url + "/v2/%3Cscript%3E/manifests/latest")
        self.assertGreaterEqual(r.status, 400)
        text = self.page()
        self.assertNotIn("<script", text)
        self.assertEqual(PageNumbers(text).scripts, 0)

    # -- who may read it

    def started_answering(self, rc):
        """Starts `rc` and waits until /v2/ answers anything (a 401 or 403 here)."""
        rc.start(wait=False)
        self.addCleanup(rc.stop)

        def answers():
            if not rc.alive():
                raise rt.PollAbort("regcache exited: " + rt.tail(rc.stderr_text(), 5))
            try:
                return rt.http_request("GET", rc.url + "/v2/", timeout=2).status
            except OSError:
                return None
        rt.poll(answers, 30, what="regcache answering")
        return rc

    def test_the_page_needs_no_client_login(self):
        htpasswd = os.path.join(self.tmp, "htpasswd")
        at.make_htpasswd(htpasswd, {"ops": "secret"})
        rc = self.started_answering(rt.Regcache(
            rt.REGCACHE, self.tmp, self.front.url, name="with-login",
            extra_args=["--htpasswd", htpasswd]))
        self.assertEqual(rt.http_request("GET", rc.url + "/v2/").status, 401)
        r = rt.http_request("GET", rc.url + "/_/status")
        self.assertEqual(r.status, 200, r)
        self.assertIn("total.lookups", PageNumbers(r.body.decode()).numbers)

    def test_allow_clients_applies_to_the_page(self):
        rc = self.started_answering(rt.Regcache(
            rt.REGCACHE, self.tmp, self.front.url, name="elsewhere-only",
            extra_args=["--allow-clients", "10.0.0.0/8"]))
        r = rt.http_request("GET", rc.url + "/_/status")
        self.assertEqual(r.status, 403, r)
        self.assertNotIn(b"data-key", r.body)

    # -- in a browser

    def test_chromium_screenshot_is_a_real_page_of_the_window_size(self):
        shot = os.path.join(rt.mkdtemp("regcache-shot-"), "status.png")
        self.chromium("--screenshot=" + shot, "--hide-scrollbars")
        self.assertEqual(png_size(shot), WINDOW)
        with PilImage.open(shot) as image:
            image = image.convert("RGB")
            self.assertEqual(image.size, WINDOW)
            # Text, table borders, the bars and the background: a blank or error page has a
            # handful of colours, a rendered one many (anti-aliased text), most of them in the
            # top part, where the numbers are.
            colors = image.getcolors(maxcolors=1 << 20)
            self.assertGreater(len(colors), 20, "the screenshot looks blank")
            self.assertLess(max(colors)[0], WINDOW[0] * WINDOW[1])
            top = image.crop((0, 0, WINDOW[0], 400)).getcolors(maxcolors=1 << 20)
            self.assertGreater(len(top), 20, "nothing drawn where the numbers are")

    def test_chromium_dom_has_the_metrics_numbers_and_no_script(self):
        _, families = self.settled()
        view = metrics_view(families)
        served = PageNumbers(self.page())  # what a client without JavaScript reads
        dom = PageNumbers(self.chromium("--dump-dom"))
        self.assertEqual(page_view(dom), view)
        self.assertEqual((dom.scripts, served.scripts), (0, 0))
        # Nothing on the page depends on script: the rendered DOM carries the served numbers.
        # What moves between two fetches: the request counts (each fetch counts the one before)
        # and the file system's free space (other processes write to it).
        moving = (".requests", "disk.fs_free_bytes")
        self.assertEqual({k: v for k, v in dom.numbers.items() if not k.endswith(moving)},
                         {k: v for k, v in served.numbers.items() if not k.endswith(moving)})

    # -- across a restart (last: it restarts the shared server)

    def test_zz_day_figures_survive_a_restart(self):
        page, families = self.settled()
        before = metrics_view(families)
        self.rc.stop()
        self.assertTrue(os.path.exists(os.path.join(self.rc.cache_dir, "meta", "daily-traffic")))
        self.rc.start()
        page = PageNumbers(self.page())
        self.assertEqual(page.value("total.lookups"), 0)
        for key in ("lookups", "answered", "cache_bytes"):
            self.assertEqual(page.value("day.%s.%s" % (today(), key)), before[key], key)
        # New traffic adds to the same day.
        rt.pull(self.rc.host, "team/small:v1", os.path.join(self.tmp, "again"))
        page, families = self.settled()
        self.assertEqual(page.value("day.%s.lookups" % today()),
                         before["lookups"] + metrics_view(families)["lookups"])


if __name__ == "__main__":
    rt.main()
