"""Loopback ports chosen at run time, and a check that a requested one is free."""

from __future__ import annotations

import socket

from harness.errors import PortInUse

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on `host` that nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def ensure_free(component: str, port: int, host: str = LOOPBACK) -> int:
    """Return `port` if it can be bound on `host`, else raise PortInUse naming the component."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise PortInUse(component, host, port) from None
    return port


def port_or_free(component: str, port: int | None, host: str = LOOPBACK) -> int:
    return free_port(host) if not port else ensure_free(component, port, host)
