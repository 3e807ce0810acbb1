"""A Certificate asks for a temporary certificate while its first issuance runs (the annotation
cert-manager.io/issue-temporary-certificate, which ingress-shim sets for in-place HTTP-01 edits): an Ingress
controller that will not serve a TLS host without a Secret needs one at once, and the real certificate must replace
it without a new key.

Spec (cert-manager v1.11.5, pkg/controller/certificates/issuing/temporary.go and certificates/util.go
GenerateLocallySignedTemporaryCertificate): while the Certificate is issuing and its Secret holds no certificate
matching its key, the issuing controller stores one signed by a throwaway CA "cert-manager.local", with subject
serialNumber 1234567890, for the Certificate's names and its next private key. The issued certificate then replaces
it in the same Secret, for that same key, and the temporary one is not issued again once the Secret holds it.
Evidence: the Secret as the API serves it (tls.crt's issuer, subject, names and key), polled through the issuance;
the CA's certificate.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

from harness.scenario_api import (
    ISSUANCE, SECRET, Seen, certificate, certificate_done_issuing, create_certificate, get, holds_until,
    inspect_secret, secret_data,
)

TEMPORARY_ISSUER = "CN=cert-manager.local"
TEMPORARY_SERIAL = "1234567890"  # the subject's serialNumber cert-manager gives every temporary certificate
# The key manager makes the key and the issuing controller signs locally: seconds; a margin for a loaded machine.
TEMPORARY_WITHIN = 30
ANNOTATION = "cert-manager.io/issue-temporary-certificate"


def stored(kube, namespace: str, name: str, issued_by_ca: bool):
    """The Secret holds a certificate for its tls.key: the temporary one (`issued_by_ca` False) or not. Shows
    the leaf's issuer, subject, names and whether the key matches."""
    def condition() -> Seen:
        secret = get(kube, SECRET, namespace, name)
        if secret is None or not secret_data(secret).get("tls.crt"):
            return Seen(False, {"tls.crt": None})
        found = inspect_secret(secret)
        temporary = found.leaf.issuer == TEMPORARY_ISSUER
        return Seen(found.key_matches is True and temporary != issued_by_ca,
                    {**found.leaf.summary(), "key_matches": found.key_matches})
    return condition


def temporary_kept(kube, namespace: str, name: str, serial: str):
    """The Secret still holds the temporary certificate with `serial`, or one the temporary CA did not sign."""
    def condition() -> Seen:
        leaf = inspect_secret(get(kube, SECRET, namespace, name)).leaf
        return Seen(leaf.serial == serial or leaf.issuer != TEMPORARY_ISSUER, leaf.summary())
    return condition


def subject_serial(secret: dict) -> list[str]:
    leaf = x509.load_pem_x509_certificates(secret_data(secret)["tls.crt"])[0]
    return [attribute.value for attribute in leaf.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)]


def test_a_temporary_certificate_is_stored_at_once_and_the_issued_one_replaces_it_for_the_same_key(
        scenario, lab, kube, namespace, acme_issuer):
    name, subject = "web", f"Secret {namespace}/web"
    names = [acme_issuer.dns_name(name)]
    body = certificate(name, acme_issuer.ref, names)
    body["metadata"].setdefault("annotations", {})[ANNOTATION] = "true"
    create_certificate(kube, namespace, body)
    # Catches a controller that issues no temporary certificate (or one for another key): the Ingress would
    # serve nothing, or a key it cannot use, for the whole issuance.
    scenario.expect(stored(kube, namespace, name, issued_by_ca=False), subject=subject,
                    expected=f"a temporary certificate by {TEMPORARY_ISSUER} for its key", within=TEMPORARY_WITHIN)
    temporary = get(kube, SECRET, namespace, name)
    leaf = inspect_secret(temporary).leaf
    scenario.note("temporary certificate", certificate=leaf.summary())
    assert sorted(leaf.dns_names) == sorted(names) and subject_serial(temporary) == [TEMPORARY_SERIAL], (
        f"the temporary certificate should be for {names} with subject serialNumber {TEMPORARY_SERIAL}, "
        f"but it is {leaf.summary()}")
    # Catches a controller that signs a temporary certificate again on each sync while the issuance runs.
    scenario.expect(holds_until(temporary_kept(kube, namespace, name, leaf.serial),
                                certificate_done_issuing(kube, namespace, name)),
                    subject=f"Certificate {namespace}/{name}",
                    expected="issued by the CA, the temporary certificate signed once meanwhile", within=ISSUANCE)
    scenario.expect(stored(kube, namespace, name, issued_by_ca=True), subject=subject,
                    expected="the CA's certificate in place of the temporary one", within=TEMPORARY_WITHIN)
    issued = get(kube, SECRET, namespace, name)
    found = inspect_secret(issued, root=lab.pebble.roots().encode())
    scenario.note("issued certificate", certificate=found.leaf.summary(), verified=found.verified)
    # Catches an issuance for a new key (the workload that loaded the temporary pair would hold a stale key), and
    # a Secret that kept or fell back to something the CA did not sign.
    assert secret_data(issued)["tls.key"] == secret_data(temporary)["tls.key"], (
        "the issued certificate should be for the key the temporary one was made for, but tls.key changed")
    assert found.verified and sorted(found.leaf.dns_names) == sorted(names), (
        f"the Secret should hold the CA's certificate for {names}, but it holds {found.leaf.summary()} "
        f"({found.verify_error or 'verified'})")
