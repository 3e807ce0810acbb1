"""The harness's error types: each says what failed and the one thing that fixes it."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


class HarnessError(Exception):
    """A failure of the harness or its stack, as opposed to a scenario's deviation."""


@contextmanager
def as_harness_error(*kinds: type[Exception]) -> Iterator[None]:
    """Re-raise `kinds` as HarnessError with the same message: the errors of a part that imports nothing of
    the harness (fakes/ have their own), where the harness starts or checks it."""
    try:
        yield
    except kinds as error:
        raise HarnessError(str(error)) from error


class MissingBinary(HarnessError):
    def __init__(self, component: str, looked_in: list[str], fix: str):
        self.component = component
        self.fix = fix
        super().__init__(
            f"{component}: binary not found (looked in {', '.join(looked_in)}). Fix: {fix}"
        )


class PortInUse(HarnessError):
    def __init__(self, component: str, host: str, port: int):
        self.component = component
        super().__init__(
            f"{component}: {host}:{port} is already in use. Fix: stop whatever listens there "
            f"(`ss -ltnp 'sport = :{port}'` shows it) or leave the port unset so a free one is chosen"
        )


class ComponentFailed(HarnessError):
    """A component exited or did not become ready; carries its last log lines."""

    def __init__(self, component: str, what: str, log_path: str | None = None, log_tail: str = ""):
        self.component = component
        self.log_path = log_path
        message = f"{component}: {what}"
        if log_path:
            message += f"\n  log: {log_path}"
        if log_tail:
            message += "\n  last log lines:\n" + "\n".join("    " + line for line in log_tail.splitlines())
        super().__init__(message)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, like Ctrl-C's KeyboardInterrupt (harness.cli.main installs it):
    everything that cleans up after Ctrl-C (a KeyboardInterrupt handler, `finally`, `with`) does so after
    SIGTERM too."""
