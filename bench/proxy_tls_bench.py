#!/usr/bin/env python3
"""Proxy mode's warm blob through TLS (issue 13), against nginx serving the same file over TLS.

One run, interleaved: a 200 MiB blob is pulled once through regcache in proxy mode (curl with
--proxy, CONNECT to the upstream's host, TLS terminated by regcache with its CA's leaf), so it
is cached; then REPS times each, alternating: regcache (the warm blob through the intercepted
TLS session) and nginx (the blob's file from regcache's cache directory, over TLS with a
certificate of a test CA, sendfile off as for any TLS server without kTLS). Both use TLS 1.3
with the same curl and cipher suite choice; curl writes to /dev/null.

Reported: the median seconds and MiB/s of each, the server's CPU seconds per GiB (utime +
stime of regcache, or nginx's master and workers, around each pull), and the ratios
regcache / nginx. Usage: bench/proxy_tls_bench.py [--regcache PATH] [--reps N] [--mib N]
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_targets as bt  # noqa: E402

rt = bt.rt


def curl_time(args, timeout=600):
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}"]
                         + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=timeout, check=False)
    fields = out.stdout.decode().split()
    if out.returncode != 0 or not fields or fields[0] != "200":
        raise RuntimeError("curl %r: %s %s" % (args, out.stdout.decode(), out.stderr.decode()))
    return float(fields[1])


def timed_pull(pids, args):
    before = bt.cpu_seconds(pids)
    seconds = curl_time(args)
    return seconds, bt.cpu_seconds(pids) - before


NGINX_CONF = """
user root;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  sendfile off;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.3;
    location / {{ root {root}; }}
  }}
}}
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--regcache", default=os.path.join(bt.ROOT, "build-release", "regcache"))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--mib", type=int, default=200)
    opts = parser.parse_args()
    rt.REGCACHE = os.path.abspath(opts.regcache)
    tmp = rt.mkdtemp("regcache-proxy-tls-bench-")

    upstream = rt.Registry(tmp)
    upstream.start()
    blob = os.urandom(1 << 20) * opts.mib  # incompressible enough for TLS: the cipher is the cost
    digest = rt.sha256_bytes(blob)  # "sha256:<hex>"
    # Monolithic upload (distribution API): POST, then PUT with the digest.
    req = urllib.request.Request(upstream.url + "/v2/bench/blob/blobs/uploads/", method="POST")
    with urllib.request.urlopen(req) as r:
        location = r.headers["Location"]
    if location.startswith("/"):
        location = upstream.url + location
    sep = "&" if "?" in location else "?"
    blob_file = os.path.join(tmp, "blob.bin")
    with open(blob_file, "wb") as f:
        f.write(blob)
    subprocess.run(["curl", "-sSf", "-X", "PUT", "-H", "Content-Type: application/octet-stream",
                    "--data-binary", "@" + blob_file, location + sep + "digest=" + digest],
                   check=True, timeout=600, stdout=subprocess.DEVNULL)
    os.unlink(blob_file)

    rc = rt.Regcache(rt.REGCACHE, tmp, upstream.url, name="proxy",
                     extra_args=["--no-access-log"])
    rc.start()
    ca_file = os.path.join(tmp, "regcache-ca.crt")
    with open(ca_file, "wb") as f:
        f.write(rc.get("/ca.crt").body)
    blob_url = "https://%s/v2/bench/blob/blobs/%s" % (upstream.host, digest)
    proxied = ["--proxy", "http://127.0.0.1:%d" % rc.port, "--cacert", ca_file, blob_url]
    curl_time(proxied)  # the cold pull: cached from here on
    hex_digest = digest.split(":")[1]

    def find_cached():
        for dirpath, _dirs, files in os.walk(os.path.join(rc.cache_dir, "blobs")):
            if hex_digest in files:
                return os.path.join(dirpath, hex_digest)
        return None
    cached = rt.poll(find_cached, 30, what="the blob published in regcache's cache")
    assert cached, "the blob is not in regcache's cache"

    test_ca, test_key = rt.make_ca(tmp, "bench-ca")
    cert, key = rt.make_server_cert(tmp, test_ca, test_key, name="nginx")
    root = os.path.join(tmp, "nginx-root")
    os.makedirs(root)
    os.link(cached, os.path.join(root, "blob"))
    port = rt.free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=tmp, port=port, cert=cert, key=key, root=root))
    nginx = rt.Proc(["nginx", "-c", conf, "-g", "daemon off;"], os.path.join(tmp, "nginx.log"),
                    "nginx")
    rt.poll(lambda: subprocess.run(["curl", "-sk", "-o", "/dev/null",
                                    "https://127.0.0.1:%d/" % port]).returncode == 0, 20,
            what="nginx")
    direct_nginx = ["--cacert", test_ca, "https://127.0.0.1:%d/blob" % port]

    samples = {"regcache": [], "nginx": []}
    for i in range(opts.reps):
        print("proxy-tls-bench: repetition %d of %d" % (i + 1, opts.reps), file=sys.stderr)
        samples["regcache"].append(timed_pull([rc.pid], proxied))
        samples["nginx"].append(timed_pull(bt.process_tree(nginx.pid), direct_nginx))
    nginx.stop()
    rc.stop()
    upstream.stop()

    gib = len(blob) / float(1 << 30)
    rows = {}
    for name, got in samples.items():
        seconds = statistics.median(s for s, _ in got)
        cpu = statistics.median(c for _, c in got)
        rows[name] = (seconds, len(blob) / seconds / (1 << 20), cpu / gib)
    with open("/proc/cpuinfo") as f:
        model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    print("command: bench/proxy_tls_bench.py --regcache %s --reps %d --mib %d"
          % (opts.regcache, opts.reps, opts.mib))
    print("machine: %s, %d cores, kernel %s, load before end %s" % (
        model, os.cpu_count(), platform.release(), open("/proc/loadavg").read().split()[:3]))
    print()
    print("| warm %d MiB blob over TLS (median of %d) | seconds | MiB/s | server CPU s/GiB |"
          % (opts.mib, opts.reps))
    print("|---|---|---|---|")
    for name in ("regcache", "nginx"):
        s, mibs, cpu = rows[name]
        label = "regcache proxy mode (CONNECT, intercepted)" if name == "regcache" else \
            "nginx, the cached file over TLS (sendfile off)"
        print("| %s | %.3f | %.0f | %.2f |" % (label, s, mibs, cpu))
    r, n = rows["regcache"], rows["nginx"]
    print("| ratio regcache / nginx | %.2f | %.2f | %.2f |" % (r[0] / n[0], r[1] / n[1],
                                                              r[2] / n[2]))
    print()
    print("raw (seconds, cpu): %r" % samples)


if __name__ == "__main__":
    main()
