"""The lifecycle every started thing shares: start() returns it running, stop() undoes it, and `with` does both."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, Self


class Service:
    """Base for what the harness starts (a process, a stack, a lab): subclasses implement _start and stop,
    and stop must undo a half-done start, because a start that fails anywhere is stopped before the error
    goes on (nothing is left running)."""

    def start(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore Ctrl-C inside (main thread only): a second Ctrl-C while stopping must not cut teardown short."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main_thread else None
    try:
        yield
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)


def wait_until_interrupted(check: Callable[[], None], interval: float) -> None:
    """Block until SIGINT/SIGTERM; `check` runs every `interval` seconds and raises if the stack broke."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(interval):
            check()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


class ServerThread:
    """A socketserver serving from a daemon thread of the harness's process; stop() shuts it down, closes its
    socket and joins the thread (a stopped server releases its port)."""

    def __init__(self, server, name: str):
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
