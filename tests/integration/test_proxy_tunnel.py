#!/usr/bin/env python3
"""CONNECT tunnels (issue 13): every host regcache does not intercept is tunnelled untouched.

Tunnels to loopback are refused by design, so the destination lives in a network namespace this
file creates: a veth pair with a private /30 (10.231.X.0/30, X from the test's pid), regcache in
the root namespace at .1's side, and in the namespace a small Python server: TLS on 443 with a
certificate from this file's CA (an HTTP answer naming the namespace), a plain echo on 9000
that half-closes when its client does, and on 80 an HTTP server that answers with the request
head it got (what a forwarded request looked like). Everything is removed at the end, also on failure.

  A  defaults, --tunnels-max 2            443 reached (its own certificate), refused addresses and
                                          ports, the tunnel bound, plain-HTTP forwarding's rules
  B  --tunnel-ports 9000 --proxy-users    early bytes, half close, 407 and 200, 443 now refused,
                                          a forwarded http:// request as the destination saw it
  C  --allow-clients 10.0.0.0/8           127.0.0.1 may not tunnel
  D  --tunnel-idle-timeout-ms 1000        a silent tunnel is closed
  E  --shutdown-grace-ms 500              SIGTERM ends an open tunnel after the grace, logged

Run: python3 tests/integration/test_proxy_tunnel.py --regcache build/regcache
"""

import base64
import os
import re
import socket
import ssl
import subprocess
import sys
import textwrap
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402

TMP = CA = None
NS = VETH_HOST = None
NS_ADDRESS = None          # the namespace's side of the /30
SERVER = None              # the namespace's server process
RC = {}                    # name -> rt.Regcache
USERS = {"alice": "secret"}
NS_GREETING = b"hello from the namespace"

SERVER_SCRIPT = textwrap.dedent('''
    import socket, ssl, sys, threading
    cert, key, address = sys.argv[1], sys.argv[2], sys.argv[3]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def read_head(conn):
        head = b""
        while b"\\r\\n\\r\\n" not in head and len(head) < 65536:
            got = conn.recv(4096)
            if not got:
                return None
            head += got
        return head

    def https(conn):
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(10)
                if read_head(tls) is None:
                    return
                body = b"%s\\n"
                tls.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %%d\\r\\n"
                            b"Connection: close\\r\\n\\r\\n%%s" %% (len(body), body))
        except Exception:
            pass

    def echo(conn):
        with conn:
            conn.settimeout(60)
            try:
                while True:
                    got = conn.recv(65536)
                    if not got:
                        conn.shutdown(socket.SHUT_WR)  # half close back, after all was echoed
                        return
                    conn.sendall(got)
            except Exception:
                pass

    def http_echo(conn):
        # Answers with the request head it received, so the test sees what the proxy sent.
        with conn:
            conn.settimeout(10)
            try:
                head = read_head(conn)
                if head is not None:
                    conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %%d\\r\\n"
                                 b"Connection: close\\r\\n\\r\\n%%s" %% (len(head), head))
            except Exception:
                pass

    def serve(port, handler):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((address, port))
        listener.listen(64)
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, args=(9000, echo), daemon=True).start()
    threading.Thread(target=serve, args=(80, http_echo), daemon=True).start()
    serve(443, https)
''' % NS_GREETING.decode())


def run(*args):
    subprocess.run(list(args), check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   timeout=30)


def remove_namespace():
    # Deleting the namespace deletes its veth end, and with it the pair.
    if NS:
        subprocess.run(["ip", "netns", "del", NS], stderr=subprocess.DEVNULL, timeout=30)
    if VETH_HOST:
        subprocess.run(["ip", "link", "del", VETH_HOST], stderr=subprocess.DEVNULL, timeout=30)


def free_subnet():
    """A third octet X whose 10.231.X.0/30 no interface of this host uses."""
    used = subprocess.run(["ip", "-4", "-o", "addr", "show"], stdout=subprocess.PIPE,
                          timeout=30).stdout.decode()
    for step in range(256):
        x = (os.getpid() + step) % 256
        if ("10.231.%d." % x) not in used:
            return x
    raise RuntimeError("no free 10.231.X.0/30")


def make_namespace():
    global NS, VETH_HOST, NS_ADDRESS
    tag = os.getpid() % 10000000
    x = free_subnet()
    NS, VETH_HOST, veth_ns = "rctun%d" % tag, "rcta%d" % tag, "rctb%d" % tag
    unittest.addModuleCleanup(remove_namespace)
    run("ip", "netns", "add", NS)
    run("ip", "link", "add", VETH_HOST, "type", "veth", "peer", "name", veth_ns)
    run("ip", "link", "set", veth_ns, "netns", NS)
    run("ip", "addr", "add", "10.231.%d.1/30" % x, "dev", VETH_HOST)
    run("ip", "link", "set", VETH_HOST, "up")
    NS_ADDRESS = "10.231.%d.2" % x
    run("ip", "netns", "exec", NS, "ip", "addr", "add", NS_ADDRESS + "/30", "dev", veth_ns)
    run("ip", "netns", "exec", NS, "ip", "link", "set", veth_ns, "up")
    run("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up")


def start_namespace_server():
    global SERVER
    cert, key = rt.make_server_cert(os.path.join(TMP, "ns-cert"), CA[0], CA[1], name="ns-server",
                                    san="IP:%s" % NS_ADDRESS)
    script = os.path.join(TMP, "ns_server.py")
    with open(script, "w") as f:
        f.write(SERVER_SCRIPT)
    SERVER = rt.Proc(["ip", "netns", "exec", NS, sys.executable, script, cert, key, NS_ADDRESS],
                     os.path.join(TMP, "ns_server.log"), "namespace server")
    unittest.addModuleCleanup(SERVER.stop)

    def listening():
        try:
            socket.create_connection((NS_ADDRESS, 9000), timeout=1).close()
            socket.create_connection((NS_ADDRESS, 443), timeout=1).close()
            socket.create_connection((NS_ADDRESS, 80), timeout=1).close()
            return True
        except OSError:
            return False
    rt.poll(listening, 30, what="the namespace server listening")


def start_regcache(name, args, ready_status=200):
    rc = rt.Regcache(rt.REGCACHE, TMP, "http://127.0.0.1:9", name=name, extra_args=args)
    unittest.addModuleCleanup(rc.stop)
    rc.start(wait=False)

    def answers():
        try:
            return rt.http_request("GET", rc.url + "/v2/", timeout=5).status == ready_status
        except OSError:
            return False
    rt.poll(answers, 30, what="regcache %s answering" % name)
    RC[name] = rc
    return rc


def setUpModule():
    global TMP, CA
    TMP = rt.mkdtemp("regcache-tunnel-")
    CA = rt.make_ca(os.path.join(TMP, "ca"))
    make_namespace()
    start_namespace_server()
    users = os.path.join(TMP, "proxy-users")
    with open(users, "w") as f:
        for user, password in USERS.items():
            f.write(subprocess.run(["htpasswd", "-nbB", user, password], check=True,
                                   stdout=subprocess.PIPE, timeout=60).stdout.decode().strip()
                    + "\n")
    start_regcache("a", ["--tunnels-max", "2"])
    start_regcache("b", ["--tunnel-ports", "9000", "--proxy-users", users])
    start_regcache("c", ["--allow-clients", "10.0.0.0/8"], ready_status=403)
    start_regcache("d", ["--tunnel-idle-timeout-ms", "1000"])
    start_regcache("e", ["--shutdown-grace-ms", "500"])


def proxy_auth(user="alice", password=None):
    raw = "%s:%s" % (user, USERS[user] if password is None else password)
    return "Proxy-Authorization: Basic %s\r\n" % base64.b64encode(raw.encode()).decode()


def connect(rc, target, extra_headers="", early=b""):
    """Sends CONNECT target to `rc` (with `early` bytes in the same send); returns (status,
    head text, the socket, bytes read past the head)."""
    sock = socket.create_connection(("127.0.0.1", rc.port), timeout=20)
    sock.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (target, target, extra_headers))
                 .encode() + early)
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        got = sock.recv(4096)
        if not got:
            break
        data += got
    head, _, rest = data.partition(b"\r\n\r\n")
    match = re.match(rb"HTTP/1\.1 (\d{3})", head)
    status = int(match.group(1)) if match else 0
    return status, head.decode("latin-1"), sock, rest


def read_until_eof(sock, first=b"", limit=1 << 20):
    data = first
    while len(data) < limit:
        got = sock.recv(65536)
        if not got:
            break
        data += got
    return data


def metric(rc, name, labels=""):
    text = rt.http_request("GET", rc.url + "/metrics").body.decode()
    match = re.search(r"^%s%s (\d+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return int(match.group(1)) if match else None


class TunnelTest(unittest.TestCase):
    def test_curl_reaches_the_namespace_server_and_sees_its_certificate(self):
        rc = RC["a"]
        out = subprocess.run(
            ["curl", "-sS", "--max-time", "30", "--proxy", rc.url, "--cacert", CA[0],
             "https://%s/" % NS_ADDRESS], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=60)
        # --cacert holds only this file's CA: the handshake succeeds only with the namespace
        # server's own certificate, which also proves regcache did not terminate the TLS.
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        self.assertEqual(out.stdout.strip(), NS_GREETING)
        rt.poll(lambda: re.search(r"CONNECT %s:443 200 \d+ .*TUNNEL up=\d+"
                                  % re.escape(NS_ADDRESS), rc.log_text()),
                20, what="the tunnel's access-log line")
        self.assertGreaterEqual(metric(rc, "regcache_tunnels_total", '{result="ok"}'), 1)
        rt.poll(lambda: metric(rc, "regcache_tunnel_bytes_total", '{direction="down"}') > 0, 20,
                what="tunnel bytes counted")

    def test_loopback_link_local_and_unspecified_destinations_are_refused(self):
        rc = RC["a"]
        before = metric(rc, "regcache_tunnels_total", '{result="refused_address"}')
        for target in ("127.0.0.1:443", "169.254.169.254:443", "[::1]:443", "0.0.0.0:443",
                       "[::ffff:127.0.0.1]:443", "localhost:443"):
            status, head, sock, _ = connect(rc, target)
            sock.close()
            self.assertEqual(status, 403, "%s: %s" % (target, head))
        self.assertEqual(metric(rc, "regcache_tunnels_total", '{result="refused_address"}'),
                         before + 6)

    def test_a_name_that_does_not_resolve_gets_502(self):
        status, head, sock, _ = connect(RC["a"], "no-such-host.invalid:443")
        sock.close()
        self.assertEqual(status, 502, head)
        self.assertGreaterEqual(metric(RC["a"], "regcache_tunnels_total",
                                       '{result="unreachable"}'), 1)

    def test_a_port_outside_the_allowed_set_is_refused(self):
        status, head, sock, rest = connect(RC["a"], "%s:9000" % NS_ADDRESS)
        body = read_until_eof(sock, rest)
        sock.close()
        self.assertEqual(status, 403, head)
        self.assertIn(b"port 9000", body)
        self.assertIn("Connection: close", head)

    def test_tunnel_ports_allows_its_ports_and_replaces_the_default(self):
        status, head, sock, _ = connect(RC["b"], "%s:9000" % NS_ADDRESS, proxy_auth())
        sock.close()
        self.assertEqual(status, 200, head)
        status, head, sock, _ = connect(RC["b"], "%s:443" % NS_ADDRESS, proxy_auth())
        sock.close()
        self.assertEqual(status, 403, head)

    def test_bytes_sent_right_behind_the_connect_head_arrive_and_a_half_close_passes(self):
        payload = b"early bytes in the CONNECT's own packet\n" * 50
        status, head, sock, rest = connect(RC["b"], "%s:9000" % NS_ADDRESS, proxy_auth(),
                                           early=payload)
        self.assertEqual(status, 200, head)
        sock.sendall(b"and more after the 200\n")
        # Our half close reaches the echo server, which answers everything and then closes.
        sock.shutdown(socket.SHUT_WR)
        echoed = read_until_eof(sock, rest)
        sock.close()
        self.assertEqual(echoed, payload + b"and more after the 200\n")

    def test_proxy_users_refuses_missing_and_wrong_credentials_with_407(self):
        target = "%s:9000" % NS_ADDRESS
        for headers in ("", proxy_auth(password="wrong"), proxy_auth().replace("Basic", "Bearer")):
            status, head, sock, _ = connect(RC["b"], target, headers)
            sock.close()
            self.assertEqual(status, 407, head)
            self.assertIn('Proxy-Authenticate: Basic realm="regcache"', head)
        status, head, sock, _ = connect(RC["b"], target, proxy_auth())
        sock.close()
        self.assertEqual(status, 200, head)
        self.assertNotIn(base64.b64encode(b"alice:secret").decode(), RC["b"].log_text())

    def test_proxy_users_leaves_the_mirror_api_alone(self):
        self.assertEqual(rt.http_request("GET", RC["b"].url + "/v2/").status, 200)

    def test_allow_clients_excludes_a_client_from_tunnels(self):
        status, head, sock, _ = connect(RC["c"], "%s:443" % NS_ADDRESS)
        sock.close()
        self.assertEqual(status, 403, head)

    def test_tunnels_max_reached_gets_503_with_retry_after(self):
        rc = RC["a"]
        held = []
        try:
            for _ in range(2):
                status, head, sock, _ = connect(rc, "%s:443" % NS_ADDRESS)
                held.append(sock)
                self.assertEqual(status, 200, head)
            rt.poll(lambda: metric(rc, "regcache_tunnels_open") == 2, 20,
                    what="two tunnels open")
            status, head, sock, _ = connect(rc, "%s:443" % NS_ADDRESS)
            sock.close()
            self.assertEqual(status, 503, head)
            self.assertIn("Retry-After:", head)
        finally:
            for sock in held:
                sock.close()
        rt.poll(lambda: metric(rc, "regcache_tunnels_open") == 0, 20, what="the tunnels closed")
        status, head, sock, _ = connect(rc, "%s:443" % NS_ADDRESS)
        sock.close()
        self.assertEqual(status, 200, head)

    def test_idle_timeout_closes_a_silent_tunnel(self):
        status, head, sock, rest = connect(RC["d"], "%s:443" % NS_ADDRESS)
        self.assertEqual(status, 200, head)
        self.assertEqual(rest, b"")
        # Nothing is sent either way: regcache closes the tunnel (EOF), well before this
        # socket's own timeout.
        sock.settimeout(30)
        self.assertEqual(read_until_eof(sock), b"")
        sock.close()

    def forward(self, rc, target, headers=""):
        sock = socket.create_connection(("127.0.0.1", rc.port), timeout=20)
        host = target.split("/")[2]
        sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (target, host, headers))
                     .encode())
        answer = read_until_eof(sock)
        sock.close()
        return answer

    def test_absolute_form_requests_for_other_hosts_are_forwarded_in_origin_form(self):
        answer = self.forward(RC["b"], "http://%s/some/path?q=1" % NS_ADDRESS,
                              proxy_auth() + "Proxy-Connection: keep-alive\r\n"
                              "Connection: X-Secret\r\nX-Secret: hop\r\nX-Kept: end-to-end\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 "), answer[:300])
        received = answer.partition(b"\r\n\r\n")[2]
        # What the destination got: origin-form, this hop's fields and the credentials gone.
        self.assertTrue(received.startswith(b"GET /some/path?q=1 HTTP/1.1\r\n"), received)
        self.assertIn(b"X-Kept: end-to-end", received)
        self.assertIn(b"Connection: close", received)
        for dropped in (b"Proxy-Authorization", b"Proxy-Connection", b"X-Secret", b"keep-alive"):
            self.assertNotIn(dropped, received)
        rt.poll(lambda: re.search(r"GET http://%s/some/path\?q=1 200 \d+ .*FORWARD"
                                  % re.escape(NS_ADDRESS), RC["b"].log_text()),
                20, what="the forwarded request's access-log line")

    def test_forwarding_obeys_the_proxy_users_and_the_destination_rules(self):
        answer = self.forward(RC["b"], "http://%s/" % NS_ADDRESS)
        self.assertTrue(answer.startswith(b"HTTP/1.1 407 "), answer[:200])
        answer = self.forward(RC["a"], "http://127.0.0.1:80/")
        self.assertTrue(answer.startswith(b"HTTP/1.1 403 "), answer[:200])
        answer = self.forward(RC["a"], "http://%s:9000/" % NS_ADDRESS)
        self.assertTrue(answer.startswith(b"HTTP/1.1 403 "), answer[:200])

    def test_absolute_form_requests_for_regcache_itself_are_served(self):
        rc = RC["a"]
        sock = socket.create_connection(("127.0.0.1", rc.port), timeout=20)
        sock.sendall(b"GET http://%s/v2/ HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                     % (rc.host.encode(), rc.host.encode()))
        answer = read_until_eof(sock)
        sock.close()
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 "), answer[:200])


class ShutdownTest(unittest.TestCase):
    def test_sigterm_ends_a_tunnel_after_the_grace(self):
        # E's tunnels are never idle-closed within the test: only the shutdown can end this one.
        rc = RC["e"]
        status, head, sock, _ = connect(rc, "%s:443" % NS_ADDRESS)
        self.assertEqual(status, 200, head)
        rc_code, graceful = rc.stop(timeout=20)
        self.assertTrue(graceful)
        self.assertEqual(rc_code, 0)
        sock.settimeout(10)
        self.assertEqual(read_until_eof(sock), b"")
        sock.close()
        self.assertRegex(rc.log_text(), r"CONNECT %s:443 200 " % re.escape(NS_ADDRESS))


if __name__ == "__main__":
    rt.main()
