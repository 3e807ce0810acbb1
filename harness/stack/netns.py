"""Network namespaces of other processes (containers), entered without leaving this process.

A socket belongs to the network namespace its creating thread was in, and keeps it: a thread that enters a
namespace with setns(2), creates and binds a socket there and comes back leaves a socket that listens
inside that namespace only, while this process serves it like any other. setns of a network namespace
changes only the calling thread and is allowed in a multi-threaded process. Python 3.11 has no os.setns.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Callable, TypeVar

from harness.errors import HarnessError

CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def _setns(fd: int, what: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise HarnessError(f"setns into the network namespace of {what}: {os.strerror(errno)}. "
                           "Fix: run as root (CAP_SYS_ADMIN), the kind provider needs it anyway")


def in_netns(path: str, fn: Callable[[], T]) -> T:
    """fn() run on a thread inside the network namespace at `path` (e.g. /proc/<pid>/ns/net); its result
    (sockets made there stay there) or its exception."""
    outcome: dict = {}

    def run() -> None:
        try:
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            try:
                target = os.open(path, os.O_RDONLY)
                try:
                    _setns(target, path)
                finally:
                    os.close(target)
                try:
                    outcome["value"] = fn()
                finally:
                    _setns(own, "this process")
            finally:
                os.close(own)
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread below
            outcome["error"] = error

    thread = threading.Thread(target=run, name="netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def nsenter_argv(path: str | None, argv: list) -> list:
    """`argv` run inside the network namespace at `path` (as is when None). nsenter execs the command (a net
    namespace needs no fork), so the PID, signals and PR_SET_PDEATHSIG are the command's own."""
    return argv if path is None else ["nsenter", f"--net={path}", "--", *argv]
