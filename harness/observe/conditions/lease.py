"""Conditions on leader election: the coordination.k8s.io Lease cert-manager's controllers compete for.

What cert-manager itself says about a restart: a new holder identity (the new pod's hostname) and one
more leaseTransitions once the old holder's lease expired or was released.
"""

from __future__ import annotations

import datetime
import time
from typing import Callable

from kubernetes import client

from harness.wait import Condition, Seen


def lease_view(api: client.ApiClient, namespace: str, name: str) -> dict:
    """holder, leaseTransitions, renewTime and leaseDurationSeconds of the Lease ({} if it is absent)."""
    try:
        spec = client.CoordinationV1Api(api).read_namespaced_lease(name, namespace).spec
    except client.ApiException as error:
        if error.status == 404:
            return {}
        raise
    return {"holder": spec.holder_identity, "leaseTransitions": spec.lease_transitions or 0,
            "renewTime": spec.renew_time.isoformat() if spec.renew_time else None,
            "leaseDurationSeconds": spec.lease_duration_seconds}


def lease_taken_over(api: client.ApiClient, namespace: str, name: str, before: dict) -> Condition:
    """Someone other than `before`'s holder holds the Lease, one transition later than `before`."""
    def condition() -> Seen:
        now = lease_view(api, namespace, name)
        holder = now.get("holder")
        return Seen(bool(holder) and holder != before.get("holder")
                    and now.get("leaseTransitions") == before.get("leaseTransitions", 0) + 1, now)
    return condition


def lease_held_by(api: client.ApiClient, namespace: str, name: str, prefix: str) -> Condition:
    """The Lease's holder identity starts with `prefix` (cert-manager's identity is hostname + suffix)."""
    def condition() -> Seen:
        now = lease_view(api, namespace, name)
        return Seen(str(now.get("holder") or "").startswith(prefix), now)
    return condition


def lease_unrenewed(api: client.ApiClient, namespace: str, name: str, holder: str, seconds: float,
                    clock: Callable[[], float] = time.time) -> Condition:
    """`holder` still holds the Lease but has not renewed it for `seconds`: a leader renews every retry
    period, so a longer silence is the API's own evidence that the leader is gone."""
    def condition() -> Seen:
        now = lease_view(api, namespace, name)
        renewed = now.get("renewTime")
        silent = None if not renewed else clock() - datetime.datetime.fromisoformat(renewed).timestamp()
        return Seen(now.get("holder") == holder and silent is not None and silent >= seconds,
                    {**now, "unrenewed_for": None if silent is None else round(silent, 1)})
    return condition
