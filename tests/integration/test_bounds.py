#!/usr/bin/env python3
"""Bounds on what clients can grow (issue 9): nothing a client sends grows regcache's memory
without bound, and past its per-worker bounds a client gets 503 with Retry-After, never a wait.

The upstream is a tiny registry written for the test: every /v2/<name>/ request wants a bearer
token from its own token server (2 KiB tokens, one per repository scope, as Docker Hub's are),
manifests answer 404, and "slow" blobs send their first byte and then hold the rest until the
test lets them go, so downloads stay in flight as long as a test needs them to.

RSS is VmRSS of /proc/PID/status. The statement checked: after 10,000 distinct repositories and
10,000 distinct ?ns= hosts (h<i>.invalid: the .invalid TLD never resolves, RFC 6761) a second
round of 10,000 + 10,000 new names adds less than ROUND_GROWTH_MAX_KIB, and the whole run stays
below RSS_MAX_KIB over the RSS at start. The token cache's default bound is 10,000 entries of
about 2.4 KiB here, so the first round fills it (about 24 MiB) and the second only replaces.
"""
import asyncio
import hashlib
import http.server
import json
import os
import re
import socketserver
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest  # noqa: E402

TOKEN_BYTES = 2048
NAMES_PER_ROUND = 10_000
CLIENT_CONNECTIONS = 64
ROUND_GROWTH_MAX_KIB = 8 * 1024
RSS_MAX_KIB = 64 * 1024
HOLD_MAX_S = 20  # a held blob is released after this long even if the test forgets


class BoundsUpstream(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # regcache opens many connections at once; 5 would drop SYNs

    def __init__(self):
        self.lock = threading.Lock()
        self.token_requests = 0
        self.blob_requests = []        # digests asked for, in order
        self.blobs = {}                # digest -> bytes
        self.held = set()              # digests whose bodies wait for `release`
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), _UpstreamHandler)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def add_blob(self, data, held):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        if held:
            self.held.add(digest)
        return digest

    def blob_requests_for(self, digest):
        with self.lock:
            return self.blob_requests.count(digest)


class _UpstreamHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection's thread ends

    def log_message(self, *args):
        pass

    def _send(self, status, body, content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/token":
            scope = urllib.parse.parse_qs(url.query).get("scope", [""])[0]
            with self.server.lock:
                self.server.token_requests += 1
            seed = hashlib.sha256(scope.encode()).hexdigest()
            token = (seed * (TOKEN_BYTES // len(seed) + 1))[:TOKEN_BYTES]
            self._send(200, json.dumps({"token": token, "expires_in": 3600}).encode())
            return
        if url.path in ("/v2/", "/v2"):
            self._send(200, b"{}")
            return
        if not (self.headers.get("Authorization") or "").startswith("Bearer "):
            challenge = 'Bearer realm="%s/token",service="bounds-test"' % self.server.url
            self._send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                       headers=[("WWW-Authenticate", challenge)])
            return
        match = re.match(r"^/v2/.+/blobs/(sha256:[0-9a-f]{64})$", url.path)
        if match and match.group(1) in self.server.blobs:
            self._send_blob(match.group(1))
            return
        self._send(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no such thing"}]}')

    do_HEAD = do_GET

    def _send_blob(self, digest):
        data = self.server.blobs[digest]
        with self.server.lock:
            self.server.blob_requests.append(digest)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[:1])
        self.wfile.flush()
        if digest in self.server.held:
            self.server.release.wait(HOLD_MAX_S)
        self.wfile.write(data[1:])


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)

# ----------------------------------------------------------------------------
# a client that keeps many requests in flight (asyncio, keep-alive connections)


async def _read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif "chunked" in headers.get("transfer-encoding", ""):
        for _ in range(1 << 16):
            size = int((await reader.readline()).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    return status, headers, body


async def _client_loop(port, paths, results):
    reader = writer = None
    try:
        while paths:
            path = paths.pop()
            for _ in range(3):  # a connection regcache closed is opened again, a bounded number
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: %s\r\n\r\n" % (
                    path, regtest.OCI_MANIFEST)).encode())
                try:
                    status, headers, body = await asyncio.wait_for(_read_response(reader), 30)
                except (asyncio.IncompleteReadError, ConnectionError):
                    writer.close()
                    writer = None
                    continue
                results.append((path, status, headers, body))
                if headers.get("connection", "").lower() == "close":
                    writer.close()
                    writer = None
                break
            else:
                results.append((path, None, {}, b""))
    finally:
        if writer is not None:
            writer.close()


def run_requests(port, paths, connections=CLIENT_CONNECTIONS, timeout=300):
    """GETs every path with `connections` requests in flight; returns (path, status, headers,
    body) per path, status None when three connections broke on it."""
    results = []
    pending = list(reversed(paths))

    async def main():
        loops = [_client_loop(port, pending, results) for _ in range(connections)]
        await asyncio.wait_for(asyncio.gather(*loops), timeout)

    asyncio.run(main())
    return results


def error_code(body):
    try:
        return json.loads(body)["errors"][0]["code"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


class MemoryStaysBounded(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = regtest.mkdtemp()
        cls.upstream = BoundsUpstream()
        cls.thread = threading.Thread(target=cls.upstream.serve_forever, daemon=True)
        cls.thread.start()
        cls.rc = regtest.Regcache(regtest.REGCACHE, cls.workdir, cls.upstream.url,
                                  extra_args=[])
        cls.rc.start()

    @classmethod
    def tearDownClass(cls):
        cls.rc.stop()
        cls.upstream.shutdown()
        cls.upstream.server_close()

    def one_round(self, first):
        repositories = ["/v2/bounds/r%d/manifests/latest" % i
                        for i in range(first, first + NAMES_PER_ROUND)]
        results = run_requests(self.rc.port, repositories)
        self.assertEqual(len(results), NAMES_PER_ROUND)
        statuses = {}
        for path, status, headers, body in results:
            statuses[status] = statuses.get(status, 0) + 1
        self.assertEqual(statuses.get(404, 0), NAMES_PER_ROUND, statuses)

        hosts = ["/v2/library/x/manifests/latest?ns=h%d.invalid" % i
                 for i in range(first, first + NAMES_PER_ROUND)]
        results = run_requests(self.rc.port, hosts, connections=256)
        self.assertEqual(len(results), NAMES_PER_ROUND)
        statuses = {}
        for path, status, headers, body in results:
            statuses[status] = statuses.get(status, 0) + 1
            # 502: the name does not resolve; 503: the resolver's queue was full, at once.
            self.assertIn(status, (502, 503), (path, status, body[:200]))
            if status == 503:
                self.assertEqual(headers.get("retry-after"), "1")
                self.assertEqual(error_code(body), "TOOMANYREQUESTS")
        return statuses

    def test_twenty_thousand_names_then_twenty_thousand_more_do_not_grow_rss(self):
        pid = self.rc.pid
        start_kib = vm_rss_kib(pid)
        t0 = time.monotonic()
        first = self.one_round(0)
        after_first_kib = vm_rss_kib(pid)
        second = self.one_round(NAMES_PER_ROUND)
        after_second_kib = vm_rss_kib(pid)
        seconds = time.monotonic() - t0
        print("\n    RSS KiB: start %d, after %d repositories + %d hosts %d, after twice that "
              "%d (%.0f s; ?ns= statuses %r then %r; %d token requests)" % (
                  start_kib, NAMES_PER_ROUND, NAMES_PER_ROUND, after_first_kib,
                  after_second_kib, seconds, first, second, self.upstream.token_requests),
              file=sys.stderr)
        self.assertTrue(self.rc.alive())
        if regtest.under_address_sanitizer(pid):
            # ASan keeps freed memory in its quarantine (256 MiB by default) and pads every
            # allocation, so RSS says nothing about regcache's own bounds there (CI saw the
            # second round add 3 MiB once and 14 MiB the next time); the RelWithDebInfo suite
            # asserts both bounds.
            self.skipTest("RSS bounds are not measurable under AddressSanitizer")
        self.assertLess(after_second_kib - after_first_kib, ROUND_GROWTH_MAX_KIB)
        self.assertLess(after_second_kib - start_kib, RSS_MAX_KIB)


class DownloadAndConnectionBounds(unittest.TestCase):
    """--fetches-max 2 in one regcache, --upstream-active-max 2 in another: two held downloads
    fill either bound."""

    @classmethod
    def setUpClass(cls):
        cls.workdir = regtest.mkdtemp()
        cls.upstream = BoundsUpstream()
        cls.thread = threading.Thread(target=cls.upstream.serve_forever, daemon=True)
        cls.thread.start()

    @classmethod
    def tearDownClass(cls):
        cls.upstream.release.set()
        cls.upstream.shutdown()
        cls.upstream.server_close()

    def start_regcache(self, name, extra_args):
        rc = regtest.Regcache(regtest.REGCACHE, self.workdir, self.upstream.url, name=name,
                              extra_args=extra_args)
        rc.start()
        self.addCleanup(rc.stop)
        # The challenge and the token of repository "slow" are known before the downloads, so
        # each download holds exactly one upstream connection.
        warm = regtest.http_request("GET", rc.url + "/v2/slow/manifests/latest")
        self.assertEqual(warm.status, 404)
        return rc

    def start_held_download(self, rc, digest):
        """A GET of a held blob in a thread; returns (thread, result list)."""
        result = []

        def get():
            result.append(regtest.http_request("GET", "%s/v2/slow/blobs/%s" % (rc.url, digest),
                                               timeout=HOLD_MAX_S + 10))
        thread = threading.Thread(target=get, daemon=True)
        thread.start()
        regtest.poll(lambda: self.upstream.blob_requests_for(digest) >= 1, 10,
                     what="the upstream to see the download of %s" % digest)
        return thread, result

    def assert_busy(self, response):
        self.assertEqual(response.status, 503, response)
        self.assertEqual(response.header("Retry-After"), "1")
        self.assertEqual(error_code(response.body), "TOOMANYREQUESTS")

    def get_retrying(self, url):
        """GET url again while it answers 503, as a client honouring Retry-After would (a
        download's slot and connection are free only once it is published, a moment after its
        clients have every byte)."""
        def answered():
            response = regtest.http_request("GET", url)
            return response if response.status != 503 else None
        return regtest.poll(answered, 10, interval=0.1, what="GET %s to stop answering 503" % url)

    def finish(self, downloads, blobs):
        self.upstream.release.set()
        for (thread, result), data in zip(downloads, blobs):
            thread.join(HOLD_MAX_S + 15)
            self.assertFalse(thread.is_alive())
            self.assertEqual(result[0].status, 200)
            self.assertEqual(result[0].body, data)
        self.upstream.release.clear()

    def test_a_miss_past_fetches_max_gets_503_and_a_follower_does_not(self):
        rc = self.start_regcache("fetches", ["--fetches-max", "2"])
        blobs = [os.urandom(4096) for _ in range(3)]
        digests = [self.upstream.add_blob(data, held=True) for data in blobs]
        downloads = [self.start_held_download(rc, digests[0]),
                     self.start_held_download(rc, digests[1])]
        started = time.monotonic()
        refused = regtest.http_request("GET", "%s/v2/slow/blobs/%s" % (rc.url, digests[2]))
        self.assertLess(time.monotonic() - started, 5)  # at once, not after the held ones
        self.assert_busy(refused)
        self.assertEqual(self.upstream.blob_requests_for(digests[2]), 0)
        # A second client of a running download follows it: no new download, no refusal.
        follower = []
        thread = threading.Thread(target=lambda: follower.append(regtest.http_request(
            "GET", "%s/v2/slow/blobs/%s" % (rc.url, digests[0]), timeout=HOLD_MAX_S + 10)),
            daemon=True)
        thread.start()
        time.sleep(0.3)
        self.finish(downloads + [(thread, follower)], [blobs[0], blobs[1], blobs[0]])
        self.assertEqual(self.upstream.blob_requests_for(digests[0]), 1)
        # Once the downloads are over (published, a moment after their clients have all the
        # bytes), the refused blob downloads, as a client retrying after Retry-After sees.
        self.upstream.held.discard(digests[2])
        again = self.get_retrying("%s/v2/slow/blobs/%s" % (rc.url, digests[2]))
        self.assertEqual(again.status, 200)
        self.assertEqual(again.body, blobs[2])

    def test_a_request_past_upstream_active_max_gets_503(self):
        rc = self.start_regcache("active", ["--upstream-active-max", "2"])
        blobs = [os.urandom(4096) for _ in range(2)]
        digests = [self.upstream.add_blob(data, held=True) for data in blobs]
        downloads = [self.start_held_download(rc, digest) for digest in digests]
        started = time.monotonic()
        refused = regtest.http_request("GET", rc.url + "/v2/slow/manifests/other")
        self.assertLess(time.monotonic() - started, 5)
        self.assert_busy(refused)
        self.finish(downloads, blobs)
        after = self.get_retrying(rc.url + "/v2/slow/manifests/other")
        self.assertEqual(after.status, 404)


if __name__ == "__main__":
    regtest.main()
