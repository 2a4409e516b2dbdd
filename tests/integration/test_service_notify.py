#!/usr/bin/env python3
"""The systemd notify protocol, read from the socket NOTIFY_SOCKET names, as systemd would:
READY=1 only once the port answers, STATUS= with the summary (hit ratio, bytes served from
cache, downloads in flight, cache size) and updated as requests are served, WATCHDOG=1 at a
quarter of WATCHDOG_USEC while the workers answer, STOPPING=1 on SIGTERM.

Run: python3 tests/integration/test_service_notify.py --regcache build/regcache
"""

import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402


class ServiceNotify(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        layout = os.path.join(cls.tmp, "src")
        cls.image = rt.make_oci_image(layout, "app", [2 * rt.MiB + 1], 3)
        cls.upstream = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.upstream.stop)
        rt.push(layout, "app", cls.upstream, "app")

    def start(self, name, env):
        notify = rt.NotifySocket(os.path.join(self.tmp, name + ".notify"))
        self.addCleanup(notify.close)
        env = dict(env, NOTIFY_SOCKET=notify.path)
        rc = rt.Regcache(rt.REGCACHE, self.tmp, self.upstream.url, name=name, extra_env=env)
        rc.start(wait=False)
        self.addCleanup(rc.stop)
        return rc, notify

    def test_ready_only_once_listening_then_status_follows_requests_then_stopping(self):
        rc, notify = self.start("lifecycle", {})
        _t, ready = notify.wait_for(lambda m: m.get("READY") == "1", 30, "READY=1")
        # READY=1 promises a listening port: the very next connection is served.
        self.assertEqual(rt.http_request("GET", rc.url + "/v2/", timeout=5).status, 200)
        self.assertIn("no requests yet", ready.get("STATUS", ""))
        self.assertIn("0 downloads in flight", ready["STATUS"])

        blob = self.image.layer_digests[0]
        for _ in range(4):  # one miss, three hits
            r = rc.get("/v2/app/blobs/" + blob)
            self.assertEqual((r.status, rt.sha256_bytes(r.body)), (200, blob))
        # The next STATUS (every 5 s) counts them as the access log does. The second request
        # may still find the first one's download in the table (FOLLOW) rather than the
        # published file (HIT): the log says which.
        def blob_lines():
            found = [line.split() for line in rc.log_text().splitlines()
                     if line.startswith("GET /v2/app/blobs/")]
            return found if len(found) == 4 else None

        lines = rt.poll(blob_lines, 10, what="four access-log lines")
        outcomes = [fields[5] for fields in lines]  # METHOD TARGET STATUS BYTES TIME OUTCOME
        hits = outcomes.count("HIT")
        self.assertEqual(outcomes[0], "MISS", lines)
        self.assertEqual(hits + outcomes.count("FOLLOW"), 3, lines)
        _t, status = notify.wait_for(lambda m: "hit ratio" in m.get("STATUS", ""), 15,
                                     "a STATUS with a hit ratio")
        self.assertIn("hit ratio %.1f%% (%d of 4)" % (100.0 * hits / 4, hits), status["STATUS"])
        self.assertIn("%.1f MiB served from cache" % (2.0 * hits) if hits else
                      "0 bytes served from cache", status["STATUS"])
        self.assertRegex(status["STATUS"], r"cache 2\.0 MiB of 32\.0 GiB in 1 file\b")

        rc.proc.send_signal(signal.SIGTERM)
        notify.wait_for(lambda m: m.get("STOPPING") == "1", 15, "STOPPING=1")
        rc.stop()

    def test_watchdog_pings_at_a_quarter_of_the_interval(self):
        _rc, notify = self.start("watchdog", {"WATCHDOG_USEC": "400000"})
        notify.wait_for(lambda m: m.get("READY") == "1", 30, "READY=1")
        t0, _m = notify.wait_for(lambda m: m.get("WATCHDOG") == "1", 5, "a first WATCHDOG=1")
        time.sleep(1.0)
        notify.drain(0)
        pings = [t for t, m in notify.messages if m.get("WATCHDOG") == "1" and t > t0]
        # 100 ms apart (the main loop's tick): about ten in a second; a loose floor, since the
        # machine may be busy, but one that a silent watchdog cannot pass.
        self.assertGreaterEqual(len(pings), 4, notify.messages)

    def test_no_watchdog_pings_without_watchdog_usec(self):
        _rc, notify = self.start("nowatchdog", {})
        notify.wait_for(lambda m: m.get("READY") == "1", 30, "READY=1")
        time.sleep(0.6)
        notify.drain(0)
        self.assertFalse([m for _t, m in notify.messages if "WATCHDOG" in m], notify.messages)


if __name__ == "__main__":
    rt.main()
