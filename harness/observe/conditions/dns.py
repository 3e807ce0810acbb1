"""Conditions and readings on the fake DNS server's log: what was refused, what a resolver answered, and
the DNS-01 timing they show (self-check retries, the CA's first look after the self-check saw the record)."""

from __future__ import annotations

from typing import NamedTuple

from harness.stack.dnscontrol import DnsControl
from harness.wait import Condition, Seen


def refused_update_times(dns: DnsControl, key: str, rcode: str = "REFUSED") -> list[float]:
    """Epoch seconds of every RFC 2136 update signed with `key` that was refused, oldest first: REFUSED by
    the key's policy, or NOTAUTH when the key itself is revoked or unknown (TSIG BADKEY)."""
    return [entry["time"] for entry in dns.log(kind="update", key=key, rcode=rcode)]


def refused_updates(dns: DnsControl, key: str, at_least: int, rcode: str = "REFUSED") -> Condition:
    """At least `at_least` RFC 2136 updates signed with `key` were refused (`rcode`); shows their times and gaps."""
    def condition() -> Seen:
        refused = refused_update_times(dns, key, rcode)
        return Seen(len(refused) >= at_least, {"refused_updates": len(refused), "at": refused, "gaps": gaps(refused)})
    return condition




class Query(NamedTuple):
    at: float  # epoch seconds, the fake DNS server's clock
    rcode: str
    answers: int


def txt_queries(dns: DnsControl, fqdn: str, view: str) -> list[Query]:
    """Every TXT query of `fqdn` a view answered, oldest first: view "resolver" is cert-manager's self-check
    (its only recursive nameserver), "ca_resolver" is the CA's validation authority."""
    return [Query(entry["time"], entry["rcode"], len(entry["answers"]))
            for entry in dns.log(kind="query", view=view, name=fqdn, type="TXT")]


def first_seen(queries: list[Query]) -> Query | None:
    """The first answer that carried the record (NOERROR with an answer)."""
    return next((q for q in queries if q.rcode == "NOERROR" and q.answers > 0), None)


def gaps(times: list[float]) -> list[float]:
    """Seconds between consecutive times, rounded to 0.1 s."""
    return [round(later - earlier, 1) for earlier, later in zip(times, times[1:])]


def ca_answers(dns: DnsControl, fqdn: str) -> list[tuple[str, int]]:
    """(rcode, number of answers) for every TXT query of `fqdn` the CA's resolver view answered."""
    return [(q.rcode, q.answers) for q in txt_queries(dns, fqdn, "ca_resolver")]
