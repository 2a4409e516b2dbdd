#!/usr/bin/env python3
"""The Debian package: `cpack -G DEB` in the build directory makes a .deb with the binary, the
systemd unit, the sysusers entry, /etc/regcache/config.json (a conffile) and the maintainer
scripts; the unit has the hardening it promises and passes `systemd-analyze verify`; and the
package installs with `dpkg -i` into a throwaway copy of this machine (an overlay of / in a
private mount namespace, so the host is untouched), creates the regcache user, and the unit's
ExecStart, run as that user, serves a pull and speaks the notify protocol.

Run: python3 tests/integration/test_package.py --regcache build/regcache
"""

import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Runs inside the overlay's chroot: installs the package, checks what dpkg did, then starts the
# unit's ExecStart as the unit's user, as systemd would (with CacheDirectory= made first).
IN_CHROOT = r'''
set -e
dpkg -i /tmp/pkg/regcache.deb >/tmp/pkg/dpkg.log 2>&1 || { cat /tmp/pkg/dpkg.log; exit 11; }
getent passwd regcache
stat -c '%a %U %G' /etc/regcache/config.json
regcache --version
regcachectl --help | head -n 1
systemd-analyze verify /usr/lib/systemd/system/regcache.service
echo verify-ok
mkdir -p /var/cache/regcache && chown regcache:regcache /var/cache/regcache
mkdir /tmp/pkg/run && chown regcache:regcache /tmp/pkg/run
exec_start=$(sed -n 's/^ExecStart=//p' /usr/lib/systemd/system/regcache.service)
export REGCACHE_LISTEN REGCACHE_UPSTREAM NOTIFY_SOCKET
exec setpriv --reuid regcache --regid regcache --init-groups --no-new-privs \
  python3 /tmp/pkg/serve_once.py $exec_start
'''

# As the regcache user: starts the daemon, waits for READY=1, pulls one blob twice with curl,
# checks it landed in /var/cache/regcache, stops it with SIGTERM and waits for STOPPING=1.
SERVE_ONCE = r'''
import os, socket, subprocess, sys, time, hashlib, urllib.request
path = os.environ["NOTIFY_SOCKET"]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(path); s.settimeout(30)
p = subprocess.Popen(sys.argv[1:])
def wait(key):
    while True:
        msg = s.recv(65536).decode()
        if key + "=1" in msg.split("\n"):
            return msg
print("notify:", wait("READY"))
url = "http://%s/v2/app/blobs/%s" % (os.environ["REGCACHE_LISTEN"], os.environ["BLOB"])
for turn in range(2):
    body = urllib.request.urlopen(url, timeout=30).read()
    print("pull", turn, "sha256:" + hashlib.sha256(body).hexdigest() == os.environ["BLOB"])
hexd = os.environ["BLOB"].split(":")[1]
cached = "/var/cache/regcache/blobs/sha256/%s/%s" % (hexd[:2], hexd)
for _ in range(100):
    if os.path.exists(cached):
        break
    time.sleep(0.1)
print("cached", os.path.exists(cached), os.stat(cached).st_uid == os.getuid())
p.terminate()
print("notify:", wait("STOPPING").split("\n")[0])
print("exit", p.wait(30))
'''


def run(argv, timeout=120, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)


class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("cpack", "dpkg-deb", "dpkg-shlibdeps"):
            if shutil.which(tool) is None:
                raise unittest.SkipTest("%s is not installed (tools/install-deps test)" % tool)
        cls.tmp = rt.mkdtemp()
        build_dir = os.path.dirname(os.path.abspath(rt.REGCACHE))
        config = os.path.join(build_dir, "CPackConfig.cmake")
        if not os.path.exists(config):
            raise AssertionError("no CPackConfig.cmake beside %s" % rt.REGCACHE)
        out = run(["cpack", "-G", "DEB", "--config", config, "-B", cls.tmp], timeout=300)
        if out.returncode != 0:
            raise AssertionError("cpack failed:\n" + out.stdout + out.stderr)
        debs = [f for f in os.listdir(cls.tmp) if f.endswith(".deb")]
        if len(debs) != 1:
            raise AssertionError("expected one .deb in %s, got %r" % (cls.tmp, debs))
        cls.deb = os.path.join(cls.tmp, debs[0])
        cls.contents = run(["dpkg-deb", "--contents", cls.deb]).stdout
        extract = os.path.join(cls.tmp, "extract")
        run(["dpkg-deb", "--extract", cls.deb, extract])
        with open(os.path.join(extract, "usr/lib/systemd/system/regcache.service")) as f:
            cls.unit = f.read()

    def test_contents(self):
        paths = {line.split()[-1] for line in self.contents.splitlines()}
        for want in ("./usr/bin/regcache", "./usr/lib/systemd/system/regcache.service",
                     "./usr/lib/sysusers.d/regcache.conf", "./etc/regcache/config.json",
                     "./usr/share/doc/regcache/README.md"):
            self.assertIn(want, paths, self.contents)

    def test_ships_regcachectl_as_an_executable_python3_script_and_depends_on_python3(self):
        lines = [line for line in self.contents.splitlines() if line.endswith("./usr/bin/regcachectl")]
        self.assertEqual(len(lines), 1, self.contents)
        self.assertTrue(lines[0].startswith("-rwxr-xr-x"), lines[0])
        fields = run(["dpkg-deb", "--field", self.deb, "Depends"]).stdout
        self.assertRegex(fields, r"\bpython3\b")

    def test_control_fields_scripts_and_conffiles(self):
        fields = run(["dpkg-deb", "--field", self.deb, "Package", "Version", "Depends"]).stdout
        self.assertIn("Package: regcache", fields)
        version = run([rt.REGCACHE, "--version"]).stdout.split()[-1]
        self.assertIn("Version: " + version, fields)
        for dep in ("liburing2", "libssl3", "libsystemd0", "libpcre2-8-0", "procps"):
            self.assertIn(dep, fields)
        control = os.path.join(self.tmp, "control")
        run(["dpkg-deb", "--control", self.deb, control])
        with open(os.path.join(control, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/regcache/config.json"])
        for script in ("postinst", "prerm", "postrm"):
            self.assertTrue(os.access(os.path.join(control, script), os.X_OK), script)

    def test_unit_is_hardened_notify_service(self):
        lines = set(self.unit.splitlines())
        for want in ("Type=notify", "CacheDirectory=regcache", "StateDirectory=regcache",
                     "Restart=on-failure", "ProtectSystem=strict", "ProtectHome=yes",
                     "PrivateTmp=yes", "NoNewPrivileges=yes",
                     "AmbientCapabilities=CAP_NET_BIND_SERVICE",
                     "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                     "ExecReload=/bin/kill -HUP $MAINPID", "User=regcache"):
            self.assertIn(want, lines, self.unit)
        nofile = [l for l in lines if l.startswith("LimitNOFILE=")]
        self.assertEqual(len(nofile), 1)
        self.assertGreaterEqual(int(nofile[0].split("=")[1]), 65536)

    def test_installs_into_a_throwaway_root_and_serves_as_its_user(self):
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            self.skipTest("needs root and unshare for the overlay root")
        layout = os.path.join(self.tmp, "src")
        image = rt.make_oci_image(layout, "app", [1 * rt.MiB + 7], 5)
        upstream = rt.Registry(self.tmp).start()
        self.addCleanup(upstream.stop)
        rt.push(layout, "app", upstream, "app")
        ovl = os.path.join(self.tmp, "ovl")
        for d in ("upper", "merged"):
            os.makedirs(os.path.join(ovl, d))
        with open(os.path.join(self.tmp, "in_chroot.sh"), "w") as f:
            f.write(IN_CHROOT)
        with open(os.path.join(self.tmp, "serve_once.py"), "w") as f:
            f.write(SERVE_ONCE)
        merged = os.path.join(ovl, "merged")
        # The overlay's upper layer is a tmpfs of this mount namespace: it and every file the
        # install writes vanish when the namespace ends.
        script = """
set -e
mount -t tmpfs tmpfs {ovl}/upper
mkdir {ovl}/upper/u {ovl}/upper/w
mount -t overlay overlay -o lowerdir=/,upperdir={ovl}/upper/u,workdir={ovl}/upper/w {merged}
mount -t proc proc {merged}/proc
mkdir -p {merged}/tmp/pkg
cp {deb} {merged}/tmp/pkg/regcache.deb
cp {tmp}/in_chroot.sh {tmp}/serve_once.py {merged}/tmp/pkg/
chmod 755 {merged}/tmp/pkg
exec chroot {merged} sh /tmp/pkg/in_chroot.sh
""".format(ovl=ovl, merged=merged, deb=self.deb, tmp=self.tmp)
        env = dict(os.environ, REGCACHE_LISTEN="127.0.0.1:%d" % rt.free_port(),
                   REGCACHE_UPSTREAM=upstream.url, NOTIFY_SOCKET="/tmp/pkg/run/notify.sock",
                   BLOB=image.layer_digests[0])
        out = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                  timeout=180, env=env)
        text = out.stdout + out.stderr
        self.assertEqual(out.returncode, 0, text)
        self.assertRegex(text, r"regcache:x:\d+:\d+:")
        self.assertIn("640 root regcache", text)
        self.assertIn("regcache " + run([rt.REGCACHE, "--version"]).stdout.split()[-1], text)
        self.assertIn("verify-ok", text)
        self.assertIn("usage: regcachectl", text)  # the installed regcachectl runs
        self.assertIn("pull 0 True", text)
        self.assertIn("pull 1 True", text)
        self.assertIn("cached True True", text)
        self.assertIn("notify: STOPPING=1", text)
        self.assertIn("exit 0", text)
        # The host was not touched.
        self.assertNotEqual(run(["getent", "passwd", "regcache"]).returncode, 0)
        self.assertFalse(os.path.exists("/etc/regcache/config.json"))


if __name__ == "__main__":
    rt.main()
