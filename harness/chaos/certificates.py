"""Certificate manifests and their creation: what every scenario starts from."""

from __future__ import annotations

from kubernetes import client

from harness.observe.resources import CERTIFICATE


def certificate(name: str, issuer_ref: dict, dns_names: list[str], **spec) -> dict:
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": name},
            "spec": {"secretName": name, "issuerRef": issuer_ref, "dnsNames": dns_names, **spec}}


# What the API server says when a validating webhook answered with a denial (not when it could not be called).
DENIAL = "denied the request"


class CertificateRefused(client.ApiException, AssertionError):
    """cert-manager's webhook denied an object the harness built as valid (a Certificate, the lab's Issuer): an
    AssertionError, so the scenario deviates (a webhook refusing valid objects is cert-manager's fault, not the
    harness's), and still an ApiException for the admission probes that expect a refusal."""

    def __init__(self, error: client.ApiException, where: str, kind: str = "Certificate"):
        super().__init__(status=error.status, reason=error.reason)
        self.body, self.headers, self.where, self.kind = error.body, error.headers, where, kind

    def __str__(self) -> str:
        return f"cert-manager's webhook denied {self.kind} {self.where}: {self.status} {self.body}"


def refused_if_denied(error: client.ApiException, kind: str, where: str) -> client.ApiException:
    """`error` as CertificateRefused when cert-manager's webhook denied the object, else unchanged."""
    return CertificateRefused(error, where, kind) if DENIAL in str(error.body or "") else error


def create_certificate(api: client.ApiClient, namespace: str, body: dict, dry_run: bool = False) -> dict:
    """Create `body`; with dry_run the API server runs admission (cert-manager's webhooks declare sideEffects
    None, so they are called) and stores nothing: a probe of admission that leaves nothing to issue. A denial
    by the webhook raises CertificateRefused."""
    try:
        return client.CustomObjectsApi(api).create_namespaced_custom_object(
            CERTIFICATE.group, CERTIFICATE.version, namespace, CERTIFICATE.plural, body,
            dry_run="All" if dry_run else None)
    except client.ApiException as error:
        raise refused_if_denied(error, "Certificate", f"{namespace}/{body['metadata'].get('name')}") from None
