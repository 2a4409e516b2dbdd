"""A counting HTTP front for integration tests: sits between regcache and a real
docker-registry on 127.0.0.1, forwards every request and relays the registry's answer
(status line, headers in order, body; no body for HEAD), and records what it received.

Why a front rather than docker-registry's own log: a request is recorded when the front has
read its head, i.e. before the registry answers and so before regcache can answer its client.
A count read after a client's response therefore includes every upstream request regcache
made for it, without racing a log writer; pushes made straight to the registry are never
counted; and the front can also inject upstream failures (429/503 for manifest requests), hold
manifest requests back (to make clients overlap) and disappear (stop: refused connections,
every open connection shut down).

Standard library only. The front runs in the test process (threads); stop() is idempotent
and is also called at exit.
"""

import atexit
import http.client
import http.server
import json
import re
import socket
import socketserver
import sys
import threading
import time

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
               "transfer-encoding", "upgrade", "proxy-authenticate", "proxy-authorization"}

_fronts = []


def _stop_all():
    for f in list(_fronts):
        try:
            f.stop()
        except Exception:  # noqa: BLE001
            pass


atexit.register(_stop_all)


def path_kind(path):
    """"manifests", "blobs" or "other" for a request path (query ignored)."""
    p = path.split("?", 1)[0]
    if re.match(r"^/v2/.+/manifests/[^/]+$", p):
        return "manifests"
    if re.match(r"^/v2/.+/blobs/[^/]+$", p):
        return "blobs"
    return "other"


def path_repo(path):
    """The repository name of a /v2/<name>/(manifests|blobs|tags)/... path, or None."""
    m = re.match(r"^/v2/(.+)/(manifests|blobs|tags)/", path.split("?", 1)[0])
    return m.group(1) if m else None


class Seen:
    """One request as the front received it."""

    def __init__(self, seq, method, path, headers):
        self.seq = seq
        self.method = method
        self.path = path
        self.kind = path_kind(path)
        self.repo = path_repo(path)
        self.headers = headers          # list of (name, value)
        self.status = None              # what the front answered (None while in flight)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return "%s %s (Accept: %s) -> %s" % (self.method, self.path, self.header("Accept"),
                                             self.status)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A client (regcache) closing or a stop() shutting a connection down is expected;
        # anything else is printed as usual.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class CountingProxy:
    """CountingProxy(upstream_host, upstream_port).start(); regcache's --upstream is .url.

    fail_manifests: None, or an HTTP status (429, 503) the front answers every manifest
    request with (an OCI error JSON body; 429 also gets Retry-After) instead of forwarding it.
    delay_manifests: seconds every manifest request is held before it is forwarded.
    hold_blob_bodies(n) / release_blob_bodies(): every 200 answer to a blob GET stops after n
    body bytes until released (at most HOLD_MAX_S), so a test knows a download is under way
    while it sends more requests; held() counts the answers waiting now.
    chunked_blobs: 200 answers to blob GETs are sent chunked, without Content-Length (an
    upstream that does not say the size up front).
    answer_headers: (name, value) pairs added to every answer, forwarded or injected (Docker
    Hub's RateLimit-Limit / RateLimit-Remaining, say); set_answer_headers() swaps them."""

    HOLD_MAX_S = 120

    RETRY_AFTER = "7"

    def __init__(self, upstream_host, upstream_port, port=0):
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.port = port
        self.fail_manifests = None
        self.delay_manifests = 0.0
        self.chunked_blobs = False
        self._answer_headers = []
        self._hold_after_bytes = None
        self._release = threading.Event()
        self._held = 0
        self._lock = threading.Lock()
        self._seen = []
        self._conns = set()
        self._server = None
        self._thread = None

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "http://" + self.host

    # -- control

    def start(self):
        """Listens (on the same port as before after a stop())."""
        if self._server is not None:
            return self
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # noqa: A003 - requests are recorded instead
                pass

            def setup(self):
                super().setup()
                with front._lock:
                    front._conns.add(self.connection)

            def finish(self):
                with front._lock:
                    front._conns.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass

            def do_GET(self):  # noqa: N802
                front._handle(self)

            do_HEAD = do_GET  # noqa: N815
            do_POST = do_GET  # noqa: N815
            do_PUT = do_GET  # noqa: N815
            do_PATCH = do_GET  # noqa: N815
            do_DELETE = do_GET  # noqa: N815

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        if self not in _fronts:
            _fronts.append(self)
        return self

    def stop(self):
        """Stops listening and shuts down every open connection (so that nothing of this
        front answers any more: new connections are refused, pooled ones see EOF)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self in _fronts:
            _fronts.remove(self)

    def set_answer_headers(self, pairs):
        with self._lock:
            self._answer_headers = list(pairs)

    def _extra_headers(self):
        with self._lock:
            return list(self._answer_headers)

    def hold_blob_bodies(self, after_bytes):
        with self._lock:
            self._hold_after_bytes = after_bytes
            self._release.clear()

    def release_blob_bodies(self):
        with self._lock:
            self._hold_after_bytes = None
            self._release.set()

    def held(self):
        with self._lock:
            return self._held

    def _park(self):
        with self._lock:
            self._held += 1
        try:
            self._release.wait(self.HOLD_MAX_S)
        finally:
            with self._lock:
                self._held -= 1

    # -- what was received

    def mark(self):
        with self._lock:
            return len(self._seen)

    def seen(self, since=0, repo=None, kind=None, method=None):
        with self._lock:
            out = list(self._seen[since:])
        return [s for s in out if (repo is None or s.repo == repo)
                and (kind is None or s.kind == kind) and (method is None or s.method == method)]

    def counts(self, since=0, repo=None):
        """{(method, kind): n} of the requests received after mark `since` (for one
        repository if given)."""
        out = {}
        for s in self.seen(since, repo):
            out[(s.method, s.kind)] = out.get((s.method, s.kind), 0) + 1
        return out

    def in_flight(self):
        with self._lock:
            return sum(1 for s in self._seen if s.status is None)

    def settle(self, quiet=0.2, timeout=10):
        """Waits (bounded) until nothing is in flight and no request arrived for `quiet`
        seconds: catches requests a server might send after it has answered its client."""
        deadline = time.monotonic() + timeout
        last = (self.mark(), time.monotonic())
        for _ in range(int(timeout / 0.02) + 1):
            now = time.monotonic()
            m = self.mark()
            if m != last[0]:
                last = (m, now)
            if self.in_flight() == 0 and now - last[1] >= quiet:
                return
            if now >= deadline:
                return
            time.sleep(0.02)

    # -- the proxy

    def _error_body(self, status):
        code = {429: "TOOMANYREQUESTS", 503: "UNAVAILABLE"}.get(status, "UNKNOWN")
        return json.dumps({"errors": [{"code": code, "message": "counting front: injected %d"
                                       % status, "detail": None}]}).encode()

    def _handle(self, h):
        headers = list(h.headers.items())
        with self._lock:
            rec = Seen(len(self._seen), h.command, h.path, headers)
            self._seen.append(rec)
        try:
            body = b""
            n = int(h.headers.get("Content-Length") or 0)
            if n:
                body = h.rfile.read(n)
            elif "chunked" in (h.headers.get("Transfer-Encoding") or "").lower():
                # A push's chunked body (skopeo's PATCH): read whole, sent on with a length.
                body = self._read_chunked(h.rfile)
                headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
                headers.append(("Content-Length", str(len(body))))
            if rec.kind == "manifests":
                if self.delay_manifests:
                    time.sleep(self.delay_manifests)
                status = self.fail_manifests
                if status:
                    err = self._error_body(status)
                    out = [("Content-Type", "application/json; charset=utf-8"),
                           ("Content-Length", str(len(err)))]
                    if status == 429:
                        out.append(("Retry-After", self.RETRY_AFTER))
                    out += self._extra_headers()
                    rec.status = status
                    self._write_head(h, status, "Injected", out)
                    if h.command != "HEAD":
                        h.wfile.write(err)
                    h.wfile.flush()
                    return
            self._forward(h, rec, headers, body)
        except Exception:  # noqa: BLE001 - the client sees a closed connection
            h.close_connection = True
            if rec.status is None:
                rec.status = 0

    @staticmethod
    def _read_chunked(rfile, limit=1 << 30):
        parts = []
        total = 0
        while total <= limit:  # bounded by the limit: every chunk adds its size
            size = int(rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields
                return b"".join(parts)
            parts.append(rfile.read(size))
            rfile.readline(1024)
            total += size
        raise ValueError("chunked body over the limit")

    @staticmethod
    def _write_head(h, status, reason, headers):
        lines = ["HTTP/1.1 %d %s" % (status, reason)] + ["%s: %s" % kv for kv in headers]
        h.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def _forward(self, h, rec, headers, body):
        fwd = [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP and k.lower() != "host"]
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        try:
            try:
                conn.putrequest(h.command, h.path, skip_accept_encoding=True)
                for k, v in fwd:
                    conn.putheader(k, v)
                conn.endheaders(body or None)
                r = conn.getresponse()
            except OSError:
                err = json.dumps({"errors": [{"code": "UNAVAILABLE",
                                              "message": "counting front: upstream down"}]}).encode()
                rec.status = 502
                self._write_head(h, 502, "Bad Gateway", [
                    ("Content-Type", "application/json"), ("Content-Length", str(len(err)))])
                if h.command != "HEAD":
                    h.wfile.write(err)
                return
            out = [(k, v) for k, v in r.getheaders() if k.lower() not in _HOP_BY_HOP]
            out += self._extra_headers()
            if h.command == "HEAD" or r.status in (204, 304):
                rec.status = r.status
                self._write_head(h, r.status, r.reason, out)
                h.wfile.flush()
                return
            length = r.getheader("Content-Length")
            if length is None or r.getheader("Transfer-Encoding"):
                data = r.read()             # de-chunked; sent with a length instead
                out = [(k, v) for k, v in out if k.lower() != "content-length"]
                out.append(("Content-Length", str(len(data))))
                rec.status = r.status
                self._write_head(h, r.status, r.reason, out)
                h.wfile.write(data)
            else:
                blob = rec.kind == "blobs" and h.command == "GET" and r.status == 200
                with self._lock:
                    hold = self._hold_after_bytes if blob else None
                chunked = blob and self.chunked_blobs
                if chunked:
                    out = [(k, v) for k, v in out if k.lower() != "content-length"]
                    out.append(("Transfer-Encoding", "chunked"))
                rec.status = r.status
                self._write_head(h, r.status, r.reason, out)
                left, sent = int(length), 0
                while left > 0:  # bounded by the length
                    want = min(left, 1 << 20)
                    if hold is not None:
                        want = min(want, hold - sent)
                    b = r.read(want)
                    if not b:
                        raise OSError("upstream body ended early")
                    h.wfile.write(b"%x\r\n%s\r\n" % (len(b), b) if chunked else b)
                    left -= len(b)
                    sent += len(b)
                    if hold is not None and sent >= hold:
                        h.wfile.flush()
                        hold = None
                        self._park()
                if chunked:
                    h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        finally:
            conn.close()
