"""The kubelet's restart policy for the local provider's cert-manager controller (see ControllerSupervisor)."""

from __future__ import annotations

import threading
from pathlib import Path

from harness.errors import HarnessError
from harness.stack.local import LocalStack


class ControllerSupervisor:
    """Restarts the cert-manager controller when it dies, as the kubelet restarts a crashed container, and
    keeps its PID in a file so a fault in any process can kill it (a crash or eviction mid-order).

    The supervisor's thread starts the new process; with PR_SET_PDEATHSIG the process dies when that thread
    ends, which is only at stop(), when the stack stops anyway."""

    POLL = 0.5  # seconds between liveness checks: a restart begins within half a second of the crash

    def __init__(self, stack: LocalStack, pid_file: Path):
        self.stack, self.pid_file = stack, pid_file
        self.errors: list[str] = []  # restarts that failed (the next poll tries again); shown by stop()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="controller-supervisor", daemon=True)

    def _write_pid(self) -> None:
        self.pid_file.write_text(str(self.stack.processes["cert-manager-controller"].pid))

    def start(self) -> "ControllerSupervisor":
        self._write_pid()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.POLL):
            if not self.stack.processes["cert-manager-controller"].running():
                try:
                    self.stack.restart_controller()
                    self._write_pid()
                except Exception as error:  # noqa: BLE001 - kept and surfaced at stop()
                    self.errors.append(str(error))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        if self.errors:
            raise HarnessError(f"cert-manager controller could not be restarted: {self.errors[-1]}")
