#!/usr/bin/env python3
"""Upstream errors reach the client as errors a registry client can read: an upstream 429 or
5xx keeps its status and Retry-After, and when its body is not the registry's error JSON (a
load balancer's HTML page, an empty body) regcache answers with an OCI error body instead.
The upstream here is a tiny HTTP server written for the test, since a real registry always
answers JSON."""
import hashlib
import http.server
import json
import time
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest  # noqa: E402


class MisbehavingUpstream(http.server.ThreadingHTTPServer):
    """Answers every manifest request with the status/body configured for its repository."""

    def __init__(self):
        self.answers = {}  # repository -> (status, content_type, body, retry_after)
        self.requests = []
        self.blobs = {}       # storage name -> bytes
        self.blob_names = {}  # digest -> storage name
        self.delays = {}      # storage name -> seconds before answering
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, with_body):
        self.server.requests.append((self.command, self.path))
        if self.path.startswith("/storage/"):
            # Blob storage behind a redirect: a configured delay, then the bytes.
            name = self.path.rsplit("/", 1)[1]
            body = self.server.blobs[name]
            time.sleep(self.server.delays.get(name, 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if "/blobs/sha256:" in self.path:
            digest = self.path.rsplit("/", 1)[1]
            self.send_response(307)
            self.send_header("Location", "http://127.0.0.1:%d/storage/%s" % (
                self.server.server_address[1], self.server.blob_names[digest]))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path in ("/v2/", "/v2"):
            status, content_type, body, retry_after = 200, "application/json", b"{}", None
        else:
            repository = self.path.split("/")[2]
            status, content_type, body, retry_after = self.server.answers.get(
                repository, (404, "application/json", b'{"errors":[{"code":"NAME_UNKNOWN"}]}', None))
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        if retry_after:
            self.send_header("Retry-After", retry_after)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self):
        self._answer(True)

    def do_HEAD(self):
        self._answer(False)


class UpstreamErrors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = regtest.mkdtemp()
        cls.upstream = MisbehavingUpstream()
        cls.upstream.answers = {
            "html429": (429, "text/html", b"<html>slow down</html>", "42"),
            "empty503": (503, None, b"", None),
            "json503": (503, "application/json",
                        b'{"errors":[{"code":"UNAVAILABLE","message":"upstream says so"}]}', "7"),
            "bigschema1": (200, "application/vnd.docker.distribution.manifest.v1+prettyjws",
                           b'{"schemaVersion":1,"padding":"' + b"x" * 5000 + b'"}', None),
        }
        cls.thread = threading.Thread(target=cls.upstream.serve_forever, daemon=True)
        cls.thread.start()
        port = cls.upstream.server_address[1]
        cls.rc = regtest.Regcache(regtest.REGCACHE, cls.workdir, "http://127.0.0.1:%d" % port,
                                  extra_args=["--manifest-bytes-max", "1000"])
        cls.rc.start()

    @classmethod
    def tearDownClass(cls):
        cls.rc.stop()
        cls.upstream.shutdown()
        cls.upstream.server_close()

    def get(self, repository, method="GET"):
        return regtest.http_request(method, "%s/v2/%s/manifests/latest" % (self.rc.url, repository),
                                    headers={"Accept": "application/vnd.oci.image.index.v1+json"})

    def test_a_429_with_an_html_body_keeps_status_and_retry_after_with_an_oci_error_body(self):
        response = self.get("html429")
        self.assertEqual(response.status, 429)
        self.assertEqual(response.header("Retry-After"), "42")
        errors = json.loads(response.body)["errors"]
        self.assertEqual(errors[0]["code"], "TOOMANYREQUESTS")
        self.assertNotIn(b"<html>", response.body)

    def test_a_503_without_a_body_gets_an_oci_error_body(self):
        response = self.get("empty503")
        self.assertEqual(response.status, 503)
        errors = json.loads(response.body)["errors"]
        self.assertTrue(errors and errors[0]["code"])

    def test_a_503_with_the_registry_error_json_is_passed_through_as_it_is(self):
        response = self.get("json503")
        self.assertEqual(response.status, 503)
        self.assertEqual(response.header("Retry-After"), "7")
        self.assertEqual(json.loads(response.body)["errors"][0]["message"], "upstream says so")

    def test_a_manifest_over_the_size_limit_is_refused_never_cut_off(self):
        # A signed schema1 answer is relayed uncached, but only when it was read whole.
        response = self.get("bigschema1")
        self.assertEqual(response.status, 502)
        self.assertEqual(json.loads(response.body)["errors"][0]["code"], "UPSTREAM_UNAVAILABLE")

    def test_a_head_of_a_rate_limited_tag_keeps_the_status(self):
        response = self.get("html429", method="HEAD")
        self.assertEqual(response.status, 429)
        self.assertEqual(response.body, b"")


class TimedOutConnections(unittest.TestCase):
    """A request that timed out must not leave its connection in the pool: the late answer
    would be read as the answer to the next request on that connection."""

    @classmethod
    def setUpClass(cls):
        cls.workdir = regtest.mkdtemp()
        cls.upstream = MisbehavingUpstream()
        for name in ("slow", "fast"):
            data = os.urandom(64 * 1024)
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            cls.upstream.blobs[name] = data
            cls.upstream.blob_names[digest] = name
            setattr(cls, name + "_digest", digest)
            setattr(cls, name + "_data", data)
        cls.upstream.delays["slow"] = 2.0
        cls.thread = threading.Thread(target=cls.upstream.serve_forever, daemon=True)
        cls.thread.start()
        port = cls.upstream.server_address[1]
        cls.rc = regtest.Regcache(regtest.REGCACHE, cls.workdir, "http://127.0.0.1:%d" % port,
                                  extra_args=["--upstream-read-timeout-ms", "1000"])
        cls.rc.start()

    @classmethod
    def tearDownClass(cls):
        cls.rc.stop()
        cls.upstream.shutdown()
        cls.upstream.server_close()

    def test_the_answer_after_a_timeout_is_never_given_to_the_next_request(self):
        slow = regtest.http_request("GET", "%s/v2/r/blobs/%s" % (self.rc.url, self.slow_digest))
        self.assertGreaterEqual(slow.status, 500)  # the redirect target took longer than the timeout
        time.sleep(1.5)  # the late answer has arrived on that connection by now
        fast = regtest.http_request("GET", "%s/v2/r/blobs/%s" % (self.rc.url, self.fast_digest))
        self.assertEqual(fast.status, 200)
        self.assertEqual(hashlib.sha256(fast.body).hexdigest(), self.fast_digest[7:])


if __name__ == "__main__":
    regtest.main()
