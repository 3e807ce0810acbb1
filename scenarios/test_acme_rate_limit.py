"""ACME rate limit: the CA answers a due renewal's new order 429 rateLimited with Retry-After, as Let's
Encrypt answers an account over its new-orders limit (https://letsencrypt.org/docs/rate-limits/).

Spec (cert-manager v1.11.5, from its source): the ACME client retries only a 400 (pkg/acme/util/util.go
RetryBackoff answers -1 for every other status, so golang.org/x/crypto/acme's post() gives up on a 429 at
once), and the orders controller marks an Order whose creation got any 4xx errored, with the CA's problem as
its reason (pkg/controller/acmeorders/sync.go createOrder): exactly one newOrder request, no retry storm
against a CA that asked for quiet. The CertificateRequest fails, the Certificate records the failure
(failedIssuanceAttempts 1) and the trigger controller backs off 1 h (trigger_controller.go) although the
renewal is still due: cert-manager never reads Retry-After, it waits at least as long by its own schedule.
The old certificate stays in the Secret and Ready=True all along. Once the limit lifts and the backoff ends
(moved forward here by backdating lastFailureTime), the due renewal is retried by itself and completes with a
new order.
Evidence: the layer's journal (every newOrder request, its answer and time), the Order's state and reason, the
Certificate's status, the Secret's serial, the next attempt the controller announces.
"""

from __future__ import annotations

import time

from harness.scenario_api import (
    CERTIFICATE, ISSUANCE, SECRET, AcmeRateLimited, acme_requests, all_of, backdate_last_failure, certificate,
    certificate_done_issuing, certificate_ready, certificate_status_field, controller_log, create_certificate,
    epoch, get, holds_throughout, inspect_secret, issuance_backoff, issuance_backoff_announced,
    next_issuance_attempts, not_, order_reason_contains, order_state, secret_serial_changed,
)

# Let's Encrypt's new-orders limit refills over 3 hours; its 429 says when the next order would pass.
RETRY_AFTER = 1800
# Seconds without a second newOrder after the 429: the orders queue's retries of an error it kept (5, 10,
# 20 s: pkg/controller/acmeorders/controller.go) would make three in that time, a storm hundreds.
QUIET = 40
# The lab's Pebble issues for 3600 s (stack/pebble.py CERTIFICATE_VALIDITY): renewBefore this much shorter
# makes the renewal due that long after issuance, by cert-manager's own schedule, and again after the recovery
# (later than the scenario's end).
LIFETIME = 3600
RENEWS_AFTER = 90


def test_a_rate_limited_renewal_fails_once_keeps_the_old_certificate_and_waits_longer_than_asked(
        scenario, lab, kube, namespace, acme_issuer):
    name, subject = "web", f"Certificate {namespace}/web"
    create_certificate(kube, namespace, certificate(name, acme_issuer.ref, [acme_issuer.dns_name(name)],
                                                    renewBefore=f"{LIFETIME - RENEWS_AFTER}s"))
    scenario.steady_state(certificate_done_issuing(kube, namespace, name), subject=subject,
                          expected="Ready=True and done issuing", within=ISSUANCE)
    before = inspect_secret(get(kube, SECRET, namespace, name))
    log = controller_log(lab.info.kubeconfig)
    with scenario.fault(AcmeRateLimited(acme_issuer.acme, "newOrder", RETRY_AFTER)):
        since = time.time()
        scenario.expect(acme_requests(acme_issuer.acme, "newOrder", faulted=True, since=since),
                        subject=f"the CA ({acme_issuer.acme.name})",
                        expected="the due renewal's newOrder answered 429", within=RENEWS_AFTER + 30, detects=True)
        # Catches a controller that keeps the Order pending and retries it (a 4xx is the CA's final word).
        scenario.expect(all_of(order_state(kube, namespace, name, "errored"),
                               order_reason_contains(kube, namespace, name, "rateLimited")),
                        subject=f"Order of {subject}", expected="errored with the CA's rateLimited problem",
                        within=30)
        # Catches an issuance that is not counted as failed (no backoff at all) or counted twice.
        scenario.expect(all_of(certificate_status_field(kube, namespace, name, "failedIssuanceAttempts", equals=1),
                               issuance_backoff_announced(log, namespace, name)),
                        subject=subject, expected="failedIssuanceAttempts 1 and the next attempt announced",
                        within=30)
        # Catches a retry storm (or the orders queue's own retries), a trigger that retries a due renewal before
        # the backoff, and a renewal that drops the old certificate.
        scenario.expect(holds_throughout(all_of(
            certificate_ready(kube, namespace, name),
            not_(secret_serial_changed(kube, namespace, name, before.serial)),
            not_(acme_requests(acme_issuer.acme, "newOrder", at_least=2, since=since))), QUIET),
            subject=subject, expected=f"one newOrder only and the old certificate Ready for {QUIET} s",
            within=QUIET + 15)
    failed_at = epoch(get(kube, CERTIFICATE, namespace, name)["status"]["lastFailureTime"])
    announced = next_issuance_attempts(log, namespace, name)[-1]
    scenario.note("next attempt after the 429", retry_after=RETRY_AFTER, waits=round(announced - failed_at))
    # Catches a controller that comes back before the CA said it may (Retry-After not honoured, by any schedule).
    assert announced - failed_at >= RETRY_AFTER, (
        f"the CA asked for {RETRY_AFTER} s of quiet, but cert-manager announced its next attempt "
        f"{announced - failed_at:.0f} s after the failure")
    backdate_last_failure(kube, namespace, name, issuance_backoff(1))  # the backoff is over now
    # The renewal is still due: the trigger controller retries it by itself once the backoff is over.
    scenario.expect(secret_serial_changed(kube, namespace, name, before.serial), subject=f"Secret {namespace}/{name}",
                    expected="the due renewal retried by itself, once the limit lifted and the backoff ended",
                    within=ISSUANCE + 30, recovers=True)
    scenario.steady_state(certificate_done_issuing(kube, namespace, name), subject=subject,
                          expected="Ready=True and done issuing", within=30)
    orders = [r for r in acme_issuer.acme.requests() if r.endpoint == "newOrder" and r.at >= since]
    assert [r.status for r in orders] == [429, 201], (
        f"one rate-limited newOrder, then one that succeeds after the backoff, but the CA saw "
        f"{[(round(r.at - since, 1), r.status) for r in orders]}")
