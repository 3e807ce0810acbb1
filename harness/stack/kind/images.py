"""The kind provider's images, built offline from Debian packages and our cached binaries (no registry).

Steps: two debootstrap root filesystems (node: systemd + containerd; base: iptables and tools), one
`docker import` per component image tagged as kubeadm of the node's Kubernetes (v1.26.1 by default; another
of versions.toml's `[kubernetes-versions]` with --kubernetes) and cert-manager's chart name them, and the
node image (node rootfs + harness/stack/kind/node files + kubelet/kubeadm/kubectl + the component images
preloaded into its containerd). Each step is cached by a content hash of what goes in (a stamp file for a
rootfs, the image label certchaos.inputs for an image): nothing is rebuilt when nothing changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import yaml

from harness.stack.leftovers import owned_prefix
from harness.errors import HarnessError
from harness.stack import binaries, official
from harness.stack.kind.engine import DockerEngine, docker_cli, state_dir
from harness.wait import Seen, wait_for

KUBERNETES = "v1.26.1"
CERT_MANAGER = "v1.11.5"
NODE_REPOSITORY = "certchaos.local/kind-node"
NODE_IMAGE = f"{NODE_REPOSITORY}:{KUBERNETES}"
NETBASE_IMAGE = "certchaos.local/netbase:v1"
LABEL = "certchaos.inputs"
NODE_FILES = Path(__file__).resolve().parent / "node"
BUILD_COMMAND = "certchaos images build"
SUITE = "bookworm"
MIRROR = os.environ.get("CERTCHAOS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
ENV_PATH = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# debootstrap --variant=minbase package sets. node: what a kind node runs (systemd as PID 1, containerd,
# runc, CNI plugins, kubelet's tools); base: the userland of kube-proxy (iptables, conntrack) and of our
# CNI DaemonSet and test pods (iproute2, curl, socat).
ROOTFS_PACKAGES = {
    "node": ("systemd", "systemd-sysv", "dbus", "iproute2", "containerd", "runc", "containernetworking-plugins",
             "iptables", "conntrack", "ethtool", "socat", "mount", "kmod", "procps", "ca-certificates",
             "libseccomp2", "util-linux", "ebtables", "nftables", "curl"),
    "base": ("iptables", "conntrack", "iproute2", "curl", "ca-certificates", "procps", "socat"),
}
# Units that make no sense in a node container (udev, gettys, logind, kernel debug mounts): masked.
MASKED_UNITS = (
    "systemd-udevd.service", "systemd-udevd-control.socket", "systemd-udevd-kernel.socket", "getty.target",
    "console-getty.service", "systemd-logind.service", "systemd-modules-load.service", "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount", "sys-kernel-config.mount", "sys-fs-fuse-connections.mount",
    "systemd-remount-fs.service", "systemd-firstboot.service",
)
# The throw-away containerd that preloads images into the node rootfs: CRI off, nothing else listens.
PRELOAD_CONFIG = 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
# A throw-away containerd answers in well under a second; 30 s covers a loaded machine.
PRELOAD_START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Image:
    """One component image: binaries (component -> path in the image) on a skeleton or the base rootfs."""

    tag: str
    files: tuple[tuple[str, str], ...]
    base: bool = False
    entrypoint: tuple[str, ...] = ()
    user: str | None = None
    preload: bool = True  # into the node image (cert-manager's are `kind load`-ed per cluster instead)
    bin_dir: Path | None = None  # where its binaries come from (None: the cache); set for another cert-manager
    pulled: str | None = None  # an official image pulled into bin_dir (harness/stack/official.py): its name there
    kubernetes: str | None = None  # whose Kubernetes components its binaries are (None: the default's)

    def changes(self) -> list[str]:
        result = [ENV_PATH]
        if self.entrypoint:
            result.append(f"ENTRYPOINT {json.dumps(list(self.entrypoint))}")
        if self.user:
            result.append(f"USER {self.user}")
        return result


def _bin(name: str) -> tuple[str, str]:
    return name, f"/usr/local/bin/{name}"


# cert-manager's images: name in the chart -> the component binary in them. acmesolver is optional for a
# version from a bin dir (a user's bin dir need hold only upgrade.versions.COMPONENTS; upgrade-check asks for
# it when the setup solves HTTP-01, and a pinned build has it).
CERT_MANAGER_COMPONENTS = (("controller", "cert-manager-controller"), ("webhook", "cert-manager-webhook"),
                           ("cainjector", "cert-manager-cainjector"), ("acmesolver", "cert-manager-acmesolver"),
                           ("ctl", "cmctl"))
OPTIONAL_CERT_MANAGER_COMPONENTS = ("cert-manager-acmesolver",)


def _cert_manager_image(name: str, component: str, version: str, bin_dir: Path | None = None) -> Image:
    # The chart sets runAsNonRoot: kubelet refuses an image whose user is root, hence USER 1000.
    return Image(f"quay.io/jetstack/cert-manager-{name}:{version}", ((component, f"/usr/local/bin/{name}"),),
                 entrypoint=(f"/usr/local/bin/{name}",), user="1000", preload=False, bin_dir=bin_dir)


COMPONENT_IMAGES = (
    # CRI runs the sandbox image's entrypoint: /pause, as upstream's image has it.
    Image("registry.k8s.io/pause:3.9", (("pause", "/pause"),), entrypoint=("/pause",)),
    Image(f"registry.k8s.io/kube-apiserver:{KUBERNETES}", (_bin("kube-apiserver"),)),
    Image(f"registry.k8s.io/kube-controller-manager:{KUBERNETES}", (_bin("kube-controller-manager"),)),
    Image(f"registry.k8s.io/kube-scheduler:{KUBERNETES}", (_bin("kube-scheduler"),)),
    Image("registry.k8s.io/etcd:3.5.6-0",
          (("kind-etcd", "/usr/local/bin/etcd"), ("kind-etcdctl", "/usr/local/bin/etcdctl"))),
    # kubeadm's CoreDNS Deployment passes only args (-conf ...): the entrypoint must be coredns.
    Image("registry.k8s.io/coredns/coredns:v1.9.3", (_bin("coredns"),), entrypoint=("/usr/local/bin/coredns",)),
    Image(f"registry.k8s.io/kube-proxy:{KUBERNETES}", (_bin("kube-proxy"),), base=True),
    Image(NETBASE_IMAGE, (_bin("kubectl"),), base=True),
) + tuple(_cert_manager_image(name, component, CERT_MANAGER) for name, component in CERT_MANAGER_COMPONENTS)
CERT_MANAGER_IMAGES = tuple(image.tag for image in COMPONENT_IMAGES if not image.preload)


def node_image(kubernetes: str | None = None) -> str:
    """The tag of the node image of `kubernetes` (None: the default)."""
    return f"{NODE_REPOSITORY}:{kubernetes or KUBERNETES}"


def preloaded(kubernetes: str | None = None) -> tuple[Image, ...]:
    """The images preloaded into the node image of `kubernetes` (None: the default): what kubeadm of that version
    runs, tagged as it names them, except pause, which containerd's sandbox_image names (node/etc/containerd).
    etcd and CoreDNS are that version's components (versions.toml), tagged with their own versions; the kind
    provider gives kubeadm those tags (provider.py), so no image is named for a version it does not hold."""
    if kubernetes in (None, KUBERNETES):
        return tuple(image for image in COMPONENT_IMAGES if image.preload)
    components = binaries.load_components(kubernetes=kubernetes)
    own = [Image(f"registry.k8s.io/{name}:{kubernetes}", (_bin(name),), kubernetes=kubernetes)
           for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")]
    return (COMPONENT_IMAGES[0], *own,
            Image(f"registry.k8s.io/etcd:{etcd_tag(kubernetes)}", (("etcd", "/usr/local/bin/etcd"),),
                  kubernetes=kubernetes),
            Image(f"registry.k8s.io/coredns/coredns:{components['coredns'].version}", (_bin("coredns"),),
                  entrypoint=("/usr/local/bin/coredns",), kubernetes=kubernetes),
            Image(f"registry.k8s.io/kube-proxy:{kubernetes}", (_bin("kube-proxy"),), base=True, kubernetes=kubernetes),
            next(image for image in COMPONENT_IMAGES if image.tag == NETBASE_IMAGE))


def etcd_tag(kubernetes: str) -> str:
    """The etcd image tag of a non-default Kubernetes, as kubeadm spells it: its etcd component's version, "-0"."""
    return binaries.load_components(kubernetes=kubernetes)["etcd"].version.lstrip("v") + "-0"
# The reload scenarios' images (harness/workloads): built with the others, neither preloaded nor loaded by the
# stack; `kind load`-ed by the workloads fixture into the clusters whose scenarios need them.
WORKLOAD_IMAGE = "certchaos.local/tlsserver:v1"
RELOADER_IMAGE = "certchaos.local/reloader:v1.4.22"  # Stakater Reloader, built from its published module
INGRESS_IMAGE = "certchaos.local/traefik:v3.6.12"  # Traefik, the HTTP-01 scenarios' ingress controller
WORKLOAD_IMAGES = (
    Image(WORKLOAD_IMAGE, (("tlsserver", "/usr/local/bin/tlsserver"),), entrypoint=("/usr/local/bin/tlsserver",),
          user="1000", preload=False),
    # Upstream's image runs its binary as a non-root user with no arguments: every flag at its default.
    Image(RELOADER_IMAGE, (("stakater-reloader", "/usr/local/bin/reloader"),), entrypoint=("/usr/local/bin/reloader",),
          user="1000", preload=False),
    # Upstream's image runs `traefik` with the arguments its manifests give; its entrypoints listen on
    # unprivileged ports (8000, 8443) and the pod maps them to the node's 80 and 443 (harness/workloads/ingress.py).
    Image(INGRESS_IMAGE, (("traefik", "/usr/local/bin/traefik"),), entrypoint=("/usr/local/bin/traefik",),
          user="1000", preload=False),
)
COMPONENT_IMAGES = COMPONENT_IMAGES + WORKLOAD_IMAGES


def chart_version(chart: Path) -> str:
    """The cert-manager version a chart installs: its appVersion, the tag it gives every image."""
    try:
        metadata = yaml.safe_load((Path(chart) / "Chart.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise HarnessError(f"cert-manager chart {chart}: cannot read Chart.yaml ({error})") from error
    version = str(metadata.get("appVersion") or metadata.get("version") or "")
    if not version:
        raise HarnessError(f"cert-manager chart {chart}: Chart.yaml has no appVersion")
    return version


def bin_dir_version(bin_dir: Path, what: str) -> str:
    """The cert-manager version a user's bin dir installs on kind: its chart's appVersion. A bin dir without
    chart/Chart.yaml is refused: the lab's chart and images would otherwise run in that version's name."""
    if not (bin_dir / "chart" / "Chart.yaml").is_file():
        raise HarnessError(f"{what}: bin dir {bin_dir} has no chart/Chart.yaml to take the version from; on kind "
                           f"cert-manager is installed by its own chart. Fix: copy that version's "
                           f"deploy/charts/cert-manager (its Chart.yaml naming the appVersion) into {bin_dir}/chart")
    return chart_version(bin_dir / "chart")


def images_build_command(bin_dir: str | os.PathLike | None) -> str:
    return BUILD_COMMAND if bin_dir is None else f"{BUILD_COMMAND} --bin-dir {bin_dir}"


def cert_manager_images(version: str, bin_dir: str | os.PathLike | None = None) -> tuple[Image, ...]:
    """The images a chart of `version` runs. The lab's version (CERT_MANAGER) keeps the images `certchaos
    images build` makes from the cache; any other version gets the same recipe from `bin_dir`'s binaries,
    tagged with `version` (acmesolver only when the bin dir has it). A missing required binary is an
    error naming the bin dir."""
    described = official.describe(bin_dir)
    if described is not None:  # `--cert-manager VERSION`: the images pulled, under their official names
        folder = Path(bin_dir).expanduser().resolve()
        return tuple(Image(image["name"], (), preload=False, bin_dir=folder, pulled=name)
                     for name, image in described["images"].items())
    if version == CERT_MANAGER:
        return tuple(image for image in COMPONENT_IMAGES if image.tag in CERT_MANAGER_IMAGES)
    if bin_dir is None:
        raise HarnessError(f"cert-manager {version}: its images are built from a bin dir of that version, and "
                           f"none was given. Fix: pass the directory of its binaries (with chart/)")
    folder = Path(bin_dir).expanduser().resolve()
    missing = [component for _, component in CERT_MANAGER_COMPONENTS
               if component not in OPTIONAL_CERT_MANAGER_COMPONENTS and not os.access(folder / component, os.X_OK)]
    if missing:
        raise HarnessError(f"cert-manager {version}: no images, and bin dir {folder} lacks executable "
                           f"{', '.join(missing)} to build them from. Fix: put that version's binaries there")
    return tuple(_cert_manager_image(name, component, version, folder) for name, component in CERT_MANAGER_COMPONENTS
                 if component not in OPTIONAL_CERT_MANAGER_COMPONENTS or os.access(folder / component, os.X_OK))


class Digests:
    """sha256 of files, remembered by (path, size, mtime) in the cache so doctor does not re-read 1.5 GB."""

    def __init__(self, path: Path | None = None):
        self.path = path or state_dir() / "digests.json"
        try:
            self._known = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self._known = {}

    def of(self, file: Path) -> str:
        status = file.stat()
        key = f"{file.resolve()}:{status.st_size}:{status.st_mtime_ns}"
        if key not in self._known:
            digest = hashlib.sha256()
            with open(file, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            self._known[key] = digest.hexdigest()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self._known))
        return self._known[key]


def tree_digest(root: Path, digests: Digests) -> str:
    """A hash of every file under `root`: relative path, mode and content."""
    parts = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        parts.append(f"{path.relative_to(root)} {path.stat().st_mode:o} {digests.of(path)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _hash(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


@dataclass
class Builder:
    """Builds (or finds up to date) every image; each step prints one progress line with its time."""

    engine: DockerEngine
    force: bool = False
    compress: bool = False  # gzip the preloaded blobs: -0.5 GB image, +3 min build, same create time
    out: TextIO = sys.stderr
    digests: Digests = field(default_factory=Digests)
    kubernetes: str | None = None  # the node image's Kubernetes (None: the default)

    @property
    def root(self) -> Path:
        return state_dir()

    # -- inputs -------------------------------------------------------------------------------------------
    def rootfs_inputs(self, name: str) -> str:
        return _hash(SUITE, MIRROR, ROOTFS_PACKAGES[name], "trim-v1")

    def binary(self, component: str, bin_dir: Path | None = None, kubernetes: str | None = None) -> Path:
        return binaries.binary(component, kubernetes=kubernetes) if bin_dir is None else bin_dir / component

    def image_inputs(self, image: Image) -> str:
        files = [(component, target, self.digests.of(self.binary(component, image.bin_dir, image.kubernetes)))
                 for component, target in image.files]
        base = self.rootfs_inputs("base") if image.base else None
        return _hash(image.tag, files, base, image.changes(), "skeleton-v1")

    def node_inputs(self) -> str:
        tools = [self.digests.of(self.binary(name, kubernetes=self.kubernetes))
                 for name in ("kubelet", "kubeadm", "kubectl")]
        images = [self.image_inputs(image) for image in preloaded(self.kubernetes)]
        return _hash(self.rootfs_inputs("node"), tree_digest(NODE_FILES, self.digests), tools, images,
                     MASKED_UNITS, self.compress)

    # -- state --------------------------------------------------------------------------------------------
    def label(self, tag: str) -> str | None:
        """The image's inputs label; "" for an image without one (not ours), None when there is no image."""
        result = self.engine.docker("image", "inspect", "--format", "{{json .Config.Labels}}", tag, check=False)
        if result.returncode != 0:
            return None
        return (json.loads(result.stdout) or {}).get(LABEL, "")

    def rootfs_dir(self, name: str) -> Path:
        return self.root / "rootfs" / name

    def rootfs_current(self, name: str) -> bool:
        stamp = self.rootfs_dir(name).with_suffix(".stamp")
        return stamp.exists() and stamp.read_text() == self.rootfs_inputs(name)

    def status(self) -> list[tuple[str, str]]:
        """(what, state) rows for doctor: "up to date", "stale" or "missing"."""
        rows = [(f"rootfs {name}", "up to date" if self.rootfs_current(name) else "missing")
                for name in ROOTFS_PACKAGES]
        try:
            wanted = [(image.tag, self.image_inputs(image)) for image in self.images()]
            wanted.append((node_image(self.kubernetes), self.node_inputs()))
        except binaries.MissingBinary as error:
            return rows + [("images", f"need {error.component}: `certchaos binaries build --provider kind`")]
        for tag, inputs in wanted:
            found = self.label(tag)
            rows.append((tag, "up to date" if found == inputs else "missing" if found is None else "stale"))
        return rows

    # -- steps --------------------------------------------------------------------------------------------
    def _step(self, what: str, current: bool, build) -> None:
        if current and not self.force:
            print(f"images: {what}: up to date", file=self.out, flush=True)
            return
        started = time.monotonic()
        print(f"images: {what}: building ...", file=self.out, flush=True)
        build()
        print(f"images: {what}: built in {time.monotonic() - started:.0f}s", file=self.out, flush=True)

    def build(self) -> None:
        if os.geteuid() != 0:
            raise HarnessError("building the kind images needs root (debootstrap, a throw-away containerd). "
                               f"Fix: run `sudo {BUILD_COMMAND}`")
        self.engine.start()
        self.root.mkdir(parents=True, exist_ok=True)
        # The two debootstraps mostly wait on the mirror and dpkg: run side by side.
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(self._step, f"rootfs {name} (debootstrap {SUITE})", self.rootfs_current(name),
                                   lambda name=name: self.debootstrap(name)) for name in ROOTFS_PACKAGES]
            for future in futures:
                future.result()
        for image in self.images():
            inputs = self.image_inputs(image)
            self._step(image.tag, self.label(image.tag) == inputs, lambda i=image, h=inputs: self.import_image(i, h))
        inputs, tag = self.node_inputs(), node_image(self.kubernetes)
        self._step(tag, self.label(tag) == inputs, lambda: self.node_image(inputs))

    def images(self) -> tuple[Image, ...]:
        """Every component image: the default's, and the preloaded ones of the node's Kubernetes."""
        return COMPONENT_IMAGES + tuple(image for image in preloaded(self.kubernetes) if image not in COMPONENT_IMAGES)

    def outdated(self, wanted: tuple[Image, ...]) -> list[str]:
        """Tags of `wanted` that are missing or were built from other inputs (other binaries); pulled images
        are never built here (their archives are written when a cluster loads them)."""
        return [image.tag for image in wanted
                if image.pulled is None and self.label(image.tag) != self.image_inputs(image)]

    def build_cert_manager(self, version: str, bin_dir: str | os.PathLike | None) -> tuple[Image, ...]:
        """The images of cert-manager `version` from `bin_dir` (cheap: one `docker import` each; no root, no
        debootstrap); the lab's version is `certchaos images build`'s and only checked here."""
        wanted = cert_manager_images(version, bin_dir)
        if any(image.pulled for image in wanted):
            return wanted  # official images, pulled: nothing to build
        self.engine.start()
        if version == CERT_MANAGER:
            stale = self.outdated(wanted)
            if stale:
                raise HarnessError(f"image(s) {', '.join(stale)} not built. Fix: run `sudo {BUILD_COMMAND}`")
            return wanted
        self.root.mkdir(parents=True, exist_ok=True)
        for image in wanted:
            inputs = self.image_inputs(image)
            self._step(image.tag, self.label(image.tag) == inputs, lambda i=image, h=inputs: self.import_image(i, h))
        return wanted

    def debootstrap(self, name: str) -> None:
        if shutil.which("debootstrap") is None:
            raise HarnessError("debootstrap is not installed. Fix: `apt-get install -y debootstrap`")
        target, stamp = self.rootfs_dir(name), self.rootfs_dir(name).with_suffix(".stamp")
        stamp.unlink(missing_ok=True)
        scratch = target.with_name(target.name + ".tmp")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.parent.mkdir(parents=True, exist_ok=True)
        log = self.root / f"debootstrap-{name}.log"
        with open(log, "w") as handle:
            result = subprocess.run(
                ["debootstrap", "--variant=minbase", f"--include={','.join(ROOTFS_PACKAGES[name])}", SUITE,
                 str(scratch), MIRROR], stdout=handle, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            raise HarnessError(f"debootstrap {name} failed (exit {result.returncode}); see {log}")
        for junk in ("var/lib/apt/lists", "var/cache/apt/archives", "usr/share/doc", "usr/share/man",
                     "usr/share/locale"):  # trimmed: ~40 MB per image nobody reads
            for child in (scratch / junk).glob("*"):
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                elif child.is_file():
                    child.unlink()
        shutil.rmtree(target, ignore_errors=True)
        scratch.rename(target)
        stamp.write_text(self.rootfs_inputs(name))

    def _import(self, tar_command: list[str], tag: str, changes: list[str], inputs: str) -> None:
        """Pipe `tar_command`'s archive into `docker import` with `changes` and our inputs label."""
        flags = [word for change in [*changes, f"LABEL {LABEL}={inputs}"] for word in ("--change", change)]
        importer = [str(docker_cli()), "import", *flags, "-", tag]
        with subprocess.Popen(tar_command, stdout=subprocess.PIPE) as tar:
            result = subprocess.run(importer, stdin=tar.stdout, capture_output=True, text=True,
                                    env=self.engine.env())
            tar.stdout.close()
        if tar.returncode != 0 or result.returncode != 0:
            raise HarnessError(f"building {tag} failed: tar exit {tar.returncode}, docker import exit "
                               f"{result.returncode}: {result.stderr.strip()}")

    def import_image(self, image: Image, inputs: str) -> None:
        with tempfile.TemporaryDirectory(prefix=owned_prefix("image"), dir=self.root) as scratch:
            stage = Path(scratch)
            added = []
            for component, target in image.files:
                destination = stage / target.lstrip("/")
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(self.binary(component, image.bin_dir, image.kubernetes), destination)
                added.append(target.lstrip("/"))
            if image.base:
                # The base rootfs already has usr/local/bin, and docker import rejects a path twice: add the
                # file members only, after the whole rootfs.
                tar = ["tar", "-c", "-C", str(self.rootfs_dir("base")), ".", "-C", str(stage), *added]
            else:
                _skeleton(stage)
                tar = ["tar", "-c", "-C", str(stage), "."]
            self._import(tar, image.tag, image.changes(), inputs)

    def node_image(self, inputs: str) -> None:
        with tempfile.TemporaryDirectory(prefix=owned_prefix("node"), dir=self.root) as scratch:
            rootfs = Path(scratch) / "rootfs"
            subprocess.run(["cp", "-a", str(self.rootfs_dir("node")), str(rootfs)], check=True)
            subprocess.run(["cp", "-a", f"{NODE_FILES}/.", str(rootfs)], check=True)
            for name in ("kubelet", "kubeadm", "kubectl"):
                shutil.copy2(self.binary(name, kubernetes=self.kubernetes), rootfs / "usr/bin" / name)
            (rootfs / "kind/version").write_text(self.kubernetes or KUBERNETES)  # kind picks its kubeadm config by it
            _trim_systemd(rootfs)
            self._preload(rootfs, Path(scratch))
            self._import(["tar", "-c", "-C", str(rootfs), "."], node_image(self.kubernetes),
                         # kind removes nodes with `docker rm -f`; docker import cannot set STOPSIGNAL anyway.
                         ["ENV container=docker", 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]'], inputs)

    def _preload(self, rootfs: Path, scratch: Path) -> None:
        """Import the component images into the node's containerd store (namespace k8s.io, overlayfs)."""
        archive = scratch / "images.tar"
        self.engine.docker("save", "-o", str(archive), *[i.tag for i in preloaded(self.kubernetes)],
                           timeout=600)
        config, socket = scratch / "containerd.toml", scratch / "containerd.sock"
        config.write_text(PRELOAD_CONFIG + f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{scratch}/opt"\n')
        log = self.root / "preload-containerd.log"
        with open(log, "w") as handle:
            daemon = subprocess.Popen(
                ["containerd", "--config", str(config), "--root", str(rootfs / "var/lib/containerd"),
                 "--state", str(scratch / "state"), "--address", str(socket)], stdout=handle, stderr=handle)
        ctr = ["ctr", "--address", str(socket)]
        try:
            wait_for(lambda: Seen(subprocess.run([*ctr, "version"], capture_output=True).returncode == 0,
                                  f"no answer on {socket}"),
                     subject="preload containerd", expected="to answer", timeout=PRELOAD_START_TIMEOUT)
            command = [*ctr, "-n", "k8s.io", "images", "import", "--snapshotter", "overlayfs",
                       *(["--compress-blobs"] if self.compress else []), str(archive)]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                raise HarnessError(f"`{' '.join(command)}` failed: {result.stderr.strip()}; see {log}")
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)  # containerd exits on SIGTERM within a second


def _skeleton(stage: Path) -> None:
    """The minimal tree a static binary needs: CA bundle, passwd/group (root, nobody, uid 1000), /tmp."""
    (stage / "etc/ssl/certs").mkdir(parents=True, exist_ok=True)
    (stage / "tmp").mkdir(mode=0o1777, exist_ok=True)
    (stage / "tmp").chmod(0o1777)
    shutil.copy2("/etc/ssl/certs/ca-certificates.crt", stage / "etc/ssl/certs/ca-certificates.crt")
    (stage / "etc/passwd").write_text("root:x:0:0:root:/root:/sbin/nologin\ncertchaos:x:1000:1000::/tmp:"
                                      "/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")
    (stage / "etc/group").write_text("root:x:0:\ncertchaos:x:1000:\nnogroup:x:65534:\n")


def _trim_systemd(rootfs: Path) -> None:
    """Mask units that make no sense in a container; enable containerd and kubelet by symlink (no chroot)."""
    system = rootfs / "etc/systemd/system"
    for wants in ("getty.target.wants", "timers.target.wants", "sysinit.target.wants"):
        for link in (system / wants).glob("*"):
            link.unlink()
    for unit in ("e2scrub_reap.service", "remote-fs.target"):
        (system / "multi-user.target.wants" / unit).unlink(missing_ok=True)
    for unit in MASKED_UNITS:
        (system / unit).unlink(missing_ok=True)
        (system / unit).symlink_to("/dev/null")
    wants = system / "multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    for unit, target in (("kubelet.service", "/etc/systemd/system/kubelet.service"),
                         ("containerd.service", "/lib/systemd/system/containerd.service")):
        (wants / unit).unlink(missing_ok=True)
        (wants / unit).symlink_to(target)
    for directory in ("etc/cni/net.d", "etc/kubernetes/manifests", "var/lib/kubelet"):
        (rootfs / directory).mkdir(parents=True, exist_ok=True)
