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
