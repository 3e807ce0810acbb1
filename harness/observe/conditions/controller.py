"""Conditions on the cert-manager controller process."""

from __future__ import annotations

from pathlib import Path

from harness.wait import Condition, Seen


def controller_restarted(pid_file: str, killed: int) -> Condition:
    """The controller's PID file names a process other than `killed` (the supervisor restarted it)."""
    def condition() -> Seen:
        pid = int(Path(pid_file).read_text())
        return Seen(pid != killed, {"pid": pid, "killed": killed})
    return condition
