"""ManagedProcess.start under an interrupt: a SIGTERM that arrives while the child is being started is held until
the child is recorded, so stop() can still stop it (else it runs on, unseen, writing where the stack cleans up)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from harness.stack import process


class Interrupted(Exception):
    pass


def test_a_sigterm_during_the_childs_start_comes_after_the_child_is_recorded(tmp_path, monkeypatch):
    real_popen = subprocess.Popen

    def popen_then_sigterm(*args, **kwargs):
        child = real_popen(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill` from a CI runner, right after the fork
        return child

    def interrupted(signum, frame):
        raise Interrupted()

    monkeypatch.setattr(process.subprocess, "Popen", popen_then_sigterm)
    previous = signal.signal(signal.SIGTERM, interrupted)
    child = process.ManagedProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                                   tmp_path / "sleeper.log")
    try:
        with pytest.raises(Interrupted):
            child.start()
        assert child.running()  # recorded before the interrupt was raised: stop() reaches it
    finally:
        signal.signal(signal.SIGTERM, previous)
        child.stop(grace=5)
    assert not child.running()


def test_the_child_gets_sigterm_itself_it_does_not_inherit_the_held_mask(tmp_path):
    child = process.ManagedProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                                   tmp_path / "sleeper.log").start()
    try:
        with open(f"/proc/{child.pid}/status") as status:
            blocked = int(next(line for line in status if line.startswith("SigBlk:")).split()[1], 16)
        assert not blocked & (1 << (signal.SIGTERM - 1) | 1 << (signal.SIGINT - 1))
    finally:
        child.stop(grace=5)
    assert not child.running()
