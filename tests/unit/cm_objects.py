"""cert-manager objects for observer tests: the recorded self-signed issuance (real API JSON from the local
stack, cert-manager v1.11.5) and builders for the ACME resources the local stack has no CA for, shaped
like the v1 CRDs (acme.cert-manager.io Order and Challenge)."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from pathlib import Path

from harness.observe import resources
from harness.observe.resources import ResourceKind

RECORDED = json.loads((Path(__file__).parent / "data" / "selfsigned-issuance.json").read_text())
NAMESPACE = RECORDED["certificate"]["metadata"]["namespace"]


def recorded(name: str):
    return copy.deepcopy(RECORDED[name])


def meta(name: str, owner: dict | None = None, created: str = "2026-11-28T04:00:00Z", **extra) -> dict:
    metadata = {"name": name, "namespace": NAMESPACE, "uid": str(uuid.uuid4()), "creationTimestamp": created,
                "resourceVersion": "1", "generation": 1, **extra}
    if owner is not None:
        metadata["ownerReferences"] = [{"apiVersion": owner["apiVersion"], "kind": owner["kind"], "controller": True,
                                        "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}]
    return metadata


def certificate_request(certificate: dict, revision: int, conditions=(), created="2026-11-28T04:00:00Z") -> dict:
    name = certificate["metadata"]["name"]
    return {"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
            "metadata": meta(f"{name}-r{revision}", certificate, created, annotations={
                resources.CERTIFICATE_NAME_ANNOTATION: name, resources.REVISION_ANNOTATION: str(revision)}),
            "spec": {"issuerRef": certificate["spec"]["issuerRef"], "request": "LS0t"},
            "status": {"conditions": list(conditions)}}


def order(request: dict, state: str = "pending", reason: str | None = None) -> dict:
    status = {"state": state, "url": "https://pebble.test/order/1"}
    if reason:
        status["reason"] = reason
    return {"apiVersion": "acme.cert-manager.io/v1", "kind": "Order",
            "metadata": meta(f"{request['metadata']['name']}-1234", request),
            "spec": {"request": "LS0t", "issuerRef": request["spec"]["issuerRef"], "dnsNames": ["web.example.test"]},
            "status": status}


def challenge(order_obj: dict, dns_name: str = "web.example.test", state: str = "pending",
              presented: bool = False, reason: str = "") -> dict:
    return {"apiVersion": "acme.cert-manager.io/v1", "kind": "Challenge",
            "metadata": meta(f"{order_obj['metadata']['name']}-{abs(hash(dns_name)) % 10**8}", order_obj),
            "spec": {"type": "DNS-01", "dnsName": dns_name, "wildcard": False, "token": "t", "key": "k",
                     "url": "https://pebble.test/chal/1", "authorizationURL": "https://pebble.test/authz/1",
                     "solver": {"dns01": {"rfc2136": {"nameserver": "127.0.0.1:53"}}},
                     "issuerRef": order_obj["spec"]["issuerRef"]},
            "status": {"processing": True, "presented": presented, "reason": reason, "state": state}}


def condition(type_: str, status: str, reason: str = "", message: str = "", generation: int | None = None) -> dict:
    c = {"type": type_, "status": status, "reason": reason, "message": message,
         "lastTransitionTime": "2026-11-28T04:00:00Z"}
    if generation is not None:
        c["observedGeneration"] = generation
    return c


class FakeCluster:
    """Stands in for resources.get / resources.list_objects: objects stored by kind, namespace-local."""

    def __init__(self, *objects: dict):
        self.objects: dict[str, dict[str, dict]] = {}
        for obj in objects:
            self.put(obj)

    def put(self, obj: dict) -> dict:
        self.objects.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
        return obj

    def delete(self, kind: str, name: str) -> None:
        del self.objects[kind][name]

    def get(self, api, kind: ResourceKind, namespace, name):
        return copy.deepcopy(self.objects.get(kind.kind, {}).get(name))

    def list_objects(self, api, kind: ResourceKind, namespace=None, label_selector=None):
        return copy.deepcopy(list(self.objects.get(kind.kind, {}).values()))

    def install(self, monkeypatch) -> "FakeCluster":
        monkeypatch.setattr(resources, "get", self.get)
        monkeypatch.setattr(resources, "list_objects", self.list_objects)
        return self


def tls_secret(crt: bytes, key: bytes, ca_crt: bytes | None, name: str = "web-tls", namespace: str = "ns") -> dict:
    data = {"tls.crt": crt, "tls.key": key, **({"ca.crt": ca_crt} if ca_crt else {})}
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": namespace},
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()}}
