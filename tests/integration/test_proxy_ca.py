#!/usr/bin/env python3
"""Proxy mode's CA at start-up: the first start makes it under <cache-dir>/ca (key 0600, never
logged; /metrics counts no leaf yet) and the next reuses it; --ca-dir and CA_DIR move it; an operator's own CA is used as
it is; a directory with one file, a mismatched key or a certificate that is not a CA stops the
daemon with exit code 1 and a message naming the file; a bad --leaf-certificates-max is exit 2.

Run: python3 tests/integration/test_proxy_ca.py --regcache build/regcache
"""

import os
import shutil
import signal
import stat
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402

# /v2/ is answered locally, so no upstream needs to run: nothing here talks to one.
UNUSED_UPSTREAM = "http://127.0.0.1:9"


def run_briefly(argv, env=None, timeout=15):
    """Runs regcache expecting it to exit by itself; kills its group if it does not."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True, env=env)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out.decode(errors="replace") + err.decode(errors="replace")
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=10)
        return None, out.decode(errors="replace") + err.decode(errors="replace")


def certificate_text(path):
    return subprocess.run(["openssl", "x509", "-in", path, "-noout", "-text"], check=True,
                          stdout=subprocess.PIPE, timeout=30).stdout.decode()


class ProxyCaTest(unittest.TestCase):
    def setUp(self):
        self.work = rt.mkdtemp()
        self.addCleanup(shutil.rmtree, self.work, True)

    def regcache(self, name, extra_args=(), extra_env=None):
        rc = rt.Regcache(rt.REGCACHE, self.work, UNUSED_UPSTREAM, extra_args=extra_args,
                         name=name, extra_env=extra_env)
        self.addCleanup(rc.stop)
        return rc

    def start_and_stop(self, rc, while_running=None):
        rc.start()
        if while_running:
            while_running(rc)
        code, graceful = rc.stop()
        self.assertEqual(code, 0)
        self.assertTrue(graceful)

    def test_the_first_start_makes_the_ca_and_the_next_reuses_it(self):
        rc = self.regcache("first")
        ca_dir = os.path.join(rc.cache_dir, "ca")
        metrics = []
        self.start_and_stop(rc, lambda rc: metrics.append(rc.get("/metrics").body.decode()))
        crt, key = os.path.join(ca_dir, "ca.crt"), os.path.join(ca_dir, "ca.key")
        self.assertEqual(stat.S_IMODE(os.stat(ca_dir).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        self.assertIn("proxy CA: created %s" % crt, rc.log_text())
        text = certificate_text(crt)
        self.assertIn("CA:TRUE, pathlen:0", text)
        self.assertIn("Certificate Sign, CRL Sign", text)
        self.assertIn("regcache CA ", text)
        self.assertIn("prime256v1", text)
        # No intercepted connection yet: no leaf made, none kept.
        self.assertRegex(metrics[0], r"(?m)^regcache_proxy_leaf_certificates_minted_total 0$")
        self.assertRegex(metrics[0], r"(?m)^regcache_proxy_leaf_certificates_cached 0$")
        with open(crt, "rb") as f:
            first = f.read()
        with open(key, "rb") as f:
            key_bytes = f.read()

        self.start_and_stop(rc)
        with open(crt, "rb") as f:
            self.assertEqual(f.read(), first)
        with open(key, "rb") as f:
            self.assertEqual(f.read(), key_bytes)
        log = rc.log_text()
        self.assertEqual(log.count("proxy CA: created"), 1, log)
        self.assertIn("proxy CA: %s (" % crt, log)
        self.assertIn("expires", log)
        # The key never reaches a log line, in any form.
        self.assertNotIn("PRIVATE KEY", log)
        key_body = "".join(line for line in key_bytes.decode().splitlines()
                           if not line.startswith("-----"))
        self.assertNotIn(key_body[:32], log)

    def test_ca_dir_and_its_variable_move_the_ca(self):
        by_option = os.path.join(self.work, "by-option")
        self.start_and_stop(self.regcache("option", extra_args=["--ca-dir", by_option]))
        self.assertTrue(os.path.exists(os.path.join(by_option, "ca.crt")))
        by_variable = os.path.join(self.work, "by-variable")
        rc = self.regcache("variable", extra_env={"CA_DIR": by_variable})
        self.start_and_stop(rc)
        self.assertTrue(os.path.exists(os.path.join(by_variable, "ca.key")))
        self.assertFalse(os.path.exists(os.path.join(rc.cache_dir, "ca")))

    def test_an_operators_own_ca_is_used_as_it_is(self):
        ca_dir = os.path.join(self.work, "operator-ca")
        cert, key = rt.make_ca(os.path.join(self.work, "made"), name="Operator Test Root")
        os.makedirs(ca_dir)
        shutil.copy(cert, os.path.join(ca_dir, "ca.crt"))
        shutil.copy(key, os.path.join(ca_dir, "ca.key"))
        rc = self.regcache("operator", extra_args=["--ca-dir", ca_dir])
        self.start_and_stop(rc)
        self.assertIn("Operator Test Root", rc.log_text())
        self.assertNotIn("proxy CA: created", rc.log_text())
        with open(cert, "rb") as a, open(os.path.join(ca_dir, "ca.crt"), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def expect_start_refused(self, ca_dir, needle):
        rc = rt.Regcache(rt.REGCACHE, self.work, UNUSED_UPSTREAM, name="refused",
                         extra_args=["--ca-dir", ca_dir])
        code, output = run_briefly(rc.argv(), env=rc.child_env())
        self.assertEqual(code, 1, output)
        self.assertIn(needle, output)
        self.assertNotIn("PRIVATE KEY", output)

    def test_a_broken_ca_directory_stops_the_start(self):
        made_dir = os.path.join(self.work, "made")
        cert, key = rt.make_ca(made_dir, name="one")
        other_cert, other_key = rt.make_ca(os.path.join(self.work, "other"), name="two")

        only_cert = os.path.join(self.work, "only-cert")
        os.makedirs(only_cert)
        shutil.copy(cert, os.path.join(only_cert, "ca.crt"))
        self.expect_start_refused(only_cert, "ca.crt exists without")
        self.assertFalse(os.path.exists(os.path.join(only_cert, "ca.key")))

        mismatched = os.path.join(self.work, "mismatched")
        os.makedirs(mismatched)
        shutil.copy(cert, os.path.join(mismatched, "ca.crt"))
        shutil.copy(other_key, os.path.join(mismatched, "ca.key"))
        self.expect_start_refused(mismatched, "does not belong to it")

        not_a_ca = os.path.join(self.work, "not-a-ca")
        server_cert, server_key = rt.make_server_cert(os.path.join(self.work, "srv"), cert, key)
        os.makedirs(not_a_ca)
        shutil.copy(server_cert, os.path.join(not_a_ca, "ca.crt"))
        shutil.copy(server_key, os.path.join(not_a_ca, "ca.key"))
        self.expect_start_refused(not_a_ca, "not a CA certificate")

    def test_a_leaf_certificates_max_of_zero_is_an_option_error(self):
        rc = rt.Regcache(rt.REGCACHE, self.work, UNUSED_UPSTREAM, name="zero",
                         extra_args=["--leaf-certificates-max", "0"])
        code, output = run_briefly(rc.argv(), env=rc.child_env())
        self.assertEqual(code, 2, output)
        self.assertIn("--leaf-certificates-max", output)


if __name__ == "__main__":
    rt.main()
