#!/usr/bin/env python3
"""Workers: `--workers 0` runs one worker per CPU this process may use (its affinity mask and
its cgroup's CPU quota, not the machine's count), and several workers share one download per
digest and serve hits on any worker.

Run: python3 tests/integration/test_workers.py --regcache build/regcache
"""

import os
import re
import shlex
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402

LISTENING = re.compile(r"listening on \S+ \((\d+) workers?(?:: ([^)]*\)?[^)]*))?\)")


class WrappedRegcache(rt.Regcache):
    """regcache started through `sh -c PREFIX; exec regcache ...` (taskset, a cgroup)."""

    def __init__(self, *args, prefix="", launcher=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.prefix = prefix
        self.launcher = list(launcher)

    def argv(self):
        inner = self.launcher + super().argv()
        script = (self.prefix + "; " if self.prefix else "") + "exec " + shlex.join(inner)
        return ["sh", "-c", script]


def worker_count(rc):
    m = LISTENING.search(rc.stderr_text())
    if not m:
        raise AssertionError("no start-up line in:\n" + rt.tail(rc.stderr_text()))
    return int(m.group(1)), m.group(0)


def cpu_cgroup_dir():
    """A directory where this test may create a child cgroup with a CPU quota, and the file
    format ("v1" or "v2"); None when the machine offers neither (not root, no controller)."""
    if os.geteuid() != 0:
        return None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            dash = fields.index("-")
            fstype, super_opts = fields[dash + 1], fields[dash + 3] if len(fields) > dash + 3 else ""
            if fstype == "cgroup" and "cpu" in super_opts.split(","):
                return fields[4], "v1"
    try:
        with open("/sys/fs/cgroup/cgroup.subtree_control") as f:
            if "cpu" in f.read().split():
                return "/sys/fs/cgroup", "v2"
    except OSError:
        pass
    return None


class WorkerCount(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        cls.upstream = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.upstream.stop)
        cls.affinity = len(os.sched_getaffinity(0))

    def start(self, name, **kwargs):
        rc = WrappedRegcache(rt.REGCACHE, self.tmp, self.upstream.url, name=name,
                             extra_args=["--workers", "0"], **kwargs)
        rc.start()
        self.addCleanup(rc.stop)
        return rc

    def test_workers_0_is_one_per_cpu_of_the_affinity_mask(self):
        rc = self.start("all-cpus")
        count, line = worker_count(rc)
        self.assertEqual(count, self.affinity, line)
        self.assertIn("%d in the affinity mask" % self.affinity, line)

    def test_workers_0_under_taskset_one_cpu_is_one_worker(self):
        if self.affinity < 2:
            self.skipTest("one CPU only: taskset cannot shrink the mask")
        cpu = sorted(os.sched_getaffinity(0))[0]
        rc = self.start("taskset", launcher=["taskset", "-c", str(cpu)])
        count, line = worker_count(rc)
        self.assertEqual(count, 1, line)
        self.assertEqual(rt.http_request("GET", rc.url + "/v2/").status, 200)

    def test_workers_0_follows_the_cgroup_cpu_quota(self):
        if self.affinity < 2:
            self.skipTest("one CPU only: a quota below it cannot be told apart")
        where = cpu_cgroup_dir()
        if where is None:
            self.skipTest("no writable CPU cgroup controller here (needs root and cgroup cpu)")
        root, version = where
        group = os.path.join(root, "regcache-test-%d" % os.getpid())
        os.mkdir(group)
        self.addCleanup(lambda: os.path.isdir(group) and os.rmdir(group))
        # Half a CPU: ceil(0.5) = 1 worker although the mask has two or more.
        if version == "v1":
            with open(os.path.join(group, "cpu.cfs_period_us"), "w") as f:
                f.write("100000")
            with open(os.path.join(group, "cpu.cfs_quota_us"), "w") as f:
                f.write("50000")
        else:
            with open(os.path.join(group, "cpu.max"), "w") as f:
                f.write("50000 100000")
        procs = os.path.join(group, "cgroup.procs")
        rc = self.start("cgroup", prefix="echo $$ > %s" % shlex.quote(procs))
        count, line = worker_count(rc)
        self.assertEqual(count, 1, line)
        self.assertIn("cgroup quota 0.50 CPUs", line)
        self.assertIn(group, line)
        rc.stop()  # the cgroup can only be removed once it is empty


class SeveralWorkers(unittest.TestCase):
    """Two workers, each with its own SO_REUSEPORT socket: sixteen connections opened at once
    (which the kernel spreads by hash over both) still cause one download per digest, and the
    bytes are exact everywhere."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        layout = os.path.join(cls.tmp, "src")
        cls.image = rt.make_oci_image(layout, "herd", [24 * rt.MiB + 5, 3 * rt.KiB], 7)
        cls.upstream = rt.Registry(cls.tmp).start()
        cls.addClassCleanup(cls.upstream.stop)
        rt.push(layout, "herd", cls.upstream, "herd")
        cls.rc = rt.Regcache(rt.REGCACHE, cls.tmp, cls.upstream.url,
                             extra_args=["--workers", "2"]).start()
        cls.addClassCleanup(cls.rc.stop)

    def test_start_line_names_two_workers(self):
        count, line = worker_count(self.rc)
        self.assertEqual(count, 2, line)

    def test_concurrent_cold_clients_share_one_upstream_download(self):
        d = self.image.layer_digests[0]
        # A new connection each: the kernel spreads them over both listening sockets.
        results, hung = rt.concurrent_blob_gets(self.rc, "/v2/herd/blobs/%s" % d, 16)
        self.assertFalse(hung, "a client hung")
        for r in results:
            self.assertEqual(r, (200, d, self.image.layer_sizes[0]))
        gets = self.upstream.request_lines('"GET /v2/herd/blobs/%s' % d)
        self.assertEqual(len(gets), 1, "upstream blob GETs:\n" + "\n".join(gets))

    def test_pull_through_two_workers_gives_the_pushed_digests_twice(self):
        for turn in ("cold", "warm"):
            out = os.path.join(self.tmp, "pulled-" + turn)
            top, _media, digests = rt.pull(self.rc.host, "herd:herd", out)
            self.assertEqual(top, self.image.top_digest, turn)
            self.assertEqual(digests, self.image.all_digests, turn)


if __name__ == "__main__":
    rt.main()
