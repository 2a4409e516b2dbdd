#!/usr/bin/env python3
"""Connection limits (issue 11): idle and silent connections never lock a client out.

  * 10,000 idle keep-alive connections plus 4,096 that send nothing, while a puller (curl for
    every blob, then skopeo for the image) keeps getting verified blobs: 0 failures; the memory
    per idle connection is measured and the memory taken is given back when they close;
  * a connection that sends nothing, half a head, or a head one byte at a time is closed at the
    header timeout (first request too); an idle keep-alive connection is not;
  * at the cap the oldest idle keep-alive connection is closed for a newcomer; with none idle a
    newcomer gets 503 + Retry-After + an OCI TOOMANYREQUESTS body, and the refusals are logged
    once per interval with a count, not once per connection;
  * --connections-per-client-max: past it, 503, while other addresses get in;
  * started under `ulimit -n 1024` (prlimit soft 1024, hard higher) regcache raises its limit
    and says so; with hard 1024 too the cap comes from 1024 and a refusal is a logged 503, not
    a hang.

Clients connect from several 127.0.0.x source addresses (IP_BIND_ADDRESS_NO_PORT), so ten
thousand connections do not run out of ephemeral ports; the test raises its own RLIMIT_NOFILE.
Every wait is a bounded poll; nothing asserts how long something took.
"""
import os
import re
import resource
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402

IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h; not in Python's socket module
SOURCES = ["127.0.0.%d" % n for n in range(2, 10)]
IDLE_CONNECTIONS = 10_000
SILENT_CONNECTIONS = 4_096
# RSS bounds (skipped under AddressSanitizer, whose redzones and quarantine change RSS):
# memory per idle connection, and what may stay after all of them closed.
IDLE_CONNECTION_KIB_MAX = 8
AFTER_BURST_GROWTH_KIB_MAX = 16 * 1024
PING = b"GET /v2/ HTTP/1.1\r\nHost: regcache\r\n\r\n"
PING_AND_CLOSE = b"GET /v2/ HTTP/1.1\r\nHost: regcache\r\nConnection: close\r\n\r\n"


def raise_own_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard >= needed


def connect_from(port, source, timeout=15):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
    sock.bind((source, 0))
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    return sock


class Conn(rt.RawHTTP):
    """regtest's raw HTTP connection, from a chosen source address."""

    def __init__(self, port, source="127.0.0.2", timeout=15):  # noqa: super not called
        self.sock = connect_from(port, source, timeout)
        self.rfile = self.sock.makefile("rb")

    def ping(self):
        """GET /v2/; the Response, or None when the connection was closed or reset."""
        try:
            self.send(PING)
            return self.read_response()
        except (ConnectionResetError, BrokenPipeError):
            return None


def open_idle(port, count, sources=SOURCES):
    """`count` keep-alive connections that each got one answer and now wait between requests.
    All heads are sent first, then every answer read, so this takes seconds, not minutes."""
    socks = []
    for i in range(count):
        sock = connect_from(port, sources[i % len(sources)])
        sock.sendall(PING)
        socks.append(sock)
    for sock in socks:
        got = b""
        for _ in range(100):  # the answer is ~150 bytes
            if got.endswith(b"{}"):
                break
            chunk = sock.recv(4096)
            if not chunk:
                raise AssertionError("an idle connection was closed before its answer")
            got += chunk
        assert got.startswith(b"HTTP/1.1 200"), got[:100]
    return socks


def open_silent(port, count, sources=SOURCES):
    return [connect_from(port, sources[i % len(sources)]) for i in range(count)]


def close_all(socks):
    for sock in socks:
        sock.close()


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def connections_open(rc):
    text = rc.get("/metrics").body.decode()
    m = re.search(r"^regcache_client_connections_open (\d+)$", text, re.M)
    assert m, "regcache_client_connections_open not in /metrics"
    return int(m.group(1))


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def refusal_lines(text):
    """(total, line) for each refusal report in the log."""
    out = []
    for line in text.splitlines():
        m = re.search(r"refused (\d+) connections? with 503", line)
        if m:
            out.append((int(m.group(1)), line))
    return out


def refusals_adding_up_to(rc, mark, total):
    """The refusal reports since `mark` once their counts add up to `total`, else None."""
    found = refusal_lines(rc.log_since(mark))
    return found if sum(n for n, _ in found) >= total else None


def startup_line(rc):
    return rt.poll(lambda: next((line for line in rc.stderr_text().splitlines()
                                 if "listening on" in line), None), 10, what="start-up line")


def assert_busy_503(test, resp, message_part):
    test.assertIsNotNone(resp, "the refused connection was closed without an answer")
    test.assertEqual(resp.status, 503, resp)
    test.assertEqual(resp.header("Retry-After"), "1")
    test.assertEqual(resp.header("Connection"), "close")
    test.assertEqual(resp.error_codes(), ["TOOMANYREQUESTS"], resp)
    test.assertIn(message_part, resp.json()["errors"][0]["message"])


class Fixture:
    """One upstream with one image, shared by the test classes."""
    upstream = None
    image = None
    tmp = None

    @classmethod
    def get(cls):
        if cls.upstream is None:
            cls.tmp = rt.mkdtemp()
            layout = os.path.join(cls.tmp, "src")
            cls.image = rt.make_oci_image(layout, "app", [300 * rt.KiB + 1, 2 * rt.MiB + 7,
                                                          64 * rt.KiB], 11)
            cls.upstream = rt.Registry(cls.tmp).start()
            rt.push(layout, "app", cls.upstream, "app", tag="v1")
        return cls


def curl_blob(rc, digest, source=None, timeout=30):
    """GET of a blob with curl; (http status, body digest or None)."""
    out = os.path.join(Fixture.tmp, "curl-%d.out" % os.getpid())
    args = ["-o", out, "-w", "%{http_code}", "%s/v2/app/blobs/%s" % (rc.url, digest)]
    if source:
        args = ["--interface", source] + args
    r = rt.curl(args, timeout=timeout)
    text = r.stdout.decode().strip()
    status = int(text) if text.isdigit() else 0  # 0: no answer (curl timed out or was reset)
    got = rt.sha256_file(out) if status == 200 else None
    return status, got


class IdleAndSilentFlood(unittest.TestCase):
    """The default cap (from the fd limit) with 14,096 idle and silent connections held."""

    @classmethod
    def setUpClass(cls):
        needed = IDLE_CONNECTIONS + SILENT_CONNECTIONS + 200
        if not raise_own_fd_limit(needed):
            raise unittest.SkipTest("RLIMIT_NOFILE hard limit below %d" % needed)
        fx = Fixture.get()
        cls.image = fx.image
        # A long header timeout, so the silent connections stay for the whole test.
        cls.rc = rt.Regcache(rt.REGCACHE, fx.tmp, fx.upstream.url, name="flood",
                             extra_args=["--header-timeout-ms", "300000", "--no-access-log"])
        cls.rc.start()
        cls.addClassCleanup(cls.rc.stop)

    def pull_everything(self, rounds):
        """Every blob `rounds` times with curl, then the image with skopeo; the failures."""
        failures = []
        for turn in range(rounds):
            for digest in self.image.blob_digests:
                status, got = curl_blob(self.rc, digest, source=SOURCES[turn % len(SOURCES)])
                if status != 200 or got != digest:
                    failures.append((digest, status, got))
        out = os.path.join(Fixture.tmp, "pulled-flood-%d" % len(failures))
        try:
            top, _media_type, digests = rt.pull(self.rc.host, "app:v1", out)
            if top != self.image.top_digest or digests != self.image.all_digests:
                failures.append(("skopeo", top, digests))
        except rt.SkopeoError as e:
            failures.append(("skopeo", str(e)[:300]))
        return failures

    def test_idle_and_silent_connections_do_not_stop_a_puller_and_memory_comes_back(self):
        pid = self.rc.pid
        self.assertEqual(self.pull_everything(1), [])  # cold: the cache fills
        cap = int(re.search(r"connections max (\d+)", startup_line(self.rc)).group(1))
        start_kib = vm_rss_kib(pid)
        fds_before = open_fds(pid)

        idle = open_idle(self.rc.port, IDLE_CONNECTIONS)
        self.addCleanup(close_all, idle)
        # Past the warm wait (100 ms) every idle connection has given its buffers back.
        time.sleep(1)
        idle_kib = vm_rss_kib(pid)
        silent = open_silent(self.rc.port, SILENT_CONNECTIONS)
        self.addCleanup(close_all, silent)
        held = IDLE_CONNECTIONS + SILENT_CONNECTIONS
        rt.poll(lambda: open_fds(pid) >= fds_before + min(held, cap), 30,
                what="regcache to accept every connection")
        flood_kib = vm_rss_kib(pid)

        failures = self.pull_everything(3)
        self.assertEqual(failures, [], "pulls failed with %d idle and %d silent connections"
                         % (IDLE_CONNECTIONS, SILENT_CONNECTIONS))
        self.assertTrue(self.rc.alive())

        close_all(idle)
        close_all(silent)
        rt.poll(lambda: open_fds(pid) <= fds_before + 16, 60,
                what="regcache to close the connections")
        rt.poll(lambda: "burst over" in self.rc.stderr_text(), 30,
                what="the burst's memory to be given back")
        after_kib = vm_rss_kib(pid)
        per_idle_kib = (idle_kib - start_kib) / IDLE_CONNECTIONS
        print("\n    cap %d per worker; RSS KiB: start %d, %d idle %d (%.2f KiB each), "
              "+%d silent %d, all closed %d" % (
                  cap, start_kib, IDLE_CONNECTIONS, idle_kib, per_idle_kib,
                  SILENT_CONNECTIONS, flood_kib, after_kib), file=sys.stderr)
        if rt.under_address_sanitizer(pid):
            self.skipTest("RSS bounds are not measurable under AddressSanitizer")
        self.assertLess(per_idle_kib, IDLE_CONNECTION_KIB_MAX)
        self.assertLess(after_kib - start_kib, AFTER_BURST_GROWTH_KIB_MAX)


class HeaderTimeout(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        fx = Fixture.get()
        cls.rc = rt.Regcache(rt.REGCACHE, fx.tmp, fx.upstream.url, name="header-timeout",
                             extra_args=["--header-timeout-ms", "1000",
                                         "--idle-timeout-ms", "60000"])
        cls.rc.start()
        cls.addClassCleanup(cls.rc.stop)

    def assertClosedWithoutAnswer(self, conn):
        conn.sock.settimeout(20)
        try:
            self.assertEqual(conn.rfile.read(1), b"", "an answer instead of the close")
        except ConnectionResetError:
            pass

    def test_a_connection_that_sends_nothing_is_closed_at_the_header_timeout(self):
        with Conn(self.rc.port) as conn:
            self.assertClosedWithoutAnswer(conn)

    def test_half_a_first_head_is_closed_at_the_header_timeout(self):
        with Conn(self.rc.port) as conn:
            conn.send(b"GET /v2/ HTTP/1.1\r\nHost: regcache\r\n")
            self.assertClosedWithoutAnswer(conn)

    def test_a_head_sent_one_byte_at_a_time_is_closed_at_the_header_timeout(self):
        head = b"GET /v2/ HTTP/1.1\r\nHost: regcache\r\nX-Slow: " + b"a" * 200
        closed = False
        with Conn(self.rc.port) as conn:
            for byte in head:  # bounded: 240 bytes, 0.1 s apart, well past the timeout
                try:
                    conn.send(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                time.sleep(0.1)
            if not closed:
                self.assertClosedWithoutAnswer(conn)

    def test_an_idle_keep_alive_connection_outlives_the_header_timeout(self):
        with Conn(self.rc.port) as conn:
            self.assertEqual(conn.ping().status, 200)
            time.sleep(2.5)  # longer than the header timeout, far less than the idle timeout
            resp = conn.ping()
            self.assertIsNotNone(resp, "the idle keep-alive connection was closed")
            self.assertEqual(resp.status, 200)

    def test_half_a_second_head_on_a_keep_alive_connection_is_closed(self):
        with Conn(self.rc.port) as conn:
            self.assertEqual(conn.ping().status, 200)
            conn.send(b"GET /v2/ HTTP/1.1\r\n")
            self.assertClosedWithoutAnswer(conn)


class AtTheCap(unittest.TestCase):
    CAP = 8

    @classmethod
    def setUpClass(cls):
        fx = Fixture.get()
        cls.rc = rt.Regcache(rt.REGCACHE, fx.tmp, fx.upstream.url, name="cap",
                             extra_args=["--connections-max", str(cls.CAP),
                                         "--header-timeout-ms", "120000"])
        cls.rc.start()
        cls.addClassCleanup(cls.rc.stop)

    def wait_for_room(self):
        """Until a new connection is answered 200 (the closed ones have gone). regcache closes
        that connection itself and the test waits for the close: a probe the client closed
        would still hold a slot for a moment, and free it after the next test filled the cap."""
        def served():
            with Conn(self.rc.port) as conn:
                conn.send(PING_AND_CLOSE)
                resp = conn.read_response()
                return resp is not None and resp.status == 200 and conn.at_eof(10)
        rt.poll(served, 30, interval=0.1, what="a free connection slot")

    def test_startup_line_names_the_cap_and_the_fd_limit(self):
        line = startup_line(self.rc)
        self.assertRegex(line, r"fd limit \d+")
        self.assertIn("connections max %d per worker (--connections-max)" % self.CAP, line)

    def test_past_the_cap_with_none_idle_a_newcomer_gets_503_and_one_log_line(self):
        self.wait_for_room()
        mark = self.rc.log_mark()
        started = time.monotonic()
        silent = open_silent(self.rc.port, self.CAP, sources=["127.0.0.2"])
        self.addCleanup(close_all, silent)
        refused = 20
        for i in range(refused):
            with Conn(self.rc.port, source=SOURCES[i % len(SOURCES)]) as conn:
                resp = conn.ping()
                assert_busy_503(self, resp, "too many connections")
                self.assertTrue(conn.at_eof(10), "the refused connection stays open")
        # The first refusal is logged at once, the others with the next report (10 s later):
        # counts add up, and there are far fewer lines than refusals.
        lines = rt.poll(lambda: refusals_adding_up_to(self.rc, mark, refused), 30,
                        interval=0.2, what="the refusal reports")
        elapsed = time.monotonic() - started
        self.assertEqual(sum(n for n, _ in lines), refused, lines)
        self.assertLessEqual(len(lines), 2 + int(elapsed / 10), lines)
        self.assertIn("at the connection cap (%d per worker, none idle)" % self.CAP, lines[0][1])
        self.assertEqual(lines[0][0], 1, "the first refusal is reported at once")
        close_all(silent)
        self.wait_for_room()

    def test_at_the_cap_the_oldest_idle_connection_makes_room(self):
        self.wait_for_room()
        oldest = Conn(self.rc.port)
        self.addCleanup(oldest.close)
        self.assertEqual(oldest.ping().status, 200)
        newer = Conn(self.rc.port)
        self.addCleanup(newer.close)
        self.assertEqual(newer.ping().status, 200)
        silent = open_silent(self.rc.port, self.CAP - 2)
        self.addCleanup(close_all, silent)
        # The cap is full: two idle, six silent (which are not closed for a newcomer).
        with Conn(self.rc.port) as newcomer:
            resp = newcomer.ping()
            self.assertIsNotNone(resp)
            self.assertEqual(resp.status, 200, "an active client did not get in")
        self.assertTrue(oldest.at_eof(10), "the oldest idle connection was not closed")
        resp = newer.ping()
        self.assertIsNotNone(resp, "the newer idle connection was closed instead")
        self.assertEqual(resp.status, 200)
        close_all(silent)
        self.wait_for_room()


class PerClientLimit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        fx = Fixture.get()
        cls.rc = rt.Regcache(rt.REGCACHE, fx.tmp, fx.upstream.url, name="per-client",
                             extra_args=["--connections-per-client-max", "3",
                                         "--header-timeout-ms", "120000"])
        cls.rc.start()
        cls.addClassCleanup(cls.rc.stop)

    def test_past_the_per_client_limit_503_while_other_addresses_get_in(self):
        self.assertIn("3 per client address", startup_line(self.rc))
        held = open_silent(self.rc.port, 3, sources=["127.0.0.4"])
        self.addCleanup(close_all, held)
        mark = self.rc.log_mark()
        with Conn(self.rc.port, source="127.0.0.4") as conn:
            assert_busy_503(self, conn.ping(), "from this address")
        with Conn(self.rc.port, source="127.0.0.5") as conn:
            self.assertEqual(conn.ping().status, 200)
        lines = rt.poll(lambda: refusal_lines(self.rc.log_since(mark)), 10,
                        what="the refusal report")
        self.assertIn("over the per-client limit (3)", lines[0][1])
        # A blob through curl from the limited address is refused the same way, not hung.
        status, _ = curl_blob(self.rc, Fixture.image.layer_digests[0], source="127.0.0.4")
        self.assertEqual(status, 503)
        held.pop().close()

        def served():
            with Conn(self.rc.port, source="127.0.0.4") as conn:
                resp = conn.ping()
                return resp is not None and resp.status == 200
        rt.poll(served, 30, interval=0.1, what="room for 127.0.0.4 after a close")


class LowFdLimit(unittest.TestCase):
    """regcache started under prlimit --nofile=SOFT:HARD (exec'd: the PID is regcache's)."""

    def start(self, name, soft, hard, extra=()):
        fx = Fixture.get()

        class Limited(rt.Regcache):
            def argv(self):
                return ["prlimit", "--nofile=%d:%d" % (soft, hard), "--"] + super().argv()

        rc = Limited(rt.REGCACHE, fx.tmp, fx.upstream.url, name=name,
                     extra_args=["--header-timeout-ms", "120000"] + list(extra))
        rc.start()
        self.addCleanup(rc.stop)
        return rc

    def test_a_soft_limit_of_1024_is_raised_to_the_hard_limit(self):
        _soft, own_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        hard = min(own_hard, 8192)
        if hard < 4096:
            self.skipTest("hard limit %d too low to show the raise" % own_hard)
        raise_own_fd_limit(2000)
        rc = self.start("fd-raise", 1024, hard)
        line = startup_line(rc)
        self.assertIn("fd limit %d (raised from 1024)" % hard, line)
        with open("/proc/%d/limits" % rc.pid) as f:
            self.assertRegex(f.read(), r"Max open files\s+%d\s+%d" % (hard, hard))
        # More connections than the old soft limit, all held, and a pull still works.
        idle = open_idle(rc.port, 1500)
        self.addCleanup(close_all, idle)
        status, got = curl_blob(rc, Fixture.image.layer_digests[1])
        self.assertEqual((status, got), (200, Fixture.image.layer_digests[1]))
        self.assertGreaterEqual(open_fds(rc.pid), 1500)

    def test_with_hard_1024_the_cap_comes_from_it_and_refusals_are_logged_503s(self):
        raise_own_fd_limit(2000)
        rc = self.start("fd-1024", 1024, 1024)
        line = startup_line(rc)
        self.assertIn("fd limit 1024 (hard 1024)", line)
        self.assertIn("sized from the fd limit", line)
        cap = int(re.search(r"connections max (\d+)", line).group(1))
        self.assertLess(cap, 1024)
        self.assertGreaterEqual(cap, 100)
        # Idle keep-alive connections up to the cap: a newcomer still gets in.
        idle = open_idle(rc.port, cap)
        status, got = curl_blob(rc, Fixture.image.layer_digests[0])
        self.assertEqual((status, got), (200, Fixture.image.layer_digests[0]))
        close_all(idle)
        # Every idle connection must be gone before the cap is filled again: one still open
        # would be evicted for a newcomer past the cap, which then gets in. The scrape's own
        # connection is the one left open.
        rt.poll(lambda: connections_open(rc) <= 1, 30, what="the idle connections to close")
        # Silent connections up to the cap, and more: every one past it is answered 503.
        mark = rc.log_mark()
        silent = open_silent(rc.port, cap)
        self.addCleanup(close_all, silent)
        extra = []
        self.addCleanup(close_all, extra)
        for i in range(50):
            conn = Conn(rc.port, source=SOURCES[i % len(SOURCES)], timeout=15)
            extra.append(conn.sock)
            assert_busy_503(self, conn.ping(), "too many connections")
        status, _ = curl_blob(rc, Fixture.image.layer_digests[0], timeout=20)
        self.assertEqual(status, 503, "curl past the cap")
        lines = rt.poll(lambda: refusal_lines(rc.log_since(mark)), 10, what="a refusal line")
        self.assertIn("at the connection cap (%d per worker, none idle)" % cap, lines[0][1])
        self.assertNotIn("Too many open files", rc.stderr_text())
        close_all(silent)
        rt.poll(lambda: curl_blob(rc, Fixture.image.layer_digests[0])[0] == 200, 30,
                interval=0.2, what="room after the silent connections closed")
        self.assertTrue(rc.alive())


def tearDownModule():
    if Fixture.upstream is not None:
        Fixture.upstream.stop()


if __name__ == "__main__":
    rt.main()
