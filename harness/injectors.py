"""The reusable fault injectors: each breaks one thing the way production breaks it, and undoes it.

They act only through the lab's APIs (fake DNS control, Toxiproxy), so they work from any process, and
their reprs are valid Python so a journal entry reads as the step that was taken.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
from dataclasses import dataclass, field

from harness.dnscontrol import DnsControl
from harness.faults import BaseFault
from harness.toxiproxy import Proxy, Toxic, latency, reset_peer


@dataclass(repr=False)
class _Described(BaseFault):
    def __repr__(self) -> str:
        # Clients are not worth a journal line and secrets must not get into one.
        shown = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                          if not k.startswith("_") and k not in ("dns", "proxy") and "secret" not in k)
        return f"{type(self).__name__}({shown})"


@dataclass(repr=False)
class PropagationLag(_Described):
    """DNS changes reach a resolver only after a delay (and NXDOMAIN/NODATA it gave stays cached)."""

    dns: DnsControl
    zone: str
    seconds: float
    view: str = "resolver"  # "resolver": what cert-manager's self-check asks; "ca": what the CA asks
    _before: dict = field(default_factory=dict)

    def _key(self) -> str:
        return "propagation_delay" if self.view == "resolver" else f"{self.view}_propagation_delay"

    def apply(self) -> None:
        self._before = {self._key(): self.dns.zone_settings(self.zone)[self._key()]}
        self.dns.set_zone(self.zone, **{self._key(): self.seconds})

    def revert(self) -> None:
        self.dns.set_zone(self.zone, **(self._before or {self._key(): 0.0}))


@dataclass(repr=False)
class TsigKeyRevoked(_Described):
    """The DNS provider credential is revoked: every update it signs is refused (NOTAUTH/BADKEY)."""

    dns: DnsControl
    key: str

    def apply(self) -> None:
        self.dns.revoke_key(self.key)

    def revert(self) -> None:
        self.dns.restore_key(self.key)


@dataclass(repr=False)
class TsigPolicyNarrowed(_Described):
    """The credential's policy drifts: it may no longer write _acme-challenge records (REFUSED)."""

    dns: DnsControl
    key: str
    names: tuple[str, ...] = ("nothing-acme.invalid.",)
    types: tuple[str, ...] | None = ("A", "AAAA")
    _before: dict | None = None

    def apply(self) -> None:
        self._before = next(k for k in self.dns.keys() if k["name"] == self.key).get("policy")
        self.dns.set_policy(self.key, {"names": list(self.names), "types": None if self.types is None else list(self.types)})

    def revert(self) -> None:
        self.dns.set_policy(self.key, self._before)


@dataclass(repr=False)
class TsigKeyRotated(_Described):
    """The key is rotated at the DNS provider while the cluster Secret keeps the old secret (BADSIG)."""

    dns: DnsControl
    key: str
    old_secret: str

    def apply(self) -> None:
        self.dns.rotate_key(self.key, base64.b64encode(secrets.token_bytes(32)).decode())

    def revert(self) -> None:
        self.dns.rotate_key(self.key, self.old_secret)


@dataclass(repr=False)
class ProxyDown(_Described):
    """A dependency behind a Toxiproxy proxy is unreachable: connections are refused or dropped."""

    proxy: Proxy

    def apply(self) -> None:
        self.proxy.disable()

    def revert(self) -> None:
        self.proxy.enable()

    def describe(self) -> str:
        return f"{self.proxy.name} unreachable"


@dataclass(repr=False)
class _ProxyToxic(_Described):
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


@dataclass(repr=False)
class ProxyResets(_ProxyToxic):
    """A dependency resets every connection (TCP RST), as a crashing load balancer does."""

    def toxic(self) -> Toxic:
        return reset_peer(0)

    def describe(self) -> str:
        return f"{self.proxy.name} resets connections"


@dataclass(repr=False)
class ControllerKilled(_Described):
    """The cert-manager controller dies mid-work (OOM kill, eviction); its supervisor starts a new one."""

    pid_file: str
    killed: int | None = None

    def apply(self) -> None:
        self.killed = int(open(self.pid_file).read())
        os.kill(self.killed, signal.SIGKILL)

    def revert(self) -> None:
        """Nothing to undo: the restart is the supervisor's job, and the scenario's to observe."""
