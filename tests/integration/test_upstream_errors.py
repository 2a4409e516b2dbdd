#!/usr/bin/env python3
"""Upstream errors reach the client as errors a registry client can read: an upstream 429 or
5xx keeps its status and Retry-After, and when its body is not the registry's error JSON (a
load balancer's HTML page, an empty body) regcache answers with an OCI error body instead.
The upstream here is a tiny HTTP server written for the test, since a real registry always
answers JSON."""
import http.server
import json
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
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, with_body):
        self.server.requests.append((self.command, self.path))
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
        }
        cls.thread = threading.Thread(target=cls.upstream.serve_forever, daemon=True)
        cls.thread.start()
        port = cls.upstream.server_address[1]
        cls.rc = regtest.Regcache(regtest.REGCACHE, cls.workdir, "http://127.0.0.1:%d" % port)
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

    def test_a_head_of_a_rate_limited_tag_keeps_the_status(self):
        response = self.get("html429", method="HEAD")
        self.assertEqual(response.status, 429)
        self.assertEqual(response.body, b"")


if __name__ == "__main__":
    regtest.main()
