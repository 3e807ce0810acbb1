"""Conditions for harness.wait.wait_for: callables that look once and return Seen(holds, what they saw).

Built from a few general ones: `observe` (fetch, test, view), `resource_condition` (one object of a kind),
`issuance_condition` (a Certificate's requests, orders and challenges), `metric_condition` (a scrape) and
`all_of`. The specific conditions below only choose what to fetch, what must hold and what to show.
Conditions never assert; a fetch that fails raises, and wait_for reports it as what was last seen.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, TypeVar

from kubernetes import client

from harness import metrics, resources, tlsinspect
from harness.resources import CERTIFICATE, Kind, Related
from harness.wait import Condition, Seen

T = TypeVar("T")

ABSENT = {"absent": True}


# --- general ------------------------------------------------------------------------------------------


def observe(fetch: Callable[[], T], holds: Callable[[T], bool], view: Callable[[T], Any]) -> Condition:
    """The root of all conditions: fetch once, report whether it holds and the compact view of it."""

    def condition() -> Seen:
        found = fetch()
        return Seen(bool(holds(found)), view(found))

    return condition


def resource_condition(api: client.ApiClient, kind: Kind, namespace: str | None, name: str,
                       holds: Callable[[dict], bool], view: Callable[[dict], Any]) -> Condition:
    """A condition on one object; while it does not exist the condition does not hold and shows ABSENT."""
    return observe(
        lambda: resources.get(api, kind, namespace, name),
        lambda obj: obj is not None and holds(obj),
        lambda obj: ABSENT if obj is None else view(obj),
    )


def resource_present(api: client.ApiClient, kind: Kind, namespace: str | None, name: str) -> Condition:
    return resource_condition(api, kind, namespace, name, lambda obj: True,
                              lambda obj: {"present": True, "resourceVersion": obj["metadata"].get("resourceVersion")})


def resource_absent(api: client.ApiClient, kind: Kind, namespace: str | None, name: str) -> Condition:
    return observe(
        lambda: resources.get(api, kind, namespace, name),
        lambda obj: obj is None,
        lambda obj: ABSENT if obj is None else {
            "present": True, "deletionTimestamp": obj["metadata"].get("deletionTimestamp"),
            "finalizers": obj["metadata"].get("finalizers") or []},
    )


def not_(condition: Condition) -> Condition:
    """Holds when `condition` does not; shows what it saw."""
    def negated() -> Seen:
        seen = condition()
        return Seen(not seen.ok, seen.state)
    return negated


def all_of(*conditions: Condition) -> Condition:
    """Holds when every condition holds; shows what each saw (all are evaluated, so the view is whole)."""

    def condition() -> Seen:
        seen = [c() for c in conditions]
        return Seen(all(s.ok for s in seen), [s.state for s in seen])

    return condition


# --- Certificates -------------------------------------------------------------------------------------


def certificate_view(crt: dict, type_: str = "Ready") -> dict:
    """{type: status, reason, message} of one condition, plus the status fields that track issuance."""
    status = crt.get("status") or {}
    found = resources.condition(crt, type_) or {}
    view = {type_: found.get("status", "(no condition)"), "reason": found.get("reason"),
            "message": resources.short(found.get("message"))}
    if _stale(crt, found):
        view["stale"] = f"observedGeneration {found['observedGeneration']} < generation {crt['metadata']['generation']}"
    for name in ("revision", "failedIssuanceAttempts", "lastFailureTime"):
        if status.get(name) is not None:
            view[name] = status[name]
    return view


def _stale(crt: dict, found: dict) -> bool:
    """A condition written for an older spec says nothing about the current one (cert-manager e2e checks
    observedGeneration the same way)."""
    observed, generation = found.get("observedGeneration"), crt["metadata"].get("generation")
    return observed is not None and generation is not None and observed < generation


def _condition_holds(obj: dict, type_: str, status: str, reason: str | None, check_generation: bool) -> bool:
    found = resources.condition(obj, type_)
    if found is None or found.get("status") != status:
        return False
    if reason is not None and found.get("reason") != reason:
        return False
    return not (check_generation and _stale(obj, found))


def certificate_condition(api: client.ApiClient, namespace: str, name: str, type: str = "Ready",
                          status: str = "True", reason: str | None = None) -> Condition:
    return resource_condition(api, CERTIFICATE, namespace, name,
                              lambda crt: _condition_holds(crt, type, status, reason, check_generation=True),
                              lambda crt: certificate_view(crt, type))


def certificate_ready(api: client.ApiClient, namespace: str, name: str) -> Condition:
    return certificate_condition(api, namespace, name, "Ready", "True")


def certificate_not_ready_with_reason(api: client.ApiClient, namespace: str, name: str, reason: str) -> Condition:
    return certificate_condition(api, namespace, name, "Ready", "False", reason)


def certificate_done_issuing(api: client.ApiClient, namespace: str, name: str, ready: str = "True") -> Condition:
    """Ready=`ready` for the current generation and issuance over: no Issuing=True, no next private key
    pending (cert-manager e2e's WaitForCertificate(Not)ReadyAndDoneIssuing). Ready=True alone can come
    before the issuing controller has written the new revision."""

    def holds(crt: dict) -> bool:
        return (_condition_holds(crt, "Ready", ready, None, check_generation=True)
                and not _condition_holds(crt, "Issuing", "True", None, check_generation=False)
                and not (crt.get("status") or {}).get("nextPrivateKeySecretName"))

    def view(crt: dict) -> dict:
        issuing = resources.condition(crt, "Issuing")
        out = {**certificate_view(crt), "Issuing": issuing["status"] if issuing else None}
        if (crt.get("status") or {}).get("nextPrivateKeySecretName"):
            out["nextPrivateKeySecretName"] = crt["status"]["nextPrivateKeySecretName"]
        return out

    return resource_condition(api, CERTIFICATE, namespace, name, holds, view)


_UNSET = object()


def certificate_status_field(api: client.ApiClient, namespace: str, name: str, field: str, *,
                             at_least: float | None = None, is_set: bool | None = None,
                             equals: Any = _UNSET) -> Condition:
    """A test on one .status field: `at_least=n` (failedIssuanceAttempts, revision), `is_set=True/False`
    (lastFailureTime), or `equals=value`. Exactly one test must be given."""
    tests = [t for t in (at_least is not None, is_set is not None, equals is not _UNSET) if t]
    if len(tests) != 1:
        raise TypeError("certificate_status_field: give exactly one of at_least=, is_set=, equals=")

    def holds(crt: dict) -> bool:
        value = (crt.get("status") or {}).get(field)
        if at_least is not None:
            return value is not None and value >= at_least
        if is_set is not None:
            return (value is not None) == is_set
        return value == equals

    def view(crt: dict) -> dict:
        return {field: (crt.get("status") or {}).get(field), **certificate_view(crt)}

    return resource_condition(api, CERTIFICATE, namespace, name, holds, view)


# --- what issuing produced: requests, orders, challenges ----------------------------------------------


def issuance_condition(api: client.ApiClient, namespace: str, certificate: str,
                       holds: Callable[[Related], bool], view: Callable[[Related], Any],
                       acme: bool = True) -> Condition:
    """A condition on a Certificate's requests and (with `acme`) their Orders and Challenges."""
    return observe(lambda: resources.related(api, namespace, certificate, acme=acme), holds, view)


def _request(found: Related, revision: int | None) -> dict | None:
    if revision is None:
        return found.latest_request
    return next((r for r in found.requests if resources.revision_of(r) == revision), None)


def certificate_request_condition(api: client.ApiClient, namespace: str, certificate: str, type: str = "Ready",
                                  status: str = "True", reason: str | None = None,
                                  revision: int | None = None) -> Condition:
    """A condition of the Certificate's newest CertificateRequest (or the one of `revision`)."""

    def holds(found: Related) -> bool:
        request = _request(found, revision)
        return request is not None and _condition_holds(request, type, status, reason, check_generation=False)

    def view(found: Related) -> dict:
        request = _request(found, revision)
        if request is None:
            return {"request": None, "requests": [r["metadata"]["name"] for r in found.requests]}
        return {"request": request["metadata"]["name"], **resources.summary(resources.CERTIFICATE_REQUEST, request)}

    return issuance_condition(api, namespace, certificate, holds, view, acme=False)


ORDER_STATES = ("pending", "ready", "valid", "invalid", "errored", "processing", "expired")


def certificate_request_count(api: client.ApiClient, namespace: str, certificate: str, count: int) -> Condition:
    """The Certificate has exactly `count` CertificateRequests (a new attempt adds one)."""
    return issuance_condition(api, namespace, certificate, lambda found: len(found.requests) == count,
                              lambda found: {"requests": len(found.requests)}, acme=False)


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


def challenge_reason_contains(api: client.ApiClient, namespace: str, certificate: str, text: str) -> Condition:
    """A Challenge's .status.reason contains `text` (the DNS provider's refusal, say), case-insensitively."""
    needle = text.lower()
    return any_challenge(api, namespace, certificate,
                         lambda c: needle in ((c.get("status") or {}).get("reason") or "").lower())


# --- Secrets and served certificates ------------------------------------------------------------------


def secret_serial_changed(api: client.ApiClient, namespace: str, secret: str, from_serial: str) -> Condition:
    """The Secret's tls.crt now has a serial other than `from_serial` (a renewal landed)."""
    old = tlsinspect.normalise_serial(from_serial)

    def inspect(obj: dict) -> dict:
        if not (obj.get("data") or {}).get("tls.crt"):
            return {"tls.crt": None}
        return tlsinspect.inspect_secret(obj).leaf.summary()

    return resource_condition(api, resources.SECRET, namespace, secret,
                              lambda obj: inspect(obj).get("serial") not in (None, old),
                              lambda obj: {"from": old, **inspect(obj)})


def served_certificate_serial(host: str, port: int, server_name: str | None, expected_serial: str) -> Condition:
    """A real TLS handshake with SNI `server_name` gets the certificate with `expected_serial`."""
    expected = tlsinspect.normalise_serial(expected_serial)
    return observe(lambda: tlsinspect.CertInfo.of(tlsinspect.served_certificate(host, port, server_name)),
                   lambda info: info.serial == expected,
                   lambda info: {"expected": expected, **info.summary()})


# --- metrics ------------------------------------------------------------------------------------------


def metric_condition(url: str, name: str, labels: Mapping[str, str] | None,
                     holds: Callable[[float | None], bool]) -> Condition:
    """A test on the sum of the series of `name` whose labels include `labels` (None: no such series)."""
    chosen = dict(labels or {})

    def view(samples: list[metrics.Sample]) -> dict:
        selected = metrics.select(samples, name, chosen)
        return {"metric": name, "labels": chosen, "value": metrics.total(selected, name), "series": len(selected)}

    return observe(lambda: metrics.scrape(url), lambda samples: holds(metrics.total(samples, name, chosen)), view)


def metric_at_least(url: str, name: str, labels: Mapping[str, str] | None, value: float) -> Condition:
    return metric_condition(url, name, labels, lambda v: v is not None and v >= value)


def certificate_ready_metric(url: str, namespace: str, name: str, condition: str = "True") -> Condition:
    """certmanager_certificate_ready_status{condition=...} is 1 for the Certificate."""
    return metric_condition(url, metrics.CERTIFICATE_READY_STATUS,
                            {"namespace": namespace, "name": name, "condition": condition}, lambda v: v == 1)


def certificate_expiration_metric_after(url: str, namespace: str, name: str, timestamp: float) -> Condition:
    """The Certificate's expiration metric is later than `timestamp` (a renewed certificate was observed)."""
    return metric_condition(url, metrics.CERTIFICATE_EXPIRATION, {"namespace": namespace, "name": name},
                            lambda v: v is not None and v > timestamp)


def certificate_renewal_metric_after(url: str, namespace: str, name: str, timestamp: float) -> Condition:
    return metric_condition(url, metrics.CERTIFICATE_RENEWAL, {"namespace": namespace, "name": name},
                            lambda v: v is not None and v > timestamp)


def acme_requests_at_least(url: str, count: float, status: str | None = None, **labels: str) -> Condition:
    """The ACME client made at least `count` requests (with HTTP `status`, e.g. "429"; "999" is cert-manager's
    label for a request that got no response) matching the other labels (scheme, host, path, method)."""
    if status is not None:
        labels["status"] = status
    return metric_at_least(url, metrics.ACME_REQUEST_COUNT, labels, count)


# --- time ------------------------------------------------------------------------------------------


def holds_throughout(condition: Condition, seconds: float, clock: Callable[[], float] = time.monotonic) -> Condition:
    """`condition` has held at every poll for `seconds` (a "nothing happens" expectation: no new attempt
    before the backoff). A poll where it fails restarts the window, so an expectation with a deadline
    fails if the window never completes."""
    since: list[float] = []

    def throughout() -> Seen:
        seen = condition()
        now = clock()
        if not seen.ok:
            since.clear()
            return Seen(False, {"broken": seen.state})
        if not since:
            since.append(now)
        held = now - since[0]
        return Seen(held >= seconds, {"held_for": round(held, 1), "state": seen.state})

    return throughout
