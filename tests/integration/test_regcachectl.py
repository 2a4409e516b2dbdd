#!/usr/bin/env python3
"""regcachectl against a real regcache, with a real docker-registry upstream behind a counting
front (countingproxy.py), real skopeo pulls, and a network namespace for a client that is not
on loopback:

  * prefetch of a multi-arch image puts everything in the cache: a skopeo pull of each
    platform afterwards asks the upstream for nothing;
  * ls lists the image with the sizes of the files pushed; stats numbers move;
  * purge removes an image (its next pull goes upstream) but keeps the layers another cached
    image shares; purge by digest removes that blob even when shared; purge --older-than
    keeps what was just used;
  * the control endpoints refuse a client outside loopback (403 with an OCI error), unless it
    logs in as a user --control-users names; the registry API stays open to it.

Run: python3 tests/integration/test_regcachectl.py --regcache build/regcache
"""

import base64
import json
import os
import pty
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import countingproxy  # noqa: E402
import regtest as rt  # noqa: E402

CTL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "regcachectl")
ARCHES = ("amd64", "arm64")
USERS = {"alice": "operator-pass", "bob": "puller-pass"}

TMP = LAYOUT = REG = FRONT = HTPASSWD = None
MULTI = None


def setUpModule():
    global TMP, LAYOUT, REG, FRONT, HTPASSWD, MULTI
    TMP = rt.mkdtemp("regcache-ctl-")
    LAYOUT = os.path.join(TMP, "src")
    MULTI = rt.make_multiarch_index(LAYOUT, "m1", [300 * rt.KiB + 7, 20 * rt.KiB], seed=901)
    REG = rt.Registry(TMP).start()
    unittest.addModuleCleanup(REG.stop)
    rt.push(LAYOUT, "m1", REG, "team/multi", all_images=True, tag="1")
    # The same image in another repository: every file shared, as a base image is.
    rt.push(LAYOUT, "m1", REG, "team/twin", all_images=True, tag="1")
    host, port = REG.host.split(":")
    FRONT = countingproxy.CountingProxy(host, int(port)).start()
    unittest.addModuleCleanup(FRONT.stop)
    HTPASSWD = os.path.join(TMP, "htpasswd")
    with open(HTPASSWD, "w") as f:
        for user, password in USERS.items():
            out = subprocess.run(["htpasswd", "-nbB", user, password], check=True,
                                 stdout=subprocess.PIPE, timeout=30).stdout
            f.write(out.decode().strip() + "\n")


def layout_size(digest):
    return os.path.getsize(os.path.join(LAYOUT, "blobs", "sha256", digest.split(":", 1)[1]))


def image_digests(multi):
    out = {multi.index_digest}
    for img in multi.images.values():
        out.add(img.manifest_digest)
        out.update(img.blob_digests)
    return out


def ctl(rc, *args, env=None, prefix=(), url=None, timeout=300):
    """Runs regcachectl; returns CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.pop("REGCACHE_URL", None)
    full_env.update(env or {})
    argv = list(prefix) + [sys.executable, CTL, "--url", url or rc.url] + list(args)
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=full_env, timeout=timeout)


def ctl_json(testcase, rc, *args):
    r = ctl(rc, *args, "--json")
    testcase.assertEqual(r.returncode, 0, r.stderr)
    return json.loads(r.stdout)


def pull_platform(rc, ref, arch, out):
    rt.skopeo_copy("docker://%s/%s" % (rc.host, ref), "oci:%s:pulled" % out, src_tls_verify=False,
                   extra=["--override-arch", arch, "--override-os", "linux"])


def start_regcache(name, extra_args=()):
    rc = rt.Regcache(rt.REGCACHE, TMP, FRONT.url, name=name, extra_args=list(extra_args))
    rc.start()
    return rc


class PrefetchListStats(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rc = start_regcache("prefetch")
        cls.addClassCleanup(cls.rc.stop)
        cls.stats_before = json.loads(ctl(cls.rc, "stats", "--json").stdout)
        mark = FRONT.mark()
        cls.prefetch = ctl(cls.rc, "prefetch", "team/multi:1")
        FRONT.settle()
        cls.prefetch_upstream = FRONT.counts(mark)
        cls.stats_after = json.loads(ctl(cls.rc, "stats", "--json").stdout)

    def test_prefetch_exits_0_with_a_summary_line_counting_every_blob_fetched(self):
        self.assertEqual(self.prefetch.returncode, 0, self.prefetch.stderr)
        blobs = sum(len(img.blob_digests) for img in MULTI.images.values())
        self.assertIn("prefetched 1 of 1 images: 3 manifests, %d blobs" % blobs,
                      self.prefetch.stdout)
        self.assertIn("0 already cached", self.prefetch.stdout)
        self.assertIn("%d fetched" % blobs, self.prefetch.stdout)
        self.assertIn("0 failed", self.prefetch.stdout)
        # Not a TTY: plain progress lines.
        self.assertIn("prefetch: team/multi:1: %d/%d blobs" % (blobs, blobs), self.prefetch.stderr)

    def test_prefetch_fetched_each_blob_upstream_once(self):
        blobs = sum(len(img.blob_digests) for img in MULTI.images.values())
        self.assertEqual(self.prefetch_upstream.get(("GET", "blobs"), 0), blobs,
                         self.prefetch_upstream)

    def test_a_pull_of_each_platform_after_prefetch_asks_the_upstream_for_nothing(self):
        for arch in ARCHES:
            mark = FRONT.mark()
            pull_platform(self.rc, "team/multi:1", arch, os.path.join(TMP, "pulled-" + arch))
            FRONT.settle()
            self.assertEqual(FRONT.counts(mark), {}, "upstream requests pulling %s" % arch)
            top, _, digests = rt.layout_digests(os.path.join(TMP, "pulled-" + arch), "pulled")
            img = MULTI.images[arch]
            self.assertEqual(top, img.manifest_digest)
            self.assertEqual(digests, {img.manifest_digest, *img.blob_digests})

    def test_a_second_prefetch_finds_everything_cached(self):
        mark = FRONT.mark()
        r = ctl(self.rc, "prefetch", "team/multi:1")
        FRONT.settle()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0 fetched", r.stdout)
        self.assertEqual(FRONT.counts(mark).get(("GET", "blobs"), 0), 0)

    def test_from_file_prefetches_each_listed_image_and_a_failed_one_makes_the_exit_code_1(self):
        listing = os.path.join(TMP, "images.txt")
        with open(listing, "w") as f:
            f.write("# the morning's images\nteam/never:1\n\nteam/twin@%s  # by digest\n"
                    % MULTI.index_digest)
        r = ctl(self.rc, "prefetch", "--from-file", listing)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("prefetch: team/never:1: failed: manifest 1: 404", r.stderr)
        # The twin's files are the prefetched image's: all found cached, none fetched.
        blobs = sum(len(img.blob_digests) for img in MULTI.images.values())
        self.assertIn("prefetched 1 of 2 images: 3 manifests, %d blobs (%d already cached"
                      % (blobs, blobs), r.stdout)
        self.assertIn("0 fetched", r.stdout)
        self.assertIn("1 failed", r.stdout)

    def test_on_a_tty_each_image_gets_a_progress_bar(self):
        master, slave = pty.openpty()
        try:
            proc = subprocess.Popen([sys.executable, CTL, "--url", self.rc.url, "prefetch",
                                     "team/multi:1"], stdout=subprocess.PIPE, stderr=slave)
            os.close(slave)
            slave = None
            out, _ = proc.communicate(timeout=120)
            shown = b""
            for _ in range(1000):  # bounded: the child has exited, the pty holds what it wrote
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer is gone and everything was read
                    break
                if not chunk:
                    break
                shown += chunk
        finally:
            os.close(master)
            if slave is not None:
                os.close(slave)
        self.assertEqual(proc.returncode, 0, shown)
        self.assertIn(b"prefetched 1 of 1 images", out)
        text = shown.decode()
        self.assertIn("\rteam/multi:1", text)
        self.assertRegex(text, r"\[#{30}\] 100\.0%")
        self.assertNotIn("prefetch: team/multi:1:", text)  # the plain lines are for non-TTYs

    def test_an_image_named_with_its_registry_is_fetched_with_ns_and_cached_as_a_pull_keys_it(self):
        rc = start_regcache("prefetch-ns")
        self.addCleanup(rc.stop)
        mark = FRONT.mark()
        r = ctl(rc, "prefetch", "%s/team/multi:1" % FRONT.host)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(any("ns=" in line for line in rc.access_lines()), rc.access_lines())
        FRONT.settle()
        self.assertGreater(FRONT.counts(mark).get(("GET", "blobs"), 0), 0)
        mark = FRONT.mark()
        pull_platform(rc, "team/multi:1", "arm64", os.path.join(TMP, "pulled-ns"))
        FRONT.settle()
        self.assertEqual(FRONT.counts(mark), {})

    def test_ls_lists_the_image_with_the_size_of_every_file_pushed(self):
        listing = ctl_json(self, self.rc, "ls")
        rows = [i for i in listing["images"] if i["name"] == "team/multi" and i["tag"] == "1"]
        self.assertEqual(len(rows), 1, listing)
        row = rows[0]
        self.assertEqual(row["digest"], MULTI.index_digest)
        self.assertEqual(row["upstream"], FRONT.host)
        expected = image_digests(MULTI)
        self.assertEqual(row["stored_count"], len(expected))
        self.assertEqual(row["stored_bytes"], sum(layout_size(d) for d in expected))
        self.assertEqual(row["missing_count"], 0)
        self.assertGreater(row["last_use_unix_s"], 0)

    def test_ls_table_names_the_repository_and_tag(self):
        r = ctl(self.rc, "ls")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"(?m)^%s/team/multi\s+1\s+%s" % (
            FRONT.host.replace(".", r"\."), MULTI.index_digest[7:19]))

    def test_stats_count_the_prefetch_and_the_cache_it_filled(self):
        before, after = self.stats_before, self.stats_after
        self.assertIsNone(before["hit_ratio"])
        self.assertEqual(before["entries"], 0)
        self.assertEqual(after["entries"], len(image_digests(MULTI)))
        self.assertGreaterEqual(after["content_bytes"], sum(layout_size(d) for d in
                                                            image_digests(MULTI)))
        self.assertGreater(after["bytes_via_upstream"], 300 * rt.KiB)
        self.assertGreater(after["requests"]["MISS"], before["requests"]["MISS"])
        self.assertEqual(after["downloads_running"], 0)


class Purge(unittest.TestCase):
    def setUp(self):
        self.rc = start_regcache("purge-" + self._testMethodName[-20:])
        self.addCleanup(self.rc.stop)
        for repo in ("team/multi:1", "team/twin:1"):
            r = ctl(self.rc, "prefetch", repo)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_purge_of_an_image_sends_its_next_pull_upstream(self):
        r = ctl(self.rc, "purge", "team/multi:1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("purged 1 tags", r.stdout)
        listing = ctl_json(self, self.rc, "ls")
        self.assertEqual([i["name"] for i in listing["images"]], ["team/twin"])
        mark = FRONT.mark()
        pull_platform(self.rc, "team/multi:1", "amd64", os.path.join(TMP, "after-purge"))
        FRONT.settle()
        counts = FRONT.counts(mark, repo="team/multi")
        self.assertGreaterEqual(counts.get(("GET", "manifests"), 0) +
                                counts.get(("HEAD", "manifests"), 0), 1, counts)

    def test_purge_of_an_image_keeps_the_blobs_another_cached_image_shares(self):
        r = ctl(self.rc, "purge", "team/multi:1", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        report = json.loads(r.stdout)
        self.assertEqual(report["digests_removed"], 0, report)  # twin names all of them
        self.assertEqual(report["kept_shared"], len(image_digests(MULTI)), report)
        mark = FRONT.mark()
        pull_platform(self.rc, "team/twin:1", "arm64", os.path.join(TMP, "twin-after"))
        FRONT.settle()
        self.assertEqual(FRONT.counts(mark), {})

    def test_purge_of_both_images_removes_every_file_and_the_stats_show_it(self):
        for ref in ("team/multi:1", "team/twin:1"):
            r = ctl(self.rc, "purge", ref)
            self.assertEqual(r.returncode, 0, r.stderr)
        stats = ctl_json(self, self.rc, "stats")
        self.assertEqual(stats["entries"], 0, stats)
        self.assertEqual(self.rc.published_files(), [])
        mark = FRONT.mark()
        pull_platform(self.rc, "team/twin:1", "amd64", os.path.join(TMP, "twin-cold"))
        FRONT.settle()
        self.assertEqual(FRONT.counts(mark).get(("GET", "blobs"), 0),
                         len(MULTI.images["amd64"].blob_digests))

    def test_purge_by_digest_removes_a_shared_layer_and_only_that(self):
        layer = MULTI.images["amd64"].layer_digests[0]
        r = ctl(self.rc, "purge", layer, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["digests_removed"], 1)
        self.assertFalse(os.path.exists(self.rc.cache_blob_path(layer)))
        mark = FRONT.mark()
        resp = self.rc.get("/v2/team/twin/blobs/%s" % layer, timeout=60)
        self.assertEqual(resp.status, 200)
        self.assertEqual(rt.sha256_bytes(resp.body), layer)
        FRONT.settle()
        self.assertEqual(FRONT.counts(mark).get(("GET", "blobs"), 0), 1)

    def test_purge_older_than_a_week_keeps_what_was_just_used_and_says_nothing_matched(self):
        r = ctl(self.rc, "purge", "--older-than", "7d", "--json")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(json.loads(r.stdout)["digests_removed"], 0)
        self.assertEqual(ctl_json(self, self.rc, "stats")["entries"], len(image_digests(MULTI)))

    def test_purge_of_an_image_not_cached_fails_with_exit_1(self):
        r = ctl(self.rc, "purge", "team/never:1")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("nothing in the cache matched", r.stderr)


class KillDuringPurge(unittest.TestCase):
    """kill -9 while a purge runs, at a few different moments: whatever it had done, the cache
    it leaves serves only verified content, and both images pull whole afterwards."""

    def test_a_kill_9_during_a_purge_leaves_a_cache_that_serves_every_image_right(self):
        rc = start_regcache("kill-purge")
        self.addCleanup(rc.stop)
        # The moment of the kill varies (the purge's request not sent yet, on its way, done);
        # nothing here depends on which moment it was.
        for round_number, wait in enumerate(("none", 0.01, 0.05, "purge done")):
            for repo in ("team/multi:1", "team/twin:1"):
                r = ctl(rc, "prefetch", repo)
                self.assertEqual(r.returncode, 0, r.stderr)
            target = "team/multi:1" if round_number % 2 else MULTI.images["amd64"].layer_digests[0]
            purge = subprocess.Popen([sys.executable, CTL, "--url", rc.url, "purge", target],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if wait == "purge done":
                purge.wait(timeout=60)
            elif wait != "none":
                time.sleep(wait)
            rc.kill9()
            purge.wait(timeout=60)
            rc.start()
            self.assertEqual(rc.bad_published_files(), [], "round %d" % round_number)
            for repo in ("team/multi:1", "team/twin:1"):
                for arch in ARCHES:
                    out = os.path.join(TMP, "kill-%d-%s-%s" % (round_number, repo[5:9], arch))
                    pull_platform(rc, repo, arch, out)
                    top, _, digests = rt.layout_digests(out, "pulled")  # verifies every file
                    img = MULTI.images[arch]
                    self.assertEqual(top, img.manifest_digest)
                    self.assertEqual(digests, {img.manifest_digest, *img.blob_digests})


class Options(unittest.TestCase):
    def test_bad_options_exit_2_with_a_message(self):
        for args in (["purge", "--older-than", "7x"], ["prefetch", "Bad/Name:1"], ["bogus"],
                     ["prefetch"], ["purge"], ["--url", "ftp://x", "stats"]):
            r = subprocess.run([sys.executable, CTL] + args, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, "%s: %s" % (args, r.stderr))
            self.assertIn("regcachectl:", r.stderr)

    def test_an_unreachable_daemon_is_exit_1(self):
        r = subprocess.run([sys.executable, CTL, "--url", "http://127.0.0.1:%d" % rt.free_port(),
                            "stats"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("cannot reach regcache", r.stderr)

    def test_bad_control_users_exit_2(self):
        r = subprocess.run([rt.REGCACHE, "--control-users", "any"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("control-users", r.stderr)


NETNS = "regcache-ctl-%d" % os.getpid()
HOST_ADDR, NS_ADDR = "10.231.77.1", "10.231.77.2"


def run_ip(*args):
    subprocess.run(["ip"] + list(args), check=True, timeout=30, stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)


class RemoteRegcache(rt.Regcache):
    """Listens on the host's end of the veth pair: the only address the namespace reaches."""

    @property
    def host(self):
        return "%s:%d" % (HOST_ADDR, self.port)


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("ip"),
                     "needs root and ip(8) for a network namespace")
class ControlAccess(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        veth = "rcctl%d" % (os.getpid() % 100000)
        run_ip("netns", "add", NETNS)
        cls.addClassCleanup(run_ip, "netns", "delete", NETNS)
        run_ip("link", "add", veth, "type", "veth", "peer", "name", veth + "n")
        cls.addClassCleanup(subprocess.run, ["ip", "link", "delete", veth], timeout=30)
        run_ip("link", "set", veth + "n", "netns", NETNS)
        run_ip("addr", "add", HOST_ADDR + "/30", "dev", veth)
        run_ip("link", "set", veth, "up")
        run_ip("netns", "exec", NETNS, "ip", "addr", "add", NS_ADDR + "/30", "dev", veth + "n")
        run_ip("netns", "exec", NETNS, "ip", "link", "set", veth + "n", "up")
        run_ip("netns", "exec", NETNS, "ip", "link", "set", "lo", "up")
        cls.rc = RemoteRegcache(rt.REGCACHE, TMP, FRONT.url, name="remote",
                                extra_args=["--htpasswd", HTPASSWD, "--control-users", "alice"])
        cls.rc.start(wait=False)  # its /v2/ asks for a login: ready when /livez answers
        cls.addClassCleanup(cls.rc.stop)
        rt.wait_http_ok(cls.rc.url + "/livez", 30, cls.rc.proc)

    def remote(self, *args, user=None):
        env = {"REGCACHE_PASSWORD": USERS[user]} if user else {}
        extra = ["--user", user] if user else []
        return ctl(self.rc, *extra, *args, env=env, prefix=["ip", "netns", "exec", NETNS])

    def remote_get(self, path, user=None):
        headers = []
        if user:
            token = base64.b64encode(("%s:%s" % (user, USERS[user])).encode()).decode()
            headers = ["-H", "Authorization: Basic " + token]
        r = subprocess.run(["ip", "netns", "exec", NETNS, "curl", "-s", "-o", "-", "-w",
                            "\n%{http_code}", *headers, self.rc.url + path],
                           stdout=subprocess.PIPE, text=True, timeout=60)
        body, _, status = r.stdout.rpartition("\n")
        return int(status), body

    def test_an_anonymous_client_outside_loopback_gets_403_with_an_oci_error(self):
        status, body = self.remote_get("/_/control/stats")
        self.assertEqual(status, 403, body)
        self.assertEqual(json.loads(body)["errors"][0]["code"], "DENIED")
        r = self.remote("stats")
        self.assertEqual(r.returncode, 1)
        self.assertIn("403", r.stderr)

    def test_a_user_control_users_does_not_name_gets_403(self):
        status, body = self.remote_get("/_/control/images", user="bob")
        self.assertEqual(status, 403, body)
        r = self.remote("purge", "team/multi:1", user="bob")
        self.assertEqual(r.returncode, 1)
        self.assertIn("403", r.stderr)

    def test_the_operator_alice_may_use_them_from_outside_loopback(self):
        r = self.remote("stats", "--json", user="alice")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("entries", json.loads(r.stdout))
        r = self.remote("prefetch", "team/multi:1", user="alice")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("prefetched 1 of 1 images", r.stdout)

    def test_the_registry_api_stays_open_to_the_same_client(self):
        status, _ = self.remote_get("/v2/", user="bob")
        self.assertEqual(status, 200)


if __name__ == "__main__":
    rt.main()
