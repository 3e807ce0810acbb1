"""Faults of a dependency behind a Toxiproxy proxy (the CA, the webhook): down, slow."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.chaos.fault import DescribedFault
from harness.stack.toxiproxy import Proxy, Toxic, latency


@dataclass(repr=False)
class ProxyDown(DescribedFault):
    """A dependency behind a Toxiproxy proxy is unreachable: connections are refused or dropped."""

    proxy: Proxy

    def apply(self) -> None:
        self.proxy.disable()

    def revert(self) -> None:
        self.proxy.enable()

    def describe(self) -> str:
        return f"{self.proxy.name} unreachable"


@dataclass(repr=False)
class _ProxyToxic(DescribedFault):
    """A Toxiproxy toxic on the proxy while the fault lasts; subclasses say which."""

    proxy: Proxy
    _toxic: str | None = field(default=None, init=False)

    def toxic(self) -> Toxic:
        raise NotImplementedError

    def apply(self) -> None:
        self._toxic = self.proxy.add(self.toxic())

    def revert(self) -> None:
        if self._toxic:
            self.proxy.remove(self._toxic)


@dataclass(repr=False)
class ProxyLatency(_ProxyToxic):
    """Every response from a dependency is delayed (both directions' first bytes wait)."""

    milliseconds: int

    def toxic(self) -> Toxic:
        return latency(self.milliseconds)

    def describe(self) -> str:
        return f"{self.proxy.name} responds {self.milliseconds} ms late"
