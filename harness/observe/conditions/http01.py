"""Conditions on HTTP-01 through an ingress controller: the solver pods, Services and Ingresses cert-manager
creates for a Challenge, the Certificate ingress-shim makes from an annotated Ingress, and the certificate
the ingress controller serves for each host (a real handshake)."""

from __future__ import annotations

import requests
from kubernetes import client

from harness.observe import tlsinspect
from harness.observe.conditions.general import observe
from harness.observe.endstate import SOLVER_LABEL, solver_facts
from harness.observe.resources import CERTIFICATE, SECRET, get, list_objects, summary
from harness.wait import Condition

# One plain GET answers in milliseconds; 5 s means the controller hangs.
REQUEST_TIMEOUT = 5.0
REDIRECTS = (301, 302, 303, 307, 308)
# ingress-shim names the Ingress a Certificate came from in an owner reference (pkg/controller/certificate-shim/
# sync.go: buildCertificates, metav1.NewControllerRef(ingress, ...)).
INGRESS_KIND = "Ingress"


def solvers_present(api: client.ApiClient, namespace: str, *kinds: str) -> Condition:
    """cert-manager's solver objects of every kind in `kinds` ("Pod", "Service", "Ingress") exist, live."""
    return observe(lambda: solver_facts(api, namespace),
                   lambda found: set(kinds) <= {s["kind"] for s in found if not s["deleting"]},
                   lambda found: {"solvers": found})


def solvers_gone(api: client.ApiClient, namespace: str) -> Condition:
    """No solver pod, Service or Ingress is left in the namespace (deleted, or on its way out)."""
    return observe(lambda: solver_facts(api, namespace),
                   lambda found: all(s["deleting"] for s in found),
                   lambda found: {"solvers": found})


def _solver_pods(api: client.ApiClient, namespace: str) -> list[dict]:
    """The namespace's live solver pods: phase and PodScheduled condition."""
    listed = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=SOLVER_LABEL).items
    return [{"pod": p.metadata.name, "phase": p.status.phase,
             "scheduled": next(({"status": c.status, "reason": c.reason, "message": c.message}
                                for c in p.status.conditions or [] if c.type == "PodScheduled"), None)}
            for p in listed if p.metadata.deletion_timestamp is None]


def solver_pod_unschedulable(api: client.ApiClient, namespace: str, text: str = "") -> Condition:
    """A solver pod is Pending with PodScheduled=False (reason Unschedulable), its message containing `text`:
    what the scheduler says about it (taints, node selector, resources)."""
    needle = text.lower()

    def holds(pods: list[dict]) -> bool:
        return any(p["phase"] == "Pending" and p["scheduled"] and p["scheduled"]["status"] == "False"
                   and needle in (p["scheduled"]["message"] or "").lower() for p in pods)

    return observe(lambda: _solver_pods(api, namespace), holds, lambda pods: {"solver pods": pods})


def solver_pods_scheduled(api: client.ApiClient, namespace: str) -> Condition:
    """No live solver pod waits for a node: each has PodScheduled=True (none left holds too: the Challenges
    ended)."""
    return observe(lambda: _solver_pods(api, namespace),
                   lambda pods: all(p["scheduled"] and p["scheduled"]["status"] == "True" for p in pods),
                   lambda pods: {"solver pods": pods})


def shim_certificate(api: client.ApiClient, namespace: str, name: str, ingress: str, dns_names: list[str]) -> Condition:
    """ingress-shim made Certificate `name` (the tls entry's secretName) for Ingress `ingress`, naming exactly
    `dns_names` (the tls entry's hosts)."""
    def holds(crt: dict | None) -> bool:
        owners = [ref for ref in (crt or {}).get("metadata", {}).get("ownerReferences") or []]
        return crt is not None and any(ref.get("kind") == INGRESS_KIND and ref.get("name") == ingress
                                       for ref in owners) \
            and sorted((crt.get("spec") or {}).get("dnsNames") or []) == sorted(dns_names)

    def view(crt: dict | None) -> dict:
        if crt is None:
            return {"certificates": [c["metadata"]["name"] for c in list_objects(api, CERTIFICATE, namespace)]}
        return {"owners": [f"{r.get('kind')}/{r.get('name')}" for r in crt["metadata"].get("ownerReferences") or []],
                "dnsNames": (crt.get("spec") or {}).get("dnsNames"), **summary(CERTIFICATE, crt)}

    return observe(lambda: get(api, CERTIFICATE, namespace, name), holds, view)


def serves_secret(api: client.ApiClient, namespace: str, secret: str, address: str, port: int,
                  host: str) -> Condition:
    """A real TLS handshake with `address`:`port`, SNI `host`, gets the certificate Secret `secret` holds now
    (its serial), and that certificate names `host`."""
    def fetch() -> dict:
        served = tlsinspect.CertInfo.of(tlsinspect.served_certificate(address, port, host))
        stored = get(api, SECRET, namespace, secret)
        return {"served": served, "secret": tlsinspect.inspect_secret(stored).serial if stored else None}

    return observe(fetch,
                   lambda found: found["served"].serial == found["secret"] and host in found["served"].dns_names,
                   lambda found: {"host": host, "secret serial": found["secret"], **found["served"].summary()})



def challenge_path_redirected(address: str, port: int, host: str) -> Condition:
    """A plain GET of http://`host`/.well-known/acme-challenge/ at `address`:`port` (the harness's own request,
    redirects not followed) is redirected to https: what a redirect in front of the challenge path does."""
    def fetch() -> requests.Response:
        return requests.get(f"http://{address}:{port}/.well-known/acme-challenge/certchaos-probe",
                            headers={"Host": host}, allow_redirects=False, timeout=REQUEST_TIMEOUT)

    return observe(fetch,
                   lambda r: r.status_code in REDIRECTS and r.headers.get("Location", "").startswith("https://"),
                   lambda r: {"host": host, "status": r.status_code, "location": r.headers.get("Location")})
