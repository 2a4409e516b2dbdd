"""Helpers for regcache's upstream-credential integration tests (test_auth_*.py).

Standard library only, on top of regtest.py (which this module wraps, never edits):
  * JwtSigner      -- an RSA key and its self-signed certificate (the registry's
                      rootcertbundle); signs RS256 JWTs with `openssl dgst` and puts the
                      certificate in the header's x5c, which distribution 2.8 verifies against
                      the bundle.
  * TokenServer    -- a Docker token server (GET /token?service=..&scope=..): grants by a
                      policy, optionally behind Basic credentials, counts requests per scope.
  * BlobStorage    -- the "object storage" a redirecting registry sends blob GETs to: serves
                      the registry's own storage directory and records every request's headers.
  * FakeEntra      -- Entra ID: an IMDS endpoint (needs `Metadata: true`) and the OAuth 2.0
                      client-credentials endpoint /<tenant>/oauth2/v2.0/token.
  * FakeAcr        -- ACR's /oauth2/exchange and /oauth2/token in front of a real token-auth
                      docker-registry; mints the registry's JWTs.
  * AuthRegistry   -- regtest.Registry with an `auth:` section (token or htpasswd) and
                      optionally the `redirect` storage middleware.
  * AuthRegcache   -- regtest.Regcache with its own environment (AUTH_*, AZURE_*, REGCACHE_*
                      and proxy variables of the caller scrubbed) and an optional JSON config.

Every HTTP server here runs in a daemon thread of the test process, listens on 127.0.0.1 on a
port the kernel picks (bind to port 0, so nothing can race for it), and is stopped by stop()
(class cleanups) and by an atexit hook. Handlers keep connections alive (HTTP/1.1, always a
Content-Length) as real registries and token services do, with a bounded idle timeout.
"""

import atexit
import base64
import http.server
import json
import os
import re
import secrets
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402

# ----------------------------------------------------------------------------
# encodings

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def unsigned_jwt(claims):
    """A JWT-shaped token whose signature nobody checks (Entra and ACR refresh tokens: regcache
    only reads their exp)."""
    header = {"typ": "JWT", "alg": "RS256", "kid": "regtest-fake"}
    return "%s.%s.%s" % (b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()),
                         b64url(secrets.token_bytes(32)))

# ----------------------------------------------------------------------------
# JWT signing with the openssl CLI (the standard library has no RSA)

class JwtSigner:
    """An RSA-2048 key with a self-signed certificate. The certificate file is what the
    registry's `rootcertbundle` names; tokens carry it in x5c."""

    def __init__(self, directory, name="regtest-token-signer"):
        os.makedirs(directory, exist_ok=True)
        self.key_path = os.path.join(directory, name + ".key")
        self.cert_path = os.path.join(directory, name + ".pem")
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", self.key_path, "-out", self.cert_path, "-days", "7",
                            "-subj", "/CN=" + name],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("openssl req failed: %s" % r.stderr.decode(errors="replace"))
        with open(self.cert_path) as f:
            pem = f.read()
        body = re.search(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", pem, re.S)
        # PEM's body is the DER in standard base64, which is what x5c holds.
        self.x5c = "".join(body.group(1).split())
        self._lock = threading.Lock()

    def sign(self, claims):
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing_input = "%s.%s" % (b64url(json.dumps(header, separators=(",", ":")).encode()),
                                   b64url(json.dumps(claims, separators=(",", ":")).encode()))
        r = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key_path],
                           input=signing_input.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("openssl dgst -sign failed: %s" % r.stderr.decode(errors="replace"))
        return signing_input + "." + b64url(r.stdout)

    def registry_token(self, issuer, audience, subject, access, lifetime_s):
        now = int(time.time())
        return self.sign({"iss": issuer, "sub": subject, "aud": audience, "exp": now + lifetime_s,
                          "nbf": now - 10, "iat": now, "jti": secrets.token_hex(12),
                          "access": access})


def parse_scope(scope):
    """'repository:name:pull,push' -> ('repository', 'name', ['pull', 'push']) or None."""
    typ, sep, rest = scope.partition(":")
    if not sep:
        return None
    name, sep, actions = rest.rpartition(":")
    if not sep or not name:
        return None
    return typ, name, [a for a in actions.split(",") if a]


def basic_user(headers, users):
    """(user, ok): the Basic user named in headers (None when there is no Basic header) and
    whether its password matches `users`."""
    value = headers.get("Authorization") or ""
    if not value.lower().startswith("basic "):
        return None, False
    try:
        user, _, password = base64.b64decode(value[6:].strip()).decode().partition(":")
    except Exception:  # noqa: BLE001
        return "<undecodable>", False
    return user, users.get(user) == password

# ----------------------------------------------------------------------------
# in-process HTTP servers

_servers = []
_servers_lock = threading.Lock()


def _stop_all_servers():
    with _servers_lock:
        servers = list(_servers)
    for s in servers:
        try:
            s.stop()
        except Exception:  # noqa: BLE001
            pass


atexit.register(_stop_all_servers)


class _Threaded(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False     # stop() must not wait for idle keep-alive connections
    allow_reuse_address = True
    request_queue_size = 64


class Recorded:
    """One request as a server saw it."""

    def __init__(self, method, path, query, headers, form, time_s):
        self.method = method
        self.path = path
        self.query = query          # {name: [values]}
        self.headers = headers      # [(name, value)]
        self.form = form            # {name: [values]} of a form body, else {}
        self.time = time_s

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def q(self, name):
        v = self.query.get(name)
        return v[0] if v else None

    def f(self, name):
        v = self.form.get(name)
        return v[0] if v else None

    def __repr__(self):
        redacted = [(k, "<%d bytes>" % len(v) if k.lower() == "authorization" else v)
                    for k, v in self.headers]
        return "<%s %s query=%r form-keys=%r headers=%r>" % (
            self.method, self.path, self.query, sorted(self.form), redacted)


class HttpServer:
    """A threaded http.server whose handler calls self.handle(req) -> (status, headers, body).
    Every request is recorded (self.requests) before it is handled."""

    label = "http-server"

    def __init__(self):
        self.requests = []
        self._lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30                      # idle keep-alive connections end

            def log_message(self, fmt, *args):  # noqa: A003 - quiet; requests are recorded
                pass

            def _serve(self):
                parsed = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                form = {}
                if (self.headers.get("Content-Type") or "").startswith(
                        "application/x-www-form-urlencoded"):
                    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"),
                                                 keep_blank_values=True)
                req = Recorded(self.command, parsed.path,
                               urllib.parse.parse_qs(parsed.query, keep_blank_values=True),
                               list(self.headers.items()), form, time.time())
                req.raw_body = body
                with owner._lock:
                    owner.requests.append(req)
                try:
                    status, headers, payload = owner.handle(req)
                except Exception as e:  # noqa: BLE001 - a bug here must show, not hang
                    status, headers, payload = 500, {}, ("handler error: %r" % e).encode()
                    print("%s: handler error for %r: %r" % (owner.label, req, e), file=sys.stderr)
                if isinstance(payload, str):
                    payload = payload.encode()
                stream = None
                if isinstance(payload, tuple):    # a file: (fileobj, size)
                    stream, size = payload
                else:
                    size = len(payload)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                if self.command != "HEAD":
                    if stream is not None:
                        with stream:
                            while True:
                                b = stream.read(1 << 20)
                                if not b:
                                    break
                                self.wfile.write(b)
                    else:
                        self.wfile.write(payload)

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = _serve

        self.httpd = _Threaded(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        self._stopped = False
        with _servers_lock:
            _servers.append(self)

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "http://" + self.host

    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        self.httpd.shutdown()          # returns once serve_forever has ended
        self.httpd.server_close()      # no more connections are accepted
        self._thread.join(10)
        with _servers_lock:
            if self in _servers:
                _servers.remove(self)

    def mark(self):
        """A mark for recorded(since=...): the number of requests so far."""
        with self._lock:
            return len(self.requests)

    def recorded(self, pred=lambda r: True, since=0):
        with self._lock:
            return [r for r in self.requests[since:] if pred(r)]

    def handle(self, req):
        raise NotImplementedError


def json_answer(status, obj, extra_headers=None):
    h = {"Content-Type": "application/json"}
    h.update(extra_headers or {})
    return status, h, json.dumps(obj).encode()


def oauth_error(status, code, description):
    return json_answer(status, {"error": code, "error_description": description})

# ----------------------------------------------------------------------------
# Docker token server

def default_policy(name, actions, user):
    """public/* for anyone, private/* for an authenticated user; pull and push only."""
    allowed = {"pull", "push"}
    if name.startswith("public/"):
        return [a for a in actions if a in allowed]
    if name.startswith("private/") and user is not None:
        return [a for a in actions if a in allowed]
    return []


class TokenServer(HttpServer):
    """GET /token?service=S&scope=repository:NAME:ACTIONS[&scope=...][&account=A], as the
    distribution token spec describes. Basic credentials, when sent, must be right (401
    otherwise); an anonymous request gets what the policy grants anonymously. Each answer
    carries token and access_token (the same JWT), expires_in and issued_at.

    lifetimes: [(name prefix, seconds)], first match wins, else `lifetime_s`. GET /counts
    answers {"scope": number of /token requests that asked for it}."""

    label = "token-server"

    def __init__(self, signer, service="regtest", issuer="regtest-issuer", users=None,
                 policy=default_policy, lifetime_s=300, lifetimes=()):
        self.signer = signer
        self.service = service
        self.issuer = issuer
        self.users = dict(users or {"user": "pass"})
        self.policy = policy
        self.lifetime_s = lifetime_s
        self.lifetimes = list(lifetimes)
        super().__init__()

    @property
    def realm(self):
        return self.url + "/token"

    def token_requests(self, scope=None, since=0):
        return self.recorded(lambda r: r.path == "/token" and
                             (scope is None or scope in r.query.get("scope", [])), since)

    def count(self, scope):
        return len(self.token_requests(scope))

    def counts(self):
        out = {}
        for r in self.token_requests():
            for s in r.query.get("scope", []):
                out[s] = out.get(s, 0) + 1
        return out

    def lifetime_for(self, names):
        for prefix, seconds in self.lifetimes:
            if any(n.startswith(prefix) for n in names):
                return seconds
        return self.lifetime_s

    def handle(self, req):
        if req.path == "/counts" and req.method == "GET":
            return json_answer(200, self.counts())
        if req.path != "/token":
            return 404, {}, b"not found\n"
        if req.method != "GET":
            return 405, {"Allow": "GET"}, b"method not allowed\n"
        user, ok = basic_user(dict(req.headers), self.users)
        if user is not None and not ok:
            return json_answer(401, {"errors": [{"code": "UNAUTHORIZED",
                                                 "message": "wrong user or password"}]},
                               {"WWW-Authenticate": 'Basic realm="regtest-token"'})
        access, names = [], []
        for scope in req.query.get("scope", []):
            parsed = parse_scope(scope)
            if parsed is None:
                return json_answer(400, {"errors": [{"code": "DENIED",
                                                     "message": "bad scope %r" % scope}]})
            typ, name, actions = parsed
            granted = self.policy(name, actions, user) if typ == "repository" else []
            names.append(name)
            if granted:
                access.append({"type": typ, "name": name, "actions": granted})
        lifetime = self.lifetime_for(names)
        token = self.signer.registry_token(self.issuer, req.q("service") or self.service,
                                           user or "", access, lifetime)
        return json_answer(200, {"token": token, "access_token": token, "expires_in": lifetime,
                                 "issued_at": rfc3339(time.time())})

# ----------------------------------------------------------------------------
# blob storage behind a redirecting registry

class BlobStorage(HttpServer):
    """Serves files under `root` by URL path (GET and HEAD), as object storage would serve a
    registry's blobs. A registry whose storage middleware `redirect` has baseurl = self.url
    answers blob GETs with 307 to http://127.0.0.1:PORT/docker/registry/v2/blobs/.../data."""

    label = "blob-storage"

    def __init__(self, root):
        self.root = os.path.realpath(root)
        super().__init__()

    def handle(self, req):
        if req.method not in ("GET", "HEAD"):
            return 405, {"Allow": "GET, HEAD"}, b""
        p = os.path.realpath(os.path.join(self.root, urllib.parse.unquote(req.path).lstrip("/")))
        if not p.startswith(self.root + os.sep) or not os.path.isfile(p):
            return 404, {}, b"no such object\n"
        size = os.path.getsize(p)
        return 200, {"Content-Type": "application/octet-stream"}, (open(p, "rb"), size)

    @staticmethod
    def digest_of(path):
        """/docker/registry/v2/blobs/sha256/ab/<hex>/data -> sha256:<hex>, else None."""
        m = re.search(r"/blobs/(sha256)/[0-9a-f]{2}/([0-9a-f]{64})/data$", path)
        return "%s:%s" % (m.group(1), m.group(2)) if m else None

# ----------------------------------------------------------------------------
# Entra ID and ACR

ARM_RESOURCE = "https://management.azure.com"


class FakeEntra(HttpServer):
    """Managed identity (IMDS): GET /metadata/identity/oauth2/token?api-version=2018-02-01&
    resource=<ARM> with `Metadata: true` (400 without, as the real endpoint).
    Service principal: POST /<tenant>/oauth2/v2.0/token, form grant_type=client_credentials,
    client_id, client_secret, scope=<ARM>/.default (401 invalid_client when wrong).
    Issued access tokens are remembered; FakeAcr accepts only those."""

    label = "fake-entra"
    IMDS_PATH = "/metadata/identity/oauth2/token"

    def __init__(self, tenant="regtest-tenant", client_id="regtest-client",
                 client_secret="regtest-secret", lifetime_s=3600):
        self.tenant = tenant
        self.client_id = client_id
        self.client_secret = client_secret
        self.lifetime_s = lifetime_s
        self.issued = set()
        super().__init__()

    @property
    def imds_url(self):
        return self.url + self.IMDS_PATH

    @property
    def authority_url(self):
        return self.url

    def _mint(self, how):
        now = int(time.time())
        tok = unsigned_jwt({"aud": ARM_RESOURCE, "iss": "https://sts.windows.net/%s/" % self.tenant,
                            "iat": now, "nbf": now, "exp": now + self.lifetime_s,
                            "oid": "00000000-regtest", "how": how})
        with self._lock:
            self.issued.add(tok)
        return tok, now

    def handle(self, req):
        if req.path == self.IMDS_PATH and req.method == "GET":
            if (req.header("Metadata") or "").lower() != "true":
                return oauth_error(400, "invalid_request", "Required metadata header not specified")
            if req.q("api-version") is None:
                return oauth_error(400, "invalid_request", "api-version missing")
            resource = req.q("resource") or ""
            if resource.rstrip("/") != ARM_RESOURCE:
                return oauth_error(400, "invalid_resource", "resource %r" % resource)
            tok, now = self._mint("imds")
            return json_answer(200, {
                "access_token": tok, "client_id": "imds-client", "expires_in": str(self.lifetime_s),
                "expires_on": str(now + self.lifetime_s), "ext_expires_in": str(self.lifetime_s),
                "not_before": str(now), "resource": resource, "token_type": "Bearer"})
        m = re.fullmatch(r"/([^/]+)/oauth2/v2\.0/token", req.path)
        if m and req.method == "POST":
            if m.group(1) != self.tenant:
                return oauth_error(400, "invalid_tenant", "tenant %r not found" % m.group(1))
            if req.f("grant_type") != "client_credentials":
                return oauth_error(400, "unsupported_grant_type", repr(req.f("grant_type")))
            if req.f("client_id") != self.client_id or req.f("client_secret") != self.client_secret:
                return oauth_error(401, "invalid_client", "bad client id or secret")
            wanted = ARM_RESOURCE + "/.default"
            if (req.f("scope") or "").replace("//.default", "/.default") != wanted:
                return oauth_error(400, "invalid_scope", repr(req.f("scope")))
            tok, _now = self._mint("client_credentials")
            return json_answer(200, {"token_type": "Bearer", "expires_in": self.lifetime_s,
                                     "ext_expires_in": self.lifetime_s, "access_token": tok})
        return 404, {}, b"not found\n"


class FakeAcr(HttpServer):
    """ACR's token endpoints in front of a token-auth docker-registry whose realm is
    self.token_url:
      POST /oauth2/exchange  grant_type=access_token, service, access_token(Entra)[, tenant]
                             -> {"refresh_token": JWT(exp)}
      POST /oauth2/token     grant_type=refresh_token, service, scope, refresh_token
                             -> {"access_token": registry JWT for the scope}
      GET  /oauth2/token     ?service&scope with Basic admin credentials (how the test
                             pushes; docker-token-spec form)"""

    label = "fake-acr"

    def __init__(self, signer, entra, registry_service="regtest-acr", issuer="regtest-acr-issuer",
                 admin=("admin", "adminpass"), refresh_lifetime_s=3 * 3600, access_lifetime_s=300):
        self.signer = signer
        self.entra = entra
        self.registry_service = registry_service
        self.issuer = issuer
        self.admin = admin
        self.refresh_lifetime_s = refresh_lifetime_s
        self.access_lifetime_s = access_lifetime_s
        self.refresh_tokens = set()
        super().__init__()

    @property
    def exchange_url(self):
        return self.url + "/oauth2/exchange"

    @property
    def token_url(self):
        return self.url + "/oauth2/token"

    def _registry_token(self, scopes, actions_allowed, subject):
        access = []
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed and parsed[0] == "repository":
                granted = [a for a in parsed[2] if a in actions_allowed]
                if granted:
                    access.append({"type": "repository", "name": parsed[1], "actions": granted})
        return self.signer.registry_token(self.issuer, self.registry_service, subject, access,
                                          self.access_lifetime_s)

    def handle(self, req):
        if req.path == "/oauth2/exchange" and req.method == "POST":
            if req.f("grant_type") != "access_token":
                return oauth_error(400, "unsupported_grant_type", repr(req.f("grant_type")))
            if req.f("access_token") not in self.entra.issued:
                return oauth_error(401, "invalid_grant", "access_token not issued by Entra ID")
            now = int(time.time())
            rt_jwt = unsigned_jwt({"aud": req.f("service"), "iss": "azurecr.io", "iat": now,
                                   "nbf": now, "exp": now + self.refresh_lifetime_s,
                                   "grant_type": "refresh_token", "jti": secrets.token_hex(8)})
            with self._lock:
                self.refresh_tokens.add(rt_jwt)
            return json_answer(200, {"refresh_token": rt_jwt})
        if req.path == "/oauth2/token" and req.method == "POST":
            if req.f("grant_type") != "refresh_token":
                return oauth_error(400, "unsupported_grant_type", repr(req.f("grant_type")))
            if req.f("refresh_token") not in self.refresh_tokens:
                return oauth_error(401, "invalid_grant", "unknown refresh token")
            scopes = req.form.get("scope", [])
            tok = self._registry_token(scopes, {"pull"}, "acr-refresh-token-user")
            return json_answer(200, {"access_token": tok})
        if req.path == "/oauth2/token" and req.method == "GET":
            user, ok = basic_user(dict(req.headers), {self.admin[0]: self.admin[1]})
            if not ok:
                return json_answer(401, {"errors": [{"code": "UNAUTHORIZED",
                                                     "message": "authentication required"}]},
                                   {"WWW-Authenticate": 'Basic realm="fake-acr"'})
            tok = self._registry_token(req.query.get("scope", []), {"pull", "push"}, user)
            return json_answer(200, {"token": tok, "access_token": tok,
                                     "expires_in": self.access_lifetime_s})
        return 404, {}, b"not found\n"

# ----------------------------------------------------------------------------
# docker-registry with auth

def make_htpasswd(path, users):
    """An htpasswd file with bcrypt entries (distribution accepts bcrypt only)."""
    lines = []
    for user, password in users.items():
        r = subprocess.run(["htpasswd", "-nbB", user, password], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("htpasswd failed: %s" % r.stderr.decode(errors="replace"))
        lines.append(r.stdout.decode().strip())
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


class AuthRegistry(rt.Registry):
    """regtest.Registry plus an auth section:
        token=(realm, service, issuer, rootcertbundle)   or   htpasswd=(realm, path)
    and redirect_baseurl: the `redirect` storage middleware (blob GETs answer 307 to
    <baseurl><storage path>). /v2/ answers 401 here, so readiness is a 401 with a challenge."""

    def __init__(self, workdir, name, token=None, htpasswd=None, redirect_baseurl=None, **kw):
        self.token_auth = token
        self.htpasswd_auth = htpasswd
        self.redirect_baseurl = redirect_baseurl
        super().__init__(workdir, name, **kw)

    def _write_config(self):
        super()._write_config()
        lines = []
        if self.token_auth:
            realm, service, issuer, bundle = self.token_auth
            lines += ["auth:", "  token:",
                      "    realm: %s" % json.dumps(realm),
                      "    service: %s" % json.dumps(service),
                      "    issuer: %s" % json.dumps(issuer),
                      "    rootcertbundle: %s" % json.dumps(bundle)]
        elif self.htpasswd_auth:
            realm, path = self.htpasswd_auth
            lines += ["auth:", "  htpasswd:",
                      "    realm: %s" % json.dumps(realm),
                      "    path: %s" % json.dumps(path)]
        if self.redirect_baseurl:
            lines += ["middleware:", "  storage:", "    - name: redirect", "      options:",
                      "        baseurl: %s" % json.dumps(self.redirect_baseurl)]
        with open(self.config_path, "a") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=30):
        self.proc = rt.Proc(["docker-registry", "serve", self.config_path], self.log_path,
                            "docker-registry %s :%d" % (self.name, self.port),
                            keep=lambda line: 'msg="response completed"' not in line)

        def ready():
            if not self.proc.alive():
                raise RuntimeError("docker-registry %s exited with %r" % (self.name,
                                                                          self.proc.returncode))
            try:
                r = self.get("/v2/", timeout=2)
            except OSError:
                return False
            return r.status == 401 and r.header("WWW-Authenticate")
        try:
            rt.poll(ready, timeout, interval=0.05, what="%s /v2/ -> 401" % self.url)
        except Exception:
            self.stop()
            raise
        return self

# ----------------------------------------------------------------------------
# regcache with its own environment and config file

# Variables regcache reads that must never leak in from the environment the tests run in.
_SCRUB = re.compile(r"^(REGCACHE_.*|AUTH_REGISTR.*|REGISTRIES|AZURE_.*|MSI_.*|IDENTITY_.*|"
                    r"DOCKER_CONFIG|HTTPS?_PROXY|https?_proxy|NO_PROXY|no_proxy|ALL_PROXY|UPSTREAM_PROXY)$")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not _SCRUB.match(k)}
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


class AuthRegcache(rt.Regcache):
    """regtest.Regcache started with env (a scrubbed copy of os.environ plus `env`) and, when
    `config` is given, that object written as a 0600 JSON file passed with --config."""

    def __init__(self, binary, workdir, upstream_url, env=None, config=None, **kw):
        super().__init__(binary, workdir, upstream_url, **kw)
        self.env = clean_env(**(env or {}))
        self.config_path = None
        if config is not None:
            self.config_path = os.path.join(self.workdir, "regcache.json")
            fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(config, f, indent=1)

    def argv(self):
        args = super().argv()
        if self.config_path:
            args += ["--config", self.config_path]
        return args

    def start(self, timeout=30, wait=True):
        self.starts += 1
        self.log_path = os.path.join(self.workdir, "stderr.%d.log" % self.starts)
        self.returncode = None
        self.proc = rt.Proc(self.argv(), self.log_path, "regcache %s :%d (start %d)" % (
            self.name, self.port, self.starts),
            stdout_path=os.path.join(self.workdir, "stdout.%d.log" % self.starts), env=self.env)
        if wait:
            try:
                rt.wait_http_ok(self.url + "/v2/", timeout, self.proc)
            except Exception:
                self.stop()
                raise
        return self

    def cached_files(self, subdir):
        out = []
        for dirpath, _dirs, files in os.walk(os.path.join(self.cache_dir, subdir)):
            out += [os.path.join(dirpath, f) for f in files]
        return out

# ----------------------------------------------------------------------------
# skopeo with credentials, and pulls that are expected to fail

def push_with_creds(layout_dir, ref, host, repo, creds, tag=None, tls_verify=False, extra=()):
    """skopeo copy oci:LAYOUT:REF docker://HOST/REPO:TAG --dest-creds USER:PASS."""
    args = list(extra)
    if creds:
        args += ["--dest-creds", "%s:%s" % creds]
    return rt.skopeo_copy("oci:%s:%s" % (layout_dir, ref),
                          "docker://%s/%s:%s" % (host, repo, tag or ref),
                          dest_tls_verify=tls_verify, extra=args)


def pull_refused(host, ref, out_layout, timeout=120):
    """skopeo pull that must fail; returns its CompletedProcess."""
    return rt.skopeo_copy("docker://%s/%s" % (host, ref), "oci:%s:x" % out_layout,
                          src_tls_verify=False, check=False, timeout=timeout)


def run_parallel(fns, timeout=300):
    """Runs each fn in its own thread; returns their results (an exception object when one
    raised). Bounded by `timeout` per join."""
    results = [None] * len(fns)

    def run(i, fn):
        try:
            results[i] = fn()
        except Exception as e:  # noqa: BLE001 - returned to the caller
            results[i] = e
    threads = [threading.Thread(target=run, args=(i, fn), daemon=True) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    for i, t in enumerate(threads):
        if t.is_alive():
            results[i] = TimeoutError("parallel task %d still running after %ds" % (i, timeout))
    return results

