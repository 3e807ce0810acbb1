"""upgrade-check's "kept" condition against a real API server and cert-manager (the local stack): an annotated
Ingress gets its Certificate from ingress-shim, and each change a broken upgrade could make to what the user set
up is found: the issuer's config changed, ingress-shim rewriting the Certificate (here because the Ingress's
hosts changed, as a B that computed the spec differently would), the Certificate deleted (ingress-shim makes a
new one, not yet issued). The same condition holds while nothing changes."""

from __future__ import annotations

import pytest
from kubernetes import client

from harness.lab.issuers import make_ca_issuer
from harness.observe.conditions.general import holds_throughout
from harness.observe.conditions.http01 import shim_certificate
from harness.observe.resources import CERTIFICATE
from harness.upgrade import certificates
from harness.wait import Seen, wait_for

pytestmark = pytest.mark.integration

# A CA issuance takes well under a second on an idle machine; 60 s covers a loaded 2-core box.
ISSUED = 60
# ingress-shim re-syncs an Ingress within a second of its change; the Certificate's spec follows.
SEEN = 30
HOSTS = ["store.shop.example.com"]


def ingress(namespace: str, hosts: list[str]) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "storefront", "namespace": namespace, "annotations": {"cert-manager.io/issuer": "ca"}},
            "spec": {"ingressClassName": "nginx", "tls": [{"hosts": hosts, "secretName": "storefront-tls"}],
                     "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                         "service": {"name": "storefront", "port": {"number": 80}}}}]}} for host in hosts]}}


def change_seen(kube, namespace, issuers, before, text):
    """The kept condition fails, naming `text`, within SEEN."""
    unchanged = certificates.unchanged_since(kube, [namespace], before, issuers)
    return wait_for(lambda: (lambda seen: Seen(not seen.ok and any(text in c for c in seen.state), seen.state))(
        unchanged()), subject="the kept condition", expected=f"a change naming {text!r}", timeout=SEEN)


def settled(kube, namespace, issuers) -> dict:
    """Every Certificate Ready, then what the kept condition compares with."""
    wait_for(certificates.all_ready(kube, [namespace]), subject=namespace, expected="all Ready", timeout=ISSUED)
    wait_for(lambda: Seen(all(f and f["ready"] == "True" for f in (certificates.issuer_facts(kube, *key)
                                                                   for key in issuers)), "issuers"),
             subject=namespace, expected="issuers Ready", timeout=ISSUED)
    return certificates.snapshot(kube, [namespace], issuers)


def test_the_kept_condition_finds_what_a_broken_upgrade_would_change_of_an_annotated_ingress(kube, namespace):
    make_ca_issuer(kube, namespace)
    networking = client.NetworkingV1Api(kube)
    networking.create_namespaced_ingress(namespace, ingress(namespace, HOSTS))
    wait_for(shim_certificate(kube, namespace, "storefront-tls", "storefront", HOSTS), subject="ingress-shim",
             expected="the Ingress's Certificate", timeout=SEEN)
    issuers = [("Issuer", namespace, "ca"), ("Issuer", namespace, "ca-bootstrap")]
    before = settled(kube, namespace, issuers)
    assert set(before["certificates"]) == {f"{namespace}/storefront-tls", f"{namespace}/ca-root"}
    # Nothing changes: the condition holds (5 s: several polls of a settled namespace).
    wait_for(holds_throughout(certificates.unchanged_since(kube, [namespace], before, issuers), 5.0),
             subject="the kept condition", expected="holds while nothing changes", timeout=SEEN)

    objects = client.CustomObjectsApi(kube)
    objects.patch_namespaced_custom_object("cert-manager.io", "v1", namespace, "issuers", "ca",
                                           {"spec": {"ca": {"secretName": "another-ca"}}})
    change_seen(kube, namespace, issuers, before, f"Issuer {namespace}/ca: spec changed at ca.secretName")
    objects.patch_namespaced_custom_object("cert-manager.io", "v1", namespace, "issuers", "ca",
                                           {"spec": {"ca": {"secretName": "ca-root"}}})

    before = settled(kube, namespace, issuers)
    objects.delete_namespaced_custom_object(CERTIFICATE.group, CERTIFICATE.version, namespace, CERTIFICATE.plural,
                                            "storefront-tls")
    change_seen(kube, namespace, issuers, before, f"Certificate {namespace}/storefront-tls: ")

    wait_for(shim_certificate(kube, namespace, "storefront-tls", "storefront", HOSTS), subject="ingress-shim",
             expected="the Ingress's Certificate made again", timeout=SEEN)
    before = settled(kube, namespace, issuers)
    networking.patch_namespaced_ingress("storefront", namespace, ingress(namespace, [*HOSTS, "shop.example.com"]))
    change_seen(kube, namespace, issuers, before, f"Certificate {namespace}/storefront-tls: spec changed at dnsNames")
