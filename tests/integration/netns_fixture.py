"""A network namespace for the proxy-mode tests: upstreams at a non-loopback address.

Go clients (dockerd, containerd's ctr, skopeo) never send requests for loopback addresses or
`localhost` through HTTPS_PROXY, so a registry on 127.0.0.1 cannot show that they use a proxy.
This module makes a private one for a test run (root only):

  * a network namespace `rcns<pid>` with its loopback up, and a veth pair `rcv<pid>r` (root
    side) / `rcv<pid>n` (namespace side) on a private /30 of 10.232.0.0/16 chosen from the pid
    (root side .1, namespace side .2; another /30 if that one is in use);
  * a test CA and, inside the namespace, a TLS docker-registry on NS_IP:5000 (certificate with
    SAN IP:NS_IP) and a non-registry TLS server (openssl s_server -www) on NS_IP:443 with its
    own certificate (a host a proxy must tunnel, not intercept);
  * TunnelProxy: a CONNECT-only proxy on 127.0.0.1 run by the test process, counting the
    CONNECTs it relays, so a test can show that a client's traffic went to a proxy at all.

Cleanup: every process is stopped by its PID (regtest.Proc), then the namespace is deleted
(which removes the veth pair), from stop(), from an atexit hook and on SIGTERM; a namespace of
this prefix whose pid is not a running process is left over from a run that was killed, and is
removed (with the processes still inside it) when the next fixture starts.
"""

import atexit
import os
import re
import select
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402

PREFIX = "rcns"
REGISTRY_PORT = 5000
TLS_SERVER_PORT = 443
SUBNET_TRIES = 64          # /30s tried after the pid's own one is found in use
PROXY_HEAD_MAX = 16 * 1024
TUNNEL_IDLE_S = 60
TUNNEL_MAX_S = 900         # longer than any test file runs


def _ip(args, check=True):
    r = subprocess.run(["ip"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
    return r


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _namespaces():
    out = _ip(["netns", "list"], check=False).stdout.decode()
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _delete_namespace(name):
    """Kills what still runs inside `name` (SIGKILL by PID), then deletes it."""
    pids = _ip(["netns", "pids", name], check=False).stdout.decode().split()
    for p in pids:
        try:
            os.kill(int(p), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    _ip(["netns", "del", name], check=False)


def remove_stale(prefix=PREFIX):
    """Removes namespaces `<prefix><pid>` whose pid is no running process (a run that was
    killed before its cleanup ran). A live pid's namespace is another run's: left alone."""
    removed = []
    for name in _namespaces():
        m = re.fullmatch(re.escape(prefix) + r"(\d+)", name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            _delete_namespace(name)
            _ip(["link", "del", "rcv%sr" % m.group(1)], check=False)
            removed.append(name)
    return removed


def _addresses_in_use():
    out = _ip(["-4", "-o", "addr", "show"], check=False).stdout.decode()
    return set(re.findall(r"inet (\d+\.\d+\.\d+)\.(\d+)/", out))


def _pick_subnet(pid):
    """The /30 of 10.232.0.0/16 for this pid: third octet pid % 250, fourth from pid / 250;
    the next ones if an interface already has an address there (two runs whose pids agree)."""
    used = {(a, int(b) // 4) for a, b in _addresses_in_use()}
    for i in range(SUBNET_TRIES):
        n = pid + i     # (n % 250, n // 250 % 64) differs for 16000 consecutive n
        third, block = n % 250, (n // 250) % 64
        if ("10.232.%d" % third, block) not in used:
            return "10.232.%d.%d" % (third, block * 4)
    raise RuntimeError("no free /30 in 10.232.0.0/16 after %d tries" % SUBNET_TRIES)


class NetNamespace:
    """The namespace, its veth pair and the servers run inside it."""

    def __init__(self, workdir, prefix=PREFIX):
        self.workdir = workdir
        self.pid = os.getpid()
        self.name = "%s%d" % (prefix, self.pid)
        self.prefix = prefix
        self.veth_root = "rcv%dr" % self.pid
        self.veth_ns = "rcv%dn" % self.pid
        self.root_ip = self.ns_ip = None
        self.procs = []
        self.up = False

    def start(self):
        remove_stale(self.prefix)
        if self.name in _namespaces():      # this very process made it before: start over
            _delete_namespace(self.name)
        net = _pick_subnet(self.pid)
        base = net.rsplit(".", 1)
        self.root_ip = "%s.%d" % (base[0], int(base[1]) + 1)
        self.ns_ip = "%s.%d" % (base[0], int(base[1]) + 2)
        atexit.register(self.stop)
        _stop_on_sigterm()
        self.up = True
        _ip(["netns", "add", self.name])
        _ip(["link", "add", self.veth_root, "type", "veth", "peer", "name", self.veth_ns])
        _ip(["link", "set", self.veth_ns, "netns", self.name])
        _ip(["addr", "add", self.root_ip + "/30", "dev", self.veth_root])
        _ip(["link", "set", self.veth_root, "up"])
        self.exec_ip(["addr", "add", self.ns_ip + "/30", "dev", self.veth_ns])
        self.exec_ip(["link", "set", self.veth_ns, "up"])
        self.exec_ip(["link", "set", "lo", "up"])
        return self

    def exec_prefix(self):
        """The command prefix that runs a program inside the namespace (`ip netns exec`
        execs it: the PID is the program's own)."""
        return ["ip", "netns", "exec", self.name]

    def exec_ip(self, args):
        return _ip(["netns", "exec", self.name, "ip"] + list(args))

    def proc(self, args, label):
        """A regtest.Proc running `args` in the namespace, stopped by stop() at the latest."""
        log = os.path.join(self.workdir, re.sub(r"[^A-Za-z0-9]+", "-", label) + ".log")
        p = rt.Proc(self.exec_prefix() + list(args), log, label)
        self.procs.append(p)
        return p

    def stop(self):
        if not self.up:
            return
        self.up = False
        for p in self.procs:
            p.stop(signal.SIGTERM, timeout=10)
        self.procs = []
        _delete_namespace(self.name)
        _ip(["link", "del", self.veth_root], check=False)   # gone with the namespace, normally


def _on_sigterm(signum, _frame):
    # Not sys.exit(): unittest would record the SystemExit as one test's error and go on with
    # the next test. Every process still running is first stopped the way its test would have
    # stopped it (SIGTERM, bounded; the latest started first: dockerd before its containerd),
    # since a SIGKILLed dockerd leaves its data root mounted; then the atexit hooks remove the
    # namespace and the temp dirs.
    for p in reversed(list(rt._live_procs)):
        p.stop(signal.SIGTERM, timeout=15)
    atexit._run_exitfuncs()
    os._exit(128 + signum)


def _stop_on_sigterm():
    """SIGTERM (ctest's timeout, a kill) cleans up and exits at once."""
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)

# ----------------------------------------------------------------------------
# the servers inside


class Fixture:
    """NetNamespace + test CA + TLS docker-registry + non-registry TLS server, all inside."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.ns = NetNamespace(workdir)
        self.registry = None
        self.tls_server = None

    def start(self):
        self.ns.start()
        ip = self.ns.ns_ip
        self.ca_file, self.ca_key = rt.make_ca(os.path.join(self.workdir, "test-ca"),
                                               name="proxy-mode-test-ca")
        # skopeo's --*-cert-dir: every *.crt in it is a CA to trust.
        self.cert_dir = os.path.join(self.workdir, "test-ca-dir")
        os.makedirs(self.cert_dir, exist_ok=True)
        with open(self.ca_file, "rb") as src, open(os.path.join(self.cert_dir, "ca.crt"),
                                                   "wb") as dst:
            dst.write(src.read())
        reg_tls = rt.make_server_cert(os.path.join(self.workdir, "certs"), self.ca_file,
                                      self.ca_key, name="registry", san="IP:%s" % ip)
        self.registry = rt.Registry(self.workdir, name="ns-registry", tls=reg_tls,
                                    ca_file=self.ca_file, port=REGISTRY_PORT, bind=ip,
                                    exec_prefix=self.ns.exec_prefix())
        self.registry.start()
        self.server_cert, self.server_key = rt.make_server_cert(
            os.path.join(self.workdir, "certs"), self.ca_file, self.ca_key,
            name="plain-tls-server", san="IP:%s" % ip)
        self.start_tls_server()
        return self

    @property
    def registry_host(self):
        return self.registry.host

    @property
    def tls_server_host(self):
        return "%s:%d" % (self.ns.ns_ip, TLS_SERVER_PORT)

    def start_tls_server(self):
        self.tls_server = self.ns.proc(
            ["openssl", "s_server", "-quiet", "-www", "-accept",
             "%s:%d" % (self.ns.ns_ip, TLS_SERVER_PORT), "-cert", self.server_cert, "-key",
             self.server_key], "tls-server in " + self.ns.name)
        ctx = rt.ssl_context_for_ca(self.ca_file)

        def handshakes():
            if not self.tls_server.alive():
                raise rt.PollAbort("openssl s_server exited with %r" % self.tls_server.returncode)
            with socket.create_connection((self.ns.ns_ip, TLS_SERVER_PORT), timeout=2) as s:
                with ctx.wrap_socket(s, server_hostname=self.ns.ns_ip):
                    return True
        rt.poll(handshakes, 30, interval=0.1, what="the namespace's TLS server")

    def stop_registry(self):
        self.registry.stop()

    def start_registry(self):
        self.registry.start()

    def push(self, layout, ref, repo, tag, all_images=False, preserve_digests=True, extra=()):
        """skopeo straight from the root namespace to the namespace registry, trusting the
        test CA (no proxy)."""
        return rt.skopeo_copy("oci:%s:%s" % (layout, ref), "docker://%s/%s:%s" % (
            self.registry_host, repo, tag), all_images=all_images,
            preserve_digests=preserve_digests, extra=["--dest-cert-dir", self.cert_dir]
            + list(extra))

    def stop(self):
        self.ns.stop()      # every process inside, by PID, then the namespace


def ca_bundle(path, *ca_files):
    """A PEM bundle of the system's CAs plus `ca_files` (for SSL_CERT_FILE, which replaces the
    system store in Go and OpenSSL rather than adding to it)."""
    parts = []
    for p in ("/etc/ssl/certs/ca-certificates.crt",) + ca_files:
        with open(p, "rb") as f:
            parts.append(f.read().rstrip(b"\n") + b"\n")
    with open(path, "wb") as f:
        f.write(b"".join(parts))
    return path

# ----------------------------------------------------------------------------
# a CONNECT-only proxy that counts


class TunnelProxy:
    """CONNECT host:port -> 200, then bytes relayed both ways; anything else -> 405. Records
    every CONNECT target (connects() / count()). Threads in the test process; stop() is
    idempotent and also runs at exit."""

    def __init__(self):
        self._lock = threading.Lock()
        self._targets = []
        self._server = None
        self._thread = None
        self.port = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                proxy._handle(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        atexit.register(self.stop)
        return self

    def stop(self):
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            self._thread.join(10)

    def connects(self):
        with self._lock:
            return list(self._targets)

    def count(self, target):
        return sum(1 for t in self.connects() if t == target)

    def _handle(self, client):
        client.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < PROXY_HEAD_MAX:   # bounded by the size
            b = client.recv(4096)
            if not b:
                return
            head += b
        line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(line) != 3 or line[0] != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n"
                           b"Connection: close\r\n\r\n")
            return
        target = line[1]
        with self._lock:
            self._targets.append(target)
        host, _, port = target.rpartition(":")
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        except (OSError, ValueError):
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        with upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            rest = head.split(b"\r\n\r\n", 1)[1]
            if rest:
                upstream.sendall(rest)
            _relay(client, upstream)


def _relay(a, b):
    """Copies both ways until one side closes, nothing moves for TUNNEL_IDLE_S, or the tunnel
    is TUNNEL_MAX_S old."""
    peers = {a: b, b: a}
    deadline = time.monotonic() + TUNNEL_MAX_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([a, b], [], [], TUNNEL_IDLE_S)
        if not ready:
            return
        for s in ready:
            try:
                data = s.recv(65536)
            except OSError:
                return
            if not data:
                return
            try:
                peers[s].sendall(data)
            except OSError:
                return


def peer_certificate(host, port, proxy_port, ca_file, timeout=10):
    """Through the HTTP proxy on 127.0.0.1:proxy_port: CONNECT host:port, then a TLS
    handshake verified against ca_file (server name = host). Returns the verified peer
    certificate as ssl's dict. Raises on a refused CONNECT or a failed verification."""
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=timeout)
    try:
        s.sendall(("CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host, port, host, port))
                  .encode())
        head = b""
        while b"\r\n\r\n" not in head and len(head) < PROXY_HEAD_MAX:
            b = s.recv(1)       # one byte at a time: nothing of the TLS stream is read here
            if not b:
                raise ConnectionError("proxy closed the connection after CONNECT")
            head += b
        status = head.split(b"\r\n", 1)[0].decode("latin-1")
        if " 200" not in status:
            raise ConnectionError("CONNECT %s:%d answered %r" % (host, port, status))
        ctx = ssl.create_default_context(cafile=ca_file)
        with ctx.wrap_socket(s, server_hostname=host) as tls:
            return tls.getpeercert()
    finally:
        s.close()
