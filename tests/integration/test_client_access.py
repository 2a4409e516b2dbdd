#!/usr/bin/env python3
"""Client access control: who may use regcache, and which upstream each user may pull from.

Real parts only: one docker-registry upstream holding small images, reached through regcache
under three configured names with different "clients" policies, an htpasswd file with a bcrypt
user (alice, carol) and a {SHA} user (bob), and real clients: http.client and skopeo. docker
login and pull through dockerd are in test_real_clients.py, which starts the suite's one dockerd.

  users.test    "clients": ["alice"]        bob and carol get 403 DENIED, anonymous 401
  members.test  "clients": "authenticated"  every user, anonymous 401
  public.test   "clients": "any"            everyone, anonymous too
  default       REGCACHE_CLIENTS=alice,bob  (the --upstream registry and unconfigured ?ns=)

Run: python3 tests/integration/test_client_access.py --regcache build/regcache
"""

import base64
import http.client
import os
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402
import authtest as at  # noqa: E402

USERS = {"alice": "secret", "bob": "hunter2", "carol": "tops3cret"}
HASH_FLAG = {"alice": "-B", "bob": "-s", "carol": "-B"}   # bcrypt, {SHA}, bcrypt
ACCEPT = {"Accept": rt.ALL_MANIFEST_TYPES}

TMP = REG = HTPASSWD = None
IMAGES = {}          # repository under team/ -> rt.Image (every one tagged 1)


def basic(user, password=None):
    raw = "%s:%s" % (user, USERS[user] if password is None else password)
    return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


def bearer(token):
    return {"Authorization": "Bearer " + token}


def setUpModule():
    global TMP, REG, HTPASSWD
    TMP = rt.mkdtemp("regcache-acl-")
    REG = rt.Registry(TMP).start()
    unittest.addModuleCleanup(REG.stop)
    layout = os.path.join(TMP, "src")
    for seed, repo in enumerate(("app", "cold", "shared", "members", "skopeo-users")):
        IMAGES[repo] = rt.make_oci_image(layout, repo, [2 * rt.KiB + 1, 96 * rt.KiB + seed],
                                         seed=700 + seed)
        rt.push(layout, repo, REG, "team/" + repo, tag="1")
    HTPASSWD = os.path.join(TMP, "htpasswd")
    with open(HTPASSWD, "w") as f:
        for user, password in USERS.items():
            out = subprocess.run(["htpasswd", "-nb" + HASH_FLAG[user][1], user, password],
                                 check=True, stdout=subprocess.PIPE, timeout=30).stdout
            f.write(out.decode().strip() + "\n")


def access_config():
    return {"upstreams": [
        {"host": "users.test", "url": REG.url, "clients": ["alice"]},
        {"host": "members.test", "url": REG.url, "clients": "authenticated"},
        {"host": "public.test", "url": REG.url, "clients": "any"}]}


def start_regcache(name, extra_args=(), config=None, env=None):
    """regcache on 127.0.0.1, ready once /v2/ answers anything (it is a 401 or a 403 here, so
    regtest's wait for a 200 does not apply)."""
    rc = at.AuthRegcache(rt.REGCACHE, TMP, REG.url, env=env, config=config, name=name,
                         extra_args=list(extra_args))
    rc.start(wait=False)

    def answers():
        if not rc.alive():
            raise rt.PollAbort("regcache %s exited with %r: %s" % (
                name, rc.proc.returncode, rt.tail(rc.stderr_text(), 5)))
        try:
            return rt.http_request("GET", rc.url + "/v2/", timeout=2).status
        except (OSError, http.client.HTTPException):
            return None
    try:
        rt.poll(answers, 30, what="regcache %s answering /v2/" % name)
    except Exception:
        rc.stop()
        raise
    return rc


def start_access_regcache(cls, name):
    rc = start_regcache(name, ["--htpasswd", HTPASSWD], config=access_config(),
                        env={"REGCACHE_CLIENTS": "alice,bob"})
    cls.addClassCleanup(rc.stop)
    return rc


def registry_gets(digest):
    """GETs of a blob the upstream has logged (skopeo's push made HEADs only)."""
    return len([ln for ln in REG.request_lines("/blobs/" + digest) if '"GET ' in ln])


def wait_registry_gets(digest, at_least):
    """The registry logs a request after answering it: wait for the line, then count."""
    return rt.poll(lambda: registry_gets(digest) >= at_least and registry_gets(digest), 10,
                   what="the upstream's log of GET %s" % digest)


class HttpClients(unittest.TestCase):
    """The token flow and the per-upstream decisions as a client sees them on the wire."""

    @classmethod
    def setUpClass(cls):
        cls.rc = start_access_regcache(cls, "http")

    def get(self, path, headers=None, method="GET"):
        return self.rc.get(path, dict(ACCEPT, **(headers or {})), method=method)

    def token(self, headers=None, query="?service=regcache&scope=repository:team/app:pull"):
        r = self.rc.get("/v2/token" + query, headers)
        self.assertEqual(r.status, 200, repr(r))
        return r.json()["token"]

    def assertChallenge(self, r, what):
        self.assertEqual(r.status, 401, "%s: %r" % (what, r))
        self.assertEqual(r.header("WWW-Authenticate"),
                         'Bearer realm="http://%s/v2/token",service="regcache"' % self.rc.host,
                         "%s: %r" % (what, r))
        if r.body:
            self.assertIn("UNAUTHORIZED", r.error_codes(), "%s: %r" % (what, r))

    def assertDenied(self, r, what):
        self.assertEqual(r.status, 403, "%s: %r" % (what, r))
        if r.body:
            self.assertEqual(r.error_codes(), ["DENIED"], "%s: %r" % (what, r))

    def assertManifest(self, r, image, what):
        self.assertEqual(r.status, 200, "%s: %r" % (what, r))
        self.assertEqual(rt.sha256_bytes(r.body), image.manifest_digest, what)

    # -- /v2/ and the token endpoint

    def test_v2_without_credentials_is_a_bearer_challenge_naming_regcaches_token_endpoint(self):
        r = self.rc.get("/v2/")
        self.assertChallenge(r, "GET /v2/ without Authorization")
        self.assertTrue(r.error_codes(), "a 401 without an OCI error body: %r" % r)

    def test_v2_answers_200_to_basic_credentials_and_to_tokens_but_401_to_a_wrong_password(self):
        self.assertEqual(self.rc.get("/v2/", basic("alice")).status, 200)
        self.assertEqual(self.rc.get("/v2/", basic("bob")).status, 200, "{SHA} user")
        self.assertEqual(self.rc.get("/v2/", bearer(self.token(basic("alice")))).status, 200)
        self.assertEqual(self.rc.get("/v2/", bearer(self.token())).status, 200, "anonymous token")
        self.assertChallenge(self.rc.get("/v2/", basic("alice", "wrong")), "wrong password")

    def test_token_endpoint_issues_a_five_minute_token_for_good_credentials(self):
        # The query docker login sends.
        for user in ("alice", "bob"):
            r = self.rc.get("/v2/token?account=%s&client_id=docker&offline_token=true"
                            "&service=regcache" % user, basic(user))
            self.assertEqual(r.status, 200, "%s: %r" % (user, r))
            body = r.json()
            self.assertTrue(body.get("token"), repr(body))
            self.assertEqual(body.get("access_token"), body["token"], repr(body))
            self.assertEqual(body.get("expires_in"), 300, repr(body))

    def test_token_endpoint_refuses_a_wrong_password_and_an_unknown_user_with_401(self):
        for who, headers in (("wrong password", basic("alice", "not-secret")),
                             ("{SHA} user, wrong password", basic("bob", "hunter3")),
                             ("unknown user", {"Authorization": "Basic " + base64.b64encode(
                                 b"mallory:secret").decode()}),
                             ("not base64", {"Authorization": "Basic !!!"})):
            r = self.rc.get("/v2/token?service=regcache&scope=repository:team/app:pull", headers)
            self.assertEqual(r.status, 401, "%s: %r" % (who, r))
            self.assertNotIn(b"token\"", r.body, "%s: a token in a refusal: %r" % (who, r))

    def test_token_endpoint_gives_an_anonymous_token_that_only_public_upstreams_accept(self):
        token = self.token()
        self.assertManifest(self.get("/v2/public.test/team/app/manifests/1", bearer(token)),
                            IMAGES["app"], "public.test with an anonymous token")
        self.assertChallenge(self.get("/v2/users.test/team/app/manifests/1", bearer(token)),
                             "users.test with an anonymous token")
        self.assertChallenge(self.get("/v2/members.test/team/app/manifests/1", bearer(token)),
                             "members.test with an anonymous token")

    # -- manifests and tags

    def test_users_only_upstream_serves_alice_with_a_bearer_token_and_with_basic(self):
        img = IMAGES["app"]
        self.assertManifest(self.get("/v2/users.test/team/app/manifests/1",
                                     bearer(self.token(basic("alice")))), img, "Bearer")
        self.assertManifest(self.get("/v2/users.test/team/app/manifests/1", basic("alice")), img,
                            "Basic")
        self.assertManifest(self.get("/v2/team/app/manifests/%s?ns=users.test"
                                     % img.manifest_digest, basic("alice")), img, "?ns=, digest")
        r = self.get("/v2/users.test/team/app/tags/list", basic("alice"))
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.json().get("tags"), ["1"], repr(r))

    def test_anonymous_client_gets_401_and_a_user_not_in_the_list_gets_403_denied(self):
        img = IMAGES["app"]
        # Cached first by alice, so that the refusals below are of cache hits too.
        self.assertManifest(self.get("/v2/users.test/team/app/manifests/1", basic("alice")), img,
                            "alice")
        bob_token = self.token(basic("bob"))
        for path, method in (("/v2/users.test/team/app/manifests/1", "GET"),
                             ("/v2/users.test/team/app/manifests/1", "HEAD"),
                             ("/v2/users.test/team/app/manifests/" + img.manifest_digest, "GET"),
                             ("/v2/team/app/manifests/1?ns=users.test", "GET"),
                             ("/v2/users.test/team/app/tags/list", "GET")):
            what = "%s %s" % (method, path)
            self.assertChallenge(self.get(path, method=method), what + " anonymous")
            self.assertDenied(self.get(path, basic("bob"), method=method), what + " bob, Basic")
            self.assertDenied(self.get(path, bearer(bob_token), method=method),
                              what + " bob, Bearer")
            self.assertDenied(self.get(path, basic("carol"), method=method), what + " carol")

    def test_authenticated_upstream_admits_every_user_and_refuses_anonymous_clients(self):
        img = IMAGES["app"]
        for user in USERS:
            self.assertManifest(self.get("/v2/members.test/team/app/manifests/1", basic(user)),
                                img, user)
        self.assertChallenge(self.get("/v2/members.test/team/app/manifests/1"), "anonymous")

    def test_forged_and_tampered_tokens_are_refused_with_401(self):
        token = self.token(basic("alice"))
        tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        for what, t in (("tampered", tampered), ("forged", "eyJhbGciOiJub25lIn0.e30."),
                        ("garbage", "x")):
            r = self.get("/v2/users.test/team/app/manifests/1", bearer(t))
            self.assertEqual(r.status, 401, "%s token: %r" % (what, r))

    def test_default_upstream_admits_only_the_users_named_in_REGCACHE_CLIENTS(self):
        img = IMAGES["app"]
        for user in ("alice", "bob"):
            self.assertManifest(self.get("/v2/team/app/manifests/1", basic(user)), img, user)
        self.assertDenied(self.get("/v2/team/app/manifests/1", basic("carol")), "carol")
        self.assertChallenge(self.get("/v2/team/app/manifests/1"), "anonymous")
        # An unconfigured registry named with ?ns= is under the default upstream's policy:
        # refused before regcache looks it up.
        self.assertChallenge(self.get("/v2/library/x/manifests/1?ns=registry.example.com"),
                             "anonymous, unconfigured ?ns=")
        self.assertDenied(self.get("/v2/library/x/manifests/1?ns=registry.example.com",
                                   basic("carol")), "carol, unconfigured ?ns=")

    # -- blobs

    def test_uncached_blob_of_a_users_only_upstream_is_refused_before_any_upstream_fetch(self):
        img = IMAGES["cold"]
        digest = img.layer_digests[1]
        path = "/v2/users.test/team/cold/blobs/" + digest
        before = registry_gets(digest)
        self.assertChallenge(self.get(path), "anonymous, not cached")
        self.assertDenied(self.get(path, basic("bob")), "bob, not cached")
        self.assertEqual(registry_gets(digest), before, "a refused client made regcache fetch")
        self.assertFalse(os.path.exists(self.rc.cache_blob_path(digest)),
                         "a refused request cached the blob")
        r = self.get(path, basic("alice"))
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(rt.sha256_bytes(r.body), digest)
        rt.poll(lambda: os.path.exists(self.rc.cache_blob_path(digest)), 10, what="blob cached")
        fetched = wait_registry_gets(digest, before + 1)
        self.assertChallenge(self.get(path), "anonymous, cached")
        self.assertDenied(self.get(path, basic("bob")), "bob, cached")
        r = self.get(path, bearer(self.token(basic("alice"))))
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(rt.sha256_bytes(r.body), digest)
        self.assertEqual(registry_gets(digest), fetched, "the cached blob was fetched again")

    def test_blob_cached_through_the_public_upstream_is_still_refused_on_the_users_only_route(self):
        img = IMAGES["shared"]
        out = os.path.join(self.rc.workdir, "shared-public")
        top, _mt, digests = rt.pull(self.rc.host, "public.test/team/shared:1", out)
        self.assertEqual((top, digests), (img.manifest_digest, img.all_digests))
        fetched = [wait_registry_gets(d, 1) for d in img.blob_digests]
        for digest in img.blob_digests:
            self.assertTrue(os.path.exists(self.rc.cache_blob_path(digest)), digest)
            for route in ("/v2/users.test/team/shared/blobs/",
                          "/v2/members.test/team/shared/blobs/"):
                self.assertChallenge(self.get(route + digest), "anonymous " + route)
            self.assertDenied(self.get("/v2/users.test/team/shared/blobs/" + digest,
                                       basic("carol")), "carol")
            r = self.get("/v2/users.test/team/shared/blobs/" + digest, basic("alice"))
            self.assertEqual(r.status, 200, repr(r))
            self.assertEqual(rt.sha256_bytes(r.body), digest)
        self.assertEqual([registry_gets(d) for d in img.blob_digests], fetched,
                         "cache hits went to the upstream")

    def test_public_upstream_is_pulled_anonymously_by_skopeo_and_the_users_route_is_not(self):
        img = IMAGES["app"]
        top, _mt, digests = rt.pull(self.rc.host, "public.test/team/app:1",
                                    os.path.join(self.rc.workdir, "app-public"))
        self.assertEqual((top, digests), (img.manifest_digest, img.all_digests))
        res = at.pull_refused(self.rc.host, "users.test/team/app:1",
                              os.path.join(self.rc.workdir, "app-users"))
        self.assertNotEqual(res.returncode, 0, "skopeo pulled users.test anonymously")


class SkopeoClients(unittest.TestCase):
    """skopeo's own token flow (ping, 401, /v2/token with --src-creds, Bearer)."""

    @classmethod
    def setUpClass(cls):
        cls.rc = start_access_regcache(cls, "skopeo")
        cls.n = 0

    def copy(self, ref, creds=None):
        type(self).n += 1
        extra = ["--src-creds", "%s:%s" % creds] if creds else []
        out = os.path.join(self.rc.workdir, "pull-%d" % self.n)
        res = rt.skopeo_copy("docker://%s/%s" % (self.rc.host, ref), "oci:%s:x" % out,
                             src_tls_verify=False, extra=extra, check=False, timeout=120)
        return res, out

    def assertPulled(self, ref, creds, img):
        res, out = self.copy(ref, creds)
        self.assertEqual(res.returncode, 0, "skopeo as %s: %s" % (
            creds and creds[0], rt.tail(res.stderr.decode(errors="replace"), 10)))
        top, _mt, digests = rt.layout_digests(out, "x")
        self.assertEqual((top, digests), (img.manifest_digest, img.all_digests))

    def assertRefused(self, ref, creds, what):
        res, _out = self.copy(ref, creds)
        err = res.stderr.decode(errors="replace")
        self.assertNotEqual(res.returncode, 0, "skopeo pulled %s %s" % (ref, what))
        return err.lower()

    def test_skopeo_pulls_an_authenticated_upstream_with_src_creds_of_a_bcrypt_or_sha_user(self):
        self.assertPulled("members.test/team/members:1", ("alice", USERS["alice"]),
                          IMAGES["members"])
        self.assertPulled("members.test/team/members:1", ("bob", USERS["bob"]), IMAGES["members"])

    def test_skopeo_without_src_creds_is_refused_by_an_authenticated_upstream(self):
        self.assertPulled("members.test/team/members:1", ("alice", USERS["alice"]),
                          IMAGES["members"])     # cached: the refusal is of cache hits
        err = self.assertRefused("members.test/team/members:1", None, "without credentials")
        self.assertTrue("unauthorized" in err or "401" in err, err)

    def test_skopeo_with_a_wrong_password_is_refused(self):
        err = self.assertRefused("members.test/team/members:1", ("alice", "not-secret"),
                                 "with a wrong password")
        self.assertTrue("unauthorized" in err or "401" in err, err)

    def test_skopeo_as_a_user_not_listed_is_denied_by_a_users_only_upstream(self):
        self.assertPulled("users.test/team/skopeo-users:1", ("alice", USERS["alice"]),
                          IMAGES["skopeo-users"])
        err = self.assertRefused("users.test/team/skopeo-users:1", ("bob", USERS["bob"]),
                                 "as bob")
        self.assertTrue("denied" in err or "403" in err, err)


class StoredContentProvenance(unittest.TestCase):
    """Content stored once by digest must not leak from a limited upstream through an open
    route: a blob or manifest that came only through users.test is not answered from the store
    for open.test (another registry, which does not have it); once an open route has fetched
    it from its own upstream, it is public."""

    @classmethod
    def setUpClass(cls):
        cls.other = rt.Registry(TMP, name="other-upstream").start()
        cls.addClassCleanup(cls.other.stop)
        config = access_config()
        config["upstreams"].append({"host": "open.test", "url": cls.other.url, "clients": "any"})
        cls.rc = start_regcache("provenance", ["--htpasswd", HTPASSWD], config=config,
                                env={"REGCACHE_CLIENTS": "alice,bob"})
        cls.addClassCleanup(cls.rc.stop)
        cls.image = IMAGES["shared"]

    def other_saw(self, fragment):
        return [ln for ln in self.other.request_lines() if fragment in ln]

    def get(self, path, headers=None):
        return self.rc.get(path, dict(ACCEPT, **(headers or {})))

    def test_a_blob_fetched_through_a_limited_upstream_is_not_served_through_an_open_route(self):
        layer = self.image.layer_digests[1]
        r = self.get("/v2/users.test/team/shared/blobs/" + layer, basic("alice"))
        self.assertEqual(r.status, 200, r)
        r = self.get("/v2/open.test/team/shared/blobs/" + layer)
        self.assertNotEqual(r.status, 200, "a limited upstream's blob leaked: %r" % r)
        self.assertEqual(r.status, 404, r)
        rt.poll(lambda: self.other_saw("/blobs/" + layer), 10,
                what="the open route's own upstream being asked")

    def test_a_published_limited_blob_is_not_served_through_an_open_route(self):
        layer = self.image.config_digest
        r = self.get("/v2/users.test/team/shared/blobs/" + layer, basic("alice"))
        self.assertEqual(r.status, 200, r)
        # Past the download's end (it publishes just after its client got the last byte, in
        # milliseconds), so this asks the store, not the running download.
        time.sleep(1.0)
        r = self.get("/v2/open.test/team/shared/blobs/" + layer)
        self.assertEqual(r.status, 404, "a limited upstream's blob leaked: %r" % r)

    def test_a_manifest_fetched_through_a_limited_upstream_is_not_served_by_digest_openly(self):
        digest = self.image.manifest_digest
        r = self.get("/v2/users.test/team/shared/manifests/" + digest, basic("alice"))
        self.assertEqual(r.status, 200, r)
        r = self.get("/v2/open.test/team/shared/manifests/" + digest)
        self.assertEqual(r.status, 404, "a limited upstream's manifest leaked: %r" % r)

    def test_content_an_open_route_fetched_from_its_own_upstream_is_public(self):
        layer = self.image.layer_digests[0]
        r = self.get("/v2/users.test/team/shared/blobs/" + layer, basic("alice"))
        self.assertEqual(r.status, 200, r)
        r = self.get("/v2/public.test/team/shared/blobs/" + layer)  # REG has it: now public
        self.assertEqual(r.status, 200, r)
        public_body = r.body

        # The mark goes once the open route's download is published, just after its client
        # got the last byte: poll briefly for the first answer from the store.
        def served_from_store():
            time.sleep(0.05)
            return self.get("/v2/open.test/team/shared/blobs/" + layer).status == 200
        rt.poll(served_from_store, 10, what="the blob served through the open route")
        before = len(self.other_saw("/blobs/" + layer))
        r = self.get("/v2/open.test/team/shared/blobs/" + layer)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, public_body)
        time.sleep(0.2)  # the upstream logs after answering: give a stray request time to show
        self.assertEqual(len(self.other_saw("/blobs/" + layer)), before,
                         "a public blob was asked of the open route's upstream again")


def raw_connection(port, source):
    """rt.RawHTTP from a chosen loopback source address (127.0.0.2 is a different client)."""
    conn = rt.RawHTTP.__new__(rt.RawHTTP)
    conn.sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                         source_address=(source, 0))
    conn.rfile = conn.sock.makefile("rb")
    return conn


class ClientNetworks(unittest.TestCase):
    """--allow-clients / REGCACHE_ALLOW_CLIENTS: refused addresses get 403 DENIED, then EOF."""

    def regcache(self, name, args=(), env=None):
        rc = start_regcache(name, args, env=env)
        self.addCleanup(rc.stop)
        return rc

    def assertRefusedAndClosed(self, rc, source):
        before = len(REG.request_lines())
        with raw_connection(rc.port, source) as conn:
            conn.send(b"GET /v2/team/app/manifests/1 HTTP/1.1\r\nHost: %s\r\n"
                      b"Accept: %s\r\n\r\n" % (rc.host.encode(), rt.OCI_MANIFEST.encode()))
            r = conn.read_response()
            self.assertIsNotNone(r, "connection closed without an answer")
            self.assertEqual(r.status, 403, repr(r))
            self.assertEqual(r.error_codes(), ["DENIED"], repr(r))
            self.assertEqual((r.header("Connection") or "").lower(), "close", repr(r))
            self.assertTrue(conn.at_eof(5), "the connection stayed open after the 403")
        self.assertEqual(len(REG.request_lines()), before, "a refused client reached upstream")

    def test_client_outside_allow_clients_gets_403_denied_and_the_connection_closes(self):
        rc = self.regcache("cidr-10", ["--allow-clients", "10.0.0.0/8"])
        self.assertRefusedAndClosed(rc, "127.0.0.1")
        r = rt.http_request("GET", rc.url + "/v2/")
        self.assertEqual((r.status, r.error_codes()), (403, ["DENIED"]), repr(r))

    def test_client_inside_allow_clients_is_served_and_pulls(self):
        rc = self.regcache("cidr-127", ["--allow-clients", "10.0.0.0/8,127.0.0.0/8"])
        with raw_connection(rc.port, "127.0.0.2") as conn:
            for _ in range(2):           # kept alive: two requests on one connection
                conn.send(b"GET /v2/ HTTP/1.1\r\nHost: %s\r\n\r\n" % rc.host.encode())
                r = conn.read_response()
                self.assertEqual(r.status, 200, repr(r))
        img = IMAGES["app"]
        top, _mt, digests = rt.pull(rc.host, "team/app:1", os.path.join(rc.workdir, "p"))
        self.assertEqual((top, digests), (img.manifest_digest, img.all_digests))

    def test_allow_clients_from_the_environment_admits_127_0_0_1_but_not_127_0_0_2(self):
        rc = self.regcache("cidr-env", env={"REGCACHE_ALLOW_CLIENTS": "127.0.0.1/32"})
        self.assertEqual(rc.get("/v2/").status, 200)
        self.assertRefusedAndClosed(rc, "127.0.0.2")


if __name__ == "__main__":
    rt.main()
