"""Loopback ports chosen at run time, and a check that a requested one is free."""

from __future__ import annotations

import collections
import errno
import socket
import threading

from harness.errors import HarnessError, PortInUse

LOOPBACK = "127.0.0.1"
# The ports this process handed out lately: the kernel may pick a port again once its probe socket is closed,
# and a component given two ports before it binds either (Pebble's listen and management) must get two.
_GIVEN: collections.deque[int] = collections.deque(maxlen=1024)
_LOCK = threading.Lock()


def _kernel_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on `host` that nothing listens on right now (the kernel picks it) and that this process has not
    handed out lately."""
    with _LOCK:
        for _ in range(100):
            port = _kernel_port(host)
            if port not in _GIVEN:
                _GIVEN.append(port)
                return port
    raise HarnessError(f"no free port on {host}: the kernel offered only ports handed out already")


def ensure_free(component: str, port: int, host: str = LOOPBACK) -> int:
    """Return `port` if it can be bound on `host`; else PortInUse naming the component when it is in use, or
    the true cause (a privileged port, an address not on this machine) with its fix."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUse(component, host, port) from None
            if error.errno == errno.EACCES:
                fix = ("run as root, or leave the port unset so a free one is chosen (ports below 1024 need root "
                       "or CAP_NET_BIND_SERVICE)")
            else:
                fix = f"choose an address of this machine's loopback (e.g. {LOOPBACK}) or leave the port unset"
            raise HarnessError(f"{component}: binding {host}:{port} was refused: {error.strerror}. Fix: {fix}") from None
    return port


def port_or_free(component: str, port: int | None, host: str = LOOPBACK) -> int:
    return free_port(host) if not port else ensure_free(component, port, host)
