"""Real container clients for the integration tests, shared by test_real_clients.py and
test_proxy_mode.py: images both daemons can unpack (real tar layers), and containerd 1.6
(`containerd`, `ctr`) and dockerd 20.10 (`dockerd`, `docker`), Debian 12's packages
`containerd` and `docker.io`, each with its state in a private directory and stopped by PID.

`env` arguments are added to a scrubbed copy of the environment (authtest.clean_env: no
proxy variables, no REGCACHE_*), so the caller's shell never changes what a client does; the
proxy-mode tests pass HTTPS_PROXY and SSL_CERT_FILE this way.
"""

import gzip
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import authtest as at  # noqa: E402
import regtest as rt  # noqa: E402

OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

# ----------------------------------------------------------------------------
# images dockerd and containerd can unpack


def tar_layer(files):
    """An uncompressed tar (USTAR, fixed mtime) of {name: bytes}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1704067200, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_tar_image(layout, layers, label, arch="amd64"):
    """Writes an OCI image into `layout`: layers is [(tar bytes, gzip?)]; the config's diff_ids
    are the uncompressed tars' digests, so both clients can unpack and verify it. Returns an
    rt.Image (not yet tagged in the layout)."""
    rt._init_layout(layout)
    descs, diff_ids, digests, sizes = [], [], [], []
    for tar_bytes, compress in layers:
        diff_ids.append(rt.sha256_bytes(tar_bytes))
        blob = gzip.compress(tar_bytes, mtime=0) if compress else tar_bytes
        digest = rt._write_blob(layout, blob)
        digests.append(digest)
        sizes.append(len(blob))
        descs.append({"mediaType": OCI_LAYER_GZIP if compress else rt.OCI_LAYER_TAR,
                      "digest": digest, "size": len(blob)})
    config = rt._canon({
        "architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/hello"], "Labels": {"regcache.test": label}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "%s layer %d" % (label, i)}
                    for i in range(len(layers))]})
    config_digest = rt._write_blob(layout, config)
    manifest = rt._canon({"schemaVersion": 2, "mediaType": rt.OCI_MANIFEST,
                          "config": {"mediaType": rt.OCI_CONFIG, "digest": config_digest,
                                     "size": len(config)},
                          "layers": descs})
    manifest_digest = rt._write_blob(layout, manifest)
    return rt.Image(manifest_digest, manifest, rt.OCI_MANIFEST, config_digest, digests, sizes,
                    {"architecture": arch, "os": "linux"})


def make_tar_image(layout, ref, label, layers=None, arch="amd64"):
    """One OCI image tagged `ref` in the layout; by default one small uncompressed tar layer."""
    if layers is None:
        layers = [(tar_layer({"hello.txt": ("%s\n" % label).encode()}), False)]
    img = write_tar_image(layout, layers, label, arch)
    rt._add_ref(layout, ref, rt.OCI_MANIFEST, img.manifest_digest, len(img.manifest_bytes))
    return img


def make_tar_index(layout, ref, label):
    """An OCI index tagged `ref` with a linux/amd64 and a linux/arm64 image."""
    descs = []
    for arch in ("amd64", "arm64"):
        img = write_tar_image(layout, [(tar_layer({"arch.txt": ("%s %s\n" % (label, arch))
                                                   .encode()}), True)], label + "-" + arch, arch)
        descs.append({"mediaType": rt.OCI_MANIFEST, "digest": img.manifest_digest,
                      "size": len(img.manifest_bytes),
                      "platform": {"architecture": arch, "os": "linux"}})
    index = rt._canon({"schemaVersion": 2, "mediaType": rt.OCI_INDEX, "manifests": descs})
    digest = rt._write_blob(layout, index)
    rt._add_ref(layout, ref, rt.OCI_INDEX, digest, len(index))
    return digest

# ----------------------------------------------------------------------------
# the daemons


def tool(name, candidates=()):
    for path in candidates:
        if os.access(path, os.X_OK):
            return path
    return shutil.which(name)


def wait_answering(proc, probe, interval, sock):
    """Polls (bounded: 60 s) until probe() exits 0; stops at once if the daemon exited."""
    def ready():
        if not proc.alive():
            raise rt.PollAbort("%s exited with %r" % (proc.label, proc.returncode))
        return probe().returncode == 0
    rt.poll(ready, 60, interval=interval, what="%s answering on %s" % (proc.label, sock))


def stop_daemon(proc):
    """SIGTERM by PID, 30 s to exit (then SIGKILL); returns None for the caller's handle."""
    if proc is not None:
        proc.stop(signal.SIGTERM, timeout=30)
    return None


class Containerd:
    """containerd --config F with root, state, sockets and opt in a private directory; the CRI
    plugin off; content isolated per namespace."""

    def __init__(self, binary, ctr, workdir):
        self.binary, self.ctr_binary, self.dir = binary, ctr, workdir
        os.makedirs(workdir, exist_ok=True)
        self.sock = os.path.join(workdir, "c.sock")
        self.config = os.path.join(workdir, "containerd.toml")
        self.log = os.path.join(workdir, "containerd.log")
        self.proc = None
        self.namespaces = 0
        with open(self.config, "w") as f:
            f.write("\n".join([
                "version = 2",
                "root = %s" % json.dumps(os.path.join(workdir, "root")),
                "state = %s" % json.dumps(os.path.join(workdir, "state")),
                'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
                "[grpc]",
                "  address = %s" % json.dumps(self.sock),
                "[ttrpc]",
                "  address = %s" % json.dumps(self.sock + ".ttrpc"),
                "[debug]",
                "  address = %s" % json.dumps(os.path.join(workdir, "debug.sock")),
                '[plugins."io.containerd.internal.v1.opt"]',
                "  path = %s" % json.dumps(os.path.join(workdir, "opt")),
                '[plugins."io.containerd.metadata.v1.bolt"]',
                '  content_sharing_policy = "isolated"',
            ]) + "\n")

    def start(self):
        self.proc = rt.Proc([self.binary, "--config", self.config], self.log, "containerd",
                            keep=lambda line: "level=info" not in line or "pull" in line)
        wait_answering(self.proc, lambda: self.ctr(["version"], timeout=10), 0.2, self.sock)
        return self

    def stop(self):
        self.proc = stop_daemon(self.proc)

    def ctr(self, args, namespace="default", timeout=180, env=None):
        """ctr runs pulls itself (resolver, proxy, TLS in the ctr process, not in containerd):
        `env` (HTTPS_PROXY, SSL_CERT_FILE) is what a pull's traffic obeys."""
        return subprocess.run([self.ctr_binary, "--address", self.sock, "-n", namespace]
                              + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=at.clean_env(**(env or {})), timeout=timeout)

    def fresh_namespace(self):
        self.namespaces += 1
        return "t%d" % self.namespaces

    def pull(self, namespace, ref, hosts_dir=None, extra=(), env=None):
        hosts = ["--hosts-dir", hosts_dir] if hosts_dir else []
        return self.ctr(["images", "pull"] + hosts + ["--snapshotter", "native"]
                        + list(extra) + [ref], namespace, env=env)

    def digests(self, namespace):
        """{ref: digest} from `ctr images ls`."""
        res = self.ctr(["images", "ls"], namespace, timeout=60)
        out = {}
        for line in res.stdout.decode(errors="replace").splitlines()[1:]:
            cols = line.split()
            if len(cols) >= 3 and cols[2].startswith("sha256:"):
                out[cols[0]] = cols[2]
        return out


class Dockerd:
    """dockerd with a private data root, exec root and socket, using our containerd."""

    def __init__(self, binary, cli, workdir, containerd_sock, mirror=None, insecure=(),
                 env=None, containerd_namespace=None):
        """mirror: the registry-mirrors entry (none without it); env: added to the daemon's
        scrubbed environment (dockerd pulls itself, so HTTPS_PROXY and SSL_CERT_FILE go
        here). containerd_namespace: needed when several dockerds use one containerd, one
        after the other: dockerd 20.10 keeps the manifests it fetched in containerd's content
        store (namespace `moby` by default) and takes them from there on a later pull, so a
        second dockerd in the same namespace would not ask its registry for them."""
        self.binary, self.cli, self.dir = binary, cli, workdir
        os.makedirs(workdir, exist_ok=True)
        self.sock = os.path.join(workdir, "d.sock")
        self.log = os.path.join(workdir, "dockerd.log")
        self.daemon_json = os.path.join(workdir, "daemon.json")
        self.containerd_sock = containerd_sock
        self.env = at.clean_env(**env) if env is not None else None
        self.namespace_args = (["--containerd-namespace", containerd_namespace,
                                "--containerd-plugins-namespace", containerd_namespace + "-plugins"]
                               if containerd_namespace else [])
        self.proc = None
        with open(self.daemon_json, "w") as f:
            json.dump({"registry-mirrors": [mirror] if mirror else [],
                       "insecure-registries": list(insecure), "iptables": False,
                       "bridge": "none", "storage-driver": "vfs", "ip-forward": False,
                       "ip-masq": False}, f)

    def start(self):
        self.proc = rt.Proc([self.binary, "--config-file", self.daemon_json,
                             "--data-root", os.path.join(self.dir, "root"),
                             "--exec-root", os.path.join(self.dir, "exec"),
                             "--pidfile", os.path.join(self.dir, "pid"),
                             "--containerd", self.containerd_sock] + self.namespace_args + [
                             "-H", "unix://" + self.sock], self.log, "dockerd",
                            env=self.env, keep=lambda line: "module=grpc" not in line)
        wait_answering(self.proc, lambda: self.docker(["version"], timeout=10), 0.3, self.sock)
        return self

    def stop(self):
        self.proc = stop_daemon(self.proc)

    def docker(self, args, config_dir=None, stdin=None, timeout=180):
        env = at.clean_env(DOCKER_CONFIG=config_dir or os.path.join(self.dir, "cli-none"))
        return subprocess.run([self.cli, "-H", "unix://" + self.sock] + list(args), input=stdin,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                              timeout=timeout)

    def repo_digests(self, ref):
        res = self.docker(["image", "inspect", ref], timeout=60)
        if res.returncode != 0:
            return None, text(res)
        info = json.loads(res.stdout)[0]
        return info.get("RepoDigests") or [], info.get("Id")

    def remove_all(self):
        """Every image gone (a fresh client store for the next pull)."""
        res = self.docker(["images", "-q", "--no-trunc"], timeout=60)
        ids = sorted(set(res.stdout.decode().split()))
        if ids:
            self.docker(["rmi", "-f"] + ids, timeout=120)
        left = self.docker(["images", "-q"], timeout=60).stdout.decode().split()
        if left:
            raise AssertionError("docker rmi left images: %r" % left)


def text(res):
    return (res.stdout + res.stderr).decode(errors="replace")
