"""A secretTemplate added to an issued Certificate (the annotation Stakater Reloader matches, a team's label): the
existing Secret must get it without a new certificate, or the pods that should reload on the next renewal never
will, and a re-issue for metadata alone burns the CA's rate limit.

Spec (cert-manager v1.11.5, pkg/controller/certificates/issuing/secret_manager.go and the post-issuance policy
chain): for a Certificate whose Secret holds a certificate and key, the issuing controller checks the Secret's
metadata against the secretTemplate (SecretTemplateMismatchesSecret) and updates the Secret's labels and
annotations in place; the certificate, the key and the revision stay as they are.
Evidence: the Secret's labels, annotations and certificate serial; the Certificate's revision.
"""

from __future__ import annotations

from kubernetes import client

from harness.scenario_api import (
    SECRET, Seen, all_of, certificate, certificate_done_issuing, certificate_status_field, create_certificate, get,
    holds_throughout, holds_until, inspect_secret, not_, secret_serial_changed,
)

ISSUED = 30  # a CA issuer signs at once; a margin for a loaded machine
APPLIED = 15  # the Certificate's update wakes the issuing controller at once
# Seconds the same certificate stays once the template is in: a re-issue for the change (RequestChanged, which the
# lifecycle invariant accepts for a changed spec) signs with the CA issuer within a second or two of it.
KEPT = 10
TEMPLATE = {"annotations": {"reloader.stakater.com/match": "true"}, "labels": {"team": "payments"}}


def secret_has_template(kube, namespace: str, name: str):
    """The Secret's labels and annotations include the template's; shows those it has of them."""
    def condition() -> Seen:
        meta = (get(kube, SECRET, namespace, name) or {}).get("metadata", {})
        found = {kind: {key: (meta.get(kind) or {}).get(key) for key in TEMPLATE[kind]} for kind in TEMPLATE}
        return Seen(found == TEMPLATE, found)
    return condition


def test_a_secret_template_added_later_is_applied_to_the_secret_without_a_new_certificate(
        scenario, kube, namespace, ca_issuer):
    name, subject = "web", f"Secret {namespace}/web"
    create_certificate(kube, namespace, certificate(name, ca_issuer, ["web.certchaos.test"]))
    scenario.expect(certificate_done_issuing(kube, namespace, name), subject=f"Certificate {namespace}/{name}",
                    expected="issued", within=ISSUED)
    serial = inspect_secret(get(kube, SECRET, namespace, name)).leaf.serial
    client.CustomObjectsApi(kube).patch_namespaced_custom_object(
        "cert-manager.io", "v1", namespace, "certificates", name, {"spec": {"secretTemplate": TEMPLATE}})
    # Catches a controller that leaves the existing Secret's metadata alone, and one that re-issues for it.
    scenario.expect(holds_until(not_(secret_serial_changed(kube, namespace, name, serial)),
                                secret_has_template(kube, namespace, name)),
                    subject=subject, expected="the template's labels and annotations, the same certificate",
                    within=APPLIED)
    # Catches one that applies the template and then re-issues for it all the same.
    kept = all_of(certificate_status_field(kube, namespace, name, "revision", equals=1),
                  not_(secret_serial_changed(kube, namespace, name, serial)))
    scenario.expect(holds_throughout(kept, KEPT), subject=f"Certificate {namespace}/{name}",
                    expected=f"still revision 1 and the same certificate for {KEPT} s", within=KEPT + 10)
