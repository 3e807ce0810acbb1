"""DNS propagation lag: the challenge TXT record is published, but a resolver does not see it yet.

Spec: when cert-manager's self-check asks a lagging resolver, it waits the lag out and the CA then
validates once, successfully. When the CA's resolver lags behind what the self-check sees, validation
fails: the Certificate is Ready=False with the reason, failedIssuanceAttempts and lastFailureTime are set,
no new attempt starts before the backoff (1 h in v1.11), and a manual renewal after DNS caught up succeeds.
Evidence: Challenge reasons, Certificate status, CertificateRequest count, and the fake DNS log of what
the CA's resolver answered.
"""

from __future__ import annotations

from harness.chaos.actions import trigger_renewal
from harness.chaos.dns_faults import PropagationLag
from harness.chaos.timings import DNS01_CHECK_WAIT, ISSUANCE
from harness.lab.certificates import certificate, create_certificate
from harness.observe.conditions.acme import challenge_reason_contains, order_state
from harness.observe.conditions.certificates import (
    certificate_done_issuing, certificate_request_count, certificate_status_field,
)
from harness.observe.conditions.dns import ca_answers
from harness.observe.conditions.general import all_of, holds_throughout

SELF_CHECK_LAG = 20  # seconds the self-check's resolver lags: long enough to see it wait
# The CA's resolver must still lag when the CA asks, i.e. longer than the self-check plus its sleep.
CA_LAG = DNS01_CHECK_WAIT + 60
BACKOFF_WINDOW = 20  # seconds in which no new attempt may start after the failure


def test_self_check_waits_out_the_lag_and_the_ca_validates_once(scenario, lab, kube, namespace, acme_issuer):
    name, dns_name = "web", acme_issuer.dns_name("web")
    with scenario.fault(PropagationLag(lab.dns, acme_issuer.zone, SELF_CHECK_LAG, view="resolver")):
        create_certificate(kube, namespace, certificate(name, acme_issuer.ref, [dns_name]))
        scenario.expect(challenge_reason_contains(kube, namespace, name, "not yet propagated"),
                        subject=f"Challenge for {namespace}/{name}", expected="to wait for DNS propagation",
                        within=60, detects=True)
        scenario.expect(certificate_done_issuing(kube, namespace, name), subject=f"Certificate {namespace}/{name}",
                        expected="Ready=True and done issuing", within=SELF_CHECK_LAG + ISSUANCE)
    scenario.steady_state(certificate_done_issuing(kube, namespace, name), subject=f"Certificate {namespace}/{name}",
                          expected="Ready=True", within=10)
    answers = ca_answers(lab.dns, f"_acme-challenge.{dns_name}.")
    assert answers and all(rcode == "NOERROR" and count > 0 for rcode, count in answers), (
        f"the CA's resolver should only ever have answered with the record, but answered {answers}")
    scenario.expect(certificate_request_count(kube, namespace, name, 1), subject=f"Certificate {namespace}/{name}",
                    expected="issued by its first CertificateRequest", within=5)


def test_ca_lag_fails_validation_and_a_manual_renewal_succeeds_after_dns_caught_up(
        scenario, lab, kube, namespace, acme_issuer):
    name, dns_name = "web", acme_issuer.dns_name("web")
    subject = f"Certificate {namespace}/{name}"
    with scenario.fault(PropagationLag(lab.dns, acme_issuer.zone, CA_LAG, view="ca")):
        create_certificate(kube, namespace, certificate(name, acme_issuer.ref, [dns_name]))
        scenario.expect(order_state(kube, namespace, name, "invalid"), subject=f"Order for {namespace}/{name}",
                        expected="invalid (the CA could not see the TXT record)", within=ISSUANCE, detects=True)
        scenario.expect(all_of(certificate_status_field(kube, namespace, name, "failedIssuanceAttempts", at_least=1),
                               certificate_status_field(kube, namespace, name, "lastFailureTime", is_set=True),
                               certificate_done_issuing(kube, namespace, name, ready="False")),
                        subject=subject, expected="Ready=False with failedIssuanceAttempts and lastFailureTime",
                        within=30)
        scenario.expect(holds_throughout(certificate_request_count(kube, namespace, name, 1), BACKOFF_WINDOW),
                        subject=subject, expected=f"no new attempt for {BACKOFF_WINDOW}s (backoff)",
                        within=BACKOFF_WINDOW + 10)
    answers = ca_answers(lab.dns, f"_acme-challenge.{dns_name}.")
    assert answers and all(count == 0 for _, count in answers), (
        f"the CA's resolver should not have seen the record while lagging, but answered {answers}")
    trigger_renewal(kube, namespace, name)
    # cert-manager replaces the failed CertificateRequest with a new one, so success is the first revision.
    scenario.expect(all_of(certificate_done_issuing(kube, namespace, name),
                           certificate_status_field(kube, namespace, name, "revision", equals=1)),
                    subject=subject, expected="issued by the manual renewal", within=ISSUANCE, recovers=True)
