"""Run a program that binds every interface inside a private network namespace, bridged to loopback.

cert-manager v1.11's webhook listens on ":<port>" with no flag to choose the address. The house rule is
loopback only, so it runs in its own network namespace (only `lo`), and socat bridges exactly the ports
it needs through unix sockets in the run dir: inbound ports it serves, published on host 127.0.0.1, and
outbound host ports it must reach (the API server), published on the jail's 127.0.0.1. Unix sockets
cross network namespaces; nothing else does. Without root, `unshare --map-root-user` makes the namespace.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path
import socket
from typing import Callable, Mapping, Sequence

from harness.errors import HarnessError
from harness.stack.ports import LOOPBACK
from harness.wait import Seen


def _listening(port: int) -> Callable[[], Seen]:
    def probe() -> Seen:
        with socket.create_connection((LOOPBACK, port), timeout=1):
            return Seen(True, f"{LOOPBACK}:{port} accepts connections")
    return probe


def _tools() -> dict[str, str]:
    found = {tool: shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin") for tool in ("unshare", "socat", "ip")}
    missing = [tool for tool, path in found.items() if not path]
    if missing:
        raise HarnessError(
            f"loopback jail needs {', '.join(missing)}. Fix: `apt-get install -y util-linux socat iproute2`"
        )
    return found


class LoopbackJail:
    """`serves` maps jail port -> host loopback port; `reaches` lists host loopback ports the program dials."""

    def __init__(self, socket_dir: Path, serves: Mapping[int, int], reaches: Sequence[int]):
        self.socket_dir = Path(socket_dir)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.serves = dict(serves)
        self.reaches = list(reaches)
        self.tools = _tools()

    def _sock(self, kind: str, port: int) -> Path:
        return self.socket_dir / f"{kind}-{port}.sock"

    def host_bridges(self) -> list[tuple[list[str], Callable[[], Seen]]]:
        """socat commands to run on the host side before the jailed program, each with its readiness."""
        socat = self.tools["socat"]
        commands = []
        for jail_port, host_port in self.serves.items():
            commands.append(([socat, f"TCP-LISTEN:{host_port},bind={LOOPBACK},reuseaddr,fork",
                              f"UNIX-CONNECT:{self._sock('serve', jail_port)}"], _listening(host_port)))
        for host_port in self.reaches:
            sock = self._sock("reach", host_port)
            commands.append(([socat, f"UNIX-LISTEN:{sock},fork,unlink-early", f"TCP:{LOOPBACK}:{host_port}"],
                             lambda sock=sock: Seen(sock.is_socket(), f"{sock.name} exists: {sock.exists()}")))
        return commands

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """The jailed command: bring up lo, start the jail-side bridges and the program, and stay their
        parent so every one of them is reaped (no zombies) when the process group is stopped."""
        socat = shlex.quote(self.tools["socat"])
        lines = [
            f"{shlex.quote(self.tools['ip'])} link set lo up || exit 1",
            "trap 'kill $bridges $program 2>/dev/null; wait; exit 143' TERM INT",
        ]
        for jail_port in self.serves:
            lines.append(f"{socat} UNIX-LISTEN:{shlex.quote(str(self._sock('serve', jail_port)))},fork,unlink-early "
                         f"TCP:{LOOPBACK}:{jail_port} & bridges=\"$bridges $!\"")
        for host_port in self.reaches:
            lines.append(f"{socat} TCP-LISTEN:{host_port},bind={LOOPBACK},reuseaddr,fork "
                         f"UNIX-CONNECT:{shlex.quote(str(self._sock('reach', host_port)))} & bridges=\"$bridges $!\"")
        lines += [
            " ".join(shlex.quote(str(arg)) for arg in argv) + " & program=$!",
            "wait $program; code=$?",  # the program ended on its own: take the bridges down with it
            "kill $bridges 2>/dev/null; wait; exit $code",
        ]
        # A PID namespace too: the shell is its init, so if the harness is SIGKILLed (PDEATHSIG reaches
        # unshare, --kill-child reaches the shell), the kernel kills everything in the jail.
        unshare = [self.tools["unshare"], "--net", "--pid", "--fork", "--kill-child"]
        if os.geteuid() != 0:
            unshare.append("--map-root-user")
        return [*unshare, "sh", "-c", "\n".join(lines)]
