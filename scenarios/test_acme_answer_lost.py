"""The CA finalizes the order but its answer is lost on the way back (a load balancer's idle timeout, a reset
between the CA and the cluster): cert-manager sees a connection closed without an answer, not the CA's word.

Spec (cert-manager v1.11.5, pkg/controller/acmeorders/sync.go finalizeOrder): an error from CreateOrderCert that
is not an ACME error neither fails the Order nor finalizes again blindly: the Order's status is first read back
from the CA (processing or valid there), the error returned, and the next syncs take the certificate from that
same order (syncCertificateData, FetchCert). No new order, hence no second certificate for the same names (a
CA's duplicate-certificate limit counts each), no failed issuance.
Evidence: the layer's journal (newOrder, finalize and certificate requests, their answers), the Order's state,
the Certificate's status and requests.
"""

from __future__ import annotations

import time

from harness.scenario_api import (
    ISSUANCE, AcmeAnswerLost, acme_requests, all_of, certificate, certificate_done_issuing,
    certificate_request_count, certificate_status_field, create_certificate, holds_until, not_, order_state,
)

# After the lost answer: the orders queue's first retry (5 s), the Order read back, the certificate fetched.
RECOVERY = 60


def test_a_lost_finalize_answer_is_recovered_from_the_same_order(scenario, kube, namespace, acme_issuer):
    name, subject, acme = "web", f"Certificate {namespace}/web", acme_issuer.acme
    # Catches a controller that takes the lost answer for the order's failure (Order errored, the request failed,
    # an hour's backoff) or starts the issuance over (a second CertificateRequest).
    clean = all_of(not_(order_state(kube, namespace, name, "errored")),
                   certificate_status_field(kube, namespace, name, "failedIssuanceAttempts", is_set=False),
                   certificate_request_count(kube, namespace, name, 1))
    with scenario.fault(AcmeAnswerLost(acme, "finalize")):
        since = time.time()
        create_certificate(kube, namespace, certificate(name, acme_issuer.ref, [acme_issuer.dns_name(name)]))
        scenario.expect(acme_requests(acme, "finalize", faulted=True, since=since), subject=f"the CA ({acme.name})",
                        expected="finalize reached the CA, its answer lost", within=ISSUANCE, detects=True)
    # The fault has fired (once, its limit): its revert changes nothing cert-manager could see.
    scenario.expect(holds_until(clean, certificate_done_issuing(kube, namespace, name)), subject=subject,
                    expected="issued from the same order, nothing failed", within=RECOVERY, recovers=True)
    seen = [(r.endpoint, r.status, bool(r.fault)) for r in acme.requests()
            if r.at >= since and r.method == "POST" and r.endpoint in ("newOrder", "finalize", "certificate")]
    scenario.note("newOrder, finalize and certificate requests", requests=seen)
    # Catches a new order after the lost answer (a second certificate for the same names), and an issuance that
    # did not come from the finalized order's certificate.
    assert [entry for entry in seen if entry[0] == "newOrder"] == [("newOrder", 201, False)], (
        f"one order only, finalized once and its certificate fetched, but the CA saw {seen}")
    assert ("certificate", 200, False) in seen, f"the finalized order's certificate was never fetched: {seen}"
