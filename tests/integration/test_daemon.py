#!/usr/bin/env python3
"""The process: option errors (exit 2), --help, SIGTERM/SIGINT shutdown (exit 0, in-flight
downloads finish), and kill -9 in the middle of a cold download (no published cache file
ever fails its digest; a restart serves the blob correctly).

Run: python3 tests/integration/test_daemon.py --regcache build/regcache
"""

import hashlib
import os
import signal
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402

BIG = 64 * rt.MiB + 3
MID = 16 * rt.MiB + 1
SIGNAL_AFTER = 2 * rt.MiB     # bytes read by the client before the signal is sent


def run_briefly(argv, timeout=15):
    """Runs regcache expecting it to exit by itself; kills its group if it does not."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=10)
        return None, out.decode(errors="replace"), err.decode(errors="replace")


class Download:
    """A GET on a raw connection that calls on_progress once SIGNAL_AFTER bytes arrived and
    keeps reading to the end."""

    def __init__(self, rc, path):
        self.rc, self.path = rc, path
        self.hash = hashlib.sha256()
        self.n = 0
        self.error = None
        self.status = None

    def run(self, on_progress, timeout=120):
        fired = [False]

        def sink(b):
            self.hash.update(b)
            self.n += len(b)
            if not fired[0] and self.n >= SIGNAL_AFTER:
                fired[0] = True
                on_progress()

        with rt.RawHTTP(self.rc.port, timeout=timeout) as c:
            c.send(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (self.path, self.rc.host)).encode())
            try:
                head = c.read_head()
                if head is None:
                    self.error = "closed before a status line"
                    return self
                self.status = head.status
                c.read_body(head, sink=sink)
            except (ValueError, OSError) as e:
                self.error = repr(e)
        if not fired[0]:
            self.error = (self.error or "") + " (only %d bytes: never signalled)" % self.n
        return self

    @property
    def digest(self):
        return "sha256:" + self.hash.hexdigest()


class Daemon(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        layout = os.path.join(cls.tmp, "src")
        cls.img = rt.make_oci_image(layout, "v1", [BIG, MID, 10 * rt.KiB], seed=51)
        cls.upstream = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.upstream.stop)
        rt.push(layout, "v1", cls.upstream, "daemon")
        cls.big = cls.img.layer_digests[0]
        cls.n = 0

    def new_regcache(self, cache_dir=None, start=True):
        type(self).n += 1
        rc = rt.Regcache(rt.REGCACHE, self.tmp, self.upstream.url, cache_dir=cache_dir,
                         name="regcache-%d" % self.n)
        if start:
            rc.start()
        self.addCleanup(rc.stop)
        return rc

    def base_argv(self):
        d = os.path.join(self.tmp, "argv-cache")
        os.makedirs(d, exist_ok=True)
        return [rt.REGCACHE, "--listen", "127.0.0.1:%d" % rt.free_port(), "--upstream",
                self.upstream.url, "--cache-dir", d]

    # -- command line

    def test_unknown_option_exits_2_with_a_message(self):
        rc, _out, err = run_briefly(self.base_argv() + ["--no-such-option"])
        self.assertEqual(rc, 2, err)
        self.assertIn("no-such-option", err)

    def test_option_missing_its_value_exits_2_with_a_message(self):
        rc, _out, err = run_briefly([rt.REGCACHE, "--upstream", self.upstream.url,
                                     "--cache-dir", self.tmp, "--listen"])
        self.assertEqual(rc, 2, err)
        self.assertTrue(err.strip(), "no message on stderr")

    def test_non_numeric_workers_exits_2_with_a_message(self):
        rc, _out, err = run_briefly(self.base_argv() + ["--workers", "lots"])
        self.assertEqual(rc, 2, err)
        self.assertTrue(err.strip(), "no message on stderr")

    def test_malformed_listen_address_exits_2_with_a_message(self):
        for bad in ("127.0.0.1:notaport", "127.0.0.1:99999", "nohost"):
            argv = self.base_argv()
            argv[argv.index("--listen") + 1] = bad
            rc, _out, err = run_briefly(argv)
            self.assertEqual(rc, 2, "--listen %s: %s" % (bad, err))
            self.assertIn("listen", err)

    def test_upstream_url_without_http_or_https_exits_2_with_a_message(self):
        for bad in ("ftp://127.0.0.1:21", "127.0.0.1:5000"):
            argv = self.base_argv()
            argv[argv.index("--upstream") + 1] = bad
            rc, _out, err = run_briefly(argv)
            self.assertEqual(rc, 2, "--upstream %s: %s" % (bad, err))
            self.assertIn("upstream", err)

    def test_help_exits_0_and_lists_the_main_options(self):
        rc, out, err = run_briefly([rt.REGCACHE, "--help"])
        self.assertEqual(rc, 0, err)
        for opt in ("--listen", "--upstream", "--cache-dir", "--upstream-ca-file",
                    "--insecure-upstream", "--workers"):
            self.assertIn(opt, out, "--help output (stdout) does not mention " + opt)

    # -- logging

    def test_access_log_lines_go_to_stderr(self):
        rc = self.new_regcache()
        d = self.img.layer_digests[2]
        self.assertEqual(rc.get("/v2/daemon/blobs/" + d).status, 200)
        path = "/v2/daemon/blobs/" + d
        rt.poll(lambda: rc.access_lines(path), 5, what="an access-log line for " + path)
        self.assertTrue(rc.access_lines(path, text=rc.stderr_text()),
                        "access-log line for GET %s is not on stderr; stdout has: %r" % (
                            path, rc.access_lines(path, text=rc.stdout_text())))

    # -- signals

    def test_sigterm_while_idle_exits_0(self):
        rc = self.new_regcache()
        self.assertEqual(rc.get("/v2/").status, 200)
        code, graceful = rc.stop(timeout=20)
        self.assertTrue(graceful, "did not exit within 20 s of SIGTERM")
        self.assertEqual(code, 0)

    def test_sigint_while_idle_exits_0(self):
        rc = self.new_regcache()
        rc.proc.send_signal(signal.SIGINT)
        code = rc.proc.wait(20)
        self.assertEqual(code, 0, "exit code after SIGINT (None = still running after 20 s)")

    def check_sigterm_during_download(self, rc):
        path = "/v2/daemon/blobs/" + self.big
        dl = Download(rc, path).run(lambda: rc.proc.send_signal(signal.SIGTERM))
        self.assertIsNone(dl.error, "download interrupted by SIGTERM")
        self.assertEqual(dl.status, 200)
        self.assertEqual((dl.n, dl.digest), (BIG, self.big))
        code = rc.proc.wait(30)
        self.assertEqual(code, 0, "exit code after SIGTERM (None = still running after 30 s)")

    def test_sigterm_during_a_cold_blob_download_lets_it_finish_and_exits_0(self):
        self.check_sigterm_during_download(self.new_regcache())

    def test_sigterm_during_a_cached_blob_download_lets_it_finish_and_exits_0(self):
        rc = self.new_regcache()
        r = rc.get("/v2/daemon/blobs/" + self.big, timeout=120)
        self.assertEqual(rt.sha256_bytes(r.body), self.big)
        p = rc.cache_blob_path(self.big)
        rt.poll(lambda: os.path.isfile(p), 10, what="%s to be cached" % p)
        self.check_sigterm_during_download(rc)

    def test_server_stops_accepting_after_sigterm(self):
        rc = self.new_regcache()
        port = rc.port
        dl = Download(rc, "/v2/daemon/blobs/" + self.big)
        refused = []

        def on_progress():
            rc.proc.send_signal(signal.SIGTERM)
            # Bounded: within 10 s, a new connection must be refused or get no 200.
            def new_request_fails():
                try:
                    r = rt.http_request("GET", "http://127.0.0.1:%d/v2/" % port, timeout=2)
                    return r.status != 200
                except OSError:
                    return True
            try:
                refused.append(rt.poll(new_request_fails, 10, interval=0.1,
                                       what="new requests to be refused"))
            except TimeoutError:
                refused.append(False)

        dl.run(on_progress)
        self.assertEqual(refused, [True], "new requests still served 10 s after SIGTERM")
        self.assertIsNone(dl.error)
        self.assertEqual(dl.digest, self.big)
        self.assertEqual(rc.proc.wait(30), 0)

    # -- crash safety

    def test_kill_9_during_a_cold_download_leaves_no_bad_cache_file_and_a_restart_serves_it(self):
        rc = self.new_regcache()
        # Something complete in the cache first, so that the walk below sees real files.
        small = self.img.layer_digests[2]
        self.assertEqual(rt.sha256_bytes(rc.get("/v2/daemon/blobs/" + small).body), small)
        p_small = rc.cache_blob_path(small)
        rt.poll(lambda: os.path.isfile(p_small), 10, what="%s to be cached" % p_small)

        dl = Download(rc, "/v2/daemon/blobs/" + self.big).run(rc.kill9, timeout=30)
        self.assertIsNone(rc.proc, "kill9 did not reap regcache")
        self.assertLess(dl.n, BIG, "the whole blob arrived before the kill: test proves nothing")
        self.assertEqual(rc.bad_published_files(), [])
        self.assertFalse(os.path.exists(rc.cache_blob_path(self.big)) and
                         rt.sha256_file(rc.cache_blob_path(self.big)) != self.big)

        rc.start()
        for d, size in ((self.big, BIG), (small, 10 * rt.KiB)):
            r = rc.get("/v2/daemon/blobs/" + d, timeout=120)
            self.assertEqual(r.status, 200, r)
            self.assertEqual((len(r.body), rt.sha256_bytes(r.body)), (size, d))
        p_big = rc.cache_blob_path(self.big)
        rt.poll(lambda: os.path.isfile(p_big), 10, what="%s to be cached" % p_big)
        self.assertEqual(rc.bad_published_files(), [])

    def test_kill_9_with_several_cold_downloads_in_flight_leaves_no_bad_cache_file(self):
        rc = self.new_regcache()
        others = []

        def fetch(d):
            try:
                others.append(rc.get("/v2/daemon/blobs/" + d, timeout=60).status)
            except Exception as e:  # noqa: BLE001 - the kill cuts these
                others.append(repr(e))

        threads = [threading.Thread(target=fetch, args=(self.img.layer_digests[1],))
                   for _ in range(3)]
        for t in threads:
            t.start()
        Download(rc, "/v2/daemon/blobs/" + self.big).run(rc.kill9, timeout=30)
        for t in threads:
            t.join(60)
        self.assertFalse(any(t.is_alive() for t in threads), "a client hung after kill -9")
        self.assertEqual(rc.bad_published_files(), [])
        rc.start()
        r = rc.get("/v2/daemon/blobs/" + self.img.layer_digests[1], timeout=60)
        self.assertEqual(rt.sha256_bytes(r.body), self.img.layer_digests[1])
        self.assertEqual(rc.bad_published_files(), [])


if __name__ == "__main__":
    rt.main()
