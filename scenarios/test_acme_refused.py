"""The CA refuses a step of the issuance with a 4xx, its final word: finalize answered 403 unauthorized (a CA policy
that forbids the names, an account the CA no longer trusts), or, after the finalize's answer was lost on the way,
the certificate's download answered 400 malformed (a CA that cannot serve the certificate it issued).

Spec (cert-manager v1.11.5, pkg/controller/acmeorders/sync.go): the ACME client retries no 4xx but badNonce
(pkg/acme/util/util.go). finalizeOrder: on a 403 the Order is read back from the CA; unless it is valid there
(finalized already), any 4xx marks the Order errored ("Failed to finalize Order: ..."). syncCertificateDataWithOrder:
a 4xx on the download marks it errored ("Failed to retrieve signed certificate: ..."); the download is that path when
the Order read back is valid without a certificate (the finalize's answer was lost: test_acme_answer_lost.py). An
errored Order is never synced against the CA again; the CertificateRequest fails and the Certificate's issuance
backoff starts (failedIssuanceAttempts 1). Once it ends, a new order issues.
Evidence: the layer's journal (the refused requests per URL and their answers), the Order's state and reason, the
Certificate's status.
"""

from __future__ import annotations

import time

import pytest

from harness.scenario_api import (
    DNS01_CHECK_WAIT, ISSUANCE, AcmeAnswerLost, AcmeRefused, acme_requests, all_of, backdate_last_failure,
    certificate, certificate_done_issuing, certificate_status_field, create_certificate, holds_throughout,
    issuance_backoff, not_, order_reason_contains, order_state, statuses_per_url,
)

# Seconds with no request to the refused endpoint once the issuance failed: the orders queue's retries of a kept
# error (5, 10, 20 s) make three.
QUIET = 30
# The download follows the lost finalize answer by the orders queue's first retry (5 s) and a sync.
AFTER_LOST_ANSWER = 30


@pytest.mark.parametrize("endpoint, status, problem", [("finalize", 403, "unauthorized"),
                                                       ("certificate", 400, "malformed")])
def test_a_refused_step_fails_the_order_at_once_and_a_new_order_issues_after_the_backoff(
        scenario, kube, namespace, acme_issuer, endpoint, status, problem):
    name, subject, acme = "web", f"Certificate {namespace}/web", acme_issuer.acme
    refused = AcmeRefused(acme, endpoint, status, problem)
    with scenario.fault(refused):
        if endpoint == "certificate":  # the download then comes from the Order read back valid, not from finalize
            scenario.apply(AcmeAnswerLost(acme, "finalize"))  # reverted with `refused`, at the block's end
        since = time.time()
        create_certificate(kube, namespace, certificate(name, acme_issuer.ref, [acme_issuer.dns_name(name)]))
        scenario.expect(acme_requests(acme, endpoint, faulted=True, since=since), subject=f"the CA ({acme.name})",
                        expected=f"{endpoint} answered {status} {problem}", within=ISSUANCE + AFTER_LOST_ANSWER,
                        detects=True)
        # Catches a controller that takes the refusal for a passing error (the Order kept, retried) or drops it
        # without a word (the Order left as it was).
        errored = all_of(order_state(kube, namespace, name, "errored"),
                         order_reason_contains(kube, namespace, name, refused.rule().detail))
        scenario.expect(errored, subject=f"ACME resources of {subject}", expected="Order errored with the CA's answer",
                        within=30)
        failed = certificate_status_field(kube, namespace, name, "failedIssuanceAttempts", equals=1)
        scenario.expect(failed, subject=subject, expected="the issuance failed once", within=30)
        # Catches a controller that asks again (its queue's 5, 10, 20 s steps). A sync that read the Order from a
        # cache not yet updated may have asked once more right after it errored: counted from here.
        failed_at = time.time()
        scenario.expect(holds_throughout(all_of(failed, not_(acme_requests(acme, endpoint, since=failed_at))), QUIET),
                        subject=f"the CA ({acme.name})", expected=f"no {endpoint} request for {QUIET} s",
                        within=QUIET + 15)
    backdate_last_failure(kube, namespace, name, issuance_backoff(1))  # the backoff is over now
    scenario.expect(certificate_done_issuing(kube, namespace, name), subject=subject,
                    expected="issued by a new order once the backoff ended", within=ISSUANCE + DNS01_CHECK_WAIT + 30,
                    recovers=True)
    per_url = statuses_per_url(acme.requests(), endpoint, since)
    scenario.note(f"{endpoint} requests per URL", requests=per_url)
    # Catches a retry of the refused order after the backoff instead of a new order, and a new order whose
    # certificate did not come through that step.
    answers = list(per_url.values())
    assert len(answers) == 2 and set(answers[0]) == {status} and answers[1] == [200], (
        f"the refused order's {endpoint} answered {status}, then a new order's 200, but the CA saw {per_url}")
