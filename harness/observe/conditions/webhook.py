"""Conditions on admission: does the API server let cert-manager resources through its webhook?"""

from __future__ import annotations

import itertools
import json

from kubernetes import client

from harness.lab.certificates import certificate, create_certificate
from harness.wait import Condition, Seen


def rejected_by_webhook(api: client.ApiClient, namespace: str) -> Condition:
    """Creating a Certificate (a new probe-N each poll) fails, and the API server names the webhook."""
    attempt = itertools.count(1)

    def condition() -> Seen:
        name = f"probe-{next(attempt)}"
        try:
            create_certificate(api, namespace, certificate(name, {"name": "ca", "kind": "Issuer"}, ["probe.example"]))
        except client.ApiException as error:
            message = json.loads(error.body or "{}").get("message", str(error))
            return Seen("webhook.cert-manager.io" in message, {"status": error.status, "message": message[:300]})
        return Seen(False, {"created": name})
    return condition
