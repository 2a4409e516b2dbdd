#!/usr/bin/env python3
"""Request-rate benchmark of cached hits: regcache vs nginx proxy_cache (and docker-registry
in pull-through mode when installed), all in one run on 127.0.0.1.

Measures, per target, once every cache is warm:
  (1) HEAD of a manifest by tag,    `ab -k -c 64 -n 100000 -t 30 -s 10 -i`;
  (2) HEAD of a manifest by digest, the same;
  (3) GET of a manifest by tag,     `wrk --latency -t2 -c64 -d10s --timeout 10s`;
  (4) HEAD of a layer blob (pulled once while warming), as (1);
(-c: --clients, -n: --requests, -t: --ab-seconds, -d: --wrk-seconds, -s: --timeout)
every request with the Accept header a docker client (containerd's resolver) sends.
Repetitions alternate the targets; medians over --reps, failed and non-2xx counts, upstream
requests during each measurement, and regcache ÷ peer of the request rates. Prints Markdown;
--write-results appends it to bench/RESULTS.md with the command and the machine.

Usage: bench/hit_bench.py [--regcache build-release/regcache] [--reps 3] [--clients 64]
                          [--requests 100000] [--write-results]
       (bench/hit_bench.py --help lists all options; bench/README.md explains the method)

The targets are pull_bench.py's (same nginx config, same regcache and registry-proxy set-up).
Every server is started and stopped by PID, also on failure or SIGTERM; every subprocess has
a timeout. ab gets -s (its own socket timeout) so that a target that never answers, or
never closes an HTTP/1.0 connection it did not offer to keep alive, makes ab give up; that
is reported as a failed measurement, and the run goes on.
"""

import argparse
import datetime
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pull_bench as pb  # noqa: E402

rt = pb.rt
ROOT = pb.ROOT

# What `docker pull` sends (containerd's resolver: one header, these types, then */*).
DOCKER_ACCEPT = ", ".join([rt.DOCKER_MANIFEST, rt.DOCKER_LIST, rt.OCI_MANIFEST, rt.OCI_INDEX,
                           "*/*"])
REPO, TAG = "bench/small", "v1"
# (key, label, tool, method, reference: "tag" or "digest")
MEASURES = [("head-tag", "HEAD manifest by tag", "ab", "HEAD", "tag"),
            ("head-digest", "HEAD manifest by digest", "ab", "HEAD", "digest"),
            ("get-tag", "GET manifest by tag", "wrk", "GET", "tag"),
            ("head-blob", "HEAD blob", "ab", "HEAD", "blob")]


def log(msg):
    print("[hit-bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def first_line(argv):
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        return r.stdout.decode(errors="replace").strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "n/a"

# ----------------------------------------------------------------------------
# load generators: each returns a dict with ok, rps, done, failed, non2xx, keepalive, error,
# and p50_ms, p99_ms (latency percentiles: ab's table in whole ms, wrk --latency)


def _num(pattern, text, conv=int):
    m = re.search(pattern, text, re.M)
    return conv(m.group(1)) if m else None


def run_ab(url, args):
    # -t before -n: ab stops after -n requests or -t seconds, whichever comes first.
    argv = ["ab"] + ([] if args.ab_no_keepalive else ["-k"]) + [
        "-q", "-r", "-i", "-c", str(args.clients), "-t", str(args.ab_seconds),
        "-n", str(args.requests), "-s", str(args.timeout), "-H", "Accept: " + DOCKER_ACCEPT,
        url]
    res = {"tool": "ab", "argv": argv, "ok": False, "rps": None, "done": 0, "failed": None,
           "non2xx": None, "keepalive": None, "p50_ms": None, "p99_ms": None,
           "error": None}
    limit = args.ab_seconds + args.timeout + 30
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=limit)
    except subprocess.TimeoutExpired:
        res["error"] = "ab killed by the %d s subprocess timeout" % limit
        return res
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    if r.returncode != 0:
        done = _num(r"Total of (\d+) requests completed", out + err) or 0
        if "timeout" in err.lower() or "70007" in err:
            res["error"] = "ab timed out: no answer for %d s (-s), %d of %d requests done" % (
                args.timeout, done, args.requests)
        else:
            res["error"] = "ab exited %d after %d of %d requests: %s" % (
                r.returncode, done, args.requests, (err.strip().splitlines() or [""])[-1])
        res["done"] = done
        return res
    res["done"] = _num(r"^Complete requests:\s+(\d+)", out) or 0
    res["failed"] = _num(r"^Failed requests:\s+(\d+)", out) or 0
    res["non2xx"] = _num(r"^Non-2xx responses:\s+(\d+)", out) or 0
    res["keepalive"] = _num(r"^Keep-Alive requests:\s+(\d+)", out) or 0
    res["rps"] = _num(r"^Requests per second:\s+([\d.]+)", out, float)
    res["p50_ms"] = _num(r"^\s*50%\s+(\d+)", out, float)
    res["p99_ms"] = _num(r"^\s*99%\s+(\d+)", out, float)
    if res["rps"] is None or res["done"] == 0:
        res["error"] = "unexpected ab output: %r" % out[-300:]
    return _judge(res)


def run_wrk(url, args):
    argv = ["wrk", "--latency", "-t", str(args.wrk_threads), "-c", str(args.clients),
            "-d", "%ds" % args.wrk_seconds, "--timeout", "%ds" % args.timeout,
            "-H", "Accept: " + DOCKER_ACCEPT, url]
    res = {"tool": "wrk", "argv": argv, "ok": False, "rps": None, "done": 0, "failed": None,
           "non2xx": None, "keepalive": None, "p50_ms": None, "p99_ms": None,
           "error": None}
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=args.wrk_seconds + 60)
    except subprocess.TimeoutExpired:
        res["error"] = "wrk killed after the %d s subprocess timeout" % (args.wrk_seconds + 60)
        return res
    out = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        res["error"] = "wrk exited %d: %s" % (r.returncode, r.stderr.decode(
            errors="replace").strip()[-300:])
        return res
    res["done"] = _num(r"^\s*(\d+) requests in", out) or 0
    res["rps"] = _num(r"^Requests/sec:\s+([\d.]+)", out, float)
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["failed"] = sum(int(x) for x in m.groups()) if m else 0
    res["non2xx"] = _num(r"Non-2xx or 3xx responses:\s+(\d+)", out) or 0
    res["p50_ms"], res["p99_ms"] = _wrk_ms("50", out), _wrk_ms("99", out)
    if res["rps"] is None:
        res["error"] = "unexpected wrk output: %r" % out[-300:]
    return _judge(res)


def _wrk_ms(pct, out):
    """wrk --latency's "     99%    2.45ms" line, in milliseconds."""
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % pct, out, re.M)
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)] if m else None


def _judge(res):
    """A measurement counts only if the tool finished and every response was a 2xx."""
    if res["error"] is None:
        bad = [("%d failed" % res["failed"]) if res["failed"] else None,
               ("%d non-2xx" % res["non2xx"]) if res["non2xx"] else None]
        bad = [b for b in bad if b]
        if res["done"] == 0:
            bad.append("no request completed")
        res["error"] = ", ".join(bad) or None
    res["ok"] = res["error"] is None
    return res

# ----------------------------------------------------------------------------
# targets (pull_bench's classes) and checks


class UpstreamCounter:
    """Counts the upstream's requests for the bench image (manifests, blobs) since the last
    take()."""

    def __init__(self, upstream):
        self.log = pb.UpstreamLog(upstream)

    def take(self):
        prefix = "/v2/%s/" % REPO
        return sum(1 for _m, path, _c, _n in self.log.since() if path.startswith(prefix))


def alive(t):
    if isinstance(t, pb.RegcacheTarget):
        return t.rc is not None and t.rc.alive()
    if isinstance(t, pb.NginxTarget):
        return t.proc is not None and t.proc.alive()
    return t.reg is not None and t.reg.proc is not None and t.reg.proc.alive()


def path_of(ref, image):
    if ref == "blob":
        return "/v2/%s/blobs/%s" % (REPO, image.layer_digests[0])
    return "/v2/%s/manifests/%s" % (REPO, TAG if ref == "tag" else image.manifest_digest)


def digest_of(ref, image):
    return image.layer_digests[0] if ref == "blob" else image.manifest_digest


def warm_and_verify(t, image, counter, measures=MEASURES):
    """Three rounds of every request; each answer must be 200 with the right digest (and the
    right bytes for GET). Returns the upstream requests of the last round (0: a hit is
    served from the cache alone)."""
    for rnd in range(3):
        if rnd == 2:
            counter.take()
        if rnd == 0 and any(m[4] == "blob" for m in measures):
            # A cached blob is one a client has pulled: a HEAD alone may be forwarded.
            r = rt.http_request("GET", "http://%s%s" % (t.host, path_of("blob", image)),
                                timeout=30)
            if r.status != 200 or rt.sha256_bytes(r.body) != digest_of("blob", image):
                raise RuntimeError("%s: GET of the blob -> %d, wrong bytes" % (t.name, r.status))
        for _key, _label, _tool, method, ref in measures:
            url = "http://%s%s" % (t.host, path_of(ref, image))
            want = digest_of(ref, image)
            r = rt.http_request(method, url, headers={"Accept": DOCKER_ACCEPT}, timeout=30)
            dcd = r.header("Docker-Content-Digest")
            if r.status != 200 or (dcd is not None and dcd != want) or (
                    method == "GET" and rt.sha256_bytes(r.body) != want):
                raise RuntimeError("%s: %s %s -> %d, Docker-Content-Digest %s, body %s; want "
                                   "200 and %s" % (t.name, method, url, r.status, dcd,
                                                   rt.sha256_bytes(r.body), want))
            if rnd == 2 and t.name == "nginx" and r.header("X-Cache-Status") != "HIT":
                raise RuntimeError("nginx: %s %s not a cache hit (X-Cache-Status %s)" % (
                    method, url, r.header("X-Cache-Status")))
    return counter.take()

def measure_one(t, measure, image, counter, args):
    """One run of ab or wrk for one of MEASURES against target t: a dict as run_ab's, plus
    upstream (requests the upstream saw meanwhile)."""
    _key, _label, tool, _method, ref = measure
    if not alive(t):
        return {"ok": False, "rps": None, "failed": None, "non2xx": None, "keepalive": None,
                "p50_ms": None, "p99_ms": None, "error": "%s was not running" % t.name}
    url = "http://%s%s" % (t.host, path_of(ref, image))
    counter.take()
    s = (run_ab if tool == "ab" else run_wrk)(url, args)
    s["upstream"] = counter.take()
    return s

# ----------------------------------------------------------------------------
# reporting


def fmt_rps(x):
    return "—" if x is None else "{:,.0f}".format(x)


def summary(samples):
    ok = [s["rps"] for s in samples if s["ok"]]
    done = [s["done"] for s in samples if s["ok"]]
    up = [s["upstream"] for s in samples if "upstream" in s]
    return {"median": statistics.median(ok) if ok else None,
            "done": statistics.median(done) if done else None, "min": min(ok) if ok else None,
            "max": max(ok) if ok else None, "ok": len(ok), "n": len(samples),
            "failed": sum(s["failed"] or 0 for s in samples),
            "non2xx": sum(s["non2xx"] or 0 for s in samples),
            "ka_ratio": [s["keepalive"] / s["done"] for s in samples
                         if s["ok"] and s["keepalive"] is not None],
            "upstream": statistics.median(up) if up else None,
            "errors": group_errors(samples)}


def group_errors(samples):
    """["reps 1, 3: message", ...]: one entry per distinct error."""
    by = {}
    for s in samples:
        if not s["ok"]:
            by.setdefault(s["error"], []).append(str(s["rep"]))
    return ["rep%s %s: %s" % ("s" if len(reps) > 1 else "", ", ".join(reps), e)
            for e, reps in by.items()]


def render(args, res, versions, mach, command):
    L = []
    L.append("Machine: %d CPUs (`nproc`), kernel %s, CPU %s." % (
        mach["nproc"], mach["kernel"], mach["cpu"]))
    L.append("Load average (1, 5, 15 min) before the run: %s; after: %s. Wall time of the run: "
             "%.0f s." % (", ".join("%.2f" % x for x in res["load_before"]),
                          ", ".join("%.2f" % x for x in mach["loadavg"]), res["wall"]))
    L.append("Everything on 127.0.0.1: the upstream docker-registry, the targets and the load "
             "generators share the machine's cores.")
    L.append("Versions: " + "; ".join("%s: %s" % kv for kv in versions.items()) + ".")
    L.append("regcache's extra options: %s (regcache's defaults for `--workers` and the "
             "access log otherwise); nginx: pull_bench.py's proxy_cache config "
             "(`worker_processes 2`, `access_log off`)." % (
                 " ".join("`%s`" % a for a in res["regcache_args"]) or "none"))
    L.append("Image: `%s:%s`, OCI manifest %s (%d bytes). Accept: `%s`." % (
        REPO, TAG, res["digest"], res["manifest_size"], DOCKER_ACCEPT))
    L.append("Order: every target was warmed and checked first (3 rounds of each request, "
             "200 and the right digest; nginx's `X-Cache-Status: HIT`); then %d repetitions, "
             "each measuring every target in turn, starting with a different one." % args.reps)
    L.append("")
    L.append("Command: `%s`" % command)
    L.append("")
    ab = "ab %s-c %d -n %d -t %d -s %d -i" % ("" if args.ab_no_keepalive else "-k ",
                                               args.clients, args.requests, args.ab_seconds,
                                               args.timeout)
    wrk = "wrk -t%d -c%d -d%ds --timeout %ds" % (args.wrk_threads, args.clients,
                                                  args.wrk_seconds, args.timeout)
    L.append("### Cached hits, requests per second (median of %d; `%s`, `%s`)" % (
        args.reps, ab, wrk))
    L.append("")
    L.append("| request | target | req/s | min–max | reps ok | requests | failed | non-2xx | "
             "keep-alive | upstream requests | failures |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for key, label, tool, _m, _r in MEASURES:
        for n in res["targets"]:
            s = summary(res["samples"][n][key])
            ka = ("—" if not s["ka_ratio"] else "%.0f %%" % (100 * min(s["ka_ratio"])))
            L.append("| %s (%s) | %s | %s | %s | %d/%d | %s | %d | %d | %s | %s | %s |" % (
                label, tool, n, "**FAILED**" if s["median"] is None else fmt_rps(s["median"]),
                "—" if s["min"] is None else "%s–%s" % (fmt_rps(s["min"]), fmt_rps(s["max"])),
                s["ok"], s["n"], fmt_rps(s["done"]), s["failed"], s["non2xx"], ka,
                fmt_rps(s["upstream"]),
                "; ".join(s["errors"]) or "—"))
    peers = [n for n in res["targets"] if n != "regcache"]
    if peers:
        L.append("")
        L.append("### regcache ÷ peer, request rate (above 1.00× regcache serves more)")
        L.append("")
        L.append("| request | regcache req/s | " + " | ".join(
            "%s req/s | regcache ÷ %s" % (p, p) for p in peers) + " |")
        L.append("|---|---:|" + "---:|---:|" * len(peers))
        for key, label, tool, _m, _r in MEASURES:
            rc = summary(res["samples"]["regcache"][key])
            cells = []
            for p in peers:
                ps = summary(res["samples"][p][key])
                both = rc["ok"] == rc["n"] and ps["ok"] == ps["n"]
                cells += [fmt_rps(ps["median"]),
                          "%.2f×" % (rc["median"] / ps["median"]) if both else
                          "— (a failed measurement)"]
            L.append("| %s (%s) | %s | %s |" % (label, tool, "FAILED" if rc["median"] is None
                                                else fmt_rps(rc["median"]), " | ".join(cells)))
    L.append("")
    L.append("A repetition counts (reps ok) only if the tool finished and every response was "
             "a 2xx; req/s and requests (completed per repetition; fewer than -n when ab "
             "reached -t) are medians of those. failed: ab's failed requests, wrk's socket "
             "errors (sums over the repetitions); keep-alive: ab's Keep-Alive requests ÷ "
             "completed requests (lowest); upstream requests: manifest requests the upstream "
             "logged during one measurement (median; 0 means every answer came from the "
             "cache).")
    if res["skipped"]:
        L.append("")
        L.append("Not measured: " + "; ".join(res["skipped"]) + ".")
    L.append("")
    L.append("Raw samples (req/s): " + "; ".join(
        "%s %s=%s" % (key, n, ",".join("%.0f" % s["rps"] if s["ok"] else "fail"
                                       for s in res["samples"][n][key]))
        for key, *_ in MEASURES for n in res["targets"]))
    return "\n".join(L)

# ----------------------------------------------------------------------------


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--regcache", default=pb.default_binary(),
                    help="regcache binary (default: build-release/regcache, else build/regcache)")
    ap.add_argument("--regcache-arg", action="append", default=[],
                    help="extra regcache option, repeatable (e.g. --regcache-arg=--workers=2)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per measurement (3)")
    ap.add_argument("--clients", type=int, default=64,
                    help="concurrent connections of ab -c and wrk -c (64)")
    ap.add_argument("--requests", type=int, default=100000, help="ab -n (100000)")
    ap.add_argument("--wrk-seconds", type=int, default=10, help="wrk -d (10)")
    ap.add_argument("--wrk-threads", type=int, default=2, help="wrk -t (2)")
    ap.add_argument("--ab-seconds", type=int, default=30,
                    help="ab -t: stop a run after this many seconds even before -n (30)")
    ap.add_argument("--timeout", type=int, default=10,
                    help="seconds to wait for an answer: ab -s, wrk --timeout (10)")
    ap.add_argument("--ab-no-keepalive", action="store_true",
                    help="run ab without -k (a new connection per request)")
    ap.add_argument("--peers", default="auto",
                    help="comma list of nginx,registry-proxy; 'none'; 'auto' = those installed")
    ap.add_argument("--write-results", action="store_true",
                    help="append the tables to bench/RESULTS.md")
    ap.add_argument("--results-file", default=os.path.join(ROOT, "bench", "RESULTS.md"))
    ap.add_argument("--workdir", help="where to put data (default: a new temp dir)")
    a = ap.parse_args(argv)
    if not a.regcache:
        ap.error("no regcache binary found; build it (tools/run builds build-release/) "
                 "or pass --regcache")
    if min(a.reps, a.clients, a.requests, a.wrk_seconds, a.wrk_threads, a.ab_seconds,
           a.timeout) < 1:
        ap.error("counts, durations and timeouts must be positive")
    if a.requests < a.clients:
        ap.error("--requests must be at least --clients (ab refuses otherwise)")
    for tool in ("ab", "wrk"):
        if shutil.which(tool) is None:
            ap.error("%s not installed (tools/install-deps bench)" % tool)
    return a


def _exit_on_signal(signum, _frame):
    raise SystemExit(128 + signum)   # runs the finally blocks: every server is stopped


def main(argv):
    args = parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    t_start = time.monotonic()
    load_before = os.getloadavg()
    args.regcache = os.path.abspath(args.regcache)
    versions = pb.tool_versions(args.regcache)
    versions.pop("skopeo", None)
    versions.pop("curl", None)
    versions["ab"] = first_line(["ab", "-V"])
    versions["wrk"] = first_line(["wrk", "-v"])
    command = " ".join(shlex.quote(x) for x in ["bench/hit_bench.py"] + argv)
    workdir = args.workdir or rt.mkdtemp("regcache-hit-bench-")
    os.makedirs(workdir, exist_ok=True)
    binary_copy = os.path.join(workdir, "regcache-under-test")
    shutil.copy2(args.regcache, binary_copy)

    peers, skipped = pb.select_peers(args.peers)

    layout = os.path.join(workdir, "src")
    image = rt.make_oci_image(layout, "small", [2 * rt.KiB, 3 * rt.KiB], seed="hit-bench")
    upstream, targets = None, []
    res = {"skipped": skipped, "samples": {}, "regcache_args": args.regcache_arg,
           "digest": image.manifest_digest, "manifest_size": len(image.manifest_bytes)}
    try:
        upstream = rt.Registry(workdir, "upstream").start()
        rt.push(layout, "small", upstream, REPO, tag=TAG)
        counter = UpstreamCounter(upstream)
        targets = pb.make_targets(binary_copy, workdir, upstream, args.regcache_arg, peers,
                                  direct=False)
        res["targets"] = [t.name for t in targets]
        for t in targets:
            log("starting and warming %s on %s" % (t.name, t.host))
            t.start_cold()
            n = warm_and_verify(t, image, counter)
            log("%s: warm; a round of the 3 requests caused %d upstream request(s)" % (t.name, n))
            res["samples"][t.name] = {key: [] for key, *_ in MEASURES}
        for rep in range(args.reps):
            for t in pb.rotated(targets, rep):
                for measure in MEASURES:
                    key = measure[0]
                    s = measure_one(t, measure, image, counter, args)
                    s["rep"] = rep + 1
                    res["samples"][t.name][key].append(s)
                    log("rep %d/%d %s %s: %s" % (rep + 1, args.reps, t.name, key,
                                                 "%.0f req/s" % s["rps"] if s["ok"]
                                                 else "FAILED: " + s["error"]))
    finally:
        pb.stop_all(targets, upstream, None, log)
    res["load_before"] = load_before
    res["wall"] = time.monotonic() - t_start

    text = render(args, res, versions, pb.machine(), command)
    print(text)
    if args.write_results:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        with open(args.results_file, "a") as f:
            f.write("\n## %s, cached-hit request rate (`bench/hit_bench.py`)\n\n%s\n" % (
                stamp, text))
        log("appended to %s" % args.results_file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
