"""Certificate manifests and their creation: what every scenario starts from."""

from __future__ import annotations

from kubernetes import client

from harness.observe.resources import CERTIFICATE


def certificate(name: str, issuer_ref: dict, dns_names: list[str], **spec) -> dict:
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": name},
            "spec": {"secretName": name, "issuerRef": issuer_ref, "dnsNames": dns_names, **spec}}


def create_certificate(api: client.ApiClient, namespace: str, body: dict, dry_run: bool = False) -> dict:
    """Create `body`; with dry_run the API server runs admission (cert-manager's webhooks declare sideEffects
    None, so they are called) and stores nothing: a probe of admission that leaves nothing to issue."""
    return client.CustomObjectsApi(api).create_namespaced_custom_object(
        CERTIFICATE.group, CERTIFICATE.version, namespace, CERTIFICATE.plural, body,
        dry_run="All" if dry_run else None)
