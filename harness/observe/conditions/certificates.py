"""Conditions on a Certificate: its status conditions and fields, its CertificateRequests, its Secret."""

from __future__ import annotations

import time
from typing import Any, Callable

from kubernetes import client

from harness.observe import resources, tlsinspect
from harness.observe.conditions.general import observe
from harness.observe.conditions.kube import resource_condition
from harness.observe.resources import CERTIFICATE, Related
from harness.wait import Condition


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


def certificate_request_count(api: client.ApiClient, namespace: str, certificate: str, count: int) -> Condition:
    """The Certificate has exactly `count` CertificateRequests (a new attempt adds one)."""
    return issuance_condition(api, namespace, certificate, lambda found: len(found.requests) == count,
                              lambda found: {"requests": len(found.requests)}, acme=False)


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


def certificate_not_ready(api: client.ApiClient, namespace: str, name: str) -> Condition:
    """The Certificate exists and says Ready=False (unlike not_(certificate_ready), which a Certificate that
    does not exist also satisfies)."""
    return certificate_condition(api, namespace, name, "Ready", "False")


def certificate_event(api: client.ApiClient, namespace: str, certificate: str, type_: str, reason: str,
                      message_contains: str = "", involved_kind: str | None = None) -> Condition:
    """cert-manager recorded an Event of `type_` (Normal/Warning) and `reason` on the Certificate or one of
    its requests, Orders or Challenges (only `involved_kind`, if given) whose message contains the text."""

    def matching(found: Related) -> list[dict]:
        return [e for e in found.events
                if e.get("type") == type_ and e.get("reason") == reason
                and message_contains in (e.get("message") or "")
                and (involved_kind is None or (e.get("involvedObject") or {}).get("kind") == involved_kind)]

    def view(found: Related) -> dict:
        hits = matching(found)
        if hits:
            return {"event": resources.summary(resources.EVENT, hits[-1]), "matching": len(hits)}
        return {"events": sorted({f"{e.get('type')} {e.get('reason')}" for e in found.events})}

    return observe(lambda: resources.related(api, namespace, certificate, events=True),
                   lambda found: bool(matching(found)), view)


def renewal_due(api: client.ApiClient, namespace: str, name: str, clock: Callable[[], float] = time.time) -> Condition:
    """The Certificate's status.renewalTime has passed (a renewal is due now)."""

    def holds(crt: dict) -> bool:
        when = (crt.get("status") or {}).get("renewalTime")
        return when is not None and resources.epoch(when) <= clock()

    return resource_condition(api, CERTIFICATE, namespace, name, holds,
                              lambda crt: {"renewalTime": (crt.get("status") or {}).get("renewalTime"),
                                           **certificate_view(crt)})


def certificate_request_replaced(api: client.ApiClient, namespace: str, certificate: str, old: str) -> Condition:
    """The Certificate's newest CertificateRequest is not `old` (a new attempt started: cert-manager replaces
    a failed request of the same revision, so the count alone does not show it)."""
    return issuance_condition(
        api, namespace, certificate,
        lambda found: found.latest_request is not None and found.latest_request["metadata"]["name"] != old,
        lambda found: {"requests": [r["metadata"]["name"] for r in found.requests], "old": old}, acme=False)
