"""The fake DNS server's own errors: fakes/ stand alone and import nothing of the harness, which re-raises
these as its HarnessError where it starts or checks a fake (harness.errors.as_harness_error)."""

from __future__ import annotations


class FakeDnsError(Exception):
    """The fake refused a setting or met an internal error; the message says what and the fix."""


class PortInUse(FakeDnsError):
    def __init__(self, component: str, host: str, port: int):
        self.component, self.host, self.port = component, host, port
        super().__init__(
            f"{component}: {host}:{port} is already in use. Fix: stop whatever listens there "
            f"(`ss -ltnp 'sport = :{port}'` shows it) or leave the port unset so a free one is chosen"
        )


class PortNotPermitted(FakeDnsError):
    """Binding a port below the unprivileged range was refused (EACCES): not a port in use."""

    def __init__(self, component: str, host: str, port: int):
        self.component, self.host, self.port = component, host, port
        super().__init__(
            f"{component}: binding {host}:{port} was refused: ports below 1024 need root or CAP_NET_BIND_SERVICE "
            f"(cert-manager's self-check asks every nameserver on port 53). Fix: run as root, or "
            f"`sudo setcap cap_net_bind_service=+ep $(readlink -f $(command -v python3))`, or "
            f"`sudo sysctl net.ipv4.ip_unprivileged_port_start={port}`"
        )
