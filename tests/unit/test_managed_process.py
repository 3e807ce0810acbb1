"""ManagedProcess.start under an interrupt: a SIGTERM that arrives while the child is being started is held until
the child is recorded, so stop() can still stop it (else it runs on, unseen, writing where the stack cleans up),
also in a process with other threads (a lab has several; the kernel may give the signal to any of them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from harness.stack import process


class Interrupted(Exception):
    pass


@pytest.fixture
def another_thread():
    """An idle thread beside the test's, as a lab's watchers are: one that does not block SIGTERM."""
    done = threading.Event()
    thread = threading.Thread(target=done.wait, daemon=True)
    thread.start()
    yield
    done.set()
    thread.join()


def test_a_sigterm_during_the_childs_start_comes_after_the_child_is_recorded(tmp_path, monkeypatch, another_thread):
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


def test_the_child_gets_sigterm_itself_it_does_not_inherit_a_blocked_mask(tmp_path):
    child = process.ManagedProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                                   tmp_path / "sleeper.log").start()
    try:
        with open(f"/proc/{child.pid}/status") as status:
            blocked = int(next(line for line in status if line.startswith("SigBlk:")).split()[1], 16)
        assert not blocked & (1 << (signal.SIGTERM - 1) | 1 << (signal.SIGINT - 1))
    finally:
        child.stop(grace=5)
    assert not child.running()
