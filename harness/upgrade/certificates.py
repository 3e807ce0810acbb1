"""What an upgrade must keep, read from the cluster: per Certificate its revision, serial and key, and the
CertificateRequests that exist. Pure reads (conditions and snapshots); nothing here changes anything."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import asdict, dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubernetes import client

from harness.observe.resources import CERTIFICATE, CERTIFICATE_REQUEST, SECRET, condition, get, list_objects
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
    return Kept(namespace, name, ready, (crt.get("status") or {}).get("revision"), serial, key)


def snapshot(api: client.ApiClient, namespaces: list[str]) -> dict:
    """{"certificates": {ns/name: Kept as dict}, "requests": sorted ns/name of CertificateRequests}."""
    certificates, requests = {}, []
    for namespace in namespaces:
        for crt in list_objects(api, CERTIFICATE, namespace):
            facts = kept(api, crt)
            certificates[facts.ref] = asdict(facts)
        requests += [f"{namespace}/{cr['metadata']['name']}" for cr in list_objects(api, CERTIFICATE_REQUEST, namespace)]
    return {"certificates": certificates, "requests": sorted(requests)}


def differences(before: dict, after: dict) -> list[str]:
    """What changed between two snapshots that an upgrade alone must not change; [] when nothing did."""
    changes = []
    for ref, old in before["certificates"].items():
        new = after["certificates"].get(ref)
        if new is None:
            changes.append(f"Certificate {ref}: gone")
            continue
        for key in ("revision", "serial", "key_sha256", "ready"):
            if old[key] != new[key]:
                changes.append(f"Certificate {ref}: {key} {old[key]} -> {new[key]}")
    for ref in sorted(set(after["certificates"]) - set(before["certificates"])):
        changes.append(f"Certificate {ref}: new")
    for ref in sorted(set(after["requests"]) - set(before["requests"])):
        changes.append(f"CertificateRequest {ref}: new (an issuance)")
    return changes


def all_ready(api: client.ApiClient, namespaces: list[str]) -> Condition:
    """Every Certificate of the namespaces is Ready=True with a Secret holding a certificate and key."""
    def condition_() -> Seen:
        now = snapshot(api, namespaces)
        pending = {ref: facts["ready"] for ref, facts in now["certificates"].items()
                   if facts["ready"] != "True" or not facts["serial"] or not facts["key_sha256"]}
        return Seen(bool(now["certificates"]) and not pending,
                    {"certificates": len(now["certificates"]), "not ready": pending})
    return condition_


def unchanged_since(api: client.ApiClient, namespaces: list[str], before: dict) -> Condition:
    """Nothing an upgrade must keep has changed since `before` (for holds_throughout)."""
    def condition_() -> Seen:
        changes = differences(before, snapshot(api, namespaces))
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
