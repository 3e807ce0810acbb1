"""The explorable faults: a registry built from the catalogue's fault classes (harness/chaos/*_faults.py), never
re-implementing one. A fault joins the exploration by being listed here (EXPLORABLE) with how to make it for an
example's target and what the machine must know about it; the scenarios use the same classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.chaos.acme_faults import (
    AcmeAnswerLost, AcmeAuthorizationExpired, AcmeBadNonce, AcmeOrderExpired, AcmeOrderLost, AcmeRateLimited,
    AcmeRefused, AcmeServerError, AcmeSlowFinalize,
)
from harness.chaos.dns_faults import PropagationLag, TsigKeyRevoked, TsigPolicyNarrowed
from harness.chaos.fault import Fault
from harness.chaos.process_faults import Controller, ControllerKilled
from harness.chaos.proxy_faults import ProxyDown, ProxyLatency
from harness.errors import HarnessError
from harness.explore.schedule import Model
from harness.lab.issuers import AcmeIssuer
from harness.lab.lab import LabClient
from harness.stack.acme_control import AcmeRoute
from harness.stack.toxiproxy import Proxy

# A lag the self-check must wait out (it retries every 10 s) and the CA's resolver sees late: long enough to
# span retries, short enough for an example of a few minutes.
DNS_LAG = 30
CA_SLOW_MS = 2_000  # per response: well under cert-manager's ACME client timeout (as test_ca_outage's slow CA)
# The ACME faults as their scenarios make them (scenarios/test_acme_*.py): Let's Encrypt's 429 asks for half an
# hour; every other signed request rejected is retried by the ACME client itself; a finalize of 20 s is far
# beyond a second and well within the client's 90 s.
ACME_RETRY_AFTER = 1800
ACME_NONCE_RATE = 0.5
ACME_FINALIZE_DELAY = 20.0


@dataclass(frozen=True)
class Target:
    """What one explored example faults: its lab, namespace, ACME issuer (own zone, TSIG key, CA proxy) and its
    own webhook registration's proxy."""

    lab: LabClient
    namespace: str
    issuer: AcmeIssuer
    webhook: Proxy


@dataclass(frozen=True)
class Explorable:
    """A catalogue fault as the machine draws it. `instant`: nothing to hold (applied and reverted in one step);
    `blocks_writes`: the namespace's API writes are rejected while it is applied, so the machine's own writes wait
    for its revert; `quiet_zone`: it refuses DNS updates, so it is applied once the namespace's challenges are
    cleaned up (v1.11.5 drops a Challenge whose cleanup was refused and leaves its record: docs/invariants.md);
    `lab_wide`: it touches what every namespace shares; `needs`: lab capabilities of which it needs one;
    `acme_layer`: it is made by the lab's ACME fault layer (the issuer's route), which a lab may lack."""

    name: str
    make: Callable[[Target], Fault]
    instant: bool = False
    blocks_writes: bool = False
    quiet_zone: bool = False
    lab_wide: bool = False
    needs: tuple[str, ...] = ()
    acme_layer: bool = False


def _controller(target: Target) -> Fault:
    return ControllerKilled(Controller.of(target.lab.info))


def _route(target: Target) -> AcmeRoute:
    if target.issuer.acme is None:  # chosen() leaves these out on such a lab; a bug if reached
        raise HarnessError(f"{target.namespace}: its issuer has no route through an ACME fault layer")
    return target.issuer.acme


def _acme(name: str, make: Callable[[AcmeRoute], Fault]) -> Explorable:
    return Explorable(name, lambda target: make(_route(target)), acme_layer=True)


EXPLORABLE: dict[str, Explorable] = {fault.name: fault for fault in (
    Explorable("dns-lag", lambda t: PropagationLag(t.lab.dns, t.issuer.zone, DNS_LAG, view="resolver")),
    Explorable("dns-lag-ca", lambda t: PropagationLag(t.lab.dns, t.issuer.zone, DNS_LAG, view="ca")),
    Explorable("dns-refused", lambda t: TsigPolicyNarrowed(t.lab.dns, t.issuer.key), quiet_zone=True),
    Explorable("dns-key-revoked", lambda t: TsigKeyRevoked(t.lab.dns, t.issuer.key), quiet_zone=True),
    Explorable("ca-outage", lambda t: ProxyDown(t.issuer.proxy)),
    Explorable("ca-slow", lambda t: ProxyLatency(t.issuer.proxy, CA_SLOW_MS)),
    Explorable("webhook-down", lambda t: ProxyDown(t.webhook), blocks_writes=True),
    Explorable("controller-restart", _controller, instant=True, lab_wide=True, needs=("controller_process", "controller_pods")),
    # The CA's own answers (harness.chaos.acme_faults). A 4xx ends the issuance (the Order errored or invalid, the
    # request failed, the documented issuance backoff: liveness declares it elapsed); a 5xx, a bad nonce, a slow
    # answer and a lost one are retried (the orders queue's backoff, the ACME client's own retry, its 90 s timeout).
    _acme("acme-rate-limited", lambda route: AcmeRateLimited(route, "newOrder", ACME_RETRY_AFTER)),
    _acme("acme-bad-nonce", lambda route: AcmeBadNonce(route, ACME_NONCE_RATE)),
    _acme("acme-neworder-503", lambda route: AcmeServerError(route, "newOrder", 503)),
    _acme("acme-finalize-500", lambda route: AcmeServerError(route, "finalize", 500)),
    _acme("acme-finalize-403", lambda route: AcmeRefused(route, "finalize", 403, "unauthorized")),
    _acme("acme-order-expired", AcmeOrderExpired),
    _acme("acme-authz-expired", AcmeAuthorizationExpired),
    _acme("acme-order-lost", AcmeOrderLost),
    _acme("acme-answer-lost", lambda route: AcmeAnswerLost(route, "finalize")),
    _acme("acme-slow-finalize", lambda route: AcmeSlowFinalize(route, ACME_FINALIZE_DELAY)),
)}


def chosen(names: str | None, capabilities=None, acme_layer: bool = True) -> tuple[str, ...]:
    """The faults `--faults a,b` names (all by default), those the lab's capabilities allow (`acme_layer`: whether
    it has an ACME fault layer); one clear error for a name that is not explorable, or when none is left."""
    wanted = [n.strip() for n in names.split(",") if n.strip()] if names else list(EXPLORABLE)
    unknown = [n for n in wanted if n not in EXPLORABLE]
    if unknown or not wanted:
        raise HarnessError(f"--faults {names!r}: {', '.join(unknown) or 'none named'} not explorable. Choose from "
                           f"{', '.join(EXPLORABLE)}")
    allowed = tuple(n for n in wanted if (capabilities is None or not EXPLORABLE[n].needs
                                          or any(getattr(capabilities, need) for need in EXPLORABLE[n].needs))
                    and (acme_layer or not EXPLORABLE[n].acme_layer))
    if not allowed:
        raise HarnessError(f"--faults {names!r}: none of them can be made on this lab (the controller as a process "
                           "or pods, an ACME fault layer). Fix: choose others")
    return allowed


def model_of(faults: tuple[str, ...]) -> Model:
    """An empty schedule's model for these explorable faults."""
    return Model(faults, instant=frozenset(n for n in faults if EXPLORABLE[n].instant),
                 blocking=frozenset(n for n in faults if EXPLORABLE[n].blocks_writes))
