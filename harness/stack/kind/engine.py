"""The Docker engine kind runs on: use one that answers, or start dockerd (as root); the last certchaos process
using a dockerd certchaos started stops it, never one the host runs.

Several certchaos processes share one engine (CI's `make test-kind` beside `make run-kind`, `certchaos up` in one
terminal and `run` in another): the one that started dockerd may finish first. So each engine in use records
itself in a users directory, and stop() stops our dockerd only when no user is left alive and no container runs,
under a lock that a start takes too (no one starts using it between that check and the stop).

Where the host's capability bounding set lacks capabilities the kernel knows, privileged containers (every
kind node) fail in runc; dockerd is then started with our runtime wrapper (runc_capfilter.py) as its default
runtime through a generated daemon config. Detected from /proc, never assumed: a normal host gets `{}`.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

from harness.errors import HarnessError
from harness.stack import binaries, leftovers
from harness.stack.kind import runc_capfilter
from harness.stack.leftovers import owner_env
from harness.stack.service import Service
from harness.wait import Seen, WaitTimeout, wait_for

CAPFILTER = Path(runc_capfilter.__file__).resolve()
# dockerd is up in ~1 s here; 60 s covers a loaded 2-core machine replaying its containerd state.
START_TIMEOUT = 60.0
# dockerd stops its containers (10 s grace each, in parallel) before it exits.
STOP_TIMEOUT = 60.0
_USER_NUMBERS = itertools.count()  # one users-directory file per DockerEngine started in this process


# Every kind node holds ~19 inotify instances (systemd, kubelet, containerd, ...), counted against the host's
# fs.inotify.max_user_instances (128 on Debian): a run's two clusters (six nodes) take ~114, so a third cluster
# beside them fails its kubelets ("too many open files"). kind's known-issues page recommends 512.
INOTIFY_LIMIT = Path("/proc/sys/fs/inotify/max_user_instances")
INOTIFY_RECOMMENDED = 512


def inotify_advice(path: Path = INOTIFY_LIMIT) -> str | None:
    """None when the host's inotify instance limit fits several kind clusters at once, else what to do."""
    try:
        limit = int(path.read_text())
    except (OSError, ValueError):
        return None  # not Linux's /proc: nothing to say
    if limit >= INOTIFY_RECOMMENDED:
        return None
    return (f"fs.inotify.max_user_instances is {limit}: kind nodes take ~19 each, so more than one run's two "
            f"clusters at once fail their kubelets. Fix: `sudo sysctl -w fs.inotify.max_user_instances="
            f"{INOTIFY_RECOMMENDED}`")


def state_dir() -> Path:
    return binaries.cache_dir() / "kind"


def missing_capabilities() -> frozenset[str]:
    """Capabilities the kernel knows that this host's bounding set lacks (empty on a normal host)."""
    status = Path("/proc/self/status").read_text()
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    return runc_capfilter.missing_capabilities(status, last)


def daemon_config(missing: frozenset[str], wrapper: Path = CAPFILTER) -> dict:
    """dockerd's config: the capability filter as default runtime only when capabilities are missing."""
    if not missing:
        return {}
    return {"runtimes": {"capfilter": {"path": str(wrapper)}}, "default-runtime": "capfilter"}


def docker_cli() -> Path:
    """The docker CLI: the one installed next to dockerd first (a newer CLI earlier on PATH may not match it)."""
    dockerd = shutil.which("dockerd")
    if dockerd and (Path(dockerd).parent / "docker").exists():
        return Path(dockerd).parent / "docker"
    found = shutil.which("docker")
    if found is None:
        raise HarnessError("the kind provider needs Docker: no `docker` CLI found. Fix: `apt-get install -y docker.io`")
    return Path(found)


def stop_foreign(pid: int) -> None:
    """SIGTERM to a dockerd that another process started, then SIGKILL if it outlives STOP_TIMEOUT."""

    def gone() -> Seen:
        return Seen(leftovers.process_start(pid) is None or leftovers.zombie(pid), "still running")

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        try:
            wait_for(gone, subject=f"dockerd {pid}", expected="to exit", timeout=STOP_TIMEOUT, interval=0.2)
        except WaitTimeout:
            os.kill(pid, signal.SIGKILL)


class DockerEngine(Service):
    """A Docker engine that answers `docker info`; `started` says whether we started its dockerd."""

    def __init__(self, directory: Path | None = None):
        self.directory = directory or state_dir()
        self.started = False
        self._process: subprocess.Popen | None = None
        self._bin: Path | None = None
        self._user: Path | None = None  # our file in the users directory while we use the engine

    @property
    def log_path(self) -> Path:
        return self.directory / "dockerd.log"

    @property
    def config_path(self) -> Path:
        """dockerd's config: on its command line, it tells our dockerd from the host's."""
        return self.directory / "daemon.json"

    def env(self) -> dict[str, str]:
        """Environment for docker/kind subprocesses: our chosen `docker` first on PATH (kind calls `docker`)."""
        if self._bin is None:
            self._bin = self.directory / "bin"
            self._bin.mkdir(parents=True, exist_ok=True)
            link = self._bin / "docker"
            if not link.is_symlink() or link.resolve() != docker_cli().resolve():
                link.unlink(missing_ok=True)
                link.symlink_to(docker_cli())
        return dict(os.environ, PATH=f"{self._bin}{os.pathsep}{os.environ.get('PATH', '')}")

    def docker(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run the docker CLI; a failure (when `check`) carries the command and its output."""
        command = [str(docker_cli()), *args]
        result = subprocess.run(command, capture_output=True, text=True, env=self.env(), timeout=timeout)
        if check and result.returncode != 0:
            raise HarnessError(f"`{' '.join(command)}` failed (exit {result.returncode}): {result.stderr.strip()}")
        return result

    def info(self) -> dict | None:
        """`docker info` as a dict, or None when no engine answers."""
        try:
            result = self.docker("info", "--format", "{{json .}}", check=False, timeout=30)
        except (HarnessError, subprocess.TimeoutExpired):
            return None
        if result.returncode != 0:
            return None
        try:
            return json.loads(result.stdout)
        except ValueError:
            return None

    @contextlib.contextmanager
    def _locked(self):
        """The engine's lock: a start's check-then-start and a stop's check-then-stop, one process at a time."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / "engine.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _start(self) -> None:
        with self._locked():
            if self._user is None:  # started again (the image builder reuses the cluster's engine): one user
                users = self.directory / leftovers.ENGINE_USERS
                users.mkdir(exist_ok=True)
                self._user = users / f"{os.getpid()}.{next(_USER_NUMBERS)}"
                self._user.touch()
            if self.info() is None:
                self._start_dockerd()

    def _start_dockerd(self) -> None:
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise HarnessError("no Docker engine answers and dockerd is not installed. Fix: "
                               "`apt-get install -y docker.io` (as root), or start your Docker")
        if os.geteuid() != 0:
            raise HarnessError("no Docker engine answers and starting dockerd needs root. Fix: "
                               "`sudo systemctl start docker` (or run certchaos as root)")
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.config_path
        config.write_text(json.dumps(daemon_config(missing_capabilities()), indent=2) + "\n")
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [dockerd, "--config-file", str(config)], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,  # not in our process group: Ctrl-C reaches us, we stop it in order
                env=dict(os.environ, **owner_env()),  # `certchaos clean` stops it once we are gone
            )
        self.started = True

        def answers() -> Seen:
            if self._process.poll() is not None:
                return Seen(False, f"dockerd exited with {self._process.returncode}; see {self.log_path}")
            return Seen(self.info() is not None, "no answer to `docker info` yet")

        wait_for(answers, subject="dockerd", expected="to answer `docker info`", timeout=START_TIMEOUT,
                 interval=0.5)

    def stop(self) -> None:
        """No longer use the engine; stop the dockerd certchaos started (by us or by a user that finished first)
        when we were its last user and it runs no container."""
        if self._user is None:
            return
        with self._locked():
            self._user.unlink(missing_ok=True)
            self._user = None
            process, self.started, self._process = self._process, False, None
            if leftovers.live_engine_users(self.directory / leftovers.ENGINE_USERS):
                return  # another certchaos process uses it: the last one stops it
            alive = process is not None and process.poll() is None
            pid = process.pid if alive else leftovers.our_dockerd(self.config_path)
            if pid is None:
                return  # the host's engine, or ours already gone
            if self.info() is not None and self.docker("ps", "-q", check=False).stdout.split():
                return  # containers of others (`certchaos clean` stops it once it is idle)
            if process is not None and process.pid == pid:
                process.terminate()
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            else:
                stop_foreign(pid)

    def describe(self) -> str:
        """One line for `certchaos doctor`: the engine and its runtime, or what is missing and the fix."""
        missing = missing_capabilities()
        info = self.info()
        if info is None:
            where = "dockerd is installed" if shutil.which("dockerd") else "fix: `apt-get install -y docker.io`"
            return f"not running ({where}; the kind provider starts dockerd as root)"
        runtime = info.get("DefaultRuntime", "?")
        line = f"Docker {info.get('ServerVersion', '?')}, default runtime {runtime}"
        if missing and runtime != "capfilter":
            line += (f"; WARNING: the host lacks {', '.join(sorted(missing))}, so privileged containers need "
                     f"{CAPFILTER} as runtime (stop this dockerd and let certchaos start it)")
        return line
