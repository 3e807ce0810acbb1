"""CA outage and latency: the ACME server is unreachable, or answers slowly.

Spec: while the CA is unreachable, issuance stalls with the connection error visible and the ACME client
metric counting requests that got no response (status "999"); once the CA is back, issuance resumes by
itself; the Certificate exists and says Ready=False all along the outage, and cert-manager keeps retrying
with backoff: more requests fail during the outage, but a bounded number (no retry storm against a CA that
is down; the orders queue backs off from 5 s, pkg/controller/util.go DefaultItemBasedRateLimiter). A slow CA (seconds per request)
slows issuance down but it completes, and cert-manager's own ACME request duration metric shows the delay.
Alerts: the outage pages CertManagerAcmeRequestErrors for this scenario's CA host (pending is skipped: its
lab `for:` is 0 s) and Alertmanager notifies; it goes inactive once the errors leave its rate window after
the CA is back. A slow CA whose requests all succeed fires no ACME error alert for its host while it
issues. Once issued, no alert of the scenario's namespace is active. CertManagerCertificateNotReady is not
asserted during the outage: the lab's `for:` (120 s, the floor of one issuance) is shorter than outage +
retry + issuance here, so it may fire where production's 10 minutes would not.
Evidence: the ACME request count by status and duration summary (sum/count) for this scenario's host
label, the Certificate's Ready condition, the alert and notification entries of the journal.
"""

from __future__ import annotations

from harness.scenario_api import (
    ACME_ERRORS, ISSUANCE, ProxyDown, ProxyLatency, acme_duration_totals, acme_request_total,
    acme_requests_at_least, alert_state, certificate, certificate_done_issuing, certificate_not_ready,
    certificate_ready, certificates_quiet, create_certificate, holds_throughout, holds_until, mean_durations,
    no_alert_firing, notification_received,
)

OUTAGE = 20  # seconds the CA stays down after cert-manager noticed
# Failed ACME requests from the creation to the outage's end (~35 s): an attempt at once and the backed-off
# retries after 5 and 10 s more make at least 2; a storm (no backoff) makes hundreds. Neither is the bound of
# a correct controller's count, which also holds the requests of each attempt (directory, nonce, order).
RETRIED_AT_LEAST = 2
STORM = 40
# After the outage, cert-manager's order retry backoff (seconds to a minute) plus a whole issuance.
RECOVERY = 90 + ISSUANCE
SLOW_MS = 2_000  # per response: well under cert-manager's ACME client timeout, so requests succeed late
# The ACME error rule's lab rate window is 20 s and its `for:` 0 s, evaluated every second: it fires within
# seconds of the first counted error (measured 9 s after the fault); 30 s covers a loaded machine.
ACME_ALERT_WITHIN = 30
NOTIFIED_WITHIN = 30  # Alertmanager's group_wait is 1 s; 30 s for a loaded machine
# After the last error the rate needs the 20 s window to drop to 0, then one evaluation; margin for load.
ACME_ALERT_CLEARS = 20 + 25
# Once Ready, the ready metric is scraped within a second and NotReady goes inactive at the next evaluation.
QUIET_WITHIN = 30


def test_issuance_stalls_while_the_ca_is_down_and_resumes_after(scenario, lab, kube, namespace, acme_issuer):
    subject = f"Certificate {namespace}/web"
    host = "%s:%d" % acme_issuer.proxy.listen  # the ACME metric's host label: this scenario's path to the CA
    baseline = acme_request_total(lab.info.metrics_url, status="999", host=host)
    with scenario.fault(ProxyDown(acme_issuer.proxy)):
        create_certificate(kube, namespace, certificate("web", acme_issuer.ref, [acme_issuer.dns_name("web")]))
        scenario.expect(acme_requests_at_least(lab.info.metrics_url, baseline + 1, status="999", host=host),
                        subject="ACME client", expected="requests without response counted", within=60, detects=True)
        scenario.expect(alert_state(lab.alerts, ACME_ERRORS, {"host": host}, "firing"),
                        subject=f"alert {ACME_ERRORS} for {host}", expected="firing", within=ACME_ALERT_WITHIN)
        scenario.expect(notification_received(lab.alerts, ACME_ERRORS, {"host": host, "severity": "warning"}),
                        subject="the alert receiver", expected=f"a firing {ACME_ERRORS} notification for {host}",
                        within=NOTIFIED_WITHIN)
        scenario.expect(certificate_not_ready(kube, namespace, "web"), subject=subject, expected="Ready=False",
                        within=15)  # the readiness controller writes it within a second of the creation
        scenario.expect(holds_throughout(certificate_not_ready(kube, namespace, "web"), OUTAGE), subject=subject,
                        expected="Ready=False all along while the CA is down", within=OUTAGE + 15)
        failed = acme_request_total(lab.info.metrics_url, status="999", host=host) - baseline
    scenario.note("figure: ACME requests that failed during the outage", requests=failed)
    assert RETRIED_AT_LEAST <= failed <= STORM, (
        f"cert-manager should retry a CA that is down with backoff ({RETRIED_AT_LEAST} to {STORM} failed "
        f"requests during the outage), but {failed} failed")
    scenario.expect(certificate_done_issuing(kube, namespace, "web"), subject=subject,
                    expected="issued once the CA is back", within=RECOVERY, recovers=True)
    scenario.expect(alert_state(lab.alerts, ACME_ERRORS, {"host": host}, "inactive"),
                    subject=f"alert {ACME_ERRORS} for {host}", expected="inactive again", within=ACME_ALERT_CLEARS)
    scenario.steady_state(certificates_quiet(lab.alerts, namespace, ["web"]), subject=f"alerts of {subject}",
                          expected="seen Ready by Prometheus, none active", within=QUIET_WITHIN)


def test_a_slow_ca_delays_issuance_but_it_completes(scenario, lab, kube, namespace, acme_issuer):
    subject = f"Certificate {namespace}/web"
    host = "%s:%d" % acme_issuer.proxy.listen  # the ACME metric's host label: this scenario's path to the CA
    before = acme_duration_totals(lab.info.metrics_url, host=host)  # the Issuer's registration, not slowed
    with scenario.fault(ProxyLatency(acme_issuer.proxy, SLOW_MS)):
        create_certificate(kube, namespace, certificate("web", acme_issuer.ref, [acme_issuer.dns_name("web")]))
        # Each of the ~10 ACME requests of an issuance waits SLOW_MS more. Slow is not failing: no ACME error
        # alert for this CA host at any poll until it is issued.
        scenario.expect(holds_until(no_alert_firing(lab.alerts, {"host": host}, [ACME_ERRORS], include_pending=True),
                                    certificate_done_issuing(kube, namespace, "web")), subject=subject,
                        expected=f"issued despite the slow CA, no {ACME_ERRORS} for {host} meanwhile",
                        within=ISSUANCE + 60)
        after = acme_duration_totals(lab.info.metrics_url, host=host)  # read while every request is slowed
    scenario.steady_state(certificate_ready(kube, namespace, "web"), subject=subject, expected="Ready=True", within=10)
    scenario.steady_state(certificates_quiet(lab.alerts, namespace, ["web"]), subject=f"alerts of {subject}",
                          expected="seen Ready by Prometheus, none active", within=QUIET_WITHIN)
    durations = mean_durations(before, after)
    scenario.note("ACME request durations (requests, mean s) by path", host=host, durations=durations)
    # Every request through the slow proxy waits SLOW_MS for its response, so every path's mean is at least that.
    assert durations and all(mean >= SLOW_MS / 1000 * 0.95 for _, mean in durations.values()), (
        f"cert-manager's ACME client should have measured requests of at least {SLOW_MS} ms to {host}, "
        f"but measured {durations}")
