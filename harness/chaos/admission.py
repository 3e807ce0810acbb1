"""Conditions on admission: does the API server let cert-manager resources through its webhook, and when
it does not, is that the webhook's verdict (a validation denial) or the webhook being unreachable?"""

from __future__ import annotations

import itertools
import json
from typing import Callable

from kubernetes import client

from harness.chaos.certificates import certificate, create_certificate
from harness.wait import Condition, Seen

WEBHOOK = '"webhook.cert-manager.io"'
# The API server's words when it could not get an answer from the webhook (k8s.io/apiserver's
# webhook errors: "failed calling webhook ...: failed to call webhook: Post ...: <transport error>").
UNREACHABLE = "failed calling webhook " + WEBHOOK
REFUSED = ("connection refused",)  # the webhook's port is closed (down, not listening)
TIMED_OUT = ("context deadline exceeded", "Client.Timeout exceeded", "i/o timeout")  # slower than timeoutSeconds
# A working webhook's verdict on an invalid object: "admission webhook "webhook.cert-manager.io" denied the request: ..."
DENIED = "admission webhook " + WEBHOOK + " denied the request"


def valid_probe(name: str) -> dict:
    return certificate(name, {"name": "ca", "kind": "Issuer"}, ["probe.example"])


def invalid_probe(name: str) -> dict:
    """A Certificate cert-manager's validation denies: no name of any kind to certify."""
    return certificate(name, {"name": "ca", "kind": "Issuer"}, [])


def _rejection(api: client.ApiClient, namespace: str, probe: Callable[[str], dict],
               holds: Callable[[str], bool]) -> Condition:
    attempt = itertools.count(1)

    def condition() -> Seen:
        name = f"probe-{next(attempt)}"
        try:
            create_certificate(api, namespace, probe(name))
        except client.ApiException as error:
            message = json.loads(error.body or "{}").get("message", str(error))
            return Seen(holds(message), {"status": error.status, "message": message[:300]})
        return Seen(False, {"created": name})
    return condition


def webhook_unreachable(api: client.ApiClient, namespace: str, causes: tuple[str, ...] = REFUSED + TIMED_OUT,
                        probe: Callable[[str], dict] = valid_probe) -> Condition:
    """Creating a Certificate (a new probe-N each poll) is rejected because the API server could not call
    the webhook, for one of `causes` (REFUSED, TIMED_OUT); a validation denial does not count."""
    return _rejection(api, namespace, probe,
                      lambda message: UNREACHABLE in message and DENIED not in message
                      and any(cause in message for cause in causes))


def denied_by_webhook(api: client.ApiClient, namespace: str, probe: Callable[[str], dict] = invalid_probe,
                      reason: str = "") -> Condition:
    """Creating the probe is denied by a working webhook with a validation message containing `reason`."""
    return _rejection(api, namespace, probe, lambda message: DENIED in message and reason in message)
