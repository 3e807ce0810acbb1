"""A slow finalize: the CA takes 20 s to answer finalize (its signing backed up), every other endpoint is
prompt.

Spec (cert-manager v1.11.5, from its source): one ACME request may take up to 90 s
(pkg/acme/accounts/client.go defaultACMEHTTPTimeout), so the client waits the finalize out: the CA signs
once, for a finalize whose answer cert-manager stayed connected for; no failure anywhere, the issuance
completes by the first request, only later. A finalize can be made once: a repeated one is answered 403 and
finalizeOrder's 403 branch fetches the order, finds it valid and takes its certificate (sync.go: "the order
may already be finalized ... the reconciler failed to update the status of the Order CR"). Seen here: after
the 20 s finalize the Order's status write conflicted ("the object has been modified"), the next sync
finalized again, got 403, and completed from the valid order.
Evidence: the layer's journal (finalize requests: answers, durations, whether the client waited for each),
the Certificate's status and requests.
"""

from __future__ import annotations

import time

from harness.scenario_api import (
    ISSUANCE, AcmeSlowFinalize, acme_requests, all_of, certificate, certificate_done_issuing,
    certificate_request_count, certificate_status_field, create_certificate, holds_until, not_, order_state,
)

DELAY = 20.0  # seconds finalize takes: far beyond a second, well within the client's 90 s


def test_a_slow_finalize_is_waited_out_by_one_request_and_issuance_completes(
        scenario, lab, kube, namespace, acme_issuer):
    name, subject, acme = "web", f"Certificate {namespace}/web", acme_issuer.acme
    # Catches a client timeout shorter than the delay (the retry would be refused, the Order errored).
    clean = all_of(not_(order_state(kube, namespace, name, "errored")),
                   certificate_status_field(kube, namespace, name, "failedIssuanceAttempts", is_set=False),
                   certificate_request_count(kube, namespace, name, 1))
    with scenario.fault(AcmeSlowFinalize(acme, DELAY)):
        since = time.time()
        create_certificate(kube, namespace, certificate(name, acme_issuer.ref, [acme_issuer.dns_name(name)]))
        scenario.expect(acme_requests(acme, "finalize", since=since), subject=f"the CA ({acme.name})",
                        expected="finalize answered, late", within=ISSUANCE + DELAY, detects=True)
        scenario.expect(holds_until(clean, certificate_done_issuing(kube, namespace, name)), subject=subject,
                        expected="issued by the one slow finalize, nothing failed", within=30)
    finalized = [r for r in acme.requests() if r.at >= since and r.endpoint == "finalize"]
    seen = [(r.status, r.seconds, "gone" if r.abandoned else "waited") for r in finalized]
    scenario.note("finalize requests (status, seconds, did the client wait)", finalized=seen)
    # Catches a client whose timeout is shorter than the CA's answer: it closes the connection and finalizes
    # again, and the certificate it gets is not the answer it asked for.
    assert [r.status for r in finalized if r.status == 200] == [200] and finalized[0].status == 200, (
        f"the CA signs once, at the first finalize, but it saw {seen}")
    assert not any(r.abandoned for r in finalized) and finalized[0].seconds >= DELAY, (
        f"cert-manager waits {DELAY} s for the finalize's answer (its client allows 90 s), but it saw {seen}")
    # A repeated finalize is answered 403 (already finalized) and absorbed; more than one repeat is a loop.
    assert all(r.status == 403 for r in finalized[1:]) and len(finalized) <= 2, (
        f"at most one repeated finalize, answered 403, but the CA saw {seen}")
