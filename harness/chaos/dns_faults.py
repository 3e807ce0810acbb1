"""Faults of the DNS provider, through the fake DNS server's control API: propagation lag and a credential
that is revoked, narrowed or rotated (the IAM permission drift of production)."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field

from harness.chaos.fault import DescribedFault
from harness.stack.dnscontrol import DnsControl


@dataclass(repr=False)
class PropagationLag(DescribedFault):
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
class TsigKeyRevoked(DescribedFault):
    """The DNS provider credential is revoked: every update it signs is refused (NOTAUTH/BADKEY)."""

    dns: DnsControl
    key: str

    def apply(self) -> None:
        self.dns.revoke_key(self.key)

    def revert(self) -> None:
        self.dns.restore_key(self.key)


@dataclass(repr=False)
class TsigPolicyNarrowed(DescribedFault):
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
class TsigKeyRotated(DescribedFault):
    """The key is rotated at the DNS provider while the cluster Secret keeps the old secret (BADSIG)."""

    dns: DnsControl
    key: str
    old_secret: str

    def apply(self) -> None:
        self.dns.rotate_key(self.key, base64.b64encode(secrets.token_bytes(32)).decode())

    def revert(self) -> None:
        self.dns.rotate_key(self.key, self.old_secret)
