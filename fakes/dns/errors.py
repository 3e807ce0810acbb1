"""The fake DNS server's own errors: fakes/ stand alone and import nothing of the harness, which re-raises
these as its HarnessError where it starts or checks a fake (harness.errors.fake_errors)."""

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
