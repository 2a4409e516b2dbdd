#!/usr/bin/env python3
"""Proxy mode (issue 13): clients with only HTTPS_PROXY set and regcache's CA trusted.

The upstream is a TLS docker-registry inside a network namespace the test makes
(netns_fixture.py: a private /30, the registry on NS_IP:5000 with a certificate from a test
CA, and a non-registry TLS server on NS_IP:443), because Go clients never proxy loopback
addresses. regcache runs in the root namespace with `--upstream https://NS_IP:5000
--upstream-ca-file <test CA>`; clients CONNECT through it to NS_IP:5000 and must be answered
by regcache's own leaf certificate (issued by its CA, SAN IP:NS_IP) and served from its cache,
while NS_IP:443 is tunnelled and shows its own certificate.

Clients trust only regcache's CA (plus the system store), never the test CA: a pull that was
tunnelled instead of intercepted fails certificate verification, so a passing pull proves the
interception.

  FixtureSelfCheck  the namespace itself, without regcache: skopeo and curl reach the registry
                    directly; dockerd and ctr with HTTPS_PROXY pointing at a counting CONNECT
                    proxy (netns_fixture.TunnelProxy) really send NS_IP:5000 through it.
  ProxyHandshakes   a regcache with a short --tls-handshake-timeout-ms: 16 concurrent first
                    connections mint one leaf; garbage, half and silent handshakes.
  ProxyMode         curl, /ca.crt, restart, /setup/systemd, skopeo, dockerd, ctr (the CA from
                    SSL_CERT_FILE, and from a hosts.toml `ca` as Kubernetes nodes set it).

How each client trusts regcache's CA here: skopeo `--src-cert-dir`; dockerd and ctr
`SSL_CERT_FILE` (the system bundle plus regcache's CA: Go reads it instead of the system
store). dockerd 20.10 has no private certs.d (it reads /etc/docker/certs.d, or
$XDG_CONFIG_HOME/docker/certs.d when rootless only), so that path is not used: the test would
have to write to the machine's /etc.

What regcache is expected to provide (the lead's part of issue 13; names as agreed):
  * CONNECT host:port on the main port; intercepted: configured upstreams' hosts (any port);
    other hosts tunnelled (443 allowed by default);
  * `--ca-dir` (default <cache-dir>/ca) holding ca.crt and ca.key (mode 0600), kept across
    restarts; `GET /ca.crt` serves that ca.crt byte for byte;
  * `--tls-handshake-timeout-ms` (default 10000);
  * /metrics: `regcache_proxy_leaf_certificates_minted_total`;
  * `GET /setup/systemd`: see SetupScript below (the exact contract).

Run (root: namespaces, dockerd, containerd):
  python3 tests/integration/test_proxy_mode.py --regcache build/regcache
"""

import http.client
import os
import re
import shlex
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import authtest as at  # noqa: E402
from clientdaemons import (Containerd, Dockerd, make_tar_image, make_tar_index,  # noqa: E402
                           tar_layer, text, tool)
import netns_fixture as nf  # noqa: E402
import regtest as rt  # noqa: E402

HANDSHAKE_TIMEOUT_MS = 1000
# The other timeouts of the handshake instance, far longer: a silent client closed within
# SILENT_CLOSE_BOUND_S can only have been closed by the handshake timeout.
OTHER_TIMEOUTS_MS = 300000
SILENT_CLOSE_BOUND_S = 120
BURST = 16
LEAF_METRIC = "regcache_proxy_leaf_certificates_minted_total"


class Tag:
    def __init__(self, repo, tag, media_type, all_images=False):
        self.repo, self.tag, self.media_type, self.all_images = repo, tag, media_type, all_images
        self.digest = None

    def ref(self, host):
        return "%s/%s:%s" % (host, self.repo, self.tag)

    def __repr__(self):
        return "%s:%s" % (self.repo, self.tag)


TAGS = [
    Tag("acc/alpha", "1.2.3", rt.OCI_MANIFEST),
    Tag("acc/multi", "2.0", rt.OCI_INDEX, all_images=True),
    Tag("acc/schema2", "1.0", rt.DOCKER_MANIFEST),
    Tag("library/hello", "latest", rt.OCI_MANIFEST),
]
ALPHA = TAGS[0]

S = None        # the module's stack
BINARIES = {}


class Stack:
    """The namespace with its servers and images, and one containerd for the whole file."""

    def __init__(self):
        self.tmp = rt.mkdtemp("rc-proxy-")     # short: unix socket paths live below it
        self.fx = nf.Fixture(self.tmp)
        unittest.addModuleCleanup(self.fx.stop)
        self.fx.start()
        self.ns_ip = self.fx.ns.ns_ip
        self.host = self.fx.registry_host      # NS_IP:5000, the registry's real name
        self.layout = os.path.join(self.tmp, "src")
        self.push_images()
        self.containerd = Containerd(BINARIES["containerd"], BINARIES["ctr"],
                                     os.path.join(self.tmp, "ctd"))
        unittest.addModuleCleanup(self.containerd.stop)
        self.containerd.start()

    def push_images(self):
        lay = self.layout
        make_tar_image(lay, "alpha", "alpha", [(tar_layer({"a.txt": b"alpha one\n"}), False),
                                               (tar_layer({"b.txt": b"alpha two\n" * 300}), False)])
        self.fx.push(lay, "alpha", "acc/alpha", "1.2.3")
        make_tar_index(lay, "multi", "multi")
        self.fx.push(lay, "multi", "acc/multi", "2.0", all_images=True)
        make_tar_image(lay, "schema2", "schema2")
        self.fx.push(lay, "schema2", "acc/schema2", "1.0", preserve_digests=False,
                     extra=["--format", "v2s2"])
        make_tar_image(lay, "hello", "hello", [(tar_layer({"hello.txt": b"hello, proxy\n"}),
                                                True)])
        self.fx.push(lay, "hello", "library/hello", "latest")
        for t in TAGS:
            r = self.fx.registry.get("/v2/%s/manifests/%s" % (t.repo, t.tag),
                                     {"Accept": rt.ALL_MANIFEST_TYPES}, method="HEAD")
            if r.status != 200 or r.header("Content-Type") != t.media_type:
                raise AssertionError("the namespace registry's answer for %r: %r" % (t, r))
            t.digest = r.header("Docker-Content-Digest")
        manifest = self.fx.registry.get("/v2/acc/alpha/manifests/1.2.3",
                                        {"Accept": rt.OCI_MANIFEST}).json()
        self.alpha_layer = manifest["layers"][1]["digest"]

    def registry_stopped(self):
        return _Stopped(self.fx)


class _Stopped:
    """with S.registry_stopped(): the namespace registry stopped by its PID, restarted after."""

    def __init__(self, fx):
        self.fx = fx

    def __enter__(self):
        self.fx.stop_registry()

    def __exit__(self, *exc):
        self.fx.start_registry()


def setUpModule():  # noqa: N802
    global S
    if os.geteuid() != 0:
        raise unittest.SkipTest("network namespaces, containerd and dockerd need root")
    wanted = {"ip": tool("ip"), "openssl": tool("openssl"), "curl": tool("curl"),
              "skopeo": tool("skopeo"), "docker-registry": tool("docker-registry"),
              "containerd": tool("containerd"), "ctr": tool("ctr"), "dockerd": tool("dockerd"),
              "docker": tool("docker", ["/usr/bin/docker"])}
    missing = sorted(k for k, v in wanted.items() if not v)
    if missing:
        raise unittest.SkipTest("not installed: %s (Debian packages iproute2, openssl, curl, "
                                "skopeo, docker-registry, containerd, docker.io)"
                                % ", ".join(missing))
    BINARIES.update(wanted)
    S = Stack()

# ----------------------------------------------------------------------------
# helpers


def curl(url, cacert, proxy=None, headers=(), out=None, timeout=60):
    """curl -sS URL with only the given proxy (none: --noproxy '*') and CA file. Returns
    (exit code, HTTP status, {header: value} of the last response, body bytes, stderr)."""
    out = out or os.path.join(S.tmp, "curl.body")
    head = os.path.join(S.tmp, "curl.head")
    args = ["curl", "-sS", "--max-time", str(timeout), "--cacert", cacert, "-o", out,
            "-D", head, "-w", "%{http_code}"]
    args += ["--proxy", proxy] if proxy else ["--noproxy", "*"]
    for h in headers:
        args += ["-H", h]
    for p in (out, head):
        if os.path.exists(p):
            os.unlink(p)
    r = subprocess.run(args + [url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=at.clean_env(), timeout=timeout + 15)
    hdrs = {}
    for line in rt.read_text(head).split("\r\n"):
        if line.startswith("HTTP/"):
            hdrs = {}
        elif ":" in line:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    body = open(out, "rb").read() if os.path.exists(out) else b""
    code = int(r.stdout or b"0") if (r.stdout or b"0").isdigit() else 0
    return r.returncode, code, hdrs, body, r.stderr.decode(errors="replace")


def common_name(cert_dict, field):
    for rdn in cert_dict.get(field, ()):
        for k, v in rdn:
            if k == "commonName":
                return v
    return None


def pem_subject_cn(pem_path):
    r = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "multiline",
                        "-in", pem_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    m = re.search(r"commonName\s*=\s*(.+)", r.stdout.decode())
    return m.group(1).strip() if m else None


def cert_dir_with(workdir, name, ca_file):
    """A directory holding ca_file as ca.crt (skopeo's --src-cert-dir)."""
    d = os.path.join(workdir, name)
    os.makedirs(d, exist_ok=True)
    shutil.copyfile(ca_file, os.path.join(d, "ca.crt"))
    return d


def metric_total(rc, name):
    """The sum of every series of `name` on regcache's /metrics (None if there is none)."""
    r = rc.get("/metrics")
    if r.status != 200:
        raise AssertionError("GET /metrics: %r" % r)
    total, found = 0.0, False
    for line in r.body.decode().splitlines():
        m = re.match(re.escape(name) + r"(\{[^}]*\})?\s+(\S+)$", line)
        if m:
            total += float(m.group(2))
            found = True
    return total if found else None


def connect_raw(proxy_port, target, timeout=10):
    """A socket to the proxy after `CONNECT target` was answered 200 (bytes read one at a time,
    so nothing after the head is consumed)."""
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=timeout)
    s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, target)).encode())
    head = b""
    while b"\r\n\r\n" not in head and len(head) < nf.PROXY_HEAD_MAX:
        b = s.recv(1)
        if not b:
            s.close()
            raise ConnectionError("the proxy closed the connection after CONNECT %s" % target)
        head += b
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    if " 200" not in status:
        s.close()
        raise AssertionError("CONNECT %s answered %r (no proxy mode in this regcache?)"
                             % (target, status))
    return s


def client_hello(host):
    """The bytes of a real TLS ClientHello for `host` (made with memory BIOs, never sent)."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=host)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def closed_within(sock, bound_s):
    """True if the peer closes (EOF or reset) within bound_s; any bytes read are discarded."""
    deadline = time.monotonic() + bound_s
    for _ in range(int(bound_s / 0.5) + 2):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(min(0.5, left))
        try:
            if not sock.recv(4096):
                return True
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def start_regcache(name, extra=()):
    rc = rt.Regcache(rt.REGCACHE, S.tmp, "https://" + S.host, name=name,
                     extra_args=["--upstream-ca-file", S.fx.ca_file] + list(extra))
    rc.start()
    return rc


def fetch_ca(rc, path):
    r = rc.get("/ca.crt")
    if r.status != 200 or b"-----BEGIN CERTIFICATE-----" not in r.body:
        raise AssertionError("GET /ca.crt on regcache: %r (no proxy mode in this regcache? "
                             "issue 13)" % r)
    with open(path, "wb") as f:
        f.write(r.body)
    return path


def layout_of(name):
    os.makedirs(os.path.join(S.tmp, "pulled"), exist_ok=True)
    return os.path.join(S.tmp, "pulled", name)


def skopeo_pull(tag, dst, cert_dir, proxy=None):
    """skopeo copy docker://NS_IP:5000/<tag> oci:DST, trusting cert_dir's CA (and the system's),
    with HTTPS_PROXY=proxy (or no proxy at all). Returns layout_digests."""
    env = at.clean_env(**({"HTTPS_PROXY": proxy} if proxy else {}))
    rt.skopeo_copy("docker://" + tag.ref(S.host), "oci:%s:%s" % (dst, tag.tag.replace(".", "_")),
                   all_images=tag.all_images, extra=["--src-cert-dir", cert_dir], env=env,
                   timeout=180)
    return rt.layout_digests(dst, tag.tag.replace(".", "_"))


def start_dockerd(test, name, proxy, bundle):
    """A dockerd of its own (state in S.tmp/name, the module's containerd) with HTTPS_PROXY
    and SSL_CERT_FILE in its environment, stopped when `test` ends, and a containerd namespace
    of its own (`name`: the manifests an earlier dockerd fetched stay out of its pulls)."""
    dockerd = Dockerd(BINARIES["dockerd"], BINARIES["docker"], os.path.join(S.tmp, name),
                      S.containerd.sock, env={"HTTPS_PROXY": proxy, "SSL_CERT_FILE": bundle},
                      containerd_namespace=name)
    test.addCleanup(dockerd.stop)
    dockerd.start()
    return dockerd


def docker_pull_all(dockerd, failures, what):
    for t in TAGS:
        ref = t.ref(S.host)
        res = dockerd.docker(["pull", ref])
        if res.returncode != 0:
            failures.append("%s: docker pull %s exited %d: %s" % (
                what, ref, res.returncode, rt.tail(text(res), 4)))
            continue
        repo_digests, _ = dockerd.repo_digests(ref)
        want = "%s/%s@%s" % (S.host, t.repo, t.digest)
        if want not in (repo_digests or []):
            failures.append("%s: RepoDigests of %s are %r, not %s" % (
                what, ref, repo_digests, want))


def ctr_pull_all(env, failures, what):
    ns = S.containerd.fresh_namespace()
    for t in TAGS:
        ref = t.ref(S.host)
        res = S.containerd.pull(ns, ref, env=env)
        if res.returncode != 0:
            failures.append("%s: ctr pull %s exited %d: %s" % (
                what, ref, res.returncode, rt.tail(text(res), 4)))
            continue
        got = S.containerd.digests(ns).get(ref)
        if got != t.digest:
            failures.append("%s: ctr images ls: %s is %s, the registry has %s" % (
                what, ref, got, t.digest))


def assert_no_failures(test, failures):
    if failures:
        test.fail("%d pulls failed:\n%s" % (len(failures), "\n".join(failures)))

# ----------------------------------------------------------------------------
# the fixture on its own


class FixtureSelfCheck(unittest.TestCase):
    """What the proxy-mode tests rely on, checked without regcache: if one of these fails, a
    proxy-mode failure says nothing about regcache."""

    @classmethod
    def setUpClass(cls):
        cls.proxy = nf.TunnelProxy().start()
        cls.bundle = nf.ca_bundle(os.path.join(S.tmp, "bundle-test-ca.pem"), S.fx.ca_file)

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()

    def test_1_skopeo_and_curl_reach_the_namespace_registry_directly(self):
        got = skopeo_pull(ALPHA, layout_of("direct-check"), S.fx.cert_dir)
        self.assertEqual(got[0], ALPHA.digest)
        path = "https://%s/v2/acc/alpha/manifests/1.2.3" % S.host
        rc, code, hdrs, _, err = curl(path, S.fx.ca_file, headers=["Accept: " + rt.OCI_MANIFEST])
        self.assertEqual((rc, code), (0, 200), err)
        self.assertEqual(hdrs.get("docker-content-digest"), ALPHA.digest)
        # The registry's certificate is verified for real: a CA it is not from fails.
        other_ca, _ = rt.make_ca(os.path.join(S.tmp, "other-ca"), name="unrelated-ca")
        rc, _, _, _, err = curl(path, other_ca)
        self.assertEqual(rc, 60, "curl trusting an unrelated CA: " + err)

    def test_2_the_tunnel_proxy_relays_and_shows_the_servers_own_certificate(self):
        ip = S.ns_ip
        cert = nf.peer_certificate(ip, nf.TLS_SERVER_PORT, self.proxy.port, S.fx.ca_file)
        self.assertEqual(common_name(cert, "issuer"), "proxy-mode-test-ca")
        self.assertEqual(common_name(cert, "subject"), "plain-tls-server")
        self.assertIn(S.fx.tls_server_host, self.proxy.connects())

    def test_3_dockerd_sends_a_non_loopback_registry_through_https_proxy(self):
        # Every test image, by its real name, with the checks ProxyMode makes.
        dockerd = start_dockerd(self, "dkd-check", self.proxy.url, self.bundle)
        before, failures = self.proxy.count(S.host), []
        docker_pull_all(dockerd, failures, "dockerd through the tunnel proxy")
        assert_no_failures(self, failures)
        self.assertGreater(self.proxy.count(S.host), before,
                           "dockerd did not CONNECT through HTTPS_PROXY: %r"
                           % self.proxy.connects())

    def test_4_ctr_sends_a_non_loopback_registry_through_https_proxy(self):
        before, failures = self.proxy.count(S.host), []
        ctr_pull_all({"HTTPS_PROXY": self.proxy.url, "SSL_CERT_FILE": self.bundle}, failures,
                     "ctr through the tunnel proxy")
        assert_no_failures(self, failures)
        self.assertGreater(self.proxy.count(S.host), before,
                           "ctr did not CONNECT through HTTPS_PROXY: %r" % self.proxy.connects())

    def test_6_the_setup_script_checker_passes_a_good_script_and_fails_bad_ones(self):
        with open(S.fx.ca_file, "rb") as f:
            ca = f.read()
        proxy = "http://regcache.internal:3128"
        good = reference_setup_script(proxy, ca)
        SetupScript(os.path.join(S.tmp, "setup-good")).check(self, good, ca, proxy)
        bad = {"wrong proxy": good.replace(proxy.encode(), b"http://elsewhere:3128"),
               "restart before daemon-reload": good.replace(b"systemctl daemon-reload\n", b"")
               + b"systemctl daemon-reload\n",
               "fetches the CA": good.replace(b'"$update"', b'curl -o "$ca" x; "$update"'),
               "CA not byte for byte": good.replace(b"PEM\n\"$update\"", b"\nPEM\n\"$update\""),
               "syntax error": good + b"if then\n"}
        for i, (what, script) in enumerate(sorted(bad.items())):
            with self.subTest(what):
                self.assertNotEqual(script, good)
                with self.assertRaises(AssertionError):
                    SetupScript(os.path.join(S.tmp, "setup-bad%d" % i)).check(self, script, ca,
                                                                             proxy)

    def test_5_a_namespace_left_by_a_killed_run_is_removed(self):
        gone = subprocess.Popen(["true"])
        gone.wait()                     # a pid that is no running process now
        name = "%s%d" % (nf.PREFIX, gone.pid)
        subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
        self.addCleanup(subprocess.run, ["ip", "netns", "del", name], stderr=subprocess.DEVNULL,
                        timeout=30)
        self.assertIn(name, nf.remove_stale())
        self.assertNotIn(name, nf._namespaces())
        self.assertIn(S.fx.ns.name, nf._namespaces(), "a live run's namespace was removed")

# ----------------------------------------------------------------------------
# regcache's proxy mode: handshakes


class ProxyHandshakes(unittest.TestCase):
    """A regcache of its own (a fresh process: no leaf made yet) with a short handshake
    timeout and every other timeout far longer."""

    @classmethod
    def setUpClass(cls):
        cls.rc = start_regcache("handshakes", [
            "--tls-handshake-timeout-ms", str(HANDSHAKE_TIMEOUT_MS),
            "--header-timeout-ms", str(OTHER_TIMEOUTS_MS),
            "--idle-timeout-ms", str(OTHER_TIMEOUTS_MS)])
        cls.ca = fetch_ca(cls.rc, os.path.join(S.tmp, "handshakes-ca.crt"))

    @classmethod
    def tearDownClass(cls):
        cls.rc.stop()

    def test_1_sixteen_concurrent_first_connections_make_one_leaf_certificate(self):
        self.assertIn(metric_total(self.rc, LEAF_METRIC), (None, 0.0),
                      "a leaf was made before the first connection")
        results = [None] * BURST
        gate = threading.Barrier(BURST)

        def one(i):
            try:
                gate.wait(30)
                results[i] = nf.peer_certificate(S.ns_ip, nf.REGISTRY_PORT, self.rc.port,
                                                 self.ca, timeout=60)
            except Exception as e:  # noqa: BLE001 - asserted below
                results[i] = e
        threads = [threading.Thread(target=one, args=(i,)) for i in range(BURST)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(any(t.is_alive() for t in threads), "a handshake hung")
        errors = [r for r in results if isinstance(r, Exception)]
        self.assertEqual(errors, [], "handshakes not verified against regcache's CA")
        serials = {r["serialNumber"] for r in results}
        self.assertEqual(len(serials), 1, "several leaf certificates served: %r" % serials)
        self.assertIn(("IP Address", S.ns_ip), results[0].get("subjectAltName", ()))
        self.assertEqual(metric_total(self.rc, LEAF_METRIC), 1.0)

    def test_2_garbage_half_and_silent_handshakes_do_not_stop_other_clients(self):
        target = S.host
        garbage = connect_raw(self.rc.port, target)
        self.addCleanup(garbage.close)
        garbage.sendall(b"\x16\x03\x01\x00\x10" + b"not a client hello at all" * 40)
        half = connect_raw(self.rc.port, target)
        hello = client_hello(S.ns_ip)
        half.sendall(hello[:len(hello) // 2])
        half.close()                                    # gone mid-handshake
        silent = connect_raw(self.rc.port, target)      # CONNECT answered, then nothing
        self.addCleanup(silent.close)
        # Another client, meanwhile: a verified handshake and a manifest.
        cert = nf.peer_certificate(S.ns_ip, nf.REGISTRY_PORT, self.rc.port, self.ca)
        self.assertEqual(common_name(cert, "issuer"), pem_subject_cn(self.ca))
        rc, code, hdrs, _, err = curl("https://%s/v2/acc/alpha/manifests/1.2.3" % S.host,
                                      self.ca, proxy=self.rc.url,
                                      headers=["Accept: " + rt.OCI_MANIFEST])
        self.assertEqual((rc, code), (0, 200), err)
        self.assertEqual(hdrs.get("docker-content-digest"), ALPHA.digest)
        self.assertTrue(closed_within(garbage, SILENT_CLOSE_BOUND_S),
                        "the connection that sent garbage was not closed")
        self.assertTrue(closed_within(silent, SILENT_CLOSE_BOUND_S),
                        "the silent client was not closed within %d s (handshake timeout %d ms, "
                        "other timeouts %d ms)" % (SILENT_CLOSE_BOUND_S, HANDSHAKE_TIMEOUT_MS,
                                                   OTHER_TIMEOUTS_MS))
        self.assertTrue(self.rc.alive(), "regcache exited")
        nf.peer_certificate(S.ns_ip, nf.REGISTRY_PORT, self.rc.port, self.ca)

# ----------------------------------------------------------------------------
# regcache's proxy mode: clients


class SetupScript:
    """The contract of GET /setup/systemd (the lead implements the endpoint to it):

    * 200, a POSIX sh script starting with `#!/bin/sh`; `sh -n` accepts it.
    * The proxy address in it is `http://<the request's Host header>`; a Host that is not a
      plain host[:port] (it would be pasted into a shell script) gets 400.
    * It carries the CA itself (the PEM of /ca.crt) and fetches nothing: no curl, no wget.
    * Every path it writes is below $REGCACHE_SETUP_ROOT (default: /). It writes
        ROOT/etc/systemd/system/docker.service.d/http-proxy.conf
        ROOT/etc/systemd/system/containerd.service.d/http-proxy.conf
      each with a `[Service]` section whose Environment= lines set HTTPS_PROXY to that
      address (a trailing / allowed) and NO_PROXY to a list containing localhost and
      127.0.0.1;
      and the CA, byte for byte as /ca.crt, to
        ROOT/etc/pki/ca-trust/source/anchors/regcache.crt, then runs `update-ca-trust`,
          if ROOT/etc/pki/ca-trust/source/anchors is a directory (Fedora, RHEL), else
        ROOT/usr/local/share/ca-certificates/regcache.crt (creating the directory), then
          runs `update-ca-certificates` (Debian, Ubuntu);
      then runs `systemctl daemon-reload` and restarts docker and containerd with
      `systemctl restart` (one call or two; `docker` or `docker.service`), each only if
      systemd has the unit: it may ask systemctl first, by exit status only (`systemctl cat
      docker.service >/dev/null`, say;
      the recorders here answer 0 to everything, so both count as installed), and a host
      without docker (a kind node) must not make the script fail.
    * Commands are found through PATH (no absolute paths), so the test's recorders run.
    * It exits 0 when every command it runs succeeds.
    """

    RECORDED = ("systemctl", "update-ca-certificates", "update-ca-trust", "curl", "wget")

    def __init__(self, workdir):
        self.dir = workdir
        self.bin = os.path.join(workdir, "bin")
        self.log = os.path.join(workdir, "commands.log")
        os.makedirs(self.bin, exist_ok=True)
        for name in self.RECORDED:
            p = os.path.join(self.bin, name)
            fails = name in ("curl", "wget")
            with open(p, "w") as f:
                f.write('#!/bin/sh\necho "%s $*" >> %s\nexit %d\n' % (name, shlex.quote(self.log),
                                                                    1 if fails else 0))
            os.chmod(p, 0o755)

    def check(self, test, script, ca, proxy_url):
        """Asserts (with `test`) everything of the contract above but the Host rule, for the
        script's bytes, the CA's PEM bytes and the proxy address the script must set."""
        test.assertTrue(script.startswith(b"#!/bin/sh"), script[:100])
        path = os.path.join(self.dir, "setup.sh")
        with open(path, "wb") as f:
            f.write(script)
        syntax = subprocess.run(["sh", "-n", path], stderr=subprocess.PIPE, timeout=30)
        test.assertEqual(syntax.returncode, 0, syntax.stderr.decode())

        debian = os.path.join(self.dir, "root-debian")
        os.makedirs(debian)
        r, commands = self.run(path, debian)
        test.assertEqual(r.returncode, 0, (r.stdout + r.stderr).decode(errors="replace"))
        for unit in ("docker", "containerd"):
            dropin = os.path.join(debian, "etc/systemd/system/%s.service.d/http-proxy.conf" % unit)
            env = environment_of(rt.read_text(dropin))
            test.assertEqual(env.get("HTTPS_PROXY", "").rstrip("/"), proxy_url,
                             "%s: %r" % (dropin, env))
            no_proxy = env.get("NO_PROXY", "").split(",")
            test.assertTrue({"localhost", "127.0.0.1"} <= set(no_proxy), "%s: %r" % (dropin, env))
        with open(os.path.join(debian, "usr/local/share/ca-certificates/regcache.crt"), "rb") as f:
            test.assertEqual(f.read(), ca)
        test.assertIn("update-ca-certificates", [c.split()[0] for c in commands], commands)
        self.check_commands(test, commands)

        rhel = os.path.join(self.dir, "root-rhel")
        os.makedirs(os.path.join(rhel, "etc/pki/ca-trust/source/anchors"))
        r, commands = self.run(path, rhel)
        test.assertEqual(r.returncode, 0, (r.stdout + r.stderr).decode(errors="replace"))
        with open(os.path.join(rhel, "etc/pki/ca-trust/source/anchors/regcache.crt"), "rb") as f:
            test.assertEqual(f.read(), ca)
        test.assertFalse(os.path.exists(os.path.join(rhel, "usr/local/share/ca-certificates")))
        test.assertIn("update-ca-trust", [c.split()[0] for c in commands], commands)
        self.check_commands(test, commands)

    @staticmethod
    def check_commands(test, commands):
        calls = [c.split()[1:] for c in commands if c.split()[0] == "systemctl"]
        test.assertIn(["daemon-reload"], calls, commands)
        restarted = {u.replace(".service", "") for c in calls if c[:1] == ["restart"]
                     for u in c[1:]}
        test.assertTrue({"docker", "containerd"} <= restarted, commands)
        test.assertEqual([c for c in commands if c.split()[0] in ("curl", "wget")], [],
                         "the script fetched something")
        reload_at = commands.index("systemctl daemon-reload")
        first_restart = min(i for i, c in enumerate(commands) if c.startswith("systemctl restart"))
        test.assertLess(reload_at, first_restart, "restart before daemon-reload: %r" % commands)

    def run(self, script_path, root):
        if os.path.exists(self.log):
            os.unlink(self.log)
        env = at.clean_env(REGCACHE_SETUP_ROOT=root, PATH=self.bin + ":/usr/bin:/bin")
        r = subprocess.run(["sh", script_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, timeout=60)
        return r, rt.read_text(self.log).splitlines()


def reference_setup_script(proxy_url, ca_pem):
    """A script that keeps SetupScript's contract (for the self-check of the checker; regcache
    need not produce these bytes)."""
    return ("""#!/bin/sh
set -eu
ROOT="${REGCACHE_SETUP_ROOT:-}"
for unit in docker containerd; do
  mkdir -p "$ROOT/etc/systemd/system/$unit.service.d"
  cat > "$ROOT/etc/systemd/system/$unit.service.d/http-proxy.conf" <<'CONF'
[Service]
Environment="HTTPS_PROXY=%s" "NO_PROXY=localhost,127.0.0.1"
CONF
done
if [ -d "$ROOT/etc/pki/ca-trust/source/anchors" ]; then
  ca="$ROOT/etc/pki/ca-trust/source/anchors/regcache.crt"; update=update-ca-trust
else
  mkdir -p "$ROOT/usr/local/share/ca-certificates"
  ca="$ROOT/usr/local/share/ca-certificates/regcache.crt"; update=update-ca-certificates
fi
cat > "$ca" <<'PEM'
%sPEM
"$update"
systemctl daemon-reload
for unit in containerd docker; do
  if systemctl cat "$unit.service" >/dev/null 2>&1; then systemctl restart "$unit.service"; fi
done
""" % (proxy_url, ca_pem.decode())).encode()


def environment_of(dropin_text):
    """{NAME: value} of the Environment= lines of a systemd unit file's [Service] section."""
    env, section = {}, None
    for line in dropin_text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line.startswith("Environment="):
            for word in shlex.split(line[len("Environment="):]):
                if "=" in word:
                    k, v = word.split("=", 1)
                    env[k] = v
    return env


class ProxyMode(unittest.TestCase):
    """One regcache (`proxy`) with the namespace registry as its configured upstream."""

    @classmethod
    def setUpClass(cls):
        cls.rc = start_regcache("proxy")
        cls.ca = fetch_ca(cls.rc, os.path.join(S.tmp, "proxy-ca.crt"))
        cls.ca_dir = cert_dir_with(S.tmp, "proxy-ca-dir", cls.ca)
        cls.bundle = nf.ca_bundle(os.path.join(S.tmp, "bundle-regcache-ca.pem"), cls.ca)

    @classmethod
    def tearDownClass(cls):
        cls.rc.stop()

    def manifest_and_blob(self):
        """curl through regcache: alpha's manifest and its second layer. Returns the list of
        what was wrong."""
        wrong = []
        rc, code, hdrs, body, err = curl(
            "https://%s/v2/acc/alpha/manifests/1.2.3" % S.host, self.ca, proxy=self.rc.url,
            headers=["Accept: " + rt.OCI_MANIFEST])
        if (rc, code) != (0, 200) or hdrs.get("docker-content-digest") != ALPHA.digest:
            wrong.append("manifest: curl %d, HTTP %d, digest %r: %s" % (
                rc, code, hdrs.get("docker-content-digest"), err))
        elif rt.sha256_bytes(body) != ALPHA.digest:
            wrong.append("manifest body hashes to %s" % rt.sha256_bytes(body))
        rc, code, _, body, err = curl("https://%s/v2/acc/alpha/blobs/%s" % (S.host, S.alpha_layer),
                                      self.ca, proxy=self.rc.url)
        if (rc, code) != (0, 200) or rt.sha256_bytes(body) != S.alpha_layer:
            wrong.append("blob: curl %d, HTTP %d, %d bytes hashing to %s: %s" % (
                rc, code, len(body), rt.sha256_bytes(body), err))
        return wrong

    def test_01_ca_crt_is_the_ca_file_in_the_ca_dir(self):
        ca_dir = os.path.join(self.rc.cache_dir, "ca")
        with open(os.path.join(ca_dir, "ca.crt"), "rb") as f:
            self.assertEqual(self.rc.get("/ca.crt").body, f.read())
        mode = stat.S_IMODE(os.stat(os.path.join(ca_dir, "ca.key")).st_mode)
        self.assertEqual(mode, 0o600, "ca.key mode %o" % mode)
        r = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", self.ca],
                           stdout=subprocess.PIPE, timeout=30)
        self.assertIn("CA:TRUE", r.stdout.decode())

    def test_02_curl_gets_manifest_and_blob_through_regcache_and_again_with_registry_down(self):
        self.assertEqual(self.manifest_and_blob(), [])
        cert = nf.peer_certificate(S.ns_ip, nf.REGISTRY_PORT, self.rc.port, self.ca)
        self.assertEqual(common_name(cert, "issuer"), pem_subject_cn(self.ca))
        self.assertIn(("IP Address", S.ns_ip), cert.get("subjectAltName", ()))
        # Not the registry's own certificate: the test CA does not verify what curl is shown.
        rc, _, _, _, err = curl("https://%s/v2/" % S.host, S.fx.ca_file, proxy=self.rc.url)
        self.assertEqual(rc, 60, "curl trusting the registry's CA through regcache: " + err)
        with S.registry_stopped():
            self.assertEqual(self.manifest_and_blob(), [], "with the registry stopped")

    def test_02b_paths_outside_the_registry_api_are_relayed_to_the_registry_host(self):
        # Not regcache's own endpoints (its /ca.crt is the plain port's) and not a mirror
        # route: the registry's own answer, as a direct request gets it.
        for path in ("/", "/ca.crt", "/no/such/page"):
            url = "https://%s%s" % (S.host, path)
            rc, direct, _, direct_body, err = curl(url, S.fx.ca_file)
            self.assertEqual(rc, 0, err)
            rc, proxied, _, body, err = curl(url, self.ca, proxy=self.rc.url)
            self.assertEqual(rc, 0, err)
            self.assertEqual((proxied, body), (direct, direct_body), path)
        self.assertNotIn(b"BEGIN CERTIFICATE", body)

    def test_03_a_non_registry_tls_server_is_tunnelled_with_its_own_certificate(self):
        url = "https://%s/" % S.fx.tls_server_host
        rc, code, _, _, err = curl(url, S.fx.ca_file, proxy=self.rc.url)
        self.assertEqual((rc, code), (0, 200), err)
        cert = nf.peer_certificate(S.ns_ip, nf.TLS_SERVER_PORT, self.rc.port, S.fx.ca_file)
        self.assertEqual(common_name(cert, "subject"), "plain-tls-server")
        rc, _, _, _, err = curl(url, self.ca, proxy=self.rc.url)
        self.assertEqual(rc, 60, "curl trusting regcache's CA for a tunnelled host: " + err)

    def test_04_a_restart_keeps_the_ca(self):
        before = self.rc.get("/ca.crt").body
        self.rc.stop()
        self.rc.start()
        self.assertEqual(self.rc.get("/ca.crt").body, before)
        nf.peer_certificate(S.ns_ip, nf.REGISTRY_PORT, self.rc.port, self.ca)

    def setup_script(self, host):
        conn = http.client.HTTPConnection("127.0.0.1", self.rc.port, timeout=30)
        try:
            conn.putrequest("GET", "/setup/systemd", skip_host=True)
            conn.putheader("Host", host)
            conn.endheaders()
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def test_05_setup_systemd_writes_the_drop_ins_and_the_ca_below_the_setup_root(self):
        status, script = self.setup_script("regcache.internal:3128")
        self.assertEqual(status, 200, script[:300])
        SetupScript(os.path.join(S.tmp, "setup")).check(
            self, script, self.rc.get("/ca.crt").body, "http://regcache.internal:3128")
        status, _ = self.setup_script("x$(touch /tmp/regcache-pwned)")
        self.assertEqual(status, 400, "a Host with shell syntax in it")

    def test_06_skopeo_copies_every_image_through_regcache_with_identical_digests(self):
        failures = []
        for t in TAGS:
            direct = skopeo_pull(t, layout_of("direct"), S.fx.cert_dir)
            try:
                proxied = skopeo_pull(t, layout_of("proxied"), self.ca_dir, proxy=self.rc.url)
            except rt.SkopeoError as e:
                failures.append("%r through regcache: %s" % (t, e))
                continue
            if proxied != direct:
                failures.append("%r: through regcache %r, direct %r" % (t, proxied, direct))
        assert_no_failures(self, failures)

    def test_07_dockerd_pulls_by_real_name_and_again_from_cache_with_the_registry_down(self):
        dockerd = start_dockerd(self, "dkd-proxy", self.rc.url, self.bundle)
        failures = []
        docker_pull_all(dockerd, failures, "dockerd")
        assert_no_failures(self, failures)
        dockerd.remove_all()
        with S.registry_stopped():
            docker_pull_all(dockerd, failures, "dockerd, registry stopped")
        assert_no_failures(self, failures)

    def test_08_ctr_pulls_by_real_name_and_again_from_cache_with_the_registry_down(self):
        env = {"HTTPS_PROXY": self.rc.url, "SSL_CERT_FILE": self.bundle}
        failures = []
        ctr_pull_all(env, failures, "ctr")
        assert_no_failures(self, failures)
        with S.registry_stopped():
            ctr_pull_all(env, failures, "ctr, registry stopped")
        assert_no_failures(self, failures)


    def test_09_ctr_trusting_regcaches_ca_from_hosts_toml_instead_of_ssl_cert_file(self):
        # The node configuration of Kubernetes: certs.d/<host:port>/hosts.toml names the CA.
        hosts = os.path.join(S.tmp, "hosts-proxy")
        d = os.path.join(hosts, S.host)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "hosts.toml"), "w") as f:
            f.write('server = "https://%s"\n\n[host."https://%s"]\n  capabilities = ["pull", '
                    '"resolve"]\n  ca = "%s"\n' % (S.host, S.host, self.ca))
        ns = S.containerd.fresh_namespace()
        res = S.containerd.pull(ns, ALPHA.ref(S.host), hosts_dir=hosts,
                                env={"HTTPS_PROXY": self.rc.url})
        self.assertEqual(res.returncode, 0, text(res))
        self.assertEqual(S.containerd.digests(ns).get(ALPHA.ref(S.host)), ALPHA.digest)


if __name__ == "__main__":
    rt.main()
