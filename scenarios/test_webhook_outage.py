"""Webhook unavailability: cert-manager's admission webhook is unreachable, or slower than its timeout.

Spec: with failurePolicy Fail, creating or updating cert-manager resources is rejected because the API
server fails calling the webhook (connection refused when it is down, a timeout when it is slower than its
10 s timeoutSeconds, the chart's default): an error distinct from the working webhook's validation denial.
A renewal that falls due during the outage (status.renewalTime passes) does not complete (cert-manager
cannot even write the CertificateRequest); once the webhook is back the renewal completes by itself.
Alerts: an outage shorter than RenewalOverdue's grace (lab 120 s past renewalTime, production 1 h) pages
no one: no alert of the Certificate is pending or firing at any poll of the outage although its renewal is
due and blocked, and none once it renewed. The default rules have no alert on the webhook itself (a finding:
an outage is invisible to them until a blocked renewal is an hour overdue; a Certificate that cannot even be
created has no metric to alert on). The slow webhook's scenario pages no one either.
Evidence: the API server's rejection messages (for an invalid probe with the webhook up, for a valid one
during the outage), the Certificate's renewalTime and revision, the journal's alert entries.
"""

from __future__ import annotations

from harness.scenario_api import (
    REFUSED, TIMED_OUT, ProxyDown, ProxyLatency, all_of, certificate, certificate_done_issuing, certificate_labels,
    certificate_status_field, certificates_quiet, create_certificate, denied_by_webhook, holds_throughout,
    invalid_probe, no_alert_firing, renewal_due, webhook_unreachable,
)

ISSUED = 30  # a CA issuer signs in well under a second; the margin covers a loaded CI machine
# The certificate renews itself RENEWS_AFTER seconds after issuance, so the renewal falls due while the
# webhook is down (the outage starts right after issuance and lasts longer than that).
RENEWS_AFTER = 20
OUTAGE = RENEWS_AFTER + 15
# What the working webhook says about a Certificate with no names (cert-manager's validation): the words every
# release shares (v1.11 goes on "dnsNames, uris ipAddresses, or emailAddresses must be set", v1.20 "(from the
# commonName field or from a literalSubject), dnsNames, uriSANs, emailSANs, ipAddresses or otherNames ...").
VALIDATION = "at least one of commonName"
# cert-manager's issuing queue backs off on errors; after an outage of this length it retries within ~30 s.
RECOVERY = 60
WEBHOOK_TIMEOUT_MS = 10_000  # timeoutSeconds registered for the webhook (the chart's default)
QUIET_WITHIN = 15  # Prometheus scrapes every second and evaluates the rules every second; margin for load


def renewing_certificate(issuer_ref):
    duration = 3600  # cert-manager's minimum duration is one hour
    return certificate("web", issuer_ref, ["web.example"], duration=f"{duration}s",
                       renewBefore=f"{duration - RENEWS_AFTER}s")


def test_outage_rejects_changes_and_blocks_a_due_renewal_until_recovery(scenario, lab, kube, namespace, ca_issuer, isolated_webhook):
    subject = f"Certificate {namespace}/web"
    create_certificate(kube, namespace, renewing_certificate(ca_issuer))
    scenario.steady_state(all_of(certificate_done_issuing(kube, namespace, "web"),
                                 certificate_status_field(kube, namespace, "web", "revision", equals=1)),
                          subject=subject, expected="issued once", within=ISSUED)
    # A working webhook's denial must not pass for an outage: prove the outage check tells them apart.
    denial = scenario.steady_state(denied_by_webhook(kube, namespace, reason=VALIDATION), subject="invalid Certificate create",
                                   expected="denied by the webhook's validation", within=15)
    assert not webhook_unreachable(kube, namespace, probe=invalid_probe)(), (
        f"a validation denial ({denial['message']}) must not count as the webhook being unreachable")
    with scenario.fault(ProxyDown(isolated_webhook)):
        scenario.expect(webhook_unreachable(kube, namespace, causes=REFUSED), subject="Certificate create",
                        expected="rejected: failed calling webhook, connection refused", within=15, detects=True,
                        probe=True)  # cert-manager shows nothing: only a client's request finds the webhook down
        scenario.expect(all_of(renewal_due(kube, namespace, "web"),
                               certificate_status_field(kube, namespace, "web", "revision", equals=1)),
                        subject=subject, expected="renewal due (renewalTime passed) and not renewed",
                        within=RENEWS_AFTER + 10)
        # Due and blocked for less than RenewalOverdue's grace: no page yet, at any poll.
        scenario.expect(holds_throughout(all_of(certificate_status_field(kube, namespace, "web", "revision", equals=1),
                                                no_alert_firing(lab.alerts, certificate_labels(namespace, "web"),
                                                                include_pending=True)),
                                         OUTAGE - RENEWS_AFTER),
                        subject=subject, expected="still not renewed while the webhook is down, no alert active",
                        within=OUTAGE - RENEWS_AFTER + 15)
    scenario.expect(all_of(certificate_done_issuing(kube, namespace, "web"),
                           certificate_status_field(kube, namespace, "web", "revision", at_least=2)),
                    subject=subject, expected="renewed once the webhook is back", within=RECOVERY, recovers=True)
    scenario.steady_state(certificates_quiet(lab.alerts, namespace, ["web"]), subject=f"alerts of {subject}",
                          expected="seen Ready by Prometheus, none active once renewed", within=QUIET_WITHIN)


def test_webhook_slower_than_its_timeout_behaves_like_one_that_is_down(scenario, lab, kube, namespace, ca_issuer, isolated_webhook):
    with scenario.fault(ProxyLatency(isolated_webhook, WEBHOOK_TIMEOUT_MS + 5_000)):
        scenario.expect(webhook_unreachable(kube, namespace, causes=TIMED_OUT), subject="Certificate create",
                        expected="rejected: the call to the webhook timed out", within=60, detects=True, probe=True)
    create_certificate(kube, namespace, certificate("web", ca_issuer, ["web.example"]))
    scenario.expect(certificate_done_issuing(kube, namespace, "web"), subject=f"Certificate {namespace}/web",
                    expected="issued once the webhook is fast again", within=ISSUED, recovers=True)
    scenario.steady_state(certificates_quiet(lab.alerts, namespace, ["web"]), subject=f"alerts of Certificate {namespace}/web",
                          expected="seen Ready by Prometheus, none active once issued", within=QUIET_WITHIN)
