"""Webhook unavailability: cert-manager's admission webhook is unreachable, or slower than its timeout.

Spec: with failurePolicy Fail, creating or updating cert-manager resources is rejected with the webhook's
error; a renewal that falls due during the outage does not complete (cert-manager cannot even write the
CertificateRequest); once the webhook is back the renewal completes by itself. A webhook slower than its
timeout (10 s, the chart's default) behaves like one that is down. Evidence: the API server's rejection
messages, the Certificate's revision and the Secret's serial.
"""

from __future__ import annotations

from harness.chaos.proxy_faults import ProxyDown, ProxyLatency
from harness.lab.certificates import certificate, create_certificate
from harness.observe.conditions.certificates import certificate_done_issuing, certificate_status_field
from harness.observe.conditions.general import all_of, holds_throughout
from harness.observe.conditions.webhook import rejected_by_webhook

ISSUED = 30  # a CA issuer signs in well under a second; the margin covers a loaded CI machine
# The certificate renews itself RENEWS_AFTER seconds after issuance, so the renewal falls due while the
# webhook is down (the outage starts right after issuance and lasts longer than that).
RENEWS_AFTER = 20
OUTAGE = RENEWS_AFTER + 15
# cert-manager's issuing queue backs off on errors; after an outage of this length it retries within ~30 s.
RECOVERY = 60
WEBHOOK_TIMEOUT_MS = 10_000  # timeoutSeconds registered for the webhook (the chart's default)


def renewing_certificate(issuer_ref):
    duration = 3600  # cert-manager's minimum duration is one hour
    return certificate("web", issuer_ref, ["web.example"], duration=f"{duration}s",
                       renewBefore=f"{duration - RENEWS_AFTER}s")


def test_outage_rejects_changes_and_blocks_a_due_renewal_until_recovery(scenario, kube, namespace, ca_issuer, isolated_webhook):
    subject = f"Certificate {namespace}/web"
    create_certificate(kube, namespace, renewing_certificate(ca_issuer))
    scenario.steady_state(all_of(certificate_done_issuing(kube, namespace, "web"),
                                 certificate_status_field(kube, namespace, "web", "revision", equals=1)),
                          subject=subject, expected="issued once", within=ISSUED)
    with scenario.fault(ProxyDown(isolated_webhook)):
        scenario.expect(rejected_by_webhook(kube, namespace), subject="Certificate create",
                        expected="rejected: failed calling webhook", within=15, detects=True)
        scenario.expect(holds_throughout(certificate_status_field(kube, namespace, "web", "revision", equals=1), OUTAGE),
                        subject=subject, expected="not renewed while the webhook is down", within=OUTAGE + 15)
    scenario.expect(all_of(certificate_done_issuing(kube, namespace, "web"),
                           certificate_status_field(kube, namespace, "web", "revision", at_least=2)),
                    subject=subject, expected="renewed once the webhook is back", within=RECOVERY, recovers=True)


def test_webhook_slower_than_its_timeout_behaves_like_one_that_is_down(scenario, kube, namespace, ca_issuer, isolated_webhook):
    with scenario.fault(ProxyLatency(isolated_webhook, WEBHOOK_TIMEOUT_MS + 5_000)):
        scenario.expect(rejected_by_webhook(kube, namespace), subject="Certificate create",
                        expected="rejected: the webhook timed out", within=60, detects=True)
    create_certificate(kube, namespace, certificate("web", ca_issuer, ["web.example"]))
    scenario.expect(certificate_done_issuing(kube, namespace, "web"), subject=f"Certificate {namespace}/web",
                    expected="issued once the webhook is fast again", within=ISSUED, recovers=True)
