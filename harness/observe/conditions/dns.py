"""Conditions and readings on the fake DNS server's log: what was refused, what a resolver answered."""

from __future__ import annotations

from harness.lab.dnscontrol import DnsControl
from harness.wait import Condition, Seen


def refused_updates(dns: DnsControl, key: str, at_least: int) -> Condition:
    """At least `at_least` RFC 2136 updates signed with `key` were refused; shows the times of the last few."""
    def condition() -> Seen:
        refused = [entry["time"] for entry in dns.log(kind="update", key=key, rcode="REFUSED")]
        return Seen(len(refused) >= at_least, {"refused_updates": len(refused), "at": refused[-5:]})
    return condition


def ca_answers(dns: DnsControl, fqdn: str) -> list[tuple[str, int]]:
    """(rcode, number of answers) for every TXT query of `fqdn` the CA's resolver view answered."""
    return [(entry["rcode"], len(entry["answers"]))
            for entry in dns.log(kind="query", view="ca_resolver", name=fqdn, type="TXT")]
