"""What the benchmarks measure and where: the targets (the upstream itself, regcache, nginx
configured as rpardini/docker-registry-proxy configures it, docker-registry in pull-through
mode), a shaped upstream link (network namespace + veth + tbf), the upstream's access log as
a counter of requests and bytes, and the CPU time and peak RSS of a target's processes.

Used by pull_bench.py, hit_bench.py and pull-bench. Standard library only; every server is
started and stopped by PID, every wait is bounded.
"""

import atexit
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import regtest as rt  # noqa: E402

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
        return process_tree(self.upstream.proc.pid)


class LocalCache:
    """A cache in front of upstream, listening on 127.0.0.1 on a port of its own, its data
    under workdir; start_cold() (re)starts it with an empty cache."""
    caches = True

    def __init__(self, workdir, upstream):
        self.workdir, self.upstream = workdir, upstream
        self.port = rt.free_port()

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port


class RegcacheTarget(LocalCache):
    name = "regcache"

    def __init__(self, binary, workdir, upstream, extra_args):
        super().__init__(workdir, upstream)
        self.binary = binary
        self.extra_args = list(extra_args)
        self.rc = None

    def start_cold(self):
        self.stop()
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
        return process_tree(self.rc.pid) if self.rc else []


class NginxTarget(LocalCache):
    """nginx configured as rpardini/docker-registry-proxy 0.7.0 configures its caching server
    (with ENABLE_MANIFEST_CACHE=true and the default tiers), on plain HTTP: see config()."""
    name = "nginx"

    def __init__(self, workdir, upstream):
        super().__init__(workdir, upstream)
        self.prefix = os.path.join(workdir, "nginx")
        self.proc = None

    def config(self):
        """docker-registry-proxy's nginx.conf, reduced to the caching server: `proxy_cache_path
        ... keys_zone=cache:10m max_size=32g inactive=60d use_temp_path=off`, server-level
        `proxy_cache_valid 200 206 60d`, `proxy_cache_lock on` with its 880 s timeout and
        nginx's default 5 s lock age, `proxy_ignore_client_abort`, `proxy_force_ranges`,
        `proxy_cache_revalidate`, upstream cache headers ignored, `proxy_read_timeout 900`,
        and its locations: blobs and manifests by digest (60 d), the three manifest-by-tag
        tiers (`(stable|nightly|production|test)` 10m, three digits or dots 60d, else 1h;
        ENABLE_MANIFEST_CACHE=true, without it tags are never cached), everything else
        uncached. Its access log is on, to a file. Differences: plain HTTP to the upstream
        instead of TLS (like every target here), no CONNECT front server, and the key of a
        manifest includes the Accept header (docker-registry-proxy keys on `$uri` alone,
        which serves one client's content type to another)."""
        p = self.prefix
        user = "user root root;\n" if os.geteuid() == 0 else ""
        cache_common = f"""
            proxy_pass http://{self.upstream.host};
            proxy_cache cache;
            proxy_cache_key $uri;
            proxy_intercept_errors on;"""
        manifest_common = f"""
            proxy_pass http://{self.upstream.host};
            proxy_cache cache;
            proxy_cache_key "$uri $http_accept";
            proxy_intercept_errors on;
            proxy_cache_use_stale error timeout http_500 http_502 http_504 http_429;"""
        return f"""{user}worker_processes auto;
daemon off;
master_process on;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {p}/access.log;
    client_body_temp_path {p}/tmp/client;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 300s;
    send_timeout 60s;
    gzip off;
    proxy_cache_path {p}/cache levels=1:2 max_size=32g inactive=60d keys_zone=cache:10m
                     use_temp_path=off;
    server {{
        listen 127.0.0.1:{self.port};
        chunked_transfer_encoding on;
        proxy_read_timeout 900;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_cache_valid 200 206 60d;
        proxy_cache_lock on;
        proxy_cache_lock_timeout 880s;
        proxy_ignore_client_abort on;
        proxy_force_ranges on;
        proxy_cache_revalidate on;
        proxy_ignore_headers X-Accel-Expires Expires Cache-Control Set-Cookie;
        proxy_hide_header Set-Cookie;
        add_header X-Cache-Status $upstream_cache_status;
        location /v1 {{ return 405; }}
        location ~ ^/v2/(.*)/blobs/sha256:(.*) {{{cache_common}
        }}
        location ~ ^/v2/(.*)/manifests/sha256:(.*) {{{manifest_common}
        }}
        location ~ ^/v2/(.*)/manifests/(stable|nightly|production|test) {{{manifest_common}
            proxy_cache_valid 10m;
        }}
        location ~ ^/v2/(.*)/manifests/(.*)(\d|\.)+(.*)(\d|\.)+(.*)(\d|\.)+ {{{manifest_common}
            proxy_cache_valid 60d;
        }}
        location ~ ^/v2/(.*)/manifests/ {{{manifest_common}
            proxy_cache_valid 1h;
        }}
        location ~ ^/v2/(.*)/blobs/ {{{cache_common}
            proxy_cache_valid 0s;
        }}
        location / {{
            proxy_pass http://{self.upstream.host};
            proxy_cache off;
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
        wait_or_stop(self, "http://%s/v2/" % self.host, 30)

    def stop(self):
        if self.proc is not None:
            self.proc.stop(signal.SIGTERM, timeout=10)
            self.proc = None

    def pids(self):
        return process_tree(self.proc.pid) if self.proc else []


class RegistryProxyTarget(LocalCache):
    """docker-registry (distribution 2.8) in pull-through proxy mode."""
    name = "registry-proxy"

    def __init__(self, workdir, upstream):
        super().__init__(workdir, upstream)
        self.reg = None

    def start_cold(self):
        self.stop()
        shutil.rmtree(os.path.join(self.workdir, "registry-proxy"), ignore_errors=True)
        self.reg = rt.Registry(self.workdir, "registry-proxy", proxy_remote=self.upstream.url,
                               port=self.port)
        self.reg.start(timeout=30)

    def stop(self):
        if self.reg is not None:
            self.reg.stop()
            self.reg = None

    def pids(self):
        return process_tree(self.reg.proc.pid) if self.reg and self.reg.proc else []


def process_tree(pid):
    """pid and all its descendants (nginx's master and workers; ip netns exec's child)."""
    parent_of = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                parent_of[int(d)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                pass
    out, unvisited = [], [pid]
    while unvisited:
        p = unvisited.pop()
        out.append(p)
        unvisited += [c for c, pp in parent_of.items() if pp == p]
    return out


def cpu_seconds(pids):
    """User + system CPU seconds the processes have used so far (/proc/PID/stat utime and
    stime, all threads), summed; a process that is gone counts 0."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


def vm_hwm_kib(pid):
    """Peak resident set size of the process (VmHWM), KiB, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_rss_kib(pids):
    """Sum of the processes' VmHWM (nginx: master + workers), KiB, or None if none is known."""
    hwm = [h for h in (vm_hwm_kib(p) for p in pids) if h]
    return sum(hwm) if hwm else None


class UpstreamLog:
    """The upstream docker-registry's access log read as a counter: since the last mark(),
    which requests came in and how many body bytes the upstream wrote (the size field of its
    combined-format lines: what it sent, also for a request cut short). Honest on loopback
    and on the shaped link alike."""
    LINE = re.compile(rb'\] "(GET|HEAD) (\S+) HTTP/[\d.]+" (\d{3}) (\d+|-)')

    def __init__(self, upstream):
        self.path, self.pos = upstream.log_path, 0
        self.mark()

    def _read(self):
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            data = f.read()
        cut = data.rfind(b"\n") + 1
        self.pos += cut
        return data[:cut]

    def mark(self):
        self._read()

    def since(self, settle=0.3):
        """[(method, path, status, bytes)] since the last mark(), which it moves."""
        time.sleep(settle)         # docker-registry logs a request after its response
        out = []
        for line in self._read().splitlines():
            m = self.LINE.search(line)
            if m:
                out.append((m.group(1).decode(), m.group(2).decode(), int(m.group(3)),
                            0 if m.group(4) == b"-" else int(m.group(4))))
        return out

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
        wait_or_stop(self, self.url + "/v2/", timeout)
        return self


def wait_or_stop(server, url, timeout):
    """Waits (bounded) for url to answer 200 while server.proc runs; a server that does not
    come up is stopped by its PID before the error goes on."""
    try:
        rt.wait_http_ok(url, timeout, server.proc)
    except Exception:
        server.stop()
        raise

