"""Shared helpers for regcache's integration tests and its benchmark harness.

Standard library only (Debian 12's python3). Everything runs on 127.0.0.1:
real docker-registry upstreams (CNCF distribution 2.8), real skopeo and curl
clients, and the regcache binary under test.

Rules kept here for every test file:
  * every server listens on 127.0.0.1 on a free port with its storage in a temp dir;
  * every server runs in its own process group and is stopped by its PID (and
    that group) when the test ends, also on failure (stop(), plus an atexit hook);
  * every wait/poll loop is bounded in count and in time;
  * on a failing test, the tails of every server log are printed (see main()).
"""

import atexit
import hashlib
import http.client
import json
import os
import random
import select
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

# ----------------------------------------------------------------------------
# media types

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ALL_MANIFEST_TYPES = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])

MiB = 1 << 20
KiB = 1 << 10

# ----------------------------------------------------------------------------
# small utilities

def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256_bytes(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_file(path, chunk=4 * MiB):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return "sha256:" + h.hexdigest()


def tail(text, lines=40):
    parts = text.splitlines()
    return "\n".join(parts[-lines:])


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def under_address_sanitizer(pid):
    """True when the process runs with AddressSanitizer (tools/test's second suite), whose
    shadow memory makes absolute memory bounds meaningless (differences still hold)."""
    with open("/proc/%d/maps" % pid) as maps:
        return "libasan" in maps.read()


def mkdtemp(prefix="regcache-it-"):
    """A temp dir removed at exit unless REGTEST_KEEP=1 is set."""
    d = tempfile.mkdtemp(prefix=prefix)
    if os.environ.get("REGTEST_KEEP") != "1":
        atexit.register(shutil.rmtree, d, True)
    else:
        print("regtest: keeping %s" % d, file=sys.stderr)
    return d


class PollAbort(RuntimeError):
    """Raised by a poll() condition to stop waiting at once (e.g. the server died)."""


def poll(fn, timeout, interval=0.05, what="condition"):
    """Calls fn() until it returns a truthy value; at most `timeout` seconds and a bounded
    number of tries. Returns that value, or raises TimeoutError. Exceptions from fn() count
    as "not yet", except PollAbort, which propagates."""
    deadline = time.monotonic() + timeout
    tries = max(1, int(timeout / interval) + 1)
    last_exc = None
    for _ in range(tries):
        try:
            v = fn()
            if v:
                return v
        except PollAbort:
            raise
        except Exception as e:  # noqa: BLE001 - reported below
            last_exc = e
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise TimeoutError("timed out after %.1fs waiting for %s (last error: %r)" % (timeout, what, last_exc))

# ----------------------------------------------------------------------------
# processes

_live_procs = []          # every Proc started and not yet stopped (atexit kills them)
_log_sources = []         # (label, path) of every log ever written, for diagnostics
_lock = threading.Lock()


def _kill_all_at_exit():
    for p in list(_live_procs):
        try:
            p.kill()
        except Exception:  # noqa: BLE001
            pass


atexit.register(_kill_all_at_exit)


def register_log(label, path, keep=None):
    """keep(line) -> bool selects the lines shown on failure (default: all)."""
    with _lock:
        _log_sources.append((label, path, keep))


def dump_logs(stream=None, lines=30, only=None):
    """Prints the tail of every server log of this process (called on test failure);
    only: a set of indexes into the registered logs."""
    stream = stream or sys.stderr
    with _lock:
        sources = list(_log_sources)
    seen = set()
    for i, (label, path, keep) in enumerate(sources):
        if only is not None and i not in only:
            continue
        if path in seen:
            continue
        seen.add(path)
        text = read_text(path)
        if keep:
            text = "\n".join(line for line in text.splitlines() if keep(line))
        print("----- %s (%s): last %d lines -----" % (label, path, lines), file=stream)
        print(tail(text, lines) if text else "(empty)", file=stream)
    print("----- end of logs -----", file=stream)


class Proc:
    """A child process in its own process group with stdout+stderr in files."""

    def __init__(self, args, log_path, label, stdout_path=None, env=None, cwd=None, keep=None):
        self.args = list(args)
        self.label = label
        self.log_path = log_path
        self.stdout_path = stdout_path or log_path
        register_log(label + " stderr", log_path, keep)
        if self.stdout_path != log_path:
            register_log(label + " stdout", self.stdout_path)
        self._err = open(log_path, "ab")
        self._out = open(self.stdout_path, "ab") if self.stdout_path != log_path else self._err
        self.popen = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self._out,
                                      stderr=self._err, env=env, cwd=cwd, start_new_session=True)
        self.pid = self.popen.pid
        _live_procs.append(self)

    def alive(self):
        return self.popen.poll() is None

    @property
    def returncode(self):
        return self.popen.poll()

    def send_signal(self, sig):
        """Sends sig to the process itself (not the group)."""
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        """Returns the exit code, or None if still running after `timeout` seconds."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def _forget(self):
        if self in _live_procs:
            _live_procs.remove(self)
        for f in {self._err, self._out}:
            try:
                f.close()
            except Exception:  # noqa: BLE001
                pass

    def kill(self):
        """SIGKILL to the process group we started; reaps the process."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.wait(10)
        self._forget()
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Sends sig, waits at most `timeout` seconds, then SIGKILLs the group.
        Returns (exit code, True if it exited by itself after sig)."""
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
        rc = self.wait(timeout)
        graceful = rc is not None
        # Also reap anything it left in its group.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if rc is None:
            rc = self.wait(10)
        self._forget()
        return rc, graceful

# ----------------------------------------------------------------------------
# HTTP helpers

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers        # list of (name, value) as received
        self.body = body

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def error_codes(self):
        try:
            return [e.get("code") for e in self.json().get("errors", [])]
        except Exception:  # noqa: BLE001
            return []

    def __repr__(self):
        return "<Response %d %s headers=%r body[:200]=%r>" % (
            self.status, self.reason, self.headers, self.body[:200])


def http_request(method, url, headers=None, timeout=30, ssl_context=None, body=None):
    """One request on a fresh connection; never follows redirects, never raises on 4xx/5xx.
    url: http(s)://host:port/path?query. Returns Response."""
    m = re.match(r"^(https?)://([^/:]+):(\d+)(/.*)?$", url)
    if not m:
        raise ValueError("bad url %r" % url)
    scheme, host, port, path = m.group(1), m.group(2), int(m.group(3)), m.group(4) or "/"
    if scheme == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                           context=ssl_context or ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.reason, r.getheaders(), data)
    finally:
        conn.close()


def curl(args, timeout=120):
    """Runs curl -sS ARGS; returns CompletedProcess (bytes stdout/stderr)."""
    return subprocess.run(["curl", "-sS", "--noproxy", "*", "--max-time", str(int(timeout))]
                          + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout + 15)


def wait_http_ok(url, timeout=30, proc=None, ssl_context=None):
    """Polls GET url until it answers 200; fails early if proc died."""
    def check():
        if proc is not None and not proc.alive():
            raise PollAbort("%s exited with %r before it was ready" % (proc.label,
                                                                      proc.returncode))
        try:
            return http_request("GET", url, timeout=2, ssl_context=ssl_context).status == 200
        except (OSError, http.client.HTTPException):
            return False
    poll(check, timeout, interval=0.05, what="GET %s -> 200" % url)


def ssl_context_for_ca(ca_file):
    ctx = ssl.create_default_context(cafile=ca_file)
    return ctx


class RawHTTP:
    """A raw TCP connection to send arbitrary bytes and parse the HTTP/1.1 responses
    (for malformed requests, pipelining and keep-alive checks)."""

    def __init__(self, port, timeout=10, host="127.0.0.1", rcvbuf=None):
        if rcvbuf:
            # Before connect: the window scale is fixed by the handshake, and a buffer shrunk
            # afterwards still lets loopback queue tens of MiB (tcp_rmem's maximum).
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.connect((host, port))
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        self.rfile = self.sock.makefile("rb")

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.rfile.close()
        finally:
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def read_head(self):
        """Parses a status line and headers. Returns Response (empty body), or None if the
        peer closed the connection before sending a status line."""
        line = self.rfile.readline(65537)
        if not line:
            return None
        m = re.match(rb"^HTTP/1\.[01] (\d{3})(?: (.*))?\r?\n$", line)
        if not m:
            raise ValueError("bad status line %r" % line)
        status = int(m.group(1))
        reason = (m.group(2) or b"").decode("latin-1")
        headers = []
        for _ in range(1000):
            h = self.rfile.readline(65537)
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers.append((k.strip(), v.strip()))
        else:
            raise ValueError("too many response headers")
        return Response(status, reason, headers, b"")

    def read_body(self, resp, max_body=512 * MiB, sink=None):
        """Reads the body of resp (Content-Length, chunked, or until EOF). Stores it in
        resp.body, or feeds it to sink(bytes) and stores b"". Raises ValueError on a short
        body."""
        chunks = []
        got = [0]

        def emit(b):
            got[0] += len(b)
            if got[0] > max_body:
                raise ValueError("body too large")
            if sink:
                sink(b)
            else:
                chunks.append(b)

        te = (resp.header("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            for _ in range(1 << 24):
                size_line = self.rfile.readline(1024)
                if not size_line:
                    raise ValueError("connection closed inside a chunked body after %d bytes"
                                     % got[0])
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    for _ in range(100):       # trailers
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                left = size
                while left:
                    b = self.rfile.read(min(left, 1 * MiB))
                    if not b:
                        raise ValueError("connection closed inside a chunk after %d bytes"
                                         % got[0])
                    emit(b)
                    left -= len(b)
                self.rfile.readline(3)
        elif resp.header("Content-Length") is not None:
            left = int(resp.header("Content-Length"))
            while left:
                b = self.rfile.read(min(left, 1 * MiB))
                if not b:
                    raise ValueError("short body: %d of %s bytes" % (
                        got[0], resp.header("Content-Length")))
                emit(b)
                left -= len(b)
        else:
            for _ in range(1 << 24):
                b = self.rfile.read1(1 * MiB) if hasattr(self.rfile, "read1") else \
                    self.rfile.read(1 * MiB)
                if not b:
                    break
                emit(b)
        resp.body = b"".join(chunks)
        return resp

    def read_response(self, head=False, max_body=512 * MiB):
        """Parses one response. Returns Response, or None if the peer closed the
        connection before sending a status line."""
        resp = self.read_head()
        if resp is None:
            return None
        if head or resp.status in (204, 304) or 100 <= resp.status < 200:
            return resp
        return self.read_body(resp, max_body)

    def at_eof(self, timeout=5):
        """True if the peer closed the connection (read returns EOF) within timeout."""
        self.sock.settimeout(timeout)
        try:
            return self.rfile.read(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

# ----------------------------------------------------------------------------
# TLS material via the openssl CLI

def _openssl(args, cwd):
    r = subprocess.run(["openssl"] + args, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), r.stderr.decode()))


def make_ca(directory, name="regcache-test-ca"):
    """A self-signed CA (basicConstraints CA:TRUE). Returns (ca_cert_path, ca_key_path)."""
    os.makedirs(directory, exist_ok=True)
    cert, key = os.path.join(directory, "ca.pem"), os.path.join(directory, "ca.key")
    _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes", "-keyout", key, "-out", cert, "-days", "7", "-subj", "/CN=" + name,
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign",
              "-addext", "subjectKeyIdentifier=hash"], directory)
    return cert, key


def make_server_cert(directory, ca_cert, ca_key, name="server",
                     san="IP:127.0.0.1,DNS:localhost"):
    """A server certificate signed by the CA. Returns (cert_path, key_path)."""
    os.makedirs(directory, exist_ok=True)
    cert = os.path.join(directory, name + ".pem")
    key = os.path.join(directory, name + ".key")
    csr = os.path.join(directory, name + ".csr")
    ext = os.path.join(directory, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid,issuer\n" % san)
    _openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", key, "-out", csr, "-subj", "/CN=" + name], directory)
    _openssl(["x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
              "-out", cert, "-days", "7", "-extfile", ext], directory)
    return cert, key

# ----------------------------------------------------------------------------
# upstream: docker-registry (CNCF distribution 2.8)

class Registry:
    """A docker-registry on 127.0.0.1 with filesystem storage in a temp dir.
    tls=(cert, key) serves HTTPS; proxy_remote=URL runs it as a pull-through cache.
    bind and exec_prefix put it elsewhere: netns_fixture.py runs it inside a network namespace
    (exec_prefix ["ip", "netns", "exec", NS], bind the namespace's address)."""

    def __init__(self, workdir, name="upstream", tls=None, ca_file=None, proxy_remote=None,
                 port=None, bind="127.0.0.1", exec_prefix=()):
        self.workdir = os.path.join(workdir, name)
        os.makedirs(self.workdir, exist_ok=True)
        self.name = name
        self.bind = bind
        self.exec_prefix = list(exec_prefix)
        self.port = port or free_port()
        self.root = os.path.join(self.workdir, "storage")
        os.makedirs(self.root, exist_ok=True)
        self.tls = tls
        self.ca_file = ca_file
        self.proxy_remote = proxy_remote
        self.config_path = os.path.join(self.workdir, "config.yml")
        self.log_path = os.path.join(self.workdir, "registry.log")
        self.proc = None
        self._write_config()

    @property
    def host(self):
        return "%s:%d" % (self.bind, self.port)

    @property
    def url(self):
        return ("https://" if self.tls else "http://") + self.host

    def _write_config(self):
        lines = [
            "version: 0.1",
            "log:",
            "  level: info",
            "  accesslog:",
            "    disabled: false",
            "storage:",
            "  filesystem:",
            "    rootdirectory: %s" % json.dumps(self.root),
            "  delete:",
            "    enabled: true",
            "  maintenance:",
            "    uploadpurging:",
            "      enabled: false",
            "http:",
            "  addr: %s:%d" % (self.bind, self.port),
            "  secret: regcache-integration-test-secret",
        ]
        if self.tls:
            lines += ["  tls:",
                      "    certificate: %s" % json.dumps(self.tls[0]),
                      "    key: %s" % json.dumps(self.tls[1])]
        if self.proxy_remote:
            lines += ["proxy:", "  remoteurl: %s" % self.proxy_remote]
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def ssl_context(self):
        if not self.tls:
            return None
        if self.ca_file:
            return ssl_context_for_ca(self.ca_file)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def start(self, timeout=30):
        self.proc = Proc(self.exec_prefix + ["docker-registry", "serve", self.config_path],
                         self.log_path,
                         "docker-registry %s :%d" % (self.name, self.port),
                         keep=lambda line: 'msg="response completed"' not in line)
        try:
            wait_http_ok(self.url + "/v2/", timeout, self.proc, self.ssl_context())
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.stop(signal.SIGTERM, timeout=10)
            self.proc = None

    def log_text(self):
        return read_text(self.log_path)

    def request_lines(self, needle=""):
        """Access-log request lines (the Apache-style ones) containing needle."""
        out = []
        for line in self.log_text().splitlines():
            if re.search(r'\] "(GET|HEAD|PUT|POST|PATCH|DELETE) ', line) and needle in line:
                out.append(line)
        return out

    def blob_data_path(self, digest):
        algo, hexd = digest.split(":", 1)
        return os.path.join(self.root, "docker", "registry", "v2", "blobs", algo, hexd[:2], hexd,
                            "data")

    def get(self, path, headers=None, method="GET", timeout=30):
        return http_request(method, self.url + path, headers=headers, timeout=timeout,
                            ssl_context=self.ssl_context())

# ----------------------------------------------------------------------------
# systemd's notify socket

class NotifySocket:
    """A datagram socket bound to a path, collecting the messages with their arrival time."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setblocking(False)
        self.messages = []  # (monotonic time, {KEY: value})

    def drain(self, wait=0.1):
        """Takes what has arrived, waiting up to `wait` s for the first message."""
        select.select([self.sock], [], [], wait)
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            fields = {}
            for line in data.decode().split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    fields[k] = v
            self.messages.append((time.monotonic(), fields))

    def wait_for(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            self.drain()
            for t, m in self.messages[seen:]:
                if pred(m):
                    return t, m
            seen = len(self.messages)
        raise AssertionError("no %s within %.0f s; got %r" % (what, timeout, self.messages[-10:]))

    def close(self):
        self.sock.close()


# ----------------------------------------------------------------------------
# the daemon under test

class Regcache:
    """regcache --listen 127.0.0.1:PORT --upstream URL --cache-dir DIR [extra...]."""

    def __init__(self, binary, workdir, upstream_url, cache_dir=None, extra_args=(), port=None,
                 name="regcache", extra_env=None):
        self.binary = binary
        self.extra_env = dict(extra_env or {})
        self.workdir = os.path.join(workdir, name)
        os.makedirs(self.workdir, exist_ok=True)
        self.name = name
        self.upstream_url = upstream_url
        self.cache_dir = cache_dir or os.path.join(self.workdir, "cache")
        os.makedirs(self.cache_dir, exist_ok=True)
        self.extra_args = list(extra_args)
        self.port = port or free_port()
        self.proc = None
        self.starts = 0
        self.log_path = None
        self.returncode = None

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "http://" + self.host

    def write_config(self, obj):
        """Writes a --config JSON file in the work dir and returns its path."""
        p = os.path.join(self.workdir, "config.json")
        with open(p, "w") as f:
            json.dump(obj, f)
        return p

    def argv(self):
        args = [self.binary, "--listen", self.host, "--upstream", self.upstream_url,
                "--cache-dir", self.cache_dir] + self.extra_args
        # The upstream health probe sends GET /v2/ on its own schedule (at start, then after
        # --upstream-check-interval-ms without contact), which tests that count what their
        # upstream received would see: off unless the test asks for it.
        if not any(a.startswith("--upstream-check-interval-ms") for a in self.extra_args):
            args += ["--upstream-check-interval-ms", "0"]
        return args

    # Variables regcache reads (its own, and docker-registry-proxy's / acr-cache-proxy's):
    # removed from its environment so that the caller's shell cannot change a test.
    ENV_PREFIXES = ("REGCACHE_", "MANIFEST_CACHE_", "AZURE_", "AUTH_REGISTR")
    ENV_NAMES = ("REGISTRIES", "ENABLE_MANIFEST_CACHE", "CACHE_MAX_SIZE", "CA_DIR", "ALLOW_PUSH",
                 "DOCKER_CONFIG", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
                 "http_proxy", "https_proxy", "all_proxy", "no_proxy", "UPSTREAM_PROXY")

    def child_env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(self.ENV_PREFIXES) and k not in self.ENV_NAMES}
        env.update(self.extra_env)
        return env

    def start(self, timeout=30, wait=True):
        self.starts += 1
        self.log_path = os.path.join(self.workdir, "stderr.%d.log" % self.starts)
        self.returncode = None
        self.proc = Proc(self.argv(), self.log_path, "regcache %s :%d (start %d)" % (
            self.name, self.port, self.starts),
            stdout_path=os.path.join(self.workdir, "stdout.%d.log" % self.starts),
            env=self.child_env())
        if wait:
            try:
                wait_http_ok(self.url + "/v2/", timeout, self.proc)
            except Exception:
                self.stop()
                raise
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def stop(self, timeout=20):
        """SIGTERM, bounded wait, then SIGKILL. Returns (exit code, exited by itself)."""
        if self.proc is None:
            return self.returncode, True
        rc, graceful = self.proc.stop(signal.SIGTERM, timeout)
        self.returncode = rc
        self.proc = None
        return rc, graceful

    def kill9(self):
        if self.proc is None:
            return self.returncode
        self.returncode = self.proc.kill()
        self.proc = None
        return self.returncode

    def stderr_text(self):
        """stderr of every start so far, in order."""
        return "".join(read_text(os.path.join(self.workdir, "stderr.%d.log" % i))
                       for i in range(1, self.starts + 1))

    def stdout_text(self):
        """stdout of every start so far, in order."""
        return "".join(read_text(os.path.join(self.workdir, "stdout.%d.log" % i))
                       for i in range(1, self.starts + 1))

    def log_text(self):
        """stderr then stdout of every start so far. The contract puts the access log on
        stderr; test_daemon checks that, the other tests accept either stream so that a
        wrong stream shows up as one failure, not dozens."""
        return "".join(read_text(os.path.join(self.workdir, "%s.%d.log" % (stream, i)))
                       for i in range(1, self.starts + 1) for stream in ("stderr", "stdout"))

    def _log_files(self):
        return [os.path.join(self.workdir, "%s.%d.log" % (stream, i))
                for i in range(1, self.starts + 1) for stream in ("stderr", "stdout")]

    def log_mark(self):
        """A mark for log_since(): the current size of every log file."""
        return {p: len(read_text(p).encode()) for p in self._log_files()}

    def log_since(self, mark):
        """Log text (stderr and stdout) written after log_mark() returned mark."""
        out = []
        for p in self._log_files():
            with open(p, "rb") if os.path.exists(p) else open(os.devnull, "rb") as f:
                f.seek(mark.get(p, 0))
                out.append(f.read().decode("utf-8", "replace"))
        return "".join(out)

    def access_lines(self, path=None, method=None, text=None):
        """Log lines that look like access-log lines (carry HIT/MISS/STALE/PASS) for
        the given path (matched as a whole token) and method."""
        out = []
        for line in (self.log_text() if text is None else text).splitlines():
            if not re.search(r"\b(HIT|MISS|STALE|PASS)\b", line):
                continue
            if path is not None and not re.search(r"(^|[\s\"'=])" + re.escape(path) +
                                                  r"($|[\s\"'?])", line):
                continue
            if method is not None and not re.search(r"\b%s\b" % method, line):
                continue
            out.append(line)
        return out

    @staticmethod
    def cache_status(line):
        found = re.findall(r"\b(HIT|MISS|STALE|PASS)\b", line)
        return found[0] if len(found) == 1 else None

    def cache_blob_path(self, digest):
        algo, hexd = digest.split(":", 1)
        return os.path.join(self.cache_dir, "blobs", algo, hexd[:2], hexd)

    def published_files(self):
        """Every regular file under cache_dir/blobs/ as (path, expected digest or None if
        the path does not follow blobs/sha256/<2 hex>/<64 hex>)."""
        out = []
        root = os.path.join(self.cache_dir, "blobs")
        for dirpath, _dirs, files in os.walk(root):
            for fn in files:
                p = os.path.join(dirpath, fn)
                rel = os.path.relpath(p, root).split(os.sep)
                exp = None
                if (len(rel) == 3 and rel[0] == "sha256" and re.fullmatch(r"[0-9a-f]{64}", rel[2])
                        and rel[1] == rel[2][:2]):
                    exp = "sha256:" + rel[2]
                out.append((p, exp))
        return out

    def bad_published_files(self):
        """Published files whose content does not hash to their name (or misplaced ones)."""
        bad = []
        for p, exp in self.published_files():
            if exp is None:
                bad.append((p, "not at blobs/sha256/<2 hex>/<64 hex>"))
            else:
                got = sha256_file(p)
                if got != exp:
                    bad.append((p, "content hashes to %s" % got))
        return bad

    def get(self, path, headers=None, method="GET", timeout=60):
        return http_request(method, self.url + path, headers=headers, timeout=timeout)


def concurrent_blob_gets(rc, path, count, timeout=180):
    """`count` GETs of `path` at once, each on its own connection; a list of (status, sha256
    of the body, body length), or the exception a client raised, and whether any client hung
    past `timeout`."""
    results = [None] * count

    def fetch(i):
        try:
            r = rc.get(path, timeout=120)
            results[i] = (r.status, sha256_bytes(r.body), len(r.body))
        except Exception as e:  # noqa: BLE001 - the caller asserts on it
            results[i] = e

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    return results, any(t.is_alive() for t in threads)


def regcache_binary_from_argv(argv):
    """Parses --regcache PATH (or --regcache=PATH); returns (path, remaining argv)."""
    rest, binary = [argv[0]], None
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--regcache" and i + 1 < len(argv):
            binary = argv[i + 1]
            i += 2
            continue
        if a.startswith("--regcache="):
            binary = a.split("=", 1)[1]
            i += 1
            continue
        rest.append(a)
        i += 1
    if binary is None:
        binary = os.environ.get("REGCACHE")
    return binary, rest

# ----------------------------------------------------------------------------
# OCI image layouts

class Image:
    def __init__(self, manifest_digest, manifest_bytes, media_type, config_digest, layer_digests,
                 layer_sizes, platform=None):
        self.manifest_digest = manifest_digest
        self.manifest_bytes = manifest_bytes
        self.media_type = media_type
        self.config_digest = config_digest
        self.layer_digests = list(layer_digests)
        self.layer_sizes = list(layer_sizes)
        self.platform = platform

    @property
    def blob_digests(self):
        return [self.config_digest] + self.layer_digests

    @property
    def all_digests(self):
        return {self.manifest_digest, self.config_digest, *self.layer_digests}

    @property
    def top_digest(self):
        return self.manifest_digest


class MultiArch:
    def __init__(self, index_digest, index_bytes, images):
        self.index_digest = index_digest
        self.index_bytes = index_bytes
        self.images = images          # {"amd64": Image, "arm64": Image}
        self.media_type = OCI_INDEX

    @property
    def top_digest(self):
        return self.index_digest

    @property
    def blob_digests(self):
        out = []
        for img in self.images.values():
            out += img.blob_digests
        return out

    @property
    def all_digests(self):
        s = {self.index_digest}
        for img in self.images.values():
            s |= img.all_digests
        return s


def _write_blob(layout_dir, data):
    d = sha256_bytes(data)
    p = os.path.join(layout_dir, "blobs", "sha256", d.split(":", 1)[1])
    os.makedirs(os.path.dirname(p), exist_ok=True)
    if not os.path.exists(p):
        with open(p, "wb") as f:
            f.write(data)
    return d


def _canon(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def _init_layout(layout_dir):
    os.makedirs(os.path.join(layout_dir, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout_dir, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    ip = os.path.join(layout_dir, "index.json")
    if not os.path.exists(ip):
        with open(ip, "w") as f:
            json.dump({"schemaVersion": 2, "manifests": []}, f)


def _add_ref(layout_dir, tag, media_type, digest, size):
    ip = os.path.join(layout_dir, "index.json")
    with open(ip) as f:
        idx = json.load(f)
    idx["manifests"] = [m for m in idx["manifests"]
                        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag]
    idx["manifests"].append({"mediaType": media_type, "digest": digest, "size": size,
                             "annotations": {"org.opencontainers.image.ref.name": tag}})
    with open(ip, "w") as f:
        json.dump(idx, f)


def _write_random_blob(layout_dir, rng, size, chunk=16 * MiB):
    """Writes `size` seeded random bytes as a blob, in chunks (randbytes cannot make more
    than 256 MiB at once, and this keeps memory flat). Returns the digest."""
    tmp = os.path.join(layout_dir, "blobs", "tmp-%d" % os.getpid())
    h = hashlib.sha256()
    with open(tmp, "wb") as f:
        left = size
        while left:
            n = min(chunk, left)
            b = rng.randbytes(n)
            h.update(b)
            f.write(b)
            left -= n
    d = "sha256:" + h.hexdigest()
    os.replace(tmp, os.path.join(layout_dir, "blobs", "sha256", h.hexdigest()))
    return d


def _build_image(layout_dir, layer_sizes, seed, arch="amd64", os_name="linux"):
    rng = random.Random("regcache-%s-%s-%s" % (seed, arch, os_name))
    layer_descs, layer_digests = [], []
    for size in layer_sizes:
        d = _write_random_blob(layout_dir, rng, size)
        layer_digests.append(d)
        layer_descs.append({"mediaType": OCI_LAYER_TAR, "digest": d, "size": size})
    config = {
        "architecture": arch,
        "os": os_name,
        "created": "2024-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/bin"], "Labels": {"seed": str(seed)}},
        "rootfs": {"type": "layers", "diff_ids": layer_digests},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "regtest layer %d" % i}
                    for i in range(len(layer_sizes))],
    }
    config_bytes = _canon(config)
    config_digest = _write_blob(layout_dir, config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
        "layers": layer_descs,
    }
    manifest_bytes = _canon(manifest)
    manifest_digest = _write_blob(layout_dir, manifest_bytes)
    return Image(manifest_digest, manifest_bytes, OCI_MANIFEST, config_digest, layer_digests,
                 layer_sizes, {"architecture": arch, "os": os_name})


def make_oci_image(layout_dir, tag, layer_sizes, seed, arch="amd64"):
    """Writes an OCI image layout at layout_dir (created or extended) holding one image
    tagged `tag`: random uncompressed layers of the given sizes (deterministic for a seed),
    a config and an OCI manifest. Returns an Image with all digests."""
    _init_layout(layout_dir)
    img = _build_image(layout_dir, layer_sizes, seed, arch)
    _add_ref(layout_dir, tag, OCI_MANIFEST, img.manifest_digest, len(img.manifest_bytes))
    return img


def make_multiarch_index(layout_dir, tag, layer_sizes, seed, arches=("amd64", "arm64")):
    """Writes an OCI index tagged `tag` with one image per architecture (linux/amd64 and
    linux/arm64 by default), each with its own random layers. Returns a MultiArch."""
    _init_layout(layout_dir)
    images, descs = {}, []
    for arch in arches:
        img = _build_image(layout_dir, layer_sizes, seed, arch)
        images[arch] = img
        descs.append({"mediaType": OCI_MANIFEST, "digest": img.manifest_digest,
                      "size": len(img.manifest_bytes),
                      "platform": {"architecture": arch, "os": "linux"}})
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs}
    index_bytes = _canon(index)
    index_digest = _write_blob(layout_dir, index_bytes)
    _add_ref(layout_dir, tag, OCI_INDEX, index_digest, len(index_bytes))
    return MultiArch(index_digest, index_bytes, images)


def layout_digests(layout_dir, tag, verify=True):
    """Reads an OCI layout that skopeo wrote. Returns (top digest, top media type, set of
    every digest reachable from the tag: indexes, manifests, configs, layers). With verify,
    also checks that every reachable blob file hashes to its digest (raises otherwise)."""
    with open(os.path.join(layout_dir, "index.json")) as f:
        idx = json.load(f)
    entry = None
    for m in idx.get("manifests", []):
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            entry = m
    if entry is None:
        if len(idx.get("manifests", [])) == 1:
            entry = idx["manifests"][0]
        else:
            raise KeyError("tag %r not in %s/index.json" % (tag, layout_dir))

    def blob_path(d):
        a, h = d.split(":", 1)
        return os.path.join(layout_dir, "blobs", a, h)

    seen = set()

    def walk(desc):
        d = desc["digest"]
        if d in seen:
            return
        seen.add(d)
        p = blob_path(d)
        if verify:
            got = sha256_file(p)
            if got != d:
                raise AssertionError("blob %s in %s hashes to %s" % (d, layout_dir, got))
        mt = desc.get("mediaType", "")
        if mt in (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST):
            with open(p, "rb") as f:
                doc = json.load(f)
            if mt in (OCI_INDEX, DOCKER_LIST):
                for sub in doc.get("manifests", []):
                    walk(sub)
            else:
                walk(doc["config"])
                for layer in doc.get("layers", []):
                    walk(layer)

    walk(entry)
    return entry["digest"], entry.get("mediaType"), seen

# ----------------------------------------------------------------------------
# skopeo

_policy_path = None


def _policy():
    global _policy_path
    if _policy_path is None:
        d = mkdtemp("regtest-policy-")
        _policy_path = os.path.join(d, "policy.json")
        with open(_policy_path, "w") as f:
            json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
    return _policy_path


class SkopeoError(AssertionError):
    pass


def skopeo_copy(src, dst, all_images=False, src_tls_verify=None, dest_tls_verify=None,
                preserve_digests=True, extra=(), timeout=300, check=True, env=None):
    """skopeo copy SRC DST. Keeps digests: --preserve-digests (skopeo >= 1.8, Debian 12 has
    1.9.3) makes skopeo fail instead of rewriting a manifest, and for oci: destinations
    --dest-oci-accept-uncompressed-layers stops it from gzip-compressing our uncompressed
    layers. env: skopeo's whole environment (default: this process's). Returns
    CompletedProcess; with check, raises SkopeoError on failure."""
    args = ["skopeo", "--policy", _policy(), "copy", "--retry-times", "0"]
    if all_images:
        args.append("--all")
    if preserve_digests:
        args.append("--preserve-digests")
    if src_tls_verify is not None:
        args.append("--src-tls-verify=%s" % ("true" if src_tls_verify else "false"))
    if dest_tls_verify is not None:
        args.append("--dest-tls-verify=%s" % ("true" if dest_tls_verify else "false"))
    if dst.startswith("oci:"):
        args.append("--dest-oci-accept-uncompressed-layers")
    args += list(extra) + [src, dst]
    try:
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           env=env)
    except subprocess.TimeoutExpired as e:
        raise SkopeoError("skopeo timed out after %ds: %s" % (timeout, " ".join(args))) from e
    if check and r.returncode != 0:
        raise SkopeoError("skopeo exited %d: %s\nstdout: %s\nstderr: %s" % (
            r.returncode, " ".join(args), tail(r.stdout.decode(errors="replace"), 10),
            tail(r.stderr.decode(errors="replace"), 20)))
    return r


def push(layout_dir, ref, registry, repo, all_images=False, tag=None):
    """skopeo copy oci:LAYOUT:REF docker://REGISTRY/REPO:TAG (TAG defaults to REF), digests
    preserved."""
    return skopeo_copy("oci:%s:%s" % (layout_dir, ref), "docker://%s/%s:%s" % (
        registry.host, repo, tag or ref), all_images=all_images, dest_tls_verify=False)


def pull(host, ref, out_layout, tag="pulled", all_images=False, tls_verify=False, check=True,
         timeout=300):
    """skopeo copy docker://HOST/REF oci:OUT:TAG. Returns (top digest, media type, digests)."""
    r = skopeo_copy("docker://%s/%s" % (host, ref), "oci:%s:%s" % (out_layout, tag),
                    all_images=all_images, src_tls_verify=tls_verify, check=check,
                    timeout=timeout)
    if r.returncode != 0:
        return None
    return layout_digests(out_layout, tag)

# ----------------------------------------------------------------------------
# unittest plumbing

class _DiagResult(unittest.TextTestResult):
    """Prints each test's duration, and on a failure the tails of the logs of the servers
    that test started plus those its class started (setUpClass)."""

    _class_sources = None

    def startTest(self, test):
        with _lock:
            n = len(_log_sources)
        if self._class_sources is None:
            type(self)._class_sources = n
        self._test_sources = n
        self._t0 = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        self.stream.writeln("    (%.1f s)" % (time.monotonic() - self._t0))

    def _dump(self, test, what):
        self.stream.writeln("\n=== %s %s; server logs follow ===" % (test.id(), what))
        self.stream.flush()
        with _lock:
            keep = set(range(0, self._class_sources or 0)) | set(
                range(getattr(self, "_test_sources", 0), len(_log_sources)))
        dump_logs(sys.stderr, only=keep)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._dump(test, "failed")

    def addError(self, test, err):
        super().addError(test, err)
        self._dump(test, "errored")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._dump(subtest, "failed")


REGCACHE = None


def main():
    """Entry point of each test file: parses --regcache PATH, then runs unittest."""
    global REGCACHE
    binary, rest = regcache_binary_from_argv(sys.argv)
    if not binary:
        print("usage: %s --regcache /path/to/regcache [unittest args]" % sys.argv[0],
              file=sys.stderr)
        sys.exit(2)
    REGCACHE = os.path.abspath(binary)
    if not os.access(REGCACHE, os.X_OK):
        print("regtest: %s is not an executable file" % REGCACHE, file=sys.stderr)
        sys.exit(1)
    runner = unittest.TextTestRunner(verbosity=2, resultclass=_DiagResult, stream=sys.stderr)
    prog = unittest.main(module="__main__", argv=rest, testRunner=runner, exit=False)
    _kill_all_at_exit()
    sys.exit(0 if prog.result.wasSuccessful() else 1)
