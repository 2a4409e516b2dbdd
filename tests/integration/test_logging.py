#!/usr/bin/env python3
"""The log as an operator ships it: --log-file (every line timestamped, the file reopened on
SIGUSR1 as logrotate's postrotate does, so no line is lost or goes to the rotated file after the
signal) and --log-format json (every line one JSON object: access records with their fields,
client-sent text escaped, and the daemon's messages).

Run: python3 tests/integration/test_logging.py --regcache build/regcache
"""

import json
import os
import re
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def read(path):
    return rt.read_text(path) if os.path.exists(path) else ""


class LoggingCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        layout = os.path.join(cls.tmp, "layout")
        cls.image = rt.make_oci_image(layout, "v1", [64 * rt.KiB], 11)
        cls.upstream = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.upstream.stop)
        rt.push(layout, "v1", cls.upstream, "logged/app")

    def start(self, name, args):
        rc = rt.Regcache(rt.REGCACHE, self.tmp, self.upstream.url, name=name, extra_args=args)
        rc.start()
        self.addCleanup(rc.stop)
        return rc

    def manifest_path(self):
        return "/v2/logged/app/manifests/v1"

    def get_manifest(self, rc):
        r = rt.http_request("GET", rc.url + self.manifest_path(),
                            headers={"Accept": self.image.media_type})
        self.assertEqual(r.status, 200, r)
        return r


class LogFile(LoggingCase):
    def test_lines_go_to_the_file_timestamped_and_not_to_stderr(self):
        path = os.path.join(self.tmp, "file-only.log")
        rc = self.start("file-only", ["--log-file", path])
        self.get_manifest(rc)
        rt.poll(lambda: self.manifest_path() in read(path), 10, what="the access line in the file")
        text = read(path)
        self.assertRegex(text, r"(?m)^%s regcache: listening on " % STAMP)
        self.assertRegex(text, r"(?m)^%s GET %s 200 \d+ \S+ MISS\b" % (STAMP, re.escape(
            self.manifest_path())))
        for line in text.splitlines():
            self.assertRegex(line, "^" + STAMP + " ", "an unstamped line in the log file")
        self.assertNotIn(self.manifest_path(), rc.stderr_text())

    def test_sigusr1_reopens_the_file_after_it_was_moved_away(self):
        path = os.path.join(self.tmp, "rotated.log")
        rc = self.start("rotated", ["--log-file", path])
        self.get_manifest(rc)
        rt.poll(lambda: self.manifest_path() in read(path), 10, what="the first access line")
        os.rename(path, path + ".1")            # logrotate's rename
        os.kill(rc.pid, signal.SIGUSR1)         # its postrotate
        rt.poll(lambda: "log file reopened" in read(path), 10, what="a new file after SIGUSR1")
        self.get_manifest(rc)
        rt.poll(lambda: self.manifest_path() in read(path), 10, what="the next access line")
        self.assertRegex(read(path), r"GET %s 200 .* HIT\b" % re.escape(self.manifest_path()))
        old = read(path + ".1")
        self.assertEqual(old.count(self.manifest_path()), 1, "the rotated file got a later line")
        self.assertTrue(rc.alive())

    def test_sigusr1_keeps_the_open_file_when_the_new_one_cannot_be_created(self):
        directory = os.path.join(self.tmp, "logs-dir")
        os.makedirs(directory)
        path = os.path.join(directory, "regcache.log")
        rc = self.start("unopenable", ["--log-file", path])
        os.rename(directory, directory + ".gone")   # the path now cannot be created
        os.kill(rc.pid, signal.SIGUSR1)
        kept = os.path.join(directory + ".gone", "regcache.log")
        rt.poll(lambda: "SIGUSR1 received: cannot open the log file" in read(kept), 10,
                what="the refusal in the file still open")
        self.get_manifest(rc)
        rt.poll(lambda: self.manifest_path() in read(kept), 10, what="later lines, same file")
        self.assertTrue(rc.alive())

    def test_sigusr1_without_a_log_file_is_logged_and_harmless(self):
        rc = self.start("no-file", [])
        os.kill(rc.pid, signal.SIGUSR1)
        rt.poll(lambda: "no --log-file to reopen" in rc.stderr_text(), 10, what="the message")
        self.get_manifest(rc)
        self.assertTrue(rc.alive())

    def test_a_log_file_that_cannot_be_opened_at_start_is_a_clear_error(self):
        path = os.path.join(self.tmp, "no-such-dir", "x.log")
        rc = rt.Regcache(rt.REGCACHE, self.tmp, self.upstream.url, name="bad-file",
                         extra_args=["--log-file", path])
        rc.start(wait=False)
        self.addCleanup(rc.stop)
        rt.poll(lambda: not rc.alive(), 10, what="regcache to exit")
        rc.stop()
        self.assertEqual(rc.returncode, 1)
        self.assertIn("cannot open the log file %s" % path, rc.stderr_text())


class JsonFormat(LoggingCase):
    def test_every_line_is_a_json_object_and_access_records_carry_their_fields(self):
        rc = self.start("json", ["--log-format", "json"])
        self.get_manifest(rc)
        self.get_manifest(rc)
        # A target with a quote and a backslash, sent raw: the route refuses it (400) and the
        # access record must still be valid JSON that reads back byte for byte.
        odd = b'/v2/x"y\\z/manifests/a'
        with rt.RawHTTP(rc.port) as raw:
            raw.send(b"GET " + odd + b" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            answer = raw.read_head()
        self.assertIsNotNone(answer)

        def records():
            out = []
            for line in rc.stderr_text().splitlines():
                out.append(json.loads(line))    # raises on any line that is not JSON
            return out
        # The access log is written by the worker's log ring, after the answer: wait for the
        # last request's record, not for a count the earlier requests already reach.
        rt.poll(lambda: any(r.get("type") == "access" and r["target"].endswith("/manifests/a")
                            for r in records()), 10, what="the odd target's access record")
        recs = records()
        for r in recs:
            self.assertRegex(r["time"], "^" + STAMP + "$")
        self.assertTrue(any(r.get("msg", "").startswith("listening on ") for r in recs), recs)
        access = [r for r in recs if r.get("type") == "access"
                  and r["target"] == self.manifest_path()]
        self.assertEqual([r["cache"] for r in access], ["MISS", "HIT"], access)
        first = access[0]
        self.assertEqual(first["method"], "GET")
        self.assertEqual(first["status"], 200)
        self.assertEqual(first["bytes"], len(self.image.manifest_bytes))
        self.assertIsInstance(first["duration_ms"], float)
        self.assertIs(first["aborted"], False)
        self.assertNotEqual(first["upstream"], "")
        odd_records = [r for r in recs if r.get("type") == "access"
                       and r["target"].endswith("/manifests/a")]
        self.assertEqual([(r["target"], r["status"]) for r in odd_records],
                         [(odd.decode(), answer.status)], recs)

    def test_a_bad_log_format_is_a_usage_error(self):
        rc = rt.Regcache(rt.REGCACHE, self.tmp, self.upstream.url, name="bad-format",
                         extra_args=["--log-format", "xml"])
        rc.start(wait=False)
        self.addCleanup(rc.stop)
        rt.poll(lambda: not rc.alive(), 10, what="regcache to exit")
        rc.stop()
        self.assertEqual(rc.returncode, 2)
        self.assertIn("expected text or json, got 'xml'", rc.stderr_text())


if __name__ == "__main__":
    rt.main()
