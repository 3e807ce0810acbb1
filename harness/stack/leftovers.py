"""What earlier certchaos runs left behind (a run SIGKILLed, a machine that lost power): run dirs, processes,
kind clusters, lab anchor containers, the `kind` network, the dockerd certchaos started, mounts; found, and
removed, without ever touching what a live run still uses.

A thing is a leftover when its owner, the certchaos process that made it, is gone. The owner is recorded
where the thing is made: in a temp dir's name (`certchaos-lab-<pid>-...`, owned_prefix), a kind cluster's
name (`certchaos-<pid>-<hex>`, owned_name) and a process's environment (OWNER_ENV, set by ManagedProcess and
DockerEngine). A pid the kernel reused is told apart by its start time (the owner started before the thing
was made). What an older certchaos made carries no owner: a dir is then a leftover only when no live process
refers to it (cwd, open files, command line, environment) and it has not changed for LEGACY_QUIET seconds; a
cluster is kept and listed with the command that removes it (another run may be using it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

OWNER_ENV = "CERTCHAOS_OWNER"  # the pid of the certchaos process that started a process
STACK_MARKER = "CERTCHAOS_STACK"  # harness.stack.local's marker (a local stack's run dir), older processes
CLUSTER_LABEL = "io.x-k8s.kind.cluster"  # kind labels each node container with its cluster's name
ANCHOR_LABEL = "io.certchaos.lab-anchor"  # harness.stack.kind.labnet: the lab's anchors, value the cluster
KIND_NETWORK = "kind"
ENGINE_USERS = "users"  # beside dockerd's config: a file per certchaos process using the engine
KIND_NETWORK_LOCK = "kind-network.lock"  # beside dockerd's config: see joining_kind_network
# kind bind-mounts the host's /lib/modules into each node; docker creates a missing bind source as an empty
# directory, so on a host without one every cluster would leave it behind (see lib_modules_made).
LIB_MODULES = Path("/lib/modules")
LIB_MODULES_MADE = "lib-modules-made"  # beside dockerd's config: a cluster found LIB_MODULES missing (see below)
# Temp dirs certchaos makes (tempfile.mkdtemp / TemporaryDirectory prefixes), in the temp dir and /dev/shm.
DIR_PURPOSES = ("lab", "stack", "kind", "etcd", "jail", "helm", "build", "replay", "image", "node")
_OWNED_DIR = re.compile(r"^certchaos-(?P<purpose>[a-z]+)-(?P<pid>\d+)-[\w]+$")
_LEGACY_DIR = re.compile(r"^certchaos-(?P<purpose>[a-z]+)-[\w]+$")
_OWNED_CLUSTER = re.compile(r"^certchaos-(?P<pid>\d+)-[0-9a-f]+$")
# A dir without an owner that changed in the last 15 minutes may be a run that has not yet started a process
# that refers to it (a kind lab creating its cluster takes minutes): kept until it is quiet that long.
LEGACY_QUIET = 900.0
# Process start times come in clock ticks since boot, the boot time in whole seconds: 2 s of slack.
CLOCK_SLACK = 2.0
STOP_GRACE = 10.0  # seconds a leftover process gets after SIGTERM before SIGKILL (a stack's own grace)
DOCKERD_GRACE = 60.0  # dockerd stops its containers first (harness.stack.kind.engine.STOP_TIMEOUT)


def owned_prefix(purpose: str) -> str:
    """A temp dir prefix that records this process as the owner: `certchaos-<purpose>-<pid>-`."""
    return f"certchaos-{purpose}-{os.getpid()}-"


def owned_name(suffix: str) -> str:
    """A kind cluster name that records this process as the owner: `certchaos-<pid>-<suffix>`."""
    return f"certchaos-{os.getpid()}-{suffix}"


def owner_env() -> dict[str, str]:
    """The environment entry that marks a process this one starts as owned by it."""
    return {OWNER_ENV: str(os.getpid())}


# -- processes and owners ----------------------------------------------------------------------------------

def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def process_start(pid: int) -> float | None:
    """When process `pid` started (epoch seconds), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, counted after the command's ")"
    return _boot_time() + ticks / os.sysconf("SC_CLK_TCK")


def owner_alive(pid: int, made_at: float | None = None) -> bool:
    """Whether process `pid` runs and, when `made_at` is known, started before then (else the pid was reused
    by a later process and the owner is gone)."""
    started = process_start(pid)
    if started is None:
        return False
    return made_at is None or started <= made_at + CLOCK_SLACK


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def _cmdline(pid: int) -> list[str]:
    try:
        return [arg for arg in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0") if arg]
    except OSError:
        return []


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Leftover:
    """One thing an earlier run left: `what` (dir, process, dockerd, cluster, container, network, mount-dir),
    its `name` (path, pid, cluster name, ...), why it is one, and whether clean removes it."""

    what: str
    name: str
    why: str
    removable: bool = True
    fix: str | None = None  # what to do by hand when clean does not remove it

    def as_dict(self) -> dict:
        return asdict(self)


def dockerd_config() -> Path:
    """The daemon config DockerEngine starts dockerd with: dockerd with it on its command line is ours."""
    cache = Path(os.environ.get("CERTCHAOS_CACHE") or Path.home() / ".cache" / "certchaos")
    return cache / "kind" / "daemon.json"


def _is_our_dockerd(argv: list[str], config: Path | None = None) -> bool:
    return bool(argv) and Path(argv[0]).name == "dockerd" and str(config or dockerd_config()) in argv


def our_dockerd(config: Path) -> int | None:
    """The pid of the dockerd started with this config (DockerEngine's daemon.json), or None."""
    return next((pid for pid in _pids() if _is_our_dockerd(_cmdline(pid), config)), None)


@contextlib.contextmanager
def joining_kind_network() -> Iterator[None]:
    """Held (shared: runs may hold it together) from before `kind create` makes or joins the `kind` network
    until its containers are attached. A removal of the network skips while anyone holds it: an unused network
    removed between kind making it and attaching its first node fails that node's `docker run` ("network kind
    not found", seen in CI: one run's teardown beside another's cluster creation)."""
    with _kind_network_lock() as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        yield


@contextlib.contextmanager
def kind_network_free() -> Iterator[bool]:
    """Whether no run is joining the `kind` network (joining_kind_network); while True, none starts to until
    the block ends: check, then remove, inside it."""
    with _kind_network_lock() as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
        else:
            yield True


def _kind_network_lock():
    path = dockerd_config().parent / KIND_NETWORK_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "a")


def engine_users() -> Path:
    """Where each DockerEngine in use records itself (harness.stack.kind.engine): a file `<pid>.<n>` each."""
    return dockerd_config().parent / ENGINE_USERS


def lib_modules_made() -> Path:
    """A marker: a certchaos cluster was created while /lib/modules was missing, so the empty one docker made
    for its bind mount is ours to remove, by whichever cluster stops last (the one that made it may not)."""
    return dockerd_config().parent / LIB_MODULES_MADE


def lib_modules_empty() -> bool:
    """/lib/modules is an empty directory: docker's bind source, never a host's own modules."""
    return LIB_MODULES.is_dir() and not any(LIB_MODULES.iterdir())


def live_engine_users(folder: Path | None = None) -> list[str]:
    """The users of the engine whose process still runs (a SIGKILLed user's file stays behind: not counted)."""
    live = []
    for path in (folder or engine_users()).glob("*.*"):
        pid = path.name.split(".", 1)[0]
        try:
            made = path.stat().st_mtime
        except OSError:
            continue  # removed meanwhile
        if pid.isdigit() and owner_alive(int(pid), made):
            live.append(path.name)
    return sorted(live)


# dockerd's own machinery inherits its environment (the owner's marker with it) and serves every container on
# it, other runs' too: never a leftover of its own; stopping dockerd stops it.
DOCKER_MACHINERY = frozenset({"containerd", "containerd-shim", "containerd-shim-runc-v2", "docker-proxy", "runc",
                              "docker-init"})


def find_processes() -> list[Leftover]:
    """Processes certchaos started whose owner is gone (the root of each tree: its children carry the same
    marker and go with it; dockerd's machinery goes with dockerd); an older one (no OWNER_ENV) when it was
    orphaned (its parent is init) or its stack's run dir is gone."""
    found = []
    me = os.getpid()
    for pid in _pids():
        if pid == me:
            continue
        env, argv = _environ(pid), _cmdline(pid)
        if argv and Path(argv[0]).name in DOCKER_MACHINERY:
            continue
        dockerd = _is_our_dockerd(argv)
        parent = _ppid(pid)
        if OWNER_ENV in env and parent is not None and _environ(parent).get(OWNER_ENV) == env[OWNER_ENV]:
            continue  # a child in an owned tree: stopped with its root
        if OWNER_ENV in env:
            owner = int(env[OWNER_ENV]) if env[OWNER_ENV].isdigit() else 0
            if owner_alive(owner, process_start(pid)):
                continue
            why = f"its owner, certchaos process {owner}, is gone"
        elif STACK_MARKER in env or dockerd:
            orphaned = _ppid(pid) == 1
            run_dir_gone = STACK_MARKER in env and not Path(env[STACK_MARKER]).exists()
            if not (orphaned or run_dir_gone):
                continue
            why = "orphaned (started by an older certchaos that is gone)" if orphaned else \
                f"its stack's run dir {env[STACK_MARKER]} is gone"
        else:
            continue
        command = " ".join(argv)[:120] or "?"
        found.append(Leftover("dockerd" if dockerd else "process", str(pid), f"{command}: {why}"))
    return found


# -- dirs --------------------------------------------------------------------------------------------------

def temp_roots() -> list[Path]:
    """Where certchaos makes temp dirs: the temp dir, /dev/shm (etcd's data, the jail's sockets) and the kind
    image builder's state dir."""
    roots = [Path(tempfile.gettempdir()), Path("/dev/shm"), dockerd_config().parent]
    return [root for root in dict.fromkeys(roots) if root.is_dir()]


def _references() -> set[str]:
    """Every path a live process refers to: its cwd, open files, command line and environment values."""
    refs: set[str] = set()
    for pid in _pids():
        proc = Path(f"/proc/{pid}")
        try:
            refs.add(os.readlink(proc / "cwd"))
        except OSError:
            pass
        try:
            for fd in (proc / "fd").iterdir():
                try:
                    refs.add(os.readlink(fd))
                except OSError:
                    continue
        except OSError:
            pass
        refs.update(_cmdline(pid))
        refs.update(_environ(pid).values())
    return refs


def _referred(path: Path, refs: Iterable[str]) -> bool:
    prefix = str(path)
    return any(ref == prefix or prefix + "/" in ref or ref.startswith(prefix + "/") for ref in refs)


def _newest_change(path: Path) -> float:
    """The latest mtime of `path` and the entries one level down (logs grow there while a lab runs)."""
    newest = path.stat().st_mtime
    try:
        for entry in path.iterdir():
            try:
                newest = max(newest, entry.lstat().st_mtime)
            except OSError:
                continue
    except OSError:
        pass
    return newest


def find_dirs(roots: Iterable[Path] | None = None, now: float | None = None) -> list[Leftover]:
    """certchaos temp dirs whose owner is gone (or, made by an older certchaos, that nothing refers to and
    that did not change for LEGACY_QUIET seconds)."""
    now = time.time() if now is None else now
    refs: set[str] | None = None
    found = []
    for root in roots or temp_roots():
        for path in sorted(root.glob("certchaos-*")):
            if not path.is_dir() or path.is_symlink():
                continue
            owned, legacy = _OWNED_DIR.match(path.name), _LEGACY_DIR.match(path.name)
            if owned and owned["purpose"] in DIR_PURPOSES:
                try:
                    made_at = path.stat().st_mtime
                except OSError:
                    continue
                if owner_alive(int(owned["pid"]), made_at):
                    continue
                found.append(Leftover("dir", str(path), f"its owner, certchaos process {owned['pid']}, is gone"))
            elif legacy and legacy["purpose"] in DIR_PURPOSES:
                if refs is None:
                    refs = _references()
                try:
                    quiet = now - _newest_change(path)
                except OSError:
                    continue
                if _referred(path, refs) or quiet < LEGACY_QUIET:
                    continue
                found.append(Leftover("dir", str(path), f"no owner recorded (an older certchaos), no process "
                                                        f"refers to it, unchanged for {quiet / 60:.0f} min"))
    return found


def mounts_under(paths: Iterable[str], mountinfo: str | None = None) -> list[str]:
    """Mount points inside any of `paths` (from /proc/self/mountinfo), deepest first: they are unmounted
    before a dir is removed, so removing it never deletes what is mounted there."""
    text = Path("/proc/self/mountinfo").read_text() if mountinfo is None else mountinfo
    points = [line.split()[4].encode().decode("unicode_escape") for line in text.splitlines() if line.strip()]
    wanted = [str(path).rstrip("/") for path in paths]
    inside = [point for point in points if any(point == path or point.startswith(path + "/") for path in wanted)]
    return sorted(set(inside), key=len, reverse=True)


# -- docker: clusters, anchors, the kind network, /lib/modules ---------------------------------------------

def _docker_lines(docker: Callable[..., subprocess.CompletedProcess], *args: str) -> list[str]:
    result = docker(*args)
    return [line for line in result.stdout.splitlines() if line.strip()] if result.returncode == 0 else []


def _created(docker, container: str) -> float | None:
    """A container's creation time (epoch seconds), from `docker inspect`."""
    lines = _docker_lines(docker, "inspect", "-f", "{{.Created}}", container)
    if not lines:
        return None
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", lines[0].strip()).replace("Z", "+00:00")
    from datetime import datetime

    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None


def _kind_running() -> bool:
    """Whether a `kind` command (the cached binary, or any named kind) is running: it may be creating a
    cluster, whose `kind` network has no container yet."""
    return any(Path(argv[0]).name.startswith("kind") for argv in map(_cmdline, _pids()) if argv)


def find_docker(docker: Callable[..., subprocess.CompletedProcess]) -> list[Leftover]:
    """Clusters named by certchaos whose owner is gone (older, unowned ones: listed, kept), anchors of a
    cluster that is gone or left, the `kind` network with nothing attached, and the empty /lib/modules."""
    found = []
    clusters: dict[str, list[str]] = {}
    for line in _docker_lines(docker, "ps", "-a", "--filter", f"label={CLUSTER_LABEL}",
                              "--format", f'{{{{.Names}}}}\t{{{{.Label "{CLUSTER_LABEL}"}}}}'):
        container, _, cluster = line.partition("\t")
        clusters.setdefault(cluster, []).append(container)
    left_clusters = set()
    for cluster, containers in sorted(clusters.items()):
        owned = _OWNED_CLUSTER.match(cluster)
        if owned:
            if owner_alive(int(owned["pid"]), _created(docker, containers[0])):
                continue
            left_clusters.add(cluster)
            found.append(Leftover("cluster", cluster, f"kind cluster ({len(containers)} node(s)); its owner, "
                                                      f"certchaos process {owned['pid']}, is gone"))
        elif cluster.startswith("certchaos-"):
            found.append(Leftover("cluster", cluster, "kind cluster named by an older certchaos: no owner "
                                                      "recorded, so a live run may be using it", removable=False,
                                  fix=f"kind delete cluster --name {cluster}  (if no run uses it)"))
    for line in _docker_lines(docker, "ps", "-a", "--filter", f"label={ANCHOR_LABEL}",
                              "--format", f'{{{{.Names}}}}\t{{{{.Label "{ANCHOR_LABEL}"}}}}'):
        container, _, cluster = line.partition("\t")
        if cluster in left_clusters or cluster not in clusters:
            why = "its cluster is left over too" if cluster in left_clusters else f"its cluster {cluster} is gone"
            found.append(Leftover("container", container, f"lab anchor: {why}"))
    attached = _docker_lines(docker, "network", "inspect", "-f", "{{range .Containers}}{{.Name}}\n{{end}}",
                             KIND_NETWORK)
    leaving = {f.name for f in found if f.what == "container"} | {
        node for cluster in left_clusters for node in clusters[cluster]}
    exists = docker("network", "inspect", KIND_NETWORK).returncode == 0
    if exists and set(attached) <= leaving and not _kind_running():
        found.append(Leftover("network", KIND_NETWORK, "docker network with nothing attached but leftovers "
                                                       "(kind never removes it; certchaos's runs do)"))
    if not any(name not in left_clusters for name in clusters):
        found += _empty_lib_modules()
    return found


def _empty_lib_modules() -> list[Leftover]:
    """An empty /lib/modules while no cluster is there to mount it (the caller knows) and no kind runs."""
    if lib_modules_empty() and not _kind_running():
        return [Leftover("dir", str(LIB_MODULES), "empty: docker made it for kind's bind mount on a host without "
                                                  "kernel modules; no cluster uses it")]
    return []


# -- all of it -------------------------------------------------------------------------------------------

def find(docker: Callable[..., subprocess.CompletedProcess] | None = None) -> list[Leftover]:
    """Everything left over, in the order clean removes it: processes, clusters, containers, the network,
    dockerd, then dirs (with their mounts). `docker(*args)`: runs the docker CLI (check=False); None when no
    Docker engine answers (then no container exists to find)."""
    processes = find_processes()
    found = [p for p in processes if p.what == "process"]
    if docker is not None:
        found += find_docker(docker)
    else:  # no Docker engine: no cluster runs
        found += _empty_lib_modules()
    for item in (p for p in processes if p.what == "dockerd"):
        leaving = {f.name for f in found if f.what in ("cluster", "container")}
        running = _docker_lines(docker, "ps", "--format", '{{.Names}}\t{{.Label "%s"}}' % CLUSTER_LABEL) \
            if docker is not None else []
        others = [line.split("\t")[0] for line in running
                  if line.split("\t")[0] not in leaving and line.partition("\t")[2] not in leaving]
        users = live_engine_users()
        if others or users:  # another run uses it (it found Docker answering and did not start its own)
            using = (f"{len(others)} container(s) of others ({others[0]}, ...)" if others else
                     f"{len(users)} running certchaos process(es) use it (pid {users[0].split('.')[0]}, ...)")
            item = Leftover(item.what, item.name, f"{item.why}; kept: {using}", removable=False,
                            fix="nothing to do: the last run using it stops it, or `certchaos clean` once it is idle")
        found.append(item)
    dirs = find_dirs()
    for path in mounts_under([d.name for d in dirs]):
        found.append(Leftover("mount", path, "mounted inside a leftover dir: unmounted before the dir goes"))
    return found + dirs


def _signal_tree(pid: int, signum: int) -> None:
    """`signum` to the process group `pid` leads (ManagedProcess makes each its own group), else to `pid`."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _stop_process(pid: int, grace: float) -> None:
    if process_start(pid) is None:
        return
    _signal_tree(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if process_start(pid) is None or zombie(pid):
            return
        time.sleep(0.1)  # polling the process's exit: there is no waiting on a process that is not our child
    _signal_tree(pid, signal.SIGKILL)


def zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def remove(leftover: Leftover, docker: Callable[..., subprocess.CompletedProcess] | None,
           kind_binary: Path | None = None) -> None:
    """Remove one leftover; raises OSError / RuntimeError saying why it could not."""
    what, name = leftover.what, leftover.name
    if what == "process":
        _stop_process(int(name), STOP_GRACE)
    elif what == "dockerd":
        running = _docker_lines(docker, "ps", "-q") if docker is not None else []
        if running:
            raise RuntimeError(f"dockerd {name} still runs {len(running)} container(s) that are not leftovers: kept")
        if _kind_running() or live_engine_users():
            raise RuntimeError(f"dockerd {name}: a kind command or a certchaos process is using it: kept")
        _stop_process(int(name), DOCKERD_GRACE)
    elif what == "cluster":
        result = None
        if kind_binary is not None:
            result = subprocess.run([str(kind_binary), "delete", "cluster", "--name", name],
                                    capture_output=True, text=True, timeout=300)
        if result is None or result.returncode != 0:  # no kind binary, or kind failed: the nodes directly
            nodes = _docker_lines(docker, "ps", "-aq", "--filter", f"label={CLUSTER_LABEL}={name}")
            if nodes and docker("rm", "-f", "-v", *nodes).returncode != 0:
                raise RuntimeError(f"could not remove the nodes of kind cluster {name}")
    elif what == "container":
        result = docker("rm", "-f", name)
        if result.returncode != 0:
            raise RuntimeError(f"docker rm -f {name}: {result.stderr.strip()}")
    elif what == "network":
        with kind_network_free() as free:
            if not free:
                raise RuntimeError(f"network {name}: a run is creating a kind cluster on it: kept")
            result = docker("network", "rm", name)
        if result.returncode != 0:
            raise RuntimeError(f"docker network rm {name}: {result.stderr.strip()}")
    elif what == "mount":
        result = subprocess.run(["umount", "-l", name], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"umount {name}: {result.stderr.strip()}")
    elif what == "dir":
        path = Path(name)
        if path == LIB_MODULES:
            path.rmdir()
        elif mounts_under([name]):
            raise RuntimeError(f"{name} still has mounts inside: kept")
        else:
            shutil.rmtree(path)
    else:
        raise RuntimeError(f"unknown leftover kind {what!r}")


def summary(leftovers: list[Leftover]) -> str:
    """One line: how many of each."""
    counts: dict[str, int] = {}
    for leftover in leftovers:
        counts[leftover.what] = counts.get(leftover.what, 0) + 1
    return ", ".join(f"{count} {what}(s)" for what, count in counts.items()) or "none"


def to_json(leftovers: list[Leftover]) -> str:
    return json.dumps([leftover.as_dict() for leftover in leftovers], indent=2)
