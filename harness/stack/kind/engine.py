"""The Docker engine kind runs on: use one that answers, or start dockerd (as root) and stop only that one.

Where the host's capability bounding set lacks capabilities the kernel knows, privileged containers (every
kind node) fail in runc; dockerd is then started with our runtime wrapper (runc_capfilter.py) as its default
runtime through a generated daemon config. Detected from /proc, never assumed: a normal host gets `{}`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from harness.errors import HarnessError
from harness.stack import binaries
from harness.stack.kind import runc_capfilter
from harness.stack.leftovers import owner_env
from harness.stack.service import Service
from harness.wait import Seen, wait_for

CAPFILTER = Path(runc_capfilter.__file__).resolve()
# dockerd is up in ~1 s here; 60 s covers a loaded 2-core machine replaying its containerd state.
START_TIMEOUT = 60.0
# dockerd stops its containers (10 s grace each, in parallel) before it exits.
STOP_TIMEOUT = 60.0


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


class DockerEngine(Service):
    """A Docker engine that answers `docker info`; `started` says whether stop() will stop it."""

    def __init__(self, directory: Path | None = None):
        self.directory = directory or state_dir()
        self.started = False
        self._process: subprocess.Popen | None = None
        self._bin: Path | None = None

    @property
    def log_path(self) -> Path:
        return self.directory / "dockerd.log"

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

    def _start(self) -> None:
        if self.info() is not None:
            return
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise HarnessError("no Docker engine answers and dockerd is not installed. Fix: "
                               "`apt-get install -y docker.io` (as root), or start your Docker")
        if os.geteuid() != 0:
            raise HarnessError("no Docker engine answers and starting dockerd needs root. Fix: "
                               "`sudo systemctl start docker` (or run certchaos as root)")
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "daemon.json"
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
        if not self.started or self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self.started, self._process = False, None

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
