"""The game's workload: a namespace with an ACME DNS-01 issuer (RFC 2136, or cert-manager's Route 53 solver for
the cloud provider's faults) and a CA issuer, a certificate from each, its own webhook registration, and the
system's health as the harness judges it.

Everything goes through the lab's APIs (LabClient), so the game runs against any lab a LabClient can
drive: a lab it started, one attached through lab.json, and later a kind lab.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.rest import ApiException

from harness.chaos.certificates import certificate, create_certificate
from harness.lab.issuers import AcmeIssuer, Route53Issuer, make_acme_issuer, make_ca_issuer, make_route53_issuer
from harness.lab.lab import LabClient
from harness.observe.resources import CERTIFICATE, SECRET, condition, get
from harness.observe.tlsinspect import inspect_secret
from harness.stack import certmanager
from harness.stack.kube import ensure_namespace
from harness.stack.toxiproxy import Proxy
from harness.wait import Condition, Seen

ACME_CERTIFICATE, CA_CERTIFICATE = "web", "internal"


@dataclass
class Workload:
    namespace: str
    acme: AcmeIssuer | Route53Issuer  # Issuer "pebble": DNS-01 over RFC 2136 (a TSIG key) or Route 53 (an IAM user)
    ca_ref: dict
    webhook: Proxy  # the namespace's own path to cert-manager's webhook (its own registration)

    @property
    def acme_certificate(self) -> str:
        return ACME_CERTIFICATE

    @property
    def certificates(self) -> tuple[str, ...]:
        return ACME_CERTIFICATE, CA_CERTIFICATE


def create_workload(lab: LabClient, route53: bool = False) -> Workload:
    """Namespace gameday-<hex>: its own webhook registration and proxy (a webhook fault stays in it), the
    issuers (the ACME one solving with `route53`: its own hosted zone and IAM user), and the two certificates.
    Returns at once; health() says when they are issued."""
    namespace = f"gameday-{uuid.uuid4().hex[:6]}"
    ensure_namespace(lab.kube, namespace)
    webhook = lab.proxy_to(f"webhook-{namespace}", lab.info.webhook)
    # On kind by name (the webhook's certificate names the "ca" anchor, the node's DNS resolves it).
    url = f"https://{lab.info.proxy_name or webhook.listen[0]}:{webhook.listen[1]}"
    certmanager.apply_webhook_configurations(lab.kube, certmanager.webhook_configurations(
        url, lab.info.webhook_ca_bundle.encode(), only_namespace=namespace))
    labels = {certmanager.ISOLATION_LABEL: "isolated"}  # the cluster-wide registration skips this namespace
    client.CoreV1Api(lab.kube).patch_namespace(namespace, {"metadata": {"labels": labels}})
    acme = make_route53_issuer(lab, namespace, "pebble") if route53 else make_acme_issuer(lab, namespace)
    ca_ref = make_ca_issuer(lab.kube, namespace)
    workload = Workload(namespace, acme, ca_ref, webhook)
    create_certificate(lab.kube, namespace, certificate(ACME_CERTIFICATE, acme.ref, [acme.dns_name("www")]))
    create_certificate(lab.kube, namespace, certificate(CA_CERTIFICATE, ca_ref, [f"internal.{namespace}.svc"]))
    return workload


def delete_workload(lab: LabClient, workload: Workload) -> None:
    """Undo create_workload in an attached lab: registration, proxies, ACME route, namespace (in the background)."""
    certmanager.delete_webhook_configurations(lab.kube, f"{certmanager.WEBHOOK_NAME}-{workload.namespace}")
    workload.webhook.delete()
    workload.acme.close()
    client.CoreV1Api(lab.kube).delete_namespace(workload.namespace, propagation_policy="Background")


def revisions(lab: LabClient, workload: Workload) -> dict[str, int]:
    return {name: (get(lab.kube, CERTIFICATE, workload.namespace, name).get("status") or {}).get("revision", 0)
            for name in workload.certificates}


def _certificate_health(lab: LabClient, namespace: str, name: str, revision: int) -> tuple[bool, str]:
    crt = get(lab.kube, CERTIFICATE, namespace, name)
    if crt is None:
        return False, "missing"
    ready, issuing = condition(crt, "Ready"), condition(crt, "Issuing")
    have = (crt.get("status") or {}).get("revision", 0)
    if not ready or ready.get("status") != "True":
        return False, f"Ready={ready.get('status') if ready else None} {(ready or {}).get('reason', '')}".strip()
    if issuing and issuing.get("status") == "True":
        return False, f"Ready=True, issuing revision {have + 1}"
    if have < revision:
        return False, f"Ready=True, revision {have} (renewal to {revision} not done)"
    secret = get(lab.kube, SECRET, namespace, name)
    if secret is None:
        return False, f"Ready=True but Secret {name} is missing"
    leaf = inspect_secret(secret).leaf
    now = datetime.datetime.now(datetime.timezone.utc)
    if not leaf.not_before <= now < leaf.not_after:
        return False, f"Secret's certificate not valid now ({leaf.not_before}..{leaf.not_after})"
    return True, f"Ready, revision {have}, Secret valid until {leaf.not_after:%Y-%m-%d %H:%M}Z"


def _webhook_health(lab: LabClient, namespace: str) -> tuple[bool, str]:
    """A server-side dry run of a Certificate: admitted only when the API server reached the webhook."""
    body = certificate("health-probe", {"name": "ca", "kind": "Issuer"}, ["probe.example"])
    try:
        client.CustomObjectsApi(lab.kube).create_namespaced_custom_object(
            CERTIFICATE.group, CERTIFICATE.version, namespace, CERTIFICATE.plural, body, dry_run="All")
    except ApiException as error:
        return False, f"changes rejected: HTTP {error.status}"
    return True, "admits changes"


def _alerts(lab: LabClient, workload: Workload) -> list[str]:
    """Firing alerts about the game: its namespace's, and ACME errors of its own path to the CA."""
    if lab.alerts is None:
        return []
    host = "%s:%d" % workload.acme.proxy.listen
    return sorted(f"{a['labels'].get('alertname')} {a['labels'].get('name', a['labels'].get('host', ''))}".strip()
                  for a in lab.alerts.prometheus.alerts() if a["state"] == "firing"
                  and (a["labels"].get("namespace") == workload.namespace or a["labels"].get("host") == host))


def health(lab: LabClient, workload: Workload, wanted: dict[str, int]) -> Condition:
    """Healthy: every certificate Ready, done issuing, at least at its `wanted` revision (a renewal the game
    asked for has landed) with a currently valid certificate in its Secret; the webhook admits changes; no
    alert about the game is firing. The view is what the team's status shows (it names no fault)."""

    def condition_() -> Seen:
        view: dict = {}
        ok = True
        for name in workload.certificates:
            good, text = _certificate_health(lab, workload.namespace, name, wanted.get(name, 0))
            ok, view[f"Certificate {name}"] = ok and good, text
        good, view["webhook"] = _webhook_health(lab, workload.namespace)
        firing = _alerts(lab, workload)
        view["alerts firing"] = ", ".join(firing) or "none"
        return Seen(ok and good and not firing, view)

    return condition_
