"""What an upgrade must keep, read from the cluster: per Certificate its spec, revision, serial and key, the
CertificateRequests that exist, and per issuer of the setup its spec and Ready. Pure reads (conditions and
snapshots); nothing here changes anything."""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import asdict, dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubernetes import client

from harness.observe.resources import (CERTIFICATE, CERTIFICATE_NAME_ANNOTATION, CERTIFICATE_REQUEST, CLUSTER_ISSUER,
                                      ISSUER, SECRET, condition, epoch, get, list_objects)
from harness.wait import Condition, Seen


@dataclass(frozen=True)
class Kept:
    """One certificate as issued: what a re-issue would change."""

    namespace: str
    name: str
    ready: str  # the Ready condition's status ("True", "False", "Unknown" or "absent")
    revision: int | None
    serial: str | None  # of the leaf in the Secret's tls.crt, hex
    key_sha256: str | None  # of the private key's public half (DER): a new key changes it
    spec: dict | None = None  # as stored: ingress-shim or a new version rewriting it changes it
    renewal_time: str | None = None  # status.renewalTime: from then on a new serial is a renewal, not a re-issue
    issuing: str = "absent"  # the Issuing condition's status: "True" from the request until the revision is written

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def kept(api: client.ApiClient, crt: dict) -> Kept:
    namespace, name = crt["metadata"]["namespace"], crt["metadata"]["name"]
    ready = (condition(crt, "Ready") or {}).get("status", "absent")
    secret = get(api, SECRET, namespace, crt["spec"]["secretName"]) or {}
    data = secret.get("data") or {}
    serial = key = None
    if data.get("tls.crt"):
        serial = format(x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"])).serial_number, "x")
    if data.get("tls.key"):
        private = serialization.load_pem_private_key(base64.b64decode(data["tls.key"]), password=None)
        public = private.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
        key = hashlib.sha256(public).hexdigest()
    status = crt.get("status") or {}
    return Kept(namespace, name, ready, status.get("revision"), serial, key, crt.get("spec"), status.get("renewalTime"),
                (condition(crt, "Issuing") or {}).get("status", "absent"))


def issuer_ref(kind: str, namespace: str | None, name: str) -> str:
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def issuer_facts(api: client.ApiClient, kind: str, namespace: str | None, name: str) -> dict | None:
    """An issuer's spec and Ready status, or None when it is gone."""
    found = get(api, CLUSTER_ISSUER if kind == "ClusterIssuer" else ISSUER, namespace, name)
    if found is None:
        return None
    return {"spec": found.get("spec"), "ready": (condition(found, "Ready") or {}).get("status", "absent")}


def _owner(request: dict) -> str | None:
    metadata = request["metadata"]
    named = (metadata.get("annotations") or {}).get(CERTIFICATE_NAME_ANNOTATION)
    return named or next((ref.get("name") for ref in metadata.get("ownerReferences") or []
                          if ref.get("kind") == "Certificate"), None)


def snapshot(api: client.ApiClient, namespaces: list[str], issuers=()) -> dict:
    """{"certificates": {ns/name: Kept as dict}, "requests": sorted ns/name of CertificateRequests,
    "request_owners": {request ns/name: its Certificate ns/name}, "issuers": {issuer ref: issuer_facts}} for
    `issuers` given as (kind, namespace or None, name)."""
    certificates, requests, owners = {}, [], {}
    for namespace in namespaces:
        for crt in list_objects(api, CERTIFICATE, namespace):
            facts = kept(api, crt)
            certificates[facts.ref] = asdict(facts)
        for request in list_objects(api, CERTIFICATE_REQUEST, namespace):
            ref = f"{namespace}/{request['metadata']['name']}"
            requests.append(ref)
            owner = _owner(request)
            if owner:
                owners[ref] = f"{namespace}/{owner}"
    return {"certificates": certificates, "requests": sorted(requests), "request_owners": owners,
            "issuers": {issuer_ref(*key): issuer_facts(api, *key) for key in issuers}}


_ABSENT = object()  # a field not there, which is not the same as a field set to null


def changed_fields(old, new, path: str = "") -> list[str]:
    """The dotted paths where two specs differ (down through maps; a list that differs is one path)."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new)):
            found += changed_fields(old.get(key, _ABSENT), new.get(key, _ABSENT), f"{path}.{key}" if path else key)
        return found
    return [] if old == new else [path or "(all)"]


def due(facts: dict, now: float) -> bool:
    """Whether the certificate's renewal time had come by `now`: then a new serial is cert-manager doing its job."""
    return bool(facts.get("renewal_time")) and epoch(facts["renewal_time"]) <= now


def differences(before: dict, after: dict, now: float | None = None) -> list[str]:
    """What changed between two snapshots that an upgrade alone must not change; [] when nothing did. A
    certificate whose renewal was due by `now` (default: the present) may have renewed (revision, serial, key
    and its CertificateRequest); it must still be Ready with the same spec."""
    now = time.time() if now is None else now
    changes = []
    renewing = {ref for ref, old in before["certificates"].items() if due(old, now)}
    for ref, old in before["certificates"].items():
        new = after["certificates"].get(ref)
        if new is None:
            changes.append(f"Certificate {ref}: gone")
            continue
        fields = changed_fields(old.get("spec"), new.get("spec"))
        if fields:
            changes.append(f"Certificate {ref}: spec changed at {', '.join(fields)}")
        for key in ("ready",) if ref in renewing else ("revision", "serial", "key_sha256", "ready"):
            if old[key] != new[key]:
                changes.append(f"Certificate {ref}: {key} {old[key]} -> {new[key]}")
    for ref in sorted(set(after["certificates"]) - set(before["certificates"])):
        changes.append(f"Certificate {ref}: new")
    for ref in sorted(set(after["requests"]) - set(before["requests"])):
        if after.get("request_owners", {}).get(ref) not in renewing:
            changes.append(f"CertificateRequest {ref}: new (an issuance)")
    for ref, old in (before.get("issuers") or {}).items():
        new = (after.get("issuers") or {}).get(ref)
        if old is None:
            continue  # not there before: nothing it had to keep
        if new is None:
            changes.append(f"{ref}: gone")
            continue
        fields = changed_fields(old["spec"], new["spec"])
        if fields:
            changes.append(f"{ref}: spec changed at {', '.join(fields)}")
        if old["ready"] != new["ready"]:
            changes.append(f"{ref}: Ready {old['ready']} -> {new['ready']}")
    return changes


def all_ready(api: client.ApiClient, namespaces: list[str]) -> Condition:
    """Every Certificate of the namespaces is Ready=True with a Secret holding a certificate and key, and not
    Issuing: the readiness controller can set Ready from the new Secret before the issuing controller records the
    issuance (revision, Issuing removed), and a snapshot between the two sees `revision None -> 1` later. (A
    Certificate that adopted a valid Secret has no revision, nor an issuance to wait for.)"""
    def condition_() -> Seen:
        now = snapshot(api, namespaces)
        pending = {ref: {"ready": facts["ready"], "issuing": facts.get("issuing")}
                   for ref, facts in now["certificates"].items()
                   if facts["ready"] != "True" or not facts["serial"] or not facts["key_sha256"]
                   or facts.get("issuing") == "True"}
        return Seen(bool(now["certificates"]) and not pending,
                    {"certificates": len(now["certificates"]), "not ready": pending})
    return condition_


def unchanged_since(api: client.ApiClient, namespaces: list[str], before: dict, issuers=()) -> Condition:
    """Nothing an upgrade must keep has changed since `before` (for holds_throughout)."""
    def condition_() -> Seen:
        changes = differences(before, snapshot(api, namespaces, issuers))
        return Seen(not changes, changes or "unchanged")
    return condition_


def renewed(api: client.ApiClient, namespace: str, name: str, before: dict) -> Condition:
    """The Certificate was re-issued after `before` (Kept as dict): a higher revision, a new serial, Ready."""
    def condition_() -> Seen:
        crt = get(api, CERTIFICATE, namespace, name)
        if crt is None:
            return Seen(False, "gone")
        now = asdict(kept(api, crt))
        done = (now["ready"] == "True" and (now["revision"] or 0) > (before["revision"] or 0)
                and now["serial"] != before["serial"])
        return Seen(done, {key: now[key] for key in ("ready", "revision", "serial")})
    return condition_
