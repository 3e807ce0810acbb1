"""A pending CertificateRequest is deleted mid-issuance (a clean-up job, `kubectl delete certificaterequests --all`
during an incident): cert-manager must make a new one for the same revision at once, or the Certificate waits
for something else to wake it, for hours.

Spec (cert-manager v1.11.5, pkg/controller/certificates/requestmanager/requestmanager_controller.go): the
requestmanager watches the CertificateRequests a Certificate owns and enqueues the owner on their changes,
deletion included; finding no request for the next revision while Issuing=True, it creates one with the same
next private key. The deleted request's Order and Challenges go with it (owner references, garbage collection).
The Certificate issues at revision 1 from the new request.
Evidence: the Certificate's CertificateRequests (names and uids) over time; its status (revision); the Secret's
chain to Pebble's roots.
"""

from __future__ import annotations

from harness.scenario_api import (
    DNS01_CHECK_WAIT, ISSUANCE, SECRET, CertificateRequestDeleted, Seen, certificate, certificate_done_issuing,
    certificate_status_field, challenge_presented, create_certificate, get, inspect_secret, related,
)

RECREATED = 15  # the deletion's event wakes the requestmanager at once; a margin for a loaded machine


def request_replaced(kube, namespace: str, name: str, deleted_uid: str):
    """The Certificate's newest CertificateRequest is another one than `deleted_uid`; shows its name and uid."""
    def condition() -> Seen:
        latest = related(kube, namespace, name, acme=False).latest_request
        meta = (latest or {}).get("metadata", {})
        return Seen(latest is not None and meta.get("uid") != deleted_uid,
                    {"request": meta.get("name"), "uid": meta.get("uid")})
    return condition


def test_a_deleted_pending_certificate_request_is_made_again_at_once_and_the_certificate_issues(
        scenario, lab, kube, namespace, acme_issuer):
    name, subject = "web", f"Certificate {namespace}/web"
    create_certificate(kube, namespace, certificate(name, acme_issuer.ref, [acme_issuer.dns_name(name)]))
    scenario.expect(challenge_presented(kube, namespace, name), subject=subject,
                    expected="its request's Challenge presented (the issuance under way)", within=ISSUANCE)
    pending = related(kube, namespace, name, acme=False).latest_request["metadata"]
    with scenario.fault(CertificateRequestDeleted(kube, namespace, pending["name"])):
        # Catches a controller that does not watch its requests: nothing else wakes it for this Certificate.
        scenario.expect(request_replaced(kube, namespace, name, pending["uid"]), subject=subject,
                        expected=f"a new CertificateRequest within {RECREATED} s", within=RECREATED, detects=True)
    scenario.expect(certificate_done_issuing(kube, namespace, name), subject=subject,
                    expected="issued from the new request", within=ISSUANCE + DNS01_CHECK_WAIT, recovers=True)
    # Catches an issuance counted twice (revision 2) or left with the deleted request's leftovers.
    scenario.expect(certificate_status_field(kube, namespace, name, "revision", equals=1), subject=subject,
                    expected="revision 1", within=10)
    found = related(kube, namespace, name, acme=False)
    names = [request["metadata"]["name"] for request in found.requests]
    assert len(names) == 1 and pending["name"] not in names, (
        f"one CertificateRequest, not the deleted {pending['name']}, should remain, but there are {names}")
    issued = inspect_secret(get(kube, SECRET, namespace, name), root=lab.pebble.roots().encode())
    assert issued.verified and issued.key_matches, (
        f"the Secret should hold Pebble's certificate for its key: {issued.summary()} ({issued.verify_error})")
