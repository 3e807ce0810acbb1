"""One CA endpoint fails: newOrder answers 503 (the CA in maintenance), finalize or the certificate's download
answers 500, while every other endpoint works.

Spec (cert-manager v1.11.5, from its source): the ACME client does not retry a 5xx (pkg/acme/util/util.go
RetryBackoff retries only a 400), and the orders controller keeps the Order as it is on a 5xx (only a 4xx marks it
errored: pkg/controller/acmeorders/sync.go createOrder, finalizeOrder, syncCertificateDataWithOrder) and returns
the error, so its work queue retries the Order with per-item exponential backoff from 5 s, doubling
(pkg/controller/acmeorders/controller.go: NewItemExponentialFailureRateLimiter(5 s, 30 min)): 5, 10, 20 s between
attempts. A failure counted without a request reaching the CA still takes a step (seen on both providers for
finalize: 5, 20, 40 s; for the download on kind under CI's load, two: 5, 40 s), so every gap is a step of the
doubling ladder, none shorter than the one before, besides one extra sync at once when the Order's own status
write comes back as an update event. No CertificateRequest fails and no issuance backoff starts; once the endpoint
is back, the next retry goes through and the same request completes the issuance. The download fails first inside
the finalize call (the ACME client's CreateOrderCert fetches the certificate once the order is valid); the Order's
status then reads valid without a certificate, so each retry fetches the certificate alone (syncCertificateData):
one finalize.
Evidence: the layer's journal (the failed requests to the endpoint and their spacing), the Order's state,
the Certificate's status and requests.
"""

from __future__ import annotations

import time

import pytest

from harness.scenario_api import (
    ISSUANCE, AcmeServerError, acme_requests, all_of, certificate, certificate_done_issuing,
    certificate_request_count, certificate_status_field, create_certificate, gaps, holds_until, not_, order_state,
)

ATTEMPTS = 4  # failed attempts to see: three gaps (5, 10, 20 s), a doubling no fixed or linear retry has
BASE = 5.0  # the orders queue's first step
STEPS = [BASE * 2 ** k for k in range(6)]  # 5, 10, 20, 40, 80, 160 s: the cumulative schedule's steps
GAP_TOLERANCE = (0.15, 2.0)  # relative and absolute seconds: a sync's own time on a loaded machine
# finalize and the download come after the DNS-01 wait of a whole issuance; newOrder at once.
FIRST_FAILURE = {"newOrder": 60, "finalize": ISSUANCE, "certificate": ISSUANCE}
# The retries: 5 + 10 + 20 s; each sync that failed before reaching the CA takes a step too: one was skipped on
# local (5, 20, 40 s), two on kind under CI's load (5, 40, 80 s: the Order's status write hit an optimistic-lock
# conflict, then a sync finalized a stale copy without its finalize URL, `Post "": unsupported protocol scheme`).
# Two allowed, and a margin for load.
RETRIES_WITHIN = STEPS[0] + STEPS[3] + STEPS[4] + 30


def on_the_ladder(gap: float) -> float | None:
    """The doubling step a gap between two attempts is, None if it is none of them."""
    return next((step for step in STEPS if abs(gap - step) <= step * GAP_TOLERANCE[0] + GAP_TOLERANCE[1]), None)


@pytest.mark.parametrize("endpoint, status", [("newOrder", 503), ("finalize", 500), ("certificate", 500)])
def test_a_failing_endpoint_is_retried_with_backoff_and_the_same_request_completes(
        scenario, lab, kube, namespace, acme_issuer, endpoint, status):
    name, subject = "web", f"Certificate {namespace}/web"
    # Catches a controller that treats a 5xx as the CA's final word (Order errored, request failed, 1 h backoff).
    clean = all_of(not_(order_state(kube, namespace, name, "errored")),
                   certificate_status_field(kube, namespace, name, "failedIssuanceAttempts", is_set=False),
                   certificate_request_count(kube, namespace, name, 1))
    with scenario.fault(AcmeServerError(acme_issuer.acme, endpoint, status)):
        since = time.time()
        create_certificate(kube, namespace, certificate(name, acme_issuer.ref, [acme_issuer.dns_name(name)]))
        scenario.expect(acme_requests(acme_issuer.acme, endpoint, faulted=True, since=since),
                        subject=f"the CA ({acme_issuer.acme.name})", expected=f"{endpoint} answered {status}",
                        within=FIRST_FAILURE[endpoint], detects=True)
        scenario.expect(holds_until(clean, acme_requests(acme_issuer.acme, endpoint, at_least=ATTEMPTS,
                                                         faulted=True, since=since)),
                        subject=f"the CA ({acme_issuer.acme.name})",
                        expected=f"{ATTEMPTS} attempts at {endpoint}, nothing failed meanwhile",
                        within=RETRIES_WITHIN)
    failed = [r.at for r in acme_issuer.acme.requests() if r.at >= since and r.endpoint == endpoint and r.fault]
    spacing = gaps(failed[:ATTEMPTS])
    # The sync that made the Order ready (finalize) also wrote its status, and that update event syncs the Order
    # once more as soon as a worker gets to it (0.1 s seen): an extra attempt before the first step, which counts
    # as a failure in the rate limiter (the ladder then skips 10 s). Not a retry: left out, as one at most.
    extra = bool(spacing) and spacing[0] < BASE and on_the_ladder(spacing[0]) is None
    regular = gaps([failed[0], *failed[2:ATTEMPTS]] if extra else failed[:ATTEMPTS])
    steps = [on_the_ladder(gap) for gap in regular]
    scenario.note(f"{endpoint} retry spacing", gaps=spacing, regular_gaps=regular, steps=steps)
    # Catches a retry storm (gaps under 5 s), a fixed or linear retry (off the ladder, or no growth), a
    # controller that gives up (fewer attempts: the wait above), or one that starts over at 5 s each time.
    assert (len(steps) >= 2 and steps[0] == BASE and None not in steps and steps == sorted(steps)
            and steps[-1] >= 4 * BASE), (
        f"{endpoint} should be retried with backoff doubling from {BASE} s (5, 10, 20 s apart; a step may be "
        f"skipped; besides one sync on the Order's status update), but the CA saw attempts {spacing} s apart")
    # Once the endpoint is back the next retry is up to two doublings past the last gap, then the rest of an issuance.
    scenario.expect(holds_until(clean, certificate_done_issuing(kube, namespace, name)), subject=subject,
                    expected="issued by the same request once the endpoint is back, nothing failed",
                    within=4 * steps[-1] + ISSUANCE, recovers=True)
    if endpoint == "certificate":
        # Catches a controller that finalizes the valid Order again on each retry instead of fetching its
        # certificate alone: the lab's CA takes the second finalize, and such a mutant passed every check above.
        finalized = [r.at for r in acme_issuer.acme.requests() if r.at >= since and r.endpoint == "finalize"]
        scenario.note("finalize requests of the issuance", at=finalized)
        assert len(finalized) == 1, (f"the valid Order should be finalized once and its certificate fetched alone "
                                     f"on each retry, but the CA saw {len(finalized)} finalize requests")
