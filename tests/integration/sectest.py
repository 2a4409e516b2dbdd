"""Helpers for regcache's security integration tests (test_security_*.py).

Standard library only, on top of regtest.py and authtest.py (which this module wraps, never
edits):
  * placed()        -- builds an authtest.HttpServer subclass that listens on a chosen local
                       address (127.0.0.1 by default, or e.g. the machine's own non-private
                       address) and optionally speaks TLS with a certificate from a test CA.
  * TokenServer     -- authtest.TokenServer that can be placed (https realm, other address).
  * FakeRegistry    -- a scriptable registry: answers 401 with a Bearer challenge naming any
                       realm/service/scope until a Bearer token comes, then serves one small
                       manifest, one blob (or a redirect for it) and a tag list. It records
                       every request, so a test can see which tokens it was handed.
  * CountingListener -- a bare TCP listener that only counts the connections it accepts (the
                       "internal service" an SSRF would reach).
  * jwt_claims()    -- the claims of a JWT (TokenServer's tokens name the Basic user in "sub").
  * public_ipv4()   -- a local IPv4 address outside every range regcache must refuse, or None.

Every server runs in a daemon thread of the test process on a port the kernel picks, and is
stopped by stop() (class cleanups) and by authtest's atexit hook.
"""

import base64
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402
import authtest as at  # noqa: E402

# The ranges regcache refuses for a host it was not configured with (loopback, link-local,
# private, CGNAT, multicast, unspecified).
REFUSED_NETWORKS = [ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "169.254.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
    "100.64.0.0/10", "224.0.0.0/4", "0.0.0.0/8", "::1/128", "fe80::/10", "fc00::/7", "ff00::/8",
    "::/128")]


def is_refused_address(text):
    address = ipaddress.ip_address(text)
    return any(address in n for n in REFUSED_NETWORKS if n.version == address.version)


def public_ipv4():
    """A local IPv4 address (of an interface here) that is in none of REFUSED_NETWORKS and can be
    listened on, or None. regcache may connect to it for an unconfigured ?ns= host, which makes
    it the "public registry" of the offline tests."""
    try:
        out = subprocess.run(["ip", "-o", "-4", "addr", "show"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=10).stdout.decode()
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.splitlines():
        parts = line.split()
        if "inet" not in parts:
            continue
        address = parts[parts.index("inet") + 1].split("/")[0]
        if is_refused_address(address):
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((address, 0))
        except OSError:
            continue
        return address
    return None


def ipv6_loopback_works():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
            s.listen(1)
            with socket.create_connection(("::1", s.getsockname()[1]), timeout=2):
                return True
    except OSError:
        return False


def jwt_claims(token):
    """The claims of a JWT, or {} when it is not one."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except Exception:  # noqa: BLE001 - not a JWT
        return {}


def basic_user_of(header_value):
    """The user named by an `Authorization: Basic ...` value, else None."""
    if not header_value or not header_value.lower().startswith("basic "):
        return None
    try:
        return base64.b64decode(header_value[6:].strip()).decode().partition(":")[0]
    except Exception:  # noqa: BLE001
        return "<undecodable>"

# ----------------------------------------------------------------------------
# servers on a chosen address, optionally TLS

_construct_lock = threading.Lock()


class Placed:
    """Mixed in before an authtest.HttpServer subclass: host/url name where it listens (or the
    name it is reached by) and its scheme, instead of HttpServer's fixed http://127.0.0.1."""

    bind_host = "127.0.0.1"
    name = None           # the host name clients use (e.g. "localhost"), default bind_host
    scheme = "http"

    @property
    def host(self):
        h = self.name or self.bind_host
        return "%s:%d" % ("[%s]" % h if ":" in h else h, self.port)

    @property
    def url(self):
        return "%s://%s" % (self.scheme, self.host)


def placed(cls, bind="127.0.0.1", tls=None, name=None, **kw):
    """cls(**kw) (a Placed authtest.HttpServer subclass) listening on `bind`; with tls=(cert,
    key) every accepted connection does a TLS handshake first (in its own thread, bounded by a
    10 s timeout). `name` is the host the server is reached by (its certificate must say so)."""
    ctx = None
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[0], tls[1])

    class Bound(at._Threaded):  # noqa: N801
        def __init__(self, _address, handler):
            super().__init__((bind, 0), handler)

        def finish_request(self, request, client_address):
            if ctx is None:
                return super().finish_request(request, client_address)
            request.settimeout(10)
            try:
                conn = ctx.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return None           # a failed handshake is the client's problem
            try:
                return super().finish_request(conn, client_address)
            finally:
                conn.close()

        def handle_error(self, request, client_address):
            pass                      # a client that went away is not a test failure

    server = cls.__new__(cls)
    server.bind_host = bind
    server.name = name
    server.scheme = "https" if tls else "http"
    # HttpServer.__init__ builds authtest._Threaded(("127.0.0.1", 0), ...): hand it ours.
    with _construct_lock:
        saved = at._Threaded
        at._Threaded = Bound
        try:
            cls.__init__(server, **kw)
        finally:
            at._Threaded = saved
    return server


class TokenServer(Placed, at.TokenServer):
    """authtest.TokenServer at a placed address (its realm follows: https://... with TLS)."""

    def since(self, mark):
        return self.token_requests(since=mark)


class FakeRegistry(Placed, at.HttpServer):
    """A registry that answers anything without a Bearer token with 401 and
        WWW-Authenticate: Bearer realm="<realm>",service="<service>",scope="<scope>"
    (scope may contain "{name}", the repository asked for). With a Bearer token (any) it serves
    one manifest for every tag or digest, MANIFEST's config blob (or a 307 to
    redirect_base + path for any blob when redirect_base is set) and a tag list. With
    challenge=None it asks for nothing."""

    label = "fake-registry"
    CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    CONFIG_DIGEST = rt.sha256_bytes(CONFIG)
    MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": rt.OCI_MANIFEST,
                           "config": {"mediaType": rt.OCI_CONFIG, "digest": CONFIG_DIGEST,
                                      "size": len(CONFIG)},
                           "layers": []}, separators=(",", ":")).encode()
    MANIFEST_DIGEST = rt.sha256_bytes(MANIFEST)

    def __init__(self, realm=None, service="regtest", scope="repository:{name}:pull",
                 redirect_base=None):
        self.realm = realm
        self.service = service
        self.scope = scope
        self.redirect_base = redirect_base
        super().__init__()

    @staticmethod
    def _route(path):
        """('manifests'|'blobs'|'tags', name, reference) for a /v2/ path, else None."""
        if not path.startswith("/v2/"):
            return None
        rest = path[4:]
        for kind in ("/manifests/", "/blobs/", "/tags/"):
            if kind in rest:
                name, _, ref = rest.rpartition(kind)
                return kind.strip("/"), name, ref
        return None

    def handle(self, req):
        route = self._route(req.path)
        authorization = req.header("Authorization") or ""
        if self.realm and not authorization.startswith("Bearer "):
            name = route[1] if route else ""
            challenge = 'Bearer realm="%s",service="%s",scope="%s"' % (
                self.realm, self.service, self.scope.replace("{name}", name))
            return at.json_answer(401, {"errors": [{"code": "UNAUTHORIZED",
                                                    "message": "authentication required"}]},
                                  {"WWW-Authenticate": challenge,
                                   "Docker-Distribution-API-Version": "registry/2.0"})
        if req.path == "/v2/":
            return at.json_answer(200, {})
        if route is None:
            return 404, {}, b"not found\n"
        kind, name, ref = route
        if kind == "manifests":
            return 200, {"Content-Type": rt.OCI_MANIFEST,
                         "Docker-Content-Digest": self.MANIFEST_DIGEST}, self.MANIFEST
        if kind == "tags":
            return at.json_answer(200, {"name": name, "tags": ["1"]})
        if self.redirect_base:
            return 307, {"Location": self.redirect_base + req.path}, b""
        if ref == self.CONFIG_DIGEST:
            return 200, {"Content-Type": "application/octet-stream",
                         "Docker-Content-Digest": ref}, self.CONFIG
        return at.json_answer(404, {"errors": [{"code": "BLOB_UNKNOWN", "message": "unknown"}]})

    def bearer_tokens(self, since=0):
        out = []
        for r in self.recorded(since=since):
            value = r.header("Authorization") or ""
            if value.startswith("Bearer "):
                out.append(value[7:].strip())
        return out

# ----------------------------------------------------------------------------
# a listener that only counts connections

class CountingListener:
    """Listens on (host, port 0) and counts accepted connections, closing each at once. For
    a bracketless IPv6 host give family=socket.AF_INET6."""

    def __init__(self, host="127.0.0.1", family=socket.AF_INET):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.host_text = "[%s]" % host if family == socket.AF_INET6 else host
        self.port = self.sock.getsockname()[1]
        self._lock = threading.Lock()
        self._accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def host(self):
        return "%s:%d" % (self.host_text, self.port)

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self._accepted += 1
            conn.close()

    @property
    def accepted(self):
        with self._lock:
            return self._accepted

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def settle(seconds=0.3):
    """A short pause after an answer, so that a connection regcache made in the background
    would have reached a listener before the test counts."""
    time.sleep(seconds)
