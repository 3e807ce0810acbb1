"""A process with what a kubelet gives each pod and a loopback process lacks: its own hostname (a UTS
namespace) and its own /etc/resolv.conf (a mount namespace with the file bind-mounted over the host's).

cert-manager names its leader-election identity after the hostname, so two controllers on one machine
would both believe they hold the Lease; and its authoritative DNS-01 self-check dials the zone's
nameservers by name through the resolver of /etc/resolv.conf (the pod's cluster DNS). The wrapper ends
in `exec`, so the PID seen by the caller is the program's own.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Sequence

from harness.errors import HarnessError

_SCRIPT = 'hostname "$1" && { [ -z "$2" ] || mount --bind "$2" /etc/resolv.conf; } && shift 2 && exec "$@"'


def pod_name(deployment: str) -> str:
    """A fresh pod-like name, as a ReplicaSet would give a new pod: <deployment>-<5 random chars>."""
    return f"{deployment}-{secrets.token_hex(3)[:5]}"


def write_resolv_conf(path: Path, nameserver: str) -> Path:
    """A pod's resolv.conf naming one nameserver (on port 53: resolv.conf has no port)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"nameserver {nameserver}\n")
    return path


def pod_argv(argv: Sequence, hostname: str, resolv_conf: Path | None = None) -> list[str]:
    """`argv` run with its own `hostname` and, if given, `resolv_conf` as its /etc/resolv.conf."""
    unshare, sh = shutil.which("unshare") or shutil.which("unshare", path="/usr/bin:/bin"), shutil.which("sh")
    if not unshare or not sh:
        raise HarnessError("pod sandbox needs `unshare` and `sh`. Fix: `apt-get install -y util-linux`")
    user = [] if os.geteuid() == 0 else ["--map-root-user"]  # without root, a user namespace makes it possible
    return [unshare, *user, "--uts", "--mount", "--propagation", "private", "--", sh, "-c", _SCRIPT,
            "pod", hostname, str(resolv_conf or ""), *map(str, argv)]
