"""Expiry at the CA: an order expires before it is finalized, or an authorization before its challenge is
accepted (an issuance stalled past the CA's lifetimes: Let's Encrypt keeps a pending order or authorization
7 days). The CA answers as Pebble answers for an expired one (wfe.go: finalize 404 malformed "Order ...
expired", a challenge 400 malformed "Authorization expired") and shows it "invalid" / "expired" from then on.

Spec (cert-manager v1.11.5, from its source): neither is retried by the ACME client (only a 400 badNonce is,
pkg/acme/util/util.go), and neither order can complete, so the issuance fails once and a new order comes
after the issuance backoff, never a retry of the dead one. Order: finalizeOrder marks the Order errored on
any 4xx but 403 ("Failed to finalize Order: ..."). Authorization: acceptChallenge's handleError marks the
Challenge expired on `malformed` (pkg/controller/acmechallenges/sync.go), the Order follows the CA's order
state to invalid (acmeorders sync.go: anyChallengesFailed). Either way the request fails,
failedIssuanceAttempts is 1 and, once the backoff ends (lastFailureTime backdated here), a new order with a
new authorization issues the certificate.
Evidence: the layer's journal (finalize / challenge requests per URL), the Order's and Challenge's states and
reasons, the Certificate's status.
"""

from __future__ import annotations

import time

import pytest

from harness.scenario_api import (
    ISSUANCE, AcmeAuthorizationExpired, AcmeOrderExpired, acme_requests, all_of, backdate_last_failure,
    certificate, certificate_done_issuing, certificate_status_field, challenge_state, create_certificate,
    holds_throughout, issuance_backoff, not_, order_reason_contains, order_state, statuses_per_url,
)

# Seconds with no second request to the expired order's finalize / the expired authorization's challenge
# after the failure: the orders and challenges queues' retries of a kept error (5, 10, 20 s) make three.
QUIET = 30


def _order_expired(kube, namespace, name):
    # Catches a controller that treats the CA's 404 as transient (the Order would stay ready, retried).
    return all_of(order_state(kube, namespace, name, "errored"), order_reason_contains(kube, namespace, name, "expired"))


def _authorization_expired(kube, namespace, name):
    # Catches a controller that keeps waiting on the dead authorization (Challenge pending, Order pending).
    return all_of(challenge_state(kube, namespace, name, "expired"), order_state(kube, namespace, name, "invalid"))


# fault, the request it answers, its status there, what cert-manager must show
EXPIRIES = {
    "order": (AcmeOrderExpired, "finalize", 404, _order_expired, "Order errored: the order expired"),
    "authorization": (AcmeAuthorizationExpired, "challenge", 400, _authorization_expired,
                      "Challenge expired, Order invalid"),
}


@pytest.mark.parametrize("expired", sorted(EXPIRIES))
def test_an_expired_order_or_authorization_fails_the_issuance_once_and_a_new_order_issues(
        scenario, lab, kube, namespace, acme_issuer, expired):
    name, subject, acme = "web", f"Certificate {namespace}/web", acme_issuer.acme
    fault, endpoint, status, shows, shown = EXPIRIES[expired]
    with scenario.fault(fault(acme)):
        since = time.time()
        create_certificate(kube, namespace, certificate(name, acme_issuer.ref, [acme_issuer.dns_name(name)]))
        scenario.expect(acme_requests(acme, endpoint, faulted=True, since=since), subject=f"the CA ({acme.name})",
                        expected=f"{endpoint} answered: {expired} expired", within=ISSUANCE, detects=True)
        scenario.expect(shows(kube, namespace, name), subject=f"ACME resources of {subject}", expected=shown,
                        within=30)
        failed = certificate_status_field(kube, namespace, name, "failedIssuanceAttempts", equals=1)
        scenario.expect(failed, subject=subject, expected="the issuance failed once", within=30)
        # Catches a controller that retries the dead order or authorization instead of starting a new order.
        scenario.expect(holds_throughout(all_of(failed, not_(acme_requests(acme, endpoint, at_least=2, since=since))),
                                         QUIET),
                        subject=f"the CA ({acme.name})", expected=f"no second {endpoint} request for {QUIET} s",
                        within=QUIET + 15)
    backdate_last_failure(kube, namespace, name, issuance_backoff(1))  # the backoff is over now
    scenario.expect(certificate_done_issuing(kube, namespace, name), subject=subject,
                    expected="issued by a new order once the backoff ended", within=ISSUANCE + 30, recovers=True)
    per_url = statuses_per_url(acme.requests(), endpoint, since)
    scenario.note(f"{endpoint} requests per URL", requests=per_url)
    # Catches a retry of the dead one after the backoff (the same URL twice) instead of a new order. The new one's
    # finalize may come again once answered: cert-manager's Order status write can conflict ("the object has been
    # modified"), the next sync finalizes again, the CA answers 403 (already finalized) and sync.go's 403 branch
    # takes the certificate from the valid order (seen on kind; test_acme_slow_finalize.py).
    answers = list(per_url.values())  # first asked first
    assert (len(answers) == 2 and answers[0] == [status] and answers[1][0] == 200
            and set(answers[1][1:]) <= {403}), (
        f"one {endpoint} of the expired {expired} ({status}), then a new order's (200; a repeated finalize answered "
        f"403), but the CA saw {per_url}")
