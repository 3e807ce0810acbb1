"""The cert-manager controller of a kind cluster as the local stack shows it: its log in one file that
grows across pod restarts, and a PID file naming its current process on this host.

Scenarios read the controller's log (what only --v=2 states, e.g. the issuance backoff) from
<stack run dir>/logs/cert-manager-controller.log and its flags from /proc/<pid>/cmdline; on kind the
process runs in a container on the node, which is still a process of this host. A thread follows the
running controller pod's log (the API's follow stream, with timestamps so a re-attached stream skips what
was written already) and, each time it attaches to a container, writes that container's host PID.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from kubernetes import client

from harness.stack import certmanager

CONTROLLER_SELECTOR = "app.kubernetes.io/component=controller,app.kubernetes.io/name=cert-manager"
# How long the follower waits between looks for a running controller container when there is none
# (a pod being replaced): the kubelet starts a container within seconds.
RETRY_INTERVAL = 1.0


def host_pid(container_id: str, command_word: str) -> int | None:
    """The host PID of a container's main process: the process in the container's cgroup (its path names
    the container id) whose command line contains `command_word`."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if container_id in (proc / "cgroup").read_text() and \
                    command_word.encode() in (proc / "cmdline").read_bytes():
                return int(proc.name)
        except OSError:
            continue  # the process ended meanwhile
    return None


def sortable(stamp: str) -> str:
    """An RFC 3339 timestamp as the kubelet writes it (nanoseconds, trailing zeros trimmed) padded to a
    fixed width, so timestamps compare as strings."""
    seconds, dot, fraction = stamp.rstrip("Z").partition(".")
    return f"{seconds}.{fraction.ljust(9, '0')}Z"


class ControllerFollower:
    """Follows the controller pods' log into `log_path` and keeps `pid_file` naming the current process."""

    def __init__(self, api: client.ApiClient, log_path: Path, pid_file: Path):
        self.core = client.CoreV1Api(api)
        self.log_path, self.pid_file = Path(log_path), Path(pid_file)
        self._stop = threading.Event()
        self._seen: dict[str, str] = {}  # container id -> timestamp of the last line written
        self._thread = threading.Thread(target=self._run, name="controller-log", daemon=True)
        self._response = None

    def start(self) -> "ControllerFollower":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.touch()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        connection = getattr(self._response, "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            # Wakes the thread blocked reading the follow stream. response.close() would deadlock on the
            # connection's lock that reader holds; a plain socket shutdown takes no lock.
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass  # already closed
        self._thread.join(timeout=10)  # a read blocked in the kernel ends with the close; 10 s guards a hang

    def _running_container(self) -> tuple[str, str] | None:
        pods = self.core.list_namespaced_pod(certmanager.NAMESPACE, label_selector=CONTROLLER_SELECTOR).items
        for pod in pods:
            for status in pod.status.container_statuses or []:
                if status.state and status.state.running and status.container_id:
                    return pod.metadata.name, status.container_id.split("://")[-1]
        return None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                running = self._running_container()
                if running is None:
                    self._stop.wait(RETRY_INTERVAL)
                    continue
                pod, container = running
                pid = host_pid(container, "controller")
                if pid is not None:
                    self.pid_file.write_text(str(pid))
                self._follow(pod, container)
            except Exception:  # noqa: BLE001 - the API restarts streams; the next look tries again
                self._stop.wait(RETRY_INTERVAL)

    def _follow(self, pod: str, container: str) -> None:
        response = self._response = self.core.read_namespaced_pod_log(
            pod, certmanager.NAMESPACE, follow=True, timestamps=True, _preload_content=False)
        try:
            with open(self.log_path, "a") as log:
                pending = ""
                for raw in response.stream(amt=None):
                    *lines, pending = (pending + raw.decode(errors="replace")).split("\n")
                    for line in lines:
                        stamp, _, text = line.partition(" ")
                        stamp = sortable(stamp)
                        if stamp <= self._seen.get(container, ""):
                            continue  # written before a stream that ended and was re-attached
                        self._seen[container] = stamp
                        log.write(text + "\n")
                    log.flush()
                    if self._stop.is_set():
                        return
        finally:
            response.release_conn()
        if not self._stop.is_set():
            self._stop.wait(RETRY_INTERVAL)
