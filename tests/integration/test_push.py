#!/usr/bin/env python3
"""Push passthrough (--allow-push, docker-registry-proxy's ALLOW_PUSH=true): without it a push
through regcache gets 405 UNSUPPORTED and nothing reaches the upstream; with it skopeo pushes
through regcache (the upstream stores the image: its manifest digest read straight from the
upstream equals the pushed one), a pull through regcache then gives identical digests, and a
new manifest pushed to a cached tag is served at once. A 64 MiB blob streams through with
regcache's peak RSS well below the blob's size. Against an htpasswd upstream for which regcache
holds credentials, the ping relays the upstream's challenge, a push without client credentials
gets the upstream's 401 (regcache's credentials never ride along: the counting front never sees
them on a blob HEAD, POST, PUT or PATCH) and one with the client's own (skopeo --dest-creds)
succeeds, while pulls without client credentials still use regcache's. curl pushes a blob with a chunked
PUT body and with Expect: 100-continue.

Run: python3 tests/integration/test_push.py --regcache build/regcache
"""

import base64
import hashlib
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402
import authtest as at  # noqa: E402
import countingproxy as cp  # noqa: E402

USER, PASSWORD = "pusher", "push-secret"
REGCACHE_USER, REGCACHE_PASSWORD = "regcache", "regcache-secret"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def upstream_manifest_digest(registry, repo, tag, headers=None):
    h = {"Accept": OCI_MANIFEST}
    h.update(headers or {})
    r = registry.get("/v2/%s/manifests/%s" % (repo, tag), headers=h)
    assert r.status == 200, r
    return r.header("Docker-Content-Digest")


def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for pid %d" % pid)


def curl_status(args):
    """curl -s -o /dev/null -D - ARGS: (status of the final answer, head text)."""
    r = rt.curl(["-s", "-o", "/dev/null", "-D", "-"] + args)
    heads = [b for b in r.stdout.decode(errors="replace").split("\r\n\r\n") if b.strip()]
    last = heads[-1] if heads else ""
    status = int(last.split()[1]) if last.startswith("HTTP/") else 0
    return status, r.stdout.decode(errors="replace")


def header_of(head_text, name):
    for line in head_text.split("\r\n"):
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


class PushRefused(unittest.TestCase):
    """ALLOW_PUSH=false (the default spelled out): pushes are refused as before."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        cls.layout = os.path.join(cls.tmp, "src")
        rt.make_oci_image(cls.layout, "app", [4 * rt.KiB + 1], seed=1301)
        cls.upstream = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.upstream.stop)
        cls.rc = rt.Regcache(rt.REGCACHE, cls.tmp, cls.upstream.url,
                             extra_env={"ALLOW_PUSH": "false"}).start()
        cls.addClassCleanup(cls.rc.stop)

    def test_skopeo_push_fails_and_the_upstream_sees_no_post(self):
        r = rt.skopeo_copy("oci:%s:app" % self.layout,
                           "docker://%s/refused/app:v1" % self.rc.host, dest_tls_verify=False,
                           check=False, timeout=120)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(self.upstream.request_lines('"POST '), [])
        self.assertEqual(self.upstream.request_lines('"PUT '), [])

    def test_a_post_gets_405_unsupported(self):
        r = self.rc.get("/v2/refused/app/blobs/uploads/", method="POST")
        self.assertEqual(r.status, 405)
        self.assertIn("UNSUPPORTED", r.error_codes())


class PushThrough(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        cls.layout = os.path.join(cls.tmp, "src")
        cls.v1 = rt.make_oci_image(cls.layout, "v1", [3 * rt.KiB, 600 * rt.KiB + 7], seed=1311)
        cls.v2 = rt.make_oci_image(cls.layout, "v2", [5 * rt.KiB + 3], seed=1312)
        cls.big = rt.make_oci_image(cls.layout, "big", [64 * rt.MiB + 11], seed=1313)
        cls.upstream = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.upstream.stop)
        cls.rc = rt.Regcache(rt.REGCACHE, cls.tmp, cls.upstream.url,
                             extra_env={"ALLOW_PUSH": "true"}).start()
        cls.addClassCleanup(cls.rc.stop)

    def push(self, ref, repo_tag):
        return rt.skopeo_copy("oci:%s:%s" % (self.layout, ref),
                              "docker://%s/%s" % (self.rc.host, repo_tag), dest_tls_verify=False)

    def test_push_then_pull_through_regcache_and_a_moved_tag_is_seen_at_once(self):
        self.push("v1", "pushed/app:v1")
        self.assertEqual(upstream_manifest_digest(self.upstream, "pushed/app", "v1"),
                         self.v1.manifest_digest)
        pulled = rt.pull(self.rc.host, "pushed/app:v1", os.path.join(self.tmp, "pull-1"))
        self.assertEqual(pulled[0], self.v1.manifest_digest)
        self.assertEqual(pulled[2], self.v1.all_digests)
        # The tag is cached now (well inside its TTL): a push of another manifest to it is
        # what the next pull gets.
        self.push("v2", "pushed/app:v1")
        self.assertEqual(upstream_manifest_digest(self.upstream, "pushed/app", "v1"),
                         self.v2.manifest_digest)
        pulled = rt.pull(self.rc.host, "pushed/app:v1", os.path.join(self.tmp, "pull-2"))
        self.assertEqual(pulled[0], self.v2.manifest_digest)
        lines = [l for l in self.rc.log_text().splitlines() if " PUSH " in l]
        self.assertTrue(any(l.split()[0] == "PUT" and "/manifests/v1" in l for l in lines),
                        lines[-5:])

    def test_a_64_mib_blob_streams_through_with_bounded_memory(self):
        before_kib = vm_hwm_kib(self.rc.pid)
        self.push("big", "pushed/big:v1")
        self.assertEqual(upstream_manifest_digest(self.upstream, "pushed/big", "v1"),
                         self.big.manifest_digest)
        after_kib = vm_hwm_kib(self.rc.pid)
        sys.stderr.write("    VmHWM before %d KiB, after the 64 MiB push %d KiB\n" % (
            before_kib, after_kib))
        # Whole-body buffering would add 64 MiB; streaming adds a few buffers.
        self.assertLess(after_kib - before_kib, 16 * 1024)
        if not rt.under_address_sanitizer(self.rc.pid):
            self.assertLess(after_kib, 48 * 1024)

    def test_a_session_started_with_ns_comes_back_with_ns(self):
        ns = "127.0.0.1%%3A%d" % self.upstream.port
        r = self.rc.get("/v2/nsroute/app/blobs/uploads/?ns=" + ns, method="POST")
        self.assertEqual(r.status, 202, r)
        location = r.header("Location")
        self.assertTrue(location.startswith("/v2/nsroute/app/blobs/uploads/"), location)
        self.assertIn("ns=" + ns, location)
        self.assertTrue(r.header("Docker-Upload-UUID"))
        self.assertEqual(r.header("Range"), "0-0")
        status = self.rc.get(location, method="GET")
        self.assertEqual(status.status, 204, status)
        self.assertEqual(status.header("Docker-Upload-UUID"), r.header("Docker-Upload-UUID"))

    def test_a_request_pipelined_behind_a_push_body_is_answered(self):
        r = self.rc.get("/v2/pipe/app/blobs/uploads/", method="POST")
        self.assertEqual(r.status, 202, r)
        body = b"pipelined-bytes-" * 64
        with rt.RawHTTP(self.rc.port) as conn:
            conn.send(("PATCH %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream"
                       "\r\nContent-Length: %d\r\n\r\n" % (r.header("Location"), len(body))
                       ).encode() + body + b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
            first = conn.read_response()
            self.assertEqual(first.status, 202, first)
            self.assertEqual(first.header("Range"), "0-%d" % (len(body) - 1))
            second = conn.read_response()
            self.assertEqual(second.status, 200, second)

    def test_curl_pushes_a_blob_with_a_chunked_put_and_with_expect_100_continue(self):
        data = os.urandom(3 * rt.MiB + 5)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = os.path.join(self.tmp, "curl-blob")
        with open(path, "wb") as f:
            f.write(data)
        for repo, extra in (("curl/chunked", ["-H", "Transfer-Encoding: chunked"]),
                            ("curl/expect", ["-H", "Expect: 100-continue"])):
            with self.subTest(repo=repo):
                status, head = curl_status(["-X", "POST", "-H", "Content-Length: 0",
                                            self.rc.url + "/v2/%s/blobs/uploads/" % repo])
                self.assertEqual(status, 202, head)
                location = header_of(head, "Location")
                self.assertTrue(location and location.startswith("/v2/%s/blobs/uploads/" % repo),
                                head)
                sep = "&" if "?" in location else "?"
                status, head = curl_status(
                    ["-X", "PUT", "--data-binary", "@" + path, "-H",
                     "Content-Type: application/octet-stream"] + extra +
                    [self.rc.url + location + sep + "digest=" + digest])
                self.assertEqual(status, 201, head)
                if "Expect" in extra[1]:
                    self.assertIn("100 Continue", head)
                self.assertEqual(header_of(head, "Docker-Content-Digest"), digest)
                r = self.upstream.get("/v2/%s/blobs/%s" % (repo, digest))
                self.assertEqual(r.status, 200)
                self.assertEqual(r.body, data)


class PushBounds(unittest.TestCase):
    """--pushes-max 1: a second push while one streams gets 503; a client that stops sending
    its body is cut by the idle timeout, which frees the slot."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        cls.upstream = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.upstream.stop)
        cls.rc = rt.Regcache(rt.REGCACHE, cls.tmp, cls.upstream.url, extra_args=[
            "--allow-push", "--pushes-max", "1", "--idle-timeout-ms", "1500"]).start()
        cls.addClassCleanup(cls.rc.stop)

    def start_upload(self, repo):
        r = self.rc.get("/v2/%s/blobs/uploads/" % repo, method="POST")
        self.assertEqual(r.status, 202, r)
        return r.header("Location")

    def test_a_second_push_while_one_streams_gets_503_and_a_stalled_body_is_cut(self):
        location = self.start_upload("bounds/app")
        stalled = rt.RawHTTP(self.rc.port, timeout=30)
        self.addCleanup(stalled.close)
        stalled.send(("PATCH %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream"
                      "\r\nContent-Length: 1048576\r\n\r\n" % location).encode() + b"x" * 100)
        # The PATCH holds the one slot once regcache streams it: a POST now gets 503.
        def refused_post():
            r = self.rc.get("/v2/bounds/other/blobs/uploads/", method="POST")
            return r if r.status == 503 else None
        refused = rt.poll(refused_post, 20, what="503 while the stalled PATCH holds the slot")
        self.assertIn("TOOMANYREQUESTS", refused.error_codes())
        self.assertEqual(refused.header("Retry-After"), "1")
        # The client sends nothing more: the idle timeout ends the PATCH (408, then the close)
        # and frees the slot.
        answer = stalled.read_response()
        self.assertEqual(answer.status if answer else None, 408, answer)
        self.assertTrue(stalled.at_eof(timeout=20))
        r = self.rc.get("/v2/bounds/other/blobs/uploads/", method="POST")
        self.assertEqual(r.status, 202, r)


class PushCredentials(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        cls.layout = os.path.join(cls.tmp, "src")
        cls.img = rt.make_oci_image(cls.layout, "app", [2 * rt.KiB + 9], seed=1321)
        htpasswd = at.make_htpasswd(os.path.join(cls.tmp, "htpasswd"),
                                    {USER: PASSWORD, REGCACHE_USER: REGCACHE_PASSWORD})
        cls.reg = at.AuthRegistry(cls.tmp, "basic", htpasswd=("regtest-basic", htpasswd)).start()
        cls.addClassCleanup(cls.reg.stop)
        cls.front = cp.CountingProxy("127.0.0.1", cls.reg.port).start()
        cls.addClassCleanup(cls.front.stop)
        cls.rc = rt.Regcache(rt.REGCACHE, cls.tmp, cls.front.url, extra_args=["--allow-push"],
                             extra_env={"AUTH_REGISTRIES": "%s:%s:%s" % (
                                 cls.front.host, REGCACHE_USER, REGCACHE_PASSWORD)})
        # With --allow-push the ping relays the upstream's challenge: ready is a 401 here.
        cls.rc.start(wait=False)
        cls.addClassCleanup(cls.rc.stop)
        rt.poll(lambda: cls.ping().status == 401, 30, what="regcache answering /v2/ with 401")

    @classmethod
    def ping(cls):
        try:
            return cls.rc.get("/v2/", timeout=5)
        except OSError:
            return rt.Response(0, "", [], b"")

    def pushes_seen(self, since):
        # HEAD too: with --allow-push a pusher's blob check is relayed like the push itself.
        return [s for s in self.front.seen(since)
                if s.method in ("POST", "PUT", "PATCH", "HEAD") and "/blobs/" in s.path]

    def regcaches_authorization(self):
        return "Basic " + base64.b64encode(
            ("%s:%s" % (REGCACHE_USER, REGCACHE_PASSWORD)).encode()).decode()

    def test_the_ping_carries_the_upstreams_challenge_and_no_credentials(self):
        mark = self.front.mark()
        r = self.ping()
        self.assertEqual(r.status, 401)
        self.assertIn('Basic realm="regtest-basic"', r.header("WWW-Authenticate") or "")
        pings = [s for s in self.front.seen(mark) if s.path == "/v2/"]
        self.assertEqual([s.header("Authorization") for s in pings], [None])

    def test_a_pull_without_client_credentials_still_uses_regcaches(self):
        at.push_with_creds(self.layout, "app", self.reg.host, "creds/pulled", (USER, PASSWORD),
                           tag="v1")
        pulled = rt.pull(self.rc.host, "creds/pulled:v1", os.path.join(self.tmp, "pulled"))
        self.assertEqual(pulled[0], self.img.manifest_digest)

    def test_a_push_without_client_credentials_gets_the_upstreams_401(self):
        mark = self.front.mark()
        r = self.rc.get("/v2/creds/none/blobs/uploads/", method="POST")
        self.assertEqual(r.status, 401)
        self.assertIn("Basic", r.header("WWW-Authenticate") or "")
        seen = self.pushes_seen(mark)
        self.assertTrue(seen)
        self.assertEqual([s.header("Authorization") for s in seen], [None] * len(seen))

    def test_skopeo_push_without_credentials_fails_and_carries_none_of_regcaches(self):
        mark = self.front.mark()
        r = rt.skopeo_copy("oci:%s:app" % self.layout, "docker://%s/creds/anon:v1" % self.rc.host,
                           dest_tls_verify=False, check=False, timeout=120)
        self.assertNotEqual(r.returncode, 0)
        seen = self.pushes_seen(mark)
        self.assertTrue(seen)
        # skopeo answers the Basic challenge with its own empty credentials ("Basic Og==");
        # regcache's must not appear.
        self.assertNotIn(self.regcaches_authorization(),
                         [s.header("Authorization") for s in seen])

    def test_a_push_with_the_clients_own_credentials_succeeds(self):
        mark = self.front.mark()
        at.push_with_creds(self.layout, "app", self.rc.host, "creds/own", (USER, PASSWORD),
                           tag="v1")
        auth = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
        self.assertEqual(upstream_manifest_digest(self.reg, "creds/own", "v1",
                                                  {"Authorization": auth}),
                         self.img.manifest_digest)
        seen = self.pushes_seen(mark)
        self.assertTrue(seen)
        self.assertEqual({s.header("Authorization") for s in seen}, {auth})


if __name__ == "__main__":
    rt.main()
