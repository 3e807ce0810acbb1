"""Faults of cert-manager's processes: the controller killed mid-work."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from harness.chaos.faults import DescribedFault


@dataclass(repr=False)
class ControllerKilled(DescribedFault):
    """The cert-manager controller dies mid-work (OOM kill, eviction); its supervisor starts a new one."""

    pid_file: str
    killed: int | None = None

    def apply(self) -> None:
        self.killed = int(Path(self.pid_file).read_text())
        os.kill(self.killed, signal.SIGKILL)

    def revert(self) -> None:
        """Nothing to undo: the restart is the supervisor's job, and the scenario's to observe."""


@dataclass(repr=False)
class ControllerStopped(DescribedFault):
    """The cert-manager controller is stopped gracefully (SIGTERM: a rolling update, a node drain); its
    supervisor starts a new pod."""

    pid_file: str
    stopped: int | None = None

    def apply(self) -> None:
        self.stopped = int(Path(self.pid_file).read_text())
        os.kill(self.stopped, signal.SIGTERM)

    def revert(self) -> None:
        """Nothing to undo: the new pod is the supervisor's job, and the scenario's to observe."""
