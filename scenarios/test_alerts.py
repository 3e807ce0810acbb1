"""Alerts that page: a certificate that cannot be issued must page someone, through Alertmanager, while a
healthy certificate pages no one.

Spec: with the default rules (production thresholds scaled to the lab's 1-hour certificates, see
harness/alerts/rules.py), a Certificate whose DNS-01 credential is revoked before its first issuance has
CertManagerCertificateNotReady pending at once and firing after the rule's `for:` window, and a notification
carrying its name and namespace reaches the harness's receiver, while the fault demonstrably bites (the DNS
provider refuses the revoked key's updates and the Certificate stays not Ready until the alert fires: a
slow issuance alone must not pass for it); restoring the credential lets it issue and the alert goes
inactive. A Certificate issued without trouble leaves every alert of its namespace inactive
(neither pending nor firing) for a whole window. Evidence: the alert and notification entries of the
journal next to the fault, the fake DNS log's refused updates. (cert-manager absent is proved against a real Prometheus in
tests/integration/test_alerting.py: the lab's controller is shared, so stopping it here would page every
running scenario.)
"""

from __future__ import annotations

from harness.scenario_api import (
    CHALLENGE_BACKOFF_MAX, ISSUANCE, EntryKind, TsigKeyRevoked, alert_state, certificate, certificate_done_issuing,
    certificate_not_ready, create_certificate, holds_throughout, holds_until, no_alert_firing,
    notification_received, refused_updates,
)

NOT_READY = "CertManagerCertificateNotReady"
# The rule evaluates every second and the metric follows the Certificate's first status within seconds.
PENDING_WITHIN = 60
# The lab rule's `for:` is ISSUANCE (120 s, see harness/alerts/rules.py), plus 30 s for a loaded machine.
FIRING_WITHIN = ISSUANCE + 30
NOTIFIED_WITHIN = 30  # Alertmanager's group_wait is 1 s; 30 s for a loaded machine
# After the restore, the challenge's next retry is at most one backoff step away, then a whole issuance.
RECOVERY = CHALLENGE_BACKOFF_MAX + ISSUANCE
# Longer than any lab alert without `for:` needs to show, and pending ones show within a second.
QUIET_WINDOW = 30


def test_a_certificate_that_cannot_be_issued_pages_with_its_name_and_namespace(
        scenario, lab, kube, namespace, acme_issuer):
    name, labels = "web", {"namespace": namespace, "name": "web"}
    subject = f"alert {NOT_READY} for {namespace}/{name}"
    scenario.steady_state(no_alert_firing(lab.alerts, {"namespace": namespace}, include_pending=True),
                          subject=f"alerts of {namespace}", expected="none active", within=10)
    with scenario.fault(TsigKeyRevoked(lab.dns, acme_issuer.key)):
        create_certificate(kube, namespace, certificate(name, acme_issuer.ref, [acme_issuer.dns_name(name)]))
        scenario.expect(alert_state(lab.alerts, NOT_READY, labels, "pending"), subject=subject,
                        expected="pending", within=PENDING_WITHIN, detects=True)
        # The fault bites: cert-manager's updates are refused (its first Present comes within seconds).
        scenario.expect(refused_updates(lab.dns, acme_issuer.key, at_least=1, rcode="NOTAUTH"), subject="the DNS provider",
                        expected="the revoked key's updates refused", within=PENDING_WITHIN)
        scenario.expect(holds_until(certificate_not_ready(kube, namespace, name),
                                    alert_state(lab.alerts, NOT_READY, labels, "firing")), subject=subject,
                        expected="firing, the Certificate not Ready at any poll until then", within=FIRING_WITHIN)
        scenario.expect(notification_received(lab.alerts, NOT_READY, {**labels, "severity": "page"}),
                        subject="the alert receiver", expected=f"a firing {NOT_READY} notification for "
                        f"{namespace}/{name}", within=NOTIFIED_WITHIN)
    scenario.expect(certificate_done_issuing(kube, namespace, name), subject=f"Certificate {namespace}/{name}",
                    expected="issued once the key is restored", within=RECOVERY, recovers=True)
    scenario.expect(alert_state(lab.alerts, NOT_READY, labels, "inactive"), subject=subject,
                    expected="inactive again", within=PENDING_WITHIN)

    entries = scenario.journal.entries
    fault = next(e for e in entries if e.kind is EntryKind.FAULT_APPLIED)
    states = [e.detail["state"] for e in entries if e.kind is EntryKind.ALERT and e.detail["alertname"] == NOT_READY]
    notified = [e for e in entries if e.kind is EntryKind.NOTIFICATION and e.detail["alertname"] == NOT_READY]
    assert states[:2] == ["pending", "firing"], states  # "inactive" was expected above, polled directly
    assert notified and notified[0].offset > fault.offset and notified[0].detail["labels"]["name"] == name


def test_a_healthy_certificate_pages_no_one(scenario, lab, kube, namespace, acme_issuer):
    name = "web"
    create_certificate(kube, namespace, certificate(name, acme_issuer.ref, [acme_issuer.dns_name(name)]))
    scenario.steady_state(certificate_done_issuing(kube, namespace, name), subject=f"Certificate {namespace}/{name}",
                          expected="Ready=True and done issuing", within=ISSUANCE)
    # The issuance itself had CertManagerCertificateNotReady pending; Prometheus sees Ready within a scrape.
    scenario.steady_state(no_alert_firing(lab.alerts, {"namespace": namespace}, include_pending=True),
                          subject=f"alerts of {namespace}", expected="none active once issued", within=PENDING_WITHIN)
    scenario.expect(holds_throughout(no_alert_firing(lab.alerts, {"namespace": namespace}, include_pending=True),
                                     QUIET_WINDOW),
                    subject=f"alerts of {namespace}", expected=f"none pending or firing for {QUIET_WINDOW}s",
                    within=QUIET_WINDOW + 15)
    assert not [e for e in scenario.journal.entries if e.kind is EntryKind.NOTIFICATION
                and e.detail["labels"].get("namespace") == namespace]
