"""The lifecycle every started thing shares: start() returns it running, stop() undoes it, and `with` does both."""

from __future__ import annotations

from typing import Self


class Service:
    """Base for what the harness starts (a process, a stack, a lab); subclasses implement start and stop."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
