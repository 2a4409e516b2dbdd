#!/usr/bin/env python3
"""End-to-end pull benchmark: regcache vs pulling straight from the upstream, and vs two
peers (nginx proxy_cache, docker-registry in proxy mode), all in one run.

Measures, per target:
  (a) a large blob with `curl -o /dev/null`: cold (empty cache, target restarted) and warm;
  (b) a multi-layer image with `skopeo copy docker://... oci:...`: cold and warm;
  (c) peak RSS (VmHWM) while N concurrent curl clients fetch the large blob at once, cold
      then warm, with the number of upstream fetches the cold burst caused.
Medians over --reps repetitions. Prints Markdown; --write-results appends it to
bench/RESULTS.md with the command and the machine.

Usage: bench/pull_bench.py [--regcache build-release/regcache] [--reps 5] [--write-results]
                           [--upstream-rate 1gbit]
       (bench/pull_bench.py --help lists all options; bench/README.md explains the method)

Standard library only. Every server keeps its data in a temp dir, is started and stopped by
PID; every wait is bounded. By default everything listens on 127.0.0.1 on a free port. With
--upstream-rate RATE (needs root and iproute2) the upstream docker-registry runs in a network
namespace this script creates (regbench-PID), reached over a veth pair whose two ends both
have a tbf qdisc of that rate, so that direct pulls and the caches' upstream fetches cross a
shaped link while clients still reach the caches on 127.0.0.1. The namespace and the veth are
removed at the end, also on failure or SIGTERM/SIGINT.
"""

import argparse
import datetime
import json
import os
import platform
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_targets import (ROOT, rt, Direct, RegcacheTarget, NginxTarget,  # noqa: E402,F401
                           RegistryProxyTarget, ShapedLink, NsRegistry, UpstreamLog,
                           rate_bits, cpu_seconds, peak_rss_kib)

MB = 1e6   # throughput is reported in MB/s (10^6 bytes per second)
PEER_TOOLS = {"nginx": "nginx", "registry-proxy": "docker-registry"}


# ----------------------------------------------------------------------------
# measurements


def curl_get(host, path, out="/dev/null", timeout=600):
    """Returns (seconds, bytes, http code) from curl's own timers."""
    r = rt.curl(["-o", out, "-w", "%{time_total} %{size_download} %{http_code}",
                 "http://%s%s" % (host, path)], timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("curl %s%s failed (%d): %s" % (host, path, r.returncode,
                                                          r.stderr.decode(errors="replace")))
    t, n, code = r.stdout.decode().split()
    return float(t), int(n), code


def timed_pull(host, ref, out_dir, timeout=900):
    shutil.rmtree(out_dir, ignore_errors=True)
    t0 = time.monotonic()
    rt.skopeo_copy("docker://%s/%s" % (host, ref), "oci:%s:bench" % out_dir,
                   src_tls_verify=False, timeout=timeout)
    dt = time.monotonic() - t0
    return dt


def verify_pull(host, ref, out_dir, want):
    shutil.rmtree(out_dir, ignore_errors=True)
    top, _mt, digests = rt.pull(host, ref, out_dir, tag="bench")
    shutil.rmtree(out_dir, ignore_errors=True)
    if top != want.manifest_digest or digests != want.all_digests:
        raise RuntimeError("pull of %s through %s gave wrong digests" % (ref, host))


def verify_blob(host, path, digest, workdir):
    out = os.path.join(workdir, "verify.blob")
    _t, _n, code = curl_get(host, path, out)
    got = rt.sha256_file(out)
    os.unlink(out)
    if code != "200" or got != digest:
        raise RuntimeError("GET %s%s: HTTP %s, bytes hash to %s, want %s" % (
            host, path, code, got, digest))


def burst(target, path, size, clients, upstream_log, timeout=900):
    """clients concurrent curls of path. Returns a dict: wall (seconds), ttfb and total (per
    client: curl's time_starttransfer and time_total), upstream_fetches (GETs of path the
    upstream logged), upstream_bytes (body bytes the upstream sent, for any request), cpu
    (user + system seconds of the target's processes during the burst)."""
    upstream_log.mark()
    pids = target.pids()
    cpu0 = cpu_seconds(pids)
    procs = []
    bad, ttfb, total = [], [], []
    t0 = time.monotonic()
    try:
        for _ in range(clients):
            procs.append(subprocess.Popen(
                ["curl", "-sS", "--noproxy", "*", "--max-time", str(timeout), "-o", "/dev/null",
                 "-w", "%{size_download} %{http_code} %{time_starttransfer} %{time_total}",
                 "http://%s%s" % (target.host, path)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        deadline = time.monotonic() + timeout + 30
        for p in procs:
            try:
                out, err = p.communicate(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
            words = out.decode().split()
            if p.returncode != 0 or words[:2] != [str(size), "200"]:
                bad.append((p.returncode, out.decode(), err.decode(errors="replace")[:200]))
            else:
                ttfb.append(float(words[2]))
                total.append(float(words[3]))
    finally:
        for p in procs:              # on SIGTERM or an error: no client outlives the burst
            if p.poll() is None:
                p.kill()
                p.wait()
    wall = time.monotonic() - t0
    cpu = cpu_seconds(pids) - cpu0
    if bad:
        raise RuntimeError("%s: %d of %d concurrent clients failed: %r" % (
            target.name, len(bad), clients, bad[:3]))
    # The upstream's access log is written after the response; since() allows it a moment.
    seen = upstream_log.since(settle=0.5)
    return {"wall": wall, "ttfb": ttfb, "total": total, "cpu": cpu,
            "upstream_fetches": sum(1 for m, p, _c, _n in seen if m == "GET" and p == path),
            "upstream_bytes": sum(n for _m, _p, _c, n in seen)}

def select_peers(spec):
    """--peers value ("auto", "none" or "nginx,registry-proxy") -> (peers to measure,
    ["name (tool not installed)", ...])."""
    want = (list(PEER_TOOLS) if spec == "auto" else
            [] if spec == "none" else [p.strip() for p in spec.split(",") if p.strip()])
    peers, skipped = [], []
    for p in want:
        if p not in PEER_TOOLS:
            sys.exit("unknown peer %r (nginx, registry-proxy)" % p)
        if shutil.which(PEER_TOOLS[p]) is None:
            skipped.append("%s (%s not installed)" % (p, PEER_TOOLS[p]))
        else:
            peers.append(p)
    return peers, skipped


def make_images(layout, blob_mib, layers, layer_range):
    """The benchmark's two images in an OCI layout: bench "big" (one blob_mib layer) and
    "image" (layers sizes drawn from layer_range MiB). Returns (big, image, layer sizes)."""
    big = rt.make_oci_image(layout, "big", [blob_mib * rt.MiB], seed="bench-big")
    rng = random.Random("bench-layers")
    layer_sizes = [rng.randint(layer_range[0] * rt.MiB, layer_range[1] * rt.MiB)
                   for _ in range(layers)]
    image = rt.make_oci_image(layout, "image", layer_sizes, seed="bench-image")
    return big, image, layer_sizes


def start_upstream(workdir, link=None):
    """The upstream docker-registry: on 127.0.0.1, or in link's namespace."""
    if link is not None:
        return NsRegistry(workdir, "upstream", link).start()
    return rt.Registry(workdir, "upstream").start()


def make_targets(binary, workdir, upstream, regcache_args, peers, direct=True):
    targets = [Direct(upstream)] if direct else []
    targets.append(RegcacheTarget(binary, workdir, upstream, regcache_args))
    if "nginx" in peers:
        targets.append(NginxTarget(workdir, upstream))
    if "registry-proxy" in peers:
        targets.append(RegistryProxyTarget(workdir, upstream))
    return targets


def rotated(targets, rep):
    """Round rep's order: every target once, starting with a different one each round, so
    that a change of the machine's load during the run hits every target alike."""
    k = rep % len(targets)
    return targets[k:] + targets[:k]


def verify_target(t, blob_path, blob_digest, image, workdir, pull_out):
    """Correctness first: a target that serves wrong bytes gets no numbers."""
    t.start_cold()
    verify_blob(t.host, blob_path, blob_digest, workdir)
    verify_pull(t.host, "bench/image:v1", pull_out, image)
    t.stop()


def blob_round(t, blob_path, blob_size):
    """(cold seconds, warm seconds or None for the upstream itself) of one blob GET."""
    t.start_cold()
    times = []
    for _ in range(2 if t.caches else 1):
        s, n, code = curl_get(t.host, blob_path)
        if (n, code) != (blob_size, "200"):
            raise RuntimeError("%s: GET %s gave %s bytes, HTTP %s" % (t.name, blob_path, n, code))
        times.append(s)
    return times[0], (times[1] if t.caches else None)


def pull_round(t, ref, pull_out):
    """(cold seconds, warm seconds or None) of one skopeo copy of ref."""
    t.start_cold()
    cold = timed_pull(t.host, ref, pull_out)
    return cold, (timed_pull(t.host, ref, pull_out) if t.caches else None)


def stop_all(targets, upstream, link, log):
    """Stops every target and the upstream by PID and removes the link; never raises."""
    for t in targets:
        try:
            t.stop()
        except Exception as e:  # noqa: BLE001
            log("stopping %s: %r" % (t.name, e))
    if upstream is not None:
        try:
            upstream.stop()
        except Exception as e:  # noqa: BLE001
            log("stopping the upstream: %r" % e)
    if link is not None:
        link.cleanup()

# ----------------------------------------------------------------------------
# reporting


def median(xs):
    return statistics.median(xs) if xs else None


def fmt_s(x):
    return "—" if x is None else "%.3f" % x


def fmt_ratio(a, b):
    return "—" if a is None or b is None or b == 0 else "%.2f×" % (a / b)


def fmt_mbs(size, t):
    return "—" if t is None or t == 0 else "%.0f" % (size / t / MB)


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kib = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kib = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu,
            "loadavg": os.getloadavg(), "mem_kib": mem_kib}


def tool_versions(binary):
    def first_line(argv):
        try:
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
            return r.stdout.decode(errors="replace").strip().splitlines()[0]
        except (OSError, subprocess.TimeoutExpired, IndexError):
            return "n/a"
    build_type = "unknown build type"
    try:
        with open(os.path.join(os.path.dirname(binary), "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    build_type = line.split("=", 1)[1].strip()
    except OSError:
        pass
    if not build_type or build_type == "unknown build type":
        # Not in the cache (CMakeLists.txt picks a default): read the flags actually used.
        try:
            with open(os.path.join(os.path.dirname(binary), "compile_commands.json")) as f:
                cmd = json.load(f)[0]["command"]
            flags = [w for w in cmd.split() if w.startswith(("-O", "-fsanitize"))]
            build_type = "flags " + " ".join(dict.fromkeys(flags)) if flags else "unknown build type"
        except (OSError, ValueError, KeyError, IndexError):
            build_type = "unknown build type"
    commit = first_line(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"])
    try:
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               timeout=10).stdout.decode(errors="replace").splitlines()
        dirty = [line[3:] for line in dirty if line[3:]]
        if dirty:
            commit += " with uncommitted changes in %s" % (
                ", ".join(dirty) if len(dirty) <= 6 else "%d files" % len(dirty))
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        binary_sha = rt.sha256_file(binary).split(":", 1)[1][:12]
    except OSError:
        binary_sha = "unreadable"
    return {
        "regcache": "%s (%s, %s, binary sha256 %s, source %s)" % (
            first_line([binary, "--version"]), os.path.relpath(binary, ROOT), build_type,
            binary_sha, commit),
        "docker-registry": first_line(["docker-registry", "--version"]),
        "nginx": first_line(["nginx", "-v"]),
        "skopeo": first_line(["skopeo", "--version"]),
        "curl": first_line(["curl", "--version"]),
    }


def render(args, res, blob_size, image_size, layer_sizes, versions, mach, command):
    L = []
    names = [t for t in res["targets"]]
    direct_blob = median(res["blob"]["direct"]["cold"])
    direct_pull = median(res["pull"]["direct"]["cold"])
    L.append("Machine: %d CPUs (`nproc`), kernel %s, CPU %s." % (
        mach["nproc"], mach["kernel"], mach["cpu"]))
    L.append("Load average (1, 5, 15 min) before the run: %s; after: %s. Wall time of the run: "
             "%.0f s." % (", ".join("%.2f" % x for x in res["load_before"]),
                          ", ".join("%.2f" % x for x in mach["loadavg"]), res["wall"]))
    if res.get("link"):
        st = res.get("link_stats")
        L.append("Upstream: **shaped to %s** (%.0f MB/s of payload at most) in a network "
                 "namespace: %s. The images were pushed before the qdiscs were added. Clients "
                 "reach regcache and the peers on 127.0.0.1; direct pulls and every upstream "
                 "fetch cross the shaped link.%s" % (
                     args.upstream_rate, rate_bits(args.upstream_rate) / 8 / MB, res["link"],
                     "" if not st else " Namespace-side tbf after the run: %d bytes sent, "
                     "%d overlimits, %d dropped." % st))
    else:
        L.append("Upstream: on loopback (127.0.0.1, no shaping), like every target.")
    L.append("Versions: " + "; ".join("%s: %s" % kv for kv in versions.items()) + ".")
    L.append("Order: the %d repetitions are interleaved across the targets (each round "
             "measures every target, starting with a different one); the bursts of (c) come "
             "last, one target after the other." % args.reps)
    L.append("")
    L.append("Command: `%s`" % command)
    L.append("")
    L.append("### (a) one %.0f MiB blob, `curl -o /dev/null`, median of %d" % (
        blob_size / rt.MiB, args.reps))
    L.append("")
    L.append("| target | cold s | cold MB/s | warm s | warm MB/s | cold ÷ direct | "
             "warm ÷ direct |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for n in names:
        c, w = median(res["blob"][n]["cold"]), median(res["blob"][n].get("warm", []))
        if n == "direct":
            L.append("| direct (upstream) | %s | %s | — | — | 1.00× | — |" % (
                fmt_s(c), fmt_mbs(blob_size, c)))
        else:
            L.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                n, fmt_s(c), fmt_mbs(blob_size, c), fmt_s(w), fmt_mbs(blob_size, w),
                fmt_ratio(c, direct_blob), fmt_ratio(w, direct_blob)))
    L.append("")
    L.append("### (b) image of %d layers (%.0f MiB), `skopeo copy` to an OCI dir, median of %d"
             % (len(layer_sizes), image_size / rt.MiB, args.reps))
    L.append("")
    L.append("| target | cold s | warm s | cold ÷ direct | warm ÷ direct |")
    L.append("|---|---:|---:|---:|---:|")
    for n in names:
        c, w = median(res["pull"][n]["cold"]), median(res["pull"][n].get("warm", []))
        if n == "direct":
            L.append("| direct (upstream) | %s | — | 1.00× | — |" % fmt_s(c))
        else:
            L.append("| %s | %s | %s | %s | %s |" % (n, fmt_s(c), fmt_s(w),
                                                      fmt_ratio(c, direct_pull),
                                                      fmt_ratio(w, direct_pull)))
    L.append("")
    L.append("### (c) %d concurrent clients of the %.0f MiB blob" % (
        args.clients, blob_size / rt.MiB))
    L.append("")
    L.append("| target | peak RSS (VmHWM) MiB | cold burst s | cold aggregate MB/s | "
             "upstream fetches (cold) | warm burst s | warm aggregate MB/s |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for n in names:
        if n == "direct":
            continue
        b = res["burst"].get(n)
        if not b:
            continue
        total = blob_size * args.clients
        L.append("| %s | %s | %s | %s | %d | %s | %s |" % (
            n, "—" if b["hwm_kib"] is None else "%.1f" % (b["hwm_kib"] / 1024),
            fmt_s(b["cold"]), fmt_mbs(total, b["cold"]), b["upstream_fetches"],
            fmt_s(b["warm"]), fmt_mbs(total, b["warm"])))
    peers = [n for n in names if n not in ("direct", "regcache")]
    if "regcache" in names and peers:
        L.append("")
        L.append("### regcache ÷ peer (median time; below 1.00× regcache is faster)")
        L.append("")
        L.append("| peer | blob cold | blob warm | image cold | image warm | peak RSS |")
        L.append("|---|---:|---:|---:|---:|---:|")
        rb, rp, rbu = res["blob"]["regcache"], res["pull"]["regcache"], res["burst"].get(
            "regcache", {})
        for p in peers:
            pb, pp, pbu = res["blob"][p], res["pull"][p], res["burst"].get(p, {})
            L.append("| %s | %s | %s | %s | %s | %s |" % (
                p, fmt_ratio(median(rb["cold"]), median(pb["cold"])),
                fmt_ratio(median(rb["warm"]), median(pb["warm"])),
                fmt_ratio(median(rp["cold"]), median(pp["cold"])),
                fmt_ratio(median(rp["warm"]), median(pp["warm"])),
                fmt_ratio(rbu.get("hwm_kib"), pbu.get("hwm_kib"))))
    if res["skipped"]:
        L.append("")
        L.append("Not measured: " + "; ".join(res["skipped"]) + ".")
    L.append("")
    L.append("Raw samples (seconds): " + "; ".join(
        "%s %s %s=%s" % (kind, n, phase, ",".join("%.3f" % x for x in xs))
        for kind in ("blob", "pull") for n in names
        for phase, xs in sorted(res[kind][n].items())))
    return "\n".join(L)

# ----------------------------------------------------------------------------


def default_binary():
    for c in ("build-release/regcache", "build/regcache"):
        p = os.path.join(ROOT, c)
        if os.access(p, os.X_OK):
            return p
    return None


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--regcache", default=default_binary(),
                    help="regcache binary (default: build-release/regcache, else build/regcache)")
    ap.add_argument("--regcache-arg", action="append", default=[],
                    help="extra regcache option, repeatable (e.g. --regcache-arg=--workers=2)")
    ap.add_argument("--reps", type=int, default=5, help="repetitions per measurement (5)")
    ap.add_argument("--blob-mib", type=int, default=256, help="large blob size in MiB (256)")
    ap.add_argument("--layers", type=int, default=8, help="layers of the image (8)")
    ap.add_argument("--layer-mib", default="10-40", help="layer size range in MiB (10-40)")
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients in (c) (16)")
    ap.add_argument("--peers", default="auto",
                    help="comma list of nginx,registry-proxy; 'none'; 'auto' = those installed")
    ap.add_argument("--write-results", action="store_true",
                    help="append the tables to bench/RESULTS.md")
    ap.add_argument("--results-file", default=os.path.join(ROOT, "bench", "RESULTS.md"))
    ap.add_argument("--workdir", help="where to put data (default: a new temp dir)")
    ap.add_argument("--upstream-rate", metavar="RATE",
                    help="run the upstream in a network namespace behind a veth pair shaped "
                         "to RATE (tc syntax: 1gbit, 500mbit, ...) on both ends; needs root "
                         "and iproute2 (default: none, the upstream is on 127.0.0.1)")
    ap.add_argument("--upstream-burst", default=None,
                    help="tbf burst with --upstream-rate (default: 256kb, or 2 ms at RATE if "
                         "larger)")
    ap.add_argument("--upstream-latency", default="50ms",
                    help="tbf latency (queue limit) with --upstream-rate (50ms)")
    a = ap.parse_args(argv)
    if not a.regcache:
        ap.error("no regcache binary found; build it (tools/run builds build-release/) "
                 "or pass --regcache")
    if a.reps < 1 or a.clients < 1 or a.blob_mib < 1 or a.layers < 1:
        ap.error("--reps, --clients, --blob-mib and --layers must be positive")
    lo, _, hi = a.layer_mib.partition("-")
    a.layer_range = (int(lo), int(hi or lo))
    if a.upstream_rate:
        try:
            bits = rate_bits(a.upstream_rate)
        except ValueError as e:
            ap.error(str(e))
        if a.upstream_burst is None:
            # tbf needs a bucket of at least rate/HZ-ish to reach its rate; 2 ms worth of
            # bytes, never below 256 KiB.
            a.upstream_burst = "%dkb" % max(256, int(bits / 8 * 0.002 / 1024 + 1))
        missing = [t for t in ("ip", "tc") if shutil.which(t) is None]
        if missing:
            ap.error("--upstream-rate needs %s from iproute2 (apt-get install iproute2)"
                     % " and ".join(missing))
        if os.geteuid() != 0:
            ap.error("--upstream-rate needs root (it creates a network namespace and qdiscs)")
    elif a.upstream_burst is not None:
        ap.error("--upstream-burst only makes sense with --upstream-rate")
    return a


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def _exit_on_signal(signum, _frame):
    # Turns SIGTERM/SIGHUP into SystemExit so that the finally blocks and atexit hooks stop
    # the servers and remove the namespace and the veth.
    raise SystemExit(128 + signum)


def main(argv):
    args = parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    t_start = time.monotonic()
    load_before = os.getloadavg()
    # Versions now, and regcache run from a private copy: a rebuild of the tree during the
    # run must not change what is measured or what the report says was measured.
    versions = tool_versions(os.path.abspath(args.regcache))
    command = " ".join(shlex.quote(x) for x in ["bench/pull_bench.py"] + argv)
    args.regcache = os.path.abspath(args.regcache)
    workdir = args.workdir or rt.mkdtemp("regcache-bench-")
    os.makedirs(workdir, exist_ok=True)
    binary_copy = os.path.join(workdir, "regcache-under-test")
    shutil.copy2(args.regcache, binary_copy)

    peers, skipped = select_peers(args.peers)
    log("workdir %s; generating images" % workdir)
    layout = os.path.join(workdir, "src")
    blob_size = args.blob_mib * rt.MiB
    big, image, layer_sizes = make_images(layout, args.blob_mib, args.layers, args.layer_range)
    blob_path = "/v2/bench/big/blobs/%s" % big.layer_digests[0]

    link = upstream = None
    targets = []
    link_stats = None
    try:
        if args.upstream_rate:
            link = ShapedLink(args.upstream_rate, args.upstream_burst, args.upstream_latency)
            link.setup()
            log("upstream link: %s" % link.describe())
        upstream = start_upstream(workdir, link)
        rt.push(layout, "big", upstream, "bench/big", tag="v1")
        rt.push(layout, "image", upstream, "bench/image", tag="v1")
        shutil.rmtree(layout)        # the upstream holds the only copy now
        if link:
            link.shape()
        upstream_log = UpstreamLog(upstream)
        targets = make_targets(binary_copy, workdir, upstream, args.regcache_arg, peers)
        res = {"targets": [t.name for t in targets], "blob": {}, "pull": {}, "burst": {},
               "skipped": skipped}
        pull_out = os.path.join(workdir, "pulled")
        for t in targets:
            res["blob"][t.name] = {"cold": []}
            res["pull"][t.name] = {"cold": []}
            if t.caches:
                res["blob"][t.name]["warm"] = []
                res["pull"][t.name]["warm"] = []
            verify_target(t, blob_path, big.layer_digests[0], image, workdir, pull_out)
        for rep in range(args.reps):
            for t in rotated(targets, rep):
                log("rep %d/%d: %s" % (rep + 1, args.reps, t.name))
                for kind, result in (("blob", blob_round(t, blob_path, blob_size)),
                                     ("pull", pull_round(t, "bench/image:v1", pull_out))):
                    res[kind][t.name]["cold"].append(result[0])
                    if t.caches:
                        res[kind][t.name]["warm"].append(result[1])
                t.stop()
        shutil.rmtree(pull_out, ignore_errors=True)
        # (c) concurrent clients
        for t in targets:
            if t.caches:
                log("%s: %d concurrent clients" % (t.name, args.clients))
                t.start_cold()
                cold = burst(t, blob_path, blob_size, args.clients, upstream_log)
                warm = burst(t, blob_path, blob_size, args.clients, upstream_log)
                hwm = peak_rss_kib(t.pids())
                res["burst"][t.name] = {"cold": cold["wall"], "warm": warm["wall"],
                                        "hwm_kib": hwm,
                                        "upstream_fetches": cold["upstream_fetches"]}
                t.stop()
        if link:
            link_stats = link.stats()
    finally:
        stop_all(targets, upstream, link, log)
    res["load_before"] = load_before
    res["wall"] = time.monotonic() - t_start
    res["link"] = link.describe() if link else None
    res["link_stats"] = link_stats

    text = render(args, res, blob_size, sum(layer_sizes), layer_sizes, versions, machine(),
                  command)
    print(text)
    if args.write_results:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        new = not os.path.exists(args.results_file)
        with open(args.results_file, "a") as f:
            if new:
                f.write("# regcache pull benchmark results\n\nAppended by "
                        "`bench/pull_bench.py --write-results`; see bench/README.md for the "
                        "method. Times are medians; ratios are time ÷ time (below 1.00× the "
                        "first is faster).\n")
            f.write("\n## %s, %s\n\n%s\n" % (
                stamp, ("upstream shaped to %s" % args.upstream_rate) if args.upstream_rate
                else "loopback upstream", text))
        log("appended to %s" % args.results_file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
