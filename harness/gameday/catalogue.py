"""The game faults: failures an on-call team meets, each built from the harness's own injectors, with the
symptom the harness looks for and the repair an operator can really make in the lab.

A game fault is data: the injector to build for a workload (harness.gameday.workload), whether the failure
only bites on a renewal (then the game renews the ACME certificate, as its renewal time would), the
condition that shows the harness it bit (never shown to the team), and the documented repair. The repairs
go through the lab's consoles: `certchaos dns ...` stands in for the DNS provider's console,
`certchaos lab ...` for the load balancer / network console (Toxiproxy's API), and the AWS CLI itself (`aws`,
the account's administrator, on the lab's emulated AWS API) for the cloud provider's IAM faults: those games'
workload solves DNS-01 with cert-manager's Route 53 solver (`route53`), so they need the capability aws_api.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.chaos.aws_faults import AccessKeyDeactivated, Route53PolicyDetached, Route53PolicyNarrowed
from harness.chaos.dns_faults import TsigKeyRevoked, TsigPolicyNarrowed
from harness.chaos.fault import Fault
from harness.chaos.proxy_faults import ProxyDown
from harness.errors import HarnessError
from harness.gameday.workload import Workload
from harness.lab.lab import LabClient
from harness.lab.providers import providers_with
from harness.observe.conditions.acme import challenge_reason_contains
from harness.observe.conditions.aws import route53_answers
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
    route53: bool = False  # the workload's ACME Issuer solves with Route 53 on the lab's AWS API (aws_api)


def _acme_errors(lab: LabClient, workload: Workload) -> Condition:
    host = "%s:%d" % workload.acme.proxy.listen  # the ACME metric's host label: the game's own path to the CA
    return acme_requests_at_least(lab.info.metrics_url, acme_request_total(lab.info.metrics_url, status="999",
                                                                            host=host) + 1, status="999", host=host)


def _challenge_says(text: str) -> Callable[[LabClient, Workload], Condition]:
    """The renewal's Challenge carries the DNS server's answer to the update: "Server replied: REFUSED", or for a
    TSIG failure (NOTAUTH) miekg/dns's "dns: bad authentication" (measured: cert-manager v1.11.5's reason)."""
    return lambda lab, workload: challenge_reason_contains(lab.kube, workload.namespace, workload.acme_certificate,
                                                           text)


def _aws_refuses(code: str, action: str, zone: bool) -> Callable[[LabClient, Workload], Condition]:
    """The AWS API refused the solver: an answer `code` to `action`, on the workload's hosted zone (`zone`) or
    signed by its access key (a call that names no zone: ListHostedZonesByName)."""
    return lambda lab, workload: route53_answers(
        lab.aws_front, workload.acme.zone_id if zone else None, 1, code=code, action=action,
        principal=None if zone else workload.acme.access_key_id)


_FIND_THE_USER = ("Find the solver's IAM user: `aws iam get-access-key-last-used --access-key-id KEY`, KEY the access "
                  "key id in the Issuer's Secret. ")

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
    GameFault(
        "route53-permission-drift",
        "The Route 53 solver's IAM policy was rewritten for another hosted zone: its changes are AccessDenied.",
        f"{_FIND_THE_USER}`aws iam list-attached-user-policies` shows a policy whose "
        "resource is another hosted zone; detach it and give the user cert-manager's documented Route 53 policy "
        "on this zone; the Challenge's backoff retries by itself, `cmctl renew` if it has gone quiet.",
        True,
        lambda lab, workload: Route53PolicyNarrowed(lab.aws, workload.acme.policy_arn, workload.acme.identity,
                                                    f"elsewhere.{workload.acme.zone}"),
        _aws_refuses("AccessDenied", "ChangeResourceRecordSets", zone=True), route53=True),
    GameFault(
        "route53-policy-detached",
        "The Route 53 solver's IAM policy was detached from its user: every Route 53 call is AccessDenied.",
        f"{_FIND_THE_USER}`aws iam list-attached-user-policies` is empty; give the "
        "user cert-manager's documented Route 53 policy on its hosted zone back, then `cmctl renew`.",
        True,
        lambda lab, workload: Route53PolicyDetached(lab.aws, workload.acme.policy_arn, workload.acme.identity),
        _aws_refuses("AccessDenied", "ListHostedZonesByName", zone=False), route53=True),
    GameFault(
        "route53-access-key-deactivated",
        "The Route 53 solver's access key was deactivated in IAM: AWS refuses it (InvalidClientTokenId).",
        f"{_FIND_THE_USER}`aws iam list-access-keys` shows the key Inactive. Rotate it: `aws iam "
        "create-access-key` for the user, the new key into the Issuer's Secret, then `cmctl renew`; "
        "cert-manager reads the Secret at each attempt.",
        True,
        lambda lab, workload: AccessKeyDeactivated(lab.aws, workload.acme.user, workload.acme.access_key_id),
        _aws_refuses("InvalidClientTokenId", "ListHostedZonesByName", zone=False), route53=True),
)}


def choose(name: str | None, rng, aws_api: bool = True) -> GameFault:
    """The named fault, or one drawn with `rng` (random.Random) when `name` is None or "random"; without the
    lab's AWS API (`aws_api` False) a Route 53 fault is never drawn, and naming one is refused."""
    playable = sorted(fault.name for fault in CATALOGUE.values() if aws_api or not fault.route53)
    if name in (None, "random"):
        return CATALOGUE[rng.choice(playable)]
    if name not in CATALOGUE:
        raise HarnessError(f"--scenario {name!r}: no such game fault. Choose one of {', '.join(sorted(CATALOGUE))} "
                           "or random")
    if name not in playable:
        raise HarnessError(f"--scenario {name}: its workload solves DNS-01 with Route 53 on the lab's AWS API, which "
                           "this lab's provider does not offer (capability aws_api). Fix: a lab of "
                           f"{' or '.join(providers_with('aws_api'))}, or one of {', '.join(playable)}")
    return CATALOGUE[name]
