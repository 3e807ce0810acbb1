"""Conditions on what an ACME issuance produced: the Orders and Challenges of a Certificate's request."""

from __future__ import annotations

from typing import Callable

from kubernetes import client

from harness.observe import resources
from harness.observe.conditions.certificates import issuance_condition
from harness.observe.conditions.general import observe
from harness.observe.resources import Related
from harness.wait import Condition

ORDER_STATES = ("pending", "ready", "valid", "invalid", "errored", "processing", "expired")


def _latest_order(found: Related) -> dict | None:
    request = found.latest_request
    orders = found.orders_of(request) if request is not None else []
    return orders[-1] if orders else None


def order_state(api: client.ApiClient, namespace: str, certificate: str, state: str) -> Condition:
    """The newest Order of the Certificate's newest request is in `state`."""
    if state not in ORDER_STATES:
        raise ValueError(f"order_state: {state!r} is not an ACME order state; choose one of {ORDER_STATES}")

    def view(found: Related) -> dict:
        order = _latest_order(found)
        request = found.latest_request
        return {"request": request["metadata"]["name"] if request else None,
                "order": order["metadata"]["name"] if order else None,
                **(resources.summary(resources.ORDER, order) if order else {})}

    return issuance_condition(
        api, namespace, certificate,
        lambda found: (order := _latest_order(found)) is not None
        and (order.get("status") or {}).get("state") == state,
        view,
    )


def order_reason_contains(api: client.ApiClient, namespace: str, certificate: str, text: str) -> Condition:
    """The newest Order of the Certificate's newest request has a .status.reason containing `text` (the CA's
    problem, as cert-manager recorded it), case-insensitively."""
    needle = text.lower()

    def view(found: Related) -> dict:
        order = _latest_order(found)
        return {"order": order["metadata"]["name"] if order else None,
                **(resources.summary(resources.ORDER, order) if order else {}),
                "reason": ((order or {}).get("status") or {}).get("reason")}

    return issuance_condition(
        api, namespace, certificate,
        lambda found: (order := _latest_order(found)) is not None
        and needle in ((order.get("status") or {}).get("reason") or "").lower(),
        view,
    )


def _challenges_view(found: Related) -> dict:
    return {"challenges": {c["metadata"]["name"]: resources.summary(resources.CHALLENGE, c)
                           for c in found.latest_challenges()}}


def any_challenge(api: client.ApiClient, namespace: str, certificate: str,
                  holds: Callable[[dict], bool]) -> Condition:
    """Some Challenge of the current issuance attempt satisfies `holds` (given the Challenge's JSON)."""
    return issuance_condition(api, namespace, certificate,
                              lambda found: any(holds(c) for c in found.latest_challenges()), _challenges_view)


def challenge_state(api: client.ApiClient, namespace: str, certificate: str, state: str,
                    dns_name: str | None = None) -> Condition:
    """A Challenge (for `dns_name`, if given) of the current attempt is in `state`."""
    return any_challenge(api, namespace, certificate, lambda c: (
        (c.get("status") or {}).get("state") == state
        and (dns_name is None or (c.get("spec") or {}).get("dnsName") == dns_name)))


def challenge_presented(api: client.ApiClient, namespace: str, certificate: str, presented: bool = True) -> Condition:
    return any_challenge(api, namespace, certificate,
                         lambda c: bool((c.get("status") or {}).get("presented")) == presented)


REDACTED = "see events and logs for details"  # v1.20 on, a provider SDK's error in a Challenge's reason says this


def challenge_reason_contains(api: client.ApiClient, namespace: str, certificate: str, text: str) -> Condition:
    """A Challenge's .status.reason contains `text` (the DNS provider's refusal, say), case-insensitively; where
    the reason says the provider's error is redacted (cert-manager v1.20 on keeps AWS's and Azure's SDK errors out
    of the status, "<redacted AWS SDK error: ...: see events and logs for details>"), a PresentError Event on that
    Challenge containing `text` is where it points, and counts."""
    needle = text.lower()

    def shown(challenge: dict) -> bool:
        reason = ((challenge.get("status") or {}).get("reason") or "").lower()
        if needle in reason:
            return True
        name = challenge["metadata"]["name"]
        return REDACTED in reason and any(
            event.get("reason") == "PresentError" and needle in (event.get("message") or "").lower()
            and (event.get("involvedObject") or {}).get("name") == name
            for event in resources.list_objects(api, resources.EVENT, namespace))

    return any_challenge(api, namespace, certificate, shown)


def challenges_gone(api: client.ApiClient, namespace: str) -> Condition:
    """No Challenge is left in the namespace: every Order that completed deleted its Challenges, and each
    Challenge's finalizer ran its cleanup (the TXT record's removal) before it went. Until then a fault of the
    DNS provider would also refuse the last issuance's cleanup."""
    return observe(lambda: resources.list_objects(api, resources.CHALLENGE, namespace),
                   lambda challenges: not challenges,
                   lambda challenges: {"challenges": {c["metadata"]["name"]: resources.summary(resources.CHALLENGE, c)
                                                      for c in challenges}})
