#!/usr/bin/env python3
"""Who owns `Connection` and response framing, checked on raw sockets against a real
regcache: HTTP/1.0 keep-alive (RFC 9112 section 9.3 and appendix C.2.2: a 1.0 connection
persists only when the response says `keep-alive`), `Connection: close` echoed and honoured
(section 9.6), HTTP/1.1 reuse and pipelining, no chunked coding toward an HTTP/1.0 client
(section 6.1; a close-delimited body instead, section 6.3 item 8), and ApacheBench `ab -k`.

Two upstreams: a docker-registry (Content-Length answers) and, for responses whose length
regcache cannot know in advance, a small threaded HTTP/1.1 server defined in this file that
answers blobs and tags/list with `Transfer-Encoding: chunked`. It runs as a child process
(this file with --serve-chunked-upstream) so that it is stopped by its PID like every server.

Run: python3 tests/integration/test_http_framing.py --regcache build/regcache
"""

import hashlib
import http.server
import json
import os
import random
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402

UNKNOWN_DIGEST = "sha256:" + "0123456789abcdef" * 4
CHUNKED_REPO = "chunky"
CHUNKED_TAGS = ["t%03d" % i for i in range(40)]
CHUNK_BYTES = 32 * rt.KiB
# The chunked upstream pauses between chunks so that regcache is still streaming (length
# unknown) when it sends the client its head; without the pause the fetch could finish first
# and the answer carry a Content-Length, which would hide the framing under test.
CHUNK_PAUSE_S = 0.1


def request(method, path, version="1.1", headers=()):
    """The bytes of one request without a body."""
    lines = ["%s %s HTTP/%s" % (method, path, version)]
    lines += ["%s: %s" % (name, value) for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def connection_tokens(resp):
    """The lower-cased tokens of every Connection header of resp."""
    tokens = set()
    for value in resp.header_all("Connection"):
        tokens |= {t.strip().lower() for t in value.split(",") if t.strip()}
    return tokens


def seeded_bytes(seed, size):
    return random.Random(seed).randbytes(size)


class FramingChecks(unittest.TestCase):
    """Assertions shared by both test classes; `rc` is the regcache under test."""

    rc = None

    def host_header(self):
        return ("Host", self.rc.host)

    def http10(self, method, path, keep_alive_token=None, extra=()):
        headers = [self.host_header()] + list(extra)
        if keep_alive_token:
            headers.append(("Connection", keep_alive_token))
        return request(method, path, "1.0", headers)

    def read_head(self, conn, what):
        resp = conn.read_head()
        self.assertIsNotNone(resp, "%s: connection closed without a response" % what)
        return resp

    def assert_content_length_framed(self, resp, what):
        self.assertIsNone(resp.header("Transfer-Encoding"),
                          "%s: Transfer-Encoding on a Content-Length answer: %r" % (what, resp))
        self.assertIsNotNone(resp.header("Content-Length"),
                             "%s: no Content-Length: %r" % (what, resp))

    def assert_no_chunked_coding(self, resp, what):
        # RFC 9112 section 6.1: a server MUST NOT send Transfer-Encoding to an HTTP/1.0 client.
        self.assertIsNone(resp.header("Transfer-Encoding"),
                          "%s: HTTP/1.0 client got Transfer-Encoding: %r" % (what, resp))

    def assert_says_keep_alive(self, resp, what):
        tokens = connection_tokens(resp)
        self.assertIn("keep-alive", tokens,
                      "%s: an HTTP/1.0 keep-alive request needs Connection: keep-alive back "
                      "(RFC 9112 section 9.3), got %r" % (what, resp.headers))
        self.assertNotIn("close", tokens, "%s: %r" % (what, resp.headers))

    def assert_says_close(self, resp, what):
        self.assertIn("close", connection_tokens(resp),
                      "%s: no Connection: close in %r" % (what, resp.headers))

    def assert_socket_answers_again(self, conn, what):
        """A second request on the same socket gets its own 200."""
        conn.send(self.http10("GET", "/v2/", "keep-alive"))
        second = conn.read_response()
        self.assertIsNotNone(second, "%s: the socket was closed after the first response" % what)
        self.assertEqual(second.status, 200, "%s: second response %r" % (what, second))
        self.assertEqual(second.body, b"{}", what)

    def assert_closed(self, conn, what, timeout=5):
        self.assertTrue(conn.at_eof(timeout),
                        "%s: the socket was still open %d s after the response" % (what, timeout))

    def check_http10_keep_alive(self, method, path, status=200, body=None, length=None,
                                extra=(), token="keep-alive"):
        """1.0 + keep-alive: keep-alive echoed, Content-Length framing, socket reused."""
        what = "HTTP/1.0 %s %s (Connection: %s)" % (method, path, token)
        with rt.RawHTTP(self.rc.port, timeout=30) as conn:
            conn.send(self.http10(method, path, token, extra))
            resp = self.read_head(conn, what)
            self.assertEqual(resp.status, status, "%s: %r" % (what, resp))
            self.assert_content_length_framed(resp, what)
            if method != "HEAD":
                conn.read_body(resp)
            if body is not None:
                self.assertEqual(resp.body, body, what + ": body")
            if length is not None:
                self.assertEqual(resp.header("Content-Length"), str(length), what)
            self.assert_says_keep_alive(resp, what)
            self.assert_socket_answers_again(conn, what)
        return resp


class DockerRegistryUpstream(FramingChecks):
    """regcache in front of a docker-registry: every answer has a known length."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        layout = os.path.join(cls.tmp, "src")
        # Layer 1 is fetched by the blob-miss test only, layer 2 by the blob-hit test only.
        cls.img = rt.make_oci_image(layout, "v1", [3 * rt.KiB, 40 * rt.KiB + 3, 20 * rt.KiB + 5],
                                    seed=61)
        cls.upstream = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.upstream.stop)
        rt.push(layout, "v1", cls.upstream, "small")
        cls.rc = rt.Regcache(rt.REGCACHE, cls.tmp, cls.upstream.url).start()
        cls.addClassCleanup(cls.rc.stop)

    def manifest_path(self):
        return "/v2/small/manifests/" + self.img.manifest_digest

    def accept(self):
        return ("Accept", rt.ALL_MANIFEST_TYPES)

    # -- 1. HTTP/1.0 with keep-alive

    def test_http10_keep_alive_ping_gets_keep_alive_back_and_the_socket_serves_again(self):
        self.check_http10_keep_alive("GET", "/v2/", body=b"{}")

    def test_http10_keep_alive_token_is_matched_in_any_case(self):
        for token in ("Keep-Alive", "KEEP-ALIVE", "kEeP-aLiVe"):
            with self.subTest(token=token):
                self.check_http10_keep_alive("GET", "/v2/", body=b"{}", token=token)

    def test_http10_keep_alive_cached_manifest_by_digest_keeps_the_socket(self):
        warm = self.rc.get(self.manifest_path(), {"Accept": rt.ALL_MANIFEST_TYPES})
        self.assertEqual(warm.status, 200, warm)
        self.check_http10_keep_alive("GET", self.manifest_path(), body=self.img.manifest_bytes,
                                     extra=[self.accept()])

    def test_http10_keep_alive_manifest_head_keeps_the_socket(self):
        self.check_http10_keep_alive("HEAD", "/v2/small/manifests/v1", extra=[self.accept()],
                                     length=len(self.img.manifest_bytes))

    def test_http10_keep_alive_blob_miss_keeps_the_socket(self):
        digest, size = self.img.layer_digests[1], self.img.layer_sizes[1]
        self.assertFalse(os.path.exists(self.rc.cache_blob_path(digest)), "already cached")
        resp = self.check_http10_keep_alive("GET", "/v2/small/blobs/" + digest, length=size)
        self.assertEqual(rt.sha256_bytes(resp.body), digest)

    def test_http10_keep_alive_blob_hit_keeps_the_socket(self):
        digest, size = self.img.layer_digests[2], self.img.layer_sizes[2]
        warm = self.rc.get("/v2/small/blobs/" + digest)
        self.assertEqual(rt.sha256_bytes(warm.body), digest, warm)
        rt.poll(lambda: os.path.exists(self.rc.cache_blob_path(digest)), 10,
                what="the blob to be published in the cache")
        resp = self.check_http10_keep_alive("GET", "/v2/small/blobs/" + digest, length=size)
        self.assertEqual(rt.sha256_bytes(resp.body), digest)

    def test_http10_keep_alive_oci_404_keeps_the_socket(self):
        resp = self.check_http10_keep_alive("GET", "/v2/small/blobs/" + UNKNOWN_DIGEST,
                                            status=404)
        self.assertEqual(resp.error_codes(), ["BLOB_UNKNOWN"], resp)

    # -- 2. HTTP/1.0 without keep-alive

    def test_http10_request_without_keep_alive_gets_connection_close_back(self):
        with rt.RawHTTP(self.rc.port, timeout=30) as conn:
            conn.send(self.http10("GET", "/v2/"))
            resp = conn.read_response()
        self.assertIsNotNone(resp, "no response")
        self.assertEqual(resp.status, 200, resp)
        self.assert_says_close(resp, "HTTP/1.0 GET /v2/")

    def test_http10_request_without_keep_alive_is_closed_after_one_response(self):
        # A second request in the same send must not be answered: the first ended the
        # connection.
        with rt.RawHTTP(self.rc.port, timeout=30) as conn:
            conn.send(self.http10("GET", "/v2/") + self.http10("GET", "/v2/"))
            resp = conn.read_response()
            self.assertIsNotNone(resp, "no response")
            self.assertEqual((resp.status, resp.body), (200, b"{}"), resp)
            self.assert_closed(conn, "HTTP/1.0 GET /v2/ without keep-alive")

    # -- 3. HTTP/1.1 with and without Connection: close

    def test_http11_request_with_connection_close_gets_connection_close_back(self):
        with rt.RawHTTP(self.rc.port, timeout=30) as conn:
            conn.send(request("GET", "/v2/", "1.1", [self.host_header(), ("Connection", "close")]))
            resp = conn.read_response()
        self.assertIsNotNone(resp, "no response")
        self.assertEqual(resp.status, 200, resp)
        self.assert_says_close(resp, "HTTP/1.1 GET /v2/ with Connection: close")

    def test_http11_request_with_connection_close_is_closed_after_one_response(self):
        one = request("GET", "/v2/", "1.1", [self.host_header(), ("Connection", "close")])
        with rt.RawHTTP(self.rc.port, timeout=30) as conn:
            conn.send(one + request("GET", "/v2/", "1.1", [self.host_header()]))
            resp = conn.read_response()
            self.assertIsNotNone(resp, "no response")
            self.assertEqual(resp.status, 200, resp)
            self.assert_closed(conn, "HTTP/1.1 GET /v2/ with Connection: close")

    def http11_sequence(self):
        """(request bytes, expected status, HEAD?) for a mix of answers of every kind."""
        host, acc = self.host_header(), self.accept()
        blob = self.img.layer_digests[0]
        return [(request("GET", "/v2/", "1.1", [host]), 200, False),
                (request("GET", self.manifest_path(), "1.1", [host, acc]), 200, False),
                (request("HEAD", "/v2/small/manifests/v1", "1.1", [host, acc]), 200, True),
                (request("GET", "/v2/small/blobs/" + blob, "1.1", [host]), 200, False),
                (request("GET", "/v2/small/blobs/" + UNKNOWN_DIGEST, "1.1", [host]), 404, False),
                (request("GET", "/v2/", "1.1", [host]), 200, False)]

    def test_http11_request_without_connection_close_gets_no_connection_close(self):
        for data, status, is_head in self.http11_sequence():
            with self.subTest(request=data.split(b"\r\n")[0]):
                with rt.RawHTTP(self.rc.port, timeout=30) as conn:
                    conn.send(data)
                    resp = conn.read_response(head=is_head)
                    self.assertIsNotNone(resp, "no response")
                    self.assertEqual(resp.status, status, resp)
                    self.assertNotIn("close", connection_tokens(resp), resp)
                    self.assertFalse(conn.at_eof(0.5), "closed without saying so")

    def test_http11_connection_serves_several_requests_in_sequence(self):
        with rt.RawHTTP(self.rc.port, timeout=30) as conn:
            for data, status, is_head in self.http11_sequence():
                conn.send(data)
                resp = conn.read_response(head=is_head)
                self.assertIsNotNone(resp, "closed before answering %r" % data[:60])
                self.assertEqual(resp.status, status, resp)

    def test_http11_connection_answers_pipelined_requests_in_order(self):
        cases = self.http11_sequence()
        with rt.RawHTTP(self.rc.port, timeout=30) as conn:
            conn.send(b"".join(data for data, _, _ in cases))
            for i, (data, status, is_head) in enumerate(cases):
                resp = conn.read_response(head=is_head)
                self.assertIsNotNone(resp, "closed before answering pipelined request %d" % i)
                self.assertEqual(resp.status, status, "request %d %r: %r" % (i, data[:60], resp))

    # -- 5. ApacheBench keep-alive

    def test_apachebench_keep_alive_run_completes_with_every_request_kept_alive(self):
        args = ["ab", "-k", "-c", "4", "-n", "200", "-s", "20", self.rc.url + "/v2/"]
        try:
            r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        except subprocess.TimeoutExpired:
            self.fail("%s did not finish within 30 s (HTTP/1.0 keep-alive not honoured?)"
                      % " ".join(args))
        out = r.stdout.decode(errors="replace")
        what = "%s exited %d\n%s\n%s" % (" ".join(args), r.returncode, rt.tail(out, 30),
                                         rt.tail(r.stderr.decode(errors="replace"), 10))
        self.assertEqual(r.returncode, 0, what)
        self.assertRegex(out, r"(?m)^Complete requests:\s+200$", what)
        self.assertRegex(out, r"(?m)^Failed requests:\s+0$", what)
        self.assertRegex(out, r"(?m)^Keep-Alive requests:\s+200$", what)


class ChunkedUpstream(FramingChecks):
    """regcache in front of an upstream that answers without Content-Length."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        cls.blob_dir = os.path.join(cls.tmp, "chunked-blobs")
        os.makedirs(cls.blob_dir)
        cls.blobs = {}
        for i, name in enumerate(("h11", "h10", "h10ka", "cl")):
            data = seeded_bytes("framing-%d" % i, 6 * CHUNK_BYTES + 1000 + i)
            digest = rt.sha256_bytes(data)
            with open(os.path.join(cls.blob_dir, digest.split(":", 1)[1]), "wb") as f:
                f.write(data)
            cls.blobs[name] = (digest, data)
        port = rt.free_port()
        cls.upstream_url = "http://127.0.0.1:%d" % port
        cls.upstream = rt.Proc([sys.executable, os.path.abspath(__file__),
                                "--serve-chunked-upstream", str(port), cls.blob_dir],
                               os.path.join(cls.tmp, "chunked-upstream.log"),
                               "chunked upstream :%d" % port)
        cls.addClassCleanup(cls.upstream.stop)
        rt.wait_http_ok(cls.upstream_url + "/v2/", 30, cls.upstream)
        cls.rc = rt.Regcache(rt.REGCACHE, cls.tmp, cls.upstream_url).start()
        cls.addClassCleanup(cls.rc.stop)

    def blob_path(self, name):
        return "/v2/%s/blobs/%s" % (CHUNKED_REPO, self.blobs[name][0])

    def tags_body(self):
        return json.dumps({"name": CHUNKED_REPO, "tags": CHUNKED_TAGS}).encode()

    def check_http11_exact(self, path, body):
        with rt.RawHTTP(self.rc.port, timeout=30) as conn:
            conn.send(request("GET", path, "1.1", [self.host_header()]))
            resp = conn.read_response()
            self.assertIsNotNone(resp, "no response")
            self.assertEqual(resp.status, 200, resp)
            chunked = "chunked" in (resp.header("Transfer-Encoding") or "").lower()
            self.assertTrue(chunked or resp.header("Content-Length") is not None, resp)
            self.assertEqual(resp.body, body, "body of %s" % path)
            self.assertFalse(conn.at_eof(0.5), "HTTP/1.1 connection closed after %s" % path)

    def check_http10_unknown_length(self, path, body, token=None):
        """No chunked coding, the exact body, and the end of the body told by the close."""
        what = "HTTP/1.0 GET %s (Connection: %s)" % (path, token)
        with rt.RawHTTP(self.rc.port, timeout=30) as conn:
            conn.send(self.http10("GET", path, token))
            resp = self.read_head(conn, what)
            self.assertEqual(resp.status, 200, "%s: %r" % (what, resp))
            self.assert_no_chunked_coding(resp, what)
            if resp.header("Content-Length") is None:
                # A close-delimited body (RFC 9112 section 6.3 item 8) ends the connection,
                # which the response must say even if the client asked for keep-alive.
                self.assert_says_close(resp, what)
            conn.read_body(resp)            # until Content-Length or EOF
            self.assertEqual(len(resp.body), len(body), what + ": body length")
            self.assertEqual(resp.body, body, what + ": body")
            if "keep-alive" not in connection_tokens(resp):
                self.assert_closed(conn, what)

    # -- 4. Responses of unknown length

    def test_http11_client_gets_an_unknown_length_blob_byte_exact(self):
        self.check_http11_exact(self.blob_path("h11"), self.blobs["h11"][1])

    def test_http10_client_gets_an_unknown_length_blob_without_chunked_coding(self):
        self.check_http10_unknown_length(self.blob_path("h10"), self.blobs["h10"][1])

    def test_http10_keep_alive_client_gets_a_close_delimited_unknown_length_blob(self):
        self.check_http10_unknown_length(self.blob_path("h10ka"), self.blobs["h10ka"][1],
                                         token="keep-alive")

    def test_http11_client_gets_a_chunked_tags_list_byte_exact(self):
        self.check_http11_exact("/v2/%s/tags/list" % CHUNKED_REPO, self.tags_body())

    def test_http10_client_gets_a_chunked_tags_list_without_chunked_coding(self):
        self.check_http10_unknown_length("/v2/%s/tags/list" % CHUNKED_REPO, self.tags_body())

    def test_http10_keep_alive_client_gets_a_close_delimited_tags_list(self):
        self.check_http10_unknown_length("/v2/%s/tags/list" % CHUNKED_REPO, self.tags_body(),
                                         token="keep-alive")

    def test_http10_keep_alive_client_keeps_the_socket_after_a_content_length_blob(self):
        digest, data = self.blobs["cl"]
        warm = self.rc.get(self.blob_path("cl"))
        self.assertEqual(warm.body, data, warm)
        rt.poll(lambda: os.path.exists(self.rc.cache_blob_path(digest)), 10,
                what="the blob to be published in the cache")
        self.check_http10_keep_alive("GET", self.blob_path("cl"), body=data, length=len(data))


# ----------------------------------------------------------------------------
# the chunked upstream (child process)

class ChunkedUpstreamHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive: /v2/ with Content-Length, blobs and tags/list chunked."""

    protocol_version = "HTTP/1.1"
    blob_dir = None

    def send_fixed(self, status, body, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_chunked(self, body, content_type, extra=()):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        for start in range(0, len(body), CHUNK_BYTES):
            piece = body[start:start + CHUNK_BYTES]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
            time.sleep(CHUNK_PAUSE_S)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def not_found(self, code):
        body = json.dumps({"errors": [{"code": code, "message": "not here"}]}).encode()
        self.send_fixed(404, body)

    def answer(self):
        path = self.path.split("?", 1)[0]
        if path == "/v2/":
            return self.send_fixed(200, b"{}")
        m = re.fullmatch(r"/v2/(.+)/blobs/sha256:([0-9a-f]{64})", path)
        if m:
            file_path = os.path.join(self.blob_dir, m.group(2))
            if not os.path.exists(file_path):
                return self.not_found("BLOB_UNKNOWN")
            with open(file_path, "rb") as f:
                data = f.read()
            digest = ("Docker-Content-Digest", "sha256:" + hashlib.sha256(data).hexdigest())
            if self.command == "HEAD":
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header(*digest)
                self.end_headers()
                return None
            return self.send_chunked(data, "application/octet-stream", [digest])
        if path == "/v2/%s/tags/list" % CHUNKED_REPO:
            body = json.dumps({"name": CHUNKED_REPO, "tags": CHUNKED_TAGS}).encode()
            if self.command == "HEAD":
                return self.send_fixed(200, body)
            return self.send_chunked(body, "application/json")
        return self.not_found("NAME_UNKNOWN")

    do_GET = answer
    do_HEAD = answer


def serve_chunked_upstream(port, blob_dir):
    ChunkedUpstreamHandler.blob_dir = blob_dir
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), ChunkedUpstreamHandler)
    server.daemon_threads = True
    server.serve_forever()      # until the test stops this process by its PID


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-chunked-upstream":
        serve_chunked_upstream(int(sys.argv[2]), sys.argv[3])
    else:
        rt.main()
