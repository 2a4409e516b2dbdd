#!/usr/bin/env python3
"""bench/pull-bench end to end, made small: one run on loopback with a 4 MiB blob, 4 clients
and 1-second hit runs, without RESULTS.md. Checks that it exits 0, prints the targets and
every table with numbers for regcache, leaves bench/RESULTS.md alone, draws an SVG chart
(only when matplotlib is installed: tools/install-deps bench; otherwise that part is skipped
and says so), and leaves no process of its own behind. It asserts no timing.

Run: python3 tests/integration/test_pull_bench_smoke.py --regcache build/regcache
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PULL_BENCH = os.path.join(ROOT, "bench", "pull-bench")
RESULTS = os.path.join(ROOT, "bench", "RESULTS.md")


def matplotlib_available():
    """What pull-bench itself does: this interpreter, else the system's python3."""
    for py in (sys.executable, "/usr/bin/python3"):
        if os.access(py, os.X_OK) and subprocess.run(
                [py, "-c", "import matplotlib"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, timeout=60).returncode == 0:
            return True
    return False


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def processes_mentioning(text):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if text.encode() in f.read():
                        out.append(int(d))
            except OSError:
                pass
    return out


class PullBenchSmoke(unittest.TestCase):
    def test_quick_run_prints_the_tables_and_draws_the_chart(self):
        tmp = rt.mkdtemp("regcache-pull-bench-smoke-")
        workdir, chart_dir = os.path.join(tmp, "work"), os.path.join(tmp, "chart")
        chart = matplotlib_available()
        if not chart:
            print("test_pull_bench_smoke: matplotlib not installed (tools/install-deps bench "
                  "installs python3-matplotlib): the chart part is skipped, not checked",
                  file=sys.stderr)
        results_before = digest(RESULTS)
        argv = [sys.executable, PULL_BENCH, "--quick", "--links", "loopback", "--no-write",
                "--no-install", "--no-perf", "--regcache", rt.REGCACHE, "--workdir", workdir,
                "--chart-dir", chart_dir, "--blob-mib", "4", "--layers", "2", "--layer-mib",
                "1-1", "--clients", "4", "--rss-clients", "4", "--hit-clients", "8",
                "--hit-seconds", "1", "--hit-requests", "1000"]
        if not chart:
            argv.append("--no-chart")
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, 0, "pull-bench failed:\n%s" % rt.tail(err, 40))

        # The progress went to stderr, one plain line per step (not a terminal).
        self.assertRegex(err, r"\[1/\d+ \d+:\d\d\] loopback: direct: check")
        # The report: the targets judged from the numbers, each table with regcache's row.
        self.assertIn("### Targets", out)
        self.assertRegex(out, r"- loopback, cold 4 MiB blob ≤ 1\.05× the direct download: "
                              r"(met|\*\*not met\*\*) — regcache \d+\.\d{3} s, direct")
        self.assertRegex(out, r"- loopback, peak RSS ≤ 32 MiB with 4 clients on the 4 MiB "
                              r"blob: (met|\*\*not met\*\*) — regcache VmHWM \d+\.\d MiB")
        self.assertRegex(out, r"\| blob cold \| \d+\.\d{3} \| \d+\.\d{3} \|")
        self.assertRegex(out, r"\| regcache \| cold \| 4\.0 \| 1 \| [\d.]+ / [\d.]+ / [\d.]+ \|")
        self.assertRegex(out, r"\| HEAD manifest by tag \(ab\) \| regcache \| [\d,]+ \| "
                              r"[\d.]+ \| [\d.]+ \| 1/1 \| 0 \| — \|")
        self.assertRegex(out, r"\| 4 MiB blob cold \| \d+\.\d\d× \|")
        self.assertEqual(digest(RESULTS), results_before, "--no-write changed RESULTS.md")

        if chart:
            svgs = [f for f in os.listdir(chart_dir) if re.match(r"pull-bench-\d{8}-\d{6}\.svg$",
                                                                 f)]
            self.assertEqual(len(svgs), 1, os.listdir(chart_dir))
            with open(os.path.join(chart_dir, svgs[0])) as f:
                svg = f.read()
            self.assertIn("<svg", svg)
            self.assertIn("loopback: costs, below 1 is better", svg.replace("&gt;", ">"))
            self.assertIn(os.path.join(chart_dir, svgs[0]), out)

        # Every server it started was stopped: none still runs from its work dir.
        self.assertEqual(processes_mentioning(workdir), [])
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    rt.main()
