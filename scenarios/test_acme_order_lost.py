"""The CA lost the order: fetching it is answered 404 (malformed "No order for ID", as Pebble answers for an order
it does not know: a CA whose database was restored from a backup older than the order), every other endpoint works.

Spec (cert-manager v1.11.5, pkg/controller/acmeorders/sync.go): once an Order's Challenges exist, each sync
fetches the ACME order; a 4xx there marks the Order errored ("Failed to retrieve Order resource: ...") and
returns without error, and an errored Order is never synced against the CA again. The CertificateRequest fails,
the Certificate's issuance backoff starts (failedIssuanceAttempts 1); once it ends, a new order issues. The lost
order is never fetched again.
Evidence: the layer's journal (order fetches per URL and their answers), the Order's state and reason, the
Certificate's status.
"""

from __future__ import annotations

import time

from harness.scenario_api import (
    DNS01_CHECK_WAIT, ISSUANCE, AcmeOrderLost, acme_requests, all_of, backdate_last_failure, certificate,
    certificate_done_issuing, certificate_status_field, create_certificate, holds_throughout, issuance_backoff, not_,
    order_reason_contains, order_state, statuses_per_url,
)

# The first fetch follows the Challenges' creation, seconds after the Certificate's.
FIRST_FETCH = 60
# Seconds with no fetch of the lost order once the issuance failed: the orders queue's retries of a kept error
# (5, 10, 20 s) make three.
QUIET = 30


def test_a_lost_order_fails_the_issuance_once_and_a_new_order_issues(scenario, kube, namespace, acme_issuer):
    name, subject, acme = "web", f"Certificate {namespace}/web", acme_issuer.acme
    fault = AcmeOrderLost(acme)
    with scenario.fault(fault):
        since = time.time()
        create_certificate(kube, namespace, certificate(name, acme_issuer.ref, [acme_issuer.dns_name(name)]))
        scenario.expect(acme_requests(acme, "order", faulted=True, since=since), subject=f"the CA ({acme.name})",
                        expected="the order's fetch answered 404", within=FIRST_FETCH, detects=True)
        # Catches a controller that takes the CA's 404 for a passing error (the Order stays pending, refetched).
        lost = all_of(order_state(kube, namespace, name, "errored"),
                      order_reason_contains(kube, namespace, name, fault.rule().detail))
        scenario.expect(lost, subject=f"ACME resources of {subject}", expected="Order errored with the CA's answer",
                        within=30)
        failed = certificate_status_field(kube, namespace, name, "failedIssuanceAttempts", equals=1)
        scenario.expect(failed, subject=subject, expected="the issuance failed once", within=30)
        # Catches a controller that retries the lost order (its queue's 5, 10, 20 s steps). From here on: a sync
        # that read the Order from a cache not yet updated may have fetched it once more right after it errored.
        failed_at = time.time()
        scenario.expect(holds_throughout(all_of(failed, not_(acme_requests(acme, "order", since=failed_at))), QUIET),
                        subject=f"the CA ({acme.name})", expected=f"no fetch of the lost order for {QUIET} s",
                        within=QUIET + 15)
    backdate_last_failure(kube, namespace, name, issuance_backoff(1))  # the backoff is over now
    # The lost order's Challenge is still being solved (its DNS-01 wait sleeps in a challenges worker): beside other
    # scenarios the new Challenge can wait that long for a worker (seen in a kind catalogue run: 36 s).
    scenario.expect(certificate_done_issuing(kube, namespace, name), subject=subject,
                    expected="issued by a new order once the backoff ended", within=ISSUANCE + DNS01_CHECK_WAIT + 30,
                    recovers=True)
    per_url = statuses_per_url(acme.requests(), "order", since)
    scenario.note("order fetches per URL", requests=per_url)
    # Catches a fetch of the lost order after the backoff (the CA answers it again: a 200 on its URL) instead of
    # a new order, and a new order that was never fetched.
    answers = list(per_url.values())
    assert len(answers) == 2 and set(answers[0]) == {404} and set(answers[1]) == {200}, (
        f"the lost order's fetches answered 404, then a new order's 200, but the CA saw {per_url}")
