"""Conditions on one Kubernetes object of any kind."""

from __future__ import annotations

from typing import Any, Callable

from kubernetes import client

from harness.observe import resources
from harness.observe.conditions.general import observe
from harness.observe.resources import ResourceKind
from harness.wait import Condition

ABSENT = {"absent": True}


def resource_condition(api: client.ApiClient, kind: ResourceKind, namespace: str | None, name: str,
                       holds: Callable[[dict], bool], view: Callable[[dict], Any]) -> Condition:
    """A condition on one object; while it does not exist the condition does not hold and shows ABSENT."""
    return observe(
        lambda: resources.get(api, kind, namespace, name),
        lambda obj: obj is not None and holds(obj),
        lambda obj: ABSENT if obj is None else view(obj),
    )


def resource_present(api: client.ApiClient, kind: ResourceKind, namespace: str | None, name: str) -> Condition:
    return resource_condition(api, kind, namespace, name, lambda obj: True,
                              lambda obj: {"present": True, "resourceVersion": obj["metadata"].get("resourceVersion")})


def resource_absent(api: client.ApiClient, kind: ResourceKind, namespace: str | None, name: str) -> Condition:
    return observe(
        lambda: resources.get(api, kind, namespace, name),
        lambda obj: obj is None,
        lambda obj: ABSENT if obj is None else {
            "present": True, "deletionTimestamp": obj["metadata"].get("deletionTimestamp"),
            "finalizers": obj["metadata"].get("finalizers") or []},
    )


def resource_ready(api: client.ApiClient, kind: ResourceKind, namespace: str | None, name: str) -> Condition:
    """The object has condition Ready=True (an Issuer whose ACME account is registered, say)."""
    return resource_condition(api, kind, namespace, name,
                              lambda obj: (resources.condition(obj, "Ready") or {}).get("status") == "True",
                              lambda obj: resources.condition(obj, "Ready"))


def event_on(api: client.ApiClient, namespace: str, kind: str, name: str, reason: str) -> Condition:
    """An Event of `reason` was recorded on object `kind`/`name` (Reloader's "Reloaded" on the Deployment it
    rolled, say); the view is the newest such Event, or the reasons recorded on the object so far."""

    def events() -> list[dict]:
        return [e for e in resources.list_objects(api, resources.EVENT, namespace)
                if (e.get("involvedObject") or {}).get("kind") == kind
                and (e.get("involvedObject") or {}).get("name") == name]

    def view(found: list[dict]) -> dict:
        hits = [e for e in found if e.get("reason") == reason]
        if hits:
            return {"event": resources.summary(resources.EVENT, hits[-1]), "matching": len(hits)}
        return {"reasons": sorted({e.get("reason") for e in found})}

    return observe(events, lambda found: any(e.get("reason") == reason for e in found), view)
