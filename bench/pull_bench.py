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
import atexit
import datetime
import ipaddress
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import regtest as rt  # noqa: E402

MB = 1e6   # throughput is reported in MB/s (10^6 bytes per second)

# ----------------------------------------------------------------------------
# targets: something that serves the registry API on 127.0.0.1 and can be made cold


class Direct:
    """The upstream itself (never cold or warm: the baseline)."""
    name = "direct"
    caches = False

    def __init__(self, upstream):
        self.upstream = upstream

    @property
    def host(self):
        return self.upstream.host

    def start_cold(self):
        pass

    def stop(self):
        pass

    def pids(self):
        return [self.upstream.proc.pid]


class RegcacheTarget:
    name = "regcache"
    caches = True

    def __init__(self, binary, workdir, upstream, extra_args):
        self.binary, self.workdir, self.upstream = binary, workdir, upstream
        self.extra_args = list(extra_args)
        self.rc = None
        self.n = 0
        self.port = rt.free_port()

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    def start_cold(self):
        self.stop()
        self.n += 1
        cache = os.path.join(self.workdir, "regcache-cache")
        shutil.rmtree(cache, ignore_errors=True)
        os.makedirs(cache)
        self.rc = rt.Regcache(self.binary, self.workdir, self.upstream.url, cache_dir=cache,
                              extra_args=self.extra_args, port=self.port, name="regcache")
        self.rc.start(timeout=30)

    def stop(self):
        if self.rc is not None:
            self.rc.stop(timeout=5)     # the benchmark does not need a graceful exit
            self.rc = None

    def pids(self):
        return [self.rc.pid] if self.rc else []


class NginxTarget:
    """nginx as a caching reverse proxy: proxy_cache with proxy_cache_lock on."""
    name = "nginx"
    caches = True

    def __init__(self, workdir, upstream):
        self.prefix = os.path.join(workdir, "nginx")
        self.upstream = upstream
        self.port = rt.free_port()
        self.proc = None

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    def config(self):
        p = self.prefix
        user = "user root root;\n" if os.geteuid() == 0 else ""
        return f"""{user}worker_processes 2;
daemon off;
master_process on;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {p}/tmp/client;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    sendfile on;
    tcp_nopush on;
    proxy_cache_path {p}/cache levels=1:2 keys_zone=registry:16m max_size=20g
                     inactive=1d use_temp_path=off;
    server {{
        listen 127.0.0.1:{self.port};
        location /v2/ {{
            proxy_pass http://{self.upstream.host};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_cache registry;
            proxy_cache_key "$request_method $request_uri $http_accept";
            proxy_cache_valid 200 1d;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 10m;
            proxy_cache_lock_age 10m;
            proxy_read_timeout 10m;
            add_header X-Cache-Status $upstream_cache_status;
        }}
    }}
}}
"""

    def start_cold(self):
        self.stop()
        shutil.rmtree(self.prefix, ignore_errors=True)
        for d in ("tmp", "cache", "conf"):
            os.makedirs(os.path.join(self.prefix, d))
        conf = os.path.join(self.prefix, "conf", "nginx.conf")
        with open(conf, "w") as f:
            f.write(self.config())
        log = os.path.join(self.prefix, "stderr.log")
        self.proc = rt.Proc(["nginx", "-p", self.prefix, "-e", os.path.join(self.prefix,
                                                                           "error.log"),
                             "-c", conf], log, "nginx :%d" % self.port)
        rt.wait_http_ok("http://%s/v2/" % self.host, 30, self.proc)

    def stop(self):
        if self.proc is not None:
            self.proc.stop(signal.SIGTERM, timeout=10)
            self.proc = None

    def pids(self):
        return [self.proc.pid] + children_of(self.proc.pid) if self.proc else []


class RegistryProxyTarget:
    """docker-registry (distribution 2.8) in pull-through proxy mode."""
    name = "registry-proxy"
    caches = True

    def __init__(self, workdir, upstream):
        self.workdir, self.upstream = workdir, upstream
        self.port = rt.free_port()
        self.reg = None
        self.n = 0

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    def start_cold(self):
        self.stop()
        self.n += 1
        shutil.rmtree(os.path.join(self.workdir, "registry-proxy"), ignore_errors=True)
        self.reg = rt.Registry(self.workdir, "registry-proxy", proxy_remote=self.upstream.url,
                               port=self.port)
        self.reg.start(timeout=30)

    def stop(self):
        if self.reg is not None:
            self.reg.stop()
            self.reg = None

    def pids(self):
        return [self.reg.proc.pid] if self.reg and self.reg.proc else []


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def vm_hwm_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None

# ----------------------------------------------------------------------------
# a shaped upstream link: network namespace + veth pair + tbf on both ends


RATE_RE = re.compile(r"^(\d+(?:\.\d+)?)([kmgt]?)(bit|bps)$", re.I)


def rate_bits(rate):
    """tc rate string ("1gbit", "500mbit", "100mbps") -> bits per second (SI prefixes, as tc)."""
    m = RATE_RE.match(rate.strip())
    if not m:
        raise ValueError("rate %r: want NUMBER[k|m|g|t](bit|bps), e.g. 1gbit, 500mbit" % rate)
    n = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}[m.group(2).lower()]
    return n * (8 if m.group(3).lower() == "bps" else 1)


def run_ip(argv, check=True):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), r.returncode,
                                                  r.stderr.decode(errors="replace").strip()))
    return r.stdout.decode(errors="replace")


class ShapedLink:
    """Network namespace regbench-PID joined to the host by a veth pair (host end
    10.203.X.1/30, namespace end 10.203.X.2/30), a tbf qdisc of `rate` on the egress of both
    ends. setup() builds it unshaped (so the images can be pushed at full speed), shape()
    adds the qdiscs, cleanup() removes everything (idempotent; also registered with atexit)."""

    def __init__(self, rate, burst, latency):
        self.rate, self.burst, self.latency = rate, burst, latency
        pid = os.getpid()
        self.ns = "regbench-%d" % pid
        self.host_if = "rbh%d" % pid          # IFNAMSIZ: at most 15 characters
        self.ns_if = "rbn%d" % pid
        self.host_addr = self.ns_addr = None
        self.created_ns = self.created_link = False
        atexit.register(self.cleanup)

    def _pick_subnet(self):
        used = []
        for argv in (["ip", "-4", "-o", "addr", "show"], ["ip", "-4", "route", "show", "table",
                                                          "all"]):
            for line in run_ip(argv, check=False).splitlines():
                for word in line.split():
                    try:
                        used.append(ipaddress.ip_network(word, strict=False))
                    except ValueError:
                        pass
        pid = os.getpid()
        for i in range(256):
            x = (pid + i) % 254 + 1
            net = ipaddress.ip_network("10.203.%d.0/30" % x)
            if not any(net.overlaps(u) for u in used if u.prefixlen > 0):
                return x
        raise RuntimeError("no free 10.203.X.0/30 subnet for the upstream link")

    def setup(self):
        if self.ns in run_ip(["ip", "netns", "list"]).split():
            raise RuntimeError("network namespace %s already exists (a stale run?); remove it "
                               "with `ip netns del %s`" % (self.ns, self.ns))
        x = self._pick_subnet()
        self.host_addr, self.ns_addr = "10.203.%d.1" % x, "10.203.%d.2" % x
        run_ip(["ip", "netns", "add", self.ns])
        self.created_ns = True
        run_ip(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if])
        self.created_link = True
        run_ip(["ip", "link", "set", self.ns_if, "netns", self.ns])
        run_ip(["ip", "addr", "add", self.host_addr + "/30", "dev", self.host_if])
        run_ip(["ip", "link", "set", self.host_if, "up"])
        run_ip(["ip", "-n", self.ns, "addr", "add", self.ns_addr + "/30", "dev", self.ns_if])
        run_ip(["ip", "-n", self.ns, "link", "set", self.ns_if, "up"])
        run_ip(["ip", "-n", self.ns, "link", "set", "lo", "up"])
        return self

    def _tbf(self):
        return ["root", "tbf", "rate", self.rate, "burst", self.burst, "latency", self.latency]

    def shape(self):
        run_ip(["tc", "qdisc", "replace", "dev", self.host_if] + self._tbf())
        run_ip(["tc", "-n", self.ns, "qdisc", "replace", "dev", self.ns_if] + self._tbf())

    def stats(self):
        """(bytes sent, overlimits, dropped) of the namespace end's tbf (the upstream's
        sending direction), or None."""
        out = run_ip(["tc", "-n", self.ns, "-s", "qdisc", "show", "dev", self.ns_if],
                     check=False)
        m = re.search(r"qdisc tbf.*?Sent (\d+) bytes \d+ pkt \(dropped (\d+), overlimits (\d+)",
                      out, re.S)
        return (int(m.group(1)), int(m.group(3)), int(m.group(2))) if m else None

    def describe(self):
        return ("veth pair %s (host, %s/30) <-> %s (namespace %s, %s/30), `tc qdisc ... root "
                "tbf rate %s burst %s latency %s` on both ends" % (
                    self.host_if, self.host_addr, self.ns_if, self.ns, self.ns_addr, self.rate,
                    self.burst, self.latency))

    def cleanup(self):
        if self.created_ns:
            # Anything still inside is ours (only this script starts processes there).
            for pid in run_ip(["ip", "netns", "pids", self.ns], check=False).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ValueError, ProcessLookupError):
                    pass
        if self.created_link:
            # Deleting either end removes the pair; the host end may already be gone.
            run_ip(["ip", "link", "del", self.host_if], check=False)
            self.created_link = False
        if self.created_ns:
            run_ip(["ip", "netns", "del", self.ns], check=False)
            self.created_ns = False


class NsRegistry(rt.Registry):
    """rt.Registry, but listening on the namespace end of a ShapedLink and started with
    `ip netns exec NS docker-registry serve CONFIG` (ip execs, so the PID is the registry's)."""

    def __init__(self, workdir, name, link, port=5000):
        self.link = link
        super().__init__(workdir, name, port=port)

    @property
    def host(self):
        return "%s:%d" % (self.link.ns_addr, self.port)

    def _write_config(self):
        super()._write_config()
        with open(self.config_path) as f:
            text = f.read()
        old = "  addr: 127.0.0.1:%d\n" % self.port
        if old not in text:
            raise RuntimeError("unexpected registry config from regtest.Registry")
        with open(self.config_path, "w") as f:
            f.write(text.replace(old, "  addr: %s:%d\n" % (self.link.ns_addr, self.port)))

    def start(self, timeout=30):
        self.proc = rt.Proc(["ip", "netns", "exec", self.link.ns, "docker-registry", "serve",
                             self.config_path], self.log_path,
                            "docker-registry %s %s" % (self.name, self.host),
                            keep=lambda line: 'msg="response completed"' not in line)
        try:
            rt.wait_http_ok(self.url + "/v2/", timeout, self.proc)
        except Exception:
            self.stop()
            raise
        return self

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


def burst(target, path, size, clients, upstream, timeout=900):
    """clients concurrent curls of path; returns (wall seconds, upstream GETs of path)."""
    before = len(upstream.request_lines('"GET %s ' % path))
    procs = []
    t0 = time.monotonic()
    for _ in range(clients):
        procs.append(subprocess.Popen(
            ["curl", "-sS", "--noproxy", "*", "--max-time", str(timeout), "-o", "/dev/null", "-w",
             "%{size_download} %{http_code}", "http://%s%s" % (target.host, path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    deadline = time.monotonic() + timeout + 30
    bad = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        if p.returncode != 0 or out.decode().split() != [str(size), "200"]:
            bad.append((p.returncode, out.decode(), err.decode(errors="replace")[:200]))
    wall = time.monotonic() - t0
    if bad:
        raise RuntimeError("%s: %d of %d concurrent clients failed: %r" % (
            target.name, len(bad), clients, bad[:3]))
    # The upstream's access log is written after the response; allow it a moment.
    time.sleep(0.5)
    after = len(upstream.request_lines('"GET %s ' % path))
    return wall, after - before

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
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu,
            "loadavg": os.getloadavg()}


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

    peers = []
    skipped = []
    want = (["nginx", "registry-proxy"] if args.peers == "auto" else
            [] if args.peers == "none" else [p.strip() for p in args.peers.split(",") if p])
    for p in want:
        tool = {"nginx": "nginx", "registry-proxy": "docker-registry"}.get(p)
        if tool is None:
            sys.exit("unknown peer %r (nginx, registry-proxy)" % p)
        if shutil.which(tool) is None:
            skipped.append("%s (%s not installed)" % (p, tool))
        else:
            peers.append(p)

    log("workdir %s; generating images" % workdir)
    layout = os.path.join(workdir, "src")
    blob_size = args.blob_mib * rt.MiB
    big = rt.make_oci_image(layout, "big", [blob_size], seed="bench-big")
    rng = random.Random("bench-layers")
    layer_sizes = [rng.randint(args.layer_range[0] * rt.MiB, args.layer_range[1] * rt.MiB)
                   for _ in range(args.layers)]
    image = rt.make_oci_image(layout, "image", layer_sizes, seed="bench-image")
    blob_path = "/v2/bench/big/blobs/%s" % big.layer_digests[0]

    link = upstream = None
    targets = []
    link_stats = None
    try:
        if args.upstream_rate:
            link = ShapedLink(args.upstream_rate, args.upstream_burst, args.upstream_latency)
            link.setup()
            log("upstream link: %s" % link.describe())
            upstream = NsRegistry(workdir, "upstream", link).start()
        else:
            upstream = rt.Registry(workdir, "upstream").start()
        rt.push(layout, "big", upstream, "bench/big", tag="v1")
        rt.push(layout, "image", upstream, "bench/image", tag="v1")
        shutil.rmtree(layout)        # the upstream holds the only copy now
        if link:
            link.shape()

        targets = [Direct(upstream),
                   RegcacheTarget(binary_copy, workdir, upstream, args.regcache_arg)]
        if "nginx" in peers:
            targets.append(NginxTarget(workdir, upstream))
        if "registry-proxy" in peers:
            targets.append(RegistryProxyTarget(workdir, upstream))

        res = {"targets": [t.name for t in targets], "blob": {}, "pull": {}, "burst": {},
               "skipped": skipped}
        pull_out = os.path.join(workdir, "pulled")
        for t in targets:
            res["blob"][t.name] = {"cold": []}
            res["pull"][t.name] = {"cold": []}
            if t.caches:
                res["blob"][t.name]["warm"] = []
                res["pull"][t.name]["warm"] = []
            # Correctness first: a target that serves wrong bytes gets no numbers.
            t.start_cold()
            verify_blob(t.host, blob_path, big.layer_digests[0], workdir)
            verify_pull(t.host, "bench/image:v1", pull_out, image)
            t.stop()
        # Repetitions are interleaved (round r measures every target, starting with a
        # different one each round), so that a change of the machine's load during the run
        # affects every target alike instead of skewing the ratios.
        for rep in range(args.reps):
            k = rep % len(targets)
            for t in targets[k:] + targets[:k]:
                log("rep %d/%d: %s" % (rep + 1, args.reps, t.name))
                # (a) blob
                t.start_cold()
                s, n, code = curl_get(t.host, blob_path)
                assert (n, code) == (blob_size, "200"), (t.name, n, code)
                res["blob"][t.name]["cold"].append(s)
                if t.caches:
                    s, n, code = curl_get(t.host, blob_path)
                    assert (n, code) == (blob_size, "200"), (t.name, n, code)
                    res["blob"][t.name]["warm"].append(s)
                # (b) image
                t.start_cold()
                res["pull"][t.name]["cold"].append(timed_pull(t.host, "bench/image:v1",
                                                              pull_out))
                if t.caches:
                    res["pull"][t.name]["warm"].append(timed_pull(t.host, "bench/image:v1",
                                                                  pull_out))
                t.stop()
        shutil.rmtree(pull_out, ignore_errors=True)
        # (c) concurrent clients
        for t in targets:
            if t.caches:
                log("%s: %d concurrent clients" % (t.name, args.clients))
                t.start_cold()
                cold, fetches = burst(t, blob_path, blob_size, args.clients, upstream)
                warm, _ = burst(t, blob_path, blob_size, args.clients, upstream)
                hwm = [vm_hwm_kib(p) for p in t.pids()]
                hwm = sum(h for h in hwm if h) if any(hwm) else None
                res["burst"][t.name] = {"cold": cold, "warm": warm, "hwm_kib": hwm,
                                        "upstream_fetches": fetches}
                t.stop()
        if link:
            link_stats = link.stats()
    finally:
        for t in targets:
            try:
                t.stop()
            except Exception as e:  # noqa: BLE001
                log("stopping %s: %r" % (t.name, e))
        if upstream is not None:
            upstream.stop()
        if link is not None:
            link.cleanup()
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
