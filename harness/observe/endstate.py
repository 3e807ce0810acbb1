"""What a scenario leaves behind: the facts of its namespace, zone and controller log when it ends.

Captured once per poll of the lifecycle check (harness.chaos.invariants), as plain JSON facts with no
secret in them: a Secret appears as what its certificate says and whether its key matches, never the key.
The last capture goes into the journal, so the invariants can be re-checked from the journal alone.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from cryptography import x509
from kubernetes import client

from harness.errors import HarnessError
from harness.observe.resources import (
    CERTIFICATE, CERTIFICATE_NAME_ANNOTATION, CERTIFICATE_REQUEST, CHALLENGE, ORDER, SECRET, conditions_of, get,
    list_objects, revision_of,
)
from harness.observe.tlsinspect import inspect_secret, normalise_serial

CHALLENGE_PREFIX = "_acme-challenge."
# What a Go panic leaves in a log: the runtime's own "panic: ..." line (the process dies) and
# apimachinery's HandleCrash "Observed a panic" (a recovered panic in a controller's worker).
PANIC_MARKERS = ("panic: ", "Observed a panic")
PANIC_LINES_KEPT = 5
# The label cert-manager puts on every HTTP-01 solver pod, Service and Ingress it creates
# (pkg/apis/acme/v1/types.go SolverIdentificationLabelKey; pkg/issuer/acme/http/pod.go podLabels).
SOLVER_LABEL = "acme.cert-manager.io/http01-solver=true"  # the first lines of a panic name it; the journal need not hold the whole trace


def _owner(obj: dict, kind: str) -> str | None:
    return next((ref.get("name") for ref in obj["metadata"].get("ownerReferences") or [] if ref.get("kind") == kind),
                None)


def _serial_of_pem(pem: bytes) -> str | None:
    try:
        return normalise_serial(x509.load_pem_x509_certificates(pem)[0].serial_number)
    except (ValueError, IndexError):
        return None


def certificate_facts(crt: dict) -> dict:
    spec, status = crt.get("spec") or {}, crt.get("status") or {}
    return {"name": crt["metadata"]["name"], "generation": crt["metadata"].get("generation"),
            "secretName": spec.get("secretName"), "dnsNames": sorted(spec.get("dnsNames") or []),
            "conditions": conditions_of(crt), "revision": status.get("revision"), "notBefore": status.get("notBefore"),
            "notAfter": status.get("notAfter"), "renewalTime": status.get("renewalTime")}


def request_facts(request: dict) -> dict:
    pem = base64.b64decode((request.get("status") or {}).get("certificate") or "")
    annotations = request["metadata"].get("annotations") or {}
    return {"name": request["metadata"]["name"], "certificate": annotations.get(CERTIFICATE_NAME_ANNOTATION),
            "revision": revision_of(request), "conditions": conditions_of(request),
            "serial": _serial_of_pem(pem) if pem else None}


def order_facts(order: dict) -> dict:
    status = order.get("status") or {}
    return {"name": order["metadata"]["name"], "request": _owner(order, "CertificateRequest"),
            "state": status.get("state", ""), "hasCertificate": bool(status.get("certificate"))}


def challenge_facts(challenge: dict) -> dict:
    spec, status = challenge.get("spec") or {}, challenge.get("status") or {}
    return {"name": challenge["metadata"]["name"], "order": _owner(challenge, "Order"), "type": spec.get("type"),
            "dnsName": spec.get("dnsName"), "key": spec.get("key"), "state": status.get("state", ""),
            "processing": bool(status.get("processing")), "presented": bool(status.get("presented")),
            "deleting": bool(challenge["metadata"].get("deletionTimestamp"))}


def secret_facts(secret: dict, roots: bytes | None) -> dict:
    """The Secret's certificate as facts; `roots` verify its chain when it has no ca.crt of its own (ACME)."""
    name = secret["metadata"]["name"]
    annotations = secret["metadata"].get("annotations") or {}
    facts: dict[str, Any] = {"name": name, "certificateName": annotations.get(CERTIFICATE_NAME_ANNOTATION)}
    try:
        has_ca = bool(base64.b64decode((secret.get("data") or {}).get("ca.crt") or ""))
        found = inspect_secret(secret, root=None if has_ca else roots)
    except HarnessError as error:
        return {**facts, "error": str(error)}
    leaf = found.leaf
    return {**facts, "serial": leaf.serial, "dnsNames": sorted(leaf.dns_names),
            "notBefore": leaf.not_before.timestamp(), "notAfter": leaf.not_after.timestamp(),
            "keyMatches": found.key_matches, "chainError": found.verify_error,
            "chainVerified": found.verified}


def challenge_record_names(namespace_zone: str, names) -> list[str]:
    """The _acme-challenge owner names under the scenario's zone that `names` (DNS names) would use."""
    zone = namespace_zone.rstrip(".")
    return sorted({f"{CHALLENGE_PREFIX}{name.rstrip('.').removeprefix('*.')}." for name in names
                   if name.rstrip(".").removeprefix("*.").endswith(zone)})


def solver_facts(api: client.ApiClient, namespace: str) -> list[dict]:
    """Every HTTP-01 solver pod, Service and Ingress of `namespace`: its Challenge (the controller owner reference
    cert-manager sets), whether it is being deleted, and a pod's phase."""
    core, networking = client.CoreV1Api(api), client.NetworkingV1Api(api)
    found = []
    for kind, listed in (("Pod", core.list_namespaced_pod), ("Service", core.list_namespaced_service),
                         ("Ingress", networking.list_namespaced_ingress)):
        for obj in listed(namespace, label_selector=SOLVER_LABEL).items:
            owner = next((ref.name for ref in obj.metadata.owner_references or [] if ref.kind == "Challenge"), None)
            found.append({"kind": kind, "name": obj.metadata.name, "challenge": owner,
                          "deleting": obj.metadata.deletion_timestamp is not None,
                          **({"phase": obj.status.phase} if kind == "Pod" else {})})
    return found


def txt_records(dns, owners: list[str]) -> list[dict]:
    """Every TXT record at those owner names in the authoritative view (what the provider holds); `dns` is the
    lab's DnsControl."""
    return [{"name": owner, "data": record["data"]} for owner in owners for record in dns.records(owner, "TXT")]


def panics_since(log: Path, offset: int) -> list[str]:
    """The panic lines the log gained after byte `offset` (the whole log when it was rotated or replaced)."""
    if not log.exists():
        return []
    with log.open("rb") as stream:
        stream.seek(offset if offset <= log.stat().st_size else 0)
        text = stream.read().decode(errors="replace")
    return [line for line in text.splitlines() if any(marker in line for marker in PANIC_MARKERS)][:PANIC_LINES_KEPT]


def log_size(log: Path) -> int:
    return log.stat().st_size if log.exists() else 0


def capture(api: client.ApiClient, dns, namespace: str, zone: str, *, acme_roots: bytes | None,
            controller_log: Path, log_offset: int, logged_names=()) -> dict:
    """The end-state facts of `namespace`; `zone` is the scenario's own DNS zone, `logged_names` the DNS
    names the scenario's DNS log saw updated (a record for a name no object names any more still counts)."""
    certificates = list_objects(api, CERTIFICATE, namespace)
    challenges = [challenge_facts(c) for c in list_objects(api, CHALLENGE, namespace)]
    secrets = []
    for name in sorted({(c.get("spec") or {}).get("secretName") for c in certificates} - {None}):
        secret = get(api, SECRET, namespace, name)
        if secret is not None:
            secrets.append(secret_facts(secret, acme_roots))
    names = [n for c in certificates for n in (c.get("spec") or {}).get("dnsNames") or []]
    names += [c["dnsName"] for c in challenges if c["dnsName"]]
    names += [n.removeprefix(CHALLENGE_PREFIX) for n in logged_names if n.startswith(CHALLENGE_PREFIX)]
    return {"namespace": namespace, "zone": zone,
            "certificates": [certificate_facts(c) for c in certificates],
            "requests": [request_facts(r) for r in list_objects(api, CERTIFICATE_REQUEST, namespace)],
            "orders": [order_facts(o) for o in list_objects(api, ORDER, namespace)],
            "challenges": challenges, "secrets": secrets,
            "txtRecords": txt_records(dns, challenge_record_names(zone, names)),
            "http01Solvers": solver_facts(api, namespace),
            "controllerPanics": panics_since(controller_log, log_offset)}
