"""Local processes the harness owns: started with a log file, stopped for sure.

Children get PR_SET_PDEATHSIG so they die with the harness even if it is SIGKILLed, and each runs in
its own process group so Ctrl-C reaches only the harness, which then stops them in reverse order.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

from harness.errors import ComponentFailed
from harness.stack.leftovers import owner_env
from harness.wait import Hopeless, Seen, WaitTimeout, wait_for

_PR_SET_PDEATHSIG = 1


# Held while a child starts: an interrupt inside Popen, after the fork, would leave a running child that stop()
# cannot see (start() never recorded it), writing into its data dir while the stack removes it.
_HELD = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """SIGINT and SIGTERM recorded inside and handled on leaving, by the handlers they had. Not a signal mask: the
    kernel gives a process-directed signal to any thread that does not block it (the lab has several), and Python
    runs the handler in the main thread all the same. Python handles signals only in the main thread: elsewhere
    there is nothing to hold."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, _frame: got.append(signum)) for signum in _HELD}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        for signum in dict.fromkeys(got):
            signal.raise_signal(signum)  # to this thread, through the handler it has again


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setpgid(0, 0)


def tail(path: Path, lines: int = 20) -> str:
    try:
        with open(path, "r", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip("\n")
    except FileNotFoundError:
        return ""


class ManagedProcess:
    """One component process: argv, environment, log file; start, readiness, stop."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ):
        self.name = name
        self.argv = [str(arg) for arg in argv]
        self.log_path = Path(log_path)
        # OWNER_ENV names this process as the owner: `certchaos clean` stops it once this process is gone.
        self.env = dict(os.environ, **owner_env(), **(env or {}))
        self.cwd = cwd
        self._popen: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def start(self) -> "ManagedProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        with _interrupts_held():  # handled once the child is recorded
            try:
                self._popen = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    preexec_fn=_die_with_parent,
                )
            except OSError as error:
                raise ComponentFailed(self.name, f"could not start {self.argv[0]}: {error}") from None
            finally:
                log.close()
        return self

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def failure(self, what: str) -> ComponentFailed:
        return ComponentFailed(self.name, what, str(self.log_path), tail(self.log_path))

    def wait_ready(self, probe: Callable[[], Seen], timeout: float, expected: str = "to be ready") -> object:
        """Poll `probe` until it holds; fail naming the component with its last log lines if it
        exits or the deadline passes."""

        def ready() -> Seen:
            if not self.running():
                raise Hopeless()
            return probe()

        try:
            return wait_for(ready, subject=self.name, expected=expected, timeout=timeout, interval=0.2)
        except Hopeless:
            code = self._popen.returncode if self._popen else None
            raise self.failure(f"exited with code {code} before it was ready") from None
        except WaitTimeout as error:
            raise self.failure(f"not ready within {timeout:g}s; last seen: {error.last}") from None

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL what is left after `grace` seconds; idempotent."""
        popen = self._popen
        if popen is None or popen.poll() is not None:
            return
        try:
            os.killpg(popen.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            popen.wait()


    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.pid})"

