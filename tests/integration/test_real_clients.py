#!/usr/bin/env python3
"""Real clients against regcache: containerd 1.6 (`containerd`, `ctr`) and dockerd 20.10
(`dockerd`, `docker`), Debian 12's packages `containerd` and `docker.io`.

One of each daemon for the whole file (setUpModule), with private state in a temp dir,
stopped by PID at the end; dockerd uses this file's containerd (--containerd), so that no
second containerd runs. Skipped only when not root or a binary is missing.

Upstream: one real docker-registry on 127.0.0.1 holding seven tags that both clients can
unpack (real tar layers): OCI manifests (uncompressed and gzip layers, one 8 MiB layer), an
OCI index (amd64 + arm64), a Docker schema 2 manifest, a Docker manifest list, and a
one-component Docker Hub name (`hello`, i.e. `library/hello`). Two counting fronts
(countingproxy.py) stand in front of it: front A is regcache's upstream named `docker.io`
(containerd sends `?ns=docker.io`; dockerd uses registry-mirrors for Docker Hub names only),
front B is regcache's upstream for the registry name `127.0.0.1:<front B port>`. What the
upstream receives is counted at the fronts, which record a request before it is forwarded.

  containerd: hosts.toml in a --hosts-dir, `DIR/docker.io/hosts.toml` mirroring to regcache with
              capabilities pull + resolve; each "fresh client store" is a new namespace, and the
              content store is isolated per namespace (content_sharing_policy = "isolated"), so a
              new namespace downloads every blob again.
  dockerd:    registry-mirrors + insecure-registries, vfs, no iptables/bridge; a fresh client
              store is `docker rmi` of every image.

The docker login tests (formerly in test_client_access.py) use a second regcache with an
htpasswd file and per-upstream "clients" policies, listed in the same dockerd's
insecure-registries.

Run: python3 tests/integration/test_real_clients.py --regcache build/regcache
"""

import contextlib
import http.client
import os
import random
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import authtest as at  # noqa: E402
from clientdaemons import (Containerd, Dockerd, make_tar_image, make_tar_index,  # noqa: E402
                          tar_layer, text, tool)
import countingproxy as cp  # noqa: E402
import regtest as rt  # noqa: E402

HEAD_M = ("HEAD", "manifests")

# The tag whose TTL is short (config file tier "(short)"), and that TTL.
SHORT_TTL_S = 2.0
EXPIRY_MARGIN_S = 1.2
BIG_LAYER_BYTES = 8 * rt.MiB
RANGE_BLOB_BYTES = 6 * rt.MiB

# Login test users (bcrypt and {SHA} entries, as in test_client_access.py).
USERS = {"alice": "secret", "bob": "hunter2"}
HASH_FLAG = {"alice": "B", "bob": "s"}


class Tag:
    """One of the seven tags: the repository in the registry, and how each client names it."""

    def __init__(self, repo, tag, media_type, kind):
        self.repo = repo
        self.tag = tag
        self.media_type = media_type   # what the registry must answer for the tag
        self.kind = kind
        self.digest = None             # the registry's Docker-Content-Digest, after the push

    @property
    def containerd_ref(self):
        return "docker.io/%s:%s" % (self.repo, self.tag)

    @property
    def docker_ref(self):
        name = self.repo[len("library/"):] if self.repo.startswith("library/") else self.repo
        return "%s:%s" % (name, self.tag)

    def __repr__(self):
        return "%s:%s (%s, %s)" % (self.repo, self.tag, self.media_type, self.kind)


TAGS = [
    Tag("library/hello", "latest", rt.OCI_MANIFEST, "gzip layer, one-component Docker Hub name"),
    Tag("acc/alpha", "1.2.3", rt.OCI_MANIFEST, "two uncompressed tar layers"),
    Tag("acc/multi", "2.0", rt.OCI_INDEX, "linux/amd64 + linux/arm64"),
    Tag("acc/schema2", "1.0", rt.DOCKER_MANIFEST, "converted by skopeo --format v2s2"),
    Tag("acc/list", "3.1", rt.DOCKER_LIST, "linux/amd64 + linux/arm64, converted by skopeo"),
    Tag("acc/big", "4.0", rt.OCI_MANIFEST, "one 8 MiB tar layer"),
    Tag("acc/ttl", "short", rt.OCI_MANIFEST, "in the short TTL tier"),
]
BY_REPO = {t.repo: t for t in TAGS}
SHORT = BY_REPO["acc/ttl"]
PORT_TAG = Tag("acc/port", "1", rt.OCI_MANIFEST, "pulled as 127.0.0.1:<port>/acc/port:1")
LOGIN_REPO = "team/docker"

S = None   # the module's stack (setUpModule)


# ----------------------------------------------------------------------------
# the stack


class Stack:
    def __init__(self):
        self.tmp = rt.mkdtemp("rc-real-")       # short: unix socket paths live below it
        self.registry = rt.Registry(self.tmp).start()
        unittest.addModuleCleanup(self.registry.stop)
        self.layout = os.path.join(self.tmp, "src")
        self.push_images()
        self.front_a = cp.CountingProxy("127.0.0.1", self.registry.port).start()
        unittest.addModuleCleanup(self.front_a.stop)
        self.front_b = cp.CountingProxy("127.0.0.1", self.registry.port).start()
        unittest.addModuleCleanup(self.front_b.stop)
        self.rc = rt.Regcache(rt.REGCACHE, self.tmp, self.front_a.url, name="mirror")
        self.rc.extra_args = ["--config", self.rc.write_config({
            "upstreams": [{"host": "docker.io", "url": self.front_a.url},
                          {"host": self.front_b.host, "url": self.front_b.url}],
            "manifest_cache": {"enabled": True, "default_ttl": "1h",
                               "tiers": [{"regex": "(short)", "ttl": "%ds" % SHORT_TTL_S}]}})]
        self.rc.start()
        unittest.addModuleCleanup(self.rc.stop)
        self.auth_rc = self.start_auth_regcache()
        unittest.addModuleCleanup(self.auth_rc.stop)
        self.hosts_dir = os.path.join(self.tmp, "hosts")
        self.write_hosts("docker.io", "https://registry-1.docker.io")
        self.write_hosts(self.front_b.host, self.front_b.url)
        self.containerd = Containerd(BINARIES["containerd"], BINARIES["ctr"],
                                     os.path.join(self.tmp, "ctd"))
        self.containerd.start()
        unittest.addModuleCleanup(self.containerd.stop)
        self.dockerd = Dockerd(BINARIES["dockerd"], BINARIES["docker"],
                               os.path.join(self.tmp, "dkd"), self.containerd.sock, self.rc.url,
                               [self.rc.host, self.auth_rc.host])
        # Cleanups run last-in first-out: dockerd stops before the containerd it uses.
        unittest.addModuleCleanup(self.dockerd.stop)
        self.dockerd.start()
        self.warm = False

    def push_images(self):
        lay = self.layout
        rng = random.Random("regcache-real-clients")
        make_tar_image(lay, "hello", "hello", [(tar_layer({"hello.txt": b"hello, regcache\n"}),
                                                True)])
        rt.push(lay, "hello", self.registry, "library/hello", tag="latest")
        make_tar_image(lay, "alpha", "alpha", [(tar_layer({"a.txt": b"alpha one\n"}), False),
                                               (tar_layer({"b.txt": b"alpha two\n" * 300}), False)])
        rt.push(lay, "alpha", self.registry, "acc/alpha", tag="1.2.3")
        make_tar_index(lay, "multi", "multi")
        rt.push(lay, "multi", self.registry, "acc/multi", tag="2.0", all_images=True)
        make_tar_image(lay, "schema2", "schema2")
        rt.skopeo_copy("oci:%s:schema2" % lay, "docker://%s/acc/schema2:1.0" % self.registry.host,
                       dest_tls_verify=False, preserve_digests=False, extra=["--format", "v2s2"])
        make_tar_index(lay, "list", "list")
        rt.skopeo_copy("oci:%s:list" % lay, "docker://%s/acc/list:3.1" % self.registry.host,
                       all_images=True, dest_tls_verify=False, preserve_digests=False,
                       extra=["--format", "v2s2"])
        self.big = make_tar_image(lay, "big", "big", [
            (tar_layer({"big.bin": rng.randbytes(BIG_LAYER_BYTES - 4 * rt.KiB)}), False)])
        rt.push(lay, "big", self.registry, "acc/big", tag="4.0")
        make_tar_image(lay, "ttl", "ttl")
        rt.push(lay, "ttl", self.registry, "acc/ttl", tag="short")
        make_tar_image(lay, "port", "port")
        rt.push(lay, "port", self.registry, "acc/port", tag="1")
        self.login_image = make_tar_image(lay, "login", "login")
        rt.push(lay, "login", self.registry, LOGIN_REPO, tag="1")
        # A blob nobody pulls before the concurrent-range test (random bytes: curl only).
        self.ranges = rt.make_oci_image(lay, "ranges", [RANGE_BLOB_BYTES], seed=4242)
        rt.push(lay, "ranges", self.registry, "acc/ranges", tag="1")
        for t in TAGS + [PORT_TAG]:
            r = self.registry.get("/v2/%s/manifests/%s" % (t.repo, t.tag),
                                  {"Accept": rt.ALL_MANIFEST_TYPES}, method="HEAD")
            if r.status != 200 or r.header("Content-Type") != t.media_type:
                raise AssertionError("the registry's answer for %r: %r" % (t, r))
            t.digest = r.header("Docker-Content-Digest")

    def start_auth_regcache(self):
        """A regcache with users (alice, bob) and per-upstream client policies, straight to the
        registry (its traffic is not counted): users.test for alice only, public.test for
        anyone, the default upstream for alice and bob."""
        htpasswd = os.path.join(self.tmp, "htpasswd")
        with open(htpasswd, "w") as f:
            for user, password in USERS.items():
                out = subprocess.run(["htpasswd", "-nb" + HASH_FLAG[user], user, password],
                                     check=True, stdout=subprocess.PIPE, timeout=30).stdout
                f.write(out.decode().strip() + "\n")
        config = {"upstreams": [
            {"host": "users.test", "url": self.registry.url, "clients": ["alice"]},
            {"host": "public.test", "url": self.registry.url, "clients": "any"}]}
        rc = at.AuthRegcache(rt.REGCACHE, self.tmp, self.registry.url, name="login",
                             env={"REGCACHE_CLIENTS": "alice,bob"}, config=config,
                             extra_args=["--htpasswd", htpasswd])
        rc.start(wait=False)

        def answers():     # /v2/ is a 401 here: regtest's wait for a 200 does not apply
            if not rc.alive():
                raise rt.PollAbort("regcache login exited: %s" % rt.tail(rc.stderr_text(), 5))
            try:
                return rt.http_request("GET", rc.url + "/v2/", timeout=2).status
            except (OSError, http.client.HTTPException):
                return None
        try:
            rt.poll(answers, 30, what="regcache login answering /v2/")
        except Exception:
            rc.stop()
            raise
        return rc

    def write_hosts(self, registry, server):
        d = os.path.join(self.hosts_dir, registry)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "hosts.toml"), "w") as f:
            f.write('server = "%s"\n\n[host."%s"]\n  capabilities = ["pull", "resolve"]\n'
                    % (server, self.rc.url))

    @contextlib.contextmanager
    def upstream_stopped(self):
        """The docker-registry stopped by its PID and both fronts closed (regcache's upstream
        connections are refused); everything restarted on the same ports afterwards."""
        self.front_a.stop()
        self.front_b.stop()
        self.registry.stop()
        try:
            yield
        finally:
            self.registry.start()
            self.front_a.start()
            self.front_b.start()


BINARIES = {}


def setUpModule():  # noqa: N802
    global S
    if os.geteuid() != 0:
        raise unittest.SkipTest("containerd and dockerd need root")
    wanted = {"containerd": tool("containerd"), "ctr": tool("ctr"),
              "dockerd": tool("dockerd"),
              # /usr/bin/docker is docker.io's own CLI; another one on PATH may be far newer.
              "docker": tool("docker", ["/usr/bin/docker"]),
              "docker-registry": tool("docker-registry"), "skopeo": tool("skopeo"),
              "curl": tool("curl"), "htpasswd": tool("htpasswd")}
    missing = sorted(k for k, v in wanted.items() if not v)
    if missing:
        raise unittest.SkipTest("not installed: %s (Debian packages containerd, docker.io, "
                                "docker-registry, skopeo, curl, apache2-utils; tools/install-deps "
                                "test)" % ", ".join(missing))
    BINARIES.update(wanted)
    S = Stack()

# ----------------------------------------------------------------------------
# the tests


class RealClients(unittest.TestCase):
    """Numbered so that unittest's alphabetical order is the order below."""

    # -- helpers

    def containerd_pull_all(self, tags, what, failures):
        """A fresh namespace pulls every tag; a failed pull is added to failures (so that
        every tag and both clients are tried). Returns the namespace."""
        ns = S.containerd.fresh_namespace()
        for t in tags:
            res = S.containerd.pull(ns, t.containerd_ref, S.hosts_dir)
            if res.returncode != 0:
                failures.append("%s: ctr pull %s exited %d: %s" % (
                    what, t.containerd_ref, res.returncode, rt.tail(text(res), 3)))
                continue
            got = S.containerd.digests(ns).get(t.containerd_ref)
            if got != t.digest:
                failures.append("%s: ctr images ls: %s is %s, the registry has %s" % (
                    what, t.containerd_ref, got, t.digest))
        return ns

    def docker_pull_all(self, tags, what, failures):
        """docker rmi of every image, then docker pull of every tag; failures as above."""
        S.dockerd.remove_all()
        for t in tags:
            res = S.dockerd.docker(["pull", t.docker_ref])
            if res.returncode != 0:
                failures.append("%s: docker pull %s exited %d: %s" % (
                    what, t.docker_ref, res.returncode, rt.tail(text(res), 3)))
                continue
            repo_digests, _ = S.dockerd.repo_digests(t.docker_ref)
            want = "%s@%s" % (t.docker_ref.rsplit(":", 1)[0], t.digest)
            if want not in (repo_digests or []):
                failures.append("%s: RepoDigests of %s are %r, not %s" % (
                    what, t.docker_ref, repo_digests, want))

    def assert_no_failures(self, failures):
        if failures:
            self.fail("%d of the pulls failed:\n%s" % (len(failures), "\n".join(failures)))

    def upstream(self, front, mark, kind=None, repo=None):
        front.settle()
        return front.counts(mark, repo) if kind is None else {
            k: v for k, v in front.counts(mark, repo).items() if k[1] == kind}

    def seen(self, front, mark):
        return "\n".join("    %r" % s for s in front.seen(mark)) or "    (none)"

    def ensure_warm(self):
        """Every tag cached in regcache (test 1 does this; a test run alone does it here)."""
        if not S.warm:
            failures = []
            self.containerd_pull_all(TAGS, "warming", failures)
            self.assert_no_failures(failures)
            S.warm = True

    # -- 1. cold pulls

    def test_1_cold_pull_of_every_tag_by_containerd_and_dockerd_records_the_registrys_digests(self):
        mark, failures = S.front_a.mark(), []
        self.containerd_pull_all(TAGS, "containerd, cold", failures)
        S.warm = not failures
        self.docker_pull_all(TAGS, "dockerd after containerd", failures)
        self.assert_no_failures(failures)
        S.front_a.settle()
        blob_gets = {}
        for seen in S.front_a.seen(mark, kind="blobs", method="GET"):
            path = seen.path.split("?")[0]
            blob_gets[path] = blob_gets.get(path, 0) + 1
        self.assertTrue(blob_gets, "no blob reached the upstream on a cold pull")
        self.assertEqual({p: n for p, n in blob_gets.items() if n > 1}, {},
                         "blobs fetched from the upstream more than once by two clients")

    # -- 2. warm pulls

    def test_2_warm_pull_inside_the_ttl_sends_no_request_upstream(self):
        self.ensure_warm()
        tags = [t for t in TAGS if t is not SHORT]      # SHORT's 2 s TTL may have passed
        mark, failures = S.front_a.mark(), []
        self.containerd_pull_all(tags, "containerd, warm", failures)
        self.docker_pull_all(tags, "dockerd, warm", failures)
        self.assert_no_failures(failures)
        self.assertEqual(self.upstream(S.front_a, mark), {},
                         "upstream requests during warm pulls:\n" + self.seen(S.front_a, mark))

    # -- 3. an expired tag

    def test_3_an_expired_unchanged_tag_costs_one_upstream_head_and_no_get(self):
        self.ensure_warm()
        for client in ("containerd", "dockerd"):
            time.sleep(SHORT_TTL_S + EXPIRY_MARGIN_S)
            mark, failures = S.front_a.mark(), []
            if client == "containerd":
                self.containerd_pull_all([SHORT], "containerd, expired", failures)
            else:
                self.docker_pull_all([SHORT], "dockerd, expired", failures)
            self.assert_no_failures(failures)
            self.assertEqual(self.upstream(S.front_a, mark, kind="manifests"), {HEAD_M: 1},
                             "%s: upstream manifest requests for an expired tag:\n%s" % (
                                 client, self.seen(S.front_a, mark)))

    # -- 4. upstream stopped

    def test_4_every_tag_pulls_through_regcache_with_the_upstream_stopped(self):
        self.ensure_warm()
        failures = []
        with S.upstream_stopped():
            self.containerd_pull_all(TAGS, "containerd, upstream stopped", failures)
            self.docker_pull_all(TAGS, "dockerd, upstream stopped", failures)
        self.assert_no_failures(failures)

    # -- 5. a registry name with a port

    def test_5_containerd_pull_of_a_registry_with_a_port_goes_through_regcache(self):
        mark, log_mark = S.front_b.mark(), S.rc.log_mark()
        ns = S.containerd.fresh_namespace()
        ref = "%s/%s:%s" % (S.front_b.host, PORT_TAG.repo, PORT_TAG.tag)
        res = S.containerd.pull(ns, ref, S.hosts_dir)
        self.assertEqual(res.returncode, 0, "ctr pull %s: %s" % (ref, rt.tail(text(res), 15)))
        self.assertEqual(S.containerd.digests(ns).get(ref), PORT_TAG.digest)
        S.front_b.settle()
        log = rt.tail(S.rc.log_since(log_mark), 20)
        direct = [s for s in S.front_b.seen(mark)
                  if "containerd" in (s.header("User-Agent") or "")]
        if direct:
            self.fail("containerd went to the registry directly, not through regcache:\n%s\n"
                      "regcache's log:\n%s" % ("\n".join("    %r" % d for d in direct), log))
        self.assertTrue(S.front_b.seen(mark, kind="manifests"),
                        "regcache never asked the upstream %s; its log:\n%s" % (
                            S.front_b.host, log))

    # -- 6. /v2/ is local

    def test_6_get_v2_answers_200_locally_with_the_upstream_stopped(self):
        with S.upstream_stopped():
            res = rt.curl(["-o", "/dev/null", "-w", "%{http_code}", S.rc.url + "/v2/"], timeout=20)
        self.assertEqual((res.returncode, res.stdout.decode()), (0, "200"),
                         res.stderr.decode(errors="replace"))

    # -- 7. a resumed download

    def test_7_curl_resumes_an_interrupted_cached_blob_download_with_range(self):
        self.ensure_warm()
        digest = S.big.layer_digests[0]
        path = "/v2/acc/big/blobs/%s?ns=docker.io" % digest
        self.assertTrue(os.path.exists(S.rc.cache_blob_path(digest)), "the blob is not cached")
        part = os.path.join(S.tmp, "resumed.part")
        keep = 3 * rt.MiB + 12345
        # The interruption: a client reads part of the body, then closes its connection.
        with rt.RawHTTP(S.rc.port, timeout=30) as conn:
            conn.send(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, S.rc.host)).encode())
            head = conn.read_head()
            self.assertEqual(head.status, 200, repr(head))
            data = conn.rfile.read(keep)
        self.assertEqual(len(data), keep)
        with open(part, "wb") as f:
            f.write(data)
        res = rt.curl(["-C", "-", "-o", part, "-w", "%{http_code}", S.rc.url + path], timeout=60)
        self.assertEqual(res.returncode, 0, "curl -C -: %s" % res.stderr.decode(errors="replace"))
        self.assertEqual(res.stdout.decode(), "206", "status of the resumed request")
        self.assertEqual(rt.sha256_file(part), digest, "the resumed file's sha256")

    # -- 8. concurrent ranges of a cold blob

    def test_8_concurrent_ranges_of_a_cold_blob_make_one_upstream_get(self):
        digest = S.ranges.layer_digests[0]
        with open(os.path.join(S.layout, "blobs", "sha256", digest.split(":")[1]), "rb") as f:
            blob = f.read()
        self.assertFalse(os.path.exists(S.rc.cache_blob_path(digest)), "the blob is not cold")
        mark = S.front_a.mark()
        url = S.rc.url + "/v2/acc/ranges/blobs/%s?ns=docker.io" % digest
        offsets = [0, 1 * rt.MiB, 3 * rt.MiB + 7, RANGE_BLOB_BYTES - 100]
        procs = []
        for i, k in enumerate(offsets):
            out = os.path.join(S.tmp, "range-%d" % i)
            procs.append((k, out, subprocess.Popen(
                ["curl", "-sS", "--noproxy", "*", "--max-time", "60", "-o", out, "-w",
                 "%{http_code}", "-H", "Range: bytes=%d-" % k, url],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
        wrong = []
        for k, out, p in procs:
            try:
                stdout, stderr = p.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                p.kill()
                stdout, stderr = p.communicate(timeout=10)
            body = b""
            if os.path.exists(out):
                with open(out, "rb") as f:
                    body = f.read()
            status = stdout.decode()
            if (p.returncode != 0 or status not in (("206", "200") if k == 0 else ("206",))
                    or body != blob[k:]):
                wrong.append("Range: bytes=%d-: curl exit %d, status %s, %d bytes%s %s" % (
                    k, p.returncode, status, len(body),
                    "" if body == blob[k:] else " (not the blob from %d)" % k,
                    stderr.decode(errors="replace").strip()))
        S.front_a.settle()
        gets = [s for s in S.front_a.seen(mark, kind="blobs", method="GET") if digest in s.path]
        self.assertEqual(len(gets), 1, "upstream GETs of the blob:\n%s" % "\n".join(
            "    %r (Range: %s)" % (s, s.header("Range")) for s in gets))
        if wrong:
            self.fail("\n".join(wrong))


class DockerLogin(unittest.TestCase):
    """docker login and docker pull through the htpasswd-protected regcache (dockerd talks to
    127.0.0.1:<port> over plain HTTP: it is in insecure-registries)."""

    def login(self, user, password):
        config_dir = rt.mkdtemp("rc-docker-cli-")
        res = S.dockerd.docker(["login", "-u", user, "--password-stdin", S.auth_rc.host],
                               config_dir, stdin=password.encode())
        return res, config_dir

    def ref(self, upstream):
        return "%s/%s/%s:1" % (S.auth_rc.host, upstream, LOGIN_REPO)

    def assertPulled(self, ref, config_dir=None):
        res = S.dockerd.docker(["pull", ref], config_dir)
        self.assertEqual(res.returncode, 0, "docker pull %s: %s" % (ref, text(res)))
        img = S.login_image
        repo_digests, image_id = S.dockerd.repo_digests(ref)
        self.assertEqual(image_id, img.config_digest, "image ID")
        self.assertIn(ref.rsplit(":", 1)[0] + "@" + img.manifest_digest, repo_digests or [])

    def test_docker_login_then_pull_from_a_users_only_upstream_succeeds(self):
        res, config_dir = self.login("alice", USERS["alice"])
        self.assertEqual(res.returncode, 0, "docker login: %s" % text(res))
        self.assertIn("Login Succeeded", text(res))
        self.assertPulled(self.ref("users.test"), config_dir)

    def test_docker_login_with_a_wrong_password_fails(self):
        res, _ = self.login("alice", "not-" + USERS["alice"])
        self.assertNotEqual(res.returncode, 0, "docker login with a wrong password succeeded")
        self.assertIn("unauthorized", text(res).lower())

    def test_docker_pull_without_login_is_refused_by_a_users_only_upstream(self):
        res = S.dockerd.docker(["pull", self.ref("users.test")])
        self.assertNotEqual(res.returncode, 0, "docker pulled without a login")
        self.assertIn("unauthorized", text(res).lower())

    def test_docker_login_as_a_user_not_listed_then_pull_is_denied(self):
        res, config_dir = self.login("bob", USERS["bob"])
        self.assertEqual(res.returncode, 0, "docker login: %s" % text(res))
        res = S.dockerd.docker(["pull", self.ref("users.test")], config_dir)
        self.assertNotEqual(res.returncode, 0, "bob pulled from a users.test limited to alice")
        self.assertIn("denied", text(res).lower())

    def test_docker_pulls_the_public_upstream_without_login(self):
        self.assertPulled(self.ref("public.test"))


if __name__ == "__main__":
    rt.main()
