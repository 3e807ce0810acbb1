"""The game faults: failures an on-call team meets, each built from the harness's own injectors, with the
symptom the harness looks for and the repair an operator can really make in the lab.

A game fault is data: the injector to build for a workload (harness.gameday.workload), whether the failure
only bites on a renewal (then the game renews the ACME certificate, as its renewal time would), the
condition that shows the harness it bit (never shown to the team), and the documented repair. The repairs
go through the lab's consoles: `certchaos dns ...` stands in for the DNS provider's console,
`certchaos lab ...` for the load balancer / network console (Toxiproxy's API).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.chaos.dns_faults import TsigKeyRevoked, TsigPolicyNarrowed
from harness.chaos.fault import Fault
from harness.chaos.proxy_faults import ProxyDown
from harness.errors import HarnessError
from harness.gameday.workload import Workload
from harness.lab.lab import LabClient
from harness.observe.conditions.acme import challenge_reason_contains
from harness.observe.conditions.metrics import acme_requests_at_least, acme_request_total
from harness.chaos.admission import webhook_unreachable
from harness.wait import Condition


@dataclass(frozen=True)
class GameFault:
    name: str
    summary: str  # the production failure in one line (revealed after the game, or on `reveal`)
    repair: str  # the operator-side repair the lab supports
    renews: bool  # the failure shows on a renewal: the game renews the ACME certificate after injecting
    make: Callable[[LabClient, Workload], Fault]
    symptom: Callable[[LabClient, Workload], Condition]  # the harness's evidence that it bit


def _acme_errors(lab: LabClient, workload: Workload) -> Condition:
    host = "%s:%d" % workload.acme.proxy.listen  # the ACME metric's host label: the game's own path to the CA
    return acme_requests_at_least(lab.info.metrics_url, acme_request_total(lab.info.metrics_url, status="999",
                                                                            host=host) + 1, status="999", host=host)


def _challenge_says(text: str) -> Callable[[LabClient, Workload], Condition]:
    """The renewal's Challenge carries the DNS server's answer to the update: "Server replied: REFUSED", or for a
    TSIG failure (NOTAUTH) miekg/dns's "dns: bad authentication" (measured: cert-manager v1.11.5's reason)."""
    return lambda lab, workload: challenge_reason_contains(lab.kube, workload.namespace, workload.acme_certificate,
                                                           text)


CATALOGUE: dict[str, GameFault] = {fault.name: fault for fault in (
    GameFault(
        "dns-permission-drift",
        "The DNS provider credential's policy was narrowed: it may no longer write _acme-challenge records.",
        "Restore the key's permission at the DNS provider (the lab's console: `certchaos dns keys` shows the "
        "policy; `certchaos dns key-policy KEY --names '_acme-challenge.ZONE' --names '_acme-challenge.*.ZONE' "
        "--types TXT`); the Challenge's backoff retries by itself, `cmctl renew` if it has gone quiet.",
        True, lambda lab, workload: TsigPolicyNarrowed(lab.dns, workload.acme.key), _challenge_says("REFUSED")),
    GameFault(
        "dns-credential-revoked",
        "The DNS provider credential was revoked: every update it signs is refused (NOTAUTH, BADKEY).",
        "Re-enable the key at the DNS provider (`certchaos dns keys`, then `certchaos dns key-restore KEY`), "
        "then `cmctl renew` the stalled Certificate if its Challenge is backing off.",
        True, lambda lab, workload: TsigKeyRevoked(lab.dns, workload.acme.key), _challenge_says("bad authentication")),
    GameFault(
        "ca-outage",
        "The ACME CA is unreachable from the cluster: renewals stall with connection errors.",
        "Restore the path to the CA (the lab's network console: `certchaos lab status`, then `certchaos lab ca "
        "up`); cert-manager retries the order by itself, `cmctl renew` starts it at once.",
        True,
        lambda lab, workload: ProxyDown(workload.acme.proxy),
        _acme_errors),
    GameFault(
        "webhook-down",
        "cert-manager's admission webhook is unreachable: every change to a cert-manager resource is rejected.",
        "Bring the webhook back (`certchaos lab status`, then `certchaos lab webhook up`: in a cluster, the "
        "webhook Service's endpoints / its network policy); nothing to renew.",
        False,
        lambda lab, workload: ProxyDown(workload.webhook),
        lambda lab, workload: webhook_unreachable(lab.kube, workload.namespace)),
)}


def choose(name: str | None, rng) -> GameFault:
    """The named fault, or one drawn with `rng` (random.Random) when `name` is None or "random"."""
    if name in (None, "random"):
        return CATALOGUE[rng.choice(sorted(CATALOGUE))]
    if name not in CATALOGUE:
        raise HarnessError(f"--scenario {name!r}: no such game fault. Choose one of {', '.join(sorted(CATALOGUE))} "
                           "or random")
    return CATALOGUE[name]
