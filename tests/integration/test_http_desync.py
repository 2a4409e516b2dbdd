#!/usr/bin/env python3
"""Request smuggling and desync, end to end through a real regcache, in the spirit of
HAProxy's reg-tests/http-messaging: each case sends raw bytes on a fresh socket, then checks
exactly what came back (how many status lines, which codes, whether the connection was
closed) and that nothing the client hid in the bytes reached the docker-registry upstream
(its access log) or was served by regcache (its access log). After each refused request a
fresh connection must still get 200 for /v2/.

The framing rules themselves are RFC 9112: section 6.1 (Transfer-Encoding with
Content-Length, Transfer-Encoding in HTTP/1.0), 6.3 (chunked must be the final coding,
differing Content-Length), 5.1 (no whitespace before the colon), 5.2 (obs-fold), 2.2 (bare
CR), 3.2 and 3.2.2 (Host, absolute-form), and RFC 6585 section 5 (431).

Run: python3 tests/integration/test_http_desync.py --regcache build/regcache
"""

import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402


def parse_responses(data):
    """Splits the bytes a server sent into responses. Returns (list of rt.Response, the bytes
    left over that do not form a complete response)."""
    responses = []
    rest = data
    for _ in range(100):
        m = re.match(rb"HTTP/1\.[01] (\d{3})([^\r\n]*)\r\n", rest)
        head_end = rest.find(b"\r\n\r\n", m.end() - 2) if m else -1
        if not m or head_end < 0:
            break
        headers = []
        for line in rest[m.end():head_end].split(b"\r\n"):
            if line:
                name, _, value = line.decode("latin-1").partition(":")
                headers.append((name.strip(), value.strip()))
        resp = rt.Response(int(m.group(1)), m.group(2).decode("latin-1").strip(), headers, b"")
        body = rest[head_end + 4:]
        if resp.header("Content-Length") is not None:
            length = int(resp.header("Content-Length"))
            if len(body) < length:
                break
            resp.body, rest = body[:length], body[length:]
        else:                       # a body up to the close (regcache's refusals have a length)
            resp.body, rest = body, b""
        responses.append(resp)
    return responses, rest


class Exchange:
    def __init__(self, sent, received, ending, send_error):
        self.sent = sent
        self.received = received
        self.ending = ending            # "eof", "reset" or "open" (nothing more, not closed)
        self.send_error = send_error
        self.responses, self.leftover = parse_responses(received)

    @property
    def statuses(self):
        return [r.status for r in self.responses]

    @property
    def closed(self):
        return self.ending in ("eof", "reset")

    def __repr__(self):
        return "<sent %r... got %d bytes, statuses %r, %s%s: %r>" % (
            self.sent[:160], len(self.received), self.statuses, self.ending,
            ", send failed: %s" % self.send_error if self.send_error else "", self.received[:300])


class HttpDesync(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        layout = os.path.join(cls.tmp, "src")
        rt.make_oci_image(layout, "v1", [2 * rt.KiB], seed=71)
        cls.upstream = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.upstream.stop)
        rt.push(layout, "v1", cls.upstream, "small")
        cls.rc = rt.Regcache(rt.REGCACHE, cls.tmp, cls.upstream.url).start()
        cls.addClassCleanup(cls.rc.stop)
        cls.sentinels = 0

    # -- helpers

    def host(self):
        return b"Host: %s\r\n" % self.rc.host.encode()

    def smuggled(self, marker):
        """A valid request for a manifest regcache does not have: were it ever parsed as a
        request, regcache would forward it to the upstream and answer it."""
        assert re.fullmatch(r"zq[a-z0-9]+", marker), marker
        return b"GET /v2/%s/manifests/v1 HTTP/1.1\r\n%s\r\n" % (marker.encode(), self.host())

    def exchange(self, data, quiet_s=3.0, total_s=15.0):
        """Sends data on a fresh connection and reads until the server closes it, sends
        nothing for quiet_s, or total_s has passed."""
        sock = socket.create_connection(("127.0.0.1", self.rc.port), timeout=quiet_s)
        received, ending, send_error = b"", "open", None
        try:
            try:
                sock.sendall(data)
            except OSError as e:        # the server may close before reading all of it
                send_error = repr(e)
            deadline = time.monotonic() + total_s
            while time.monotonic() < deadline:
                try:
                    piece = sock.recv(65536)
                except socket.timeout:
                    break
                except ConnectionResetError:
                    ending = "reset"
                    break
                if not piece:
                    ending = "eof"
                    break
                received += piece
        finally:
            sock.close()
        return Exchange(data, received, ending, send_error)

    def assert_still_healthy(self):
        r = self.rc.get("/v2/", timeout=10)
        self.assertEqual(r.status, 200, "a fresh connection after the refusal got %r" % r)

    def assert_refused(self, data, status=400):
        """Exactly one response, with `status`, saying Connection: close, then the close."""
        ex = self.exchange(data)
        self.assertEqual(ex.statuses, [status], ex)
        self.assertEqual(ex.leftover, b"", "bytes after the response: %r" % ex)
        self.assertIn("close", (ex.responses[0].header("Connection") or "").lower(), ex)
        self.assertTrue(ex.closed, "the connection stayed open after the refusal: %r" % ex)
        self.assert_still_healthy()
        return ex

    def assert_never_served(self, marker):
        """Neither the upstream nor regcache's access log saw a request naming marker."""
        # A sentinel request through regcache to the upstream, waited for in the upstream's
        # log: a smuggled request sent earlier would have been logged by then.
        type(self).sentinels += 1
        sentinel = "zzsentinel%d" % self.sentinels
        self.rc.get("/v2/small/manifests/" + sentinel, {"Accept": rt.ALL_MANIFEST_TYPES})
        rt.poll(lambda: self.upstream.request_lines(sentinel), 10,
                what="the sentinel in the upstream's access log")
        self.assertEqual(self.upstream.request_lines(marker), [],
                         "the smuggled request reached the upstream")
        self.assertEqual([line for line in self.rc.log_text().splitlines() if marker in line],
                         [], "regcache logged the smuggled request")

    # -- a request after a refused one

    def test_valid_request_pipelined_after_a_refused_one_is_never_answered(self):
        refused = b"GET /v2/ HTTP/1.1\r\nUser-Agent: no-host\r\n\r\n"     # no Host: 400
        self.assert_refused(refused + self.smuggled("zqafter"))
        self.assert_never_served("zqafter")

    # -- a body on a GET

    def get_with_body(self, marker):
        body = self.smuggled(marker)
        return b"GET /v2/ HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s" % (self.host(), len(body),
                                                                         body)

    def test_get_whose_body_is_a_request_gets_one_response_and_the_body_is_never_run(self):
        ex = self.exchange(self.get_with_body("zqbody"))
        self.assertEqual(len(ex.responses), 1, ex)
        self.assertEqual(ex.leftover, b"", ex)
        self.assertTrue(ex.closed, "the connection stayed open: %r" % ex)
        self.assert_still_healthy()
        self.assert_never_served("zqbody")

    def test_get_with_a_body_is_answered_with_connection_close(self):
        # The connection is closed rather than the body read (see client_connection.cc), so
        # the response must say so (RFC 9112 section 9.6).
        ex = self.exchange(self.get_with_body("zqbodyclose"))
        self.assertEqual(len(ex.responses), 1, ex)
        self.assertIn("close", (ex.responses[0].header("Connection") or "").lower(),
                      "the response before the close does not say Connection: close: %r" % ex)

    def test_get_with_a_body_is_refused_as_a_bad_request_not_as_a_push(self):
        ex = self.exchange(self.get_with_body("zqbody400"))
        self.assertEqual(len(ex.responses), 1, ex)
        self.assertEqual(ex.responses[0].status, 400, ex)

    def test_content_length_0_is_no_body_and_the_connection_serves_the_next_request(self):
        # RFC 9110 section 8.6: a zero length is no content; clients send it on bodiless
        # requests. Both pipelined requests are answered on the one connection.
        first = b"GET /v2/ HTTP/1.1\r\n%sContent-Length: 0\r\n\r\n" % self.host()
        second = b"GET /v2/ HTTP/1.1\r\n%sConnection: close\r\n\r\n" % self.host()
        ex = self.exchange(first + second)
        self.assertEqual(ex.statuses, [200, 200], ex)

    # -- Content-Length and Transfer-Encoding

    def test_transfer_encoding_with_content_length_gets_400_and_close(self):
        body = b"0\r\n\r\n" + self.smuggled("zqtecl")
        for fields in (b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n" % len(body),
                       b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n" % len(body),
                       b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"):
            with self.subTest(fields=fields):
                self.assert_refused(b"GET /v2/ HTTP/1.1\r\n%s%s\r\n%s" % (self.host(), fields,
                                                                          body))
        self.assert_never_served("zqtecl")

    def test_differing_content_lengths_get_400_and_close(self):
        body = self.smuggled("zqclcl")
        n = len(body)
        for fields in (b"Content-Length: 0\r\nContent-Length: %d\r\n" % n,
                       b"Content-Length: %d\r\nContent-Length: 0\r\n" % n,
                       b"Content-Length: 0, %d\r\n" % n):
            with self.subTest(fields=fields):
                self.assert_refused(b"GET /v2/ HTTP/1.1\r\n%s%s\r\n%s" % (self.host(), fields,
                                                                          body))
        self.assert_never_served("zqclcl")

    def test_content_length_that_is_not_only_digits_gets_400_and_close(self):
        body = self.smuggled("zqcldigits")
        for value in (b"+%d" % len(body), b"-1", b"0x10", b"%d.0" % len(body), b""):
            with self.subTest(value=value):
                self.assert_refused(b"GET /v2/ HTTP/1.1\r\n%sContent-Length: %s\r\n\r\n%s" % (
                    self.host(), value, body))
        self.assert_never_served("zqcldigits")

    def test_chunked_that_is_not_the_final_coding_gets_400_and_close(self):
        body = b"0\r\n\r\n" + self.smuggled("zqnotfinal")
        for fields in (b"Transfer-Encoding: chunked, identity\r\n",
                       b"Transfer-Encoding: chunked, gzip\r\n",
                       b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
                       b"Transfer-Encoding: gzip\r\n"):
            with self.subTest(fields=fields):
                self.assert_refused(b"GET /v2/ HTTP/1.1\r\n%s%s\r\n%s" % (self.host(), fields,
                                                                          body))
        self.assert_never_served("zqnotfinal")

    def test_chunked_applied_twice_gets_400_and_close(self):
        body = b"0\r\n\r\n" + self.smuggled("zqtwice")
        for fields in (b"Transfer-Encoding: chunked, chunked\r\n",
                       b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"):
            with self.subTest(fields=fields):
                self.assert_refused(b"GET /v2/ HTTP/1.1\r\n%s%s\r\n%s" % (self.host(), fields,
                                                                          body))
        self.assert_never_served("zqtwice")

    def test_http10_request_with_transfer_encoding_gets_400_and_close(self):
        body = b"0\r\n\r\n" + self.smuggled("zqte10")
        self.assert_refused(b"GET /v2/ HTTP/1.0\r\n%sTransfer-Encoding: chunked\r\n\r\n%s" % (
            self.host(), body))
        self.assert_never_served("zqte10")

    # -- field syntax

    def test_obs_fold_header_line_gets_400_and_close(self):
        body = self.smuggled("zqfold")
        for fold in (b"X-Folded: a\r\n b\r\n", b"X-Folded: a\r\n\tb\r\n",
                     b"Content-Length: 0\r\n %d\r\n" % len(body)):
            with self.subTest(fold=fold):
                self.assert_refused(b"GET /v2/ HTTP/1.1\r\n%s%s\r\n%s" % (self.host(), fold, body))
        self.assert_never_served("zqfold")

    def test_space_before_the_colon_gets_400_and_close(self):
        body = self.smuggled("zqspace")
        for field in (b"Content-Length : %d\r\n" % len(body), b"Content-Length\t: %d\r\n"
                      % len(body), b"Transfer-Encoding : chunked\r\n", b"X-A : b\r\n"):
            with self.subTest(field=field):
                self.assert_refused(b"GET /v2/ HTTP/1.1\r\n%s%s\r\n%s" % (self.host(), field,
                                                                          body))
        self.assert_never_served("zqspace")

    def test_bare_lf_gets_400_and_close(self):
        for data in (b"GET /v2/ HTTP/1.1\n%s\n\n" % self.host().rstrip(b"\r\n"),
                     b"GET /v2/ HTTP/1.1\r\n%sX-A: b\n\r\n" % self.host(),
                     b"GET /v2/ HTTP/1.1\r\n%sX-A: b\nX-B: c\r\n\r\n" % self.host()):
            with self.subTest(data=data):
                self.assert_refused(data)

    def test_bare_cr_gets_400_and_close(self):
        for data in (b"GET /v2/ HTTP/1.1\r%s\r\n" % self.host(),
                     b"GET /v2/ HTTP/1.1\r\n%sX-A: a\rb\r\n\r\n" % self.host(),
                     b"GET /v2/ HTTP/1.1\r\n%sX-A: b\r\r\n\r\n" % self.host()):
            with self.subTest(data=data):
                self.assert_refused(data)

    def test_two_host_fields_get_400_and_close(self):
        self.assert_refused(b"GET /v2/ HTTP/1.1\r\n%sHost: other.example\r\n\r\n" % self.host())

    def test_huge_header_block_gets_431_and_close(self):
        # 64 KiB of fields, each line short: only the total is too large.
        fields = b"".join(b"X-Filler-%03d: %s\r\n" % (i, b"a" * 100) for i in range(600))
        self.assert_refused(b"GET /v2/ HTTP/1.1\r\n%s%s\r\n" % (self.host(), fields), status=431)

    # -- absolute-form request-target (RFC 9112 section 3.2.2)

    def test_absolute_form_target_whose_authority_differs_from_host_gets_400_and_close(self):
        self.assert_refused(b"GET http://other.example/v2/ HTTP/1.1\r\n%s\r\n" % self.host())

    def test_absolute_form_target_whose_authority_differs_from_host_never_reaches_upstream(self):
        # Were the target's authority preferred to Host, a client could name any host in it.
        data = b"GET http://other.example/v2/zqabsform/manifests/v1 HTTP/1.1\r\n%s\r\n" % (
            self.host())
        ex = self.exchange(data)
        self.assertLessEqual(len(ex.responses), 1, ex)
        self.assert_still_healthy()
        self.assert_never_served("zqabsform")

    def test_absolute_form_target_whose_authority_equals_host_is_answered_normally(self):
        first = b"GET http://%s/v2/ HTTP/1.1\r\n%s\r\n" % (self.rc.host.encode(), self.host())
        second = b"GET /v2/ HTTP/1.1\r\n%sConnection: close\r\n\r\n" % self.host()
        ex = self.exchange(first + second)
        self.assertEqual(ex.statuses, [200, 200], ex)
        self.assertEqual([r.body for r in ex.responses], [b"{}", b"{}"], ex)
        self.assertNotIn("close", (ex.responses[0].header("Connection") or "").lower(), ex)


if __name__ == "__main__":
    rt.main()
