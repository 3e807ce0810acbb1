"""Ports: a free one is chosen once per process; a requested one that cannot be bound is refused with its true
cause: in use, privileged, or not local."""

from __future__ import annotations

import collections
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError, PortInUse
from harness.stack import ports
from harness.stack.ports import LOOPBACK, ensure_free, free_port

ROOT = Path(__file__).resolve().parents[2]


def test_a_free_port_is_returned_and_one_in_use_names_the_component():
    port = free_port()
    assert ensure_free("pebble", port) == port
    with socket.socket() as listener:
        listener.bind((LOOPBACK, port))
        listener.listen()
        with pytest.raises(PortInUse, match=rf"pebble: 127\.0\.0\.1:{port} is already in use"):
            ensure_free("pebble", port)


def test_an_address_not_on_this_machine_is_not_called_in_use():
    with pytest.raises(HarnessError, match=r"binding 192\.0\.2\.1:\d+ was refused: Cannot assign requested") as error:
        ensure_free("pebble", free_port(), host="192.0.2.1")  # TEST-NET-1: bound nowhere, nothing is sent
    assert not isinstance(error.value, PortInUse)


@pytest.mark.skipif(int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text()) <= 53,
                    reason="this kernel lets every user bind port 53")
def test_a_privileged_port_without_root_says_so_with_the_fix():
    code = ("from harness.stack.ports import ensure_free\n"
            "from harness.errors import PortInUse\n"
            "try:\n    ensure_free('kube-apiserver', 53, host='127.53.0.1')\n"
            "except PortInUse as error:\n    print('in use:', error)\n"
            "except Exception as error:\n    print(error)\n")
    as_nobody = (lambda: os.setuid(65534)) if os.geteuid() == 0 else None
    # The system's python3 when there is one: ports.py needs only the standard library, and an interpreter under
    # root's home (pyenv) is not executable by nobody.
    python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
    said = subprocess.run([python, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          preexec_fn=as_nobody, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert said.stdout.startswith("kube-apiserver: binding 127.53.0.1:53 was refused: Permission denied. "
                                  "Fix: run as root"), said.stdout + said.stderr


def test_a_port_handed_out_lately_is_not_handed_out_again(monkeypatch):
    """The kernel may offer a closed probe's port again at once: Pebble once got one port for both listeners."""
    offered = iter([41000, 41000, 41000, 41001])
    monkeypatch.setattr(ports, "_kernel_port", lambda host: next(offered))
    monkeypatch.setattr(ports, "_GIVEN", collections.deque(maxlen=8))
    assert [free_port(), free_port()] == [41000, 41001]
