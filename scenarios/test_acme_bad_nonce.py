"""Nonce rejection: the CA answers half of the signed requests 400 badNonce (a CA behind a load balancer
whose nonce store lost its state; Pebble's PEBBLE_WFE_NONCEREJECT does it for the whole CA).

Spec (cert-manager v1.11.5, from its source): badNonce is the one error the ACME client retries itself.
golang.org/x/crypto/acme (v0.5.0, its go.mod) post() drops every cached nonce on a badNonce and asks
cert-manager's RetryBackoff (pkg/acme/util/util.go), which retries a 400 after 1 s (+ up to 1 s jitter),
then 2 s, then 3 s, at most 5 times; the retry is signed anew with a fresh nonce. Nothing above the client
sees it: no Order errored, no CertificateRequest failed, failedIssuanceAttempts unset, and the issuance
completes in about the time of a clean one (a second or two more per rejected request).
Evidence: the layer's journal (each rejected POST, the retry of the same URL: its delay and its nonce), the
Certificate's status and its requests, the Orders' states.
"""

from __future__ import annotations

import time

from harness.scenario_api import (
    ISSUANCE, AcmeBadNonce, Seen, acme_requests, all_of, certificate, certificate_done_issuing,
    certificate_request_count, certificate_status_field, create_certificate, holds_until, not_, order_state,
    retries,
)

RATE = 0.5  # every other signed request: each is rejected once and passes on its retry
# RetryBackoff's first delay is 1 s + 1..1000 ms of jitter; the margin covers a loaded machine's scheduling.
FIRST_RETRY = (1.0, 2.0 + 1.5)
# A clean issuance plus ~2 s for each of the ~10 rejected requests of one.
WITHIN = ISSUANCE + 30
REJECTED_AT_LEAST = 4  # an issuance signs newOrder, authorization, challenge, finalize, order and certificate requests


def retry_windows_over(route, since: float):
    """Seen(ok) once every rejected request since `since` has its retry or is older than FIRST_RETRY allows."""
    def condition() -> Seen:
        pending = [r.failed.endpoint for r in retries([q for q in route.requests() if q.at >= since])
                   if r.retry is None and time.time() - r.failed.at <= FIRST_RETRY[1]]
        return Seen(not pending, {"awaiting a retry": pending})
    return condition


def test_rejected_nonces_are_retried_by_the_client_with_fresh_nonces_and_issuance_completes(
        scenario, lab, kube, namespace, acme_issuer):
    name, subject = "web", f"Certificate {namespace}/web"
    with scenario.fault(AcmeBadNonce(acme_issuer.acme, rate=RATE)):
        since = time.time()
        create_certificate(kube, namespace, certificate(name, acme_issuer.ref, [acme_issuer.dns_name(name)]))
        scenario.expect(acme_requests(acme_issuer.acme, faulted=True, since=since),
                        subject=f"the CA ({acme_issuer.acme.name})", expected="a request answered badNonce",
                        within=60, detects=True)
        # Catches a client that passes badNonce up: the Order errors, the request fails, a backoff starts.
        clean = all_of(not_(order_state(kube, namespace, name, "errored")),
                       certificate_status_field(kube, namespace, name, "failedIssuanceAttempts", is_set=False),
                       certificate_request_count(kube, namespace, name, 1))
        scenario.expect(holds_until(clean, certificate_done_issuing(kube, namespace, name)), subject=subject,
                        expected="issued through the rejections: one request, no Order errored, no failure",
                        within=WITHIN)
    # A request rejected in the issuance's last seconds is judged once its retry window is over.
    scenario.expect(retry_windows_over(acme_issuer.acme, since), subject=f"the CA ({acme_issuer.acme.name})",
                    expected="every rejected request retried, or its retry window over", within=FIRST_RETRY[1] + 10)
    found = retries([r for r in acme_issuer.acme.requests() if r.at >= since])
    summary = [(r.failed.endpoint, r.gap, r.retry is not None and r.retry.nonce != r.failed.nonce) for r in found]
    scenario.note("badNonce answers and their retries (endpoint, seconds later, fresh nonce)", retries=summary)
    assert len(found) >= REJECTED_AT_LEAST, f"at least {REJECTED_AT_LEAST} rejected requests, saw {summary}"
    # Catches a client that gives up on a badNonce (no retry of the URL) or retries at once, in a tight loop.
    late = [s for s, r in zip(summary, found) if r.gap is None or not FIRST_RETRY[0] <= r.gap <= FIRST_RETRY[1]]
    assert not late, (f"each rejected request is retried {FIRST_RETRY[0]}-{FIRST_RETRY[1]} s later "
                      f"(RetryBackoff's first step), but these were not: {late}")
    # Catches a client that resends the rejected nonce (Pebble never saw it used: only the layer can tell).
    stale = [s for s, r in zip(summary, found) if r.retry.nonce in (None, r.failed.nonce)]
    assert not stale, f"each retry carries a fresh nonce, but these reused the rejected one: {stale}"
