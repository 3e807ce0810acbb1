"""Faults of cert-manager's processes: the controller killed mid-work."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from typing import ClassVar
from pathlib import Path

from harness.chaos.faults import DescribedFault


@dataclass(repr=False)
class ControllerKilled(DescribedFault):
    """The cert-manager controller dies mid-work (OOM kill, eviction); its supervisor starts a new one."""

    pid_file: str
    killed: int | None = None  # the PID that got the signal
    SIGNAL: ClassVar[int] = signal.SIGKILL

    def apply(self) -> None:
        self.killed = int(Path(self.pid_file).read_text())
        os.kill(self.killed, self.SIGNAL)

    def revert(self) -> None:
        """Nothing to undo: the new pod is the supervisor's job, and the scenario's to observe."""


@dataclass(repr=False)
class ControllerStopped(ControllerKilled):
    """The cert-manager controller is stopped gracefully (SIGTERM: a rolling update, a node drain); its
    supervisor starts a new pod."""

    SIGNAL: ClassVar[int] = signal.SIGTERM
