"""Conditions on admission: does the API server let cert-manager resources through its webhook, and when
it does not, is that the webhook's verdict (a validation denial) or the webhook being unreachable?"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Callable

from kubernetes import client

from harness.chaos.certificates import certificate, create_certificate
from harness.report.summary import readable
from harness.observe.resources import CERTIFICATE, CERTIFICATE_REQUEST, CLUSTER_ISSUER, ISSUER, ORDER
from harness.wait import Condition, Seen

WEBHOOK = '"webhook.cert-manager.io"'
# The API server's words when it could not get an answer from the webhook (k8s.io/apiserver's
# webhook errors: "failed calling webhook ...: failed to call webhook: Post ...: <transport error>").
UNREACHABLE = "failed calling webhook " + WEBHOOK
REFUSED = ("connection refused",)  # the webhook's port is closed (down, not listening)
# Slower than timeoutSeconds. A paused (failed) node's kernel still accepts TCP connections for its pods' listening
# sockets while their processes are frozen, so a call to a pod there can also end in the transport's own 10 s
# TLS handshake timeout, which races the call's 10 s deadline: either message is the dead pod timing out.
TIMED_OUT = ("context deadline exceeded", "Client.Timeout exceeded", "i/o timeout", "TLS handshake timeout")
# A working webhook's verdict on an invalid object: "admission webhook "webhook.cert-manager.io" denied the request: ..."
DENIED = "admission webhook " + WEBHOOK + " denied the request"
# The status the API server relays for cert-manager's validation denial (its admission handler answers 406
# NotAcceptable); an object the CRD's own schema refuses gets 422 from the API server, the webhook never asked.
WEBHOOK_DENIAL_STATUS = 406
SCHEMA_REFUSAL_STATUS = 422
_KINDS = {kind.kind: kind for kind in (CERTIFICATE, CERTIFICATE_REQUEST, ISSUER, CLUSTER_ISSUER, ORDER)}


@dataclass(frozen=True)
class Admission:
    """The API server's answer to creating an object: admitted (status None), or its status and message."""

    status: int | None
    message: str

    @property
    def denied_by_webhook(self) -> bool:
        return self.status == WEBHOOK_DENIAL_STATUS and DENIED in self.message

    @property
    def refused_by_schema(self) -> bool:
        return self.status == SCHEMA_REFUSAL_STATUS and DENIED not in self.message

    def view(self) -> dict:
        return {"status": self.status or "admitted", "message": readable(self.message)[:300]}


def admission_of(api: client.ApiClient, namespace: str, body: dict) -> Admission:
    """Create `body` (a Certificate, CertificateRequest, Issuer or ClusterIssuer) as a dry run: the API server
    runs its schema and admission, cert-manager's webhook included (it declares sideEffects None), and stores
    nothing. An error other than a refusal (4xx) raises."""
    kind = _KINDS[body["kind"]]
    objects = client.CustomObjectsApi(api)
    try:
        if kind.namespaced:
            objects.create_namespaced_custom_object(kind.group, kind.version, namespace, kind.plural, body,
                                                    dry_run="All")
        else:
            objects.create_cluster_custom_object(kind.group, kind.version, kind.plural, body, dry_run="All")
    except client.ApiException as error:
        if not 400 <= (error.status or 0) < 500:
            raise
        return Admission(error.status, json.loads(error.body or "{}").get("message", str(error)))
    return Admission(None, "")


def admission_of_change(api: client.ApiClient, namespace: str, kind: str, name: str, patch: list[dict]) -> Admission:
    """Apply the JSON patch `patch` to the stored object as a dry run: the API server runs admission on the
    update (cert-manager's webhook validates updates: fields immutable once set) and stores nothing. An error
    other than a refusal (4xx) raises."""
    found = _KINDS[kind]
    try:
        client.CustomObjectsApi(api).patch_namespaced_custom_object(
            found.group, found.version, namespace, found.plural, name, patch, dry_run="All",
            _content_type="application/json-patch+json")
    except client.ApiException as error:
        if not 400 <= (error.status or 0) < 500:
            raise
        return Admission(error.status, json.loads(error.body or "{}").get("message", str(error)))
    return Admission(None, "")


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
