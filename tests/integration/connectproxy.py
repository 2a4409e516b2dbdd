"""A small HTTP CONNECT proxy for integration tests (what an office's squid does for regcache's
--upstream-proxy): accepts `CONNECT host:port`, records each target and the
Proxy-Authorization it came with, optionally requires Basic credentials (407 otherwise), and
splices bytes both ways between the client and the target.

countingproxy.CountingProxy is a reverse front that parses and relays each HTTP exchange; a
tunnel is the opposite (no HTTP inside, just bytes), so this is its own small class.

Modes for failures: refuse_status answers every CONNECT with that status; silent accepts
connections and reads the request but never answers (a proxy that hangs).

Standard library only; threads in the test process, everything bounded: a connection count,
a head size, a head-read deadline, an idle timeout per tunnel. stop() is idempotent and is
also called at exit.
"""

import atexit
import base64
import select
import socket
import threading

_proxies = []
atexit.register(lambda: [p.stop() for p in list(_proxies)])


class Connect:
    """One CONNECT as the proxy received it."""

    def __init__(self, target, authorization, host_header):
        self.target = target                  # "host:port"
        self.authorization = authorization    # the Proxy-Authorization value, or None
        self.host_header = host_header
        self.status = None                    # what the proxy answered

    def credentials(self):
        """(user, password) decoded from a Basic Proxy-Authorization, or None."""
        if not self.authorization or not self.authorization.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(self.authorization[6:]).decode().partition(":")
        return user, password

    def __repr__(self):
        return "CONNECT %s (auth %s) -> %s" % (self.target, bool(self.authorization),
                                               self.status)


class ConnectProxy:
    HEAD_BYTES_MAX = 16 * 1024
    HEAD_TIMEOUT_S = 10
    IDLE_TIMEOUT_S = 60
    CONNECTIONS_MAX = 64

    def __init__(self, users=None, refuse_status=None, silent=False):
        self.users = dict(users or {})
        self.refuse_status = refuse_status
        self.silent = silent
        self.connects = []
        self._lock = threading.Lock()
        self._sock = None
        self._stopped = threading.Event()
        self._threads = []
        self._open = set()
        self.port = None

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    def url(self, userinfo=None):
        return "http://%s%s" % (userinfo + "@" if userinfo else "", self.host)

    def start(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self._threads.append(t)
        _proxies.append(self)
        return self

    def stop(self):
        if self._stopped.is_set():
            return
        self._stopped.set()
        with self._lock:
            for s in list(self._open):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for t in self._threads:
            t.join(timeout=5)
        if self._sock is not None:
            self._sock.close()

    def targets(self):
        with self._lock:
            return [c.target for c in self.connects]

    def seen(self):
        with self._lock:
            return list(self.connects)

    # -- internals

    def _track(self, s, add):
        with self._lock:
            (self._open.add if add else self._open.discard)(s)

    def _accept_loop(self):
        while not self._stopped.is_set():
            try:
                client, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                full = len(self._open) >= self.CONNECTIONS_MAX
            if full:
                client.close()
                continue
            self._track(client, True)
            t = threading.Thread(target=self._serve, args=(client,), daemon=True)
            t.start()

    def _read_head(self, client):
        client.settimeout(self.HEAD_TIMEOUT_S)
        data = b""
        while b"\r\n\r\n" not in data:  # bounded by HEAD_BYTES_MAX and the timeout
            if len(data) > self.HEAD_BYTES_MAX:
                return None
            chunk = client.recv(4096)
            if not chunk:
                return None
            data += chunk
        return data.split(b"\r\n\r\n", 1)[0].decode("latin-1")

    @staticmethod
    def _answer(client, status, reason, extra=""):
        client.sendall(("HTTP/1.1 %d %s\r\n%sContent-Length: 0\r\n\r\n" % (
            status, reason, extra)).encode())

    def _authorized(self, connect):
        if not self.users:
            return True
        creds = connect.credentials()
        return creds is not None and self.users.get(creds[0]) == creds[1]

    def _serve(self, client):
        upstream = None
        try:
            head = self._read_head(client)
            if head is None:
                return
            lines = head.split("\r\n")
            parts = lines[0].split(" ")
            fields = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
            if len(parts) != 3 or parts[0] != "CONNECT":
                self._answer(client, 405, "Method Not Allowed")
                return
            connect = Connect(parts[1], fields.get("proxy-authorization"), fields.get("host"))
            with self._lock:
                self.connects.append(connect)
            if self.silent:
                # Holds the connection without a word until the client gives up or stop().
                client.settimeout(self.IDLE_TIMEOUT_S)
                while not self._stopped.is_set() and client.recv(4096):
                    pass
                return
            if self.refuse_status is not None:
                connect.status = self.refuse_status
                self._answer(client, self.refuse_status, "Refused by the test")
                return
            if not self._authorized(connect):
                connect.status = 407
                self._answer(client, 407, "Proxy Authentication Required",
                             'Proxy-Authenticate: Basic realm="test-proxy"\r\n')
                return
            host, _, port = connect.target.rpartition(":")
            try:
                upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
            except (OSError, ValueError):
                connect.status = 502
                self._answer(client, 502, "Bad Gateway")
                return
            self._track(upstream, True)
            connect.status = 200
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._splice(client, upstream)
        except OSError:
            pass
        finally:
            for s in (client, upstream):
                if s is not None:
                    self._track(s, False)
                    s.close()

    def _splice(self, a, b):
        peers = {a: b, b: a}
        a.setblocking(True)
        b.setblocking(True)
        while not self._stopped.is_set():  # bounded by the idle timeout and the peers' ends
            ready, _, _ = select.select([a, b], [], [], self.IDLE_TIMEOUT_S)
            if not ready:
                return
            for s in ready:
                data = s.recv(256 * 1024)
                if not data:
                    try:
                        peers[s].shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
                peers[s].sendall(data)
