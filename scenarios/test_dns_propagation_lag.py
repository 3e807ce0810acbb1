"""DNS propagation lag: the challenge TXT record is published, but a resolver does not see it yet.

Spec: when cert-manager's self-check asks a lagging resolver, it re-checks every --dns01-check-retry-period
until it sees the record, then waits 60 s more before it lets the CA validate, and the CA validates once,
successfully. When the CA's resolver lags behind what the self-check sees, validation fails: the
Certificate is Issuing=False and Ready=False with reason Failed and a Warning "Failed" Event, the ready
metric says False, failedIssuanceAttempts counts exactly the failures, lastFailureTime is set, and the
trigger controller starts the next attempt at lastFailureTime + 1 h * 2^(failures-1), none before (observed
by moving lastFailureTime back through the status subresource, as the hours passing would: no attempt until
the backoff's end, a new CertificateRequest at it); that attempt succeeds once DNS caught up and clears both
failure fields; a change of the Certificate's spec skips the backoff.
Alerts: while the self-check waits out the lag, CertManagerCertificateNotReady for the Certificate is
pending (the stall is visible) and goes inactive once it is issued; whether it fires is not asserted: the
lab's `for:` (120 s, the floor of one issuance) is only 16-25 s longer than this issuance (95-104 s measured),
while production's 10 minutes would never page on a 25 s lag. A failed validation with the 1 h issuance
backoff must page: NotReady fires for the Certificate (the lab's 120 s after it first was not Ready) and
Alertmanager notifies, also after a spec change failed again; a successful manual renewal clears it.
Evidence: the fake DNS log (self-check and CA queries, their times and answers), Challenge reasons, the
Certificate's conditions and status fields, its Events, the ready metric, the CertificateRequest count,
the controller's own "Issuance will next be attempted at" log line, the journal's alert and notification
entries.
"""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from harness.scenario_api import (
    CERTIFICATE, DNS01_CHECK_RETRY_PERIOD, DNS01_CHECK_WAIT, ISSUANCE, NOT_READY, Limit, PropagationLag,
    alert_state, all_of, backdate_last_failure, ca_answers, certificate, certificate_condition,
    certificate_done_issuing, certificate_event, certificate_labels, certificate_ready_metric,
    certificate_request_condition, certificate_request_count, certificate_request_replaced,
    certificate_status_field, challenge_reason_contains, controller_flag, controller_log, create_certificate, epoch,
    first_seen, gaps, get, go_duration_seconds, holds_throughout, issuance_backoff, issuance_backoff_announced,
    next_issuance_attempts, notification_received, order_state, related, txt_queries,
)

SELF_CHECK_LAG = 25  # seconds the self-check's resolver lags: two or three re-checks, enough to measure them
# The CA's resolver must still lag when the CA asks, i.e. longer than the self-check plus its sleep.
CA_LAG = DNS01_CHECK_WAIT + 60
BACKOFF_WINDOW = 20  # seconds in which no new attempt may start after the failure (the backoff is 1 h)
# The backoff's end, compressed: lastFailureTime is moved back so the backoff ends this many seconds later.
BACKOFF_ENDS_IN = 20
# The trigger controller re-checks at the backoff's end to the second (a work-queue AddAfter of the
# remaining delay) and the new CertificateRequest follows within a second or two; limits of the spec: a
# controller that retries earlier (a shorter backoff) or misses the end (no recheck) fails them.
RETRY_EARLY = 3
RETRY_LATE = 10
# The controller's clock and lastFailureTime (stored to the second) against the time it announces.
ANNOUNCED_WITHIN = 2
# A spec change re-triggers through the informers: a new request ~2-7 s later here (key generation,
# approval); 15 s covers a loaded machine.
SPEC_CHANGE_STARTS = 15
# Re-check spacing: the queue's AddAfter fires on time; a check takes milliseconds plus load.
RETRY_SLACK = 3
# From the self-check's first sight of the record: the 60 s sleep, then accepting the challenge and the
# CA's validation (milliseconds here); 20 s covers a loaded machine.
CA_ASKS_WITHIN = DNS01_CHECK_WAIT + 20
FAILED = "The certificate request has failed to complete and will be retried"
# NotReady goes pending at the rule's next evaluation (1 s) after the ready metric says False, which it does
# within seconds of the Certificate's creation; 30 s covers a loaded machine.
PENDING_WITHIN = 30
# The lab rule fires ISSUANCE (its `for:`, 120 s) after the Certificate first was not Ready; waited for after
# the first failure (~70 s after creation) or later. A scrape of cert-manager that times out on a loaded
# machine makes the series stale and restarts the `for:` (seen once in a catalogue run): ISSUANCE from the
# wait's start covers one such restart, plus 30 s for rule evaluation under load.
FIRING_WITHIN = ISSUANCE + 30
NOTIFIED_WITHIN = 30  # Alertmanager's group_wait is 1 s; 30 s for a loaded machine
CLEARS_WITHIN = 30  # Ready is scraped within a second, the alert goes inactive at the next evaluation


def retry_period(lab) -> float:
    value = controller_flag(lab.info.controller_pid_file, "--dns01-check-retry-period")
    return DNS01_CHECK_RETRY_PERIOD if value is None else go_duration_seconds(value)


def failed_attempt(kube, lab, namespace: str, name: str, attempts: int):
    """The Certificate's state after its `attempts`-th failed issuance, as cert-manager must show it."""
    return all_of(certificate_status_field(kube, namespace, name, "failedIssuanceAttempts", equals=attempts),
                  certificate_status_field(kube, namespace, name, "lastFailureTime", is_set=True),
                  certificate_condition(kube, namespace, name, "Issuing", "False", reason="Failed"),
                  certificate_done_issuing(kube, namespace, name, ready="False"),
                  certificate_ready_metric(lab.info.metrics_url, namespace, name, condition="False"))


def assert_retried_when_the_backoff_ends(scenario, kube, namespace: str, name: str, attempts: int) -> None:
    """Let 1 h * 2^(attempts-1) minus BACKOFF_ENDS_IN pass since the last failure (lastFailureTime moved
    back): the trigger controller must start no attempt before the backoff's end and one at it."""
    subject = f"Certificate {namespace}/{name}"
    failed_request = related(kube, namespace, name, acme=False).latest_request["metadata"]["name"]
    backoff = issuance_backoff(attempts)
    failed_at = backdate_last_failure(kube, namespace, name, backoff - BACKOFF_ENDS_IN)
    due = failed_at + backoff
    scenario.note("issuance backoff shortened", attempts=attempts, backoff=backoff, last_failure=failed_at, due=due)
    scenario.expect(holds_throughout(certificate_request_condition(kube, namespace, name, "Ready", "False", "Failed"),
                                     max(due - time.time() - RETRY_EARLY, 0)),
                    subject=subject, expected=f"no new attempt before lastFailureTime + {backoff} s",
                    within=BACKOFF_ENDS_IN + 10)
    scenario.expect(certificate_request_replaced(kube, namespace, name, failed_request), subject=subject,
                    expected=f"a new attempt (request) at lastFailureTime + {backoff} s",
                    within=Limit(max(due - time.time(), 0) + RETRY_LATE))
    started = epoch(related(kube, namespace, name, acme=False).latest_request["metadata"]["creationTimestamp"])
    scenario.note("figure: retry after the backoff's end", seconds=round(started - due, 1))


def assert_backoff_announced(scenario, kube, lab, namespace: str, name: str, attempts: int) -> None:
    """The controller states the next attempt at lastFailureTime + 1 h * 2^(attempts-1)."""
    scenario.expect(issuance_backoff_announced(controller_log(lab.info.kubeconfig), namespace, name, at_least=attempts),
                    subject="cert-manager trigger controller", expected=f"to announce backoff #{attempts}",
                    within=10)  # logged on the status update that recorded the failure
    failed_at = epoch(get(kube, CERTIFICATE, namespace, name)["status"]["lastFailureTime"])
    announced = next_issuance_attempts(controller_log(lab.info.kubeconfig), namespace, name)[-1]
    want = failed_at + issuance_backoff(attempts)
    scenario.note("issuance backoff", attempts=attempts, last_failure=failed_at, announced=announced, expected=want)
    assert abs(announced - want) <= ANNOUNCED_WITHIN, (
        f"after {attempts} failure(s) the next attempt should be lastFailureTime + {issuance_backoff(attempts)} s "
        f"= {want:.0f}, but the controller announced {announced:.0f} ({announced - failed_at:+.0f} s)")


# Exclusive: the self-check's period and the 60 s wait before the CA is asked are the controller's own timing,
# which other scenarios' DNS-01 checks distort on a shared controller: its 5 challenge workers each sleep 60 s in
# a check, so a re-check queued 10 s ahead can wait for a free worker (35.9 s apart in a kind run beside 3 others).
@pytest.mark.exclusive
def test_self_check_waits_out_the_lag_and_the_ca_validates_once(scenario, lab, kube, namespace, acme_issuer):
    name, dns_name = "web", acme_issuer.dns_name("web")
    fqdn = f"_acme-challenge.{dns_name}."
    with scenario.fault(PropagationLag(lab.dns, acme_issuer.zone, SELF_CHECK_LAG, view="resolver")):
        create_certificate(kube, namespace, certificate(name, acme_issuer.ref, [dns_name]))
        scenario.expect(challenge_reason_contains(kube, namespace, name, "not yet propagated"),
                        subject=f"Challenge for {namespace}/{name}", expected="to wait for DNS propagation",
                        within=60, detects=True)
        scenario.expect(alert_state(lab.alerts, NOT_READY, certificate_labels(namespace, name), "pending"),
                        subject=f"alert {NOT_READY} for {namespace}/{name}", expected="pending while it waits",
                        within=PENDING_WITHIN)
        scenario.expect(certificate_done_issuing(kube, namespace, name), subject=f"Certificate {namespace}/{name}",
                        expected="Ready=True and done issuing", within=SELF_CHECK_LAG + ISSUANCE)
    scenario.expect(alert_state(lab.alerts, NOT_READY, certificate_labels(namespace, name), "inactive"),
                    subject=f"alert {NOT_READY} for {namespace}/{name}", expected="inactive once issued",
                    within=CLEARS_WITHIN)
    scenario.steady_state(certificate_done_issuing(kube, namespace, name), subject=f"Certificate {namespace}/{name}",
                          expected="Ready=True", within=10)
    answers = ca_answers(lab.dns, fqdn)
    assert answers and all(rcode == "NOERROR" and count > 0 for rcode, count in answers), (
        f"the CA's resolver should only ever have answered with the record, but answered {answers}")
    scenario.expect(certificate_request_count(kube, namespace, name, 1), subject=f"Certificate {namespace}/{name}",
                    expected="issued by its first CertificateRequest", within=5)

    # DNS-01 timing, from what the resolvers were asked.
    checks = txt_queries(lab.dns, fqdn, "resolver")
    seen = first_seen(checks)
    assert seen is not None, f"the self-check never saw the record: {checks}"
    misses = [q.at for q in checks if q.at <= seen.at]
    period = retry_period(lab)
    # A failed check re-queues the Challenge `period` later; the first one's status update (the Challenge's
    # reason) also syncs it once in between, as soon as the controller gets to it (0.1 s idle, 3.6 s measured
    # under load). That extra check does not move the queued one (a delaying queue keeps the earliest time), so
    # without it the checks fall every `period` from the first.
    spacing = gaps(misses)
    regular = [misses[0], *misses[2:]] if spacing and spacing[0] < period - 1 else misses
    scenario.note("self-check re-checks", period=period, gaps=spacing, regular_gaps=gaps(regular))
    assert len(regular) >= 2 and all(period - 1 <= gap <= period + RETRY_SLACK for gap in gaps(regular)), (
        f"the self-check should re-check every {period:g} s until it sees the record (besides one re-check on "
        f"its first status update), but asked {spacing} s apart")
    ca_first = txt_queries(lab.dns, fqdn, "ca_resolver")[0].at
    assert DNS01_CHECK_WAIT <= ca_first - seen.at <= CA_ASKS_WITHIN, (
        f"the CA should be let to validate {DNS01_CHECK_WAIT} s after the self-check saw the record, "
        f"but it asked {ca_first - seen.at:.1f} s after")


def test_ca_lag_fails_validation_and_the_retry_at_the_backoffs_end_succeeds_after_dns_caught_up(
        scenario, lab, kube, namespace, acme_issuer):
    name, dns_name = "web", acme_issuer.dns_name("web")
    subject = f"Certificate {namespace}/{name}"
    with scenario.fault(PropagationLag(lab.dns, acme_issuer.zone, CA_LAG, view="ca")):
        create_certificate(kube, namespace, certificate(name, acme_issuer.ref, [dns_name]))
        scenario.expect(order_state(kube, namespace, name, "invalid"), subject=f"Order for {namespace}/{name}",
                        expected="invalid (the CA could not see the TXT record)", within=ISSUANCE, detects=True)
        scenario.expect(failed_attempt(kube, lab, namespace, name, 1), subject=subject,
                        expected="Issuing=False/Ready=False (Failed), failedIssuanceAttempts=1, lastFailureTime, "
                                 "ready metric False", within=30)
        scenario.expect(certificate_event(kube, namespace, name, "Warning", "Failed", FAILED, "Certificate"),
                        subject=subject, expected="a Warning Failed Event", within=10)
        assert_backoff_announced(scenario, kube, lab, namespace, name, 1)
        # A new attempt would replace the failed request (same revision) with a pending one.
        scenario.expect(holds_throughout(certificate_request_condition(kube, namespace, name, "Ready", "False", "Failed"),
                                         BACKOFF_WINDOW),
                        subject=subject, expected=f"no new attempt for {BACKOFF_WINDOW}s (backoff)",
                        within=BACKOFF_WINDOW + 10)
        # Failed and backing off for an hour: it pages, ISSUANCE after it first was not Ready (~20 s from here).
        labels = certificate_labels(namespace, name)
        scenario.expect(alert_state(lab.alerts, NOT_READY, labels, "firing"), subject=f"alert {NOT_READY} for {subject}",
                        expected="firing (failed, backing off for an hour)", within=FIRING_WITHIN)
        scenario.expect(notification_received(lab.alerts, NOT_READY, {**labels, "severity": "page"}),
                        subject="the alert receiver", expected=f"a firing {NOT_READY} notification for {subject}",
                        within=NOTIFIED_WITHIN)
    answers = ca_answers(lab.dns, f"_acme-challenge.{dns_name}.")
    assert answers and all(count == 0 for _, count in answers), (
        f"the CA's resolver should not have seen the record while lagging, but answered {answers}")
    assert_retried_when_the_backoff_ends(scenario, kube, namespace, name, 1)
    # cert-manager replaces the failed CertificateRequest with a new one, so success is the first revision.
    scenario.expect(all_of(certificate_done_issuing(kube, namespace, name),
                           certificate_status_field(kube, namespace, name, "revision", equals=1),
                           certificate_status_field(kube, namespace, name, "failedIssuanceAttempts", is_set=False),
                           certificate_status_field(kube, namespace, name, "lastFailureTime", is_set=False)),
                    subject=subject, expected="issued by the retry after the backoff, failure fields cleared",
                    within=ISSUANCE, recovers=True)
    scenario.expect(certificate_event(kube, namespace, name, "Normal", "Issuing", "successfully issued", "Certificate"),
                    subject=subject, expected="a Normal Issuing Event for the issued certificate", within=10)
    scenario.expect(alert_state(lab.alerts, NOT_READY, labels, "inactive"), subject=f"alert {NOT_READY} for {subject}",
                    expected="inactive once issued", within=CLEARS_WITHIN)


def test_a_spec_change_skips_the_issuance_backoff(scenario, lab, kube, namespace, acme_issuer):
    name = "web"
    subject = f"Certificate {namespace}/{name}"
    names = [acme_issuer.dns_name("web")]
    with scenario.fault(PropagationLag(lab.dns, acme_issuer.zone, CA_LAG, view="ca")):
        create_certificate(kube, namespace, certificate(name, acme_issuer.ref, names))
        scenario.expect(failed_attempt(kube, lab, namespace, name, 1), subject=subject,
                        expected="the first issuance failed", within=ISSUANCE + 30, detects=True)
        assert_backoff_announced(scenario, kube, lab, namespace, name, 1)
        failed_request = related(kube, namespace, name, acme=False).latest_request["metadata"]["name"]
        # The user fixes the Certificate (one more name): no renewal by hand, the backoff must not apply.
        names.append(acme_issuer.dns_name("www"))
        client.CustomObjectsApi(kube).patch_namespaced_custom_object(
            CERTIFICATE.group, CERTIFICATE.version, namespace, CERTIFICATE.plural, name, {"spec": {"dnsNames": names}})
        scenario.expect(certificate_request_replaced(kube, namespace, name, failed_request), subject=subject,
                        expected="a new attempt (request) at once for the changed spec", within=SPEC_CHANGE_STARTS)
        # The CA still lags, so the second attempt fails too: the counter and the backoff grow.
        scenario.expect(failed_attempt(kube, lab, namespace, name, 2), subject=subject,
                        expected="the second issuance failed", within=ISSUANCE + 30)
        assert_backoff_announced(scenario, kube, lab, namespace, name, 2)
        # Not Ready since its creation (two issuances ago, more than the rule's 120 s): it pages.
        scenario.expect(alert_state(lab.alerts, NOT_READY, certificate_labels(namespace, name), "firing"),
                        subject=f"alert {NOT_READY} for {subject}", expected="firing after two failures",
                        within=FIRING_WITHIN)
    # The second backoff is twice the first: observed ending after 2 h, not 1 h (nor at once).
    assert_retried_when_the_backoff_ends(scenario, kube, namespace, name, 2)
    scenario.expect(all_of(certificate_done_issuing(kube, namespace, name),
                           certificate_status_field(kube, namespace, name, "failedIssuanceAttempts", is_set=False)),
                    subject=subject, expected="issued by the retry after the second backoff", within=ISSUANCE,
                    recovers=True)
