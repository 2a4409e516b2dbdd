#!/usr/bin/env python3
"""Manifest caching by tag: TTL tiers (PCRE, matched as docker-registry-proxy's nginx does),
cheap HEAD revalidation of expired tags, HEAD by tag cached like GET (what containerd and
dockerd send first), one revalidation shared by concurrent clients,
entries kept per accepted manifest kind, stale-if-error, and manifests by digest that never
expire.

What the upstream receives is counted by countingproxy.CountingProxy, a small HTTP front
between regcache and the real docker-registry (regcache's --upstream is the front; pushes go
straight to the registry and are never counted). A request is recorded as soon as the front
has read its head, before it is forwarded, so a count read after a client's answer includes
every upstream request regcache made for it: no race with docker-registry's log writer. The
front also injects 429/503 answers to manifest requests, holds manifest requests back so that
concurrent clients overlap, and can be stopped (refused connections) to make the upstream
unreachable.

TTLs are short (1s, 2s) and the tests sleep past them; nothing asserts a duration.

Run: python3 tests/integration/test_manifest_ttl.py --regcache build/regcache
"""

import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import countingproxy as cp  # noqa: E402
import regtest as rt  # noqa: E402

ALL = rt.ALL_MANIFEST_TYPES
HEAD_M = ("HEAD", "manifests")
GET_M = ("GET", "manifests")
PRETTYJWS = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_TYPES = (rt.OCI_INDEX, rt.OCI_MANIFEST)

# The Accept headers of the "entries per accepted kind" cases.
ACCEPTS = {
    "docker-schema2-only": rt.DOCKER_MANIFEST,
    "oci-only": rt.OCI_MANIFEST,
    "both-with-index": ", ".join([rt.OCI_INDEX, rt.OCI_MANIFEST, rt.DOCKER_MANIFEST]),
    "any": "*/*",
    "all-four": ALL,
}

# Sleep this long past a TTL before a request that must find the entry expired (covers a
# clock kept in whole seconds).
EXPIRY_MARGIN = 1.2

U = None    # the shared upstream (setUpModule)


class _Upstream:
    """One docker-registry for the whole file, and the images pushed to it."""

    def __init__(self):
        self.tmp = rt.mkdtemp()
        self.layout = os.path.join(self.tmp, "src")
        self.a = rt.make_oci_image(self.layout, "a", [3 * rt.KiB, 5 * rt.KiB], seed=101)
        self.b = rt.make_oci_image(self.layout, "b", [3 * rt.KiB, 6 * rt.KiB], seed=102)
        self.multi = rt.make_multiarch_index(self.layout, "m", [2 * rt.KiB], seed=103)
        self.registry = rt.Registry(self.tmp).start()

    def push(self, ref, repo, tag):
        """Image `ref` of the source layout ("a", "b": OCI manifests; "m": OCI index) to
        REPO:TAG, digests preserved."""
        rt.push(self.layout, ref, self.registry, repo, tag=tag, all_images=(ref == "m"))

    def push_docker(self, ref, repo, tag):
        """The same content converted to Docker schema 2 ("m": a Docker manifest list)."""
        rt.skopeo_copy("oci:%s:%s" % (self.layout, ref),
                       "docker://%s/%s:%s" % (self.registry.host, repo, tag),
                       all_images=(ref == "m"), dest_tls_verify=False, preserve_digests=False,
                       extra=["--format", "v2s2"])

    def move(self, repo, tag):
        """The tag moves upstream: skopeo copies image B onto it."""
        rt.skopeo_copy("oci:%s:b" % self.layout, "docker://%s/%s:%s" % (
            self.registry.host, repo, tag), dest_tls_verify=False)


def setUpModule():  # noqa: N802
    global U
    U = _Upstream()


def tearDownModule():  # noqa: N802
    if U is not None:
        U.registry.stop()


# ----------------------------------------------------------------------------
# helpers

def log_entries(text):
    """(method, target, status, outcome) of each access-log line in text."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^(GET|HEAD) (\S+) (\d{3}) \d+ \S+ (HIT|REVALIDATED|MISS|FOLLOW|STALE|PASS|"
                     r"ERROR|-)\b", line)
        if m:
            out.append((m.group(1), m.group(2), int(m.group(3)), m.group(4)))
    return out


def parallel_curl(url, n, accept, workdir):
    """n curl GETs started together. Returns [(status, Docker-Content-Digest, sha256 of the
    body, curl exit code, curl stderr)]."""
    os.makedirs(workdir, exist_ok=True)
    procs = []
    for i in range(n):
        hdr, body = os.path.join(workdir, "h%d" % i), os.path.join(workdir, "b%d" % i)
        p = subprocess.Popen(["curl", "-sS", "--max-time", "60", "-D", hdr, "-o", body,
                              "-H", "Accept: " + accept, url],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append((p, hdr, body))
    out = []
    for p, hdr, body in procs:
        try:
            _, err = p.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate(timeout=10)
        text = rt.read_text(hdr)
        statuses = re.findall(r"^HTTP/\S+ (\d{3})", text, re.M)
        digests = re.findall(r"^docker-content-digest:\s*(\S+)", text, re.M | re.I)
        out.append((int(statuses[-1]) if statuses else None, digests[-1] if digests else None,
                    rt.sha256_file(body) if os.path.exists(body) else None, p.returncode,
                    err.decode(errors="replace").strip()))
    return out


class ManifestCase(unittest.TestCase):
    """A front + regcache per class (start_stack), against the module's registry."""

    front = None
    rc = None

    @classmethod
    def start_stack(cls, name, env=None, config=None):
        """A counting front to U.registry and a regcache behind it. Returns (front, rc);
        both are stopped by class cleanups."""
        front = cp.CountingProxy("127.0.0.1", U.registry.port).start()
        cls.addClassCleanup(front.stop)
        rc = cls.make_regcache(name, front, env, config)
        rc.start()
        cls.addClassCleanup(rc.stop)
        return front, rc

    @staticmethod
    def make_regcache(name, front, env=None, config=None, cache_dir=None):
        rc = rt.Regcache(rt.REGCACHE, U.tmp, front.url, name=name, extra_env=env or {},
                         cache_dir=cache_dir)
        if config is not None:
            rc.extra_args = ["--config", rc.write_config(config)]
        return rc

    def private_stack(self, name, env=None):
        """Like start_stack, for one test (stopped by the test's cleanups)."""
        front = cp.CountingProxy("127.0.0.1", U.registry.port).start()
        self.addCleanup(front.stop)
        rc = self.make_regcache(name, front, env)
        rc.start()
        self.addCleanup(rc.stop)
        return front, rc

    # -- requests and marks

    @staticmethod
    def tag_path(repo, tag):
        return "/v2/%s/manifests/%s" % (repo, tag)

    @staticmethod
    def fetch(rc, repo, ref, method="GET", accept=ALL):
        return rc.get("/v2/%s/manifests/%s" % (repo, ref), {"Accept": accept}, method=method,
                      timeout=60)

    @staticmethod
    def marks(front, rc):
        return front.mark(), rc.log_mark()

    def diag(self, front, rc, marks):
        fm, lm = marks
        seen = "\n".join("    %r" % s for s in front.seen(fm)) or "    (none)"
        log = rt.tail(rc.log_since(lm), 25) or "(nothing)"
        return "\n  upstream received since the mark:\n%s\n  regcache log since the mark:\n%s" % (
            seen, log)

    def logged(self, rc, marks, repo, tag, n=1):
        """The access-log entries for repo:tag since marks, once there are n of them (the
        log is written after the response; waits at most 10 s)."""
        path = self.tag_path(repo, tag)

        def entries():
            return [e for e in log_entries(rc.log_since(marks[1])) if e[1] == path]
        try:
            rt.poll(lambda: len(entries()) >= n, 10, what="%d access-log line(s) for %s" % (
                n, path))
        except TimeoutError:
            pass                            # the assertion that follows shows what is there
        return entries()

    def assert_upstream(self, front, rc, marks, expected, kind=None):
        """What the upstream received since marks, as {(method, kind): n}, equals expected
        (only requests of `kind` when given)."""
        front.settle()
        got = front.counts(marks[0])
        if kind is not None:
            got = {k: v for k, v in got.items() if k[1] == kind}
        self.assertEqual(got, expected, "upstream requests" + self.diag(front, rc, marks))

    def assert_manifest(self, r, img, method="GET", stale=False, what=""):
        """r is img's manifest (200, digest, type, bytes or length), with a Warning 110
        header when stale, and none otherwise."""
        msg = "%s %s: %r" % (what, method, r)
        self.assertEqual(r.status, 200, msg)
        self.assertEqual(r.header("Docker-Content-Digest"), img.manifest_digest, msg)
        self.assertEqual(r.header("Content-Type"), img.media_type, msg)
        if method == "GET":
            self.assertEqual(r.body, img.manifest_bytes, msg)
        else:
            self.assertEqual(r.body, b"", msg)
            self.assertEqual(r.header("Content-Length"), str(len(img.manifest_bytes)), msg)
        warning = r.header("Warning")
        if stale:
            self.assertIsNotNone(warning, "no Warning header on a stale answer: " + msg)
            self.assertRegex(warning, r"^110\b", msg)
        else:
            self.assertIsNone(warning, "Warning header on a fresh answer: " + msg)


# ----------------------------------------------------------------------------
# tiers from the environment

class TtlTiersFromEnvironment(ManifestCase):
    """Tiers: `(fast)` 2s, `(.*slow)` 1h, default 2s. setUpClass pushes image A to one
    repository per test, asks regcache for each tag once (the entry is cached), moves some
    tags to image B upstream, and sleeps past the short TTLs; each test then looks at its own
    repository."""

    ENV = {
        "ENABLE_MANIFEST_CACHE": "true",
        "MANIFEST_CACHE_PRIMARY_REGEX": "(fast)",
        "MANIFEST_CACHE_PRIMARY_TIME": "2s",
        "MANIFEST_CACHE_SECONDARY_REGEX": "(.*slow)",
        "MANIFEST_CACHE_SECONDARY_TIME": "1h",
        "MANIFEST_CACHE_DEFAULT_TIME": "2s",
    }
    SHORT_TTL = 2.0

    # repository -> (tag, moves to B after it was cached?)
    REPOS = {
        "tier/fresh": ("slow", False),
        "tier/fresh-moved": ("slow", True),
        "tier/unchanged": ("fast", False),
        "tier/renewed": ("fast", False),
        "tier/logged": ("fast", False),
        "tier/moved": ("fast", True),
        "tier/moved-pull": ("fast", True),
        "tier/default": ("plain", False),
        "tier/first-wins": ("fast-slow", False),
        "tier/anchored": ("slow-fast", False),
        "tier/open-end": ("slowpoke", False),
        "tier/case": ("SLOW", False),
        "tier/concurrent": ("fast", False),
        "tier/concurrent-moved": ("fast", True),
    }

    @classmethod
    def setUpClass(cls):
        cls.front, cls.rc = cls.start_stack("tiers", env=cls.ENV)
        cls.first = {}
        for repo, (tag, _moves) in cls.REPOS.items():
            U.push("a", repo, tag)
        # The tag of tier/moved-pull is pulled by skopeo; the others are asked with curl's
        # equivalent (one GET accepting every manifest type).
        cls.first_pull = rt.pull(cls.rc.host, "tier/moved-pull:fast",
                                 os.path.join(U.tmp, "tiers-first-pull"))
        for repo, (tag, _moves) in cls.REPOS.items():
            if repo != "tier/moved-pull":
                cls.first[repo] = cls.fetch(cls.rc, repo, tag)
        for repo, (tag, moves) in cls.REPOS.items():
            if moves:
                U.move(repo, tag)
        time.sleep(cls.SHORT_TTL + EXPIRY_MARGIN)

    def setUp(self):
        self.front.delay_manifests = 0.0

    def tearDown(self):
        self.front.delay_manifests = 0.0

    def first_answer_was_a(self, repo):
        self.assert_manifest(self.first[repo], U.a, what="first answer for %s" % repo)

    def test_a_fresh_tag_is_answered_from_the_cache_for_get_and_head_without_any_upstream_request(self):
        repo, (tag, _) = "tier/fresh", self.REPOS["tier/fresh"]
        self.first_answer_was_a(repo)
        marks = self.marks(self.front, self.rc)
        for method in ("GET", "HEAD", "GET", "HEAD"):
            self.assert_manifest(self.fetch(self.rc, repo, tag, method), U.a, method)
        self.assert_upstream(self.front, self.rc, marks, {})

    def test_a_fresh_tag_keeps_its_cached_digest_after_the_tag_moved_upstream(self):
        repo, (tag, _) = "tier/fresh-moved", self.REPOS["tier/fresh-moved"]
        self.first_answer_was_a(repo)
        marks = self.marks(self.front, self.rc)
        self.assert_manifest(self.fetch(self.rc, repo, tag), U.a)
        self.assert_upstream(self.front, self.rc, marks, {})

    def test_an_expired_unchanged_tag_costs_exactly_one_upstream_head_and_is_served_from_the_cache(self):
        repo, (tag, _) = "tier/unchanged", self.REPOS["tier/unchanged"]
        self.first_answer_was_a(repo)
        marks = self.marks(self.front, self.rc)
        self.assert_manifest(self.fetch(self.rc, repo, tag), U.a)
        self.assert_upstream(self.front, self.rc, marks, {HEAD_M: 1})

    def test_an_expired_unchanged_tag_is_logged_as_revalidated(self):
        repo, (tag, _) = "tier/logged", self.REPOS["tier/logged"]
        marks = self.marks(self.front, self.rc)
        self.assert_manifest(self.fetch(self.rc, repo, tag), U.a)
        entries = self.logged(self.rc, marks, repo, tag)
        self.assertEqual([e[3] for e in entries], ["REVALIDATED"],
                         "access-log outcomes" + self.diag(self.front, self.rc, marks))

    def test_a_revalidated_tag_is_fresh_again_for_its_ttl(self):
        repo, (tag, _) = "tier/renewed", self.REPOS["tier/renewed"]
        self.assert_manifest(self.fetch(self.rc, repo, tag), U.a, what="revalidating GET")
        marks = self.marks(self.front, self.rc)
        self.assert_manifest(self.fetch(self.rc, repo, tag), U.a)
        self.assert_manifest(self.fetch(self.rc, repo, tag, "HEAD"), U.a, "HEAD")
        self.assert_upstream(self.front, self.rc, marks, {})

    def test_an_expired_tag_that_moved_costs_one_head_and_one_get_and_the_client_gets_the_new_manifest(self):
        repo, (tag, _) = "tier/moved", self.REPOS["tier/moved"]
        self.first_answer_was_a(repo)
        marks = self.marks(self.front, self.rc)
        self.assert_manifest(self.fetch(self.rc, repo, tag), U.b)
        self.assert_upstream(self.front, self.rc, marks, {HEAD_M: 1, GET_M: 1})
        marks = self.marks(self.front, self.rc)
        self.assert_manifest(self.fetch(self.rc, repo, tag, "HEAD"), U.b, "HEAD",
                             what="right after the update")
        self.assert_upstream(self.front, self.rc, marks, {})

    def test_a_skopeo_pull_after_the_tag_moved_and_expired_gets_the_new_images_digests(self):
        top, _mt, digests = self.first_pull
        self.assertEqual(top, U.a.manifest_digest, "first pull (before the tag moved)")
        self.assertEqual(digests, U.a.all_digests, "first pull (before the tag moved)")
        marks = self.marks(self.front, self.rc)
        top, _mt, digests = rt.pull(self.rc.host, "tier/moved-pull:fast",
                                    os.path.join(U.tmp, "tiers-second-pull"))
        self.assertEqual(top, U.b.manifest_digest)
        self.assertEqual(digests, U.b.all_digests)
        self.assert_upstream(self.front, self.rc, marks, {HEAD_M: 1, GET_M: 1}, kind="manifests")

    def test_a_tag_matching_no_tier_expires_after_the_default_time(self):
        repo, (tag, _) = "tier/default", self.REPOS["tier/default"]
        marks = self.marks(self.front, self.rc)
        self.assert_manifest(self.fetch(self.rc, repo, tag), U.a)
        self.assert_upstream(self.front, self.rc, marks, {HEAD_M: 1})

    def test_the_first_matching_tier_wins(self):
        # "fast-slow" matches (fast) (2s) and (.*slow) (1h); the primary tier decides.
        repo, (tag, _) = "tier/first-wins", self.REPOS["tier/first-wins"]
        marks = self.marks(self.front, self.rc)
        self.assert_manifest(self.fetch(self.rc, repo, tag), U.a)
        self.assert_upstream(self.front, self.rc, marks, {HEAD_M: 1})

    def test_a_tier_regex_is_anchored_at_the_start_of_the_tag(self):
        # "slow-fast": (fast) must not match inside the tag; (.*slow) does: 1h, still fresh.
        repo, (tag, _) = "tier/anchored", self.REPOS["tier/anchored"]
        marks = self.marks(self.front, self.rc)
        self.assert_manifest(self.fetch(self.rc, repo, tag), U.a)
        self.assert_upstream(self.front, self.rc, marks, {})

    def test_a_tier_regex_is_open_at_the_end_of_the_tag(self):
        # "slowpoke" is in the (.*slow) tier (1h): the regex need not match the whole tag.
        repo, (tag, _) = "tier/open-end", self.REPOS["tier/open-end"]
        marks = self.marks(self.front, self.rc)
        self.assert_manifest(self.fetch(self.rc, repo, tag), U.a)
        self.assert_upstream(self.front, self.rc, marks, {})

    def test_a_tier_regex_is_case_sensitive(self):
        # "SLOW" is not in the (.*slow) tier: default time (2s), expired.
        repo, (tag, _) = "tier/case", self.REPOS["tier/case"]
        marks = self.marks(self.front, self.rc)
        self.assert_manifest(self.fetch(self.rc, repo, tag), U.a)
        self.assert_upstream(self.front, self.rc, marks, {HEAD_M: 1})

    def test_concurrent_clients_of_an_expired_unchanged_tag_share_one_head(self):
        # The front holds manifest requests for 1s so that all eight clients arrive while
        # the revalidation is under way.
        repo, (tag, _) = "tier/concurrent", self.REPOS["tier/concurrent"]
        marks = self.marks(self.front, self.rc)
        self.front.delay_manifests = 1.0
        results = parallel_curl(self.rc.url + self.tag_path(repo, tag), 8, ALL,
                                os.path.join(U.tmp, "curl-concurrent"))
        self.front.delay_manifests = 0.0
        for status, digest, body_sha, code, err in results:
            self.assertEqual((code, status, digest, body_sha),
                             (0, 200, U.a.manifest_digest, U.a.manifest_digest), err)
        self.assert_upstream(self.front, self.rc, marks, {HEAD_M: 1})

    def test_concurrent_clients_of_an_expired_moved_tag_share_one_head_and_one_get(self):
        repo, (tag, _) = "tier/concurrent-moved", self.REPOS["tier/concurrent-moved"]
        marks = self.marks(self.front, self.rc)
        self.front.delay_manifests = 1.0
        results = parallel_curl(self.rc.url + self.tag_path(repo, tag), 8, ALL,
                                os.path.join(U.tmp, "curl-concurrent-moved"))
        self.front.delay_manifests = 0.0
        for status, digest, body_sha, code, err in results:
            self.assertEqual((code, status, digest, body_sha),
                             (0, 200, U.b.manifest_digest, U.b.manifest_digest), err)
        self.assert_upstream(self.front, self.rc, marks, {HEAD_M: 1, GET_M: 1})


# ----------------------------------------------------------------------------
# docker-registry-proxy's default tiers

class DefaultTiers(ManifestCase):
    """Only MANIFEST_CACHE_DEFAULT_TIME=2s is set (ENABLE_MANIFEST_CACHE absent): the cache is
    on, with the default primary tier (stable|nightly|production|test) 10m and secondary tier
    (versioned tags) 60d. setUpClass caches each tag, then sleeps past 2s."""

    ENV = {"MANIFEST_CACHE_DEFAULT_TIME": "2s"}
    REPOS = {
        "dflt/stable": "stable",
        "dflt/testing": "testing",
        "dflt/versioned": "v1.2.3",
        "dflt/latest": "latest",
        "dflt/one-digit": "v1",
        "dflt/app1.2.3": "latest",
    }

    @classmethod
    def setUpClass(cls):
        cls.front, cls.rc = cls.start_stack("default-tiers", env=cls.ENV)
        cls.first = {}
        for repo, tag in cls.REPOS.items():
            U.push("a", repo, tag)
            cls.first[repo] = cls.fetch(cls.rc, repo, tag)
        time.sleep(2.0 + EXPIRY_MARGIN)

    def expect(self, repo, upstream_requests):
        tag = self.REPOS[repo]
        self.assert_manifest(self.first[repo], U.a, what="first answer")
        marks = self.marks(self.front, self.rc)
        self.assert_manifest(self.fetch(self.rc, repo, tag), U.a)
        self.assert_upstream(self.front, self.rc, marks, upstream_requests)

    def test_stable_is_in_the_default_primary_tier_and_still_fresh(self):
        self.expect("dflt/stable", {})

    def test_testing_starts_with_test_and_is_in_the_default_primary_tier(self):
        self.expect("dflt/testing", {})

    def test_a_versioned_tag_is_in_the_default_secondary_tier(self):
        self.expect("dflt/versioned", {})

    def test_a_tag_in_no_default_tier_expires_after_manifest_cache_default_time(self):
        self.expect("dflt/latest", {HEAD_M: 1})

    def test_a_tag_with_a_single_digit_is_not_a_versioned_tag(self):
        self.expect("dflt/one-digit", {HEAD_M: 1})

    def test_digits_in_the_repository_name_do_not_make_a_tag_versioned(self):
        self.expect("dflt/app1.2.3", {HEAD_M: 1})

    def test_without_any_manifest_cache_variable_a_repeated_tag_request_is_a_cache_hit(self):
        front, rc = self.private_stack("no-env", env={})
        U.push("a", "dflt/no-env", "latest")
        self.assert_manifest(self.fetch(rc, "dflt/no-env", "latest"), U.a, what="first")
        marks = self.marks(front, rc)
        self.assert_manifest(self.fetch(rc, "dflt/no-env", "latest"), U.a)
        self.assert_manifest(self.fetch(rc, "dflt/no-env", "latest", "HEAD"), U.a, "HEAD")
        self.assert_upstream(front, rc, marks, {})


# ----------------------------------------------------------------------------
# ENABLE_MANIFEST_CACHE other than "true": TTL 0

class CacheDisabled(ManifestCase):
    ENV = {"ENABLE_MANIFEST_CACHE": "false"}

    @classmethod
    def setUpClass(cls):
        cls.front, cls.rc = cls.start_stack("disabled", env=cls.ENV)

    def test_every_tag_request_costs_one_head_and_no_get_while_the_tag_is_unchanged(self):
        U.push("a", "off/unchanged", "latest")
        self.assert_manifest(self.fetch(self.rc, "off/unchanged", "latest"), U.a, what="first")
        marks = self.marks(self.front, self.rc)
        for method in ("GET", "HEAD", "GET", "HEAD", "GET"):
            self.assert_manifest(self.fetch(self.rc, "off/unchanged", "latest", method), U.a,
                                 method)
        self.assert_upstream(self.front, self.rc, marks, {HEAD_M: 5})

    def test_a_moved_tag_is_served_new_at_once_for_one_head_and_one_get(self):
        U.push("a", "off/moved", "latest")
        self.assert_manifest(self.fetch(self.rc, "off/moved", "latest"), U.a, what="first")
        U.move("off/moved", "latest")
        marks = self.marks(self.front, self.rc)
        self.assert_manifest(self.fetch(self.rc, "off/moved", "latest"), U.b)
        self.assert_upstream(self.front, self.rc, marks, {HEAD_M: 1, GET_M: 1})

    def test_a_manifest_by_digest_is_never_revalidated(self):
        U.push("a", "off/digest", "latest")
        d = U.a.manifest_digest
        self.assert_manifest(self.fetch(self.rc, "off/digest", d), U.a, what="first")
        marks = self.marks(self.front, self.rc)
        for method in ("GET", "HEAD", "GET"):
            self.assert_manifest(self.fetch(self.rc, "off/digest", d, method), U.a, method)
        self.assert_upstream(self.front, self.rc, marks, {})

    def test_any_enable_manifest_cache_value_but_true_means_ttl_0(self):
        front, rc = self.private_stack("enable-1", env={"ENABLE_MANIFEST_CACHE": "1"})
        U.push("a", "off/enable-1", "latest")
        self.assert_manifest(self.fetch(rc, "off/enable-1", "latest"), U.a, what="first")
        marks = self.marks(front, rc)
        self.assert_manifest(self.fetch(rc, "off/enable-1", "latest"), U.a)
        self.assert_upstream(front, rc, marks, {HEAD_M: 1})


# ----------------------------------------------------------------------------
# the config-file form, and environment variables replacing it

class TiersFromConfigFile(ManifestCase):
    """One config file: default_ttl 1h, tier (fast) 1s. regcache "file" uses it alone;
    regcache "file+env" also gets MANIFEST_CACHE_PRIMARY_REGEX=(keep) / _TIME=1s and
    MANIFEST_CACHE_DEFAULT_TIME=1h, which must replace the file's policy as a whole."""

    CONFIG = {"manifest_cache": {"enabled": True, "default_ttl": "1h",
                                 "tiers": [{"regex": "(fast)", "ttl": "1s"}]}}
    ENV = {"MANIFEST_CACHE_PRIMARY_REGEX": "(keep)", "MANIFEST_CACHE_PRIMARY_TIME": "1s",
           "MANIFEST_CACHE_DEFAULT_TIME": "1h"}
    REPOS = {"cf/fast": "fast", "cf/keep": "keep", "cfenv/fast": "fast", "cfenv/keep": "keep"}

    @classmethod
    def setUpClass(cls):
        cls.front, cls.rc_file = cls.start_stack("config-file", config=cls.CONFIG)
        cls.rc_env = cls.make_regcache("config-file-env", cls.front, env=cls.ENV,
                                       config=cls.CONFIG)
        cls.rc_env.start()
        cls.addClassCleanup(cls.rc_env.stop)
        cls.first = {}
        for repo, tag in cls.REPOS.items():
            U.push("a", repo, tag)
            rc = cls.rc_env if repo.startswith("cfenv/") else cls.rc_file
            cls.first[repo] = cls.fetch(rc, repo, tag)
        time.sleep(1.0 + EXPIRY_MARGIN)

    def expect(self, rc, repo, upstream_requests):
        self.assert_manifest(self.first[repo], U.a, what="first answer")
        marks = self.marks(self.front, rc)
        self.assert_manifest(self.fetch(rc, repo, self.REPOS[repo]), U.a)
        self.assert_upstream(self.front, rc, marks, upstream_requests)

    def test_a_config_file_tier_expires_its_tags_after_its_ttl(self):
        self.expect(self.rc_file, "cf/fast", {HEAD_M: 1})

    def test_the_config_files_default_ttl_applies_to_tags_in_no_tier(self):
        self.expect(self.rc_file, "cf/keep", {})

    def test_environment_variables_drop_the_config_files_tiers(self):
        self.expect(self.rc_env, "cfenv/fast", {})

    def test_environment_tiers_apply_when_a_config_file_is_also_given(self):
        self.expect(self.rc_env, "cfenv/keep", {HEAD_M: 1})


# ----------------------------------------------------------------------------
# entries per accepted kind

class EntriesPerAcceptedKind(ManifestCase):
    """regcache with its default policy (tags cached for an hour). For each kind of tag, in
    two repositories: one asked first with the broadest Accept (the entry then holds, say, an
    OCI index), one asked first with the narrowest. Every answer, including the repeated
    ones regcache gives from its cache, must be what the upstream itself answers for the same
    Accept at that moment.

    distribution 2.8 answers a client that accepts neither Docker schema 2 nor a Docker
    manifest list (OCI-only, */*) on a Docker tag with a schema 1 conversion (prettyjws; its
    Docker-Content-Digest is that of the payload without the signatures, and the signature
    differs on every request). Those answers are compared in their own test
    (test_a_client_the_upstream_answers_with_a_schema1_conversion_gets_that_answer); in the
    per-kind tests they are requested in sequence like the others but only checked for
    kinds the client did not accept."""

    KINDS = ("oci-index", "docker-list", "docker-schema2", "oci-manifest")
    BROAD_FIRST = ["all-four", "docker-schema2-only", "oci-only", "both-with-index", "any"]
    NARROW_FIRST = ["docker-schema2-only", "oci-only", "any", "both-with-index", "all-four"]

    @classmethod
    def push_kind(cls, kind, repo):
        if kind == "oci-index":
            U.push("m", repo, "t")
        elif kind == "docker-list":
            U.push_docker("m", repo, "t")
        elif kind == "docker-schema2":
            U.push_docker("a", repo, "t")
        else:
            U.push("a", repo, "t")

    @classmethod
    def setUpClass(cls):
        cls.front, cls.rc = cls.start_stack("accept-kinds")
        for kind in cls.KINDS:
            for order in ("broad", "narrow"):
                cls.push_kind(kind, "acc/%s-%s" % (kind, order))
        for kind in ("docker-list", "docker-schema2"):
            cls.push_kind(kind, "acc/schema1-%s" % kind)

    def compare(self, repo, ref, accept_name, round_no, schema1=False):
        """Asks the upstream and regcache the same thing. Compares status, Content-Type,
        Docker-Content-Digest and body (error codes for errors) -- for a schema 1 answer of
        the upstream only when `schema1`. Always: a Docker-schema2-only client gets no OCI
        type, an OCI-only client no Docker manifest list."""
        accept = ACCEPTS[accept_name]
        path = "/v2/%s/manifests/%s" % (repo, ref)
        want = U.registry.get(path, {"Accept": accept})
        got = self.rc.get(path, {"Accept": accept}, timeout=60)
        what = "round %d, Accept %s (%s): upstream %r, regcache %r" % (
            round_no, accept_name, accept, want, got)
        ctype = got.header("Content-Type") if got.status == 200 else None
        if accept_name == "docker-schema2-only":
            self.assertNotIn(ctype, OCI_TYPES, "a Docker-only client got an OCI type: " + what)
        if accept_name == "oci-only":
            self.assertNotEqual(ctype, rt.DOCKER_LIST,
                                "an OCI-only client got a Docker manifest list: " + what)
        upstream_schema1 = want.status == 200 and want.header("Content-Type") == PRETTYJWS
        if upstream_schema1 and not schema1:
            return want
        self.assertEqual(got.status, want.status, what)
        if want.status == 200:
            self.assertEqual(got.header("Content-Type"), want.header("Content-Type"), what)
            self.assertEqual(got.header("Docker-Content-Digest"),
                             want.header("Docker-Content-Digest"), what)
            if not upstream_schema1:        # schema 1 is signed anew on every request
                self.assertEqual(got.body, want.body, what)
        else:
            self.assertEqual(got.error_codes(), want.error_codes(), what)
        return want

    def check_kind(self, kind):
        for order, names in (("broad", self.BROAD_FIRST), ("narrow", self.NARROW_FIRST)):
            repo = "acc/%s-%s" % (kind, order)
            for round_no in (1, 2, 3):
                for name in names:
                    with self.subTest(order=order, round=round_no, accept=name):
                        self.compare(repo, "t", name, round_no)

    def test_every_accepted_kind_gets_the_upstreams_own_answer_for_an_oci_index_tag(self):
        self.check_kind("oci-index")

    def test_every_accepted_kind_gets_the_upstreams_own_answer_for_a_docker_manifest_list_tag(self):
        self.check_kind("docker-list")

    def test_every_accepted_kind_gets_the_upstreams_own_answer_for_a_docker_schema2_tag(self):
        self.check_kind("docker-schema2")

    def test_every_accepted_kind_gets_the_upstreams_own_answer_for_an_oci_manifest_tag(self):
        self.check_kind("oci-manifest")

    def test_a_client_the_upstream_answers_with_a_schema1_conversion_gets_that_answer(self):
        # After the Docker-schema2-accepting entry is cached, OCI-only and */* clients of a
        # Docker tag: distribution 2.8 converts to schema 1 for them.
        for kind in ("docker-list", "docker-schema2"):
            repo = "acc/schema1-%s" % kind
            for round_no in (1, 2):
                for name in ("all-four", "oci-only", "any"):
                    with self.subTest(kind=kind, round=round_no, accept=name):
                        want = self.compare(repo, "t", name, round_no, schema1=True)
                        if name != "all-four":      # the premise of this test
                            self.assertEqual(want.header("Content-Type"), PRETTYJWS, want)

    def test_a_second_request_of_each_accepted_kind_is_answered_from_the_cache(self):
        # The comparisons above could pass with no caching at all; this shows each kind
        # has its own entry: after one round, a second round costs the upstream nothing.
        U.push("m", "acc/hits", "t")
        names = ["all-four", "docker-schema2-only", "oci-only", "both-with-index"]
        first = {n: self.fetch(self.rc, "acc/hits", "t", accept=ACCEPTS[n]) for n in names}
        marks = self.marks(self.front, self.rc)
        for n in names:
            again = self.fetch(self.rc, "acc/hits", "t", accept=ACCEPTS[n])
            self.assertEqual((again.status, again.header("Docker-Content-Digest"), again.body),
                             (first[n].status, first[n].header("Docker-Content-Digest"),
                              first[n].body), n)
        self.assertEqual(first["all-four"].header("Content-Type"), rt.OCI_INDEX,
                         first["all-four"])
        self.assertEqual(first["both-with-index"].header("Content-Type"), rt.OCI_INDEX,
                         first["both-with-index"])
        self.front.settle()
        front_counts = {k: v for k, v in self.front.counts(marks[0]).items()
                        if k[1] == "manifests"}
        # Answers that were 200 must come from the cache; an upstream error (404 for the
        # kinds the upstream refuses) may be asked again.
        expected_max = sum(1 for n in names if first[n].status != 200)
        self.assertLessEqual(sum(front_counts.values()), expected_max,
                             "upstream manifest requests" + self.diag(self.front, self.rc, marks))


# ----------------------------------------------------------------------------
# HEAD by tag (what containerd and dockerd send first)

CONTAINERD_ACCEPT = ", ".join([rt.DOCKER_MANIFEST, rt.DOCKER_LIST, rt.OCI_MANIFEST, rt.OCI_INDEX,
                               "*/*"])


class HeadByTag(ManifestCase):
    """HEAD by tag is cached like GET: a miss asks the upstream with one HEAD and remembers
    digest, type and length; inside the TTL nothing goes upstream. Tier `(short)` 1s, the
    rest 1h."""

    ENV = {
        "ENABLE_MANIFEST_CACHE": "true",
        "MANIFEST_CACHE_PRIMARY_REGEX": "(short)",
        "MANIFEST_CACHE_PRIMARY_TIME": "1s",
        "MANIFEST_CACHE_DEFAULT_TIME": "1h",
    }
    SHORT_TTL = 1.0

    @classmethod
    def setUpClass(cls):
        cls.front, cls.rc = cls.start_stack("head", env=cls.ENV)

    def setUp(self):
        self.front.fail_manifests = None

    def tearDown(self):
        self.front.fail_manifests = None

    def head(self, repo, tag, accept=CONTAINERD_ACCEPT, rc=None):
        return self.fetch(rc or self.rc, repo, tag, "HEAD", accept)

    def test_a_head_miss_costs_one_upstream_head_and_no_get_and_carries_digest_type_and_length(self):
        U.push("a", "head/miss", "v1")
        marks = self.marks(self.front, self.rc)
        self.assert_manifest(self.head("head/miss", "v1"), U.a, "HEAD",
                             what=self.diag(self.front, self.rc, marks))
        self.assert_upstream(self.front, self.rc, marks, {HEAD_M: 1}, kind="manifests")

    def test_a_second_head_inside_the_ttl_costs_no_upstream_request(self):
        U.push("a", "head/hit", "v1")
        first = self.marks(self.front, self.rc)
        self.assert_manifest(self.head("head/hit", "v1"), U.a, "HEAD", what="first")
        # The log line is written after the response: wait for the first one before the mark.
        self.logged(self.rc, first, "head/hit", "v1")
        marks = self.marks(self.front, self.rc)
        for _ in range(3):
            self.assert_manifest(self.head("head/hit", "v1"), U.a, "HEAD",
                                 what=self.diag(self.front, self.rc, marks))
        self.assert_upstream(self.front, self.rc, marks, {})
        self.assertEqual([e[3] for e in self.logged(self.rc, marks, "head/hit", "v1", 3)],
                         ["HIT"] * 3, self.diag(self.front, self.rc, marks))

    def test_a_containerd_pull_of_a_tag_a_second_time_costs_no_upstream_manifest_request(self):
        # HEAD by tag, then GET by digest (which stores the bytes), then the same again.
        # A regcache of its own: its store has none of the index's bytes yet.
        front, rc = self.private_stack("head-pull", env=self.ENV)
        U.push("m", "head/pull", "v1")
        index = U.multi
        for round_ in (1, 2):
            marks = self.marks(front, rc)
            r = self.head("head/pull", "v1", rc=rc)
            self.assertEqual(r.header("Docker-Content-Digest"), index.index_digest, repr(r))
            self.assertEqual(r.header("Content-Length"), str(len(index.index_bytes)), repr(r))
            r = self.fetch(rc, "head/pull", index.index_digest, accept=rt.OCI_INDEX + ", */*")
            self.assertEqual(r.body, index.index_bytes, repr(r))
            # skopeo/podman GET by tag is then a hit too.
            r = self.fetch(rc, "head/pull", "v1")
            self.assertEqual(r.body, index.index_bytes, repr(r))
            expected = {HEAD_M: 1, GET_M: 1} if round_ == 1 else {}
            self.assert_upstream(front, rc, marks, expected, kind="manifests")

    def test_a_get_by_tag_after_a_head_only_entry_asks_once_and_then_hits(self):
        U.push("a", "head/then-get", "v1")
        self.assert_manifest(self.head("head/then-get", "v1", ALL), U.a, "HEAD", what="head")
        marks = self.marks(self.front, self.rc)
        self.assert_manifest(self.fetch(self.rc, "head/then-get", "v1"), U.a, what="get 1")
        self.assert_manifest(self.fetch(self.rc, "head/then-get", "v1"), U.a, what="get 2")
        self.assert_upstream(self.front, self.rc, marks, {GET_M: 1}, kind="manifests")

    def test_an_expired_unchanged_tag_costs_one_head_for_a_head_client(self):
        U.push("a", "head/expired", "short")
        self.assert_manifest(self.head("head/expired", "short"), U.a, "HEAD", what="first")
        time.sleep(self.SHORT_TTL + EXPIRY_MARGIN)
        marks = self.marks(self.front, self.rc)
        self.assert_manifest(self.head("head/expired", "short"), U.a, "HEAD",
                             what=self.diag(self.front, self.rc, marks))
        self.assert_upstream(self.front, self.rc, marks, {HEAD_M: 1}, kind="manifests")
        self.assertEqual([e[3] for e in self.logged(self.rc, marks, "head/expired", "short")],
                         ["REVALIDATED"], self.diag(self.front, self.rc, marks))

    def test_an_expired_moved_tag_gives_a_head_client_the_new_digest_for_one_head(self):
        U.push("a", "head/moved", "short")
        self.assert_manifest(self.head("head/moved", "short"), U.a, "HEAD", what="first")
        U.move("head/moved", "short")
        time.sleep(self.SHORT_TTL + EXPIRY_MARGIN)
        marks = self.marks(self.front, self.rc)
        self.assert_manifest(self.head("head/moved", "short"), U.b, "HEAD",
                             what=self.diag(self.front, self.rc, marks))
        self.assert_upstream(self.front, self.rc, marks, {HEAD_M: 1}, kind="manifests")
        # And it is remembered: a HEAD inside the TTL again costs nothing.
        marks = self.marks(self.front, self.rc)
        self.assert_manifest(self.head("head/moved", "short"), U.b, "HEAD", what="again")
        self.assert_upstream(self.front, self.rc, marks, {}, kind="manifests")

    def test_an_expired_head_entry_is_served_stale_with_warning_110_while_the_upstream_fails(self):
        for status in (503, 429):
            repo = "head/stale-%d" % status
            U.push("a", repo, "short")
            self.assert_manifest(self.head(repo, "short"), U.a, "HEAD", what="first")
            time.sleep(self.SHORT_TTL + EXPIRY_MARGIN)
            self.front.fail_manifests = status
            self.assert_manifest(self.head(repo, "short"), U.a, "HEAD", stale=True,
                                 what="upstream answers %d" % status)
            self.front.fail_manifests = None

    def test_a_head_entry_is_served_stale_when_the_upstream_is_unreachable(self):
        front, rc = self.private_stack("head-down", env=self.ENV)
        U.push("a", "head/down", "short")
        self.assert_manifest(self.head("head/down", "short", rc=rc), U.a, "HEAD", what="first")
        time.sleep(self.SHORT_TTL + EXPIRY_MARGIN)
        front.stop()
        self.assert_manifest(self.head("head/down", "short", rc=rc), U.a, "HEAD", stale=True,
                             what=rt.tail(rc.log_text(), 10))

    def test_a_stored_index_serves_a_client_that_accepts_only_its_type_offline(self):
        # Stored under containerd's Accept; asked with a single type, and with the upstream
        # gone, it must not be a miss.
        front, rc = self.private_stack("accept-single", env=self.ENV)
        U.push("m", "head/single", "v1")
        r = self.fetch(rc, "head/single", "v1", accept=CONTAINERD_ACCEPT)
        self.assertEqual(r.body, U.multi.index_bytes, repr(r))
        marks = self.marks(front, rc)
        for method in ("GET", "HEAD"):
            r = self.fetch(rc, "head/single", "v1", method, accept=rt.OCI_INDEX)
            self.assertEqual(r.status, 200, repr(r))
            self.assertEqual(r.header("Docker-Content-Digest"), U.multi.index_digest, repr(r))
        self.assert_upstream(front, rc, marks, {}, kind="manifests")
        front.stop()
        r = self.fetch(rc, "head/single", "v1", accept="%s;q=0.9" % rt.OCI_INDEX)
        self.assertEqual(r.status, 200, repr(r) + rt.tail(rc.log_text(), 10))
        self.assertEqual(r.body, U.multi.index_bytes)

    def test_a_client_that_does_not_accept_the_stored_type_is_never_sent_it(self):
        U.push("m", "head/not-accepted", "v1")
        r = self.fetch(self.rc, "head/not-accepted", "v1", accept=CONTAINERD_ACCEPT)
        self.assertEqual(r.body, U.multi.index_bytes, repr(r))
        for method in ("GET", "HEAD"):
            r = self.fetch(self.rc, "head/not-accepted", "v1", method, accept=rt.DOCKER_MANIFEST)
            self.assertNotEqual(r.header("Content-Type"), rt.OCI_INDEX, repr(r))
            self.assertNotEqual(r.header("Docker-Content-Digest"), U.multi.index_digest, repr(r))


# ----------------------------------------------------------------------------
# stale-if-error

class StaleIfError(ManifestCase):
    """TTL 0 (ENABLE_MANIFEST_CACHE=false), so that every tag request goes upstream."""

    ENV = {"ENABLE_MANIFEST_CACHE": "false"}

    @classmethod
    def setUpClass(cls):
        cls.front, cls.rc = cls.start_stack("stale", env=cls.ENV)

    def setUp(self):
        self.front.fail_manifests = None

    def tearDown(self):
        self.front.fail_manifests = None

    def cached(self, repo, rc=None):
        """repo:latest pushed and fetched once through rc, and that fetch's access-log line
        written (it is written after the response; a mark taken before it would count it)."""
        rc = rc or self.rc
        U.push("a", repo, "latest")
        mark = (None, rc.log_mark())
        self.assert_manifest(self.fetch(rc, repo, "latest"), U.a, what="while the upstream is up")
        self.logged(rc, mark, repo, "latest")

    def test_a_cached_tag_is_served_stale_with_warning_110_while_the_upstream_answers_503(self):
        self.cached("stale/503")
        self.front.fail_manifests = 503
        marks = self.marks(self.front, self.rc)
        for method in ("GET", "HEAD"):
            self.assert_manifest(self.fetch(self.rc, "stale/503", "latest", method), U.a,
                                 method, stale=True, what=self.diag(self.front, self.rc, marks))

    def test_a_cached_tag_is_served_stale_with_warning_110_while_the_upstream_answers_429(self):
        self.cached("stale/429")
        self.front.fail_manifests = 429
        marks = self.marks(self.front, self.rc)
        for method in ("GET", "HEAD"):
            self.assert_manifest(self.fetch(self.rc, "stale/429", "latest", method), U.a,
                                 method, stale=True, what=self.diag(self.front, self.rc, marks))

    def test_a_stale_answer_is_logged_as_stale(self):
        self.cached("stale/logged")
        self.front.fail_manifests = 503
        marks = self.marks(self.front, self.rc)
        self.fetch(self.rc, "stale/logged", "latest")
        entries = self.logged(self.rc, marks, "stale/logged", "latest")
        self.assertEqual([e[3] for e in entries], ["STALE"],
                         "access-log outcomes" + self.diag(self.front, self.rc, marks))

    def test_after_the_upstream_recovers_the_current_manifest_is_served_without_a_warning(self):
        self.cached("stale/recovered")
        self.front.fail_manifests = 503
        self.assert_manifest(self.fetch(self.rc, "stale/recovered", "latest"), U.a, stale=True,
                             what="while failing")
        U.move("stale/recovered", "latest")
        self.front.fail_manifests = None
        self.assert_manifest(self.fetch(self.rc, "stale/recovered", "latest"), U.b)
        self.assert_manifest(self.fetch(self.rc, "stale/recovered", "latest", "HEAD"), U.b,
                             "HEAD")

    def check_upstream_error_passes(self, status, repo):
        U.push("a", repo, "latest")           # exists upstream, never asked through regcache
        self.front.fail_manifests = status
        want_body = self.front._error_body(status)   # what the front answers
        marks = self.marks(self.front, self.rc)
        r = self.fetch(self.rc, repo, "latest")
        what = "%r%s" % (r, self.diag(self.front, self.rc, marks))
        self.assertEqual(r.status, status, what)
        self.assertEqual(r.body, want_body, what)
        self.assertIsNone(r.header("Docker-Content-Digest"), what)
        return r, what

    def test_a_tag_never_cached_gets_the_upstreams_503(self):
        self.check_upstream_error_passes(503, "stale/never-503")

    def test_a_tag_never_cached_gets_the_upstreams_429_with_its_retry_after(self):
        r, what = self.check_upstream_error_passes(429, "stale/never-429")
        self.assertEqual(r.header("Retry-After"), cp.CountingProxy.RETRY_AFTER, what)

    def test_a_cached_tag_is_served_stale_with_warning_110_when_the_upstream_is_unreachable(self):
        front, rc = self.private_stack("stale-down", env=self.ENV)
        self.cached("stale/down", rc)
        front.stop()
        for method in ("GET", "HEAD"):
            self.assert_manifest(self.fetch(rc, "stale/down", "latest", method), U.a, method,
                                 stale=True, what=rt.tail(rc.log_text(), 10))

    def test_a_tag_never_cached_gets_502_with_an_oci_error_when_the_upstream_is_unreachable(self):
        front, rc = self.private_stack("never-down", env=self.ENV)
        U.push("a", "stale/never-down", "latest")
        front.stop()
        r = self.fetch(rc, "stale/never-down", "latest")
        what = "%r\n%s" % (r, rt.tail(rc.log_text(), 10))
        self.assertEqual(r.status, 502, what)
        self.assertEqual(r.error_codes(), ["UPSTREAM_UNAVAILABLE"], what)

    def test_tag_entries_survive_a_restart_and_are_served_stale_with_the_upstream_stopped(self):
        front, rc = self.private_stack("restart", env=self.ENV)
        self.cached("stale/restart", rc)
        rc.stop()
        front.stop()
        rc.start()
        for method in ("GET", "HEAD"):
            self.assert_manifest(self.fetch(rc, "stale/restart", "latest", method), U.a, method,
                                 stale=True, what=rt.tail(rc.log_text(), 10))

    def test_a_manifest_by_digest_is_served_with_ttl_0_and_the_upstream_stopped(self):
        front, rc = self.private_stack("digest-down", env=self.ENV)
        U.push("a", "stale/digest", "latest")
        d = U.a.manifest_digest
        self.assert_manifest(self.fetch(rc, "stale/digest", d), U.a, what="upstream up")
        front.stop()
        for method in ("GET", "HEAD"):
            self.assert_manifest(self.fetch(rc, "stale/digest", d, method), U.a, method,
                                 what=rt.tail(rc.log_text(), 10))


if __name__ == "__main__":
    rt.main()
