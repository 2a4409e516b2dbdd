#!/usr/bin/env python3
"""Configuration reload on SIGHUP, under load: 8 clients download big blobs whose upstream
bodies are held part-way (so the reload surely lands mid-transfer) while SIGHUP changes the
manifest TTL tiers, adds an upstream and drops an upstream's credentials in the --config file.
Every transfer ends whole and verified; new requests see the new tiers, the new upstream and
no credentials; systemd's RELOADING=1 / READY=1 handshake is seen on NOTIFY_SOCKET; a broken
file, a bad value and a CA file that does not exist are refused with the reason logged, and
the old configuration keeps serving; a restart-only setting is named, and the rest applied.

Run: python3 tests/integration/test_reload.py --regcache build/regcache
"""

import json
import os
import re
import signal
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import authtest as at  # noqa: E402
import countingproxy  # noqa: E402
import regtest as rt  # noqa: E402

USER, PASSWORD = "reload-user", "reload-pass"
CLIENTS = 8
LAYER_BYTES = 6 * rt.MiB + 17
HELD_AFTER_BYTES = 1 * rt.MiB
MANIFEST_ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json"}


class Reload(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        # The default upstream, behind a counting front that can hold blob bodies part-way.
        cls.main_registry = rt.Registry(cls.tmp, "main").start()
        cls.addClassCleanup(cls.main_registry.stop)
        cls.front = countingproxy.CountingProxy("127.0.0.1", cls.main_registry.port).start()
        cls.addClassCleanup(cls.front.stop)
        layout = os.path.join(cls.tmp, "src-main")
        cls.image = rt.make_oci_image(layout, "app", [LAYER_BYTES + i for i in range(CLIENTS)],
                                      seed=1401)
        rt.push(layout, "app", cls.main_registry, "team/app", tag="app")
        # The upstream a reload adds.
        cls.added_registry = rt.Registry(cls.tmp, "added").start()
        cls.addClassCleanup(cls.added_registry.stop)
        layout = os.path.join(cls.tmp, "src-added")
        cls.added_image = rt.make_oci_image(layout, "x", [3 * rt.KiB], seed=1402)
        rt.push(layout, "x", cls.added_registry, "extra/img", tag="1")
        # An upstream behind Basic auth whose credentials a reload removes.
        htpasswd = at.make_htpasswd(os.path.join(cls.tmp, "htpasswd"), {USER: PASSWORD})
        cls.locked_registry = at.AuthRegistry(cls.tmp, "locked",
                                              htpasswd=("regtest-reload", htpasswd)).start()
        cls.addClassCleanup(cls.locked_registry.stop)
        layout = os.path.join(cls.tmp, "src-locked")
        cls.locked_image = rt.make_oci_image(layout, "x", [2 * rt.KiB], seed=1403)
        for tag in ("before", "after"):
            at.push_with_creds(layout, "x", cls.locked_registry.host, "team/locked",
                               (USER, PASSWORD), tag=tag)
        cls.n = 0

    # -- helpers

    def first_config(self):
        """Tag "app" is revalidated on every request; the locked upstream has credentials."""
        return {
            "manifest_cache": {"tiers": [{"regex": "app$", "ttl": "0s"}]},
            "upstreams": [{"host": self.locked_registry.host, "url": self.locked_registry.url}],
            "credentials": [{"host": self.locked_registry.host, "username": USER,
                             "password": PASSWORD}],
        }

    def second_config(self):
        """Tag "app" fresh for an hour; the added upstream; no credentials."""
        return {
            "manifest_cache": {"tiers": [{"regex": "app$", "ttl": "1h"}]},
            "upstreams": [{"host": self.locked_registry.host, "url": self.locked_registry.url},
                          {"host": self.added_registry.host, "url": self.added_registry.url}],
        }

    def start(self, name):
        type(self).n += 1
        name = "%d-%s" % (self.n, name)
        notify = rt.NotifySocket(os.path.join(self.tmp, name + ".notify"))
        self.addCleanup(notify.close)
        rc = rt.Regcache(rt.REGCACHE, self.tmp, self.front.url, name=name,
                         extra_env={"NOTIFY_SOCKET": notify.path})
        self.config_path = rc.write_config(self.first_config())
        rc.extra_args = ["--config", self.config_path]
        rc.start()
        self.addCleanup(rc.stop)
        notify.wait_for(lambda m: m.get("READY") == "1", 30, "READY=1 at start")
        return rc, notify

    def rewrite_config(self, text):
        # Replaced whole by a rename, as an editor or a configuration manager does: the reload
        # never reads half a file.
        tmp = self.config_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)

    def reload(self, rc, notify, text):
        """Rewrites the config file, sends SIGHUP and waits for the handshake; returns the log
        written meanwhile (the reload's line included)."""
        self.rewrite_config(text)
        mark = rc.log_mark()
        seen = len(notify.messages)
        rc.proc.send_signal(signal.SIGHUP)
        notify.wait_for(lambda m: m.get("RELOADING") == "1", 30, "RELOADING=1")
        reloading = [m for _t, m in notify.messages[seen:] if m.get("RELOADING") == "1"][0]
        self.assertRegex(reloading.get("MONOTONIC_USEC", ""), r"^\d+$", reloading)
        at_reloading = notify.messages.index(
            next(e for e in notify.messages[seen:] if e[1] is reloading))
        notify.wait_for(lambda m: m.get("READY") == "1" and
                        notify.messages.index(next(e for e in notify.messages if e[1] is m)) >
                        at_reloading, 30, "READY=1 after RELOADING=1")
        rt.poll(lambda: re.search(r"configuration reload(ed| refused)", rc.log_since(mark)), 30,
                what="the reload's log line")
        return rc.log_since(mark)

    def manifest_upstream_requests(self, rc, path):
        """Two GETs of a manifest by tag; the manifest requests the front saw for them."""
        since = self.front.mark()
        for _ in range(2):
            r = rc.get(path, headers=MANIFEST_ACCEPT)
            self.assertEqual(r.status, 200, r)
        self.front.settle()
        return len(self.front.seen(since=since, kind="manifests"))

    def metric(self, rc, name, labels=""):
        text = rc.get("/metrics").body.decode()
        m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
        self.assertIsNotNone(m, "%s%s not in /metrics" % (name, labels))
        return float(m.group(1))

    # -- the tests

    def test_reload_under_load_changes_tiers_adds_an_upstream_and_drops_credentials(self):
        rc, notify = self.start("load")
        added_path = "/v2/extra/img/manifests/1?ns=" + self.added_registry.host
        locked = "/v2/team/locked/manifests/%s?ns=" + self.locked_registry.host
        # The first configuration: a revalidation per request, the added registry unknown
        # (a loopback host that is not configured is refused), credentials used.
        self.assertEqual(self.manifest_upstream_requests(rc, "/v2/team/app/manifests/app"), 2)
        self.assertEqual(rc.get(added_path, headers=MANIFEST_ACCEPT).status, 403)
        self.assertEqual(rc.get(locked % "before", headers=MANIFEST_ACCEPT).status, 200)

        # 8 clients, 8 downloads, each held upstream after its first MiB.
        self.front.hold_blob_bodies(HELD_AFTER_BYTES)
        self.addCleanup(self.front.release_blob_bodies)
        layers = self.image.layer_digests
        results = [None] * CLIENTS

        def download(i):
            try:
                r = rc.get("/v2/team/app/blobs/" + layers[i], timeout=180)
                results[i] = (r.status, rt.sha256_bytes(r.body), len(r.body))
            except Exception as e:  # noqa: BLE001 - asserted below
                results[i] = e

        threads = [threading.Thread(target=download, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        rt.poll(lambda: self.front.held() == CLIENTS, 60, what="all 8 downloads held part-way")

        log = self.reload(rc, notify, json.dumps(self.second_config()))
        self.assertIn("configuration reloaded (generation 2)", log)
        self.assertNotIn("needs a restart", log)
        # Mid-transfer: every download is still held, none has ended.
        self.assertEqual(self.front.held(), CLIENTS)
        self.assertTrue(all(r is None for r in results), results)

        # New requests see the new configuration while the old transfers are still open.
        self.assertEqual(self.manifest_upstream_requests(rc, "/v2/team/app/manifests/app"), 0,
                         "the new tier's hour applies: no revalidation")
        r = rc.get(added_path, headers=MANIFEST_ACCEPT)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Docker-Content-Digest"), self.added_image.manifest_digest)
        r = rc.get(locked % "after", headers=MANIFEST_ACCEPT)
        self.assertEqual(r.status, 401, "the removed credentials were used: %r" % r)
        # The added upstream is observed under its own host: its requests are counted there,
        # not under another upstream's slot or the unconfigured one, and it has a health gauge.
        added = '{upstream="%s",status="200"}' % self.added_registry.host
        self.assertGreaterEqual(self.metric(rc, "regcache_upstream_requests_total", added), 1)
        self.assertEqual(self.metric(rc, "regcache_upstream_up",
                                     '{upstream="%s"}' % self.added_registry.host), 1)

        self.front.release_blob_bodies()
        for t in threads:
            t.join(180)
        self.assertFalse(any(t.is_alive() for t in threads), "a client hung")
        sizes = dict(zip(self.image.layer_digests, self.image.layer_sizes))
        for digest, result in zip(layers, results):
            self.assertEqual(result, (200, digest, sizes[digest]), digest)
        self.assertEqual(rc.bad_published_files(), [])
        self.assertEqual(self.metric(rc, "regcache_config_reloads_total", '{result="ok"}'), 1)
        self.assertEqual(self.metric(rc, "regcache_config_reloads_total", '{result="failed"}'), 0)
        self.assertGreater(self.metric(rc, "regcache_config_last_reload_timestamp_seconds"), 0)

    def test_a_broken_configuration_is_refused_and_the_old_one_serves(self):
        rc, notify = self.start("broken")
        added_path = "/v2/extra/img/manifests/1?ns=" + self.added_registry.host
        locked = "/v2/team/locked/manifests/before?ns=" + self.locked_registry.host
        broken_upstream = self.second_config()
        broken_upstream["upstreams"][1]["ca_file"] = os.path.join(self.tmp, "no-such-ca.pem")
        broken_upstream["upstreams"][1]["url"] = "https://" + self.added_registry.host
        for text, reason in [
                ('{"manifest_cache": {', "config"),                              # not JSON
                (json.dumps({"manifest_cache": {"tiers": [{"regex": "(", "ttl": "1h"}]}}),
                 "regex"),                                                       # a bad value
                (json.dumps(broken_upstream), "no-such-ca.pem")]:                 # start()'s check
            log = self.reload(rc, notify, text)
            self.assertIn("configuration reload refused", log)
            line = [x for x in log.splitlines() if "configuration reload refused" in x][0]
            self.assertIn(reason, line)
            self.assertNotIn(PASSWORD, log)
            # The old configuration, whole: its tiers, its upstreams, its credentials.
            self.assertEqual(self.manifest_upstream_requests(rc, "/v2/team/app/manifests/app"), 2)
            self.assertEqual(rc.get(added_path, headers=MANIFEST_ACCEPT).status, 403)
            self.assertEqual(rc.get(locked, headers=MANIFEST_ACCEPT).status, 200)
        self.assertEqual(self.metric(rc, "regcache_config_reloads_total", '{result="failed"}'), 3)
        self.assertEqual(self.metric(rc, "regcache_config_reloads_total", '{result="ok"}'), 0)

        # A restart-only setting is named and keeps its running value; the rest applies.
        restart = self.second_config()
        restart["workers"] = 3
        log = self.reload(rc, notify, json.dumps(restart))
        self.assertIn("configuration reloaded (generation 2)", log)
        self.assertIn("--workers needs a restart", log)
        self.assertEqual(self.metric(rc, "regcache_workers"), 1)
        self.assertEqual(rc.get(added_path, headers=MANIFEST_ACCEPT).status, 200)
        self.assertEqual(self.metric(rc, "regcache_config_reloads_total", '{result="ok"}'), 1)


if __name__ == "__main__":
    rt.main()
