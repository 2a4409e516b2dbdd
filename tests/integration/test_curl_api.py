#!/usr/bin/env python3
"""The HTTP API, request by request: /v2/, manifests under content negotiation compared
with the upstream's own answer, blobs, tags/list, input validation (nothing invalid reaches
the upstream), upstream errors passed through, malformed HTTP, pipelining and keep-alive.

Run: python3 tests/integration/test_curl_api.py --regcache build/regcache
"""

import http.client
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402

ACCEPT = {
    "oci": rt.OCI_MANIFEST,
    "docker": rt.DOCKER_MANIFEST,
    "index": rt.OCI_INDEX,
    "all": rt.ALL_MANIFEST_TYPES,
}
UNKNOWN_DIGEST = "sha256:" + "0123456789abcdef" * 4


class CurlApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        layout = os.path.join(cls.tmp, "src")
        cls.small = rt.make_oci_image(layout, "v1", [3 * rt.KiB, 1 * rt.MiB + 7], seed=21)
        cls.multi = rt.make_multiarch_index(layout, "m1", [10 * rt.KiB, 2 * rt.KiB], seed=22)

        cls.upstream = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.upstream.stop)
        rt.push(layout, "v1", cls.upstream, "small")
        for extra_tag in ("v2", "latest"):
            rt.skopeo_copy("oci:%s:v1" % layout, "docker://%s/small:%s" % (
                cls.upstream.host, extra_tag), dest_tls_verify=False)
        rt.push(layout, "m1", cls.upstream, "multi", all_images=True)
        # A Docker schema 2 manifest (skopeo converts; its digest is read back below).
        rt.skopeo_copy("oci:%s:v1" % layout, "docker://%s/dockerv2:v1" % cls.upstream.host,
                       dest_tls_verify=False, preserve_digests=False, extra=["--format", "v2s2"])
        r = cls.upstream.get("/v2/dockerv2/manifests/v1", {"Accept": rt.DOCKER_MANIFEST})
        assert r.status == 200 and r.header("Content-Type") == rt.DOCKER_MANIFEST, r
        cls.docker_digest = r.header("Docker-Content-Digest")

        cls.rc = rt.Regcache(rt.REGCACHE, cls.tmp, cls.upstream.url).start()
        cls.addClassCleanup(cls.rc.stop)

    # -- helpers

    def compare_with_upstream(self, method, path, headers):
        """Asks upstream and regcache the same thing; compares what a client relies on."""
        want = self.upstream.get(path, headers, method)
        got = self.rc.get(path, headers, method)
        what = "%s %s %r" % (method, path, headers)
        self.assertEqual(got.status, want.status, "%s: status (upstream said %r, regcache %r)" % (
            what, want, got))
        if want.status == 200:
            for h in ("Content-Type", "Docker-Content-Digest", "Content-Length"):
                self.assertEqual(got.header(h), want.header(h), "%s: %s" % (what, h))
            self.assertEqual(got.body, want.body, what + ": body")
        else:
            self.assertEqual(got.error_codes(), want.error_codes(), what + ": error codes")
        return got

    def upstream_saw(self, fragment):
        return [line for line in self.upstream.request_lines() if fragment in line]

    # -- /v2/

    def test_v2_root_answers_200_locally_without_asking_the_upstream(self):
        before = len(self.upstream_saw('"GET /v2/ '))
        for _ in range(3):
            r = self.rc.get("/v2/")
            self.assertEqual(r.status, 200, r)
        self.assertEqual(len(self.upstream_saw('"GET /v2/ ')), before)

    # -- manifests

    def acceptable_cases(self):
        small, multi = self.small, self.multi
        child = multi.images["amd64"].manifest_digest
        cases = []
        for ref in ("v1", small.manifest_digest):
            cases += [("small", ref, "oci"), ("small", ref, "all")]
        cases += [("dockerv2", "v1", "docker"), ("dockerv2", "v1", "all")]
        for acc in ("docker", "all"):
            cases.append(("dockerv2", self.docker_digest, acc))
        for ref in ("m1", multi.index_digest):
            cases += [("multi", ref, "index"), ("multi", ref, "all")]
        cases += [("multi", child, "oci"), ("multi", child, "all")]
        return cases

    def test_manifest_head_and_get_match_the_upstream_for_every_acceptable_type(self):
        # Twice: the second round is answered from what regcache cached.
        for round_no in (1, 2):
            for repo, ref, acc in self.acceptable_cases():
                for method in ("HEAD", "GET"):
                    with self.subTest(round=round_no, repo=repo, ref=ref, accept=acc,
                                      method=method):
                        r = self.compare_with_upstream(method, "/v2/%s/manifests/%s" % (repo, ref),
                                                       {"Accept": ACCEPT[acc]})
                        self.assertEqual(r.status, 200)

    def test_manifest_get_by_digest_returns_the_pushed_bytes(self):
        for repo, img in (("small", self.small), ("multi", self.multi.images["arm64"])):
            r = self.rc.get("/v2/%s/manifests/%s" % (repo, img.manifest_digest),
                            {"Accept": rt.ALL_MANIFEST_TYPES})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, img.manifest_bytes)
            self.assertEqual(r.header("Content-Type"), rt.OCI_MANIFEST)
            self.assertEqual(r.header("Docker-Content-Digest"), img.manifest_digest)

    def test_manifest_in_a_type_the_client_does_not_accept_gets_the_upstream_answer(self):
        # distribution 2.8 answers 404 MANIFEST_UNKNOWN here; a mirror must not hand a
        # client a manifest type it did not ask for, even from its cache.
        small, multi = self.small, self.multi
        child = multi.images["amd64"].manifest_digest
        cases = []
        for ref in ("v1", small.manifest_digest):
            cases += [("small", ref, "docker"), ("small", ref, "index")]
        cases += [("multi", "m1", "oci"), ("multi", "m1", "docker"), ("multi", child, "docker")]
        # By digest, distribution 2.8 serves a Docker schema 2 manifest whatever the Accept.
        cases += [("dockerv2", self.docker_digest, "oci")]
        for repo, ref, acc in self.acceptable_cases() + cases:   # the first ones warm the cache
            with self.subTest(repo=repo, ref=ref, accept=acc):
                self.compare_with_upstream("GET", "/v2/%s/manifests/%s" % (repo, ref),
                                           {"Accept": ACCEPT[acc]})

    def test_unknown_manifest_gets_the_upstream_404(self):
        for path in ("/v2/small/manifests/nosuchtag", "/v2/small/manifests/" + UNKNOWN_DIGEST,
                     "/v2/nosuchrepo/manifests/v1"):
            with self.subTest(path=path):
                r = self.compare_with_upstream("GET", path, {"Accept": rt.ALL_MANIFEST_TYPES})
                self.assertEqual(r.status, 404)

    # -- blobs

    def test_blob_head_gives_content_length_and_digest_and_no_body(self):
        for d, size in zip(self.small.layer_digests, self.small.layer_sizes):
            with rt.RawHTTP(self.rc.port, timeout=30) as c:
                # HEAD then a GET /v2/ on the same connection: any body bytes after the
                # HEAD would be parsed as the second status line and fail.
                c.send(("HEAD /v2/small/blobs/%s HTTP/1.1\r\nHost: %s\r\n\r\n"
                        "GET /v2/ HTTP/1.1\r\nHost: %s\r\n\r\n" % (
                            d, self.rc.host, self.rc.host)).encode())
                head = c.read_response(head=True)
                self.assertIsNotNone(head, "connection closed without an answer to HEAD")
                self.assertEqual(head.status, 200, head)
                self.assertEqual(head.header("Content-Length"), str(size), head)
                self.assertEqual(head.header("Docker-Content-Digest"), d, head)
                nxt = c.read_response()
                self.assertIsNotNone(nxt, "no answer to the GET after the HEAD")
                self.assertEqual(nxt.status, 200, nxt)

    def test_blob_get_bytes_hash_to_the_digest(self):
        for d, size in zip(self.small.blob_digests, [None] + self.small.layer_sizes):
            r = self.rc.get("/v2/small/blobs/%s" % d)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(rt.sha256_bytes(r.body), d)
            self.assertEqual(r.header("Docker-Content-Digest"), d)
            if size is not None:
                self.assertEqual(len(r.body), size)

    def test_blob_get_with_curl_hashes_to_the_digest(self):
        d = self.small.layer_digests[1]
        out = os.path.join(self.tmp, "curl-blob")
        r = rt.curl(["-f", "-o", out, self.rc.url + "/v2/small/blobs/" + d], timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(rt.sha256_file(out), d)

    def test_unknown_blob_gets_the_upstreams_404_blob_unknown(self):
        path = "/v2/small/blobs/" + UNKNOWN_DIGEST
        before = len(self.upstream_saw(path))
        r = self.rc.get(path)
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.error_codes(), ["BLOB_UNKNOWN"], r)
        self.assertGreater(len(self.upstream_saw(path)), before,
                           "the upstream was not asked for the unknown blob")
        h = self.rc.get(path, method="HEAD")
        self.assertEqual(h.status, 404, h)
        self.assertEqual(h.body, b"")

    # -- tags/list

    def test_tags_list_equals_the_upstreams(self):
        for path in ("/v2/small/tags/list", "/v2/multi/tags/list", "/v2/small/tags/list?n=2",
                     "/v2/small/tags/list?n=1&last=latest"):
            with self.subTest(path=path):
                want = self.upstream.get(path)
                got = self.rc.get(path)
                self.assertEqual(got.status, want.status, got)
                self.assertEqual(json.loads(got.body), json.loads(want.body))
        r = self.rc.get("/v2/small/tags/list")
        self.assertEqual(sorted(json.loads(r.body)["tags"]), ["latest", "v1", "v2"])

    def test_tags_list_of_an_unknown_repository_gets_the_upstreams_404(self):
        want = self.upstream.get("/v2/nosuchrepo/tags/list")
        got = self.rc.get("/v2/nosuchrepo/tags/list")
        self.assertEqual(got.status, 404, got)
        self.assertEqual(got.error_codes(), want.error_codes())

    # -- validation

    def check_rejected(self, path, code, method="GET"):
        # Each path carries a marker that appears in no valid request, so the upstream's log
        # can be searched for it.
        with rt.RawHTTP(self.rc.port) as c:
            c.send(("%s %s HTTP/1.1\r\nHost: %s\r\nAccept: %s\r\n\r\n" % (
                method, path, self.rc.host, rt.ALL_MANIFEST_TYPES)).encode())
            r = c.read_response(head=(method == "HEAD"))
        self.assertIsNotNone(r, "%s %s: connection closed without an answer" % (method, path))
        self.assertEqual(r.status, 400, "%s %s: %r" % (method, path, r))
        if method == "GET":
            body = json.loads(r.body)
            self.assertEqual([e.get("code") for e in body["errors"]], [code], r)
            self.assertTrue(body["errors"][0].get("message"), r)

    def test_invalid_repository_names_get_400_name_invalid_and_never_reach_the_upstream(self):
        paths = ["/v2/Zq9Upper/manifests/v1", "/v2/zq9a..b/manifests/v1",
                 "/v2/-zq9lead/manifests/v1", "/v2/zq9trail-/blobs/" + UNKNOWN_DIGEST,
                 "/v2/zq9a//b/manifests/v1", "/v2/zq9a/../b/manifests/v1",
                 "/v2/zq9a/%2e%2e/b/manifests/v1", "/v2/zq9%41bc/tags/list"]
        for p in paths:
            with self.subTest(path=p):
                self.check_rejected(p, "NAME_INVALID")
        self.assertEqual(self.upstream_saw("zq9"), [])

    def test_invalid_tags_get_400_tag_invalid_and_never_reach_the_upstream(self):
        paths = ["/v2/small/manifests/-zq8tag", "/v2/small/manifests/.zq8tag",
                 "/v2/small/manifests/zq8" + "a" * 130, "/v2/small/manifests/zq8%20x"]
        for p in paths:
            with self.subTest(path=p):
                self.check_rejected(p, "TAG_INVALID")
                self.check_rejected(p, "TAG_INVALID", method="HEAD")
        self.assertEqual(self.upstream_saw("zq8"), [])

    def test_invalid_digests_get_400_digest_invalid_and_never_reach_the_upstream(self):
        paths = ["/v2/small/blobs/sha256:zq7", "/v2/small/blobs/zq7latest",
                 "/v2/small/blobs/sha256:zq7" + "g" * 61,
                 "/v2/small/blobs/sha256:" + "A" * 61 + "zq7",
                 "/v2/small/blobs/sha256:" + "a" * 63 + "zq7",
                 "/v2/small/manifests/sha256:zq7123"]
        for p in paths:
            with self.subTest(path=p):
                self.check_rejected(p, "DIGEST_INVALID")
        self.assertEqual(self.upstream_saw("zq7"), [])

    # -- malformed HTTP on a raw socket

    def send_raw(self, data, max_responses=3, timeout=10):
        """Sends bytes, then collects responses until EOF (or nothing more in 3 s)."""
        responses = []
        self.last_raw_error = None
        with rt.RawHTTP(self.rc.port, timeout=timeout) as c:
            try:
                c.send(data)
            except OSError as e:
                self.last_raw_error = "send: %r" % e
            for _ in range(max_responses):
                try:
                    r = c.read_response()
                except (TimeoutError, OSError) as e:
                    if not responses:
                        self.last_raw_error = "read: %r" % e
                    break
                if r is None:
                    break
                responses.append(r)
                c.sock.settimeout(3)
        return responses

    def assertRejected(self, data, statuses=(400,)):
        rs = self.send_raw(data)
        self.assertTrue(rs, "no response at all to %r (%s)" % (data[:120], self.last_raw_error))
        self.assertIn(rs[0].status, statuses, "%r -> %r" % (data[:120], rs[0]))
        self.assertEqual(len(rs), 1, "more than one response to one malformed request: %r" % rs)

    def test_content_length_with_transfer_encoding_gets_400_and_nothing_is_smuggled(self):
        smuggled = b"GET /v2/zq6smuggled/manifests/v1 HTTP/1.1\r\nHost: x\r\n\r\n"
        body = b"0\r\n\r\n" + smuggled
        self.assertRejected(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n" % len(body) + body)
        self.assertRejected(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                            b"Content-Length: 5\r\n\r\n" + body)
        self.assertEqual(self.upstream_saw("zq6smuggled"), [])

    def test_obs_fold_header_gets_400(self):
        self.assertRejected(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n")
        self.assertRejected(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n\tb\r\n\r\n")

    def test_bare_lf_line_endings_get_400(self):
        self.assertRejected(b"GET /v2/ HTTP/1.1\nHost: x\n\n")
        self.assertRejected(b"GET /v2/ HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n")

    def test_garbage_request_line_gets_400(self):
        self.assertRejected(b"THIS IS NOT HTTP\r\n\r\n")
        self.assertRejected(b"GET /v2/ HTTP/9.9\r\nHost: x\r\n\r\n", statuses=(400, 505))

    def test_huge_header_gets_431_or_400(self):
        self.assertRejected(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (128 * rt.KiB)
                            + b"\r\n\r\n", statuses=(431, 400))

    def test_tls_client_hello_gets_400_without_waiting_for_a_line_end(self):
        # A TLS ClientHello (what skopeo --src-tls-verify=false sends first) cannot start a
        # request: 0x16 is no method character, so it can be refused at once. This one has
        # no CR or LF byte in it, so a server that waits for the end of the request line
        # never answers (real ClientHellos usually contain a 0x0a byte somewhere, which hides
        # the problem for them).
        hello = (b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03" + bytes(range(0x20, 0x40))
                 + b"\x00" * 8)
        assert b"\n" not in hello and b"\r" not in hello
        with rt.RawHTTP(self.rc.port, timeout=5) as c:
            c.send(hello)
            try:
                r = c.read_response()
            except (TimeoutError, OSError, ValueError) as e:
                self.fail("neither an answer nor a close within 5 s of a TLS ClientHello: %r" % e)
        if r is not None:
            self.assertEqual(r.status, 400, r)

    def test_server_still_serves_after_malformed_requests(self):
        self.send_raw(b"GET /v2/ HTTP/1.1\nHost: x\n\n", timeout=3)
        self.send_raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64), timeout=3)
        r = self.rc.get("/v2/")
        self.assertEqual(r.status, 200, r)

    # -- connection handling

    def test_two_pipelined_gets_on_one_connection_are_both_answered_in_order(self):
        d = self.small.manifest_digest
        cfg = self.small.config_digest
        with rt.RawHTTP(self.rc.port, timeout=30) as c:
            c.send(("GET /v2/small/manifests/%s HTTP/1.1\r\nHost: %s\r\nAccept: %s\r\n\r\n"
                    "GET /v2/small/blobs/%s HTTP/1.1\r\nHost: %s\r\n\r\n" % (
                        d, self.rc.host, rt.OCI_MANIFEST, cfg, self.rc.host)).encode())
            first = c.read_response()
            second = c.read_response()
        self.assertIsNotNone(first, "no answer to the first pipelined request")
        self.assertIsNotNone(second, "no answer to the second pipelined request")
        self.assertEqual((first.status, rt.sha256_bytes(first.body)), (200, d), first)
        self.assertEqual((second.status, rt.sha256_bytes(second.body)), (200, cfg), second)

    def test_keep_alive_connection_is_reused_for_several_requests(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.rc.port, timeout=30)
        try:
            ports = []
            for path, hdrs in (("/v2/", {}),
                               ("/v2/small/manifests/v1", {"Accept": rt.ALL_MANIFEST_TYPES}),
                               ("/v2/small/blobs/" + self.small.layer_digests[0], {}),
                               ("/v2/small/blobs/" + UNKNOWN_DIGEST, {}),
                               ("/v2/", {})):
                conn.request("GET", path, headers=hdrs)
                r = conn.getresponse()
                r.read()
                self.assertIn(r.status, (200, 404), path)
                self.assertIsNotNone(conn.sock, "regcache closed the connection after " + path)
                ports.append(conn.sock.getsockname()[1])
            self.assertEqual(len(set(ports)), 1, "a new connection was opened: %r" % ports)
        finally:
            conn.close()


if __name__ == "__main__":
    rt.main()
